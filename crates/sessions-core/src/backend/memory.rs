//! A bounded in-process backend.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use moka::ops::compute::Op;
use moka::sync::Cache;

use super::{Backend, BackendError, Patch, StorageKey, Stored};
use crate::clock::{self, Clock};
use crate::record::{self, Fields};

/// Measured cost of one entry beyond its record bytes (the cache's own
/// bookkeeping, the key, the allocations), so the byte bound tracks the
/// process's real memory (see the million-session test in `tests/faults.rs`).
const ENTRY_OVERHEAD: usize = 512;

#[derive(Debug)]
struct Entry {
    /// The record in its serialized form: one allocation, a fraction of
    /// the memory of a map of strings and vectors.
    record: Vec<u8>,
    /// Expiry on the backend's clock, checked on every read.
    expires_at: u64,
    /// Time to live for the cache's own (monotonic) eviction.
    ttl: Duration,
    weight: u32,
}

struct ByEntry;

impl Expiry<StorageKey, Arc<Entry>> for ByEntry {
    fn expire_after_create(&self, _: &StorageKey, entry: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _: &StorageKey,
        entry: &Arc<Entry>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// Sessions in this process's memory, bounded in entries and bytes, with
/// per-record TTLs. Built on `moka`'s concurrent cache: when full, the least
/// likely to be used again is evicted (TinyLFU).
///
/// For a single process only: sessions are lost on restart and not shared
/// between servers.
///
/// ```
/// use sessions_core::backend::MemoryBackend;
///
/// let backend = MemoryBackend::builder().max_entries(10_000).max_bytes(16 << 20).build();
/// # let _ = backend;
/// ```
#[derive(Debug, Clone)]
pub struct MemoryBackend {
    cache: Cache<StorageKey, Arc<Entry>>,
    min_weight: usize,
    clock: Arc<dyn Clock>,
}

/// Configures a [`MemoryBackend`].
#[derive(Debug)]
pub struct MemoryBackendBuilder {
    max_entries: u64,
    max_bytes: u64,
    clock: Arc<dyn Clock>,
}

impl MemoryBackendBuilder {
    /// The most sessions kept (default 100 000).
    pub fn max_entries(mut self, n: u64) -> Self {
        self.max_entries = n.max(1);
        self
    }

    /// The most bytes kept, counting an estimate of per-entry overhead
    /// (default 64 MiB).
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n.max(1);
        self
    }

    /// The clock that decides expiry (tests use a manual one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the backend.
    pub fn build(self) -> MemoryBackend {
        // One weighted bound enforces both limits: every entry weighs at
        // least max_bytes / max_entries, so no more than max_entries fit.
        let min_weight = usize::try_from(self.max_bytes.div_ceil(self.max_entries)).unwrap_or(usize::MAX).max(1);
        let cache = Cache::builder()
            .max_capacity(self.max_bytes)
            .weigher(|_: &StorageKey, e: &Arc<Entry>| e.weight)
            .expire_after(ByEntry)
            .build();
        MemoryBackend { cache, min_weight, clock: self.clock }
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        MemoryBackend::new()
    }
}

impl MemoryBackend {
    /// A backend with the default bounds (100 000 sessions, 64 MiB).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a backend.
    pub fn builder() -> MemoryBackendBuilder {
        MemoryBackendBuilder { max_entries: 100_000, max_bytes: 64 << 20, clock: clock::system() }
    }

    /// Number of sessions held (after pending evictions are applied).
    pub fn len(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    /// True when no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The weight held, in estimated bytes (after pending evictions).
    pub fn weighted_size(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.weighted_size()
    }

    fn entry(&self, fields: &Fields, ttl: Duration) -> Arc<Entry> {
        let record = record::encode(fields);
        let weight = u32::try_from((record.len() + ENTRY_OVERHEAD).max(self.min_weight)).unwrap_or(u32::MAX);
        let expires_at = self.clock.now().saturating_add(ttl.as_secs());
        Arc::new(Entry { record, expires_at, ttl, weight })
    }

    fn fields(entry: &Entry) -> Result<Fields, BackendError> {
        record::decode(&entry.record)
    }

    fn live(&self, entry: &Entry) -> bool {
        self.clock.now() < entry.expires_at
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let Some(entry) = self.cache.get(key).filter(|e| self.live(e)) else {
            return Ok(None);
        };
        let ttl = Some(Duration::from_secs(entry.expires_at.saturating_sub(self.clock.now())));
        Ok(Some(Stored { fields: Self::fields(&entry)?, ttl }))
    }

    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        let result = self.cache.entry_by_ref(key).and_compute_with(|existing| match existing {
            Some(e) if self.live(e.value()) => Op::Nop,
            _ => Op::Put(self.entry(fields, ttl)),
        });
        Ok(matches!(
            result,
            moka::ops::compute::CompResult::Inserted(_) | moka::ops::compute::CompResult::ReplacedWith(_)
        ))
    }

    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        let result = self.cache.entry_by_ref(key).and_compute_with(|existing| match existing {
            Some(e) if self.live(e.value()) => match Self::fields(e.value()) {
                Ok(mut fields) => {
                    patch.apply(&mut fields);
                    Op::Put(self.entry(&fields, ttl))
                }
                // Records are only written by `entry`, so this cannot
                // happen; refusing the update is the safe answer.
                Err(_) => Op::Nop,
            },
            _ => Op::Nop,
        });
        Ok(matches!(result, moka::ops::compute::CompResult::ReplacedWith(_)))
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        // Through the compute path that `update` takes: moka serializes
        // computes per key, but a plain `invalidate` does not wait for them,
        // so an update computing at that moment would put the record back
        // after the delete.
        self.cache.entry_by_ref(key).and_compute_with(|_| Op::Remove);
        Ok(())
    }

    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        let result = self.cache.entry_by_ref(key).and_compute_with(|existing| match existing {
            Some(e) if self.live(e.value()) => {
                let entry = e.value();
                Op::Put(Arc::new(Entry {
                    record: entry.record.clone(),
                    expires_at: self.clock.now().saturating_add(ttl.as_secs()),
                    ttl,
                    weight: entry.weight,
                }))
            }
            _ => Op::Nop,
        });
        Ok(matches!(result, moka::ops::compute::CompResult::ReplacedWith(_)))
    }

    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        // The compute path again: updates of this key are serialized with it.
        let result = self.cache.entry_by_ref(key).and_compute_with(|existing| match existing {
            Some(_) => Op::Remove,
            None => Op::Nop,
        });
        let moka::ops::compute::CompResult::Removed(entry) = result else { return Ok(None) };
        let entry = entry.into_value();
        if !self.live(&entry) {
            return Ok(None);
        }
        let ttl = Some(Duration::from_secs(entry.expires_at.saturating_sub(self.clock.now())));
        Ok(Some(Stored { fields: Self::fields(&entry)?, ttl }))
    }
}
