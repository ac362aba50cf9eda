//! Deletion of expired rows.

use std::time::Duration;

use async_trait::async_trait;
use sessions_core::backend::{BackendError, Sweep, Sweeper};

use super::SqlBackend;
use super::driver;
use super::error::map_error;
use super::pool::{Pool, with_pool};
use crate::row::now_millis;

impl SqlBackend {
    /// Starts a [`Sweeper`] that deletes expired rows
    /// ([`Sweep::sweep_expired`]) at once and then every `interval` on the
    /// current tokio runtime. Sweeping stops when the returned handle is
    /// dropped (or never, after [`Sweeper::detach`]); failures are logged
    /// and retried at the next tick.
    ///
    /// ```
    #[doc = concat!("use ", driver_docs!(module), "::{Error, SqlBackend};")]
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let backend = SqlBackend::connect("sqlite::memory:").await?;
    /// let sweeper = backend.spawn_sweeper(std::time::Duration::from_secs(60));
    /// drop(sweeper); // stops sweeping
    /// # Ok::<(), Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime, like `tokio::spawn`.
    pub fn spawn_sweeper(&self, interval: Duration) -> Sweeper {
        Sweeper::spawn(self.clone(), interval)
    }
}

/// Deletes every expired row in one statement; counts the rows deleted.
#[async_trait]
impl Sweep for SqlBackend {
    async fn sweep_expired(&self) -> Result<u64, BackendError> {
        let now = now_millis();
        let done = with_pool!(self, pool => driver::query(&self.sql.sweep).bind(now).execute(pool).await.map(|r| r.rows_affected()));
        let deleted = done.map_err(map_error)?;
        tracing::debug!(deleted, table = %self.table, "expired sessions deleted");
        Ok(deleted)
    }
}
