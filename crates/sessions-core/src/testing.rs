//! The backend conformance kit: every invariant of [`Backend`], as checks
//! any backend crate (ours or a third party's) runs against itself.
//!
//! Enable the `testing` feature in `[dev-dependencies]` and call
//! [`run_all`] from a test; each check panics with a message naming the
//! broken invariant.
//!
//! ```
//! use std::sync::Arc;
//! use sessions_core::backend::MemoryBackend;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! sessions_core::testing::run_all(Arc::new(MemoryBackend::new())).await;
//! # });
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::BackendError;
use crate::backend::record::{Fields, encoded_len};
use crate::backend::{Backend, Patch, Seen, StorageKey, Stored};
use crate::{CookieOptions, Key, KeyRing, ServerStore, Store, StoreConfig};

mod counting;
mod faults;
mod full;
mod lifecycle;
mod races;
mod values;

pub use counting::CountingBackend;
pub use faults::{Call, Failure, Fault, FaultyBackend, unlisted_bound_sessions};
pub use full::{FullStoreRun, SmallDisk, reader_outlasts_a_full_store};
pub use lifecycle::{ModelRun, lifecycle_model, lifecycle_model_with_failures};
pub use races::{cycle_racing_logout_never_resurrects, take_racing_updates_loses_nothing};
pub use values::values_round_trip_through_the_store;

const TTL: Duration = Duration::from_secs(600);

thread_local! {
    static COOKIE_ENCODES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

pub(crate) fn count_cookie_encode() {
    COOKIE_ENCODES.with(|n| n.set(n.get() + 1));
}

/// How many cookie values the stores have encoded (sealed or signed) on
/// the calling thread, so a test on a current-thread runtime can prove
/// that a request encoded none.
///
/// ```
/// use sessions_core::testing::cookie_encodes_on_this_thread;
/// use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let registry = Registry::single(CookieStore::new(StoreConfig::new("s", KeyRing::from(Key::generate())))?);
/// let before = cookie_encodes_on_this_thread();
/// let sessions = registry.request([]);
/// sessions.default_session().await?.insert("n", &1)?;
/// sessions.save().await;
/// assert_eq!(cookie_encodes_on_this_thread(), before + 1);
/// # Ok::<(), sessions_core::Error>(())
/// # }).unwrap();
/// ```
pub fn cookie_encodes_on_this_thread() -> u64 {
    COOKIE_ENCODES.with(std::cell::Cell::get)
}

/// True under `CI=true`, where a test must not skip for want of a service.
pub fn ci_requires_services() -> bool {
    std::env::var("CI").is_ok_and(|ci| ci == "true")
}

/// The URL of a service from the environment variable `var` (for example
/// `SESSIONS_REDIS_URL`). Unset: prints `skipped: ...` and returns `None`,
/// so the test passes without the service; under `CI=true` it panics
/// instead, so a CI run can never skip silently.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(!ci_requires_services(), "{var} is not set, and CI=true requires every service");
            eprintln!("skipped: {var} is not set");
            None
        }
    }
}

/// A random storage key, so checks never collide with each other or with
/// data already in a shared server.
pub fn random_key() -> StorageKey {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("OS RNG");
    StorageKey::from_bytes(bytes)
}

fn fields(pairs: &[(&str, &[u8])]) -> Fields {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.to_vec())).collect()
}

/// Runs every check of the kit, the lifecycle model
/// ([`lifecycle_model`], sized by [`ModelRun::from_env`]) and the same
/// model with failures injected ([`lifecycle_model_with_failures`])
/// included, except
/// those that wait for real time to pass
/// ([`expired_records_are_not_loaded`]) or need to know the backend's
/// configuration ([`record_limit_is_enforced`]); run those separately.
pub async fn run_all(backend: Arc<dyn Backend>) {
    create_then_load(&*backend).await;
    create_never_overwrites(&*backend).await;
    update_applies_only_the_patch(&*backend).await;
    update_with_clear_replaces_everything(&*backend).await;
    update_never_creates(&*backend).await;
    update_seen_keeps_what_others_wrote(&*backend).await;
    touch_never_creates(&*backend).await;
    delete_is_idempotent(&*backend).await;
    large_record_round_trips(&*backend).await;
    concurrent_distinct_keys_are_kept(Arc::clone(&backend), 32, 20).await;
    concurrent_saves_of_loaded_records_are_kept(Arc::clone(&backend), 16, 20).await;
    update_racing_delete_does_not_resurrect(Arc::clone(&backend)).await;
    log_out_everywhere_ends_every_session_of_a_user(Arc::clone(&backend)).await;
    take_racing_updates_loses_nothing(Arc::clone(&backend)).await;
    values_round_trip_through_the_store(Arc::clone(&backend)).await;
    cycle_racing_logout_never_resurrects(Arc::clone(&backend)).await;
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    lifecycle_model(Arc::clone(&backend), crate::clock::ManualClock::new(now), ModelRun::from_env()).await;
    lifecycle_model_with_failures(backend, crate::clock::ManualClock::new(now), ModelRun::with_failures_from_env())
        .await;
}

