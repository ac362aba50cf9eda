//! The layer's behaviour at the edges the demo app does not reach.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use sessions_axum::{Session, SessionError, SessionLayer, Sessions};
use sessions_core::backend::{Backend, MemoryBackend};
use sessions_core::testing::UnavailableBackend;
use sessions_core::{CookieOptions, Key, KeyRing, Registry, ServerStore, StoreConfig};
use tower::ServiceExt;

fn config(ring: &KeyRing) -> StoreConfig {
    StoreConfig::new("id", ring.clone()).cookie_options(CookieOptions::new().secure(false))
}

fn registry(ring: &KeyRing, backend: Arc<dyn Backend>) -> Registry {
    Registry::single(ServerStore::new(config(ring), backend).unwrap())
}

async fn counter(session: Session) -> Result<String, SessionError> {
    let count = session.get::<u64>("count")?.unwrap_or(0) + 1;
    session.insert("count", &count)?;
    Ok(count.to_string())
}

async fn count_then_fail(session: Session) -> Result<StatusCode, SessionError> {
    counter(session).await?;
    Ok(StatusCode::INTERNAL_SERVER_ERROR)
}

fn app(registry: Registry) -> Router {
    Router::new()
        .route("/counter", get(counter))
        .route("/fail", get(count_then_fail))
        .route("/plain", get(|| async { "no session here" }))
        .layer(SessionLayer::new(registry))
}

fn request(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Body::empty()).unwrap()
}

fn cookie_of(response: &axum::response::Response) -> Option<String> {
    let set_cookie = response.headers().get(header::SET_COOKIE)?.to_str().ok()?;
    Some(set_cookie.split(';').next()?.to_owned())
}

