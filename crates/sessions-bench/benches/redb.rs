//! Load and save of one typical session (10 values, about 400 bytes) on
//! the embedded stores, all on the same disk in the same run:
//! - redb (`sessions-redb`): every save committed with an `fsync`;
//! - the filesystem backend of `sessions-core`, as configured by default
//!   (write and rename, no `fsync`: survives a killed process, not a power
//!   loss) and `durable(true)` (an `fsync` per save, like redb);
//! - SQLite on a file through `sessions-sql` (WAL, `synchronous=FULL`: an
//!   `fsync` per commit).
//!
//! Besides one request at a time it times 64 concurrent saves of distinct
//! sessions, where redb commits whatever is queued in one transaction.
//!
//! An embedded store makes no network round trips; what a request costs
//! is its backend calls, counted through a `ServerStore` (a load, a save
//! that changed a value, a request that changed nothing) and printed
//! before the timings.
//!
//! Run: `cargo bench -p sessions-bench --bench redb`

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sessions_bench::records::{one_change, random_key, typical_fields};
use sessions_core::backend::{Backend, FilesystemBackend, StorageKey};
use sessions_core::store::Store;
use sessions_core::testing::CountingBackend;
use sessions_core::{CookieOptions, Key, KeyRing, ServerStore, StoreConfig};
use sessions_redb::RedbBackend;
use sessions_sql::SqlBackend;
use tokio::runtime::Runtime;

const TTL: Duration = Duration::from_secs(600);
const CONCURRENT: usize = 64;

/// A directory for this run's files, on the same disk as the others'.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sessions-redb-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// The backend calls of a load, a save after one change and a request
/// that changed nothing, through a `ServerStore`.
fn print_backend_calls(runtime: &Runtime, name: &str, backend: Arc<dyn Backend>) {
    runtime.block_on(async {
        let counting = Arc::new(CountingBackend::new(backend));
        let config =
            StoreConfig::new("id", KeyRing::from(Key::generate())).cookie_options(CookieOptions::new().secure(false));
        let store = ServerStore::new(config, Arc::clone(&counting) as Arc<dyn Backend>).expect("store");
        let session = store.load(&[]).await.expect("load");
        session.insert("count", &0u32).expect("insert");
        let header = store.save(&session).await.expect("save").expect("a new session sets a cookie");
        let cookie = header.split(';').next().and_then(|p| p.split_once('=')).map(|(_, v)| v.to_owned());
        let cookie = cookie.expect("cookie value");
        let count = |c: &CountingBackend| (c.reads(), c.writes(), c.touches());
        let before = count(&counting);
        let session = store.load(&[&cookie]).await.expect("load");
        let loaded = count(&counting);
        session.insert("count", &1u32).expect("insert");
        store.save(&session).await.expect("save");
        let changed = count(&counting);
        let session = store.load(&[&cookie]).await.expect("load");
        let _: Option<u32> = session.get("count").expect("get");
        store.save(&session).await.expect("save");
        let unchanged = count(&counting);
        let calls = |a: (u64, u64, u64), b: (u64, u64, u64)| {
            format!("{} read, {} write, {} touch", b.0 - a.0, b.1 - a.1, b.2 - a.2)
        };
        eprintln!("backend calls, {name:<18} load: {}", calls(before, loaded));
        eprintln!("backend calls, {name:<18} save (1 change): {}", calls(loaded, changed));
        eprintln!("backend calls, {name:<18} request changing nothing: {}", calls(changed, unchanged));
    });
}

fn bench_store(c: &mut Criterion, runtime: &Runtime, name: &str, backend: Arc<dyn Backend>) {
    print_backend_calls(runtime, name, Arc::clone(&backend));
    let key = random_key();
    runtime.block_on(backend.create(&key, &typical_fields(), TTL)).expect("create");
    let keys: Vec<StorageKey> = (0..CONCURRENT).map(|_| random_key()).collect();
    runtime.block_on(async {
        for key in &keys {
            backend.create(key, &typical_fields(), TTL).await.expect("create");
        }
    });

    let mut group = c.benchmark_group(format!("embedded_{name}"));
    group.bench_function("load_typical_session", |b| {
        b.to_async(runtime).iter(|| async { backend.load(&key).await.expect("load").expect("record") })
    });
    group.bench_function("save_one_change", |b| {
        b.to_async(runtime).iter(|| async { assert!(backend.update(&key, &one_change(), TTL).await.expect("save")) })
    });
    group.bench_function("touch", |b| {
        b.to_async(runtime).iter(|| async { assert!(backend.touch(&key, TTL).await.expect("touch")) })
    });
    group.bench_function(format!("{CONCURRENT}_concurrent_saves"), |b| {
        b.to_async(runtime).iter(|| async {
            let saves: Vec<_> = keys
                .iter()
                .map(|key| {
                    let (backend, key) = (Arc::clone(&backend), key.clone());
                    tokio::spawn(async move { backend.update(&key, &one_change(), TTL).await.expect("save") })
                })
                .collect();
            for save in saves {
                assert!(save.await.expect("save task"));
            }
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = scratch();

    let redb = RedbBackend::open(dir.join("sessions.redb")).expect("redb");
    bench_store(c, &runtime, "redb", Arc::new(redb));

    let fs = FilesystemBackend::new(dir.join("fs")).expect("filesystem");
    bench_store(c, &runtime, "filesystem", Arc::new(fs));
    let fs_durable = FilesystemBackend::builder().durable(true).open(dir.join("fs-durable")).expect("filesystem");
    bench_store(c, &runtime, "filesystem_durable", Arc::new(fs_durable));

    let url = format!("sqlite:{}", dir.join("sessions.db").display());
    let sqlite = runtime.block_on(SqlBackend::connect(&url)).expect("sqlite");
    bench_store(c, &runtime, "sqlite_file", Arc::new(sqlite));

    let _ = std::fs::remove_dir_all(dir);
}

criterion_group! {
    name = redb;
    // Saves wait for the disk: fewer, longer samples keep the run short.
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = benches
}
criterion_main!(redb);