/// A created record loads back unchanged, with a TTL no longer than asked.
pub async fn create_then_load(backend: &dyn Backend) {
    let key = random_key();
    let record = fields(&[("m", b"meta"), ("vname", b"ada"), ("v", b"")]);
    assert!(backend.create(&key, &record, TTL).await.expect("create"), "create of a new key must succeed");
    let stored = backend.load(&key).await.expect("load").expect("a created record must load");
    assert_eq!(stored.fields, record, "load must return exactly the created fields");
    if let Some(ttl) = stored.ttl {
        assert!(ttl <= TTL, "reported TTL {ttl:?} exceeds the {TTL:?} asked for");
    }
    assert!(backend.load(&random_key()).await.expect("load").is_none(), "an unknown key must load as None");
    backend.delete(&key).await.expect("delete");
}

/// `create` on an existing key returns false and leaves the record alone.
pub async fn create_never_overwrites(backend: &dyn Backend) {
    let key = random_key();
    assert!(backend.create(&key, &fields(&[("va", b"first")]), TTL).await.expect("create"));
    let again = backend.create(&key, &fields(&[("va", b"second")]), TTL).await.expect("create");
    assert!(!again, "create must report an existing key");
    let stored = backend.load(&key).await.expect("load").expect("record");
    assert_eq!(stored.fields, fields(&[("va", b"first")]), "create must never overwrite");
    backend.delete(&key).await.expect("delete");
}

/// `update` writes and removes only the fields of its patch.
pub async fn update_applies_only_the_patch(backend: &dyn Backend) {
    let key = random_key();
    let start = fields(&[("va", b"1"), ("vb", b"2"), ("vc", b"3")]);
    assert!(backend.create(&key, &start, TTL).await.expect("create"));
    let patch = Patch { clear: false, set: fields(&[("vb", b"22"), ("vd", b"4")]), remove: vec!["vc".into()] };
    assert!(backend.update(&key, &patch, TTL).await.expect("update"), "update of a live record must succeed");
    let stored = backend.load(&key).await.expect("load").expect("record");
    assert_eq!(stored.fields, fields(&[("va", b"1"), ("vb", b"22"), ("vd", b"4")]));
    backend.delete(&key).await.expect("delete");
}

/// `update` with `clear` keeps only the fields it sets.
pub async fn update_with_clear_replaces_everything(backend: &dyn Backend) {
    let key = random_key();
    assert!(backend.create(&key, &fields(&[("va", b"1"), ("vb", b"2")]), TTL).await.expect("create"));
    let patch = Patch { clear: true, set: fields(&[("m", b"meta")]), remove: vec![] };
    assert!(backend.update(&key, &patch, TTL).await.expect("update"));
    let stored = backend.load(&key).await.expect("load").expect("record");
    assert_eq!(stored.fields, fields(&[("m", b"meta")]), "clear must drop every field not set");
    backend.delete(&key).await.expect("delete");
}

/// `update` of an absent record returns false and creates nothing.
pub async fn update_never_creates(backend: &dyn Backend) {
    let key = random_key();
    let patch = Patch { clear: false, set: fields(&[("va", b"1")]), remove: vec![] };
    assert!(!backend.update(&key, &patch, TTL).await.expect("update"), "update must report a missing record");
    assert!(backend.load(&key).await.expect("load").is_none(), "update must never create a record");
}

