//! A bounded in-process backend.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use moka::policy::EvictionPolicy;
use moka::sync::Cache;

use super::{Backend, BackendError, Patch, StorageKey, Stored};
use crate::clock::{self, Clock};
use crate::record::{self, DEFAULT_MAX_RECORD_BYTES, Fields, META_FIELD, USER_FIELD};

/// Measured cost of one entry beyond its record bytes (the cache's own
/// bookkeeping, the key, the allocations), so the byte bound tracks the
/// process's real memory (see the million-session test in `tests/faults.rs`).
const ENTRY_OVERHEAD: usize = 512;

/// Operations on one key are serialized by one of these locks, chosen by
/// the key's first byte. A key moves between the two segments, which no
/// single cache operation covers, so the lock is what makes each backend
/// call atomic for its key.
const STRIPES: usize = 64;

/// A scan of the protected segment that freed nothing is not repeated
/// sooner than this: it costs a pass over every protected record, and
/// refusing quickly is what a full segment under a login flood needs.
const RECLAIM_BACKOFF: Duration = Duration::from_secs(1);

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

/// Where a key's record is held.
struct Held {
    entry: Arc<Entry>,
    protected: bool,
}

/// Sessions in this process's memory, bounded in entries and bytes, with
/// per-record TTLs.
///
/// For a single process only: sessions are lost on restart and not shared
/// between servers.
///
/// # Bounds and eviction
///
/// Memory is split into two segments, each with its own byte budget; both
/// together stay within [`max_bytes`](MemoryBackendBuilder::max_bytes) and
/// [`max_entries`](MemoryBackendBuilder::max_entries):
///
/// - **Protected** ([`protected_bytes`](MemoryBackendBuilder::protected_bytes),
///   half by default): records bound to a user (a `u` field, set by
///   [`Session::set_user`](crate::Session::set_user)) and user indexes
///   (records whose fields are all storage keys, with no `m` metadata
///   field). Nothing is ever evicted from it: records leave when deleted or
///   expired. When a write would take it past its budget, the backend first
///   drops expired records and moves user indexes that no longer list a
///   live session to the anonymous segment; if that frees too little, the
///   write fails with [`BackendError::Full`] (a `503`) and changes nothing.
///   A login is refused rather than logging someone else out, and a user
///   index is never evicted while one of its sessions lives, so "log out
///   everywhere" always finds every session.
/// - **Anonymous** (the rest): every other record. When full, the least
///   recently used anonymous record is evicted. A new record is always
///   admitted: once `create` returns `Ok(true)`, the record loads until it
///   is deleted, expires, or becomes the least recently used of a full
///   segment. A flood of new anonymous sessions therefore evicts older
///   anonymous sessions, and never a protected record.
///
/// A record moves between segments when an update adds or removes its `u`
/// field. Records are at most
/// [`max_record_bytes`](MemoryBackendBuilder::max_record_bytes) of
/// [`record::encoded_len`] (default 1 MiB); larger ones are refused with
/// [`BackendError::TooLarge`].
///
/// ```
/// use sessions_core::backend::MemoryBackend;
///
/// let backend = MemoryBackend::builder()
///     .max_entries(10_000)
///     .max_bytes(16 << 20)
///     .protected_bytes(8 << 20)
///     .build();
/// # let _ = backend;
/// ```
#[derive(Debug, Clone)]
pub struct MemoryBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    anonymous: Cache<StorageKey, Arc<Entry>>,
    /// Unbounded as a cache and without the cache's own expiry: every
    /// record enters and leaves it through this backend, under the key's
    /// lock, which is what keeps `protected_used` exact.
    protected: Cache<StorageKey, Arc<Entry>>,
    protected_used: AtomicU64,
    protected_budget: u64,
    locks: Vec<Mutex<()>>,
    /// When the last reclaim that freed nothing ran.
    fruitless_reclaim: Mutex<Option<Instant>>,
    min_weight: usize,
    max_record_bytes: usize,
    clock: Arc<dyn Clock>,
}

/// Configures a [`MemoryBackend`].
#[derive(Debug)]
pub struct MemoryBackendBuilder {
    max_entries: u64,
    max_bytes: u64,
    protected_bytes: Option<u64>,
    max_record_bytes: usize,
    clock: Arc<dyn Clock>,
}

