//! The errors of opening a session file. Errors while serving requests are
//! [`BackendError`](sessions_core::BackendError)s.

use std::path::PathBuf;

/// Why a [`RedbBackend`](crate::RedbBackend) could not open its file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another process, or another backend in this one, has the file open:
    /// redb locks it for one owner at a time. Stop the other owner, or give
    /// each process its own file.
    #[error("the session file {path} is already open in another process or backend")]
    AlreadyOpen {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be created or read, is not a redb database, or
    /// holds tables of other types under this backend's table names.
    #[error("cannot open the session file {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    pub(crate) fn open(path: &std::path::Path, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Open { path: path.to_owned(), source: source.into() }
    }
}
