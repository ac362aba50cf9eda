//! A backend that is always down, for outage tests.

use std::time::Duration;

use crate::BackendError;
use crate::backend::record::Fields;
use crate::backend::{Backend, Patch, StorageKey};

/// A backend whose storage is always down: every call fails with
/// [`BackendError::Unavailable`].
///
/// Adapters use it to check that an outage answers `503` rather than a
/// panic or a `500`.
///
/// ```
/// use sessions_core::backend::Backend;
/// use sessions_core::testing::{UnavailableBackend, random_key};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let err = UnavailableBackend.load(&random_key()).await.unwrap_err();
/// assert!(sessions_core::Error::from(err).is_unavailable());
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct UnavailableBackend;

impl UnavailableBackend {
    fn down() -> BackendError {
        BackendError::unavailable("the test backend is down")
    }
}

#[async_trait::async_trait]
impl Backend for UnavailableBackend {
    async fn load(&self, _: &StorageKey) -> Result<Option<crate::backend::Stored>, BackendError> {
        Err(Self::down())
    }

    async fn create(&self, _: &StorageKey, _: &Fields, _: Duration) -> Result<bool, BackendError> {
        Err(Self::down())
    }

    async fn update(&self, _: &StorageKey, _: &Patch, _: Duration) -> Result<bool, BackendError> {
        Err(Self::down())
    }

    async fn delete(&self, _: &StorageKey) -> Result<(), BackendError> {
        Err(Self::down())
    }

    async fn touch(&self, _: &StorageKey, _: Duration) -> Result<bool, BackendError> {
        Err(Self::down())
    }
}
