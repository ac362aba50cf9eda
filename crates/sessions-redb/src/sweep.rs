//! Removal of expired sessions from the file.

use async_trait::async_trait;
use sessions_core::backend::{BackendError, Sweep};

use crate::RedbBackend;

/// Expired sessions one sweep transaction removes at most, so a sweep
/// never holds up saves for long.
const SWEEP_CHUNK: usize = 1000;

/// Removes every expired session, in transactions of at most a thousand
/// removals between saves; counts the sessions removed.
#[async_trait]
impl Sweep for RedbBackend {
    async fn sweep_expired(&self) -> Result<u64, BackendError> {
        let mut removed = 0;
        loop {
            let now = self.now();
            let (count, more) = self.inner.writer.write(move |t| Ok(Ok(t.sweep(now, SWEEP_CHUNK)?))).await?;
            removed += count;
            if !more {
                tracing::debug!(removed, "expired sessions removed from the session file");
                return Ok(removed);
            }
        }
    }
}
