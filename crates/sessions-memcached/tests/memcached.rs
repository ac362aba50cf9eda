//! The backend conformance kit and the failure behaviour of
//! `MemcachedBackend`, against real servers: the one in
//! `SESSIONS_MEMCACHED_URL` and private ones the tests start, kill or fill.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{MemcachedProcess, memcached_installed, raw, silent_server, unique_prefix};
use sessions_core::backend::record::Fields;
use sessions_core::backend::{Backend, BackendError, Patch, Seen, StorageKey, Stored};
use sessions_core::testing::{self, service_url};
use sessions_memcached::{Error, MemcachedBackend};

const TTL: Duration = Duration::from_secs(600);
/// Small enough that the kit's records stay quick to write.
const KIT_LIMIT: usize = 64 << 10;
/// Generous bound on any single call while a server is down or silent: a
/// hang fails the test instead of blocking it forever.
const HANG_GUARD: Duration = Duration::from_secs(10);

async fn shared(tag: &str) -> Option<(String, MemcachedBackend)> {
    let url = service_url("SESSIONS_MEMCACHED_URL")?;
    let backend = MemcachedBackend::builder().key_prefix(unique_prefix(tag)).connect(&url).await.expect("connect");
    Some((url, backend))
}

fn one_field(name: &str, value: &[u8]) -> Fields {
    Fields::from([(name.to_owned(), value.to_vec())])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_conformance_kit() {
    let Some((_, backend)) = shared("kit").await else { return };
    testing::run_all(Arc::new(backend)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expires_records() {
    let Some((_, backend)) = shared("expiry").await else { return };
    testing::expired_records_are_not_loaded(&backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keeps_every_key_of_64_writers_saving_1000_times() {
    let Some((_, backend)) = shared("writers").await else { return };
    testing::concurrent_distinct_keys_are_kept(Arc::new(backend), 64, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bounds_whole_records() {
    let Some(url) = service_url("SESSIONS_MEMCACHED_URL") else { return };
    let backend = MemcachedBackend::builder()
        .key_prefix(unique_prefix("limit"))
        .max_record_bytes(KIT_LIMIT)
        .connect(&url)
        .await
        .unwrap();
    testing::record_limit_is_enforced(&backend, KIT_LIMIT).await;
}

/// The round-trip target for networked stores, counted on the wire by a relay in front of the
/// server: a server store loads a session in one round trip (`mg` with the
/// CAS token), saves a change in one (`ms` of the loaded record with its
/// change, under that token) and makes none for a request that only read.
/// The first pass opens the pool's connection.
#[tokio::test]
async fn a_server_store_loads_and_saves_a_change_in_one_round_trip_each() {
    let Some(url) = service_url("SESSIONS_MEMCACHED_URL") else { return };
    let host = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest).trim_end_matches('/');
    let has_port = host.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    let upstream = if has_port { host.to_owned() } else { format!("{host}:11211") };
    let (relay, trips) = sessions_testkit::relay::RoundTrips::relay(upstream).await;
    let backend = MemcachedBackend::builder()
        .key_prefix(unique_prefix("trips"))
        .connect(&format!("memcache://{relay}"))
        .await
        .expect("connect through the relay");
    let backend: Arc<dyn Backend> = Arc::new(backend);
    sessions_testkit::relay::store_round_trips(Arc::clone(&backend), &trips, 5).await;
    let counted = sessions_testkit::relay::store_round_trips(backend, &trips, 20).await;
    assert_eq!((counted.load, counted.changed_save, counted.unchanged_save), (1.0, 1.0, 0.0), "{counted:?}");
    assert_eq!(counted.after_the_request, 0.0, "the client sends nothing after a request: {counted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_key_make_exactly_one_session() {
    let Some((_, backend)) = shared("add").await else { return };
    let key = testing::random_key();
    let creates: Vec<_> = (0..32u8)
        .map(|n| {
            let (backend, key) = (backend.clone(), key.clone());
            tokio::spawn(async move { (n, backend.create(&key, &one_field("vn", &[n]), TTL).await.unwrap()) })
        })
        .collect();
    let mut winners = Vec::new();
    for create in creates {
        let (n, created) = create.await.unwrap();
        if created {
            winners.push(n);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one create wins: {winners:?}");
    let stored = backend.load(&key).await.unwrap().unwrap();
    assert_eq!(stored.fields, one_field("vn", &[winners[0]]), "and nobody overwrote it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_is_one_item_under_the_prefix_with_its_ttl() {
    let Some((url, backend)) = shared("layout").await else { return };
    let key = testing::random_key();
    assert!(backend.create(&key, &one_field("vname", b"ada"), TTL).await.unwrap());
    let item = backend.item_key(&key);
    assert!(item.ends_with(&key.as_str()) && item.starts_with("test:layout:"));
    let answer = raw(&url, format!("mg {item} s t\r\n").as_bytes()).await;
    let ttl: u64 = answer.split(' ').find_map(|flag| flag.strip_prefix('t')).unwrap().parse().unwrap();
    assert!(ttl > 590 && ttl <= 600, "{answer}");
    let stored = backend.load(&key).await.unwrap().unwrap();
    assert!(stored.ttl.is_some_and(|t| t > Duration::from_secs(590)), "load reports the TTL: {:?}", stored.ttl);
    backend.delete(&key).await.unwrap();
    assert_eq!(raw(&url, format!("mg {item} s\r\n").as_bytes()).await, "EN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_remembered_session_of_more_than_30_days_keeps_its_ttl() {
    let Some((_, backend)) = shared("long").await else { return };
    let key = testing::random_key();
    let forty_days = Duration::from_secs(40 * 24 * 3600);
    assert!(backend.create(&key, &one_field("va", b"1"), forty_days).await.unwrap());
    let ttl = backend.load(&key).await.unwrap().expect("not expired at once").ttl.unwrap();
    assert!(ttl > forty_days - Duration::from_secs(10), "{ttl:?}");
    assert!(backend.touch(&key, forty_days).await.unwrap());
    assert!(backend.load(&key).await.unwrap().is_some(), "a long touch does not expire it either");
    backend.delete(&key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_foreign_item_under_a_session_key_is_removed_and_starts_afresh() {
    let Some((url, backend)) = shared("foreign").await else { return };
    let key = testing::random_key();
    let item = backend.item_key(&key);
    assert_eq!(raw(&url, format!("ms {item} 10 T60\r\nnot ours!!\r\n").as_bytes()).await, "HD");
    assert!(backend.load(&key).await.unwrap().is_none(), "a foreign item loads as absent");
    assert_eq!(raw(&url, format!("mg {item} s\r\n").as_bytes()).await, "EN", "and is deleted");
    assert_eq!(raw(&url, format!("ms {item} 3 T60\r\n\x01\x00\x07\r\n").as_bytes()).await, "HD");
    let patch = Patch { set: one_field("va", b"1"), ..Patch::default() };
    assert!(!backend.update(&key, &patch, TTL).await.unwrap(), "a torn record is not updated");
    assert!(backend.create(&key, &one_field("va", b"1"), TTL).await.unwrap(), "the key is free again");
    backend.delete(&key).await.unwrap();
}

/// What a server store saves for a request that loaded `loaded` and made
/// `patch`: the loaded record with the patch, at the loaded CAS token.
async fn save_loaded(
    backend: &MemcachedBackend,
    key: &StorageKey,
    loaded: &Stored,
    patch: &Patch,
) -> Result<bool, BackendError> {
    let mut fields = loaded.fields.clone();
    patch.apply(&mut fields);
    let seen = Seen { revision: loaded.revision.expect("a load returns the CAS token"), fields: &fields };
    backend.update_seen(key, seen, patch, TTL).await
}

/// `update_seen` bounds the record as `update` does, the item as it is now
/// with the patch: a loaded record over the limit with the patch, but not
/// since another request shrank it, is saved; one within it, grown over it
/// by another request, is `TooLarge` and the item is left as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn update_seen_bounds_the_record_as_it_is_now_not_as_loaded() {
    let Some(url) = service_url("SESSIONS_MEMCACHED_URL") else { return };
    let backend = MemcachedBackend::builder()
        .key_prefix(unique_prefix("seen-limit"))
        .max_record_bytes(KIT_LIMIT)
        .connect(&url)
        .await
        .unwrap();
    let sized = |name: &str, share: f64| one_field(name, &vec![7u8; (KIT_LIMIT as f64 * share) as usize]);
    let set = |fields: Fields| Patch { set: fields, ..Patch::default() };
    let key = testing::random_key();

    assert!(backend.create(&key, &sized("va", 0.5), TTL).await.unwrap());
    let loaded = backend.load(&key).await.unwrap().unwrap();
    let shrink = Patch { remove: vec!["va".into()], ..Patch::default() };
    assert!(backend.update(&key, &shrink, TTL).await.unwrap());
    assert!(save_loaded(&backend, &key, &loaded, &set(sized("vb", 0.6))).await.unwrap(), "there is room now");
    assert_eq!(backend.load(&key).await.unwrap().unwrap().fields, sized("vb", 0.6));

    let loaded = backend.load(&key).await.unwrap().unwrap();
    assert!(backend.update(&key, &set(sized("vc", 0.3)), TTL).await.unwrap());
    let err = save_loaded(&backend, &key, &loaded, &set(sized("vd", 0.2))).await.unwrap_err();
    assert!(matches!(err, BackendError::TooLarge { .. }), "{err:?}");
    let mut kept = sized("vb", 0.6);
    kept.extend(&sized("vc", 0.3));
    assert_eq!(backend.load(&key).await.unwrap().unwrap().fields, kept, "and nothing changed");
    backend.delete(&key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_item_over_a_lowered_limit_is_never_loaded_and_is_removed() {
    let Some(url) = service_url("SESSIONS_MEMCACHED_URL") else { return };
    let prefix = unique_prefix("lowered");
    let roomy = MemcachedBackend::builder().key_prefix(&prefix).connect(&url).await.unwrap();
    let strict =
        MemcachedBackend::builder().key_prefix(&prefix).max_record_bytes(KIT_LIMIT).connect(&url).await.unwrap();
    let key = testing::random_key();
    assert!(roomy.create(&key, &testing::record_of_size(KIT_LIMIT + 1), TTL).await.unwrap());
    assert!(strict.load(&key).await.unwrap().is_none(), "a record over the limit must not load");
    assert!(roomy.load(&key).await.unwrap().is_none(), "and it is removed");
    let fits = testing::record_of_size(KIT_LIMIT);
    assert!(roomy.create(&key, &fits, TTL).await.unwrap());
    assert_eq!(strict.load(&key).await.unwrap().map(|s| s.fields), Some(fits));
    strict.delete(&key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_default_limit_fits_the_default_server_item_size() {
    let Some((_, backend)) = shared("default-limit").await else { return };
    let key = testing::random_key();
    let largest = testing::record_of_size(sessions_core::backend::record::DEFAULT_MAX_RECORD_BYTES - 4096);
    assert!(backend.create(&key, &largest, TTL).await.expect("the largest record the backend takes is stored"));
    assert_eq!(backend.load(&key).await.unwrap().map(|s| s.fields), Some(largest));
    let over = testing::record_of_size(sessions_core::backend::record::DEFAULT_MAX_RECORD_BYTES - 4095);
    let err = backend.create(&testing::random_key(), &over, TTL).await.unwrap_err();
    assert!(matches!(err, BackendError::TooLarge { .. }), "{err:?}");
    backend.delete(&key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_listening_is_a_connect_error_not_a_hang() {
    let port = common::free_port();
    let started = Instant::now();
    let result = tokio::time::timeout(HANG_GUARD, MemcachedBackend::connect(&format!("memcache://127.0.0.1:{port}")))
        .await
        .expect("connect hung");
    assert!(matches!(result, Err(Error::Connect(BackendError::Unavailable(_)))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(matches!(MemcachedBackend::connect("redis://127.0.0.1:6379").await, Err(Error::Url(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_that_never_answers_fails_within_the_request_timeout() {
    let url = silent_server();
    let connect = MemcachedBackend::builder().request_timeout(Duration::from_millis(300)).connect(&url);
    let started = Instant::now();
    let result = tokio::time::timeout(HANG_GUARD, connect).await.expect("connect hung on a silent server");
    assert!(matches!(result, Err(Error::Connect(BackendError::Unavailable(_)))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_server_yields_unavailable_and_recovers_after_restart() {
    if !memcached_installed() {
        return;
    }
    let mut server = MemcachedProcess::start(64, &[]);
    let backend = MemcachedBackend::builder()
        .request_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(500))
        .connect(&server.url())
        .await
        .expect("connect to the private server");
    let key = testing::random_key();
    assert!(backend.create(&key, &one_field("va", b"1"), TTL).await.unwrap());

    server.kill();
    for _ in 0..5 {
        let started = Instant::now();
        let load = tokio::time::timeout(HANG_GUARD, backend.load(&key)).await.expect("load hung on a dead server");
        assert!(matches!(load, Err(BackendError::Unavailable(_))), "load on a dead server: {load:?}");
        let patch = Patch { set: one_field("vb", b"2"), ..Patch::default() };
        let update = tokio::time::timeout(HANG_GUARD, backend.update(&key, &patch, TTL)).await.expect("update hung");
        assert!(matches!(update, Err(BackendError::Unavailable(_))), "update on a dead server: {update:?}");
        let create = backend.create(&testing::random_key(), &one_field("va", b"1"), TTL).await;
        assert!(matches!(create, Err(BackendError::Unavailable(_))), "create on a dead server: {create:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "a dead server answered in {:?}", started.elapsed());
    }

    server.restart();
    let fresh = testing::random_key();
    let create = tokio::time::timeout(HANG_GUARD, backend.create(&fresh, &one_field("va", b"1"), TTL))
        .await
        .expect("create hung after restart");
    assert!(create.expect("the backend reconnects on the next call"), "a fresh key is created");
    assert_eq!(backend.load(&fresh).await.unwrap().map(|s| s.fields), Some(one_field("va", b"1")));
    assert!(backend.load(&key).await.unwrap().is_none(), "a restarted memcached has lost every session");
}

/// With `-C` every conditional write is refused, so a save could never
/// land (it would retry for ever): such a server is refused at start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_with_compare_and_swap_off_is_refused_at_connect() {
    if !memcached_installed() {
        return;
    }
    let server = MemcachedProcess::start(64, &["-C"]);
    let refused = tokio::time::timeout(HANG_GUARD, MemcachedBackend::connect(&server.url())).await.expect("hung");
    match refused {
        Err(Error::Config(reason)) => assert!(reason.contains("-C"), "{reason}"),
        other => panic!("a server without compare-and-swap must be refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_server_that_must_not_evict_refuses_new_sessions_and_keeps_the_old() {
    if !memcached_installed() {
        return;
    }
    // `-M`: out of memory is an error, not an eviction.
    let server = MemcachedProcess::start(2, &["-M"]);
    let backend = MemcachedBackend::connect(&server.url()).await.unwrap();
    let value = vec![7u8; 20_000];
    let mut kept = Vec::new();
    let refused = loop {
        let key = testing::random_key();
        match backend.create(&key, &one_field("vdata", &value), TTL).await {
            Ok(true) => kept.push(key),
            Ok(false) => panic!("a random key was taken"),
            Err(err) => break err,
        }
        assert!(kept.len() < 10_000, "a 2 MB server never filled up");
    };
    assert!(matches!(refused, BackendError::Full(_)), "a full server refuses with Full: {refused:?}");
    assert!(kept.len() > 10, "only {} sessions fit", kept.len());
    for key in &kept {
        assert!(backend.load(key).await.unwrap().is_some(), "a session the server acknowledged was dropped");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_evicting_server_ends_the_least_recent_sessions_early() {
    if !memcached_installed() {
        return;
    }
    // What the README warns about: memcached's default is to evict.
    let server = MemcachedProcess::start(2, &[]);
    let backend = MemcachedBackend::connect(&server.url()).await.unwrap();
    let value = vec![7u8; 20_000];
    let keys: Vec<_> = (0..400).map(|_| testing::random_key()).collect();
    for key in &keys {
        assert!(backend.create(key, &one_field("vdata", &value), TTL).await.unwrap(), "an evicting server takes all");
    }
    assert!(backend.load(&keys[0]).await.unwrap().is_none(), "the oldest session was evicted before its TTL");
    assert!(backend.load(&keys[399]).await.unwrap().is_some(), "the newest is there");
}

/// Two backends on one server, as two app processes would be: each call
/// goes to the next one in turn, so concurrent saves of one session meet
/// only memcached's compare-and-swap, not a lock of this process.
#[derive(Debug)]
struct TwoProcesses {
    backends: [MemcachedBackend; 2],
    turn: std::sync::atomic::AtomicUsize,
}

impl TwoProcesses {
    fn next(&self) -> &MemcachedBackend {
        &self.backends[self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 2]
    }
}

#[async_trait::async_trait]
impl Backend for TwoProcesses {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        self.next().load(key).await
    }
    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        self.next().create(key, fields, ttl).await
    }
    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        self.next().update(key, patch, ttl).await
    }
    async fn update_seen(
        &self,
        key: &StorageKey,
        seen: Seen<'_>,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        self.next().update_seen(key, seen, patch, ttl).await
    }
    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        self.next().delete(key).await
    }
    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        self.next().touch(key, ttl).await
    }
    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        self.next().take(key).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn saves_from_two_processes_meet_only_compare_and_swap_and_lose_nothing() {
    let Some(url) = service_url("SESSIONS_MEMCACHED_URL") else { return };
    let prefix = unique_prefix("two");
    let one = MemcachedBackend::builder().key_prefix(&prefix).connect(&url).await.unwrap();
    let other = MemcachedBackend::builder().key_prefix(&prefix).connect(&url).await.unwrap();
    let both: Arc<dyn Backend> = Arc::new(TwoProcesses { backends: [one, other], turn: Default::default() });
    testing::concurrent_distinct_keys_are_kept(Arc::clone(&both), 16, 100).await;
    // A record loaded by one saved by the other: the CAS token is the
    // server's, not a process's.
    testing::update_seen_keeps_what_others_wrote(&*both).await;
    testing::concurrent_saves_of_loaded_records_are_kept(Arc::clone(&both), 16, 20).await;
    testing::take_racing_updates_loses_nothing(Arc::clone(&both)).await;
    testing::update_racing_delete_does_not_resurrect(both).await;
}

/// A timeout of about sixteen years (`SESSION_MAX_SECS=500000000`) is an
/// expiry past 2^31: sent as it is, memcached drops the session at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_a_timeout_past_2038_is_kept() {
    if !memcached_installed() {
        return;
    }
    let server = MemcachedProcess::start(16, &[]);
    let backend = MemcachedBackend::connect(&server.url()).await.expect("connect");
    let long = Duration::from_secs(500_000_000);
    let key = testing::random_key();
    assert!(backend.create(&key, &one_field("va", b"1"), long).await.unwrap());
    let loaded = backend.load(&key).await.unwrap().expect("the session is kept, not dropped at once");
    assert!(loaded.ttl.is_some_and(|ttl| ttl > Duration::from_secs(365 * 24 * 3600)), "{:?}", loaded.ttl);
    let patch = Patch { set: one_field("vb", b"2"), ..Patch::default() };
    assert!(backend.update(&key, &patch, long).await.unwrap());
    assert!(backend.touch(&key, long).await.unwrap());
    assert_eq!(backend.load(&key).await.unwrap().map(|s| s.fields.len()), Some(2));
}
