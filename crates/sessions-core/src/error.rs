//! The errors of `sessions-core`, split the way a caller acts on them.

use std::fmt;

/// Why a cookie value was refused by the codec.
///
/// A refused cookie is never an error for the request: the store logs the
/// reason at debug level and hands out a fresh session. The reasons are kept
/// distinct so that logs and tests can tell a forgery from an expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// Longer than the configured cookie size limit; not even decoded.
    TooLong,
    /// Not base64url, or too short to hold a frame.
    Malformed,
    /// The frame version or mode byte is not one this codec reads.
    UnknownVersion,
    /// The key id names no key of the ring (a retired or foreign key).
    UnknownKey,
    /// Authentication failed: tampered, truncated, moved to another cookie
    /// name, or sealed under another key with a colliding id.
    Forged,
    /// The authenticated expiry has passed.
    Expired,
    /// Issued further in the future than the allowed clock skew.
    FromTheFuture,
    /// Authentic, but the payload inside does not parse (a bug or an
    /// incompatible release wrote it).
    BadPayload,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::TooLong => "cookie value longer than the size limit",
            Rejection::Malformed => "cookie value is not a well-formed frame",
            Rejection::UnknownVersion => "cookie frame has an unknown version or mode",
            Rejection::UnknownKey => "cookie was issued under a key this server does not hold",
            Rejection::Forged => "cookie failed authentication",
            Rejection::Expired => "cookie has expired",
            Rejection::FromTheFuture => "cookie was issued in the future",
            Rejection::BadPayload => "cookie payload does not parse",
        })
    }
}

impl std::error::Error for Rejection {}

/// A failure of a [`Backend`](crate::backend::Backend).
///
/// Backends report every failure to reach or use their storage as
/// [`BackendError::Unavailable`], so that applications can map it to a
/// `503 Service Unavailable` without knowing which engine is behind it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The storage could not be reached or did not answer in time.
    #[error("session storage unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The storage answered with data this library did not write.
    #[error("session storage holds a corrupt record: {0}")]
    Corrupt(String),
    /// The record is larger than the backend accepts; nothing was written.
    /// Sizes are [`record::encoded_len`](crate::backend::record::encoded_len).
    #[error("session record of {size} bytes exceeds the backend limit of {limit} bytes")]
    TooLarge {
        /// Size of the record that was refused.
        size: usize,
        /// The backend's limit.
        limit: usize,
    },
    /// The storage holds as much as it is configured to and cannot make room
    /// without dropping a record it must keep; nothing was written. Space
    /// frees as records expire or are deleted, so like
    /// [`BackendError::Unavailable`] it maps to `503`.
    #[error("session storage is full: {0}")]
    Full(String),
}

impl BackendError {
    /// Wraps any error as [`BackendError::Unavailable`].
    pub fn unavailable(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        BackendError::Unavailable(err.into())
    }
}

/// The error type of `sessions-core`.
///
/// Variants are grouped by what the caller can do:
/// - [`Error::Config`] and [`Error::Key`]: fix the configuration; raised at
///   start-up, never per request.
/// - [`Error::Backend`]: the session storage is down or full (answer `503`,
///   see [`Error::is_unavailable`]), or refused a record over its size
///   limit or holds one it cannot read (`500`).
/// - [`Error::TooLarge`]: the application stored more than a cookie can
///   carry; a programming error, reported before anything is sent.
/// - [`Error::Value`]: a value could not be encoded, or a stored value does
///   not decode as the type asked for.
/// - [`Error::Rejected`]: a cookie value was refused (only returned by the
///   low-level [`Codec`](crate::codec::Codec); stores turn it into a fresh
///   session).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key was refused: too short, all zero or otherwise not random.
    #[error("invalid key: {0}")]
    Key(&'static str),
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A cookie value was refused by the codec.
    #[error("cookie rejected: {0}")]
    Rejected(#[from] Rejection),
    /// The encoded `Set-Cookie` would exceed the size limit.
    #[error("session cookie `{name}` would be {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// The cookie name.
        name: String,
        /// Size of `name=value`.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A value could not be serialized or deserialized.
    #[error("session value `{key}` could not be {action}: {source}")]
    Value {
        /// The session key the value belongs to.
        key: String,
        /// "encoded" or "decoded".
        action: &'static str,
        /// The serializer's error.
        #[source]
        source: crate::serial::SerialError,
    },
    /// The session storage failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// No store of that name is configured.
    #[error("no session store named `{0}` is configured")]
    UnknownStore(String),
}

impl Error {
    /// True when the session storage cannot serve the request now
    /// (unreachable, or full): the edge answers it with the registry's
    /// outage status ([`Policy`](crate::adapter::Policy)), `503` by default.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Backend(BackendError::Unavailable(_) | BackendError::Full(_)))
    }

    /// True when the session storage refused a write for lack of room
    /// ([`BackendError::Full`]): one of the [`Error::is_unavailable`]
    /// errors, answered with the same status but the reason "session
    /// storage full".
    pub fn is_full(&self) -> bool {
        matches!(self, Error::Backend(BackendError::Full(_)))
    }
}

/// Shorthand for `Result<T, sessions_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
