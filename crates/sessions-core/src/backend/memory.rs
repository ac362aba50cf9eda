//! A bounded in-process backend.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hashbrown::HashTable;

use super::{Backend, BackendError, Patch, RecordLimit, Retention, Seen, StorageKey, Stored};
use crate::backend::record::{self, DEFAULT_MAX_RECORD_BYTES, Fields};
use crate::clock::{self, Clock};

/// Cost of one entry beyond its record bytes: its slot (the key, the
/// record's pointer, expiry and links: 72 bytes, in a vector up to half
/// empty just after it grows), its place in the hash index (5 bytes a
/// bucket), and the record allocation's header and the allocator's
/// rounding. Measured by the `footprint` benchmark of `sessions-bench`:
/// 121 bytes at 100 000 sessions, about 190 just after the vector doubles.
/// It makes the byte bound track the process's real memory (the
/// million-session test in `tests/faults.rs` checks it).
const ENTRY_OVERHEAD: usize = 160;

/// A scan of the protected segment that freed nothing is not repeated
/// sooner than this: it costs a pass over every protected record, and
/// refusing quickly is what a full segment under a login flood needs.
const RECLAIM_BACKOFF: Duration = Duration::from_secs(1);

/// How many of the least recently used anonymous records each write looks
/// at, to drop those that have expired.
const SWEEP_PER_WRITE: usize = 2;

/// No slot: the end of a list.
const NIL: u32 = u32::MAX;

/// Sessions in this process's memory, bounded in entries and bytes, with
/// per-record TTLs.
///
/// For a single process only: sessions are lost on restart and not shared
/// between servers.
///
/// # Bounds and eviction
///
/// Records fall in two segments that share one bound: together they stay
/// within [`max_bytes`](MemoryBackendBuilder::max_bytes) and
/// [`max_entries`](MemoryBackendBuilder::max_entries).
///
/// - **Protected**: records written with a [`Retention`] that keeps them:
///   [`Keep`](Retention::Keep) (the store's hint for a session bound to a
///   user by [`Session::set_user`](crate::Session::set_user)) and
///   [`Index`](Retention::Index) (a user's index of sessions). It may hold
///   up to
///   [`protected_bytes`](MemoryBackendBuilder::protected_bytes) (half by
///   default), and nothing is ever evicted from it: records leave when
///   deleted or expired. When a write would take it past that budget, the
///   backend first drops expired records and moves user indexes that no
///   longer list a live session to the anonymous segment; if that frees
///   too little, the write fails with [`BackendError::Full`] (a `503`) and
///   changes nothing. A login is refused rather than logging someone else
///   out, and a user index is never evicted while one of its sessions
///   lives, so "log out everywhere" always finds every session.
/// - **Anonymous**: every other record, in whatever the protected segment
///   does not hold: all of the backend while no one is logged in. When the
///   backend is full, the least recently used anonymous record is evicted,
///   for a new anonymous record as for a protected one (a login takes its
///   room from anonymous sessions, never from another login). A new record
///   is always admitted: once `create` returns `Ok(true)`, the record loads
///   until it is deleted, expires, or becomes the least recently used
///   anonymous record of a full backend. A flood of new anonymous sessions
///   therefore evicts older anonymous sessions, and never a protected
///   record; the anonymous segment always keeps at least `max_bytes -
///   protected_bytes`.
///
/// A record moves between segments when a write gives it another
/// retention ([`Backend::create_retained`], [`Backend::update_retained`]);
/// a plain `create` is anonymous, and a plain `update` or `touch` leaves
/// the record where it is. Records are at most
/// [`max_record_bytes`](MemoryBackendBuilder::max_record_bytes) of
/// [`record::encoded_len`] (default 1 MiB); larger ones are refused with
/// [`BackendError::TooLarge`].
///
/// Records are kept serialized, one allocation each, and an update merges
/// its patch into the bytes without decoding the record.
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
    table: Mutex<Table>,
    protected_budget: u64,
    /// Both segments together; anonymous records are evicted down to what
    /// the protected ones leave of it.
    max_bytes: u64,
    /// When the last reclaim that freed nothing ran.
    fruitless_reclaim: Mutex<Option<Instant>>,
    min_weight: usize,
    limit: RecordLimit,
    clock: Arc<dyn Clock>,
}

