//! The conformance kit against the built-in backends.

use std::sync::Arc;
use std::time::Duration;

use sessions_core::backend::{Backend, BackendError, FilesystemBackend, MemoryBackend, Patch, StorageKey};
use sessions_core::clock::ManualClock;
use sessions_core::record::{DEFAULT_MAX_RECORD_BYTES, Fields, encoded_len};
use sessions_core::testing;

mod common;
use common::{START, temp_dir};

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

fn small_record() -> Fields {
    Fields::from([("m".to_owned(), vec![0; 12]), ("vcount".to_owned(), vec![1])])
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
    let backend = FilesystemBackend::new(&dir).unwrap().max_record_bytes(KIT_LIMIT);
    testing::record_limit_is_enforced(&backend, KIT_LIMIT).await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_backend_discards_records_over_a_lowered_limit() {
    let dir = temp_dir("lowered");
    let roomy = FilesystemBackend::new(&dir).unwrap();
    let strict = FilesystemBackend::new(&dir).unwrap().max_record_bytes(KIT_LIMIT);
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
    let backend = FilesystemBackend::new(&dir).unwrap().with_clock(Arc::new(clock.clone())).max_entries(10);
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
    assert_eq!(backend.sweep().await.unwrap(), 10);
    assert!(backend.create(&testing::random_key(), &small_record(), TTL).await.unwrap());
    std::fs::remove_dir_all(&dir).unwrap();

    let dir = temp_dir("bytes");
    let file = |record: &Fields| (1 + 8 + encoded_len(record)) as u64;
    let backend =
        FilesystemBackend::new(&dir).unwrap().max_bytes(4 * file(&small_record()) + file(&small_record()) / 2);
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
