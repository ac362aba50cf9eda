//! Memory held per session by `MemoryBackend`, beside tower-sessions 0.15
//! `MemoryStore`, in the same run.
//!
//! Each store gets 100 000 new sessions through an axum app (one first
//! request each, no cookie), for two session shapes: a counter, and a
//! typical session of ten string values (about 400 bytes). A counting
//! global allocator measures the bytes still allocated once the requests
//! are done: what the store holds. The target: at most
//! 1.5 × the encoded record plus 200 bytes per session.
//!
//! The bytes counted are the bytes asked of the allocator; the allocator
//! adds its own header and rounding to each live allocation (8 to 16 bytes
//! with glibc), shown beside as the live allocations per session.
//!
//! Writes `target/sessions-bench/footprint.json` for `cargo xtask bench`.

use std::alloc::System;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sessions_core::backend::record::{Fields, encoded_len};
use sessions_core::backend::{Backend, BackendError, MemoryBackend, Patch, Retention, Seen, StorageKey, Stored};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::ServiceExt;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SESSIONS: usize = 100_000;

/// A session's values: a counter, or ten strings of 36 bytes.
#[derive(Clone, Copy)]
enum Shape {
    Counter,
    Typical,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Counter => "counter",
            Shape::Typical => "typical_400B",
        }
    }

    fn values(self) -> Vec<(String, String)> {
        match self {
            Shape::Counter => Vec::new(),
            Shape::Typical => (0..10).map(|i| (format!("key{i}"), format!("value-{i}-{}", "x".repeat(28)))).collect(),
        }
    }
}

/// Records the encoded size of the records created through it (what
/// `record::encoded_len` counts, the size every backend's limit uses).
#[derive(Debug)]
struct Sizing {
    inner: MemoryBackend,
    created_bytes: AtomicUsize,
    created: AtomicUsize,
}

#[async_trait::async_trait]
impl Backend for Sizing {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        self.inner.load(key).await
    }
    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        self.create_retained(key, fields, ttl, Retention::Evictable).await
    }
    // The retention hint is forwarded, so that the memory backend keeps a
    // logged-in session as it would unwrapped.
    async fn create_retained(
        &self,
        key: &StorageKey,
        fields: &Fields,
        ttl: Duration,
        retention: Retention,
    ) -> Result<bool, BackendError> {
        self.created_bytes.fetch_add(encoded_len(fields), Ordering::Relaxed);
        self.created.fetch_add(1, Ordering::Relaxed);
        self.inner.create_retained(key, fields, ttl, retention).await
    }
    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        self.inner.update(key, patch, ttl).await
    }
    async fn update_seen(
        &self,
        key: &StorageKey,
        seen: Seen<'_>,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        self.inner.update_seen(key, seen, patch, ttl).await
    }
    async fn update_retained(
        &self,
        key: &StorageKey,
        seen: Option<Seen<'_>>,
        patch: &Patch,
        ttl: Duration,
        retention: Retention,
    ) -> Result<bool, BackendError> {
        self.inner.update_retained(key, seen, patch, ttl, retention).await
    }
    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        self.inner.delete(key).await
    }
    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        self.inner.touch(key, ttl).await
    }
    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        self.inner.take(key).await
    }
}

struct Measured {
    bytes: f64,
    allocations: f64,
}

/// Sends `SESSIONS` first requests through `app` and measures what stays
/// allocated, per session.
async fn measure(app: axum::Router) -> Measured {
    let region = Region::new(GLOBAL);
    for _ in 0..SESSIONS {
        let response = app.clone().oneshot(Request::get("/").body(Body::empty()).expect("request")).await;
        assert!(response.expect("infallible").status().is_success());
    }
    let stats = region.change();
    // A reallocation is already counted in these two as what it grew or
    // shrank by.
    let bytes = stats.bytes_allocated as f64 - stats.bytes_deallocated as f64;
    let allocations = stats.allocations as f64 - stats.deallocations as f64;
    Measured { bytes: bytes / SESSIONS as f64, allocations: allocations / SESSIONS as f64 }
}

fn ours(shape: Shape) -> (axum::Router, Arc<Sizing>) {
    let inner = MemoryBackend::builder().max_entries(10 * SESSIONS as u64).max_bytes(4 << 30).build();
    let backend = Arc::new(Sizing { inner, created_bytes: AtomicUsize::new(0), created: AtomicUsize::new(0) });
    let registry = sessions_bench::server_registry(Arc::clone(&backend) as Arc<dyn Backend>);
    let handler = move |session: sessions_axum::Session| async move {
        session.insert("count", &1u64).expect("insert");
        for (key, value) in shape.values() {
            session.insert(&key, &value).expect("insert");
        }
        "ok"
    };
    let app = axum::Router::new().route("/", get(handler)).layer(sessions_axum::SessionLayer::new(registry));
    (app, backend)
}

fn peer(shape: Shape) -> (axum::Router, tower_sessions::MemoryStore) {
    let store = tower_sessions::MemoryStore::default();
    let handler = move |session: tower_sessions::Session| async move {
        session.insert("count", 1u64).await.expect("insert");
        for (key, value) in shape.values() {
            session.insert(&key, value).await.expect("insert");
        }
        "ok"
    };
    let layer = tower_sessions::SessionManagerLayer::new(store.clone()).with_secure(false);
    (axum::Router::new().route("/", get(handler)).layer(layer), store)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut rows = Vec::new();
    for shape in [Shape::Counter, Shape::Typical] {
        let (app, backend) = ours(shape);
        let measured_ours = runtime.block_on(measure(app));
        assert_eq!(backend.inner.len() as usize, SESSIONS, "every session is held");
        let created = backend.created.load(Ordering::Relaxed);
        let encoded = backend.created_bytes.load(Ordering::Relaxed) as f64 / created as f64;
        let target = 1.5 * encoded + 200.0;
        let (app, store) = peer(shape);
        let measured_peer = runtime.block_on(measure(app));
        drop((backend, store));
        eprintln!(
            "{:<13} encoded {:>4.0} B | sessions MemoryBackend {:>6.0} B ({:.2} allocations) | tower-sessions MemoryStore {:>6.0} B ({:.2} allocations) | target {:.0} B",
            shape.name(),
            encoded,
            measured_ours.bytes,
            measured_ours.allocations,
            measured_peer.bytes,
            measured_peer.allocations,
            target
        );
        rows.push(serde_json::json!({
            "shape": shape.name(),
            "sessions": SESSIONS,
            "encoded_record_bytes": encoded,
            "target_bytes": target,
            "ours_bytes": measured_ours.bytes,
            "ours_allocations": measured_ours.allocations,
            "peer_bytes": measured_peer.bytes,
            "peer_allocations": measured_peer.allocations,
        }));
    }
    let dir = sessions_bench::results_dir();
    std::fs::create_dir_all(&dir).expect("results directory");
    let path = dir.join("footprint.json");
    std::fs::write(&path, serde_json::to_string_pretty(&rows).expect("json")).expect("write results");
    eprintln!("wrote {}", path.display());
}