/// Every record, in slots found through a hash index, with the anonymous
/// ones linked from most to least recently used.
///
/// One lock guards it, held only for lookups and pointer updates: records
/// are encoded, decoded and patched outside it. Each backend call is atomic
/// for its key because each of its changes is made under the lock in one
/// step; an update, which reads, patches outside the lock and writes back,
/// writes only if the record is still the one it read (the same
/// allocation, which it keeps alive meanwhile), and otherwise starts over.
#[derive(Debug)]
struct Table {
    /// Slot numbers, hashed by their slot's key.
    index: HashTable<u32>,
    hasher: KeyHasher,
    slots: Vec<Slot>,
    /// Free slots, linked through `next`.
    free: u32,
    /// Most recently used anonymous slot.
    head: u32,
    /// Least recently used anonymous slot.
    tail: u32,
    anonymous_used: u64,
    protected_used: u64,
    anonymous_count: u64,
    protected_count: u64,
}

#[derive(Debug)]
struct Slot {
    key: StorageKey,
    /// `None` when the slot is free.
    record: Option<Arc<[u8]>>,
    /// Expiry on the backend's clock, checked on every read.
    expires_at: u64,
    /// The anonymous list (or, for a free slot, the free list).
    prev: u32,
    next: u32,
    weight: u32,
    retention: Retention,
}

/// A record as read under the lock.
struct Held {
    record: Arc<[u8]>,
    expires_at: u64,
    retention: Retention,
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

    /// The most of [`max_bytes`](Self::max_bytes) that records bound to a
    /// user and user indexes may take; they are never evicted (default
    /// half). Anonymous sessions use whatever protected records do not
    /// hold, so the rest is always theirs.
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
        // segment could never be stored, so the record limit leaves room
        // for the overhead.
        let min_weight = usize::try_from(self.max_bytes.div_ceil(self.max_entries)).unwrap_or(usize::MAX).max(1);
        let max_record_bytes =
            self.max_record_bytes.min(smaller.saturating_sub(ENTRY_OVERHEAD)).min(u32::MAX as usize - ENTRY_OVERHEAD);
        MemoryBackend {
            inner: Arc::new(Inner {
                table: Mutex::new(Table {
                    index: HashTable::new(),
                    hasher: KeyHasher::new(),
                    slots: Vec::new(),
                    free: NIL,
                    head: NIL,
                    tail: NIL,
                    anonymous_used: 0,
                    protected_used: 0,
                    anonymous_count: 0,
                    protected_count: 0,
                }),
                protected_budget,
                max_bytes: self.max_bytes,
                fruitless_reclaim: Mutex::new(None),
                min_weight: if min_weight > smaller { smaller.max(1) } else { min_weight },
                limit: RecordLimit::new(max_record_bytes),
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

    /// Number of records held, in both segments. An expired record counts
    /// until it is dropped: when read, overwritten, reached by the sweep of
    /// least recently used records each write makes, or evicted.
    pub fn len(&self) -> u64 {
        let table = self.inner.table();
        table.anonymous_count + table.protected_count
    }

    /// True when no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The weight held in both segments, in estimated bytes.
    pub fn weighted_size(&self) -> u64 {
        let table = self.inner.table();
        table.anonymous_used + table.protected_used
    }

    // The calls below answer at once: no lock is held across an await, and
    // nothing waits. A server store calls them directly rather than through
    // `dyn Backend`, whose every call boxes its future.

    /// [`Backend::load`].
    pub(crate) fn load_now(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let Some(held) = inner.get_live(key, now) else { return Ok(None) };
        let ttl = Some(Duration::from_secs(held.expires_at.saturating_sub(now)));
        Ok(Some(Stored::new(record::decode(&held.record)?, ttl)))
    }

    /// [`Backend::create_retained`].
    pub(crate) fn create_now(
        &self,
        key: &StorageKey,
        fields: &Fields,
        ttl: Duration,
        retention: Retention,
    ) -> Result<bool, BackendError> {
        let inner = &self.inner;
        inner.limit.check(fields)?;
        let record = record::encode_shared(fields);
        let now = inner.clock.now();
        let expires_at = now.saturating_add(ttl.as_secs());
        self.with_room(|| inner.put(key, None, Arc::clone(&record), expires_at, retention, now))
    }

    /// [`Backend::touch`].
    pub(crate) fn touch_now(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let expires_at = now.saturating_add(ttl.as_secs());
        loop {
            let Some(held) = inner.get_live(key, now) else { return Ok(false) };
            // Same record, same weight, same segment: this never needs room.
            let record = Arc::clone(&held.record);
            if inner.put(key, Some(&held.record), record, expires_at, held.retention, now)? {
                return Ok(true);
            }
        }
    }

    /// [`Backend::update`] (with `retention`: [`Backend::update_retained`]),
    /// setting the record's retention when `retention` is given and
    /// leaving it as it is otherwise. The record is patched as it is now,
    /// whatever a `Seen` would hold: the merge costs less than a
    /// comparison would.
    pub(crate) fn patch(
        &self,
        key: &StorageKey,
        patch: &Patch,
        ttl: Duration,
        retention: Option<Retention>,
    ) -> Result<bool, BackendError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let expires_at = now.saturating_add(ttl.as_secs());
        self.with_room(|| {
            // Read, patch outside the lock, and write back if no other call
            // changed the record meanwhile; otherwise start over from what
            // that call wrote. Each round that fails is another's success.
            loop {
                let Some(held) = inner.get_live(key, now) else { return Ok(false) };
                let patched = record::patch_encoded(&held.record, patch)?;
                inner.limit.check_len(patched.len())?;
                let retention = retention.unwrap_or(held.retention);
                if inner.put(key, Some(&held.record), patched, expires_at, retention, now)? {
                    return Ok(true);
                }
            }
        })
    }

    /// Runs `op`; if the protected segment was full, reclaims what it can
    /// and runs it once more.
    fn with_room<T>(&self, mut op: impl FnMut() -> Result<T, BackendError>) -> Result<T, BackendError> {
        match op() {
            Err(BackendError::Full(_)) if self.inner.reclaim() => op(),
            other => other,
        }
    }
}

/// Hashes storage keys for the index: a folded multiply of the key's first
/// 16 bytes with two per-process random words. Storage keys are BLAKE3
/// outputs, so their bits are uniform already; the random words keep
/// clients from lining up keys in one bucket (the name a user index's key
/// is derived from is chosen by users). Keys that collide whatever the
/// words would need equal first 16 bytes: a 128-bit BLAKE3 collision.
#[derive(Debug)]
struct KeyHasher([u64; 2]);

impl KeyHasher {
    fn new() -> KeyHasher {
        // Should the OS RNG fail, std's randomly keyed hasher still gives
        // words no client can predict.
        let word = |n: u64| {
            getrandom::u64().unwrap_or_else(|_| std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), n))
        };
        KeyHasher([word(0), word(1)])
    }

