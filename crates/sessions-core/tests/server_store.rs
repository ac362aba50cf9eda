//! `ServerStore`: a random id in the cookie, the data in a backend.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{START, config, key, max_age, temp_dir, value};
use sessions_core::backend::record::Fields;
use sessions_core::backend::{Backend, BackendError, FilesystemBackend, MemoryBackend, Patch, StorageKey, Stored};
use sessions_core::clock::ManualClock;
use sessions_core::codec::{Codec, Mode, Times};
use sessions_core::store::Store;
use sessions_core::testing;
use sessions_core::{CookieOptions, KeyRing, Registry, ServerStore, StoreConfig};

fn memory(clock: &ManualClock) -> Arc<MemoryBackend> {
    Arc::new(MemoryBackend::builder().clock(Arc::new(clock.clone())).build())
}

fn store(clock: &ManualClock, backend: Arc<dyn Backend>) -> ServerStore {
    ServerStore::new(config("id", clock), backend).unwrap()
}

async fn issue(store: &ServerStore) -> String {
    let session = store.load(&[]).await.unwrap();
    session.insert("user", "ada").unwrap();
    store.save(&session).await.unwrap().expect("a new session sets its id cookie")
}

/// A cookie for an id the server never issued, authenticated with the
/// server's own key (the strongest forgery: a leaked key or a bug).
fn forged_id_cookie(payload: &[u8; 32]) -> String {
    Codec::new(KeyRing::from(key(1)), Mode::Signed)
        .encode("id", payload, Times { issued: START, expires: None })
        .unwrap()
}

#[tokio::test]
async fn session_round_trips_through_the_backend() {
    let clock = ManualClock::new(START);
    let backend = memory(&clock);
    let store = store(&clock, backend.clone());
    let header = issue(&store).await;
    assert_eq!(backend.len(), 1);
    let session = store.load(&[value(&header)]).await.unwrap();
    assert_eq!(session.get::<String>("user").unwrap().as_deref(), Some("ada"));
    let session = store.load(&[]).await.unwrap();
    session.insert("big", &"x".repeat(10_000)).unwrap();
    let big = store.save(&session).await.unwrap().unwrap();
    assert_eq!(value(&big).len(), value(&header).len(), "the cookie carries only the id, whatever the data");
}

#[tokio::test]
async fn untouched_session_writes_nothing_and_sends_no_cookie() {
    let clock = ManualClock::new(START);
    let store = store(&clock, memory(&clock));
    let header = issue(&store).await;
    let session = store.load(&[value(&header)]).await.unwrap();
    let _ = session.get::<String>("user").unwrap();
    assert_eq!(store.save(&session).await.unwrap(), None);
}

#[tokio::test]
async fn unknown_id_is_not_adopted_and_creates_no_record() {
    let clock = ManualClock::new(START);
    let backend = memory(&clock);
    let store = store(&clock, backend.clone());
    let forged = forged_id_cookie(&[7u8; 32]);
    let session = store.load(&[&forged]).await.unwrap();
    assert!(session.is_new());
    assert_eq!(store.save(&session).await.unwrap(), None);
    assert_eq!(backend.len(), 0, "loading must not create a record");

    session.insert("user", "mallory").unwrap();
    let header = store.save(&session).await.unwrap().unwrap();
    assert_ne!(value(&header), forged, "a fresh id is minted instead of the planted one");
    assert!(store.load(&[&forged]).await.unwrap().is_new(), "the planted id stays unknown");
}

#[tokio::test]
async fn cycle_id_changes_the_id_and_forgets_the_old_one() {
    let clock = ManualClock::new(START);
    let backend = memory(&clock);
    let store = store(&clock, backend.clone());
    let before = issue(&store).await;
    let session = store.load(&[value(&before)]).await.unwrap();
    session.cycle_id();
    session.insert("role", "admin").unwrap();
    let after = store.save(&session).await.unwrap().expect("a new id is sent");
    assert_ne!(value(&before), value(&after));
    assert!(store.load(&[value(&before)]).await.unwrap().is_new(), "the old id is unknown after cycling");
    let session = store.load(&[value(&after)]).await.unwrap();
    assert_eq!(session.get::<String>("user").unwrap().as_deref(), Some("ada"));
    assert_eq!(session.get::<String>("role").unwrap().as_deref(), Some("admin"));
    assert_eq!(backend.len(), 2, "the new record and the short-lived forward of the old id, nothing else");
}

