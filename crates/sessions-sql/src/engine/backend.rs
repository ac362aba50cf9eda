//! The backend itself: loads, creates, deletes and touches, each bounded
//! by the request timeout.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use sessions_core::backend::record::{self, Fields};
use sessions_core::backend::{Backend, BackendError, Patch, RecordLimit, Seen, StorageKey, Stored};

use super::SqlBackendBuilder;
use super::cas::LOCKED_ATTEMPTS;
use super::driver::{self, sqlx, sqlx::Row};
use super::error::{Error, is_retryable, is_unique_violation, map_error};
use super::pool::{Pool, with_pool};
use crate::dialect::Statements;
use crate::row::{Loaded, expiry, first_version, now_millis, remaining};

/// A [`Backend`] on an SQL database: PostgreSQL, MySQL/MariaDB or SQLite.
///
/// Use it when sessions must outlive the process and a database is already
/// part of the deployment, or with SQLite as an embedded store that needs
/// no service. Build it from a URL with [`SqlBackend::connect`], or from a
/// pool the application already has with [`SqlBackendBuilder`]
#[doc = concat!("([`postgres`](SqlBackendBuilder::postgres) and its siblings take sqlx ", driver_docs!(version), "'s pools).")]
///
/// Expired rows are never returned; to reclaim their space, run
/// [`Sweep::sweep_expired`](sessions_core::backend::Sweep::sweep_expired) now and then, or start
/// [`SqlBackend::spawn_sweeper`].
///
/// # Timeouts and outages
///
/// Every failure to reach the database is [`BackendError::Unavailable`]
/// (map it to `503`), and no call takes longer than the
/// [request timeout](SqlBackendBuilder::request_timeout) (10 s by default).
/// How long a call waits before failing depends on the outage:
/// - The database refuses connections (stopped, restarting): sqlx keeps
///   trying to connect until the
///   [acquire timeout](SqlBackendBuilder::acquire_timeout) (5 s by
///   default), taking the refusal for a server still starting, so *every*
///   call during the outage waits that long before it fails.
/// - The database accepts connections but does not answer, or a lock is
///   held: the call waits out the request timeout.
///
/// Both are the right waits for one call and the wrong ones for every
/// request of an outage: wrap the backend in a
/// [`Breaker`](sessions_core::backend::Breaker), so that after the first
/// calls fail, requests fail in milliseconds until a probe finds the
/// database answering. The pool reconnects by itself once the database is
/// back; connections the outage broke are dropped as they fail.
///
/// ```
/// use std::time::Duration;
#[doc = concat!("use ", driver_docs!(module), "::{Error, SqlBackend};")]
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let backend = SqlBackend::builder()
///     .table("app_sessions")
///     .max_record_bytes(64 * 1024)
///     .connect("sqlite::memory:")
///     .await?;
/// let sweeper = backend.spawn_sweeper(Duration::from_secs(300));
/// # drop(sweeper);
/// # Ok::<(), Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct SqlBackend {
    pub(crate) pool: Pool,
    pub(crate) table: String,
    pub(crate) sql: std::sync::Arc<Statements>,
    pub(crate) limit: RecordLimit,
    pub(crate) request_timeout: Duration,
}

impl fmt::Debug for SqlBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlBackend")
            .field("dialect", &self.pool.dialect())
            .field("table", &self.table)
            .field("max_record_bytes", &self.limit.max_bytes())
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl SqlBackend {
    /// Configures a backend.
    pub fn builder() -> SqlBackendBuilder {
        SqlBackendBuilder::default()
    }

    /// Connects to the database at `url` with the default settings (table
    /// `sessions`, created if missing), e.g.
    /// `SqlBackend::connect("postgres://postgres@127.0.0.1/app").await`.
    /// See [`SqlBackendBuilder::connect`] for the accepted URLs.
    pub async fn connect(url: &str) -> Result<SqlBackend, Error> {
        Self::builder().connect(url).await
    }

    /// The table this backend uses.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The row's data for `fields`, refused before it is built when the
    /// record is over the limit.
    pub(crate) fn encode(&self, fields: &Fields) -> Result<Vec<u8>, BackendError> {
        self.limit.check(fields)?;
        Ok(record::encode(fields))
    }

    /// The record a row holds, or why it is not one to serve: over the
    /// limit, or not in the record format.
    pub(crate) fn read_record(&self, data: &[u8]) -> Result<Fields, BackendError> {
        self.limit.check_len(data.len())?;
        record::decode(data)
    }

    /// Deletes a row `read_record` refused, unless a write replaced it in
    /// the meantime. Served, it would fail every request naming the
    /// session until it expires; deleted, the request starts afresh.
    pub(crate) async fn discard(
        &self,
        key: &StorageKey,
        version: i64,
        error: &BackendError,
    ) -> Result<(), BackendError> {
        tracing::warn!(%error, table = %self.table, "unreadable session row deleted; its session starts afresh");
        let id = &key.as_bytes()[..];
        let done = with_pool!(self, pool => driver::query(&self.sql.discard).bind(id).bind(version).execute(pool).await.map(drop));
        done.map_err(map_error)
    }

    pub(crate) async fn fetch(&self, key: &StorageKey, now: i64) -> Result<Option<Loaded>, BackendError> {
        let id = &key.as_bytes()[..];
        let row = with_pool!(self, pool => {
            let row = driver::query(&self.sql.load).bind(id).bind(now).fetch_optional(pool).await.map_err(map_error)?;
            row.map(|r| Ok::<_, sqlx::Error>(Loaded { data: r.try_get(0)?, version: r.try_get(1)?, expires: r.try_get(2)? }))
                .transpose()
        });
        row.map_err(map_error)
    }
}