    fn hash(&self, key: &StorageKey) -> u64 {
        let bytes = key.as_bytes();
        let word = |at: usize| u64::from_le_bytes(std::array::from_fn(|i| bytes[at + i]));
        let product = u128::from(word(0) ^ self.0[0]) * u128::from(word(8) ^ self.0[1]);
        (product as u64) ^ ((product >> 64) as u64)
    }
}

impl Inner {
    fn table(&self) -> MutexGuard<'_, Table> {
        // Every change to the table is made under the lock with nothing
        // that can panic halfway, so a poisoned lock holds a consistent
        // table.
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn weight(&self, record: &[u8]) -> u32 {
        u32::try_from((record.len() + ENTRY_OVERHEAD).max(self.min_weight)).unwrap_or(u32::MAX)
    }

    /// The live record under `key`; a read of an anonymous record makes it
    /// the most recently used.
    fn get_live(&self, key: &StorageKey, now: u64) -> Option<Held> {
        let mut table = self.table();
        let at = table.find(key)?;
        let slot = &table.slots[at as usize];
        if now >= slot.expires_at {
            return None;
        }
        let held =
            Held { record: Arc::clone(slot.record.as_ref()?), expires_at: slot.expires_at, retention: slot.retention };
        if !held.retention.is_kept() {
            table.touch_lru(at);
        }
        Some(held)
    }