/// What a request that loaded `stored` and made `patch` saves with
/// [`Backend::update_seen`]: the loaded fields with the patch applied, at
/// the loaded revision (or at a made-up one, which must be harmless, for a
/// backend that keeps none).
async fn save_loaded(backend: &dyn Backend, key: &StorageKey, stored: &Stored, patch: &Patch) -> bool {
    let mut after = stored.fields.clone();
    patch.apply(&mut after);
    let seen = Seen { revision: stored.revision.unwrap_or(u64::MAX), fields: &after };
    backend.update_seen(key, seen, patch, TTL).await.expect("update_seen")
}

/// `update_seen` writes the loaded record with its patch when nothing else
/// wrote it since; applies only the patch to what another request wrote
/// since the load; and never brings back a record deleted since.
pub async fn update_seen_keeps_what_others_wrote(backend: &dyn Backend) {
    let key = random_key();
    assert!(backend.create(&key, &fields(&[("va", b"1"), ("vb", b"1")]), TTL).await.expect("create"));
    let set = |name: &str, value: &[u8]| Patch { set: fields(&[(name, value)]), ..Patch::default() };

    let loaded = backend.load(&key).await.expect("load").expect("record");
    assert!(save_loaded(backend, &key, &loaded, &set("va", b"2")).await, "a save of a live record must land");
    let stored = backend.load(&key).await.expect("load").expect("record");
    assert_eq!(stored.fields, fields(&[("va", b"2"), ("vb", b"1")]));
    if let (Some(before), Some(after)) = (loaded.revision, stored.revision) {
        assert_ne!(before, after, "a write must move the revision on");
    }

    let loaded = backend.load(&key).await.expect("load").expect("record");
    assert!(backend.update(&key, &set("vb", b"3"), TTL).await.expect("update"));
    assert!(save_loaded(backend, &key, &loaded, &set("va", b"4")).await);
    let stored = backend.load(&key).await.expect("load").expect("record");
    assert_eq!(
        stored.fields,
        fields(&[("va", b"4"), ("vb", b"3")]),
        "a save of a record written since its load must keep that write"
    );

    let loaded = backend.load(&key).await.expect("load").expect("record");
    let clear = Patch { clear: true, set: fields(&[("m", b"meta")]), remove: vec![] };
    assert!(backend.update(&key, &set("vc", b"5"), TTL).await.expect("update"));
    assert!(save_loaded(backend, &key, &loaded, &clear).await);
    let stored = backend.load(&key).await.expect("load").expect("record");
    assert_eq!(stored.fields, fields(&[("m", b"meta")]), "clear must drop fields written since the load too");

    let loaded = backend.load(&key).await.expect("load").expect("record");
    backend.delete(&key).await.expect("delete");
    assert!(!save_loaded(backend, &key, &loaded, &set("va", b"6")).await, "a deleted record cannot be saved");
    assert!(backend.load(&key).await.expect("load").is_none(), "update_seen must never create a record");
}

/// `tasks` concurrent requests each load the record, write their own
/// field and save it with `update_seen`, `saves` times: every field must
/// survive with its last value, however the saves interleave.
pub async fn concurrent_saves_of_loaded_records_are_kept(backend: Arc<dyn Backend>, tasks: usize, saves: usize) {
    every_writer_is_kept(backend, tasks, saves, |backend, key, patch| async move {
        let loaded = backend.load(&key).await.expect("load").expect("record vanished under load");
        save_loaded(&*backend, &key, &loaded, &patch).await
    })
    .await;
}

/// `tasks` tasks write their own field of one record `writes` times each,
/// through `write` (which answers whether the record was there); then
/// every field must hold its last value.
async fn every_writer_is_kept<F, W>(backend: Arc<dyn Backend>, tasks: usize, writes: usize, write: W)
where
    W: Fn(Arc<dyn Backend>, StorageKey, Patch) -> F + Clone + Send + 'static,
    F: std::future::Future<Output = bool> + Send,
{
    let key = random_key();
    assert!(backend.create(&key, &fields(&[("m", b"meta")]), TTL).await.expect("create"));
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (backend, key, write) = (Arc::clone(&backend), key.clone(), write.clone());
        handles.push(tokio::spawn(async move {
            for n in 0..writes {
                let patch =
                    Patch { set: fields(&[(&format!("vtask{task}"), n.to_string().as_bytes())]), ..Patch::default() };
                assert!(write(Arc::clone(&backend), key.clone(), patch).await, "record vanished under load");
            }
        }));
    }
    for handle in handles {
        handle.await.expect("writer task panicked");
    }
    let stored = backend.load(&key).await.expect("load").expect("record");
    let last = (writes - 1).to_string();
    let lost: Vec<usize> = (0..tasks)
        .filter(|t| stored.fields.get(&format!("vtask{t}")).map(Vec::as_slice) != Some(last.as_bytes()))
        .collect();
    assert!(lost.is_empty(), "{} of {tasks} concurrent writers lost their write: {lost:?}", lost.len());
    backend.delete(&key).await.expect("delete");
}

