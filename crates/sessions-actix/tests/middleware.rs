//! The middleware's behaviour at the edges the demo app does not reach.

use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use actix_web::http::{StatusCode, header};
use actix_web::{App, HttpResponse, test, web};
use sessions_actix::{Session, SessionError, SessionMiddleware, Sessions};
use sessions_core::backend::{Backend, MemoryBackend};
use sessions_core::testing::UnavailableBackend;
use sessions_core::{CookieOptions, Key, KeyRing, Registry, ServerStore, StoreConfig};

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

async fn count_then_fail(session: Session) -> Result<HttpResponse, SessionError> {
    counter(session).await?;
    Ok(HttpResponse::InternalServerError().finish())
}

fn get(path: &str, cookie: Option<&str>) -> actix_http::Request {
    let mut request = test::TestRequest::get().uri(path);
    if let Some(cookie) = cookie {
        request = request.insert_header((header::COOKIE, cookie));
    }
    request.to_request()
}

fn cookie_of<B>(response: &ServiceResponse<B>) -> Option<String> {
    let set_cookie = response.headers().get(header::SET_COOKIE)?.to_str().ok()?;
    Some(set_cookie.split(';').next()?.to_owned())
}

#[actix_web::test]
async fn extractor_without_middleware_answers_500_naming_it() {
    let app = test::init_service(App::new().route("/", web::get().to(counter))).await;
    let response = test::call_service(&app, get("/", None)).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = test::read_body(response).await;
    assert!(String::from_utf8_lossy(&body).contains("SessionMiddleware"));
}

#[actix_web::test]
async fn sessions_extractor_without_middleware_answers_500() {
    let app = test::init_service(App::new().route("/", web::get().to(|_: Sessions| async { "unreachable" }))).await;
    let response = test::call_service(&app, get("/", None)).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[actix_web::test]
async fn handler_server_error_persists_nothing() {
    let ring = KeyRing::from(Key::generate());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(registry(&ring, Arc::new(MemoryBackend::new()))))
            .route("/counter", web::get().to(counter))
            .route("/fail", web::get().to(count_then_fail)),
    )
    .await;
    let first = test::call_service(&app, get("/counter", None)).await;
    let cookie = cookie_of(&first).expect("the counter sets a cookie");

    let failed = test::call_service(&app, get("/fail", Some(&cookie))).await;
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(failed.headers().get(header::SET_COOKIE).is_none(), "a 5xx response must not set cookies");

    let next = test::call_service(&app, get("/counter", Some(&cookie))).await;
    assert_eq!(test::read_body(next).await, "2", "the failed request's increment must not be saved");
}

#[actix_web::test]
async fn route_that_never_reads_a_session_gets_no_session_headers() {
    let ring = KeyRing::from(Key::generate());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(registry(&ring, Arc::new(MemoryBackend::new()))))
            .route("/plain", web::get().to(|| async { "no session here" })),
    )
    .await;
    let response = test::call_service(&app, get("/plain", None)).await;
    assert!(response.headers().get(header::VARY).is_none());
    assert!(response.headers().get(header::SET_COOKIE).is_none());
}

#[actix_web::test]
async fn storage_down_while_saving_answers_503() {
    let ring = KeyRing::from(Key::generate());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(registry(&ring, Arc::new(UnavailableBackend))))
            .route("/counter", web::get().to(counter)),
    )
    .await;
    let response = test::call_service(&app, get("/counter", None)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(test::read_body(response).await, "session storage unavailable", "the handler's body must not be sent");
}

#[actix_web::test]
async fn storage_down_while_loading_answers_the_configured_status() {
    let ring = KeyRing::from(Key::generate());
    // A valid cookie, minted while the storage was up.
    let up = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(registry(&ring, Arc::new(MemoryBackend::new()))))
            .route("/counter", web::get().to(counter)),
    )
    .await;
    let cookie = cookie_of(&test::call_service(&up, get("/counter", None)).await).unwrap();

    let registry = Registry::builder()
        .store(ServerStore::new(config(&ring), Arc::new(UnavailableBackend)).unwrap())
        .unavailable_status(502)
        .build()
        .unwrap();
    let down =
        test::init_service(App::new().wrap(SessionMiddleware::new(registry)).route("/counter", web::get().to(counter)))
            .await;
    let response = test::call_service(&down, get("/counter", Some(&cookie))).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
}

async fn log_out_under_an_unsendable_path(session: Session) -> &'static str {
    let refused = session.set_cookie_options(CookieOptions::new().secure(false).path("/app\u{1}")).is_err();
    session.destroy();
    if refused { "options refused" } else { "options accepted" }
}

#[actix_web::test]
async fn a_cookie_that_is_not_ascii_does_not_hide_the_session() {
    let ring = KeyRing::from(Key::generate());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(registry(&ring, Arc::new(MemoryBackend::new()))))
            .route("/counter", web::get().to(counter)),
    )
    .await;
    let first = test::call_service(&app, get("/counter", None)).await;
    let cookie = cookie_of(&first).expect("the counter sets a cookie");

    let header = [&b"junk=\xff\xfe; "[..], cookie.as_bytes()].concat();
    let value = header::HeaderValue::from_bytes(&header).unwrap();
    let request = test::TestRequest::get().uri("/counter").insert_header((header::COOKIE, value)).to_request();
    let next = test::call_service(&app, request).await;
    assert_eq!(test::read_body(next).await, "2", "the session cookie beside the junk must be read");
}