    /// Stores `record` under `key`, expiring at `expires_at`, in the segment
    /// `retention` picks, if the key's live record is still `expected`
    /// (`None`: there is none). `Ok(false)`, and nothing written, when it
    /// is not.
    fn put(
        &self,
        key: &StorageKey,
        expected: Option<&Arc<[u8]>>,
        record: Arc<[u8]>,
        expires_at: u64,
        retention: Retention,
        now: u64,
    ) -> Result<bool, BackendError> {
        let weight = self.weight(&record);
        let mut table = self.table();
        let found = table.find(key);
        let current = found.map(|at| &table.slots[at as usize]);
        let live = current.filter(|slot| now < slot.expires_at).and_then(|slot| slot.record.as_ref());
        let unchanged = match (expected, live) {
            (None, None) => true,
            (Some(expected), Some(live)) => Arc::ptr_eq(expected, live),
            _ => false,
        };
        if !unchanged {
            return Ok(false);
        }
        if retention.is_kept() {
            let replaced = current.filter(|slot| slot.retention.is_kept()).map_or(0, |slot| u64::from(slot.weight));
            let used = table.protected_used;
            let next = used - replaced + u64::from(weight);
            // A record may always shrink or keep its size, even in a full
            // segment: a bound session that logs in again is served.
            if next > used && next > self.protected_budget {
                return Err(BackendError::Full(format!(
                    "the memory backend's protected segment holds {used} of its {} bytes; \
                     a record of {weight} more does not fit",
                    self.protected_budget
                )));
            }
        }
        match found {
            Some(at) => table.replace(at, record, expires_at, weight, retention),
            None => table.insert(key, record, expires_at, weight, retention),
        }
        table.sweep(now);
        // Anonymous records take what protected ones leave: a protected
        // write within its budget always finds room, by evicting them.
        let room = self.max_bytes.saturating_sub(table.protected_used);
        table.evict(room);
        Ok(true)
    }

    /// Removes the record under `key` if it is still `expected` (whatever
    /// it is when `None`); returns what was removed.
    fn remove(&self, key: &StorageKey, expected: Option<&Arc<[u8]>>) -> Option<Held> {
        let mut table = self.table();
        let at = table.find(key)?;
        let slot = &table.slots[at as usize];
        let record = slot.record.as_ref()?;
        if expected.is_some_and(|expected| !Arc::ptr_eq(expected, record)) {
            return None;
        }
        let held = Held { record: Arc::clone(record), expires_at: slot.expires_at, retention: slot.retention };
        table.remove(at);
        Some(held)
    }

    /// Makes room in the protected segment: drops expired records and moves
    /// indexes none of whose records lives to the anonymous segment.
    /// True when anything was freed.
    fn reclaim(&self) -> bool {
        let mut fruitless = self.fruitless_reclaim.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if fruitless.is_some_and(|at| at.elapsed() < RECLAIM_BACKOFF) {
            return false;
        }
        let now = self.clock.now();
        let protected: Vec<(StorageKey, Held)> = {
            let table = self.table();
            table
                .slots
                .iter()
                .filter(|slot| slot.retention.is_kept())
                .filter_map(|slot| {
                    let record = Arc::clone(slot.record.as_ref()?);
                    Some((slot.key.clone(), Held { record, expires_at: slot.expires_at, retention: slot.retention }))
                })
                .collect()
        };
        let mut freed = false;
        for (key, held) in protected {
            if now >= held.expires_at {
                freed |= self.remove(&key, Some(&held.record)).is_some();
                continue;
            }
            if held.retention != Retention::Index {
                continue;
            }
            let Ok(fields) = record::decode(&held.record) else { continue };
            if fields.keys().filter_map(StorageKey::parse).any(|s| self.lives(&s, now)) {
                continue;
            }
            // Demoted as it is: the same record, expiry and weight, unless
            // it changed meanwhile.
            let record = Arc::clone(&held.record);
            if let Ok(true) = self.put(&key, Some(&held.record), record, held.expires_at, Retention::Evictable, now) {
                freed = true;
            }
        }
        *fruitless = (!freed).then(Instant::now);
        freed
    }

    /// Whether the session under `key` lives. Read without changing its
    /// place in the anonymous list.
    fn lives(&self, key: &StorageKey, now: u64) -> bool {
        let table = self.table();
        table.find(key).is_some_and(|at| now < table.slots[at as usize].expires_at)
    }
}

impl Table {
    fn find(&self, key: &StorageKey) -> Option<u32> {
        self.index.find(self.hasher.hash(key), |&at| self.slots[at as usize].key == *key).copied()
    }

    fn account(&mut self, weight: u32, protected: bool, added: bool) {
        let (used, count) = if protected {
            (&mut self.protected_used, &mut self.protected_count)
        } else {
            (&mut self.anonymous_used, &mut self.anonymous_count)
        };
        if added {
            *used += u64::from(weight);
            *count += 1;
        } else {
            *used -= u64::from(weight);
            *count -= 1;
        }
    }

    fn insert(&mut self, key: &StorageKey, record: Arc<[u8]>, expires_at: u64, weight: u32, retention: Retention) {
        let slot = Slot { key: key.clone(), record: Some(record), expires_at, prev: NIL, next: NIL, weight, retention };
        let at = if self.free != NIL {
            let at = self.free;
            self.free = self.slots[at as usize].next;
            self.slots[at as usize] = slot;
            at
        } else {
            self.slots.push(slot);
            u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 records")
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hasher.hash(key), at, |&i| hasher.hash(&slots[i as usize].key));
        self.account(weight, retention.is_kept(), true);
        if !retention.is_kept() {
            self.push_front(at);
        }
    }