#[tokio::test]
async fn destroy_deletes_the_record_and_removes_the_cookie() {
    let clock = ManualClock::new(START);
    let backend = memory(&clock);
    let store = store(&clock, backend.clone());
    let header = issue(&store).await;
    let session = store.load(&[value(&header)]).await.unwrap();
    session.destroy();
    let removal = store.save(&session).await.unwrap().expect("a removal cookie");
    assert_eq!(max_age(&removal), Some(0));
    assert_eq!(backend.len(), 0);
    assert!(store.load(&[value(&header)]).await.unwrap().is_new(), "a replayed cookie is anonymous");
}

#[tokio::test]
async fn save_racing_a_logout_does_not_resurrect_the_session() {
    let clock = ManualClock::new(START);
    let backend = memory(&clock);
    let store = store(&clock, backend.clone());
    let header = issue(&store).await;

    let slow = store.load(&[value(&header)]).await.unwrap();
    let logout = store.load(&[value(&header)]).await.unwrap();
    logout.destroy();
    store.save(&logout).await.unwrap();

    slow.insert("late", &1).unwrap();
    let reply = store.save(&slow).await.unwrap();
    assert!(reply.is_some_and(|r| max_age(&r) == Some(0)), "the late request is told the session is gone");
    assert_eq!(backend.len(), 0, "the late save must not bring the record back");
    assert!(store.load(&[value(&header)]).await.unwrap().is_new());
}

#[tokio::test]
async fn idle_timeout_is_enforced_by_the_server() {
    let clock = ManualClock::new(START);
    let store = ServerStore::new(
        config("id", &clock)
            .lifetime(sessions_core::BrowserSession::new().idle_timeout(Some(Duration::from_secs(600)))),
        memory(&clock),
    )
    .unwrap();
    let header = issue(&store).await;
    clock.advance(Duration::from_secs(599));
    assert!(!store.load(&[value(&header)]).await.unwrap().is_new());
    clock.advance(Duration::from_secs(1));
    assert!(store.load(&[value(&header)]).await.unwrap().is_new());
}

#[tokio::test]
async fn reading_an_idle_session_keeps_it_alive() {
    let clock = ManualClock::new(START);
    let store = ServerStore::new(
        config("id", &clock)
            .lifetime(sessions_core::BrowserSession::new().idle_timeout(Some(Duration::from_secs(600)))),
        memory(&clock),
    )
    .unwrap();
    let mut cookie = value(&issue(&store).await).to_owned();
    for _ in 0..10 {
        clock.advance(Duration::from_secs(400));
        let session = store.load(&[&cookie]).await.unwrap();
        assert_eq!(session.get::<String>("user").unwrap().as_deref(), Some("ada"), "still alive");
        if let Some(header) = store.save(&session).await.unwrap() {
            cookie = value(&header).to_owned();
        }
    }
}

#[tokio::test]
async fn absolute_timeout_is_enforced_by_the_server() {
    let clock = ManualClock::new(START);
    let backend = memory(&clock);
    let store = ServerStore::new(
        config("id", &clock)
            .lifetime(sessions_core::BrowserSession::new().absolute_timeout(Some(Duration::from_secs(1000)))),
        backend.clone(),
    )
    .unwrap();
    let header = issue(&store).await;
    clock.advance(Duration::from_secs(999));
    assert!(!store.load(&[value(&header)]).await.unwrap().is_new());
    clock.advance(Duration::from_secs(1));
    assert!(store.load(&[value(&header)]).await.unwrap().is_new());
}

#[tokio::test]
async fn rotated_key_re_signs_the_cookie_and_leaves_the_record_in_place() {
    let clock = ManualClock::new(START);
    let backend = memory(&clock);
    let old = store(&clock, backend.clone());
    let header = issue(&old).await;

    let ring = KeyRing::new([key(2), key(1)]).unwrap();
    let rotated_config =
        StoreConfig::new("id", ring).cookie_options(CookieOptions::new().secure(false)).clock(Arc::new(clock.clone()));
    let rotated = ServerStore::new(rotated_config, backend.clone()).unwrap();
    let session = rotated.load(&[value(&header)]).await.unwrap();
    assert_eq!(session.get::<String>("user").unwrap().as_deref(), Some("ada"));
    let reissued = rotated.save(&session).await.unwrap().expect("re-issued under the newest key");

    let new_only = StoreConfig::new("id", KeyRing::from(key(2))).clock(Arc::new(clock.clone()));
    let new_only = ServerStore::new(new_only, backend.clone()).unwrap();
    let session = new_only.load(&[value(&reissued)]).await.unwrap();
    assert_eq!(session.get::<String>("user").unwrap().as_deref(), Some("ada"));
    assert_eq!(backend.len(), 1, "the record was not copied");
}

