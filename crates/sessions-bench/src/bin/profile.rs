//! Runs one kind of request many times, for `valgrind --tool=callgrind`
//! and for counting allocations per request.
//!
//! `profile <core|axum> <memory|cookie|none|tower> <rw|ro> [iterations]`
//!
//! `core` calls the registry directly; `axum` sends the request through the
//! axum twin of the HTTP benchmark in-process (`none`: no sessions; `tower`:
//! tower-sessions' `MemoryStore`, the peer).

use std::alloc::System;

use axum::body::Body;
use axum::http::{Request, header};
use sessions_bench::apps::{self, Sessions};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::ServiceExt;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &'static str| args.get(i).map_or(default, String::as_str).to_owned();
    let (layer, store, kind) = (arg(0, "core"), arg(1, "memory"), arg(2, "rw"));
    let iterations: u64 = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    type Send = Box<dyn Fn(bool, Option<String>) -> std::pin::Pin<Box<dyn Future<Output = Option<String>>>>>;
    let request: Send = match layer.as_str() {
        "core" => {
            let registry = match store.as_str() {
                "memory" => sessions_bench::memory_registry(),
                "cookie" => sessions_bench::cookie_registry(),
                other => panic!("no core store {other}"),
            };
            Box::new(move |write, cookie| {
                let registry = registry.clone();
                Box::pin(async move {
                    if write {
                        sessions_bench::read_write(&registry, cookie.as_deref()).await
                    } else {
                        sessions_bench::read_only(&registry, cookie.as_deref()).await.1
                    }
                })
            })
        }
        "axum" => {
            let router = match store.as_str() {
                "tower" => tower_router(),
                other => apps::axum_router(Sessions::parse(other).expect("none, cookie or memory")),
            };
            Box::new(move |write, cookie| {
                let router = router.clone();
                Box::pin(async move {
                    let mut request = Request::get(if write { "/rw" } else { "/ro" });
                    if let Some(cookie) = cookie {
                        request = request.header(header::COOKIE, cookie);
                    }
                    let response = router.oneshot(request.body(Body::empty()).expect("request")).await;
                    let response = response.expect("infallible");
                    assert!(response.status().is_success());
                    response.headers().get(header::SET_COOKIE).and_then(|v| v.to_str().ok()).map(str::to_owned)
                })
            })
        }
        other => panic!("unknown layer {other}"),
    };
    runtime.block_on(async {
        // The first request (a read-write one) creates the session.
        let cookie = request(true, None).await.map(|c| sessions_bench::cookie_pair(&c));
        let write = kind == "rw";
        for _ in 0..100 {
            std::hint::black_box(request(write, cookie.clone()).await);
        }
        let region = Region::new(GLOBAL);
        for _ in 0..iterations {
            std::hint::black_box(request(write, cookie.clone()).await);
        }
        let stats = region.change();
        let per = |n: usize| n as f64 / iterations as f64;
        eprintln!(
            "{layer} {store} {kind}: {:.2} allocations, {:.2} reallocations, {:.1} bytes allocated per request (the driver's own boxes included)",
            per(stats.allocations),
            per(stats.reallocations),
            per(stats.bytes_allocated)
        );
    });
}

fn tower_router() -> axum::Router {
    use axum::routing::get;
    async fn rw(session: tower_sessions::Session) -> String {
        let count = session.get::<u64>("count").await.ok().flatten().unwrap_or(0) + 1;
        let _ = session.insert("count", count).await;
        count.to_string()
    }
    async fn ro(session: tower_sessions::Session) -> String {
        session.get::<u64>("count").await.ok().flatten().unwrap_or(0).to_string()
    }
    let layer = tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default()).with_secure(false);
    axum::Router::new().route("/rw", get(rw)).route("/ro", get(ro)).layer(layer)
}