/// `touch` of an absent record returns false and creates nothing; of a
/// live one, keeps its fields.
pub async fn touch_never_creates(backend: &dyn Backend) {
    let key = random_key();
    assert!(!backend.touch(&key, TTL).await.expect("touch"), "touch must report a missing record");
    assert!(backend.load(&key).await.expect("load").is_none(), "touch must never create a record");
    let record = fields(&[("va", b"1")]);
    assert!(backend.create(&key, &record, Duration::from_secs(60)).await.expect("create"));
    assert!(backend.touch(&key, TTL).await.expect("touch"));
    let stored = backend.load(&key).await.expect("load").expect("record");
    assert_eq!(stored.fields, record, "touch must not change the fields");
    if let Some(ttl) = stored.ttl {
        assert!(ttl > Duration::from_secs(60), "touch must extend the TTL (now {ttl:?})");
    }
    backend.delete(&key).await.expect("delete");
}

/// Deleted records are gone; deleting twice is fine.
pub async fn delete_is_idempotent(backend: &dyn Backend) {
    let key = random_key();
    assert!(backend.create(&key, &fields(&[("va", b"1")]), TTL).await.expect("create"));
    backend.delete(&key).await.expect("delete");
    assert!(backend.load(&key).await.expect("load").is_none(), "a deleted record must not load");
    backend.delete(&key).await.expect("deleting an absent record is not an error");
}

/// A record of a few hundred kilobytes with binary values round-trips.
pub async fn large_record_round_trips(backend: &dyn Backend) {
    let key = random_key();
    let big: Vec<u8> = (0..=255u8).cycle().take(256 * 1024).collect();
    let record = fields(&[("vbig", &big), ("vnul", b"\0\xff\0"), ("v\u{e9}t\u{e9}", b"unicode name")]);
    assert!(backend.create(&key, &record, TTL).await.expect("create"));
    assert_eq!(backend.load(&key).await.expect("load").expect("record").fields, record);
    backend.delete(&key).await.expect("delete");
}

/// A record of exactly `size` bytes of [`encoded_len`] (at least 16): a
/// metadata field and one padding value.
pub fn record_of_size(size: usize) -> Fields {
    // The padding's length prefix grows by a byte at each power of 128, so
    // some sizes cannot be reached by the value alone; a longer name
    // shifts the boundary.
    for name_len in 1..8 {
        let name = format!("v{}", "p".repeat(name_len));
        let mut record = fields(&[("m", b"meta")]);
        record.insert(name.clone(), Vec::new());
        let Some(mut len) = size.checked_sub(encoded_len(&record)) else { break };
        loop {
            record.insert(name.clone(), (0..len).map(|i| (i % 251) as u8).collect());
            match encoded_len(&record).cmp(&size) {
                std::cmp::Ordering::Equal => return record,
                std::cmp::Ordering::Greater if len > 0 => len -= 1,
                _ => break,
            }
        }
    }
    panic!("no record of exactly {size} bytes can be built");
}

fn expect_too_large(result: Result<bool, BackendError>, size: usize, limit: usize, what: &str) {
    match result {
        Err(BackendError::TooLarge { size: s, limit: l }) => {
            assert_eq!(l, limit, "{what}: TooLarge must name the configured limit");
            assert_eq!(s, size, "{what}: TooLarge must give the record's encoded size");
        }
        other => panic!("{what}: a record of {size} bytes over the limit of {limit} must be TooLarge, got {other:?}"),
    }
}

