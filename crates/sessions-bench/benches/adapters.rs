//! One in-process request through each adapter, no sockets: a handler that
//! reads a counter from the session, increments it and writes it back.
//!
//! Each framework's group holds, in the same run:
//! - the floor: the same counter handler on a process-wide atomic, no sessions;
//! - ours with the cookie store (sealed cookie) and the memory store;
//! - the peers: tower-sessions 0.15 `MemoryStore` and axum-extra 0.12
//!   `PrivateCookieJar` (AES-256-GCM, the session a serde_json map) for
//!   axum; actix-session 0.11 `CookieSessionStore` for actix-web, and its
//!   `RedisSessionStore` beside ours on the same Redis when
//!   `SESSIONS_REDIS_URL` is set; rocket's own private cookie
//!   (`CookieJar::add_private`) for rocket; warp has no maintained peer
//!   for its current release, so it is measured against its floor only.
//!
//! The `core` group measures the same session work with no framework at
//! all, so the adapters' own share is the difference; it also measures a
//! request that only reads the counter.
//!
//! Every request carries the cookie of an earlier response, so each
//! iteration loads an existing session and saves a changed one.

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use sessions_bench::{cookie_pair, cookie_registry};
use sessions_core::Registry;
use sessions_core::backend::MemoryBackend;

static FLOOR: AtomicU64 = AtomicU64::new(0);

fn floor_count() -> String {
    (FLOOR.fetch_add(1, Ordering::Relaxed) + 1).to_string()
}

/// A server store over a `MemoryBackend` with its default bounds.
fn memory_registry() -> Registry {
    sessions_bench::server_registry(std::sync::Arc::new(MemoryBackend::new()))
}

/// The core's share of a request, no framework: what every adapter pays
/// whatever it wraps.
mod core_bench {
    use criterion::Criterion;
    use sessions_bench::read_write;
    use sessions_core::Registry;

    async fn read_only(registry: &Registry, cookie: Option<&str>) -> u64 {
        let (count, set_cookie) = sessions_bench::read_only(registry, cookie).await;
        assert!(set_cookie.is_none(), "a read-only request sends no cookie");
        count
    }

    pub fn bench(c: &mut Criterion) {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a current-thread runtime");
        let mut group = c.benchmark_group("core");
        for (name, registry) in [("cookie_store", super::cookie_registry()), ("memory_store", super::memory_registry())]
        {
            let cookie = runtime.block_on(read_write(&registry, None)).as_deref().map(super::cookie_pair);
            group.bench_function(name, |b| b.to_async(&runtime).iter(|| read_write(&registry, cookie.as_deref())));
            group.bench_function(format!("{name}_read_only"), |b| {
                b.to_async(&runtime).iter(|| read_only(&registry, cookie.as_deref()))
            });
        }
        group.finish();
    }
}

mod axum_bench {
    use std::collections::HashMap;

    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, header};
    use axum::routing::get;
    use axum_extra::extract::cookie::{Cookie, Key, PrivateCookieJar, SameSite};
    use criterion::Criterion;
    use sessions_core::Registry;
    use tower::ServiceExt;

    async fn floor() -> String {
        super::floor_count()
    }

    async fn ours(session: sessions_axum::Session) -> String {
        let count = session.get::<u64>("count").ok().flatten().unwrap_or(0) + 1;
        let _ = session.insert("count", &count);
        count.to_string()
    }

    async fn peer(session: tower_sessions::Session) -> String {
        let count = session.get::<u64>("count").await.ok().flatten().unwrap_or(0) + 1;
        let _ = session.insert("count", count).await;
        count.to_string()
    }

    fn with_ours(registry: Registry) -> Router {
        Router::new().route("/", get(ours)).layer(sessions_axum::SessionLayer::new(registry))
    }

    fn with_peer() -> Router {
        let layer = tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default()).with_secure(false);
        Router::new().route("/", get(peer)).layer(layer)
    }

    /// The cookie-store peer: the session is a serde_json map in one
    /// private (AES-256-GCM) cookie, as an axum application writes it with
    /// axum-extra.
    async fn private_jar(jar: PrivateCookieJar) -> (PrivateCookieJar, String) {
        let mut map: HashMap<String, serde_json::Value> =
            jar.get("id").and_then(|c| serde_json::from_str(c.value()).ok()).unwrap_or_default();
        let count = map.get("count").and_then(serde_json::Value::as_u64).unwrap_or(0) + 1;
        map.insert("count".to_owned(), count.into());
        let value = serde_json::to_string(&map).unwrap_or_default();
        let cookie = Cookie::build(("id", value)).path("/").http_only(true).same_site(SameSite::Lax);
        (jar.add(cookie), count.to_string())
    }

    fn with_private_jar() -> Router {
        Router::new().route("/", get(private_jar)).with_state(Key::generate())
    }

    fn request(cookie: Option<&str>) -> Request<Body> {
        let mut builder = Request::get("/");
        if let Some(cookie) = cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        builder.body(Body::empty()).expect("valid request")
    }

    /// The cookie a first request through `router` sets.
    async fn first_cookie(router: &Router) -> Option<String> {
        let response = router.clone().oneshot(request(None)).await.expect("infallible");
        response.headers().get(header::SET_COOKIE).and_then(|v| v.to_str().ok()).map(super::cookie_pair)
    }

    pub fn bench(c: &mut Criterion) {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a current-thread runtime");
        let mut group = c.benchmark_group("axum");
        let apps = [
            ("no_sessions", Router::new().route("/", get(floor))),
            ("sessions_cookie_store", with_ours(super::cookie_registry())),
            ("sessions_memory_store", with_ours(super::memory_registry())),
            ("tower_sessions_memory_store", with_peer()),
            ("axum_extra_private_cookie_jar", with_private_jar()),
        ];
        for (name, router) in apps {
            let cookie = runtime.block_on(first_cookie(&router));
            group.bench_function(name, |b| {
                b.to_async(&runtime).iter(|| async {
                    let response = router.clone().oneshot(request(cookie.as_deref())).await.expect("infallible");
                    assert!(response.status().is_success());
                    response
                })
            });
        }
        group.finish();
    }
}

