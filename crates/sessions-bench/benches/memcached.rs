//! Load and save of one typical session (10 values, about 400 bytes) on
//! the memcached in `SESSIONS_MEMCACHED_URL`, against the floor: one raw
//! `mg` of a 400-byte item on the same server through the same client
//! crate.
//!
//! Round trips per request are counted, not assumed: every client talks
//! through a local TCP relay that counts how often the client speaks after
//! the server has answered. The counts are printed before the timings.
//!
//! Run: `SESSIONS_MEMCACHED_URL=memcache://127.0.0.1:11211 cargo bench -p sessions-bench --bench memcached`

use std::sync::Arc;
use std::time::Duration;

use async_memcached::{Client, MetaProtocol};
use criterion::{Criterion, criterion_group, criterion_main};
use sessions_bench::records::{one_change, random_key, typical_fields};
use sessions_core::backend::{Backend, Seen, StorageKey, Stored};
use sessions_memcached::MemcachedBackend;
use sessions_testkit::relay::RoundTrips;
use tokio::sync::Mutex;

const TTL: Duration = Duration::from_secs(600);
const COUNTED_REQUESTS: u64 = 200;
const FLOOR_KEY: &str = "bench:floor";

/// The save of a loaded session, as a server store makes it: the loaded
/// record with the change, under the CAS token of the load.
async fn save_loaded(ours: &MemcachedBackend, key: &StorageKey, loaded: Stored) {
    let patch = one_change();
    let mut fields = loaded.fields;
    patch.apply(&mut fields);
    let seen = Seen { revision: loaded.revision.expect("a load returns the CAS token"), fields: &fields };
    assert!(ours.update_seen(key, seen, &patch, TTL).await.expect("save"));
}

struct Subjects {
    ours: MemcachedBackend,
    key: StorageKey,
    raw: Arc<Mutex<Client>>,
}

async fn subjects(url: &str) -> Subjects {
    let ours = MemcachedBackend::builder().key_prefix("bench:ours:").connect(url).await.expect("connect");
    let key = random_key();
    ours.create(&key, &typical_fields(), TTL).await.expect("create");
    let mut raw = Client::new(url.replace("memcache://", "tcp://")).await.expect("raw client");
    raw.meta_set(FLOOR_KEY, "x".repeat(400).as_str(), false, None, Some(&["T600"])).await.expect("set");
    Subjects { ours, key, raw: Arc::new(Mutex::new(raw)) }
}

async fn floor_get(s: &Subjects) {
    let value = s.raw.lock().await.meta_get(FLOOR_KEY, false, None, Some(&["v"])).await.expect("get");
    assert_eq!(value.and_then(|v| v.data).map(|d| d.len()), Some(400));
}

fn print_round_trips(runtime: &tokio::runtime::Runtime, url: &str) {
    let upstream = url.trim_start_matches("memcache://").trim_end_matches('/').to_owned();
    runtime.block_on(async {
        let (relay, trips) = RoundTrips::relay(upstream).await;
        let s = subjects(&format!("memcache://{relay}")).await;
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
        count!("floor mg:", floor_get(&s).await);
        count!("sessions-memcached load:", s.ours.load(&s.key).await.expect("load"));
        count!("sessions-memcached update (1 change):", s.ours.update(&s.key, &one_change(), TTL).await.expect("save"));
        let mut seen = 0;
        for _ in 0..COUNTED_REQUESTS {
            let loaded = s.ours.load(&s.key).await.expect("load").expect("record");
            let before = trips.count();
            save_loaded(&s.ours, &s.key, loaded).await;
            seen += trips.count() - before;
        }
        eprintln!(
            "round trips per request, {:<44} {:.2}",
            "sessions-memcached update_seen (1 change):",
            seen as f64 / COUNTED_REQUESTS as f64
        );
        count!("sessions-memcached touch:", s.ours.touch(&s.key, TTL).await.expect("touch"));
        count!(
            "sessions-memcached create:",
            s.ours.create(&random_key(), &typical_fields(), TTL).await.expect("create")
        );
    });
}

fn benches(c: &mut Criterion) {
    let Ok(url) = std::env::var("SESSIONS_MEMCACHED_URL") else {
        eprintln!("skipped: SESSIONS_MEMCACHED_URL is not set");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    print_round_trips(&runtime, &url);
    let s = runtime.block_on(subjects(&url));

    let mut load = c.benchmark_group("memcached_load_typical_session");
    load.bench_function("floor_raw_mg_400B", |b| b.to_async(&runtime).iter(|| floor_get(&s)));
    load.bench_function("sessions_memcached", |b| {
        b.to_async(&runtime).iter(|| async { s.ours.load(&s.key).await.expect("load").expect("record") })
    });
    load.finish();

    let mut save = c.benchmark_group("memcached_save_one_change");
    save.bench_function("sessions_memcached", |b| {
        b.to_async(&runtime).iter(|| async { assert!(s.ours.update(&s.key, &one_change(), TTL).await.expect("save")) })
    });
    save.bench_function("sessions_memcached_touch", |b| {
        b.to_async(&runtime).iter(|| async { assert!(s.ours.touch(&s.key, TTL).await.expect("touch")) })
    });
    save.finish();

    // A request that changes its session: load, then save through `update`
    // (read and swap) or `update_seen` (one swap under the load's token).
    let mut request = c.benchmark_group("memcached_load_and_save_one_change");
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

criterion_group!(memcached, benches);
criterion_main!(memcached);