impl MemoryBackendBuilder {
    /// The most records kept, both segments together (default 100 000).
    pub fn max_entries(mut self, n: u64) -> Self {
        self.max_entries = n.max(1);
        self
    }

    /// The most bytes kept, both segments together, counting an estimate
    /// of per-entry overhead (default 64 MiB).
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n.max(1);
        self
    }

    /// The part of [`max_bytes`](Self::max_bytes) for records bound to a
    /// user and user indexes, which are never evicted (default half). The
    /// anonymous segment gets the rest, so this also bounds how much of
    /// the memory anonymous sessions can take.
    pub fn protected_bytes(mut self, n: u64) -> Self {
        self.protected_bytes = Some(n);
        self
    }

    /// The largest record stored, in bytes of [`record::encoded_len`]
    /// (default [`DEFAULT_MAX_RECORD_BYTES`], 1 MiB), and never more than
    /// the smaller segment can hold; larger records are refused with
    /// [`BackendError::TooLarge`].
    pub fn max_record_bytes(mut self, n: usize) -> Self {
        self.max_record_bytes = n;
        self
    }

    /// The clock that decides expiry (tests use a manual one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the backend.
    pub fn build(self) -> MemoryBackend {
        let protected_budget = self.protected_bytes.unwrap_or(self.max_bytes / 2).min(self.max_bytes);
        let anonymous_budget = self.max_bytes - protected_budget;
        let smaller = usize::try_from(protected_budget.min(anonymous_budget)).unwrap_or(usize::MAX);
        // One weighted bound per segment enforces both limits: every entry
        // weighs at least max_bytes / max_entries, so no more than
        // max_entries fit in the two together. An entry heavier than its
        // segment would be evicted as soon as it was admitted, so the
        // record limit leaves room for the overhead.
        let min_weight = usize::try_from(self.max_bytes.div_ceil(self.max_entries)).unwrap_or(usize::MAX).max(1);
        let max_record_bytes =
            self.max_record_bytes.min(smaller.saturating_sub(ENTRY_OVERHEAD)).min(u32::MAX as usize - ENTRY_OVERHEAD);
        let anonymous = Cache::builder()
            .max_capacity(anonymous_budget)
            // Least recently used, not TinyLFU: TinyLFU may refuse a new
            // entry after `create` has acknowledged it.
            .eviction_policy(EvictionPolicy::lru())
            .weigher(|_: &StorageKey, e: &Arc<Entry>| e.weight)
            .expire_after(ByEntry)
            .build();
        let protected = Cache::builder().weigher(|_: &StorageKey, e: &Arc<Entry>| e.weight).build();
        MemoryBackend {
            inner: Arc::new(Inner {
                anonymous,
                protected,
                protected_used: AtomicU64::new(0),
                protected_budget,
                locks: (0..STRIPES).map(|_| Mutex::new(())).collect(),
                fruitless_reclaim: Mutex::new(None),
                min_weight: if min_weight > smaller { smaller.max(1) } else { min_weight },
                max_record_bytes,
                clock: self.clock,
            }),
        }
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        MemoryBackend::new()
    }
}

impl MemoryBackend {
    /// A backend with the default bounds (100 000 records, 64 MiB, half of
    /// it for protected records).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a backend.
    pub fn builder() -> MemoryBackendBuilder {
        MemoryBackendBuilder {
            max_entries: 100_000,
            max_bytes: 64 << 20,
            protected_bytes: None,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            clock: clock::system(),
        }
    }

    /// Number of records held, in both segments (after pending evictions
    /// are applied).
    pub fn len(&self) -> u64 {
        let inner = &self.inner;
        inner.anonymous.run_pending_tasks();
        inner.protected.run_pending_tasks();
        inner.anonymous.entry_count() + inner.protected.entry_count()
    }

    /// True when no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The weight held in both segments, in estimated bytes (after pending
    /// evictions).
    pub fn weighted_size(&self) -> u64 {
        self.inner.anonymous.run_pending_tasks();
        self.inner.anonymous.weighted_size() + self.inner.protected_used.load(Ordering::SeqCst)
    }

    /// Runs `op`; if the protected segment was full, reclaims what it can
    /// and runs it once more.
    fn with_room<T>(&self, op: impl Fn() -> Result<T, BackendError>) -> Result<T, BackendError> {
        match op() {
            Err(BackendError::Full(_)) if self.inner.reclaim() => op(),
            other => other,
        }
    }
}