mod actix_bench {
    use actix_web::body::MessageBody;
    use actix_web::dev::{Service, ServiceResponse};
    use actix_web::http::header;
    use actix_web::{App, test, web};
    use criterion::Criterion;

    async fn floor() -> String {
        super::floor_count()
    }

    async fn ours(session: sessions_actix::Session) -> String {
        let count = session.get::<u64>("count").ok().flatten().unwrap_or(0) + 1;
        let _ = session.insert("count", &count);
        count.to_string()
    }

    async fn peer(session: actix_session::Session) -> String {
        let count = session.get::<u64>("count").ok().flatten().unwrap_or(0) + 1;
        let _ = session.insert("count", count);
        count.to_string()
    }

    fn request(cookie: Option<&str>) -> actix_http::Request {
        let mut request = test::TestRequest::get().uri("/");
        if let Some(cookie) = cookie {
            request = request.insert_header((header::COOKIE, cookie));
        }
        request.to_request()
    }

    fn measure<S, B>(
        c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        system: &actix_web::rt::SystemRunner,
        name: &str,
        app: S,
    ) where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let first = system.block_on(test::call_service(&app, request(None)));
        let cookie = first.headers().get(header::SET_COOKIE).and_then(|v| v.to_str().ok()).map(super::cookie_pair);
        c.bench_function(name, |b| {
            b.iter(|| {
                let response = system.block_on(test::call_service(&app, request(cookie.as_deref())));
                assert!(response.status().is_success());
                response
            })
        });
    }

    pub fn bench(c: &mut Criterion) {
        let mut group = c.benchmark_group("actix");
        let system = actix_web::rt::System::new();

        let app = system.block_on(test::init_service(App::new().route("/", web::get().to(floor))));
        measure(&mut group, &system, "no_sessions", app);

        for (name, registry) in
            [("sessions_cookie_store", super::cookie_registry()), ("sessions_memory_store", super::memory_registry())]
        {
            let app = system.block_on(test::init_service(
                App::new().wrap(sessions_actix::SessionMiddleware::new(registry)).route("/", web::get().to(ours)),
            ));
            measure(&mut group, &system, name, app);
        }

        let middleware = actix_session::SessionMiddleware::builder(
            actix_session::storage::CookieSessionStore::default(),
            actix_web::cookie::Key::generate(),
        )
        .cookie_secure(false)
        .build();
        let app = system.block_on(test::init_service(App::new().wrap(middleware).route("/", web::get().to(peer))));
        measure(&mut group, &system, "actix_session_cookie_store", app);

        // Server stores on the same Redis: ours and actix-session's.
        if let Ok(url) = std::env::var("SESSIONS_REDIS_URL") {
            let backend =
                system.block_on(sessions_redis::RedisBackend::builder().key_prefix("bench:adapters:").connect(&url));
            let registry = sessions_bench::server_registry(std::sync::Arc::new(backend.expect("connect to Redis")));
            let app = system.block_on(test::init_service(
                App::new().wrap(sessions_actix::SessionMiddleware::new(registry)).route("/", web::get().to(ours)),
            ));
            measure(&mut group, &system, "sessions_redis_store", app);
            let store = system.block_on(actix_session::storage::RedisSessionStore::new(url.as_str()));
            let middleware = actix_session::SessionMiddleware::builder(
                store.expect("connect to Redis"),
                actix_web::cookie::Key::generate(),
            )
            .cookie_secure(false)
            .build();
            let app = system.block_on(test::init_service(App::new().wrap(middleware).route("/", web::get().to(peer))));
            measure(&mut group, &system, "actix_session_redis_store", app);
        }
        group.finish();
    }
}

