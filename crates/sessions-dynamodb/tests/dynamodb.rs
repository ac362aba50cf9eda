//! The backend conformance kit and the promises of `DynamoDbBackend`,
//! against the DynamoDB-compatible server in `SESSIONS_DYNAMODB_URL`
//! (`http://host:port`): each test on a table of its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
use sessions_core::backend::record::{self, Fields};
use sessions_core::backend::{Backend, BackendError, Patch, Seen, StorageKey};
use sessions_core::clock::{Clock, ManualClock, SystemClock};
use sessions_core::testing::{self, ModelRun, service_url};
use sessions_dynamodb::{DynamoDbBackend, DynamoDbBackendBuilder, Error};

const TTL: Duration = Duration::from_secs(600);
/// Small enough that the kit's records stay quick to write.
const KIT_LIMIT: usize = 64 << 10;
/// Generous bound on any single call while the server is away: a hang
/// fails the test instead of blocking it forever.
const HANG_GUARD: Duration = Duration::from_secs(20);

fn random_hex() -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A table name no other test or run uses.
fn unique_table(tag: &str) -> String {
    format!("sessions-test-{tag}-{}", random_hex())
}

fn local(url: &str, tag: &str) -> DynamoDbBackendBuilder {
    DynamoDbBackend::builder().table(unique_table(tag)).endpoint_url(url).dummy_credentials()
}

/// A backend on a fresh table of the shared server, made ready.
async fn ready(builder: DynamoDbBackendBuilder) -> DynamoDbBackend {
    let backend = builder.build_local().expect("build");
    backend.create_table_if_missing().await.expect("create the table");
    backend
}

async fn shared(tag: &str) -> Option<DynamoDbBackend> {
    let url = service_url("SESSIONS_DYNAMODB_URL")?;
    Some(ready(local(&url, tag)).await)
}

fn one_field(name: &str, value: &[u8]) -> Fields {
    Fields::from([(name.to_owned(), value.to_vec())])
}

