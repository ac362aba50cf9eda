//! Load and save of one typical session (10 values, about 400 bytes) on
//! the Redis in `SESSIONS_REDIS_URL`, against:
//! - the floor: one raw `GET` of a 400-byte string on the same server;
//! - the peer: actix-session's `RedisSessionStore` doing the same work
//!   (load the session; save it after one value changed);
//! - both in one request: a load, then a save of one change (ours at the
//!   revision it loaded, the update script's fast path).
//!
//! Round trips per request are counted, not assumed: every client talks
//! through a local TCP relay that counts how often the client speaks after
//! the server has answered. The counts are printed before the timings.
//!
//! With `SESSIONS_REDIS_SENTINEL_URL` (`redis+sentinel://host:port/service`)
//! the same load and save go through Sentinel to the primary it names.
//!
//! Run: `SESSIONS_REDIS_URL=redis://127.0.0.1:6379 cargo bench -p sessions-bench --bench redis`

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_session::storage::{RedisSessionStore, SessionKey, SessionStore};
use criterion::{Criterion, criterion_group, criterion_main};
use sessions_bench::records::{one_change, typical_fields};
use sessions_core::backend::{Backend, Seen, StorageKey};
use sessions_redis::RedisBackend;
use sessions_testkit::relay::{RoundTrips, store_round_trips};

const TTL: Duration = Duration::from_secs(600);
const COUNTED_REQUESTS: u64 = 200;

fn typical_state() -> HashMap<String, String> {
    (0..10).map(|i| (format!("key{i}"), format!("\"value-{i}-{}\"", "x".repeat(28)))).collect()
}

fn storage_key(n: u8) -> StorageKey {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("OS RNG");
    bytes[0] = n;
    StorageKey::from_bytes(bytes)
}

struct Subjects {
    ours: RedisBackend,
    ours_key: StorageKey,
    peer: RedisSessionStore,
    peer_key: String,
    raw: redis::aio::ConnectionManager,
    raw_key: String,
}

async fn subjects(url: &str) -> Subjects {
    let ours = RedisBackend::builder().key_prefix("bench:ours:").connect(url).await.expect("connect");
    let ours_key = storage_key(1);
    ours.create(&ours_key, &typical_fields(), TTL).await.expect("create");

    let peer = RedisSessionStore::new(url).await.expect("actix-session store");
    let ttl = actix_web::cookie::time::Duration::seconds(600);
    let peer_key = peer.save(typical_state(), &ttl).await.expect("peer save").as_ref().to_owned();

    let client = redis::Client::open(url).expect("client");
    let raw = redis::aio::ConnectionManager::new(client).await.expect("raw connection");
    let raw_key = "bench:floor".to_owned();
    let mut conn = raw.clone();
    let _: () = redis::cmd("SET").arg(&raw_key).arg("x".repeat(400)).query_async(&mut conn).await.expect("set");
    Subjects { ours, ours_key, peer, peer_key, raw, raw_key }
}

async fn peer_load(s: &Subjects) {
    let key = SessionKey::try_from(s.peer_key.clone()).expect("key");
    let state = s.peer.load(&key).await.expect("peer load");
    assert!(state.is_some());
}

async fn peer_save(s: &Subjects) {
    let key = SessionKey::try_from(s.peer_key.clone()).expect("key");
    let mut state = typical_state();
    state.insert("key3".into(), "\"changed\"".into());
    let ttl = actix_web::cookie::time::Duration::seconds(600);
    s.peer.update(key, state, &ttl).await.expect("peer update");
}

async fn floor_get(s: &Subjects) {
    let mut conn = s.raw.clone();
    let value: Vec<u8> = redis::cmd("GET").arg(&s.raw_key).query_async(&mut conn).await.expect("get");
    assert_eq!(value.len(), 400);
}