#[actix_web::test]
async fn a_quoted_session_cookie_is_read() {
    let ring = KeyRing::from(Key::generate());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(registry(&ring, Arc::new(MemoryBackend::new()))))
            .route("/counter", web::get().to(counter)),
    )
    .await;
    let first = test::call_service(&app, get("/counter", None)).await;
    let cookie = cookie_of(&first).expect("the counter sets a cookie");
    let (name, value) = cookie.split_once('=').unwrap();

    let next = test::call_service(&app, get("/counter", Some(&format!("{name}=\"{value}\"")))).await;
    assert_eq!(test::read_body(next).await, "2");
}

#[actix_web::test]
async fn options_that_cannot_be_sent_are_refused_and_the_logout_still_removes_the_cookie() {
    let ring = KeyRing::from(Key::generate());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(registry(&ring, Arc::new(MemoryBackend::new()))))
            .route("/counter", web::get().to(counter))
            .route("/logout", web::get().to(log_out_under_an_unsendable_path)),
    )
    .await;
    let first = test::call_service(&app, get("/counter", None)).await;
    let cookie = cookie_of(&first).expect("the counter sets a cookie");

    let response = test::call_service(&app, get("/logout", Some(&cookie))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let removal = response.headers().get(header::SET_COOKIE).expect("a removal cookie").to_str().unwrap();
    assert!(removal.contains("Max-Age=0") && removal.contains("Path=/;"), "{removal}");
    assert_eq!(test::read_body(response).await, "options refused");
}

#[actix_web::test]
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
    let app = test::init_service(
        App::new().wrap(SessionMiddleware::new(registry)).route("/", web::get().to(log_out_everywhere)),
    )
    .await;
    let response = test::call_service(&app, get("/", None)).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.headers().get("set-cookie").is_none(), "a failed request saves nothing");
    assert_eq!(test::read_body(response).await, "session storage unavailable");
}

const PROBLEM: &str = r#"{"title":"Sign-in is resting; try again in a minute"}"#;

/// The registry's policy carries the application's own body: on a failed
/// save, on a failed load, and for a refused cross-origin form.
#[actix_web::test]
async fn a_storage_outage_and_a_cross_origin_refusal_answer_the_applications_own_body() {
    use sessions_core::adapter::FailureKind;

    let ring = KeyRing::from(Key::generate());
    let up = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(registry(&ring, Arc::new(MemoryBackend::new()))))
            .route("/counter", web::get().to(counter)),
    )
    .await;
    let cookie = cookie_of(&test::call_service(&up, get("/counter", None)).await).unwrap();
    let registry = Registry::builder()
        .store(ServerStore::new(config(&ring), Arc::new(UnavailableBackend)).unwrap())
        .failure_body(FailureKind::Unavailable, "application/problem+json", PROBLEM)
        .failure_body(FailureKind::CrossOrigin, "text/html; charset=utf-8", "<p>Please use the form on our site.</p>")
        .build()
        .unwrap();
    let down = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(registry))
            .route("/counter", web::get().to(counter))
            .route("/counter", web::post().to(counter)),
    )
    .await;

    for (what, cookie) in [("save", None), ("load", Some(cookie.as_str()))] {
        let response = test::call_service(&down, get("/counter", cookie)).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert_eq!(response.headers().get(header::CONTENT_TYPE).unwrap(), "application/problem+json", "{what}");
        assert_eq!(test::read_body(response).await, PROBLEM.as_bytes(), "{what}");
    }
    let forged = test::TestRequest::post().uri("/counter").insert_header(("sec-fetch-site", "cross-site")).to_request();
    let refused = test::call_service(&down, forged).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.headers().get(header::CONTENT_TYPE).unwrap(), "text/html; charset=utf-8");
    assert_eq!(test::read_body(refused).await, "<p>Please use the form on our site.</p>".as_bytes());
}

sessions_actix::session_name! {
    /// The preferences session of the named-session test.
    struct Prefs = "prefs";
}

sessions_actix::session_name! {
    /// A session no store of the test's registry serves.
    struct Cart = "cart";
}

async fn theme(prefs: sessions_actix::Named<Prefs>, sessions: Sessions) -> Result<String, SessionError> {
    let before = prefs.get::<String>("theme")?.unwrap_or_default();
    prefs.insert("theme", "dark")?;
    assert_eq!(sessions.get(Prefs).await?.get::<String>("theme")?.as_deref(), Some("dark"));
    Ok(before)
}

async fn cart(cart: sessions_actix::Named<Cart>) -> String {
    cart.is_empty().to_string()
}

#[actix_web::test]
async fn a_session_named_by_type_is_extracted_and_one_no_store_serves_answers_500() {
    use sessions_actix::name::NamedSession;

    let ring = KeyRing::from(Key::generate());
    let registry = Registry::builder()
        .store(ServerStore::new(config(&ring), Arc::new(MemoryBackend::new())).unwrap())
        .store(
            sessions_core::CookieStore::new(
                StoreConfig::new(Prefs::NAME, ring).cookie_options(CookieOptions::new().secure(false)),
            )
            .unwrap(),
        )
        .build()
        .unwrap();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(registry))
            .route("/theme", web::get().to(theme))
            .route("/cart", web::get().to(cart)),
    )
    .await;

    let first = test::call_service(&app, get("/theme", None)).await;
    let prefs = first.headers().get_all(header::SET_COOKIE).find_map(|v| {
        let v = v.to_str().ok()?;
        v.starts_with("prefs=").then(|| v.split(';').next().unwrap().to_owned())
    });
    assert_eq!(test::read_body(first).await, "".as_bytes(), "no theme yet");
    let second = test::call_service(&app, get("/theme", prefs.as_deref())).await;
    assert_eq!(test::read_body(second).await, "dark".as_bytes(), "the named session kept its value");

    let unserved = test::call_service(&app, get("/cart", None)).await;
    assert_eq!(unserved.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