/// The operations without a time bound; [`Backend`] wraps each in one.
impl SqlBackend {
    pub(crate) async fn load_now(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let now = now_millis();
        let Some(row) = self.fetch(key, now).await? else { return Ok(None) };
        let fields = match self.read_record(&row.data) {
            Ok(fields) => fields,
            Err(error) => {
                self.discard(key, row.version, &error).await?;
                return Ok(None);
            }
        };
        let stored = Stored::new(fields, Some(remaining(row.expires, now)));
        Ok(Some(match u64::try_from(row.version) {
            Ok(revision) => stored.at_revision(revision),
            Err(_) => stored,
        }))
    }

    pub(crate) async fn create_now(
        &self,
        key: &StorageKey,
        fields: &Fields,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        let data = self.encode(fields)?;
        let id = &key.as_bytes()[..];
        let now = now_millis();
        let expires = expiry(now, ttl);
        for first in [true, false] {
            let inserted = with_pool!(self, pool => driver::query(&self.sql.insert)
                .bind(id).bind(&data).bind(first_version()?).bind(expires).execute(pool).await.map(|_| ()));
            match inserted {
                Ok(()) => return Ok(true),
                Err(err) if is_unique_violation(&err) => {
                    if !first {
                        return Ok(false);
                    }
                    // The key is taken; if only by an expired row, clear it
                    // and try once more.
                    let purged = with_pool!(self, pool => driver::query(&self.sql.purge_expired_one)
                        .bind(id).bind(now).execute(pool).await.map(|r| r.rows_affected()));
                    if purged.map_err(map_error)? == 0 {
                        return Ok(false);
                    }
                }
                Err(err) => return Err(map_error(err)),
            }
        }
        Ok(false)
    }

    pub(crate) async fn delete_now(&self, key: &StorageKey) -> Result<(), BackendError> {
        let id = &key.as_bytes()[..];
        let done = with_pool!(self, pool => driver::query(&self.sql.delete).bind(id).execute(pool).await.map(|_| ()));
        done.map_err(map_error)
    }

    /// Reads and deletes the row under its row lock, so no update lands
    /// between the two; retried when the database breaks a deadlock.
    pub(crate) async fn take_now(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        for attempt in 0..LOCKED_ATTEMPTS {
            if let Some(taken) = self.take_locked(key).await? {
                return Ok(taken);
            }
            tokio::time::sleep(Duration::from_millis(1 + attempt as u64)).await;
        }
        Err(BackendError::unavailable(format!(
            "session take still deadlocked after {LOCKED_ATTEMPTS} attempts under a row lock"
        )))
    }

    /// One locked attempt: `Ok(None)` when the database aborted it to break
    /// a deadlock.
    pub(crate) async fn take_locked(&self, key: &StorageKey) -> Result<Option<Option<Stored>>, BackendError> {
        let id = &key.as_bytes()[..];
        let retry = |err: sqlx::Error| if is_retryable(&err) { Ok(None) } else { Err(map_error(err)) };
        with_pool!(self, pool => {
            let mut tx = match pool.begin_with(self.sql.begin).await {
                Ok(tx) => tx,
                Err(err) => return retry(err),
            };
            let now = now_millis();
            let row = match driver::query(&self.sql.load_locked).bind(id).bind(now).fetch_optional(&mut *tx).await {
                Ok(row) => row,
                Err(err) => return retry(err),
            };
            let Some(row) = row else {
                tx.rollback().await.map_err(map_error)?;
                return Ok(Some(None));
            };
            let data: Vec<u8> = row.try_get(0).map_err(map_error)?;
            let expires: i64 = row.try_get(2).map_err(map_error)?;
            if let Err(err) = driver::query(&self.sql.delete).bind(id).execute(&mut *tx).await {
                return retry(err);
            }
            if let Err(err) = tx.commit().await {
                return retry(err);
            }
            Ok(Some(Some(Stored::new(record::decode(&data)?, Some(remaining(expires, now))))))
        })
    }

    pub(crate) async fn touch_now(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        let id = &key.as_bytes()[..];
        let now = now_millis();
        let touched = with_pool!(self, pool => driver::query(&self.sql.touch)
            .bind(expiry(now, ttl)).bind(id).bind(now).execute(pool).await.map(|r| r.rows_affected()));
        Ok(touched.map_err(map_error)? == 1)
    }

    /// Bounds one operation by the request timeout: a database that
    /// stopped answering (a dead peer without a reset, a stuck lock) yields
    /// `Unavailable` rather than a request that never finishes. A dropped
    /// transaction is rolled back by the pool.
    pub(crate) async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        match tokio::time::timeout(self.request_timeout, operation).await {
            Ok(result) => result,
            Err(_) => Err(BackendError::unavailable(format!(
                "session database did not answer within {:?}",
                self.request_timeout
            ))),
        }
    }
}

#[async_trait]
impl Backend for SqlBackend {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        self.bounded(self.load_now(key)).await
    }

    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        self.bounded(self.create_now(key, fields, ttl)).await
    }

    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        self.bounded(self.update_now(key, patch, ttl)).await
    }

    async fn update_seen(
        &self,
        key: &StorageKey,
        seen: Seen<'_>,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        self.bounded(self.update_seen_now(key, seen, patch, ttl)).await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        self.bounded(self.delete_now(key)).await
    }

    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        self.bounded(self.touch_now(key, ttl)).await
    }

    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        self.bounded(self.take_now(key)).await
    }
}