/// Whether a record belongs in the protected segment: bound to a user, or
/// a user index (only storage keys as field names, and no metadata, which
/// every session record has).
fn is_protected(fields: &Fields) -> bool {
    fields.contains_key(USER_FIELD) || is_user_index(fields)
}

fn is_user_index(fields: &Fields) -> bool {
    !fields.is_empty()
        && !fields.contains_key(META_FIELD)
        && fields.keys().all(|name| StorageKey::parse(name).is_some())
}

impl Inner {
    fn lock(&self, key: &StorageKey) -> MutexGuard<'_, ()> {
        self.locks[usize::from(key.as_bytes()[0]) % STRIPES].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check_size(&self, fields: &Fields) -> Result<(), BackendError> {
        let size = record::encoded_len(fields);
        if size > self.max_record_bytes {
            return Err(BackendError::TooLarge { size, limit: self.max_record_bytes });
        }
        Ok(())
    }

    fn entry(&self, fields: &Fields, ttl: Duration) -> Arc<Entry> {
        let record = record::encode(fields);
        let weight = u32::try_from((record.len() + ENTRY_OVERHEAD).max(self.min_weight)).unwrap_or(u32::MAX);
        let expires_at = self.clock.now().saturating_add(ttl.as_secs());
        Arc::new(Entry { record, expires_at, ttl, weight })
    }

    fn live(&self, entry: &Entry) -> bool {
        self.clock.now() < entry.expires_at
    }

    /// The record under `key`, in whichever segment. Callers hold the
    /// key's lock, so the record cannot be between segments.
    fn get(&self, key: &StorageKey) -> Option<Held> {
        if let Some(entry) = self.protected.get(key) {
            return Some(Held { entry, protected: true });
        }
        self.anonymous.get(key).map(|entry| Held { entry, protected: false })
    }

    fn get_live(&self, key: &StorageKey) -> Option<Held> {
        self.get(key).filter(|held| self.live(&held.entry))
    }

    /// Stores `entry` under `key` in the segment `protected` names,
    /// replacing `current`. Callers hold the key's lock.
    fn put(
        &self,
        key: &StorageKey,
        current: Option<&Held>,
        entry: Arc<Entry>,
        protected: bool,
    ) -> Result<(), BackendError> {
        let replaced = current.filter(|held| held.protected).map_or(0, |held| held.entry.weight);
        if protected {
            self.reserve(replaced, entry.weight)?;
            self.protected.insert(key.clone(), entry);
            if current.is_some_and(|held| !held.protected) {
                self.anonymous.invalidate(key);
            }
        } else {
            self.anonymous.insert(key.clone(), entry);
            if current.is_some_and(|held| held.protected) {
                self.protected.invalidate(key);
                self.release(replaced);
            }
        }
        Ok(())
    }

    fn remove(&self, key: &StorageKey, held: &Held) {
        if held.protected {
            self.protected.invalidate(key);
            self.release(held.entry.weight);
        } else {
            self.anonymous.invalidate(key);
        }
    }

