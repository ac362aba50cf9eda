//! Load and save of one typical session (10 values, about 400 bytes) on
//! the DynamoDB-compatible server in `SESSIONS_DYNAMODB_URL`, against the
//! floor: one raw strongly consistent `GetItem` of a 400-byte item on the
//! same table through the same SDK client.
//!
//! Round trips per request are counted, not assumed: every client talks
//! through a local TCP relay that counts how often the client speaks after
//! the server has answered. The counts are printed before the timings.
//!
//! Run: `SESSIONS_DYNAMODB_URL=http://127.0.0.1:8000 cargo bench -p sessions-bench --bench dynamodb`

use std::time::Duration;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use criterion::{Criterion, criterion_group, criterion_main};
use sessions_bench::records::{one_change, random_key, typical_fields};
use sessions_core::backend::{Backend, Seen, StorageKey, Stored};
use sessions_dynamodb::DynamoDbBackend;
use sessions_testkit::relay::RoundTrips;

const TTL: Duration = Duration::from_secs(600);
const COUNTED_REQUESTS: u64 = 100;
const FLOOR_KEY: &str = "bench-floor";

/// The save of a loaded session, as a server store makes it: the loaded
/// record with the change, conditioned on the revision of the load.
async fn save_loaded(ours: &DynamoDbBackend, key: &StorageKey, loaded: Stored) {
    let patch = one_change();
    let mut fields = loaded.fields;
    patch.apply(&mut fields);
    let seen = Seen { revision: loaded.revision.expect("a load returns the revision"), fields: &fields };
    assert!(ours.update_seen(key, seen, &patch, TTL).await.expect("save"));
}

struct Subjects {
    ours: DynamoDbBackend,
    key: StorageKey,
}

/// A backend on a fresh table at `endpoint`, a session in it, and the
/// floor's item beside it.
async fn subjects(endpoint: &str) -> Subjects {
    let table = format!("sessions-bench-{}", random_key().as_str().get(..12).unwrap_or_default());
    let ours = DynamoDbBackend::connect_local(endpoint, &table).expect("backend");
    ours.create_table_if_missing().await.expect("table");
    let key = random_key();
    ours.create(&key, &typical_fields(), TTL).await.expect("create");
    ours.client()
        .put_item()
        .table_name(ours.table())
        .item("id", AttributeValue::S(FLOOR_KEY.into()))
        .item("record", AttributeValue::B(Blob::new(vec![b'x'; 400])))
        .send()
        .await
        .expect("floor item");
    Subjects { ours, key }
}

async fn floor_get(s: &Subjects) {
    let item = s
        .ours
        .client()
        .get_item()
        .table_name(s.ours.table())
        .key("id", AttributeValue::S(FLOOR_KEY.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
        .item
        .expect("floor item");
    assert_eq!(item.get("record").and_then(|v| v.as_b().ok()).map(|b| b.as_ref().len()), Some(400));
}

fn print_round_trips(runtime: &tokio::runtime::Runtime, url: &str) {
    let upstream = url.split_once("://").map_or(url, |(_, rest)| rest).trim_end_matches('/').to_owned();
    runtime.block_on(async {
        let (relay, trips) = RoundTrips::relay(upstream).await;
        let s = subjects(&format!("http://{relay}")).await;
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
        count!("floor GetItem:", floor_get(&s).await);
        count!("sessions-dynamodb load:", s.ours.load(&s.key).await.expect("load"));
        count!("sessions-dynamodb update (1 change):", s.ours.update(&s.key, &one_change(), TTL).await.expect("save"));
        let mut seen = 0;
        for _ in 0..COUNTED_REQUESTS {
            let loaded = s.ours.load(&s.key).await.expect("load").expect("record");
            let before = trips.count();
            save_loaded(&s.ours, &s.key, loaded).await;
            seen += trips.count() - before;
        }
        eprintln!(
            "round trips per request, {:<44} {:.2}",
            "sessions-dynamodb update_seen (1 change):",
            seen as f64 / COUNTED_REQUESTS as f64
        );
        count!("sessions-dynamodb touch:", s.ours.touch(&s.key, TTL).await.expect("touch"));
        count!(
            "sessions-dynamodb create:",
            s.ours.create(&random_key(), &typical_fields(), TTL).await.expect("create")
        );
    });
}

fn benches(c: &mut Criterion) {
    let Ok(url) = std::env::var("SESSIONS_DYNAMODB_URL") else {
        eprintln!("skipped: SESSIONS_DYNAMODB_URL is not set");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    print_round_trips(&runtime, &url);
    let s = runtime.block_on(subjects(&url));

    let mut load = c.benchmark_group("dynamodb_load_typical_session");
    load.bench_function("floor_raw_get_item_400B", |b| b.to_async(&runtime).iter(|| floor_get(&s)));
    load.bench_function("sessions_dynamodb", |b| {
        b.to_async(&runtime).iter(|| async { s.ours.load(&s.key).await.expect("load").expect("record") })
    });
    load.finish();

    let mut save = c.benchmark_group("dynamodb_save_one_change");
    save.bench_function("sessions_dynamodb", |b| {
        b.to_async(&runtime).iter(|| async { assert!(s.ours.update(&s.key, &one_change(), TTL).await.expect("save")) })
    });
    save.bench_function("sessions_dynamodb_touch", |b| {
        b.to_async(&runtime).iter(|| async { assert!(s.ours.touch(&s.key, TTL).await.expect("touch")) })
    });
    save.finish();

    // A request that changes its session: load, then save through `update`
    // (read and conditional write) or `update_seen` (one conditional write
    // on the load's revision).
    let mut request = c.benchmark_group("dynamodb_load_and_save_one_change");
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

criterion_group!(dynamodb, benches);
criterion_main!(dynamodb);
