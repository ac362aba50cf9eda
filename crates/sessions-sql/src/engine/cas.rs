//! Saves under a compare-and-set on the row's version, falling back to a
//! row lock when requests keep writing the same session.

use std::time::Duration;

use sessions_core::backend::{BackendError, Patch, Seen, StorageKey};

use super::SqlBackend;
use super::driver::{self, sqlx::Row};
use super::error::{is_retryable, map_error, retry_or_fail};
use super::pool::{Pool, with_pool};
use crate::row::{expiry, now_millis};

/// Compare-and-set attempts before a save falls back to a row lock.
pub(crate) const OPTIMISTIC_ATTEMPTS: usize = 2;

/// Attempts under a row lock before a save gives up. They are only repeated
/// when the database aborts one to break a deadlock, which InnoDB does now
/// and then when locking reads meet updates of an indexed column.
pub(crate) const LOCKED_ATTEMPTS: usize = 20;

impl SqlBackend {
    /// One optimistic attempt: `Some(done)` when it settled (written, or no
    /// live row), `None` on a version conflict.
    pub(crate) async fn try_update(
        &self,
        key: &StorageKey,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<Option<bool>, BackendError> {
        let now = now_millis();
        let Some(row) = self.fetch(key, now).await? else { return Ok(Some(false)) };
        let mut fields = match self.read_record(&row.data) {
            Ok(fields) => fields,
            Err(error) => {
                self.discard(key, row.version, &error).await?;
                return Ok(Some(false));
            }
        };
        patch.apply(&mut fields);
        let data = self.encode(&fields)?;
        let id = &key.as_bytes()[..];
        let expires = expiry(now, ttl);
        let written = with_pool!(self, pool => driver::query(&self.sql.compare_and_set)
            .bind(data).bind(expires).bind(id).bind(row.version).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()));
        match written {
            Ok(n) => Ok((n == 1).then_some(true)),
            Err(err) => retry_or_fail(err),
        }
    }

    /// The pessimistic path: the row is locked from read to write.
    /// `Ok(None)` when the database aborted the transaction to break a
    /// deadlock.
    pub(crate) async fn update_locked(
        &self,
        key: &StorageKey,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<Option<bool>, BackendError> {
        let id = &key.as_bytes()[..];
        with_pool!(self, pool => {
            let mut tx = match pool.begin_with(self.sql.begin).await {
                Ok(tx) => tx,
                Err(err) => return retry_or_fail(err),
            };
            let now = now_millis();
            let row = match driver::query(&self.sql.load_locked).bind(id).bind(now).fetch_optional(&mut *tx).await {
                Ok(row) => row,
                Err(err) => return retry_or_fail(err),
            };
            let Some(row) = row else {
                tx.rollback().await.map_err(map_error)?;
                return Ok(Some(false));
            };
            let data: Vec<u8> = row.try_get(0).map_err(map_error)?;
            let version: i64 = row.try_get(1).map_err(map_error)?;
            let mut fields = match self.read_record(&data) {
                Ok(fields) => fields,
                Err(error) => {
                    tracing::warn!(%error, table = %self.table, "unreadable session row deleted; its session starts afresh");
                    let discarded = driver::query(&self.sql.discard).bind(id).bind(version).execute(&mut *tx).await;
                    if let Err(err) = discarded {
                        return retry_or_fail(err);
                    }
                    return match tx.commit().await {
                        Ok(()) => Ok(Some(false)),
                        Err(err) => retry_or_fail(err),
                    };
                }
            };
            patch.apply(&mut fields);
            let data = self.encode(&fields)?;
            let written = driver::query(&self.sql.compare_and_set)
                .bind(data).bind(expiry(now, ttl)).bind(id).bind(version).bind(now)
                .execute(&mut *tx).await;
            let written = match written {
                Ok(result) => result.rows_affected(),
                Err(err) => return retry_or_fail(err),
            };
            match tx.commit().await {
                Ok(()) => Ok(Some(written == 1)),
                Err(err) => retry_or_fail(err),
            }
        })
    }

    pub(crate) async fn update_now(
        &self,
        key: &StorageKey,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            if let Some(done) = self.try_update(key, patch, ttl).await? {
                return Ok(done);
            }
        }
        for attempt in 0..LOCKED_ATTEMPTS {
            if let Some(done) = self.update_locked(key, patch, ttl).await? {
                return Ok(done);
            }
            tracing::debug!(attempt, table = %self.table, "session update aborted to break a deadlock; retrying");
            // Let the transaction that won the deadlock finish first.
            tokio::time::sleep(Duration::from_millis(1 + attempt as u64)).await;
        }
        Err(BackendError::unavailable(format!(
            "session update still deadlocked after {LOCKED_ATTEMPTS} attempts under a row lock"
        )))
    }

    /// The save of a row this request loaded: one compare-and-set on the
    /// version it was loaded at, which lands when no other request wrote
    /// the row since. Otherwise (or when the loaded record with the patch
    /// is over the limit, which the row as it is now may not be) the patch
    /// goes through `update`.
    pub(crate) async fn update_seen_now(
        &self,
        key: &StorageKey,
        seen: Seen<'_>,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        if let (Ok(version), Ok(data)) = (i64::try_from(seen.revision), self.encode(seen.fields)) {
            let id = &key.as_bytes()[..];
            let now = now_millis();
            let written = with_pool!(self, pool => driver::query(&self.sql.compare_and_set)
                .bind(data).bind(expiry(now, ttl)).bind(id).bind(version).bind(now)
                .execute(pool).await.map(|r| r.rows_affected()));
            match written {
                Ok(1) => return Ok(true),
                // Written since, or gone: the full path tells which.
                Ok(_) => {}
                Err(err) if is_retryable(&err) => {}
                Err(err) => return Err(map_error(err)),
            }
        }
        self.update_now(key, patch, ttl).await
    }
}
