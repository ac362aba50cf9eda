//! The errors of setting up the backend, and what MongoDB's errors mean
//! for a session store.

use mongodb::error::{ErrorKind, WriteFailure};
use sessions_core::backend::BackendError;

/// Why a [`MongoDbBackend`](crate::MongoDbBackend) could not be set up, or
/// its indexes made. Errors while serving requests are [`BackendError`]s.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection string does not parse (or its `mongodb+srv://` name
    /// does not resolve).
    #[error("invalid MongoDB connection string: {0}")]
    Url(#[source] mongodb::error::Error),
    /// The connection string names no database: give one as its path,
    /// `mongodb://host/<database>`.
    #[error("the MongoDB connection string names no database (mongodb://host/<database>)")]
    NoDatabase,
    /// The configuration is inconsistent.
    #[error("invalid MongoDB backend configuration: {0}")]
    Config(String),
    /// The server did not answer a first command.
    #[error("cannot reach MongoDB: {0}")]
    Connect(#[source] BackendError),
    /// The collection's indexes could not be made: an index of the same
    /// name and other options exists, or the user may not create indexes.
    #[error("cannot create the session collection's indexes: {0}")]
    Indexes(#[source] BackendError),
}

/// The code of a server's answer, if the error is one.
pub(crate) fn server_code(err: &mongodb::error::Error) -> Option<i32> {
    match &*err.kind {
        ErrorKind::Command(e) => Some(e.code),
        ErrorKind::Write(WriteFailure::WriteError(e)) => Some(e.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(e)) => Some(e.code),
        _ => None,
    }
}

/// `E11000`: the key is taken (11001 and 12582 are older servers' codes
/// of the same).
pub(crate) fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    matches!(server_code(err), Some(11000 | 11001 | 12582))
}

/// A document over MongoDB's 16 MiB: `BSONObjectTooLarge` (10334), or an
/// update whose result would be (17419, 17420).
pub(crate) fn is_too_large(err: &mongodb::error::Error) -> bool {
    matches!(server_code(err), Some(10334 | 17419 | 17420))
}

/// What a driver error means for the caller: a server that refused a write
/// for want of disk or quota is `Full` (it still answers, and reads and
/// deletes, which make room, go on); anything else that kept the call from
/// completing (no server selected, a connection that failed or timed out,
/// a server shutting down or no longer primary, a refused login) is
/// `Unavailable`.
pub(crate) fn map_error(err: mongodb::error::Error) -> BackendError {
    if let Some(code) = server_code(&err) {
        let message = match &*err.kind {
            ErrorKind::Command(e) => e.message.as_str(),
            ErrorKind::Write(WriteFailure::WriteError(e)) => e.message.as_str(),
            ErrorKind::Write(WriteFailure::WriteConcernError(e)) => e.message.as_str(),
            _ => "",
        };
        if is_full(code, message) {
            return BackendError::Full(format!("MongoDB has no room for the session: {err}"));
        }
    }
    if let ErrorKind::BsonDeserialization(_) = &*err.kind {
        return BackendError::Corrupt(format!("MongoDB answered with a document that does not parse: {err}"));
    }
    BackendError::unavailable(err)
}

/// A write refused for lack of room: `OutOfDiskSpace` (14031), and the
/// quota errors of hosted servers (Atlas's `AtlasError`, 8000, says "over
/// your space quota"), or a storage error that carries the operating
/// system's `ENOSPC` or `EDQUOT` text.
pub(crate) fn is_full(code: i32, message: &str) -> bool {
    if code == 14031 {
        return true;
    }
    let message = message.to_ascii_lowercase();
    ["space quota", "no space left on device", "disk quota exceeded", "out of disk space"]
        .iter()
        .any(|said| message.contains(said))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_disk_and_quota_errors_are_full_and_others_are_not() {
        assert!(is_full(14031, "Cannot write: out of disk space"));
        assert!(is_full(8000, "you are over your space quota, using 513 MB of 512 MB"));
        assert!(is_full(1, "WiredTigerRecordStore::insertRecord :: caused by :: No space left on device"));
        assert!(!is_full(11000, "E11000 duplicate key error collection: test.sessions"));
        assert!(!is_full(91, "The server is in quiesce mode and will shut down"));
        assert!(!is_full(10107, "not primary"));
    }
}
