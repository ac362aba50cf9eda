//! Benchmarks of `sessions` beside their floors and peers.
//!
//! - `benches/adapters.rs`: one request through each adapter in process,
//!   no sockets, beside the same handler without sessions and each
//!   framework's own session crate.
//! - `benches/http.rs`: requests per second over loopback, with `wrk`, of
//!   each framework's app with each store and of its twin without sessions
//!   ([`apps`]).
//! - `benches/footprint.rs`: the memory a `MemoryBackend` holds per session,
//!   beside tower-sessions' `MemoryStore`.
//! - `benches/redis.rs`, `benches/sql.rs`, `benches/memcached.rs`: load and
//!   save of one session on each networked backend, beside a raw query of
//!   the same size, with the round trips each request takes.
//! - `benches/redb.rs`: the embedded stores (redb, the filesystem backend,
//!   SQLite on a file) on the same disk in one run.
//! - `src/bin/profile.rs`: one kind of request in a loop, for
//!   `valgrind --tool=callgrind` and allocation counts.
//!
//! `cargo xtask bench` runs these with the criterion benchmarks and writes
//! `docs/benchmarks.md`.

use std::sync::Arc;

use sessions_core::adapter::RequestSessions;
use sessions_core::backend::MemoryBackend;
use sessions_core::{CookieOptions, CookieStore, Key, KeyRing, Registry, ServerStore, StoreConfig};

pub mod apps;
pub mod records;

/// Where benchmarks leave results that are not criterion's, for
/// `cargo xtask bench` to read: `target/sessions-bench`.
pub fn results_dir() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("sessions-bench")
}

/// A registry of one sealed cookie store named `id`.
pub fn cookie_registry() -> Registry {
    let config =
        StoreConfig::new("id", KeyRing::from(Key::generate())).cookie_options(CookieOptions::new().secure(false));
    Registry::single(CookieStore::new(config).expect("valid cookie store"))
}

/// A registry of one server store named `id` over a [`MemoryBackend`] that
/// holds a million sessions.
pub fn memory_registry() -> Registry {
    let backend = MemoryBackend::builder().max_entries(1_000_000).max_bytes(1 << 30).build();
    server_registry(Arc::new(backend))
}

/// A registry of one server store named `id` over `backend`.
pub fn server_registry(backend: Arc<dyn sessions_core::backend::Backend>) -> Registry {
    let config =
        StoreConfig::new("id", KeyRing::from(Key::generate())).cookie_options(CookieOptions::new().secure(false));
    Registry::single(ServerStore::new(config, backend).expect("valid server store"))
}

/// The `name=value` part of a `Set-Cookie` value.
pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

/// One request that reads the counter and writes it back incremented;
/// returns the `Set-Cookie` value, if any.
pub async fn read_write(registry: &Registry, cookie: Option<&str>) -> Option<String> {
    let sessions = registry.request(cookie);
    let session = sessions.default_session().await.ok()?;
    let count = session.get::<u64>("count").ok().flatten().unwrap_or(0) + 1;
    session.insert("count", &count).ok()?;
    set_cookie(&sessions).await
}

/// One request that only reads the counter; returns the counter and the
/// `Set-Cookie` value, if any (there should be none).
pub async fn read_only(registry: &Registry, cookie: Option<&str>) -> (u64, Option<String>) {
    let sessions = registry.request(cookie);
    let count = match sessions.default_session().await {
        Ok(session) => session.get::<u64>("count").ok().flatten().unwrap_or(0),
        Err(_) => 0,
    };
    (count, set_cookie(&sessions).await)
}

/// Ends the request as an adapter does and keeps its `Set-Cookie`, if any.
async fn set_cookie(sessions: &RequestSessions) -> Option<String> {
    let keep = |name: &'static str, value: &str| Some((name == "set-cookie").then(|| value.to_owned()));
    sessions.finish(200, None, keep).await.headers.into_iter().flatten().next()
}
