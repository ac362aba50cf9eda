//! Cross-origin protection through the layer: a forged form is refused
//! before its handler, loads no session and saves nothing; the site's own
//! forms, programs and cross-site links pass.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use sessions_axum::{Session, SessionError, SessionLayer};
use sessions_core::adapter::FailureKind;
use sessions_core::backend::MemoryBackend;
use sessions_core::testing::CountingBackend;
use sessions_core::{CookieOptions, CrossOrigin, Key, KeyRing, Registry, ServerStore, StoreConfig};
use tower::ServiceExt;

const HOST: &str = "app.example";

struct World {
    app: Router,
    /// How many times the login handler ran.
    logins: Arc<AtomicUsize>,
    backend: Arc<CountingBackend>,
}

fn world(protection: CrossOrigin) -> World {
    let backend = Arc::new(CountingBackend::new(Arc::new(MemoryBackend::new())));
    let config =
        StoreConfig::new("id", KeyRing::from(Key::generate())).cookie_options(CookieOptions::new().secure(false));
    let store = ServerStore::new(config, backend.clone()).unwrap();
    let registry = Registry::builder().store(store).cross_origin(protection).build().unwrap();
    let logins = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&logins);
    let login = move |session: Session| async move {
        counter.fetch_add(1, Ordering::SeqCst);
        session.cycle_id();
        session.insert("user", "ada")?;
        Ok::<_, SessionError>("welcome")
    };
    let me =
        |session: Session| async move { Ok::<_, SessionError>(session.get::<String>("user")?.unwrap_or_default()) };
    let app = Router::new().route("/login", post(login)).route("/me", get(me)).layer(SessionLayer::new(registry));
    World { app, logins, backend }
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], cookie: Option<&str>) -> Request {
    let mut builder = Request::builder().method(method).uri(path).header(header::HOST, HOST);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Body::empty()).unwrap()
}

fn cookie_of(response: &Response) -> Option<String> {
    let set_cookie = response.headers().get(header::SET_COOKIE)?.to_str().ok()?;
    Some(set_cookie.split(';').next()?.to_owned())
}

async fn body(response: Response) -> String {
    String::from_utf8(axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap().to_vec()).unwrap()
}

const SAME_ORIGIN: &[(&str, &str)] = &[("sec-fetch-site", "same-origin"), ("origin", "http://app.example")];
const CROSS_SITE: &[(&str, &str)] = &[("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")];

/// Logs in with the site's own form; returns the session cookie.
async fn logged_in(world: &World) -> String {
    let response = world.app.clone().oneshot(request("POST", "/login", SAME_ORIGIN, None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    cookie_of(&response).expect("login sets the session cookie")
}

#[tokio::test]
async fn cross_site_post_is_refused_before_the_handler_and_touches_no_session() {
    let world = world(CrossOrigin::new());
    let cookie = logged_in(&world).await;
    let (reads, writes, logins) = (world.backend.reads(), world.backend.writes(), world.logins.load(Ordering::SeqCst));

    let response = world.app.clone().oneshot(request("POST", "/login", CROSS_SITE, Some(&cookie))).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.extensions().get::<FailureKind>(), Some(&FailureKind::CrossOrigin));
    assert!(response.headers().get(header::SET_COOKIE).is_none(), "a refusal sends no cookie");
    assert_eq!(body(response).await, "cross-origin request refused");
    assert_eq!(world.logins.load(Ordering::SeqCst), logins, "the handler must not run");
    assert_eq!((world.backend.reads(), world.backend.writes()), (reads, writes), "no session loaded or saved");

    let me = world.app.clone().oneshot(request("GET", "/me", &[], Some(&cookie))).await.unwrap();
    assert_eq!(body(me).await, "ada", "the session is as it was");
}

#[tokio::test]
async fn origin_of_another_host_without_sec_fetch_site_is_refused() {
    let world = world(CrossOrigin::new());
    let older_browser = [("origin", "http://evil.example")];
    let response = world.app.clone().oneshot(request("POST", "/login", &older_browser, None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(world.logins.load(Ordering::SeqCst), 0);
    assert_eq!(world.backend.writes(), 0);
}

#[tokio::test]
async fn same_origin_post_passes() {
    let world = world(CrossOrigin::new());
    logged_in(&world).await;
    let older_browser = [("origin", "http://app.example")];
    let response = world.app.clone().oneshot(request("POST", "/login", &older_browser, None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(world.logins.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn post_without_either_header_passes() {
    let world = world(CrossOrigin::new());
    let response = world.app.clone().oneshot(request("POST", "/login", &[], None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(cookie_of(&response).is_some());
}

#[tokio::test]
async fn cross_site_get_passes() {
    let world = world(CrossOrigin::new());
    let cookie = logged_in(&world).await;
    let response = world.app.clone().oneshot(request("GET", "/me", CROSS_SITE, Some(&cookie))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, "ada");
}

#[tokio::test]
async fn disabled_protection_lets_a_cross_site_post_through() {
    let world = world(CrossOrigin::disabled());
    let response = world.app.clone().oneshot(request("POST", "/login", CROSS_SITE, None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_middleware_outside_the_layer_answers_the_refusal_its_own_way() {
    async fn refusal_page(request: Request, next: Next) -> Response {
        let response = next.run(request).await;
        match response.extensions().get::<FailureKind>() {
            Some(FailureKind::CrossOrigin) => (response.status(), Html("<h1>Refused</h1>")).into_response(),
            _ => response,
        }
    }
    let world = world(CrossOrigin::new());
    let app = world.app.clone().layer(middleware::from_fn(refusal_page));
    let response = app.clone().oneshot(request("POST", "/login", CROSS_SITE, None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(response).await, "<h1>Refused</h1>");
    let response = app.oneshot(request("POST", "/login", SAME_ORIGIN, None)).await.unwrap();
    assert_eq!(body(response).await, "welcome");
    assert_eq!(world.logins.load(Ordering::SeqCst), 1);
}