mod rocket_bench {
    use criterion::Criterion;
    use rocket::http::{CookieJar, Header};
    use rocket::local::asynchronous::Client;
    use rocket::{Build, Rocket, get, routes};

    #[get("/")]
    fn floor() -> String {
        super::floor_count()
    }

    #[get("/")]
    fn ours(session: sessions_rocket::Session) -> String {
        let count = session.get::<u64>("count").ok().flatten().unwrap_or(0) + 1;
        let _ = session.insert("count", &count);
        count.to_string()
    }

    /// Rocket's own answer to sessions: a private (AES-GCM) cookie per value.
    #[get("/")]
    fn peer(cookies: &CookieJar<'_>) -> String {
        let count = cookies.get_private("count").and_then(|c| c.value().parse::<u64>().ok()).unwrap_or(0) + 1;
        cookies.add_private(("count", count.to_string()));
        count.to_string()
    }

    fn rocket() -> Rocket<Build> {
        let figment = rocket::Config::figment()
            .merge(("log_level", rocket::config::LogLevel::Off))
            .merge(("secret_key", vec![7u8; 64]));
        rocket::custom(figment)
    }

    async fn client(rocket: Rocket<Build>) -> Client {
        Client::untracked(rocket).await.expect("a valid rocket")
    }

    async fn one_request(client: &Client, cookie: Option<&str>) -> Option<String> {
        let mut request = client.get("/");
        if let Some(cookie) = cookie {
            request = request.header(Header::new("Cookie", cookie.to_owned()));
        }
        let response = request.dispatch().await;
        assert_eq!(response.status().code, 200);
        let cookies: Vec<String> = response.headers().get("Set-Cookie").map(super::cookie_pair).collect();
        (!cookies.is_empty()).then(|| cookies.join("; "))
    }

    pub fn bench(c: &mut Criterion) {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a current-thread runtime");
        let mut group = c.benchmark_group("rocket");
        let apps = [
            ("no_sessions", rocket().mount("/", routes![floor])),
            (
                "sessions_cookie_store",
                rocket()
                    .attach(sessions_rocket::SessionFairing::new(super::cookie_registry()))
                    .mount("/", routes![ours]),
            ),
            (
                "sessions_memory_store",
                rocket()
                    .attach(sessions_rocket::SessionFairing::new(super::memory_registry()))
                    .mount("/", routes![ours]),
            ),
            ("rocket_private_cookie", rocket().mount("/", routes![peer])),
        ];
        for (name, app) in apps {
            let client = runtime.block_on(client(app));
            let cookie = runtime.block_on(one_request(&client, None));
            group.bench_function(name, |b| b.to_async(&runtime).iter(|| one_request(&client, cookie.as_deref())));
        }
        group.finish();
    }
}

mod warp_bench {
    use criterion::Criterion;
    use tower::ServiceExt;
    use warp::Filter;
    use warp::http::{Request, header};

    async fn ours(session: sessions_warp::Session) -> String {
        let count = session.get::<u64>("count").ok().flatten().unwrap_or(0) + 1;
        let _ = session.insert("count", &count);
        count.to_string()
    }

    fn request(cookie: Option<&str>) -> Request<String> {
        let mut builder = Request::get("/");
        if let Some(cookie) = cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        builder.body(String::new()).expect("valid request")
    }

    async fn one_request<S>(app: &S, cookie: Option<&str>) -> Option<String>
    where
        S: tower::Service<Request<String>, Response = warp::reply::Response> + Clone,
        S::Error: std::fmt::Debug,
    {
        let response = app.clone().oneshot(request(cookie)).await.expect("infallible");
        assert!(response.status().is_success());
        response.headers().get(header::SET_COOKIE).and_then(|v| v.to_str().ok()).map(super::cookie_pair)
    }

    pub fn bench(c: &mut Criterion) {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a current-thread runtime");
        let mut group = c.benchmark_group("warp");
        // Both served as a service, as the sessions wrap them: the floor
        // pays the same conversion.
        let floor = warp::service(warp::path::end().map(super::floor_count));
        let cookie = runtime.block_on(one_request(&floor, None));
        group.bench_function("no_sessions", |b| b.to_async(&runtime).iter(|| one_request(&floor, cookie.as_deref())));
        for (name, registry) in
            [("sessions_cookie_store", super::cookie_registry()), ("sessions_memory_store", super::memory_registry())]
        {
            let routes = warp::path::end().and(sessions_warp::session()).then(ours);
            let app = sessions_warp::wrap(warp::service(routes), registry);
            let cookie = runtime.block_on(one_request(&app, None));
            group.bench_function(name, |b| b.to_async(&runtime).iter(|| one_request(&app, cookie.as_deref())));
        }
        group.finish();
    }
}

fn benches(c: &mut Criterion) {
    core_bench::bench(c);
    axum_bench::bench(c);
    actix_bench::bench(c);
    rocket_bench::bench(c);
    warp_bench::bench(c);
}

criterion_group!(adapters, benches);
criterion_main!(adapters);