/// The backend, configured with a record size limit of `limit` bytes (at
/// least 1024), bounds whole records by [`encoded_len`]:
/// - a record of exactly `limit` bytes is created and loads back, and can
///   have a value replaced by one of the same size;
/// - one byte more is [`BackendError::TooLarge`] on `create`, and nothing
///   is stored;
/// - an `update` that would take a record past the limit is `TooLarge` and
///   leaves the record as it was;
/// - many small updates cannot grow a record past the limit either, and
///   after a `clear` it can grow again.
pub async fn record_limit_is_enforced(backend: &dyn Backend, limit: usize) {
    assert!(limit >= 1024, "run the record limit check with a limit of at least 1024 bytes");

    let key = random_key();
    let mut at_limit = record_of_size(limit);
    assert!(
        backend.create(&key, &at_limit, TTL).await.expect("create at the limit"),
        "a record of exactly the limit ({limit} bytes) must be created"
    );
    let stored = backend.load(&key).await.expect("load").expect("a record at the limit must load");
    assert_eq!(stored.fields, at_limit, "a record at the limit must load back unchanged");

    let (pad, value) = at_limit.iter().find(|(name, _)| name.starts_with("vp")).expect("padding field");
    let same_size = Patch { set: Fields::from([(pad.clone(), vec![0xa5; value.len()])]), ..Patch::default() };
    assert!(
        backend.update(&key, &same_size, TTL).await.expect("update at the limit"),
        "replacing a value by one of the same size keeps the record at the limit and must be accepted"
    );
    same_size.apply(&mut at_limit);
    assert_eq!(backend.load(&key).await.expect("load").expect("record").fields, at_limit);

    let grow = Patch { set: fields(&[("vx", b"")]), ..Patch::default() };
    let mut grown = at_limit.clone();
    grow.apply(&mut grown);
    expect_too_large(backend.update(&key, &grow, TTL).await, encoded_len(&grown), limit, "update past the limit");
    let stored = backend.load(&key).await.expect("load").expect("a refused update must leave the record");
    assert_eq!(stored.fields, at_limit, "a refused update must leave the record as it was");
    backend.delete(&key).await.expect("delete");

    let over_key = random_key();
    expect_too_large(backend.create(&over_key, &record_of_size(limit + 1), TTL).await, limit + 1, limit, "create");
    assert!(backend.load(&over_key).await.expect("load").is_none(), "a refused create must store nothing");

    // Each patch is small; together they would be four times the limit.
    let key = random_key();
    let mut expected = fields(&[("m", b"meta")]);
    assert!(backend.create(&key, &expected, TTL).await.expect("create"));
    let step = limit / 16;
    let mut refused = 0;
    for round in 0..2 {
        for n in 0..64u8 {
            let patch = Patch { set: Fields::from([(format!("v{n}"), vec![n; step])]), ..Patch::default() };
            let mut next = expected.clone();
            patch.apply(&mut next);
            let result = backend.update(&key, &patch, TTL).await;
            if encoded_len(&next) <= limit {
                assert!(result.expect("a small update within the limit"), "a record vanished under updates");
                expected = next;
            } else {
                expect_too_large(result, encoded_len(&next), limit, "one of many small updates");
                refused += 1;
            }
        }
        let stored = backend.load(&key).await.expect("load").expect("record");
        assert_eq!(stored.fields, expected, "round {round}: refused updates must leave no trace");
        assert!(encoded_len(&stored.fields) <= limit, "small updates grew a record past the limit");
        // A clear makes room: the record can grow to the limit again.
        let clear = Patch { clear: true, set: fields(&[("m", b"meta")]), remove: vec![] };
        assert!(backend.update(&key, &clear, TTL).await.expect("update with clear"));
        clear.apply(&mut expected);
    }
    assert!(refused > 0, "the updates never reached the limit");
    backend.delete(&key).await.expect("delete");
}

/// A record whose TTL has passed is not returned. Waits about two seconds.
pub async fn expired_records_are_not_loaded(backend: &dyn Backend) {
    let key = random_key();
    assert!(backend.create(&key, &fields(&[("va", b"1")]), Duration::from_secs(1)).await.expect("create"));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(backend.load(&key).await.expect("load").is_none(), "an expired record must not load");
    assert!(
        !backend.update(&key, &Patch { set: fields(&[("vb", b"2")]), ..Patch::default() }, TTL).await.expect("update"),
        "update must not revive an expired record"
    );
}