fn manual_clock() -> ManualClock {
    ManualClock::new(SystemClock.now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_conformance_kit() {
    let Some(backend) = shared("kit").await else { return };
    testing::run_all(Arc::new(backend)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_records_are_not_loaded() {
    let Some(backend) = shared("expiry").await else { return };
    testing::expired_records_are_not_loaded(&backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_the_lifecycle_model_on_its_clock() {
    let Some(url) = service_url("SESSIONS_DYNAMODB_URL") else { return };
    let clock = manual_clock();
    let backend = ready(local(&url, "model").clock(Arc::new(clock.clone()))).await;
    testing::lifecycle_model(Arc::new(backend), clock, ModelRun::from_env()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_the_lifecycle_model_when_calls_fail() {
    let Some(url) = service_url("SESSIONS_DYNAMODB_URL") else { return };
    let clock = manual_clock();
    let backend = ready(local(&url, "faults").clock(Arc::new(clock.clone()))).await;
    testing::lifecycle_model_with_failures(Arc::new(backend), clock, ModelRun::with_failures_from_env()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn record_limit_is_enforced() {
    let Some(url) = service_url("SESSIONS_DYNAMODB_URL") else { return };
    let backend = ready(local(&url, "limit").max_record_bytes(KIT_LIMIT)).await;
    testing::record_limit_is_enforced(&backend, KIT_LIMIT).await;
}

/// The default limit is the largest record a DynamoDB item holds, and one
/// byte more is refused before anything is sent. A server that counts
/// binary values by their base64 length (moto) holds less: its refusal
/// is `TooLarge` too, never an outage, and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_default_limit_is_the_largest_record_an_item_holds() {
    let Some(backend) = shared("default-limit").await else { return };
    let limit = backend.max_record_bytes();
    assert_eq!(limit, 399 * 1024);
    let over = testing::record_of_size(limit + 1);
    let err = backend.create(&testing::random_key(), &over, TTL).await.unwrap_err();
    assert!(matches!(err, BackendError::TooLarge { size, limit: l } if size == limit + 1 && l == limit), "{err:?}");

    let key = testing::random_key();
    let largest = testing::record_of_size(limit);
    match backend.create(&key, &largest, TTL).await {
        Ok(created) => {
            assert!(created);
            assert_eq!(backend.load(&key).await.unwrap().map(|s| s.fields), Some(largest));
        }
        Err(BackendError::TooLarge { size, limit: l }) => {
            assert_eq!(size, limit);
            assert!(l < size, "the refusal names a limit under the record: {l}");
            assert!(backend.load(&key).await.unwrap().is_none(), "and nothing was written");
        }
        Err(other) => panic!("a record the server cannot hold must be TooLarge: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_key_make_exactly_one_session() {
    let Some(backend) = shared("add").await else { return };
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
/// round trip (`GetItem`), saves a change in one (`PutItem` conditioned on
/// the loaded revision) and makes none for a request that only read. The
/// first pass opens the client's kept-alive connection.
#[tokio::test]
async fn a_server_store_loads_and_saves_a_change_in_one_round_trip_each() {
    let Some(url) = service_url("SESSIONS_DYNAMODB_URL") else { return };
    let upstream = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest).trim_end_matches('/').to_owned();
    let (relay, trips) = sessions_testkit::relay::RoundTrips::relay(upstream).await;
    let backend = ready(local(&format!("http://{relay}"), "trips")).await;
    let backend: Arc<dyn Backend> = Arc::new(backend);
    sessions_testkit::relay::store_round_trips(Arc::clone(&backend), &trips, 5).await;
    let counted = sessions_testkit::relay::store_round_trips(backend, &trips, 20).await;
    assert_eq!((counted.load, counted.changed_save, counted.unchanged_save), (1.0, 1.0, 0.0), "{counted:?}");
    assert_eq!(counted.after_the_request, 0.0, "the client sends nothing after a request: {counted:?}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Every call of the trait on `backend` fails with `Unavailable`, each
/// within `within`.
async fn every_call_is_unavailable(backend: &DynamoDbBackend, within: Duration) {
    let key = testing::random_key();
    let patch = Patch { set: one_field("vb", b"2"), ..Patch::default() };
    let fields = one_field("va", b"1");
    macro_rules! unavailable {
        ($what:literal, $call:expr) => {{
            let started = Instant::now();
            let result = tokio::time::timeout(HANG_GUARD, $call).await.expect(concat!($what, " hung"));
            assert!(matches!(result, Err(BackendError::Unavailable(_))), "{}: {result:?}", $what);
            assert!(started.elapsed() < within, "{} answered in {:?}", $what, started.elapsed());
            result.unwrap_err()
        }};
    }
    let error = unavailable!("load", backend.load(&key));
    let source = std::error::Error::source(&error).expect("the cause is kept");
    assert!(source.downcast_ref::<Error>().is_some_and(|e| matches!(e, Error::Request { .. })), "{source:?}");
    unavailable!("create", backend.create(&key, &fields, TTL));
    unavailable!("update", backend.update(&key, &patch, TTL));
    unavailable!("update_seen", backend.update_seen(&key, Seen { revision: 1, fields: &fields }, &patch, TTL));
    unavailable!("touch", backend.touch(&key, TTL));
    unavailable!("take", backend.take(&key));
    unavailable!("delete", async { backend.delete(&key).await.map(|()| false) });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_unavailable_within_the_request_timeout() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let backend = DynamoDbBackend::builder()
        .table("sessions")
        .endpoint_url(url)
        .dummy_credentials()
        .request_timeout(Duration::from_millis(800))
        .build_local()
        .unwrap();
    every_call_is_unavailable(&backend, Duration::from_secs(2)).await;
    let err = tokio::time::timeout(HANG_GUARD, backend.create_table_if_missing()).await.expect("hung");
    assert!(matches!(err, Err(Error::Request { .. })), "{err:?}");
}

/// A server that accepts connections and never answers.
fn silent_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64) {
            held.push(stream);
        }
    });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_is_unavailable_within_the_request_timeout() {
    let backend = DynamoDbBackend::builder()
        .table("sessions")
        .endpoint_url(silent_server())
        .dummy_credentials()
        .request_timeout(Duration::from_millis(600))
        .build_local()
        .unwrap();
    every_call_is_unavailable(&backend, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_table_if_missing_is_idempotent_and_turns_on_ttl() {
    let Some(url) = service_url("SESSIONS_DYNAMODB_URL") else { return };
    let backend = local(&url, "table").build_local().unwrap();
    backend.create_table_if_missing().await.expect("create");
    backend.create_table_if_missing().await.expect("a second call finds the table ready");
    let clone = backend.clone();
    clone.create_table_if_missing().await.expect("and a third");

    let client = backend.client();
    let ttl = client.describe_time_to_live().table_name(backend.table()).send().await.unwrap();
    let ttl = ttl.time_to_live_description.expect("a TTL description");
    assert_eq!(ttl.time_to_live_status, Some(TimeToLiveStatus::Enabled));
    assert_eq!(ttl.attribute_name.as_deref(), Some("expires"));
    let table = client.describe_table().table_name(backend.table()).send().await.unwrap().table.unwrap();
    assert_eq!(table.key_schema().len(), 1);
    assert_eq!(table.key_schema()[0].attribute_name(), "id");

    let key = testing::random_key();
    assert!(backend.create(&key, &one_field("va", b"1"), TTL).await.unwrap(), "the table takes sessions");
    backend.create_table_if_missing().await.unwrap();
    assert!(backend.load(&key).await.unwrap().is_some(), "and keeps them when asked again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_keyed_otherwise_is_refused() {
    let Some(url) = service_url("SESSIONS_DYNAMODB_URL") else { return };
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    let backend = local(&url, "foreign-table").build_local().unwrap();
    backend
        .client()
        .create_table()
        .table_name(backend.table())
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let err = backend.create_table_if_missing().await.unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}

/// Writes an item straight into the table, as another writer (or a bug)
/// would.
async fn put_raw(backend: &DynamoDbBackend, item: HashMap<String, AttributeValue>) {
    backend.client().put_item().table_name(backend.table()).set_item(Some(item)).send().await.unwrap();
}

async fn get_raw(backend: &DynamoDbBackend, key: &StorageKey) -> Option<HashMap<String, AttributeValue>> {
    let output = backend
        .client()
        .get_item()
        .table_name(backend.table())
        .key("id", AttributeValue::S(key.as_str()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    output.item
}

fn raw_item(key: &StorageKey, fields: &Fields, revision: u64, expires: u64) -> HashMap<String, AttributeValue> {
    let mut record = vec![1u8];
    record.extend_from_slice(&record::encode(fields));
    HashMap::from([
        ("id".to_owned(), AttributeValue::S(key.as_str())),
        ("record".to_owned(), AttributeValue::B(Blob::new(record))),
        ("revision".to_owned(), AttributeValue::N(revision.to_string())),
        ("expires".to_owned(), AttributeValue::N(expires.to_string())),
    ])
}

/// DynamoDB deletes an expired item when it gets round to it (and moto
/// never does): until then the item is in the table, and the backend must
/// treat it as gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_past_its_expiry_is_not_loaded_updated_or_touched() {
    let Some(backend) = shared("past").await else { return };
    let key = testing::random_key();
    let past = SystemClock.now() - 10;
    let item = raw_item(&key, &one_field("va", b"old"), 42, past);
    put_raw(&backend, item.clone()).await;

    assert!(backend.load(&key).await.unwrap().is_none(), "an expired item must not load");
    let patch = Patch { set: one_field("vb", b"2"), ..Patch::default() };
    assert!(!backend.update(&key, &patch, TTL).await.unwrap(), "update must not revive it");
    let mut seen_fields = one_field("va", b"old");
    patch.apply(&mut seen_fields);
    let seen = Seen { revision: 42, fields: &seen_fields };
    assert!(!backend.update_seen(&key, seen, &patch, TTL).await.unwrap(), "nor update_seen at its revision");
    assert!(!backend.touch(&key, TTL).await.unwrap(), "touch must not revive it");
    assert_eq!(get_raw(&backend, &key).await, Some(item), "and the item is as it was");
    assert!(backend.take(&key).await.unwrap().is_none(), "take does not return it");

    put_raw(&backend, raw_item(&key, &one_field("va", b"old"), 42, past)).await;
    assert!(backend.create(&key, &one_field("va", b"new"), TTL).await.unwrap(), "create takes the key of a dead item");
    assert_eq!(backend.load(&key).await.unwrap().map(|s| s.fields), Some(one_field("va", b"new")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_follows_the_backend_clock_not_the_server() {
    let Some(url) = service_url("SESSIONS_DYNAMODB_URL") else { return };
    let clock = manual_clock();
    let backend = ready(local(&url, "clock").clock(Arc::new(clock.clone()))).await;
    let key = testing::random_key();
    assert!(backend.create(&key, &one_field("va", b"1"), Duration::from_secs(60)).await.unwrap());
    let stored = backend.load(&key).await.unwrap().expect("live");
    assert_eq!(stored.ttl, Some(Duration::from_secs(60)));
    assert!(stored.revision.is_some(), "a load returns the revision");
    clock.advance(Duration::from_secs(30));
    assert!(backend.touch(&key, Duration::from_secs(60)).await.unwrap());
    clock.advance(Duration::from_secs(59));
    assert_eq!(backend.load(&key).await.unwrap().and_then(|s| s.ttl), Some(Duration::from_secs(1)));
    clock.advance(Duration::from_secs(1));
    assert!(backend.load(&key).await.unwrap().is_none(), "expired on the backend's clock");
    assert!(!backend.touch(&key, TTL).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_item_loads_as_absent_and_is_removed() {
    let Some(backend) = shared("malformed").await else { return };
    let key = testing::random_key();
    let future = SystemClock.now() + 600;
    let mut torn = raw_item(&key, &one_field("va", b"1"), 7, future);
    torn.insert("record".into(), AttributeValue::B(Blob::new(vec![1, 0xff, 0xff, 0xff, 0x7f])));
    put_raw(&backend, torn).await;
    assert!(backend.load(&key).await.unwrap().is_none(), "a torn record loads as absent");
    assert_eq!(get_raw(&backend, &key).await, None, "and is deleted");

    let mut foreign = raw_item(&key, &one_field("va", b"1"), 7, future);
    foreign.insert("record".into(), AttributeValue::S("not ours".into()));
    foreign.remove("revision");
    put_raw(&backend, foreign).await;
    let patch = Patch { set: one_field("va", b"1"), ..Patch::default() };
    assert!(!backend.update(&key, &patch, TTL).await.unwrap(), "a foreign item is not updated");
    assert!(backend.create(&key, &one_field("va", b"1"), TTL).await.unwrap(), "the key is free again");

    put_raw(&backend, HashMap::from([("id".to_owned(), AttributeValue::S(key.as_str()))])).await;
    assert!(backend.load(&key).await.unwrap().is_none(), "an item of a key alone loads as absent");
}

/// A save that lost its condition to another request's write goes on from
/// the item handed back with the refusal and keeps both requests' values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_save_keeps_what_another_request_wrote() {
    let Some(backend) = shared("stale").await else { return };
    let key = testing::random_key();
    assert!(backend.create(&key, &one_field("va", b"1"), TTL).await.unwrap());
    let loaded = backend.load(&key).await.unwrap().unwrap();
    let other = Patch { set: one_field("vb", b"2"), ..Patch::default() };
    assert!(backend.update(&key, &other, TTL).await.unwrap());
    let ours = Patch { set: one_field("vc", b"3"), ..Patch::default() };
    let mut fields = loaded.fields.clone();
    ours.apply(&mut fields);
    let seen = Seen { revision: loaded.revision.unwrap(), fields: &fields };
    assert!(backend.update_seen(&key, seen, &ours, TTL).await.unwrap());
    let mut expected = one_field("va", b"1");
    expected.extend(&one_field("vb", b"2"));
    expected.extend(&one_field("vc", b"3"));
    assert_eq!(backend.load(&key).await.unwrap().unwrap().fields, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_reads_local_urls() {
    let Some(url) = service_url("SESSIONS_DYNAMODB_URL") else { return };
    let host = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest).trim_end_matches('/');
    let table = unique_table("url");
    let backend = DynamoDbBackend::connect(&format!("dynamodb://{host}/{table}")).await.unwrap();
    assert_eq!(backend.table(), table);
    backend.create_table_if_missing().await.unwrap();
    let key = testing::random_key();
    assert!(backend.create(&key, &one_field("va", b"1"), TTL).await.unwrap());
    assert!(matches!(DynamoDbBackend::connect("redis://127.0.0.1:6379").await, Err(Error::Url { .. })));
}
