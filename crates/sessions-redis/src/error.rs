//! The errors of setting up the backend, and what Redis's errors mean for
//! a session store.

use std::time::Duration;

use redis::{ErrorKind, RedisError};
use sessions_core::backend::BackendError;

/// The errors of setting up a [`RedisBackend`](crate::RedisBackend). Errors while serving
/// requests are [`BackendError`]s.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL does not parse, or the first connection failed.
    #[error("cannot connect to Redis: {0}")]
    Connect(#[from] RedisError),
    /// The first connection did not complete within the response timeout.
    #[error("cannot connect to Redis: no answer within {0:?}")]
    Timeout(Duration),
    /// A `redis://` URL names a server that closed the plain-text
    /// connection without a Redis reply, as a server that accepts only TLS
    /// does.
    #[error(
        "cannot connect to Redis at {address}: it closed the plain-text connection without a Redis reply, as a \
         server that accepts only TLS does; connect with a `rediss://` URL"
    )]
    TlsRequired {
        /// The server's `host:port`.
        address: String,
    },
    /// The configuration is inconsistent.
    #[error("invalid Redis backend configuration: {0}")]
    Config(String),
}

pub(crate) fn map_error(err: RedisError) -> BackendError {
    // WRONGTYPE, or a reply of an unexpected shape: the key holds data this
    // backend did not write.
    if err.kind() == ErrorKind::UnexpectedReturnType || has_code(&err, "WRONGTYPE") {
        return BackendError::Corrupt(err.to_string());
    }
    if is_out_of_memory(&err) {
        return BackendError::Full(format!("Redis is at its maxmemory and evicts nothing: {err}"));
    }
    BackendError::unavailable(err)
}

/// Redis at `maxmemory` under the `noeviction` policy refuses writes with
/// `-OOM command not allowed when used memory > 'maxmemory'`, from a
/// script too (7.0 keeps the code; older servers wrap the text in `ERR`).
/// It still serves reads and deletes: a full store, not an outage.
pub(crate) fn is_out_of_memory(err: &RedisError) -> bool {
    has_code(err, "OOM") || err.to_string().contains("OOM command not allowed")
}

/// Whether Redis answered `code` to the command, or to any command of a
/// pipeline (whose error keeps each command's own answer).
pub(crate) fn has_code(err: &RedisError, code: &str) -> bool {
    if err.code() == Some(code) {
        return true;
    }
    err.clone().into_server_errors().is_some_and(|errors| errors.iter().any(|(_, error)| error.code() == code))
}
