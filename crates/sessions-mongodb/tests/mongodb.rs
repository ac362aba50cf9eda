//! The backend conformance kit and the MongoDB backend's own promises,
//! against a real server: the one in `SESSIONS_MONGODB_URL`, each test on
//! a collection of its own, and private ones the tests start and kill.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mongodb::bson::{Binary, DateTime, doc, spec::BinarySubtype};
use mongodb::options::{ClientOptions, ServerAddress, ServerMonitoringMode};
use sessions_core::backend::record::{self, Fields};
use sessions_core::backend::{Backend, BackendError, Patch, Seen, StorageKey, Stored};
use sessions_core::clock::{Clock, ManualClock, SystemClock};
use sessions_core::testing::{self, ModelRun};
use sessions_mongodb::{Error, MongoDbBackend, TTL_INDEX};

const TTL: Duration = Duration::from_secs(600);
/// Small enough that the kit's records stay quick to write.
const KIT_LIMIT: usize = 64 << 10;
/// Generous bound on any single call while a server is down: a hang fails
/// the test instead of blocking it for ever.
const HANG_GUARD: Duration = Duration::from_secs(10);

fn one_field(name: &str, value: &[u8]) -> Fields {
    Fields::from([(name.to_owned(), value.to_vec())])
}

fn manual_clock() -> ManualClock {
    ManualClock::new(SystemClock.now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_conformance_kit() {
    let Some(backend) = common::connect("kit").await else { return };
    testing::run_all(Arc::new(backend)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expires_records() {
    let Some(backend) = common::connect("expiry").await else { return };
    testing::expired_records_are_not_loaded(&backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_the_lifecycle_model_on_its_clock() {
    let clock = manual_clock();
    let builder = MongoDbBackend::builder().clock(Arc::new(clock.clone()));
    let Some(backend) = common::connect_with("model", builder).await else { return };
    testing::lifecycle_model(Arc::new(backend), clock, ModelRun::from_env()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_the_lifecycle_model_when_calls_fail() {
    let clock = manual_clock();
    let builder = MongoDbBackend::builder().clock(Arc::new(clock.clone()));
    let Some(backend) = common::connect_with("faults", builder).await else { return };
    testing::lifecycle_model_with_failures(Arc::new(backend), clock, ModelRun::with_failures_from_env()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bounds_whole_records() {
    let builder = MongoDbBackend::builder().max_record_bytes(KIT_LIMIT);
    let Some(backend) = common::connect_with("limit", builder).await else { return };
    testing::record_limit_is_enforced(&backend, KIT_LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_key_make_exactly_one_session() {
    let Some(backend) = common::connect("creates").await else { return };
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

/// The round-trip target for networked stores, counted on the wire by a
/// relay in front of the server: a server store loads a session in one
/// round trip (a `find`), saves a change in one (an `update` of the loaded
/// record with its change, filtered on the loaded revision) and makes none
/// for a request that only read.
///
/// What is counted: every exchange through the relay, which is every
/// connection the client opens, so the driver's server monitor too. The
/// monitor is set to poll (no streaming `hello`, no round-trip-time
/// connection) once an hour, so after its first check it is silent, and
/// what the relay counts is the operations' own pool. The first pass
/// opens the pool's connection (its handshake) and the collection.
#[tokio::test]
async fn a_server_store_loads_and_saves_a_change_in_one_round_trip_each() {
    let Some(url) = common::url() else { return };
    let shared = ClientOptions::parse(&url).await.unwrap();
    let upstream = match &shared.hosts[0] {
        ServerAddress::Tcp { host, port } => format!("{host}:{}", port.unwrap_or(27017)),
        other => panic!("a TCP server is needed for the relay: {other:?}"),
    };
    let database = shared.default_database.clone().unwrap();
    let (relay, trips) = sessions_testkit::relay::RoundTrips::relay(upstream).await;
    let mut options =
        ClientOptions::parse(format!("mongodb://{relay}/{database}?directConnection=true")).await.unwrap();
    options.credential = shared.credential.clone();
    options.server_monitoring_mode = Some(ServerMonitoringMode::Poll);
    options.heartbeat_freq = Some(Duration::from_secs(3600));
    let client = mongodb::Client::with_options(options).unwrap();
    let backend = MongoDbBackend::builder()
        .collection(common::unique_collection("trips"))
        .build(client.database(&database))
        .unwrap();
    let backend: Arc<dyn Backend> = Arc::new(backend);
    sessions_testkit::relay::store_round_trips(Arc::clone(&backend), &trips, 5).await;
    let counted = sessions_testkit::relay::store_round_trips(backend, &trips, 20).await;
    assert_eq!((counted.load, counted.changed_save, counted.unchanged_save), (1.0, 1.0, 0.0), "{counted:?}");
    assert_eq!(counted.after_the_request, 0.0, "the client sends nothing after a request: {counted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_unavailable_within_the_timeout_not_a_hang() {
    let url = format!("mongodb://127.0.0.1:{}/test?directConnection=true", common::free_port());
    let started = Instant::now();
    let connect = MongoDbBackend::builder().request_timeout(Duration::from_millis(500)).connect(&url);
    let result = tokio::time::timeout(HANG_GUARD, connect).await.expect("connect hung");
    assert!(matches!(result, Err(Error::Connect(BackendError::Unavailable(_)))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());

    // Built on a client of the application's: nothing is sent until the
    // first call, which is bounded the same way.
    let client = mongodb::Client::with_uri_str(&url).await.unwrap();
    let backend =
        MongoDbBackend::builder().request_timeout(Duration::from_millis(500)).build(client.database("test")).unwrap();
    let started = Instant::now();
    let load = tokio::time::timeout(HANG_GUARD, backend.load(&testing::random_key())).await.expect("load hung");
    assert!(matches!(load, Err(BackendError::Unavailable(_))), "{load:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn connection_strings_without_a_database_or_of_another_scheme_are_refused() {
    let no_database = MongoDbBackend::connect("mongodb://127.0.0.1:27017").await;
    assert!(matches!(no_database, Err(Error::NoDatabase)), "{no_database:?}");
    let other = MongoDbBackend::connect("redis://127.0.0.1:6379/0").await;
    assert!(matches!(other, Err(Error::Url(_))), "{other:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_yields_unavailable_and_recovers_after_restart() {
    let Some(program) = common::server_program() else { return };
    let mut server = common::ServerProcess::start(program);
    let backend = MongoDbBackend::builder()
        .request_timeout(Duration::from_millis(500))
        .connect(&server.url())
        .await
        .expect("connect to the private server");
    let key = testing::random_key();
    assert!(backend.create(&key, &one_field("va", b"1"), TTL).await.unwrap());

    server.kill();
    for _ in 0..3 {
        let started = Instant::now();
        let load = tokio::time::timeout(HANG_GUARD, backend.load(&key)).await.expect("load hung on a dead server");
        assert!(matches!(load, Err(BackendError::Unavailable(_))), "load on a dead server: {load:?}");
        let patch = Patch { set: one_field("vb", b"2"), ..Patch::default() };
        let update = tokio::time::timeout(HANG_GUARD, backend.update(&key, &patch, TTL)).await.expect("update hung");
        assert!(matches!(update, Err(BackendError::Unavailable(_))), "update on a dead server: {update:?}");
        let create =
            tokio::time::timeout(HANG_GUARD, backend.create(&testing::random_key(), &one_field("va", b"1"), TTL))
                .await
                .expect("create hung");
        assert!(matches!(create, Err(BackendError::Unavailable(_))), "create on a dead server: {create:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "a dead server answered in {:?}", started.elapsed());
    }

    server.restart();
    let fresh = testing::random_key();
    let deadline = Instant::now() + Duration::from_secs(20);
    let created = loop {
        match tokio::time::timeout(HANG_GUARD, backend.create(&fresh, &one_field("va", b"1"), TTL)).await {
            Ok(Ok(created)) => break created,
            Ok(Err(BackendError::Unavailable(_))) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("the backend did not recover after the restart: {other:?}"),
        }
    };
    assert!(created, "a fresh key is created");
    assert_eq!(backend.load(&fresh).await.unwrap().map(|s| s.fields), Some(one_field("va", b"1")));
    assert!(backend.load(&key).await.unwrap().is_none(), "a server in memory lost every session when killed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ttl_index_exists_after_create_indexes_if_missing_and_making_it_again_changes_nothing() {
    let Some(backend) = common::connect("index").await else { return };
    backend.create_indexes_if_missing().await.expect("a second time");
    backend.create_indexes_if_missing().await.expect("a third time");
    let mut cursor = backend.collection().list_indexes().await.unwrap();
    let mut ttl = Vec::new();
    while cursor.advance().await.unwrap() {
        let index = cursor.deserialize_current().unwrap();
        let options = index.options.unwrap_or_default();
        if options.expire_after.is_some() {
            ttl.push((index.keys, options.name, options.expire_after));
        }
    }
    assert_eq!(ttl, [(doc! { "exp": 1 }, Some(TTL_INDEX.to_owned()), Some(Duration::ZERO))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_one_document_under_its_key_with_a_revision_and_an_expiry_date() {
    let Some(backend) = common::connect("layout").await else { return };
    let key = testing::random_key();
    let fields = one_field("vname", b"ada");
    assert!(backend.create(&key, &fields, TTL).await.unwrap());
    let document = backend.collection().find_one(doc! { "_id": key.as_str() }).await.unwrap().unwrap();
    assert_eq!(document.get_i32("v").unwrap(), 1);
    let revision = document.get_i64("rev").unwrap();
    let expires = document.get_datetime("exp").unwrap().timestamp_millis();
    let left = expires - DateTime::now().timestamp_millis();
    assert!(left > 590_000 && left <= 601_000, "{left} ms left");
    assert_eq!(record::decode(document.get_binary_generic("r").unwrap()).unwrap(), fields);
    let stored = backend.load(&key).await.unwrap().unwrap();
    assert_eq!(stored.revision, Some(revision as u64));
    assert!(stored.ttl.is_some_and(|t| t > Duration::from_secs(590)), "{:?}", stored.ttl);
    let patch = Patch { set: one_field("vb", b"2"), ..Patch::default() };
    assert!(backend.update(&key, &patch, TTL).await.unwrap());
    assert_eq!(backend.load(&key).await.unwrap().unwrap().revision, Some(revision as u64 + 1), "a save moves it");
    backend.delete(&key).await.unwrap();
    assert_eq!(backend.collection().count_documents(doc! {}).await.unwrap(), 0);
}

/// The TTL monitor removes a document about a minute after its expiry;
/// until then the backend's own check makes it absent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_whose_expiry_is_past_is_not_loaded_updated_touched_or_taken() {
    let Some(backend) = common::connect("past").await else { return };
    let key = testing::random_key();
    let past = DateTime::from_millis(DateTime::now().timestamp_millis() - 60_000);
    let record = Binary { subtype: BinarySubtype::Generic, bytes: record::encode(&one_field("va", b"1")) };
    let expired = doc! { "_id": key.as_str(), "v": 1, "rev": 7_i64, "exp": past, "r": record };
    backend.collection().insert_one(expired.clone()).await.unwrap();

    assert!(backend.load(&key).await.unwrap().is_none(), "load");
    let patch = Patch { set: one_field("vb", b"2"), ..Patch::default() };
    assert!(!backend.update(&key, &patch, TTL).await.unwrap(), "update");
    let loaded = one_field("va", b"1");
    let seen = Seen { revision: 7, fields: &loaded };
    assert!(!backend.update_seen(&key, seen, &patch, TTL).await.unwrap(), "update_seen at its revision");
    assert!(!backend.touch(&key, TTL).await.unwrap(), "touch");
    assert!(backend.take(&key).await.unwrap().is_none(), "take");
    let still = backend.collection().find_one(doc! { "_id": key.as_str() }).await.unwrap();
    assert_eq!(still, Some(expired), "none of them wrote it (the TTL monitor removes it)");

    // An expired document is replaced by a create; a live one never is.
    assert!(backend.create(&key, &one_field("vc", b"3"), TTL).await.unwrap(), "create over an expired document");
    assert!(!backend.create(&key, &one_field("vd", b"4"), TTL).await.unwrap(), "create over a live one");
    assert_eq!(backend.load(&key).await.unwrap().unwrap().fields, one_field("vc", b"3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_follows_the_backends_clock() {
    let clock = manual_clock();
    let builder = MongoDbBackend::builder().clock(Arc::new(clock.clone()));
    let Some(backend) = common::connect_with("clock", builder).await else { return };
    let key = testing::random_key();
    assert!(backend.create(&key, &one_field("va", b"1"), Duration::from_secs(60)).await.unwrap());
    clock.advance(Duration::from_secs(59));
    assert!(backend.touch(&key, Duration::from_secs(60)).await.unwrap(), "a touch before the expiry extends it");
    clock.advance(Duration::from_secs(59));
    assert!(backend.load(&key).await.unwrap().is_some());
    clock.advance(Duration::from_secs(2));
    assert!(backend.load(&key).await.unwrap().is_none(), "expired on the backend's clock");
    assert!(backend.create(&key, &one_field("vb", b"2"), TTL).await.unwrap(), "and its key is free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_document_is_removed_and_its_session_starts_afresh() {
    let Some(backend) = common::connect("unreadable").await else { return };
    let future = DateTime::from_millis(DateTime::now().timestamp_millis() + 600_000);
    let torn = Binary { subtype: BinarySubtype::Generic, bytes: vec![2, 9, 1] };
    let documents = [
        doc! { "v": 2, "rev": 1_i64, "exp": future, "r": torn.clone() },
        doc! { "v": 1, "rev": 1_i64, "exp": future, "r": torn.clone() },
        doc! { "v": 1, "rev": "one", "exp": future, "r": torn },
        doc! { "v": 1, "exp": future },
        doc! { "exp": "tomorrow" },
        doc! { "something": "else" },
    ];
    for mut document in documents {
        let key = testing::random_key();
        document.insert("_id", key.as_str());
        backend.collection().insert_one(document.clone()).await.unwrap();
        assert!(backend.load(&key).await.unwrap().is_none(), "{document} loads as absent");
        let left = backend.collection().find_one(doc! { "_id": key.as_str() }).await.unwrap();
        assert_eq!(left, None, "{document} is removed");
        backend.collection().insert_one(document.clone()).await.unwrap();
        let patch = Patch { set: one_field("va", b"1"), ..Patch::default() };
        assert!(!backend.update(&key, &patch, TTL).await.unwrap(), "{document} is not updated");
        assert!(backend.create(&key, &one_field("va", b"1"), TTL).await.unwrap(), "the key is free again");
        assert_eq!(backend.load(&key).await.unwrap().unwrap().fields, one_field("va", b"1"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_over_a_lowered_limit_is_never_loaded_and_is_removed() {
    let Some(url) = common::url() else { return };
    let collection = common::unique_collection("lowered");
    let roomy = MongoDbBackend::builder().collection(&collection).connect(&url).await.unwrap();
    let strict =
        MongoDbBackend::builder().collection(&collection).max_record_bytes(KIT_LIMIT).connect(&url).await.unwrap();
    let key = testing::random_key();
    assert!(roomy.create(&key, &testing::record_of_size(KIT_LIMIT + 1), TTL).await.unwrap());
    assert!(strict.load(&key).await.unwrap().is_none(), "a record over the limit must not load");
    assert!(roomy.load(&key).await.unwrap().is_none(), "and it is removed");
    let fits = testing::record_of_size(KIT_LIMIT);
    assert!(roomy.create(&key, &fits, TTL).await.unwrap());
    assert_eq!(strict.load(&key).await.unwrap().map(|s| s.fields), Some(fits));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_record_fits_in_one_document_and_a_larger_limit_is_lowered() {
    let builder = MongoDbBackend::builder().max_record_bytes(usize::MAX);
    let Some(backend) = common::connect_with("largest", builder).await else { return };
    let key = testing::random_key();
    let largest = testing::record_of_size(sessions_mongodb::MAX_RECORD_BYTES);
    assert!(backend.create(&key, &largest, TTL).await.expect("the largest record is stored"));
    assert!(backend.load(&key).await.unwrap().is_some_and(|s| s.fields == largest));
    let over = testing::record_of_size(sessions_mongodb::MAX_RECORD_BYTES + 1);
    let err = backend.create(&testing::random_key(), &over, TTL).await.unwrap_err();
    assert!(matches!(err, BackendError::TooLarge { limit: sessions_mongodb::MAX_RECORD_BYTES, .. }), "{err:?}");
    backend.delete(&key).await.unwrap();
}

/// Two backends on one collection, as two app processes would be: each
/// call goes to the next one in turn, so concurrent saves of one session
/// meet only the revision check, not a lock of this process.
#[derive(Debug)]
struct TwoProcesses {
    backends: [MongoDbBackend; 2],
    turn: std::sync::atomic::AtomicUsize,
}

impl TwoProcesses {
    fn next(&self) -> &MongoDbBackend {
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
async fn saves_from_two_processes_meet_only_the_revision_check_and_lose_nothing() {
    let Some(url) = common::url() else { return };
    let collection = common::unique_collection("two");
    let one = MongoDbBackend::builder().collection(&collection).connect(&url).await.unwrap();
    let other = MongoDbBackend::builder().collection(&collection).connect(&url).await.unwrap();
    let both: Arc<dyn Backend> = Arc::new(TwoProcesses { backends: [one, other], turn: Default::default() });
    testing::concurrent_distinct_keys_are_kept(Arc::clone(&both), 16, 20).await;
    testing::update_seen_keeps_what_others_wrote(&*both).await;
    testing::concurrent_saves_of_loaded_records_are_kept(Arc::clone(&both), 16, 10).await;
    testing::take_racing_updates_loses_nothing(Arc::clone(&both)).await;
    testing::update_racing_delete_does_not_resurrect(both).await;
}
