//! What a failed request means: a refused condition the backend acts on,
//! a record too large, a full partition, or an outage.

use std::error::Error as StdError;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use sessions_core::BackendError;

use crate::Error;

/// The error code of a write whose condition did not hold.
const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

/// A failed request, classified.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The condition of a conditional write did not hold.
    Condition,
    /// Anything else, as the backend reports it.
    Backend(BackendError),
}

/// Classifies the failure of `operation`. `size` is the encoded size of
/// the record being written, if any, for an item DynamoDB found too large.
pub(crate) fn classify<E, R>(operation: &'static str, error: SdkError<E, R>, size: Option<(usize, usize)>) -> Failure
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = error.code().unwrap_or_default().to_owned();
    if code == CONDITION_FAILED {
        return Failure::Condition;
    }
    let message = error.message().unwrap_or_default().to_owned();
    // An item over 400 KB. The record limit is clamped so that this
    // backend's items fit DynamoDB's, so this comes from a server that
    // counts otherwise (moto counts a binary value by its base64 length).
    if let Some((size, limit)) = size.filter(|_| code == "ValidationException" && message.contains("size")) {
        tracing::warn!(size, limit, "DynamoDB refused a record under the backend's limit: {message}");
        return Failure::Backend(BackendError::TooLarge { size, limit: size.saturating_sub(1).min(limit) });
    }
    // The partition of a table with a local secondary index is at its 10 GB
    // bound: frees up as items go, like a full store.
    if code == "ItemCollectionSizeLimitExceededException" {
        return Failure::Backend(BackendError::Full(format!("DynamoDB {operation}: {message}")));
    }
    Failure::Backend(BackendError::Unavailable(Box::new(request_error(operation, error))))
}

/// The crate's error for a failed request, its cause kept. Throttling
/// (`ProvisionedThroughputExceededException`, `ThrottlingException`,
/// `RequestLimitExceeded`), timeouts, connection failures and every other
/// refusal land here: the backend cannot serve the call now.
pub(crate) fn request_error<E, R>(operation: &'static str, error: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let summary = match &error {
        SdkError::ServiceError(_) => match (error.code(), error.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => DisplayErrorContext(&error).to_string(),
        },
        SdkError::TimeoutError(_) => "no answer within the timeout".to_owned(),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => "no answer within the timeout".to_owned(),
        SdkError::DispatchFailure(failure) if failure.is_io() => {
            format!("cannot reach the service: {}", DisplayErrorContext(&error))
        }
        _ => DisplayErrorContext(&error).to_string(),
    };
    Error::Request { operation, summary, source: Box::new(error) }
}

/// Classifies a failure of a request that has no condition.
pub(crate) fn plain<E, R>(operation: &'static str, error: SdkError<E, R>) -> BackendError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match classify(operation, error, None) {
        Failure::Backend(error) => error,
        Failure::Condition => {
            BackendError::unavailable(format!("DynamoDB {operation} failed a condition it was not given"))
        }
    }
}
