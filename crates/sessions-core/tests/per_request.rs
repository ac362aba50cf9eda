//! What one request costs the core: the allocations of the common
//! requests are pinned, and a request that only reads writes nothing to the
//! backend and encodes no cookie.
//!
//! Allocations are counted by a counting global allocator for the whole
//! process, so this file holds a single test: nothing else runs beside it.

use std::alloc::System;
use std::sync::Arc;

use sessions_core::backend::{Backend, MemoryBackend};
use sessions_core::testing::{self, CookieEncodes, CountingBackend};
use sessions_core::{CookieOptions, CookieStore, Key, KeyRing, Registry, ServerStore, StoreConfig};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The most allocations (reallocations included) each common request may
/// make, as measured when they were pinned, the list of headers `finish`
/// hands back included (an adapter converts them into its own type; here
/// they stay their names). A change that makes one allocate more fails
/// here: lower the pin when a change saves some.
const PINNED: [(&str, usize); 5] = [
    ("memory store, read and write a counter", 6),
    ("memory store, read only", 4),
    ("cookie store, read and write a counter", 6),
    ("cookie store, read only", 4),
    ("memory store, new session", 10),
];

fn config() -> StoreConfig {
    StoreConfig::new("id", KeyRing::from(Key::generate())).cookie_options(CookieOptions::new().secure(false))
}

async fn read_write(registry: &Registry, cookie: Option<&str>) -> Option<String> {
    let sessions = registry.request(cookie);
    let session = sessions.default_session().await.unwrap();
    let count = session.get::<u64>("count").unwrap().unwrap_or(0) + 1;
    session.insert("count", &count).unwrap();
    let finished = sessions.finish(200, None, testing::header_pair).await;
    assert!(finished.errors.is_empty(), "{:?}", finished.errors);
    finished.values("set-cookie").next().map(str::to_owned)
}

async fn read_only(registry: &Registry, cookie: &str) -> Option<String> {
    let sessions = registry.request([cookie]);
    let count = sessions.default_session().await.unwrap().get::<u64>("count").unwrap();
    assert!(count.is_some(), "the session was loaded");
    sessions.finish(200, None, testing::header_pair).await.values("set-cookie").next().map(str::to_owned)
}

/// A request as [`read_write`] or [`read_only`] makes it, measured: the
/// headers stay their names, so that only the core allocates.
async fn request(registry: &Registry, cookie: Option<&str>, write: bool) -> usize {
    let sessions = registry.request(cookie);
    let session = sessions.default_session().await.unwrap();
    let count = session.get::<u64>("count").unwrap().unwrap_or(0) + 1;
    if write {
        session.insert("count", &count).unwrap();
    }
    sessions.finish(200, None, |name, _| Some(name)).await.headers.len()
}

fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// Allocations and reallocations of the fastest of a few runs of `run`
/// (the first runs also warm up what is set up once per process).
async fn allocations<F: std::future::Future>(mut run: impl FnMut() -> F) -> usize {
    let mut fewest = usize::MAX;
    for _ in 0..5 {
        let region = Region::new(GLOBAL);
        let out = run().await;
        let stats = region.change();
        drop(out);
        fewest = fewest.min(stats.allocations + stats.reallocations);
    }
    fewest
}

#[test]
fn common_requests_stay_within_their_allocations_and_reads_write_nothing() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let counting = Arc::new(CountingBackend::new(Arc::new(MemoryBackend::new())));
        let memory = Registry::single(ServerStore::new(config(), Arc::clone(&counting) as Arc<dyn Backend>).unwrap());
        let cookie = Registry::single(CookieStore::new(config()).unwrap());
        let memory_cookie = pair(&read_write(&memory, None).await.unwrap());
        let cookie_cookie = pair(&read_write(&cookie, None).await.unwrap());

        // A read-only request: no backend write or touch, no cookie encoded
        // or sent, on either store.
        let (writes, touches) = (counting.writes(), counting.touches());
        let encodes = CookieEncodes::start();
        for (registry, value) in [(&memory, &memory_cookie), (&cookie, &cookie_cookie)] {
            for _ in 0..100 {
                assert_eq!(read_only(registry, value).await, None, "a read-only request sent a cookie");
            }
        }
        assert_eq!(counting.writes(), writes, "a read-only request wrote to the backend");
        assert_eq!(counting.touches(), touches, "a read-only request touched the record");
        assert_eq!(encodes.count(), 0, "a read-only request encoded a cookie");
        // The count sees encodes: a request that writes encodes its cookie.
        assert!(read_write(&cookie, Some(&cookie_cookie)).await.is_some(), "a changed session sends its cookie");
        assert_eq!(encodes.count(), 1, "a changed cookie-store session is encoded once");
        drop(encodes);

        // A changed session is written once and, on the memory store, keeps
        // its cookie.
        let writes = counting.writes();
        assert_eq!(read_write(&memory, Some(&memory_cookie)).await, None, "the id cookie is not sent again");
        assert_eq!(counting.writes(), writes + 1, "one backend write per changed save");

        // Allocations, on a backend not wrapped in a counter (each call to
        // the wrapper allocates its future).
        let memory = Registry::single(ServerStore::new(config(), Arc::new(MemoryBackend::new())).unwrap());
        let memory_cookie = pair(&read_write(&memory, None).await.unwrap());
        let measured = [
            allocations(|| request(&memory, Some(&memory_cookie), true)).await,
            allocations(|| request(&memory, Some(&memory_cookie), false)).await,
            allocations(|| request(&cookie, Some(&cookie_cookie), true)).await,
            allocations(|| request(&cookie, Some(&cookie_cookie), false)).await,
            allocations(|| request(&memory, None, true)).await,
        ];
        let report: Vec<String> =
            PINNED.iter().zip(measured).map(|((what, pin), got)| format!("{what}: {got} (pinned {pin})")).collect();
        eprintln!("allocations per request:\n  {}", report.join("\n  "));
        for ((what, pin), got) in PINNED.iter().zip(measured) {
            assert!(got <= *pin, "{what}: {got} allocations, more than the {pin} pinned");
        }
    });
}