#[tokio::test]
async fn remember_me_sets_max_age_on_the_id_cookie() {
    let clock = ManualClock::new(START);
    let store = store(&clock, memory(&clock));
    let header = issue(&store).await;
    let session = store.load(&[value(&header)]).await.unwrap();
    session.remember(true);
    let header = store.save(&session).await.unwrap().expect("the cookie's lifetime changed");
    assert_eq!(max_age(&header), Some(30 * 24 * 3600));
    clock.advance(Duration::from_secs(29 * 24 * 3600));
    assert!(!store.load(&[value(&header)]).await.unwrap().is_new(), "remembered for 30 days");
}

async fn concurrent_distinct_keys(backend: Arc<dyn Backend>) {
    let clock = ManualClock::new(START);
    let store = Arc::new(store(&clock, backend));
    let header = issue(&store).await;
    let cookie = value(&header).to_owned();
    let tasks: Vec<_> = (0..32)
        .map(|task| {
            let store = Arc::clone(&store);
            let cookie = cookie.clone();
            tokio::spawn(async move {
                let session = store.load(&[&cookie]).await.unwrap();
                session.insert(&format!("key{task}"), &task).unwrap();
                assert_eq!(store.save(&session).await.unwrap(), None, "an update keeps the id");
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let session = store.load(&[&cookie]).await.unwrap();
    let lost: Vec<i32> = (0..32).filter(|t| session.get::<i32>(&format!("key{t}")).unwrap() != Some(*t)).collect();
    assert!(lost.is_empty(), "writes lost: {lost:?}");
    assert_eq!(session.get::<String>("user").unwrap().as_deref(), Some("ada"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_keep_distinct_keys_in_memory() {
    concurrent_distinct_keys(Arc::new(MemoryBackend::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_keep_distinct_keys_on_disk() {
    let dir = temp_dir("concurrent");
    concurrent_distinct_keys(Arc::new(FilesystemBackend::new(&dir).unwrap())).await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_backend_never_leaves_its_directory() {
    let root = temp_dir("jail");
    let dir = root.join("sessions");
    let clock = ManualClock::new(START);
    let store = store(&clock, Arc::new(FilesystemBackend::new(&dir).unwrap()));
    let hostile: [&[u8]; 6] = [
        b"../../../../../../../../etc/pass",
        b"..\\..\\..\\..\\windows\\system32\\xx",
        b"/etc/passwd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        b"................................",
        b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        b"C:\\Users\\Public\\x%2e%2e%2f%2e%2e",
    ];
    for payload in hostile {
        let mut id = [0u8; 32];
        id[..payload.len().min(32)].copy_from_slice(&payload[..payload.len().min(32)]);
        let session = store.load(&[&forged_id_cookie(&id)]).await.unwrap();
        assert!(session.is_new());
        session.insert("x", &1).unwrap();
        store.save(&session).await.unwrap();
    }
    let outside: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(outside, ["sessions"], "nothing was written beside the session directory");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let stem = name.strip_suffix(".session").expect("only session files");
        assert!(StorageKey::parse(stem).is_some(), "file names are storage keys: {name}");
    }
    std::fs::remove_dir_all(root).unwrap();
}

#[tokio::test]
async fn memory_backend_stays_within_its_bounds_under_a_flood() {
    let backend = Arc::new(MemoryBackend::builder().max_entries(500).max_bytes(1 << 20).build());
    let clock = ManualClock::new(START);
    let store = store(&clock, backend.clone());
    for n in 0..20_000u32 {
        let session = store.load(&[]).await.unwrap();
        session.insert("n", &n).unwrap();
        store.save(&session).await.unwrap();
    }
    assert!(backend.len() <= 500, "{} entries held", backend.len());
    assert!(backend.weighted_size() <= 1 << 20, "{} bytes held", backend.weighted_size());
    let header = issue(&store).await;
    assert!(!store.load(&[value(&header)]).await.unwrap().is_new(), "still serving after the flood");
}

/// A backend whose storage is down.
#[derive(Debug)]
struct Down;

#[async_trait]
impl Backend for Down {
    async fn load(&self, _: &StorageKey) -> Result<Option<Stored>, BackendError> {
        Err(BackendError::unavailable("connection refused"))
    }
    async fn create(&self, _: &StorageKey, _: &Fields, _: Duration) -> Result<bool, BackendError> {
        Err(BackendError::unavailable("connection refused"))
    }
    async fn update(&self, _: &StorageKey, _: &Patch, _: Duration) -> Result<bool, BackendError> {
        Err(BackendError::unavailable("connection refused"))
    }
    async fn delete(&self, _: &StorageKey) -> Result<(), BackendError> {
        Err(BackendError::unavailable("connection refused"))
    }
    async fn touch(&self, _: &StorageKey, _: Duration) -> Result<bool, BackendError> {
        Err(BackendError::unavailable("connection refused"))
    }
}

#[tokio::test]
async fn a_down_backend_fails_closed_with_unavailable() {
    let clock = ManualClock::new(START);
    let working = store(&clock, memory(&clock));
    let header = issue(&working).await;
    let down = store(&clock, Arc::new(Down));
    let err = down.load(&[value(&header)]).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
}

#[tokio::test]
async fn registry_saves_every_session_and_collects_each_error() {
    let clock = ManualClock::new(START);
    let registry = Registry::builder()
        .store(ServerStore::new(config("down", &clock), Arc::new(Down)).unwrap())
        .store(sessions_core::CookieStore::new(config("prefs", &clock)).unwrap())
        .build()
        .unwrap();
    let sessions = registry.request(["prefs=garbage; unrelated=1"]);
    sessions.get("down").await.unwrap().insert("a", &1).unwrap();
    sessions.get("prefs").await.unwrap().insert("theme", "dark").unwrap();
    let saved = sessions.finish(200, None, testing::header_pair).await;
    assert_eq!(saved.values("set-cookie").count(), 1, "the cookie session still saved");
    assert!(saved.values("set-cookie").next().unwrap().starts_with("prefs="));
    assert_eq!(saved.errors.len(), 1);
    assert_eq!(saved.errors[0].0, "down");
    assert!(saved.errors[0].1.is_unavailable());
    let finished = sessions.finish(200, None, testing::header_pair).await;
    assert_eq!(finished.replace.map(|reply| reply.status), Some(503));
}

#[tokio::test]
async fn server_errors_persist_nothing() {
    let clock = ManualClock::new(START);
    let backend = memory(&clock);
    let registry = Registry::single(store(&clock, backend.clone()));
    let sessions = registry.request([]);
    sessions.default_session().await.unwrap().insert("a", &1).unwrap();
    let finished = sessions.finish(500, None, testing::header_pair).await;
    assert!(finished.values("set-cookie").next().is_none());
    assert!(finished.values("vary").next().is_some());
    assert_eq!(backend.len(), 0);
}

#[tokio::test]
async fn registry_refuses_an_unknown_store_name() {
    let clock = ManualClock::new(START);
    let registry = Registry::single(store(&clock, memory(&clock)));
    let sessions = registry.request([]);
    assert!(matches!(sessions.get("nope").await, Err(sessions_core::Error::UnknownStore(_))));
    assert!(!sessions.accessed());
}

/// A store with no room left: reads and deletes go through to `inner`,
/// every write that needs room is refused as `Full`.
#[derive(Debug)]
struct NoRoom {
    inner: Arc<MemoryBackend>,
}

#[async_trait]
impl Backend for NoRoom {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        self.inner.load(key).await
    }
    async fn create(&self, _: &StorageKey, _: &Fields, _: Duration) -> Result<bool, BackendError> {
        Err(BackendError::Full("no room".into()))
    }
    async fn update(&self, _: &StorageKey, _: &Patch, _: Duration) -> Result<bool, BackendError> {
        Err(BackendError::Full("no room".into()))
    }
    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        self.inner.delete(key).await
    }
    async fn touch(&self, _: &StorageKey, _: Duration) -> Result<bool, BackendError> {
        Err(BackendError::Full("no room".into()))
    }
}

#[tokio::test]
async fn a_read_whose_idle_refresh_meets_a_full_store_still_succeeds() {
    let clock = ManualClock::new(START);
    let backend = memory(&clock);
    let idle = |clock: &ManualClock| {
        config("id", clock).lifetime(sessions_core::BrowserSession::new().idle_timeout(Some(Duration::from_secs(600))))
    };
    let working = ServerStore::new(idle(&clock), backend.clone()).unwrap();
    let cookie = value(&issue(&working).await).to_owned();
    let full = ServerStore::new(idle(&clock), Arc::new(NoRoom { inner: backend })).unwrap();
    // Past an eighth of the idle window: the read is due to extend it.
    clock.advance(Duration::from_secs(400));
    let session = full.load(&[&cookie]).await.unwrap();
    assert_eq!(session.get::<String>("user").unwrap().as_deref(), Some("ada"));
    full.save(&session).await.expect("a request that changed nothing is not failed by a full store");
    // A change the request made is refused, as it must be.
    session.insert("note", "x").unwrap();
    let refused = full.save(&session).await.unwrap_err();
    assert!(refused.is_full(), "{refused}");
}