    fn replace(&mut self, at: u32, record: Arc<[u8]>, expires_at: u64, weight: u32, retention: Retention) {
        let (old_weight, was_protected) = {
            let slot = &self.slots[at as usize];
            (slot.weight, slot.retention.is_kept())
        };
        self.account(old_weight, was_protected, false);
        if !was_protected {
            self.unlink(at);
        }
        let slot = &mut self.slots[at as usize];
        slot.record = Some(record);
        slot.expires_at = expires_at;
        slot.weight = weight;
        slot.retention = retention;
        self.account(weight, retention.is_kept(), true);
        if !retention.is_kept() {
            self.push_front(at);
        }
    }

    fn remove(&mut self, at: u32) {
        let hash = self.hasher.hash(&self.slots[at as usize].key);
        if let Ok(entry) = self.index.find_entry(hash, |&i| i == at) {
            entry.remove();
        }
        let (weight, protected) = {
            let slot = &self.slots[at as usize];
            (slot.weight, slot.retention.is_kept())
        };
        self.account(weight, protected, false);
        if !protected {
            self.unlink(at);
        }
        let slot = &mut self.slots[at as usize];
        slot.record = None;
        slot.next = self.free;
        self.free = at;
    }

    fn push_front(&mut self, at: u32) {
        let old_head = self.head;
        let slot = &mut self.slots[at as usize];
        slot.prev = NIL;
        slot.next = old_head;
        match old_head {
            NIL => self.tail = at,
            head => self.slots[head as usize].prev = at,
        }
        self.head = at;
    }

    fn unlink(&mut self, at: u32) {
        let (prev, next) = {
            let slot = &self.slots[at as usize];
            (slot.prev, slot.next)
        };
        match prev {
            NIL => self.head = next,
            prev => self.slots[prev as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            next => self.slots[next as usize].prev = prev,
        }
    }

    /// Makes an anonymous slot the most recently used.
    fn touch_lru(&mut self, at: u32) {
        if self.head != at {
            self.unlink(at);
            self.push_front(at);
        }
    }

    /// Drops the least recently used anonymous records that have expired,
    /// a few per write, so that expired sessions do not wait for eviction
    /// to give their memory back.
    fn sweep(&mut self, now: u64) {
        for _ in 0..SWEEP_PER_WRITE {
            match self.tail {
                NIL => return,
                at if now < self.slots[at as usize].expires_at => return,
                at => self.remove(at),
            }
        }
    }

    /// Evicts least recently used anonymous records until the segment is
    /// within `budget`. The budget is never below what the protected budget
    /// leaves, and one record fits in that alone, so the most recently
    /// used record (the one just written, when it is anonymous) is never
    /// the one evicted.
    fn evict(&mut self, budget: u64) {
        while self.anonymous_used > budget && self.tail != NIL && self.tail != self.head {
            self.remove(self.tail);
        }
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        self.load_now(key)
    }

    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        self.create_retained(key, fields, ttl, Retention::Evictable).await
    }

    async fn create_retained(
        &self,
        key: &StorageKey,
        fields: &Fields,
        ttl: Duration,
        retention: Retention,
    ) -> Result<bool, BackendError> {
        self.create_now(key, fields, ttl, retention)
    }

    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        self.patch(key, patch, ttl, None)
    }

    /// The record is patched as it is now, whatever `seen` holds: the
    /// merge costs less than a comparison would.
    async fn update_retained(
        &self,
        key: &StorageKey,
        seen: Option<Seen<'_>>,
        patch: &Patch,
        ttl: Duration,
        retention: Retention,
    ) -> Result<bool, BackendError> {
        let _ = seen;
        self.patch(key, patch, ttl, Some(retention))
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        self.inner.remove(key, None);
        Ok(())
    }

    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        self.touch_now(key, ttl)
    }

    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        // Removed in one step under the lock: an update that read the record
        // before finds it gone when it writes back, and reports so.
        let Some(held) = inner.remove(key, None) else { return Ok(None) };
        if now >= held.expires_at {
            return Ok(None);
        }
        let ttl = Some(Duration::from_secs(held.expires_at.saturating_sub(now)));
        Ok(Some(Stored::new(record::decode(&held.record)?, ttl)))
    }
}