    /// Takes room in the protected segment for a record of weight `new`
    /// replacing one of weight `replaced`, or fails with `Full`.
    fn reserve(&self, replaced: u32, new: u32) -> Result<(), BackendError> {
        let budget = self.protected_budget;
        self.protected_used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                let next = used.saturating_sub(u64::from(replaced)).saturating_add(u64::from(new));
                (next <= used || next <= budget).then_some(next)
            })
            .map(drop)
            .map_err(|used| {
                BackendError::Full(format!(
                    "the memory backend's protected segment holds {used} of its {budget} bytes; \
                     a record of {new} more does not fit"
                ))
            })
    }

    fn release(&self, weight: u32) {
        let _ = self
            .protected_used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| Some(used.saturating_sub(u64::from(weight))));
    }

    /// Makes room in the protected segment: drops expired records and moves
    /// user indexes none of whose sessions lives to the anonymous segment.
    /// True when anything was freed.
    fn reclaim(&self) -> bool {
        let mut fruitless = self.fruitless_reclaim.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if fruitless.is_some_and(|at| at.elapsed() < RECLAIM_BACKOFF) {
            return false;
        }
        let keys: Vec<StorageKey> = self.protected.iter().map(|(key, _)| StorageKey::clone(&key)).collect();
        let mut freed = false;
        for key in keys {
            let _guard = self.lock(&key);
            let Some(entry) = self.protected.get(&key) else { continue };
            let held = Held { entry, protected: true };
            if !self.live(&held.entry) {
                self.remove(&key, &held);
                freed = true;
                continue;
            }
            let Ok(fields) = record::decode(&held.entry.record) else { continue };
            if !is_user_index(&fields)
                || fields.keys().filter_map(|name| StorageKey::parse(name)).any(|s| self.lives(&s))
            {
                continue;
            }
            let left = held.entry.expires_at.saturating_sub(self.clock.now());
            let demoted = Arc::new(Entry {
                record: held.entry.record.clone(),
                expires_at: held.entry.expires_at,
                ttl: Duration::from_secs(left),
                weight: held.entry.weight,
            });
            if self.put(&key, Some(&held), demoted, false).is_ok() {
                freed = true;
            }
        }
        *fruitless = (!freed).then(Instant::now);
        freed
    }

    /// Whether the session under `key` lives, looked up without its lock
    /// (the caller holds another key's). Anonymous first: a session that
    /// moves to the protected segment is put there before it leaves the
    /// anonymous one, so it is never missed; one that moves the other way
    /// has lost its user and is no longer the index's concern.
    fn lives(&self, key: &StorageKey) -> bool {
        self.anonymous.contains_key(key) || self.protected.get(key).is_some_and(|entry| self.live(&entry))
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let inner = &self.inner;
        let found = {
            let _guard = inner.lock(key);
            inner.get_live(key)
        };
        let Some(held) = found else { return Ok(None) };
        let ttl = Some(Duration::from_secs(held.entry.expires_at.saturating_sub(inner.clock.now())));
        Ok(Some(Stored { fields: record::decode(&held.entry.record)?, ttl }))
    }

    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        let inner = &self.inner;
        inner.check_size(fields)?;
        let entry = inner.entry(fields, ttl);
        let protected = is_protected(fields);
        self.with_room(|| {
            let _guard = inner.lock(key);
            match inner.get(key) {
                Some(held) if inner.live(&held.entry) => Ok(false),
                current => inner.put(key, current.as_ref(), Arc::clone(&entry), protected).map(|()| true),
            }
        })
    }

    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        let inner = &self.inner;
        self.with_room(|| {
            let _guard = inner.lock(key);
            let Some(held) = inner.get_live(key) else { return Ok(false) };
            let mut fields = record::decode(&held.entry.record)?;
            patch.apply(&mut fields);
            inner.check_size(&fields)?;
            inner.put(key, Some(&held), inner.entry(&fields, ttl), is_protected(&fields))?;
            Ok(true)
        })
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        let inner = &self.inner;
        // Under the key's lock, which `update` holds from read to write:
        // an update racing the delete either finishes first or finds
        // nothing, so it cannot put the record back.
        let _guard = inner.lock(key);
        if let Some(held) = inner.get(key) {
            inner.remove(key, &held);
        }
        Ok(())
    }

    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        let inner = &self.inner;
        let _guard = inner.lock(key);
        let Some(held) = inner.get_live(key) else { return Ok(false) };
        let touched = Arc::new(Entry {
            record: held.entry.record.clone(),
            expires_at: inner.clock.now().saturating_add(ttl.as_secs()),
            ttl,
            weight: held.entry.weight,
        });
        // Same record, same weight, same segment: this never needs room.
        inner.put(key, Some(&held), touched, held.protected)?;
        Ok(true)
    }

    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let inner = &self.inner;
        // Under the key's lock, like `update`: an update lands before the
        // take (and is in what it returns) or after it (and finds nothing).
        let held = {
            let _guard = inner.lock(key);
            let held = inner.get_live(key);
            if let Some(held) = &held {
                inner.remove(key, held);
            }
            held
        };
        let Some(held) = held else { return Ok(None) };
        let ttl = Some(Duration::from_secs(held.entry.expires_at.saturating_sub(inner.clock.now())));
        Ok(Some(Stored { fields: record::decode(&held.entry.record)?, ttl }))
    }
}
