//! The same small app in each framework, with a sessions store or with
//! none: the twins the HTTP benchmark compares.
//!
//! Two routes: `GET /rw` reads a counter, increments it and writes it back;
//! `GET /ro` only reads it. Without sessions the counter is one process-wide
//! atomic, so the twin does the same work minus the sessions.

use std::io;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};

use sessions_core::Registry;

/// A web framework with an adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    /// axum 0.8 with `sessions-axum`.
    Axum,
    /// actix-web 4 with `sessions-actix`.
    Actix,
    /// Rocket 0.5 with `sessions-rocket`.
    Rocket,
    /// warp 0.4 with `sessions-warp`.
    Warp,
}

impl Framework {
    /// Every framework, in the order the reports list them.
    pub const ALL: [Framework; 4] = [Framework::Axum, Framework::Actix, Framework::Rocket, Framework::Warp];

    /// The name used on command lines and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Framework::Axum => "axum",
            Framework::Actix => "actix",
            Framework::Rocket => "rocket",
            Framework::Warp => "warp",
        }
    }

    /// The framework named `name`.
    pub fn parse(name: &str) -> Option<Framework> {
        Framework::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// What keeps the sessions of a twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sessions {
    /// No sessions: the floor.
    None,
    /// `CookieStore` (sealed cookie).
    Cookie,
    /// `ServerStore` over `MemoryBackend` (signed id cookie).
    Memory,
}

impl Sessions {
    /// Every kind, in the order the reports list them.
    pub const ALL: [Sessions; 3] = [Sessions::None, Sessions::Cookie, Sessions::Memory];

    /// The name used on command lines and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Sessions::None => "none",
            Sessions::Cookie => "cookie",
            Sessions::Memory => "memory",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Sessions> {
        Sessions::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The registry of this kind, or `None` for no sessions.
    pub fn registry(self) -> Option<Registry> {
        match self {
            Sessions::None => None,
            Sessions::Cookie => Some(crate::cookie_registry()),
            Sessions::Memory => Some(crate::memory_registry()),
        }
    }
}

static FLOOR: AtomicU64 = AtomicU64::new(0);

fn floor_rw() -> String {
    (FLOOR.fetch_add(1, Ordering::Relaxed) + 1).to_string()
}

fn floor_ro() -> String {
    FLOOR.load(Ordering::Relaxed).to_string()
}

fn session_rw(session: &sessions_core::Session) -> String {
    let count = session.get::<u64>("count").ok().flatten().unwrap_or(0) + 1;
    let _ = session.insert("count", &count);
    count.to_string()
}

fn session_ro(session: &sessions_core::Session) -> String {
    session.get::<u64>("count").ok().flatten().unwrap_or(0).to_string()
}

/// The axum twin as a router.
pub fn axum_router(sessions: Sessions) -> axum::Router {
    use axum::routing::get;
    match sessions.registry() {
        None => {
            axum::Router::new().route("/rw", get(|| async { floor_rw() })).route("/ro", get(|| async { floor_ro() }))
        }
        Some(registry) => axum::Router::new()
            .route("/rw", get(|session: sessions_axum::Session| async move { session_rw(&session) }))
            .route("/ro", get(|session: sessions_axum::Session| async move { session_ro(&session) }))
            .layer(sessions_axum::SessionLayer::new(registry)),
    }
}

/// Serves `framework` with `sessions` on `listener`, on one worker thread,
/// until the process ends.
pub fn serve(framework: Framework, sessions: Sessions, listener: TcpListener) -> io::Result<()> {
    match framework {
        Framework::Axum => serve_axum(sessions, listener),
        Framework::Actix => serve_actix(sessions, listener),
        Framework::Rocket => serve_rocket(sessions, listener),
        Framework::Warp => serve_warp(sessions, listener),
    }
}

fn one_worker() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()
}

fn serve_axum(sessions: Sessions, listener: TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    one_worker()?.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        axum::serve(listener, axum_router(sessions)).await
    })
}

