//! Load and save of one typical session (10 values, about 400 bytes) on
//! each SQL engine: PostgreSQL (`SESSIONS_POSTGRES_URL`), MariaDB/MySQL
//! (`SESSIONS_MYSQL_URL`) and SQLite in memory (always). The floor next to
//! each is one raw `SELECT data ... WHERE id = ?` on the same table.
//!
//! Round trips per request on the networked engines are counted, not
//! assumed: a counting pass talks through a local TCP relay that counts how
//! often the client speaks after the server has answered, for the
//! backend's calls and for whole requests through a `ServerStore` (load,
//! changed save, unchanged save), written to
//! `target/sessions-bench/roundtrips-<engine>.json`.
//!
//! Run: `SESSIONS_POSTGRES_URL=... SESSIONS_MYSQL_URL=... cargo bench -p sessions-bench --bench sql`

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sessions_bench::records::{one_change, random_key, typical_fields};
use sessions_core::backend::{Backend, StorageKey};
use sessions_sql::SqlBackend;
use sessions_testkit::relay::{RoundTrips, store_round_trips};
use tokio::runtime::Runtime;

const TTL: Duration = Duration::from_secs(600);
const COUNTED_REQUESTS: u64 = 200;
const TABLE: &str = "bench_sessions";

/// One run of the floor query.
type Floor = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// `scheme://user@host:port/db` with `host:port` replaced by `address`.
fn via(url: &str, address: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let (user, rest) = match rest.split_once('@') {
        Some((user, rest)) => (format!("{user}@"), rest),
        None => (String::new(), rest),
    };
    let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    let default_port = if scheme.starts_with("postgres") { 5432 } else { 3306 };
    let upstream = if host.contains(':') { host.to_owned() } else { format!("{host}:{default_port}") };
    Some((upstream, format!("{scheme}://{user}{address}/{path}")))
}

async fn backend(url: &str) -> (SqlBackend, StorageKey) {
    let backend = SqlBackend::builder().table(TABLE).connect(url).await.expect("connect");
    let key = random_key();
    backend.create(&key, &typical_fields(), TTL).await.expect("create");
    (backend, key)
}

/// The floor: one raw query for the row, through sqlx directly, on a pool
/// that does not ping before each use (sqlx's default does, which doubles
/// the round trips).
async fn floor(url: &str, key: &StorageKey) -> Box<dyn Fn() -> Floor + Send + Sync> {
    let id = key.as_bytes().to_vec();
    if url.starts_with("postgres") {
        let pool = sqlx::postgres::PgPoolOptions::new().test_before_acquire(false).connect(url).await.expect("pool");
        Box::new(move || {
            let (pool, id) = (pool.clone(), id.clone());
            Box::pin(async move {
                let _: (Vec<u8>,) = sqlx::query_as("SELECT data FROM bench_sessions WHERE id = $1")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .expect("floor select");
            })
        })
    } else if url.starts_with("mysql") {
        let pool = sqlx::mysql::MySqlPoolOptions::new().test_before_acquire(false).connect(url).await.expect("pool");
        Box::new(move || {
            let (pool, id) = (pool.clone(), id.clone());
            Box::pin(async move {
                let _: (Vec<u8>,) = sqlx::query_as("SELECT data FROM bench_sessions WHERE id = ?")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .expect("floor select");
            })
        })
    } else {
        unreachable!("the floor is only measured on networked engines")
    }
}

/// On a current-thread runtime, so traffic a client sends after an answer
/// (sqlx pings a connection going back to its pool) is counted apart (see
/// `store_round_trips`).
fn print_round_trips(name: &str, url: &str) {
    let Some((upstream, _)) = via(url, "") else {
        eprintln!("round trips on {name}: not counted (URL not understood)");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let (relay, trips) = RoundTrips::relay(upstream).await;
        let Some((_, relayed)) = via(url, &relay) else { return };
        let (b, key) = backend(&relayed).await;
        let floor = floor(&relayed, &key).await;
        macro_rules! count {
            ($what:expr, $op:expr) => {{
                let before = trips.count();
                for _ in 0..COUNTED_REQUESTS {
                    $op;
                }
                let after = trips.count();
                eprintln!(
                    "round trips per request, {name} {:<22} {:.2}",
                    $what,
                    (after - before) as f64 / COUNTED_REQUESTS as f64
                );
            }};
        }
        count!("floor SELECT:", floor().await);
        count!("load:", b.load(&key).await.expect("load"));
        count!("save (1 change):", b.update(&key, &one_change(), TTL).await.expect("save"));
        count!("touch:", b.touch(&key, TTL).await.expect("touch"));
        let store = store_round_trips(Arc::new(b), &trips, COUNTED_REQUESTS).await;
        eprintln!(
            "round trips per request through ServerStore on {name}: load {:.2}, changed save {:.2}, unchanged save {:.2}, after the answer {:.2}",
            store.load, store.changed_save, store.unchanged_save, store.after_the_request
        );
        write_results(name, &format!(
            "{{\"engine\": \"{name}\", \"load\": {}, \"changed_save\": {}, \"unchanged_save\": {}, \"after_the_request\": {}}}",
            store.load, store.changed_save, store.unchanged_save, store.after_the_request
        ));
    });
}

/// Leaves the counted round trips where `cargo xtask bench` reads them:
/// `target/sessions-bench/roundtrips-<engine>.json`.
fn write_results(engine: &str, json: &str) {
    let dir = sessions_bench::results_dir();
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(format!("roundtrips-{engine}.json")), json);
    }
}

fn bench_engine(c: &mut Criterion, runtime: &Runtime, name: &str, url: &str) {
    let networked = !url.starts_with("sqlite");
    if networked {
        print_round_trips(name, url);
    }
    let (b, key) = runtime.block_on(backend(url));
    let mut group = c.benchmark_group(format!("sql_{name}"));
    if networked {
        let floor = runtime.block_on(floor(url, &key));
        group.bench_function("floor_raw_select", |bench| bench.to_async(runtime).iter(&floor));
    }
    group.bench_function("load_typical_session", |bench| {
        bench.to_async(runtime).iter(|| async { b.load(&key).await.expect("load") })
    });
    group.bench_function("save_one_change", |bench| {
        bench.to_async(runtime).iter(|| async { b.update(&key, &one_change(), TTL).await.expect("save") })
    });
    group.finish();
    runtime.block_on(async { b.delete(&key).await.expect("delete") });
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    for (name, var) in [("postgres", "SESSIONS_POSTGRES_URL"), ("mysql", "SESSIONS_MYSQL_URL")] {
        match std::env::var(var) {
            Ok(url) => bench_engine(c, &runtime, name, &url),
            Err(_) => eprintln!("skipped: {var} is not set"),
        }
    }
    bench_engine(c, &runtime, "sqlite_memory", "sqlite::memory:");
}

criterion_group!(sql, benches);
criterion_main!(sql);