/// `tasks` concurrent writers each write their own field `writes` times
/// into one record: every field must survive with its last value.
pub async fn concurrent_distinct_keys_are_kept(backend: Arc<dyn Backend>, tasks: usize, writes: usize) {
    every_writer_is_kept(backend, tasks, writes, |backend, key, patch| async move {
        backend.update(&key, &patch, TTL).await.expect("update")
    })
    .await;
}

/// Updates racing a delete never bring the record back.
pub async fn update_racing_delete_does_not_resurrect(backend: Arc<dyn Backend>) {
    for round in 0..20 {
        let key = random_key();
        assert!(backend.create(&key, &fields(&[("va", b"1")]), TTL).await.expect("create"));
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let backend = Arc::clone(&backend);
                let key = key.clone();
                tokio::spawn(async move {
                    for n in 0..10 {
                        let patch = Patch {
                            set: fields(&[(&format!("vw{w}"), format!("{n}").as_bytes())]),
                            ..Patch::default()
                        };
                        let _ = backend.update(&key, &patch, TTL).await.expect("update");
                    }
                })
            })
            .collect();
        backend.delete(&key).await.expect("delete");
        for writer in writers {
            writer.await.expect("writer task panicked");
        }
        assert!(
            backend.load(&key).await.expect("load").is_none(),
            "round {round}: an update racing a delete resurrected the record"
        );
    }
}

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
    fn down() -> crate::BackendError {
        crate::BackendError::unavailable("the test backend is down")
    }
}

#[async_trait::async_trait]
impl Backend for UnavailableBackend {
    async fn load(&self, _: &StorageKey) -> Result<Option<crate::backend::Stored>, crate::BackendError> {
        Err(Self::down())
    }

    async fn create(&self, _: &StorageKey, _: &Fields, _: Duration) -> Result<bool, crate::BackendError> {
        Err(Self::down())
    }

    async fn update(&self, _: &StorageKey, _: &Patch, _: Duration) -> Result<bool, crate::BackendError> {
        Err(Self::down())
    }

    async fn delete(&self, _: &StorageKey) -> Result<(), crate::BackendError> {
        Err(Self::down())
    }

    async fn touch(&self, _: &StorageKey, _: Duration) -> Result<bool, crate::BackendError> {
        Err(Self::down())
    }
}

/// Through a [`ServerStore`] on the backend: a user's sessions are listed
/// and "log out everywhere" deletes all of them and no one else's, so the
/// user index the store keeps as ordinary records works on this backend.
pub async fn log_out_everywhere_ends_every_session_of_a_user(backend: Arc<dyn Backend>) {
    let config =
        StoreConfig::new("id", KeyRing::from(Key::generate())).cookie_options(CookieOptions::new().secure(false));
    let store = ServerStore::new(config, backend).expect("a valid store");
    let suffix = random_key().as_str();
    let (ada, bob) = (format!("ada-{suffix}"), format!("bob-{suffix}"));
    let login = |user: String| {
        let store = &store;
        async move {
            let session = store.load(&[]).await.expect("load");
            session.cycle_id();
            session.set_user(Some(&user)).expect("bind");
            let header = store.save(&session).await.expect("save").expect("a new session sets a cookie");
            let pair = header.split(';').next().unwrap_or_default();
            pair.split_once('=').map(|(_, v)| v.to_owned()).unwrap_or_default()
        }
    };
    let (laptop, phone, other) = (login(ada.clone()).await, login(ada.clone()).await, login(bob.clone()).await);
    assert_eq!(store.user_sessions(&ada).await.expect("list").len(), 2, "both of ada's sessions are listed");
    assert_eq!(store.destroy_user_sessions(&ada).await.expect("log out everywhere"), 2);
    for cookie in [&laptop, &phone] {
        assert!(store.load(&[cookie]).await.expect("load").is_new(), "a logged-out cookie is anonymous");
    }
    let session = store.load(&[&other]).await.expect("load");
    assert_eq!(session.user().as_deref(), Some(bob.as_str()), "other users keep their sessions");
    assert!(store.user_sessions(&ada).await.expect("list").is_empty());
    assert_eq!(store.destroy_user_sessions(&bob).await.expect("clean up"), 1);
}

