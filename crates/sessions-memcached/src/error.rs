//! The errors of setting up a [`MemcachedBackend`](crate::MemcachedBackend).
//! Errors while serving requests are
//! [`BackendError`](sessions_core::BackendError)s.

/// Why a [`MemcachedBackend`](crate::MemcachedBackend) could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not `memcache://host[:port]`.
    #[error("invalid memcached URL: {0}")]
    Url(String),
    /// The configuration is inconsistent.
    #[error("invalid memcached backend configuration: {0}")]
    Config(String),
    /// The server did not answer a first request.
    #[error("cannot reach memcached: {0}")]
    Connect(#[source] sessions_core::BackendError),
}