/// On a current-thread runtime, so traffic a client sends after an answer
/// is counted apart (see `store_round_trips`).
fn print_round_trips(url: &str) {
    let upstream = match redis::Client::open(url).map(|c| c.get_connection_info().addr().clone()) {
        Ok(redis::ConnectionAddr::Tcp(host, port)) => format!("{host}:{port}"),
        _ => {
            eprintln!("round trips: not counted (only plain TCP URLs are relayed)");
            return;
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let (relay, trips) = RoundTrips::relay(upstream).await;
        let relayed = format!("redis://{relay}");
        let s = subjects(&relayed).await;
        macro_rules! count {
            ($name:expr, $op:expr) => {{
                let before = trips.count();
                for _ in 0..COUNTED_REQUESTS {
                    $op;
                }
                let after = trips.count();
                let per = (after - before) as f64 / COUNTED_REQUESTS as f64;
                eprintln!("round trips per request, {:<32} {:.2}", $name, per);
                per
            }};
        }
        count!("floor GET:", floor_get(&s).await);
        count!("sessions-redis load:", s.ours.load(&s.ours_key).await.expect("load"));
        count!("sessions-redis save (1 change):", s.ours.update(&s.ours_key, &one_change(), TTL).await.expect("save"));
        count!("sessions-redis touch:", s.ours.touch(&s.ours_key, TTL).await.expect("touch"));
        let peer_load_trips = count!("actix-session load:", peer_load(&s).await);
        let peer_save_trips = count!("actix-session save (1 change):", peer_save(&s).await);
        let backend = RedisBackend::builder().key_prefix("bench:store:").connect(&relayed).await.expect("connect");
        let store = store_round_trips(Arc::new(backend), &trips, COUNTED_REQUESTS).await;
        eprintln!(
            "round trips per request through ServerStore: load {:.2}, changed save {:.2}, unchanged save {:.2}, after the answer {:.2}",
            store.load, store.changed_save, store.unchanged_save, store.after_the_request
        );
        write_results(&format!(
            "{{\"engine\": \"redis\", \"load\": {}, \"changed_save\": {}, \"unchanged_save\": {}, \"after_the_request\": {}, \"peer\": \"actix-session RedisSessionStore\", \"peer_load\": {peer_load_trips}, \"peer_save\": {peer_save_trips}}}",
            store.load, store.changed_save, store.unchanged_save, store.after_the_request
        ));
    });
}

/// Leaves the counted round trips where `cargo xtask bench` reads them:
/// `target/sessions-bench/roundtrips-redis.json`.
fn write_results(json: &str) {
    let dir = sessions_bench::results_dir();
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join("roundtrips-redis.json"), json);
    }
}

fn benches(c: &mut Criterion) {
    let Ok(url) = std::env::var("SESSIONS_REDIS_URL") else {
        eprintln!("skipped: SESSIONS_REDIS_URL is not set");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    print_round_trips(&url);
    let s = runtime.block_on(subjects(&url));
    let sentinel = std::env::var("SESSIONS_REDIS_SENTINEL_URL").ok().map(|url| {
        runtime.block_on(async {
            let backend = RedisBackend::builder()
                .key_prefix("bench:sentinel:")
                .connect(&url)
                .await
                .expect("connect via Sentinel");
            let key = storage_key(2);
            backend.create(&key, &typical_fields(), TTL).await.expect("create");
            (backend, key)
        })
    });

    let mut load = c.benchmark_group("redis_load_typical_session");
    load.bench_function("floor_raw_get_400B", |b| b.to_async(&runtime).iter(|| floor_get(&s)));
    load.bench_function("sessions_redis", |b| {
        b.to_async(&runtime).iter(|| async { s.ours.load(&s.ours_key).await.expect("load") })
    });
    load.bench_function("actix_session_redis", |b| b.to_async(&runtime).iter(|| peer_load(&s)));
    if let Some((backend, key)) = &sentinel {
        load.bench_function("sessions_redis_sentinel", |b| {
            b.to_async(&runtime).iter(|| async { backend.load(key).await.expect("load") })
        });
    }
    load.finish();

    let mut save = c.benchmark_group("redis_save_one_change");
    save.bench_function("sessions_redis", |b| {
        b.to_async(&runtime).iter(|| async { s.ours.update(&s.ours_key, &one_change(), TTL).await.expect("save") })
    });
    save.bench_function("actix_session_redis", |b| b.to_async(&runtime).iter(|| peer_save(&s)));
    if let Some((backend, key)) = &sentinel {
        save.bench_function("sessions_redis_sentinel", |b| {
            b.to_async(&runtime).iter(|| async { backend.update(key, &one_change(), TTL).await.expect("save") })
        });
    }
    save.finish();

    // A request as a server store makes it: load, then save one change at
    // the revision loaded, which the update script takes as its fast path.
    let mut request = c.benchmark_group("redis_request_load_and_save");
    request.bench_function("sessions_redis", |b| b.to_async(&runtime).iter(|| our_request(&s.ours, &s.ours_key)));
    request.bench_function("actix_session_redis", |b| {
        b.to_async(&runtime).iter(|| async {
            peer_load(&s).await;
            peer_save(&s).await;
        })
    });
    request.finish();
}

async fn our_request(backend: &RedisBackend, key: &StorageKey) {
    let loaded = backend.load(key).await.expect("load").expect("a live session");
    let patch = one_change();
    let mut fields = loaded.fields;
    patch.apply(&mut fields);
    let seen = Seen { revision: loaded.revision.expect("a Redis record has a revision"), fields: &fields };
    assert!(backend.update_seen(key, seen, &patch, TTL).await.expect("save"));
}

criterion_group!(redis, benches);
criterion_main!(redis);
