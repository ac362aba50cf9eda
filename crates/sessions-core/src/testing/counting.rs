//! A backend wrapper that counts the calls that reach storage.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::backend::record::Fields;
use crate::backend::{Backend, Patch, Retention, Seen, StorageKey, Stored};
use crate::error::BackendError;

/// Wraps a backend and counts its calls, so a test can prove claims such
/// as "a read-only request writes nothing".
///
/// ```
/// use std::sync::Arc;
/// use sessions_core::backend::{Backend, MemoryBackend};
/// use sessions_core::testing::{CountingBackend, random_key};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let backend = CountingBackend::new(Arc::new(MemoryBackend::new()));
/// backend.load(&random_key()).await.unwrap();
/// assert_eq!((backend.reads(), backend.writes()), (1, 0));
/// # });
/// ```
#[derive(Debug)]
pub struct CountingBackend {
    inner: Arc<dyn Backend>,
    reads: AtomicU64,
    writes: AtomicU64,
    touches: AtomicU64,
}

impl CountingBackend {
    /// Counts the calls made to `inner`.
    pub fn new(inner: Arc<dyn Backend>) -> CountingBackend {
        CountingBackend { inner, reads: AtomicU64::new(0), writes: AtomicU64::new(0), touches: AtomicU64::new(0) }
    }

    /// Calls to `load`.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }

    /// Calls that change data: `create`, `update`, `delete`, `take`.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Calls to `touch`, which only extend a record's life.
    pub fn touches(&self) -> u64 {
        self.touches.load(Ordering::SeqCst)
    }

    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Backend for CountingBackend {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        Self::count(&self.reads);
        self.inner.load(key).await
    }

    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        Self::count(&self.writes);
        self.inner.create(key, fields, ttl).await
    }

    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        Self::count(&self.writes);
        self.inner.update(key, patch, ttl).await
    }

    async fn update_seen(
        &self,
        key: &StorageKey,
        seen: Seen<'_>,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        Self::count(&self.writes);
        self.inner.update_seen(key, seen, patch, ttl).await
    }

    async fn create_retained(
        &self,
        key: &StorageKey,
        fields: &Fields,
        ttl: Duration,
        retention: Retention,
    ) -> Result<bool, BackendError> {
        Self::count(&self.writes);
        self.inner.create_retained(key, fields, ttl, retention).await
    }

    async fn update_retained(
        &self,
        key: &StorageKey,
        seen: Option<Seen<'_>>,
        patch: &Patch,
        ttl: Duration,
        retention: Retention,
    ) -> Result<bool, BackendError> {
        Self::count(&self.writes);
        self.inner.update_retained(key, seen, patch, ttl, retention).await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        Self::count(&self.writes);
        self.inner.delete(key).await
    }

    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        Self::count(&self.touches);
        self.inner.touch(key, ttl).await
    }

    /// Passed on as one call, so the wrapped backend's atomic `take` is
    /// kept (the provided one is a load and a delete).
    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        Self::count(&self.writes);
        self.inner.take(key).await
    }
}
