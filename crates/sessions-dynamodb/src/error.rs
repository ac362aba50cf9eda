//! The errors of the crate. Setting up a backend or its table fails with
//! an [`Error`]; a call of the [`Backend`](sessions_core::Backend) trait
//! fails with a [`BackendError`](sessions_core::BackendError), whose
//! source is the [`Error::Request`] that caused it.

use std::time::Duration;

/// What went wrong with DynamoDB or this backend's configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not `dynamodb://host:port/table` or `dynamodb:table`.
    #[error("invalid DynamoDB URL `{url}`: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The configuration is inconsistent or incomplete (no table, no
    /// region, a table of another shape).
    #[error("invalid DynamoDB backend configuration: {0}")]
    Config(String),
    /// A request to DynamoDB failed: it could not be sent, was not
    /// answered in time, was throttled, or was refused.
    #[error("DynamoDB {operation} failed: {summary}")]
    Request {
        /// The API operation (`GetItem`, `PutItem`, ...).
        operation: &'static str,
        /// What happened, in a line: the service's error code and message,
        /// or why no answer came.
        summary: String,
        /// The SDK's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The table did not become active in time after it was created.
    #[error("the DynamoDB table `{table}` is not active after {waited:?}")]
    TableNotActive {
        /// The table.
        table: String,
        /// How long the backend waited.
        waited: Duration,
    },
}
