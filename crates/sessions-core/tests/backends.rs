//! The conformance kit against the built-in backends.

use std::sync::Arc;
use std::time::Duration;

use sessions_core::backend::record::{DEFAULT_MAX_RECORD_BYTES, Fields, encoded_len};
use sessions_core::backend::{
    Backend, BackendError, FilesystemBackend, MemoryBackend, Patch, Retention, StorageKey, Sweep,
};
use sessions_core::clock::ManualClock;
use sessions_core::store::Store;
use sessions_core::testing::ModelRun;
use sessions_core::{ServerStore, testing};

mod common;
use common::{START, config, temp_dir, value};

const TTL: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_backend_passes_the_conformance_kit() {
    testing::run_all(Arc::new(MemoryBackend::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_backend_expires_records() {
    testing::expired_records_are_not_loaded(&MemoryBackend::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn filesystem_backend_passes_the_conformance_kit() {
    let dir = temp_dir("kit");
    testing::run_all(Arc::new(FilesystemBackend::new(&dir).unwrap())).await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn filesystem_backend_expires_records() {
    let dir = temp_dir("expiry");
    testing::expired_records_are_not_loaded(&FilesystemBackend::new(&dir).unwrap()).await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backend_keeps_the_lifecycle_model() {
    let clock = ManualClock::new(common::START);
    let backend = MemoryBackend::builder().clock(Arc::new(clock.clone())).build();
    testing::lifecycle_model(Arc::new(backend), clock, ModelRun::from_env()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_backend_keeps_the_lifecycle_model() {
    let clock = ManualClock::new(common::START);
    let dir = temp_dir("model");
    let backend = FilesystemBackend::builder().clock(Arc::new(clock.clone())).open(&dir).unwrap();
    testing::lifecycle_model(Arc::new(backend), clock, ModelRun::from_env()).await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backend_keeps_the_lifecycle_model_when_calls_fail() {
    let clock = ManualClock::new(common::START);
    let backend = MemoryBackend::builder().clock(Arc::new(clock.clone())).build();
    testing::lifecycle_model_with_failures(Arc::new(backend), clock, ModelRun::with_failures_from_env()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_backend_keeps_the_lifecycle_model_when_calls_fail() {
    let clock = ManualClock::new(common::START);
    let dir = temp_dir("faults");
    let backend = FilesystemBackend::builder().clock(Arc::new(clock.clone())).open(&dir).unwrap();
    testing::lifecycle_model_with_failures(Arc::new(backend), clock, ModelRun::with_failures_from_env()).await;
    std::fs::remove_dir_all(dir).unwrap();
}

fn small_record() -> Fields {
    Fields::from([("m".to_owned(), vec![0; 12]), ("vcount".to_owned(), vec![1])])
}

#[tokio::test]
async fn memory_backend_refuses_a_record_over_the_default_limit() {
    let backend = MemoryBackend::new();
    let key = testing::random_key();
    let over = testing::record_of_size(DEFAULT_MAX_RECORD_BYTES + 1);
    let created = backend.create(&key, &over, TTL).await;
    assert!(matches!(created, Err(BackendError::TooLarge { .. })), "{created:?}");
    assert!(backend.load(&key).await.unwrap().is_none());
}

/// How many anonymous records a backend built by `build` holds: create
/// until the count stops growing.
async fn anonymous_capacity(build: impl Fn() -> MemoryBackend) -> usize {
    let backend = build();
    for held in 0..100_000 {
        assert!(backend.create(&testing::random_key(), &small_record(), TTL).await.unwrap());
        if backend.len() as usize == held {
            return held;
        }
    }
    panic!("the backend never filled up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_memory_backend_keeps_every_new_session_it_acknowledged() {
    let build = || MemoryBackend::builder().max_entries(200).max_bytes(200 * 1024).build();
    let capacity = anonymous_capacity(build).await;
    let backend = build();
    let held: Vec<StorageKey> = (0..capacity).map(|_| testing::random_key()).collect();
    for key in &held {
        assert!(backend.create(key, &small_record(), TTL).await.unwrap());
    }
    assert_eq!(backend.len() as usize, capacity);
    // Nine in ten are busy sessions, read again and again.
    let hot = &held[..capacity * 9 / 10];
    for _ in 0..5 {
        for key in hot {
            assert!(backend.load(key).await.unwrap().is_some());
        }
    }
    let logins: Vec<StorageKey> = (0..capacity / 5).map(|_| testing::random_key()).collect();
    for key in &logins {
        assert!(backend.create(key, &small_record(), TTL).await.unwrap(), "create of a new key");
    }
    assert!(backend.len() as usize <= capacity, "the bound still holds");
    let mut lost = 0;
    for key in &logins {
        lost += usize::from(backend.load(key).await.unwrap().is_none());
    }
    assert_eq!(lost, 0, "{lost} of {} acknowledged new sessions were dropped", logins.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_flood_evicts_neither_a_bound_session_nor_its_user_index() {
    const MAX_BYTES: u64 = 1 << 20;
    let clock = ManualClock::new(START);
    let backend =
        Arc::new(MemoryBackend::builder().max_entries(500).max_bytes(MAX_BYTES).clock(Arc::new(clock.clone())).build());
    let store = ServerStore::new(config("id", &clock), backend.clone()).unwrap();
    let login = store.load(&[]).await.unwrap();
    login.set_user(Some("ada")).unwrap();
    let cookie = store.save(&login).await.unwrap().expect("a login sets a cookie");

    for n in 0..100_000u32 {
        let session = store.load(&[]).await.unwrap();
        session.insert("n", &n).unwrap();
        store.save(&session).await.unwrap();
    }
    assert!(backend.len() <= 500, "{} entries held", backend.len());
    assert!(backend.weighted_size() <= MAX_BYTES, "{} bytes held", backend.weighted_size());

    let session = store.load(&[value(&cookie)]).await.unwrap();
    assert_eq!(session.user().as_deref(), Some("ada"), "the flood evicted a logged-in session");
    assert_eq!(store.user_sessions("ada").await.unwrap().len(), 1, "the flood evicted the user index");
    assert_eq!(store.destroy_user_sessions("ada").await.unwrap(), 1, "log out everywhere ended nothing");
    assert!(store.load(&[value(&cookie)]).await.unwrap().is_new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_while_the_user_is_active_does_not_evict_the_user_index() {
    let clock = ManualClock::new(START);
    let backend =
        Arc::new(MemoryBackend::builder().max_entries(500).max_bytes(1 << 20).clock(Arc::new(clock.clone())).build());
    let store = ServerStore::new(config("id", &clock), backend.clone()).unwrap();
    let login = store.load(&[]).await.unwrap();
    login.set_user(Some("ada")).unwrap();
    let cookie = store.save(&login).await.unwrap().expect("a login sets a cookie");
    for n in 0..20_000u32 {
        if n % 50 == 0 {
            // Ada keeps browsing: her session is read often, her index never.
            assert_eq!(store.load(&[value(&cookie)]).await.unwrap().user().as_deref(), Some("ada"), "request {n}");
        }
        let session = store.load(&[]).await.unwrap();
        session.insert("n", &n).unwrap();
        store.save(&session).await.unwrap();
    }
    assert_eq!(store.destroy_user_sessions("ada").await.unwrap(), 1, "log out everywhere ended nothing");
    assert!(store.load(&[value(&cookie)]).await.unwrap().is_new(), "the session outlived log out everywhere");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_backend_refuses_a_record_over_the_default_limit() {
    let dir = temp_dir("over");
    let backend = FilesystemBackend::new(&dir).unwrap();
    // A 17 MiB session once saved and then answered every load with an error.
    let key = testing::random_key();
    let huge = testing::record_of_size(17 << 20);
    let created = backend.create(&key, &huge, TTL).await;
    assert!(matches!(created, Err(BackendError::TooLarge { limit: DEFAULT_MAX_RECORD_BYTES, .. })), "{created:?}");
    assert!(backend.load(&key).await.unwrap().is_none());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "a refused create writes no file");

    // Nor can a record grow past the limit one save at a time.
    assert!(backend.create(&key, &small_record(), TTL).await.unwrap());
    let mut refused = false;
    for n in 0..20 {
        let patch = Patch { set: Fields::from([(format!("v{n}"), vec![0; 100 << 10])]), ..Patch::default() };
        match backend.update(&key, &patch, TTL).await {
            Ok(true) => {}
            Err(BackendError::TooLarge { .. }) => refused = true,
            other => panic!("update: {other:?}"),
        }
    }
    assert!(refused, "twenty saves of 100 KiB each grew one record to 2 MiB");
    let stored = backend.load(&key).await.unwrap().expect("the record is still readable");
    assert!(encoded_len(&stored.fields) <= DEFAULT_MAX_RECORD_BYTES);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_backend_removes_an_unreadable_record_and_starts_afresh() {
    let dir = temp_dir("corrupt");
    let backend = FilesystemBackend::new(&dir).unwrap();
    let junk: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("short", vec![1, 2, 3]),
        ("junk", vec![0xff; 4096]),
        ("17 MiB of junk", vec![0xff; 17 << 20]),
    ];
    for (label, bytes) in junk {
        for op in ["load", "update", "touch", "create"] {
            let key = testing::random_key();
            let path = dir.join(format!("{key}.session"));
            std::fs::write(&path, &bytes).unwrap();
            let patch = Patch { set: small_record(), ..Patch::default() };
            let outcome = match op {
                "load" => backend.load(&key).await.map(|found| found.is_some()),
                "update" => backend.update(&key, &patch, TTL).await,
                "touch" => backend.touch(&key, TTL).await,
                _ => backend.create(&key, &small_record(), TTL).await.map(|created| !created),
            };
            assert!(matches!(outcome, Ok(false)), "{label} file, {op}: {outcome:?}");
            if op == "create" {
                assert_eq!(backend.load(&key).await.unwrap().map(|s| s.fields), Some(small_record()));
            } else {
                assert!(!path.exists(), "{label} file, {op}: the unreadable file must be removed");
            }
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Small enough that the kit's records stay quick to write.
const KIT_LIMIT: usize = 64 << 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_backend_bounds_whole_records() {
    let dir = temp_dir("limit");
    let backend = FilesystemBackend::builder().max_record_bytes(KIT_LIMIT).open(&dir).unwrap();
    testing::record_limit_is_enforced(&backend, KIT_LIMIT).await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_backend_discards_records_over_a_lowered_limit() {
    let dir = temp_dir("lowered");
    let roomy = FilesystemBackend::new(&dir).unwrap();
    let strict = FilesystemBackend::builder().max_record_bytes(KIT_LIMIT).open(&dir).unwrap();
    let (big, fits) = (testing::random_key(), testing::random_key());
    assert!(roomy.create(&big, &testing::record_of_size(KIT_LIMIT + 1), TTL).await.unwrap());
    assert!(roomy.create(&fits, &testing::record_of_size(KIT_LIMIT), TTL).await.unwrap());
    assert!(strict.load(&big).await.unwrap().is_none(), "a record over the limit must not load");
    assert!(!dir.join(format!("{big}.session")).exists(), "and its file is removed");
    assert_eq!(strict.load(&fits).await.unwrap().map(|s| s.fields), Some(testing::record_of_size(KIT_LIMIT)));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_backend_caps_its_files_and_bytes() {
    let dir = temp_dir("caps");
    let clock = ManualClock::new(START);
    let early = testing::random_key();
    FilesystemBackend::new(&dir).unwrap().create(&early, &small_record(), TTL).await.unwrap();
    // Files already in the directory count against the cap.
    let backend = FilesystemBackend::builder().clock(Arc::new(clock.clone())).max_entries(10).open(&dir).unwrap();
    let mut keys = vec![early];
    for _ in 0..9 {
        let key = testing::random_key();
        assert!(backend.create(&key, &small_record(), TTL).await.unwrap());
        keys.push(key);
    }
    let refused = backend.create(&testing::random_key(), &small_record(), TTL).await;
    assert!(matches!(refused, Err(BackendError::Full(_))), "{refused:?}");
    assert!(sessions_core::Error::from(refused.unwrap_err()).is_unavailable(), "a full store answers 503");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 10, "a refused create writes no file");
    // Updates and touches of existing sessions go on; deleting makes room.
    let patch = Patch { set: Fields::from([("vmore".to_owned(), vec![1; 100])]), ..Patch::default() };
    assert!(backend.update(&keys[1], &patch, TTL).await.unwrap());
    assert!(backend.touch(&keys[2], TTL).await.unwrap());
    backend.delete(&keys[0]).await.unwrap();
    assert!(backend.create(&testing::random_key(), &small_record(), TTL).await.unwrap());
    // So does a sweep of expired files.
    clock.advance(TTL);
    assert_eq!(backend.sweep_expired().await.unwrap(), 10);
    assert!(backend.create(&testing::random_key(), &small_record(), TTL).await.unwrap());
    std::fs::remove_dir_all(&dir).unwrap();

    let dir = temp_dir("bytes");
    let file = |record: &Fields| (1 + 8 + encoded_len(record)) as u64;
    let backend = FilesystemBackend::builder()
        .max_bytes(4 * file(&small_record()) + file(&small_record()) / 2)
        .open(&dir)
        .unwrap();
    let keys: Vec<StorageKey> = (0..4).map(|_| testing::random_key()).collect();
    for key in &keys {
        assert!(backend.create(key, &small_record(), TTL).await.unwrap());
    }
    let refused = backend.create(&testing::random_key(), &small_record(), TTL).await;
    assert!(matches!(refused, Err(BackendError::Full(_))), "{refused:?}");
    let grow = Patch { set: Fields::from([("vmore".to_owned(), vec![1; 100])]), ..Patch::default() };
    let refused = backend.update(&keys[0], &grow, TTL).await;
    assert!(matches!(refused, Err(BackendError::Full(_))), "an update growing past the cap: {refused:?}");
    assert_eq!(backend.load(&keys[0]).await.unwrap().map(|s| s.fields), Some(small_record()));
    let shrink = Patch { remove: vec!["vcount".into()], ..Patch::default() };
    assert!(backend.update(&keys[0], &shrink, TTL).await.unwrap(), "shrinking is always allowed");
    let small = Patch { set: Fields::from([("vx".to_owned(), vec![])]), ..Patch::default() };
    assert!(backend.update(&keys[1], &small, TTL).await.unwrap(), "growth within the cap is allowed");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The filesystem backend with no cap of its own, on a disk that fills:
/// `ENOSPC` is `Full` (not an outage), the reader's requests go on, and
/// deleting a session makes room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_backend_on_a_full_disk_refuses_writes_as_full_and_serves_reads() {
    let Some(disk) = testing::SmallDisk::mount(1 << 20) else { return };
    let backend = FilesystemBackend::new(disk.path().join("sessions")).unwrap();
    let run = testing::reader_outlasts_a_full_store(Arc::new(backend.clone()), 64 * 1024, 100).await;
    assert!(run.accepted > 0, "{run:?}");
    let key = testing::random_key();
    let refused = backend.create(&key, &testing::record_of_size(64 * 1024), TTL).await;
    assert!(matches!(refused, Err(BackendError::Full(_))), "{refused:?}");
    let leftovers = std::fs::read_dir(disk.path().join("sessions")).unwrap();
    assert!(
        leftovers.flatten().all(|entry| entry.path().extension().is_some_and(|e| e == "session")),
        "no temporary file left"
    );

    // Room made on the disk lets writes in again.
    let some = std::fs::read_dir(disk.path().join("sessions")).unwrap().flatten().next().unwrap();
    std::fs::remove_file(some.path()).unwrap();
    assert!(backend.create(&key, &testing::record_of_size(16 * 1024), TTL).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backend_bounds_whole_records() {
    let backend = MemoryBackend::builder().max_record_bytes(KIT_LIMIT).build();
    testing::record_limit_is_enforced(&backend, KIT_LIMIT).await;
}

fn bound_record(user: &str) -> Fields {
    Fields::from([("m".to_owned(), vec![0; 12]), ("u".to_owned(), user.as_bytes().to_vec())])
}

fn index_of(sessions: &[&StorageKey]) -> Fields {
    sessions.iter().map(|key| (key.as_str(), Vec::new())).collect()
}

/// A backend whose protected segment holds about eighteen small records.
fn small_protected_segment() -> MemoryBackend {
    MemoryBackend::builder().max_entries(1000).max_bytes(100 << 10).protected_bytes(10 << 10).build()
}

async fn flood(backend: &MemoryBackend, n: usize) {
    for _ in 0..n {
        assert!(backend.create(&testing::random_key(), &small_record(), TTL).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_protected_segment_refuses_new_logins_and_evicts_no_one() {
    let backend = small_protected_segment();
    let mut bound = Vec::new();
    let refused = loop {
        let key = testing::random_key();
        match backend.create_retained(&key, &bound_record("ada"), TTL, Retention::Keep).await {
            Ok(true) => bound.push(key),
            other => break other,
        }
        assert!(bound.len() < 1000, "the protected segment never filled");
    };
    assert!(matches!(refused, Err(BackendError::Full(_))), "{refused:?}");
    assert!(sessions_core::Error::from(refused.unwrap_err()).is_unavailable(), "a full store answers 503");
    flood(&backend, 5_000).await;
    for key in &bound {
        assert!(backend.load(key).await.unwrap().is_some(), "a bound session was evicted");
    }
    // A bound session that logs in again (an update that keeps its size) is served.
    let patch = Patch { set: Fields::from([("u".to_owned(), b"bob".to_vec())]), ..Patch::default() };
    assert!(backend.update_retained(&bound[0], None, &patch, TTL, Retention::Keep).await.unwrap());
    // Deleting makes room.
    backend.delete(&bound[1]).await.unwrap();
    assert!(backend.create_retained(&testing::random_key(), &bound_record("cy"), TTL, Retention::Keep).await.unwrap());
    assert!(backend.weighted_size() <= 100 << 10, "{} bytes held", backend.weighted_size());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_changes_segment_when_it_gains_or_loses_its_user() {
    let backend = small_protected_segment();
    let key = testing::random_key();
    assert!(backend.create(&key, &small_record(), TTL).await.unwrap());
    let login = Patch { set: Fields::from([("u".to_owned(), b"ada".to_vec())]), ..Patch::default() };
    assert!(backend.update_retained(&key, None, &login, TTL, Retention::Keep).await.unwrap());
    flood(&backend, 5_000).await;
    let stored = backend.load(&key).await.unwrap().expect("a session bound by an update is protected");
    assert_eq!(stored.fields.get("u"), Some(&b"ada"[..]));

    let logout = Patch { remove: vec!["u".into()], ..Patch::default() };
    assert!(backend.update_retained(&key, None, &logout, TTL, Retention::Evictable).await.unwrap());
    flood(&backend, 5_000).await;
    assert!(backend.load(&key).await.unwrap().is_none(), "an anonymous session is evicted like any other");

    // Filling the protected segment, then binding an anonymous session:
    // refused, and the session stays as it was.
    while backend.create_retained(&testing::random_key(), &bound_record("bob"), TTL, Retention::Keep).await.is_ok() {}
    let key = testing::random_key();
    assert!(backend.create(&key, &small_record(), TTL).await.unwrap());
    let refused = backend.update_retained(&key, None, &login, TTL, Retention::Keep).await;
    assert!(matches!(refused, Err(BackendError::Full(_))), "{refused:?}");
    assert_eq!(backend.load(&key).await.unwrap().map(|s| s.fields), Some(small_record()));
}

/// The backend keeps what the write's hint says to keep, whatever the
/// record's fields are named: a kept record without a user field outlives
/// a flood that evicts an anonymous record that has one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_record_survives_eviction_pressure_while_anonymous_ones_go() {
    let backend = small_protected_segment();
    let kept = testing::random_key();
    assert!(backend.create_retained(&kept, &small_record(), TTL, Retention::Keep).await.unwrap());
    let anonymous = testing::random_key();
    assert!(backend.create(&anonymous, &bound_record("ada"), TTL).await.unwrap());
    let evictable = testing::random_key();
    assert!(backend.create_retained(&evictable, &small_record(), TTL, Retention::Evictable).await.unwrap());
    flood(&backend, 5_000).await;
    assert_eq!(backend.load(&kept).await.unwrap().map(|s| s.fields), Some(small_record()));
    assert!(backend.load(&anonymous).await.unwrap().is_none(), "a plain create is evictable");
    assert!(backend.load(&evictable).await.unwrap().is_none());
    // A plain update leaves the record kept.
    let patch = Patch { set: Fields::from([("vmore".to_owned(), vec![1])]), ..Patch::default() };
    assert!(backend.update(&kept, &patch, TTL).await.unwrap());
    assert!(backend.touch(&kept, TTL).await.unwrap());
    flood(&backend, 5_000).await;
    assert!(backend.load(&kept).await.unwrap().is_some(), "an update without a hint changed the retention");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_indexes_stay_while_a_session_lives_and_make_room_when_none_does() {
    let backend = small_protected_segment();
    let ada = testing::random_key();
    assert!(backend.create_retained(&ada, &bound_record("ada"), TTL, Retention::Keep).await.unwrap());
    let live_index = testing::random_key();
    assert!(backend.create_retained(&live_index, &index_of(&[&ada]), TTL, Retention::Index).await.unwrap());
    // Indexes of users whose sessions are all gone: many more than the
    // segment holds. Each time it fills, they are moved out to make room.
    let mut stale = Vec::new();
    for _ in 0..100 {
        let key = testing::random_key();
        assert!(
            backend.create_retained(&key, &index_of(&[&testing::random_key()]), TTL, Retention::Index).await.unwrap()
        );
        stale.push(key);
    }
    for user in ["bob", "cy", "dee"] {
        let key = testing::random_key();
        assert!(
            backend.create_retained(&key, &bound_record(user), TTL, Retention::Keep).await.unwrap(),
            "login of {user}"
        );
    }
    // Moved out, they give way to a flood like any anonymous record.
    flood(&backend, 5_000).await;
    let mut released = 0;
    for key in &stale {
        released += usize::from(backend.load(key).await.unwrap().is_none());
    }
    assert!(released > 0, "stale indexes were never released");
    let index = backend.load(&live_index).await.unwrap().expect("the index of a live session is kept");
    assert_eq!(index.fields, index_of(&[&ada]));
    assert!(backend.load(&ada).await.unwrap().is_some());
}