async fn body(response: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn extractor_without_layer_answers_500_naming_the_layer() {
    let app = Router::new().route("/", get(counter));
    let response = app.oneshot(request("/", None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body(response).await.contains("SessionLayer"));
}

#[tokio::test]
async fn sessions_extractor_without_layer_answers_500() {
    let app = Router::new().route("/", get(|_: Sessions| async { "unreachable" }));
    let response = app.oneshot(request("/", None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn handler_server_error_persists_nothing() {
    let ring = KeyRing::from(Key::generate());
    let app = app(registry(&ring, Arc::new(MemoryBackend::new())));
    let first = app.clone().oneshot(request("/counter", None)).await.unwrap();
    let cookie = cookie_of(&first).expect("the counter sets a cookie");

    let failed = app.clone().oneshot(request("/fail", Some(&cookie))).await.unwrap();
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(failed.headers().get(header::SET_COOKIE).is_none(), "a 5xx response must not set cookies");

    let next = app.oneshot(request("/counter", Some(&cookie))).await.unwrap();
    assert_eq!(body(next).await, "2", "the failed request's increment must not be saved");
}

#[tokio::test]
async fn route_that_never_reads_a_session_gets_no_session_headers() {
    let app = app(registry(&KeyRing::from(Key::generate()), Arc::new(MemoryBackend::new())));
    let response = app.oneshot(request("/plain", None)).await.unwrap();
    assert!(response.headers().get(header::VARY).is_none());
    assert!(response.headers().get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn storage_down_while_saving_answers_503() {
    let app = app(registry(&KeyRing::from(Key::generate()), Arc::new(UnavailableBackend)));
    let response = app.oneshot(request("/counter", None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body(response).await, "session storage unavailable", "the handler's body must not be sent");
}

#[tokio::test]
async fn storage_down_while_loading_answers_the_configured_status() {
    let ring = KeyRing::from(Key::generate());
    // A valid cookie, minted while the storage was up.
    let up = app(registry(&ring, Arc::new(MemoryBackend::new())));
    let cookie = cookie_of(&up.oneshot(request("/counter", None)).await.unwrap()).unwrap();

    let registry = Registry::builder()
        .store(ServerStore::new(config(&ring), Arc::new(UnavailableBackend)).unwrap())
        .unavailable_status(502)
        .build()
        .unwrap();
    let down = Router::new().route("/counter", get(counter)).layer(SessionLayer::new(registry));
    let response = down.oneshot(request("/counter", Some(&cookie))).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
}

async fn log_out_under_an_unsendable_path(session: Session) -> &'static str {
    let refused = session.set_cookie_options(CookieOptions::new().secure(false).path("/app\u{1}")).is_err();
    session.destroy();
    if refused { "options refused" } else { "options accepted" }
}

fn request_with_cookie_bytes(path: &str, cookie: &[u8]) -> Request<Body> {
    let value = header::HeaderValue::from_bytes(cookie).unwrap();
    Request::get(path).header(header::COOKIE, value).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_cookie_that_is_not_ascii_does_not_hide_the_session() {
    let app = app(registry(&KeyRing::from(Key::generate()), Arc::new(MemoryBackend::new())));
    let first = app.clone().oneshot(request("/counter", None)).await.unwrap();
    let cookie = cookie_of(&first).expect("the counter sets a cookie");

    let header = [&b"junk=\xff\xfe; "[..], cookie.as_bytes()].concat();
    let next = app.oneshot(request_with_cookie_bytes("/counter", &header)).await.unwrap();
    assert_eq!(body(next).await, "2", "the session cookie beside the junk must be read");
}

#[tokio::test]
async fn a_quoted_session_cookie_is_read() {
    let app = app(registry(&KeyRing::from(Key::generate()), Arc::new(MemoryBackend::new())));
    let first = app.clone().oneshot(request("/counter", None)).await.unwrap();
    let cookie = cookie_of(&first).expect("the counter sets a cookie");
    let (name, value) = cookie.split_once('=').unwrap();

    let quoted = format!("{name}=\"{value}\"");
    let next = app.oneshot(request("/counter", Some(&quoted))).await.unwrap();
    assert_eq!(body(next).await, "2");
}

#[tokio::test]
async fn options_that_cannot_be_sent_are_refused_and_the_logout_still_removes_the_cookie() {
    let app = Router::new()
        .route("/counter", get(counter))
        .route("/logout", get(log_out_under_an_unsendable_path))
        .layer(SessionLayer::new(registry(&KeyRing::from(Key::generate()), Arc::new(MemoryBackend::new()))));
    let first = app.clone().oneshot(request("/counter", None)).await.unwrap();
    let cookie = cookie_of(&first).expect("the counter sets a cookie");

    let response = app.oneshot(request("/logout", Some(&cookie))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let removal = response.headers().get(header::SET_COOKIE).expect("a removal cookie").to_str().unwrap();
    assert!(removal.contains("Max-Age=0") && removal.contains("Path=/;"), "{removal}");
    assert_eq!(body(response).await, "options refused");
}

#[test]
fn session_service_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let inner = tower::service_fn(|_: Request<Body>| async {
        Ok::<_, std::convert::Infallible>(axum::response::Response::new(Body::empty()))
    });
    let registry = registry(&KeyRing::from(Key::generate()), Arc::new(MemoryBackend::new()));
    let mut service = tower::Layer::layer(&SessionLayer::new(registry), inner);
    let future = tower::Service::call(&mut service, request("/counter", None));
    assert_send(&future);
}

#[tokio::test]
async fn an_outage_a_handler_meets_through_question_mark_answers_the_registry_status() {
    async fn log_out_everywhere(_session: Session) -> Result<&'static str, SessionError> {
        // What `ServerStore::destroy_user_sessions` returns while Redis is down.
        Err(sessions_core::Error::from(sessions_core::BackendError::unavailable("connection refused")))?
    }
    let registry = Registry::builder()
        .store(ServerStore::new(config(&KeyRing::from(Key::generate())), Arc::new(MemoryBackend::new())).unwrap())
        .unavailable_status(502)
        .build()
        .unwrap();
    let app = Router::new().route("/", get(log_out_everywhere)).layer(SessionLayer::new(registry));
    let response = app.oneshot(request("/", None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.headers().get(header::SET_COOKIE).is_none(), "a failed request saves nothing");
    assert_eq!(body(response).await, "session storage unavailable");
}

const PROBLEM: &str = r#"{"title":"Sign-in is resting; try again in a minute"}"#;

/// The registry's policy carries the application's own body: on a failed
/// save, on a failed load, and for a refused cross-origin form.
#[tokio::test]
async fn a_storage_outage_and_a_cross_origin_refusal_answer_the_applications_own_body() {
    use sessions_core::adapter::FailureKind;

    let ring = KeyRing::from(Key::generate());
    let up = app(registry(&ring, Arc::new(MemoryBackend::new())));
    let cookie = cookie_of(&up.oneshot(request("/counter", None)).await.unwrap()).unwrap();
    let registry = Registry::builder()
        .store(ServerStore::new(config(&ring), Arc::new(UnavailableBackend)).unwrap())
        .failure_body(FailureKind::Unavailable, "application/problem+json", PROBLEM)
        .failure_body(FailureKind::CrossOrigin, "text/html; charset=utf-8", "<p>Please use the form on our site.</p>")
        .build()
        .unwrap();
    let down = Router::new().route("/counter", get(counter).post(counter)).layer(SessionLayer::new(registry));

    for (what, cookie) in [("save", None), ("load", Some(cookie.as_str()))] {
        let response = down.clone().oneshot(request("/counter", cookie)).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json", "{what}");
        assert_eq!(body(response).await, PROBLEM, "{what}");
    }
    let forged = Request::post("/counter").header("sec-fetch-site", "cross-site").body(Body::empty()).unwrap();
    let refused = down.oneshot(forged).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(body(refused).await, "<p>Please use the form on our site.</p>");
}

sessions_axum::session_name! {
    /// The preferences session of the named-session test.
    struct Prefs = "prefs";
}

sessions_axum::session_name! {
    /// A session no store of the test's registry serves.
    struct Cart = "cart";
}

async fn theme(prefs: sessions_axum::Named<Prefs>, sessions: Sessions) -> Result<String, SessionError> {
    let before = prefs.get::<String>("theme")?.unwrap_or_default();
    prefs.insert("theme", "dark")?;
    // The same session, asked for by type through `Sessions`.
    assert_eq!(sessions.get(Prefs).await?.get::<String>("theme")?.as_deref(), Some("dark"));
    Ok(before)
}

#[tokio::test]
async fn a_session_named_by_type_is_extracted_and_one_no_store_serves_answers_500() {
    let ring = KeyRing::from(Key::generate());
    let registry = Registry::builder()
        .store(ServerStore::new(config(&ring), Arc::new(MemoryBackend::new())).unwrap())
        .store(
            sessions_core::CookieStore::new(
                StoreConfig::new(<Prefs as sessions_axum::name::NamedSession>::NAME, ring)
                    .cookie_options(CookieOptions::new().secure(false)),
            )
            .unwrap(),
        )
        .build()
        .unwrap();
    assert!(registry.has_store(Prefs) && !registry.has_store(Cart));
    let app = Router::new()
        .route("/theme", get(theme))
        .route("/cart", get(|cart: sessions_axum::Named<Cart>| async move { cart.is_empty().to_string() }))
        .layer(SessionLayer::new(registry));

    let first = app.clone().oneshot(request("/theme", None)).await.unwrap();
    let prefs = first.headers().get_all(header::SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        v.starts_with("prefs=").then(|| v.split(';').next().unwrap().to_owned())
    });
    assert_eq!(body(first).await, "", "no theme yet");
    let second = app.clone().oneshot(request("/theme", prefs.as_deref())).await.unwrap();
    assert_eq!(body(second).await, "dark", "the named session kept its value");

    let unserved = app.oneshot(request("/cart", None)).await.unwrap();
    assert_eq!(unserved.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
