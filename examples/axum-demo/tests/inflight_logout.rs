//! A request still running when its session is logged out cannot save the
//! session back, on every server store: a handler held open across a
//! logout writes a key, and the old cookie must still be anonymous after.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use demo_kit::Config;
use sessions_axum::{Session, SessionLayer};
use sessions_conformance::Client;
use sessions_core::testing::service_url as service;
use tokio::sync::Notify;

/// Lets the test hold the slow handler between its load and its write.
#[derive(Default)]
struct Gate {
    loaded: Notify,
    release: Notify,
}

async fn login(session: Session) -> StatusCode {
    session.cycle_id();
    session.insert("user", "ada").expect("encode");
    StatusCode::NO_CONTENT
}

async fn logout(session: Session) -> StatusCode {
    session.destroy();
    StatusCode::NO_CONTENT
}

async fn slow_write(State(gate): State<Arc<Gate>>, session: Session) -> StatusCode {
    gate.loaded.notify_one();
    gate.release.notified().await;
    session.insert("late", "written after the logout").expect("encode");
    StatusCode::OK
}

async fn me(session: Session) -> (StatusCode, String) {
    let user = session.get::<String>("user").ok().flatten();
    let late = session.get::<String>("late").ok().flatten();
    match (user, late) {
        (None, None) => (StatusCode::UNAUTHORIZED, String::new()),
        (user, late) => (StatusCode::OK, format!("{user:?} {late:?}")),
    }
}

async fn scenario(store: &str) {
    let vars = [("SESSION_STORE", store), ("SESSION_SECURE", "0")];
    let registry = Config::from_vars(vars).expect("config").registry().await.expect("open the store");
    let gate = Arc::new(Gate::default());
    let app = Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/slow", get(slow_write))
        .route("/me", get(me))
        .with_state(Arc::clone(&gate))
        .layer(SessionLayer::new(registry));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut client = Client::new(addr);
    assert_eq!(client.post_form("/login", &[]).await.status, 204);
    let mut old = client.clone();
    let mut in_flight = client.clone();
    let slow = tokio::spawn(async move { in_flight.get("/slow").await });
    gate.loaded.notified().await;

    assert_eq!(client.post_form("/logout", &[]).await.status, 204);
    gate.release.notify_one();
    let late = slow.await.expect("slow request");
    assert_eq!(late.status, 200, "the handler's answer stands");
    assert!(
        late.set_cookie("id").is_some_and(|c| c.is_removal()),
        "{store}: the late request is told its session is gone"
    );
    let replay = old.get("/me").await;
    assert_eq!(replay.status, 401, "{store}: the session came back: {}", replay.body);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_save_after_logout_does_not_resurrect_memory_sessions() {
    scenario("memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_save_after_logout_does_not_resurrect_filesystem_sessions() {
    let dir = std::env::temp_dir().join(format!("sessions-inflight-{}", std::process::id()));
    scenario(&format!("fs:{}", dir.display())).await;
    std::fs::remove_dir_all(dir).expect("clean up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_save_after_logout_does_not_resurrect_sqlite_sessions() {
    scenario("sqlite::memory:").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_save_after_logout_does_not_resurrect_redis_sessions() {
    if let Some(url) = service("SESSIONS_REDIS_URL") {
        scenario(&url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_save_after_logout_does_not_resurrect_postgres_sessions() {
    if let Some(url) = service("SESSIONS_POSTGRES_URL") {
        scenario(&url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_save_after_logout_does_not_resurrect_mysql_sessions() {
    if let Some(url) = service("SESSIONS_MYSQL_URL") {
        scenario(&url).await;
    }
}