/// Round trips a server store makes per request, as [`store_round_trips`]
/// counts them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoreRoundTrips {
    /// Loading an existing session (one cookie, one record).
    pub load: f64,
    /// Saving a session whose value changed.
    pub changed_save: f64,
    /// Saving a session the request only read.
    pub unchanged_save: f64,
    /// Exchanges per request off the request's path, after its answer:
    /// a client library's own traffic, such as sqlx testing each
    /// connection with a ping when it goes back to the pool.
    pub after_the_request: f64,
}

/// Counts the round trips a [`ServerStore`] over `backend` makes per
/// request: `backend` must talk to its server through `trips`' relay
/// ([`RoundTrips::relay`]). Each figure is the mean over `requests`
/// requests on one existing session, in which a request loads the session
/// and then either reads a counter or writes it.
///
/// Round trips on the request's path (the load, the save) are told apart
/// from a client library's traffic after them by letting the connection
/// settle before each step: what the relay counts in between is reported
/// as [`StoreRoundTrips::after_the_request`]. Run it on a current-thread
/// runtime, where that traffic (a task the client spawned) cannot start
/// before the step it follows has returned.
///
/// The target of issue 12 for networked backends: one round trip per load,
/// one per changed save, none for an unchanged session.
pub async fn store_round_trips(backend: Arc<dyn Backend>, trips: &RoundTrips, requests: u64) -> StoreRoundTrips {
    let config =
        StoreConfig::new("id", KeyRing::from(Key::generate())).cookie_options(CookieOptions::new().secure(false));
    let store = ServerStore::new(config, backend).expect("store");
    let session = store.load(&[]).await.expect("load");
    session.insert("count", &0u64).expect("insert");
    let header = store.save(&session).await.expect("save").expect("a new session sets a cookie");
    let cookie = header.split(';').next().and_then(|pair| pair.split_once('=')).map(|(_, v)| v.to_owned());
    let cookie = cookie.expect("a cookie value");
    let (mut load, mut changed, mut unchanged) = (0, 0, 0);
    let settle = || tokio::time::sleep(Duration::from_millis(10));
    settle().await;
    let start = trips.count();
    for n in 0..requests * 2 {
        settle().await;
        let before = trips.count();
        let session = store.load(&[&cookie]).await.expect("load");
        load += trips.count() - before;
        assert!(!session.is_new(), "the session loads");
        let count = session.get::<u64>("count").expect("decode").unwrap_or(0);
        let write = n % 2 == 0;
        if write {
            session.insert("count", &(count + 1)).expect("insert");
        }
        settle().await;
        let before = trips.count();
        store.save(&session).await.expect("save");
        let saved = trips.count() - before;
        if write {
            changed += saved;
        } else {
            unchanged += saved;
        }
    }
    settle().await;
    let after = trips.count() - start - load - changed - unchanged;
    let per = |n: u64| n as f64 / requests as f64;
    StoreRoundTrips {
        load: per(load) / 2.0,
        changed_save: per(changed),
        unchanged_save: per(unchanged),
        after_the_request: per(after) / 2.0,
    }
}

/// Counts round trips between a client and a TCP server, for benchmarks
/// that prove claims such as "one round trip per load": a relay on a free
/// loopback port that counts each client turn starting after the server
/// spoke.
///
/// ```no_run
/// use sessions_core::testing::RoundTrips;
///
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let (address, trips) = RoundTrips::relay("127.0.0.1:6379".into()).await;
/// // Point the client at `address`, run one request, then:
/// println!("{} round trips", trips.count());
/// # let _ = address;
/// # });
/// ```
#[derive(Debug, Default)]
pub struct RoundTrips {
    count: AtomicU64,
    server_spoke_last: AtomicBool,
}

impl RoundTrips {
    /// Round trips counted so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// Starts a relay to `upstream` (`host:port`) and returns its
    /// `host:port` and its counter.
    pub async fn relay(upstream: String) -> (String, Arc<RoundTrips>) {
        let trips = Arc::new(RoundTrips::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let address = listener.local_addr().expect("relay address").to_string();
        let counter = Arc::clone(&trips);
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                let Ok(server) = TcpStream::connect(&upstream).await else { return };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let up = Arc::clone(&counter);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                        if up.server_spoke_last.swap(false, Ordering::SeqCst) {
                            up.count.fetch_add(1, Ordering::SeqCst);
                        }
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
                let down = Arc::clone(&counter);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = server_read.read(&mut buf).await {
                        down.server_spoke_last.store(true, Ordering::SeqCst);
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (address, trips)
    }
}
