//! Load and save of one typical session (10 values, about 400 bytes) on
//! the MongoDB-compatible server in `SESSIONS_MONGODB_URL`, against the
//! floor: one raw `find` by `_id` of a 400-byte document on the same
//! server through the same driver.
//!
//! Round trips per request are counted, not assumed: the clients talk
//! through a local TCP relay that counts how often a client speaks after
//! the server has answered. The driver's server monitor talks through it
//! too, so it is set to poll once an hour: after its first check, what the
//! relay counts is the operations. The counts are printed before the
//! timings.
//!
//! Run: `SESSIONS_MONGODB_URL='mongodb://127.0.0.1:27017/test?directConnection=true' cargo bench -p sessions-bench --bench mongodb`

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mongodb::bson::{Document, doc};
use mongodb::options::{ClientOptions, ServerAddress, ServerMonitoringMode};
use mongodb::{Client, Collection};
use sessions_bench::records::{one_change, random_key, typical_fields};
use sessions_core::backend::{Backend, Seen, StorageKey, Stored};
use sessions_mongodb::MongoDbBackend;
use sessions_testkit::relay::RoundTrips;

const TTL: Duration = Duration::from_secs(600);
const COUNTED_REQUESTS: u64 = 200;
const FLOOR_ID: &str = "bench:floor";

/// The save of a loaded session, as a server store makes it: the loaded
/// record with the change, under the revision of the load.
async fn save_loaded(ours: &MongoDbBackend, key: &StorageKey, loaded: Stored) {
    let patch = one_change();
    let mut fields = loaded.fields;
    patch.apply(&mut fields);
    let seen = Seen { revision: loaded.revision.expect("a load returns the revision"), fields: &fields };
    assert!(ours.update_seen(key, seen, &patch, TTL).await.expect("save"));
}

struct Subjects {
    ours: MongoDbBackend,
    key: StorageKey,
    raw: Collection<Document>,
}

/// The backend and the floor's collection on `url`'s database, through
/// `relay` (`host:port`) when given.
async fn subjects(url: &str, relay: Option<&str>) -> Subjects {
    let mut options = ClientOptions::parse(url).await.expect("connection string");
    let database = options.default_database.clone().expect("a database in the connection string");
    if let Some(relay) = relay {
        let (host, port) = relay.rsplit_once(':').expect("host:port");
        options.hosts = vec![ServerAddress::Tcp { host: host.to_owned(), port: port.parse().ok() }];
        options.direct_connection = Some(true);
        options.server_monitoring_mode = Some(ServerMonitoringMode::Poll);
        options.heartbeat_freq = Some(Duration::from_secs(3600));
    }
    let client = Client::with_options(options).expect("client");
    let database = client.database(&database);
    let ours = MongoDbBackend::builder().collection("bench_sessions").build(database.clone()).expect("backend");
    ours.create_indexes_if_missing().await.expect("indexes");
    let key = random_key();
    ours.create(&key, &typical_fields(), TTL).await.expect("create");
    let raw = database.collection::<Document>("bench_floor");
    let floor = doc! { "_id": FLOOR_ID, "v": "x".repeat(400) };
    raw.replace_one(doc! { "_id": FLOOR_ID }, floor).upsert(true).await.expect("floor document");
    Subjects { ours, key, raw }
}

async fn floor_find(s: &Subjects) {
    let found = s.raw.find_one(doc! { "_id": FLOOR_ID }).await.expect("find").expect("the floor document");
    assert_eq!(found.get_str("v").map(str::len).ok(), Some(400));
}

fn print_round_trips(runtime: &tokio::runtime::Runtime, url: &str) {
    runtime.block_on(async {
        let options = ClientOptions::parse(url).await.expect("connection string");
        let upstream = match &options.hosts[0] {
            ServerAddress::Tcp { host, port } => format!("{host}:{}", port.unwrap_or(27017)),
            other => panic!("the relay needs a TCP server: {other:?}"),
        };
        let (relay, trips) = RoundTrips::relay(upstream).await;
        let s = subjects(url, Some(&relay)).await;
        macro_rules! count {
            ($name:expr, $op:expr) => {{
                let before = trips.count();
                for _ in 0..COUNTED_REQUESTS {
                    $op;
                }
                let after = trips.count();
                eprintln!(
                    "round trips per request, {:<44} {:.2}",
                    $name,
                    (after - before) as f64 / COUNTED_REQUESTS as f64
                );
            }};
        }
        count!("floor find by _id:", floor_find(&s).await);
        count!("sessions-mongodb load:", s.ours.load(&s.key).await.expect("load"));
        count!("sessions-mongodb update (1 change):", s.ours.update(&s.key, &one_change(), TTL).await.expect("save"));
        let mut seen = 0;
        for _ in 0..COUNTED_REQUESTS {
            let loaded = s.ours.load(&s.key).await.expect("load").expect("record");
            let before = trips.count();
            save_loaded(&s.ours, &s.key, loaded).await;
            seen += trips.count() - before;
        }
        eprintln!(
            "round trips per request, {:<44} {:.2}",
            "sessions-mongodb update_seen (1 change):",
            seen as f64 / COUNTED_REQUESTS as f64
        );
        count!("sessions-mongodb touch:", s.ours.touch(&s.key, TTL).await.expect("touch"));
        count!("sessions-mongodb create:", s.ours.create(&random_key(), &typical_fields(), TTL).await.expect("create"));
    });
}

fn benches(c: &mut Criterion) {
    let Ok(url) = std::env::var("SESSIONS_MONGODB_URL") else {
        eprintln!("skipped: SESSIONS_MONGODB_URL is not set");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    print_round_trips(&runtime, &url);
    let s = runtime.block_on(subjects(&url, None));

    let mut load = c.benchmark_group("mongodb_load_typical_session");
    load.bench_function("floor_raw_find_400B", |b| b.to_async(&runtime).iter(|| floor_find(&s)));
    load.bench_function("sessions_mongodb", |b| {
        b.to_async(&runtime).iter(|| async { s.ours.load(&s.key).await.expect("load").expect("record") })
    });
    load.finish();

    let mut save = c.benchmark_group("mongodb_save_one_change");
    save.bench_function("sessions_mongodb", |b| {
        b.to_async(&runtime).iter(|| async { assert!(s.ours.update(&s.key, &one_change(), TTL).await.expect("save")) })
    });
    save.bench_function("sessions_mongodb_touch", |b| {
        b.to_async(&runtime).iter(|| async { assert!(s.ours.touch(&s.key, TTL).await.expect("touch")) })
    });
    save.finish();

    // A request that changes its session: load, then save through `update`
    // (read and write under the revision) or `update_seen` (one write under
    // the load's revision).
    let mut request = c.benchmark_group("mongodb_load_and_save_one_change");
    request.bench_function("update", |b| {
        b.to_async(&runtime).iter(|| async {
            s.ours.load(&s.key).await.expect("load").expect("record");
            assert!(s.ours.update(&s.key, &one_change(), TTL).await.expect("save"));
        })
    });
    request.bench_function("update_seen", |b| {
        b.to_async(&runtime).iter(|| async {
            let loaded = s.ours.load(&s.key).await.expect("load").expect("record");
            save_loaded(&s.ours, &s.key, loaded).await;
        })
    });
    request.finish();
}

criterion_group!(mongodb, benches);
criterion_main!(mongodb);