fn serve_actix(sessions: Sessions, listener: TcpListener) -> io::Result<()> {
    use actix_web::{App, HttpServer, web};
    let registry = sessions.registry();
    actix_web::rt::System::new().block_on(async move {
        let server = match registry {
            None => HttpServer::new(|| {
                App::new()
                    .route("/rw", web::get().to(|| async { floor_rw() }))
                    .route("/ro", web::get().to(|| async { floor_ro() }))
            })
            .workers(1)
            .disable_signals()
            .listen(listener)?
            .run(),
            Some(registry) => HttpServer::new(move || {
                App::new()
                    .wrap(sessions_actix::SessionMiddleware::new(registry.clone()))
                    .route("/rw", web::get().to(|session: sessions_actix::Session| async move { session_rw(&session) }))
                    .route("/ro", web::get().to(|session: sessions_actix::Session| async move { session_ro(&session) }))
            })
            .workers(1)
            .disable_signals()
            .listen(listener)?
            .run(),
        };
        server.await
    })
}

mod rocket_routes {
    use rocket::get;

    #[get("/rw")]
    pub fn floor_rw() -> String {
        super::floor_rw()
    }

    #[get("/ro")]
    pub fn floor_ro() -> String {
        super::floor_ro()
    }

    #[get("/rw")]
    pub fn rw(session: sessions_rocket::Session) -> String {
        super::session_rw(&session)
    }

    #[get("/ro")]
    pub fn ro(session: sessions_rocket::Session) -> String {
        super::session_ro(&session)
    }
}

fn serve_rocket(sessions: Sessions, listener: TcpListener) -> io::Result<()> {
    // Rocket 0.5 binds its own socket: the listener only picks the port.
    let addr = listener.local_addr()?;
    drop(listener);
    let figment = rocket::Config::figment()
        .merge(("address", addr.ip()))
        .merge(("port", addr.port()))
        .merge(("workers", 1))
        .merge(("log_level", rocket::config::LogLevel::Off))
        // Built beside the benchmarks, rocket has `secrets` (the in-process
        // benchmark's peer is its private cookie) and then refuses to start
        // in a release profile without a key. The twin sets no private cookie.
        .merge(("secret_key", vec![7u8; 64]))
        .merge(("cli_colors", false))
        .merge(("shutdown.ctrlc", false));
    let rocket = rocket::custom(figment);
    let rocket = match sessions.registry() {
        None => rocket.mount("/", rocket::routes![rocket_routes::floor_rw, rocket_routes::floor_ro]),
        Some(registry) => rocket
            .attach(sessions_rocket::SessionFairing::new(registry))
            .mount("/", rocket::routes![rocket_routes::rw, rocket_routes::ro]),
    };
    one_worker()?.block_on(async { rocket.launch().await.map(drop).map_err(io::Error::other) })
}

fn serve_warp(sessions: Sessions, listener: TcpListener) -> io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;
    use warp::Filter;

    listener.set_nonblocking(true)?;
    one_worker()?.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        // Both twins are served the same way, as a tower service over
        // hyper-util, as the sessions wrap requires.
        macro_rules! serve_loop {
            ($app:expr) => {{
                let app = $app;
                loop {
                    let (stream, _) = listener.accept().await?;
                    let app = TowerToHyperService::new(app.clone());
                    tokio::spawn(async move {
                        let server = auto::Builder::new(TokioExecutor::new());
                        let _ = server.serve_connection(TokioIo::new(stream), app).await;
                    });
                }
            }};
        }
        async fn rw(session: sessions_warp::Session) -> String {
            session_rw(&session)
        }
        async fn ro(session: sessions_warp::Session) -> String {
            session_ro(&session)
        }
        match sessions.registry() {
            None => {
                let routes = warp::path!("rw").map(floor_rw).or(warp::path!("ro").map(floor_ro));
                serve_loop!(warp::service(routes))
            }
            Some(registry) => {
                let routes = warp::path!("rw")
                    .and(sessions_warp::session())
                    .then(rw)
                    .or(warp::path!("ro").and(sessions_warp::session()).then(ro));
                serve_loop!(sessions_warp::wrap(warp::service(routes), registry))
            }
        }
    })
}
