//! The errors of setting up the backend, and what a database's errors mean
//! for a session store.

use sessions_core::backend::BackendError;

use super::driver::sqlx;
#[cfg(feature = "mysql")]
use crate::codes::mysql_full;
#[cfg(feature = "postgres")]
use crate::codes::postgres_full;
use crate::codes::retryable;
#[cfg(feature = "sqlite")]
use crate::codes::sqlite_full;

/// The errors of setting up a [`SqlBackend`](super::SqlBackend). Errors
/// while serving requests are [`BackendError`]s.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be reached, or the migration failed.
    #[error("session database: {0}")]
    Database(#[from] sqlx::Error),
    /// The URL names an engine this build does not support.
    #[error("unsupported session database URL `{0}` (expected postgres://, mysql://, mariadb:// or sqlite:)")]
    UnsupportedUrl(String),
    /// The configuration is inconsistent.
    #[error("invalid SQL backend configuration: {0}")]
    Config(String),
}

pub(crate) fn map_error(err: sqlx::Error) -> BackendError {
    match err {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            BackendError::Corrupt(err.to_string())
        }
        other if is_full(&other) => BackendError::Full(format!("the session database has no room: {other}")),
        other => BackendError::unavailable(other),
    }
}

/// A database that refused a statement for want of disk, memory or a
/// configured quota: it still answers, and reads and deletes (which make
/// room) go on, so this is `Full`, not an outage that opens the breaker.
pub(crate) fn is_full(err: &sqlx::Error) -> bool {
    let Some(db) = err.as_database_error() else { return false };
    #[cfg(feature = "postgres")]
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return postgres_full(pg.code());
    }
    #[cfg(feature = "mysql")]
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return mysql_full(my.number(), my.message());
    }
    #[cfg(feature = "sqlite")]
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return db.code().and_then(|code| code.parse().ok()).is_some_and(sqlite_full);
    }
    false
}

/// A transaction the database aborted to break a deadlock or a
/// serialization conflict: run it again.
pub(crate) fn is_retryable(err: &sqlx::Error) -> bool {
    err.as_database_error().and_then(|e| e.code()).is_some_and(|code| retryable(&code))
}

/// `Ok(None)` (try again) for a retryable failure, the mapped error otherwise.
pub(crate) fn retry_or_fail(err: sqlx::Error) -> Result<Option<bool>, BackendError> {
    if is_retryable(&err) { Ok(None) } else { Err(map_error(err)) }
}

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|e| e.is_unique_violation())
}
