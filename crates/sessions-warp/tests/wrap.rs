//! The wrapper's and filters' behaviour at the edges the demo app does not
//! reach.

use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::BodyExt;
use sessions_core::backend::{Backend, MemoryBackend};
use sessions_core::testing::{CountingBackend, UnavailableBackend};
use sessions_core::{BackendError, CookieOptions, Key, KeyRing, Registry, ServerStore, StoreConfig};
use sessions_warp::{Session, SessionError, Sessions, session, sessions};
use tower::{Service, ServiceExt};
use warp::reject::Rejection;
use warp::reply::Response;
use warp::{Filter, Reply};

fn config(ring: &KeyRing) -> StoreConfig {
    StoreConfig::new("id", ring.clone()).cookie_options(CookieOptions::new().secure(false))
}

fn registry(ring: &KeyRing, backend: Arc<dyn Backend>) -> Registry {
    Registry::single(ServerStore::new(config(ring), backend).unwrap())
}

fn registry_answering_502(ring: &KeyRing, backend: Arc<dyn Backend>) -> Registry {
    Registry::builder().store(ServerStore::new(config(ring), backend).unwrap()).unavailable_status(502).build().unwrap()
}

async fn counter(session: Session) -> Result<String, SessionError> {
    let count = session.get::<u64>("count")?.unwrap_or(0) + 1;
    session.insert("count", &count)?;
    Ok(count.to_string())
}

async fn count_then_answer(session: Session, status: StatusCode) -> Result<StatusCode, SessionError> {
    counter(session).await?;
    Ok(status)
}

fn routes() -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let count = warp::path!("counter").and(session()).then(counter);
    let fail = warp::path!("fail").and(session()).then(|s| count_then_answer(s, StatusCode::INTERNAL_SERVER_ERROR));
    let refuse = warp::path!("refuse").and(session()).then(|s| count_then_answer(s, StatusCode::FORBIDDEN));
    let plain = warp::path!("plain").map(|| "no session here");
    let own_cookie = warp::path!("own-cookie").and(session()).then(|s| async move {
        counter(s).await.map(|n| warp::reply::with_header(n, header::SET_COOKIE, "theme=dark; Path=/"))
    });
    // Returns `warp::reply()`, not the session: the write is saved anyway.
    let bump = warp::path!("bump").and(session()).map(|s: Session| {
        let count = s.get::<u64>("count").expect("a count").unwrap_or(0);
        s.insert("count", &(count + 1)).expect("an insert");
        warp::reply()
    });
    count.or(fail).or(refuse).or(plain).or(own_cookie).or(bump)
}

type App = sessions_warp::SessionService<tower::util::BoxCloneSyncService<Request<String>, Response, Infallible>>;

fn wrapped(
    registry: Registry,
    routes: impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone + Send + Sync + 'static,
) -> App {
    sessions_warp::wrap(tower::util::BoxCloneSyncService::new(warp::service(routes)), registry)
}

fn app(registry: Registry) -> App {
    wrapped(registry, routes())
}

fn request(path: &str, cookie: Option<&str>) -> Request<String> {
    let mut builder = Request::get(path);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(String::new()).unwrap()
}

async fn send(app: &App, request: Request<String>) -> Response {
    app.clone().oneshot(request).await.unwrap()
}

fn cookie_of(response: &Response) -> Option<String> {
    let ours = response.headers().get_all(header::SET_COOKIE).iter().find(|v| v.as_bytes().starts_with(b"id="))?;
    Some(ours.to_str().ok()?.split(';').next()?.to_owned())
}

async fn body(response: Response) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn first_cookie(app: &App) -> String {
    cookie_of(&send(app, request("/counter", None)).await).expect("the counter sets a cookie")
}

#[tokio::test]
async fn counter_round_trips_through_the_cookie() {
    let app = app(registry(&KeyRing::from(Key::generate()), Arc::new(MemoryBackend::new())));
    let first = send(&app, request("/counter", None)).await;
    let cookie = cookie_of(&first).expect("the counter sets a cookie");
    assert_eq!(body(first).await, "1");
    assert_eq!(body(send(&app, request("/counter", Some(&cookie))).await).await, "2");
}

#[tokio::test]
async fn handler_server_error_persists_nothing() {
    let app = app(registry(&KeyRing::from(Key::generate()), Arc::new(MemoryBackend::new())));
    let cookie = first_cookie(&app).await;

    let failed = send(&app, request("/fail", Some(&cookie))).await;
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(failed.headers().get(header::SET_COOKIE).is_none(), "a 5xx response must not set cookies");

    let next = send(&app, request("/counter", Some(&cookie))).await;
    assert_eq!(body(next).await, "2", "the failed request's increment must not be saved");
}

#[tokio::test]
async fn handler_client_error_still_saves() {
    let app = app(registry(&KeyRing::from(Key::generate()), Arc::new(MemoryBackend::new())));
    let cookie = first_cookie(&app).await;

    let refused = send(&app, request("/refuse", Some(&cookie))).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let next = send(&app, request("/counter", Some(&cookie))).await;
    assert_eq!(body(next).await, "3", "the 4xx request's increment is saved");
}

#[tokio::test]
async fn route_that_never_reads_a_session_gets_no_session_headers() {
    let app = app(registry(&KeyRing::from(Key::generate()), Arc::new(MemoryBackend::new())));
    let response = send(&app, request("/plain", None)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(header::VARY).is_none());
    assert!(response.headers().get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn storage_down_while_saving_answers_503() {
    let app = app(registry(&KeyRing::from(Key::generate()), Arc::new(UnavailableBackend)));
    let response = send(&app, request("/counter", None)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(body(response).await, "session storage unavailable", "the handler's body must not be sent");
}

#[tokio::test]
async fn storage_down_while_loading_answers_the_configured_status_not_warps_500() {
    let ring = KeyRing::from(Key::generate());
    // A valid cookie, minted while the storage was up.
    let cookie = first_cookie(&app(registry(&ring, Arc::new(MemoryBackend::new())))).await;

    let down = app(registry_answering_502(&ring, Arc::new(UnavailableBackend)));
    let response = send(&down, request("/counter", Some(&cookie))).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(body(response).await, "session storage unavailable", "not warp's `Unhandled rejection` text");
}

#[tokio::test]
async fn an_outage_met_through_sessions_and_rejected_answers_the_configured_status() {
    let ring = KeyRing::from(Key::generate());
    let cookie = first_cookie(&app(registry(&ring, Arc::new(MemoryBackend::new())))).await;

    // The warp habit: a handler turns the error into a rejection.
    let theme = warp::path!("theme").and(sessions()).and_then(|sessions: Sessions| async move {
        let session = sessions.default_session().await.map_err(warp::reject::custom)?;
        Ok::<_, Rejection>(session.get::<String>("theme").unwrap_or_default().unwrap_or_default())
    });
    let down = wrapped(registry_answering_502(&ring, Arc::new(UnavailableBackend)), theme);
    let response = send(&down, request("/theme", Some(&cookie))).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(body(response).await, "session storage unavailable");
}

#[tokio::test]
async fn an_outage_a_handler_returns_as_its_reply_answers_the_configured_status() {
    async fn log_out_everywhere(_session: Session) -> Result<&'static str, SessionError> {
        // What `ServerStore::destroy_user_sessions` returns while Redis is down.
        Err(sessions_core::Error::from(BackendError::unavailable("connection refused")))?
    }
    let ring = KeyRing::from(Key::generate());
    let route = warp::path!("logout").and(session()).then(log_out_everywhere);
    let app = wrapped(registry_answering_502(&ring, Arc::new(MemoryBackend::new())), route);
    let response = send(&app, request("/logout", None)).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.headers().get(header::SET_COOKIE).is_none(), "a failed request saves nothing");
    assert_eq!(body(response).await, "session storage unavailable");
}

#[tokio::test]
async fn or_branches_share_one_load_and_a_rejected_branch_write_is_saved_once() {
    let backend = Arc::new(CountingBackend::new(Arc::new(MemoryBackend::new())));
    // Both branches take the session; the first writes, then rejects.
    let marks = warp::path!("visit").and(session()).and_then(|s: Session| async move {
        s.insert("marked", &true).map_err(|e| warp::reject::custom(SessionError::from(e)))?;
        Err::<String, _>(warp::reject::not_found())
    });
    let counts = warp::path!("visit").and(session()).then(|s: Session| async move {
        let marked = s.get::<bool>("marked")?.unwrap_or(false);
        Ok::<_, SessionError>(format!("{} {marked}", counter(s).await?))
    });
    let app = wrapped(registry(&KeyRing::from(Key::generate()), backend.clone()), marks.or(counts));

    let first = send(&app, request("/visit", None)).await;
    let cookie = cookie_of(&first).expect("the visit sets a cookie");
    assert_eq!(body(first).await, "1 true", "the second branch sees the first branch's write");
    assert_eq!((backend.reads(), backend.writes()), (0, 1), "a new session: no load, one create");

    let next = send(&app, request("/visit", Some(&cookie))).await;
    assert_eq!(body(next).await, "2 true");
    assert_eq!((backend.reads(), backend.writes()), (1, 2), "one load and one save for both branches");
}

#[tokio::test]
async fn a_handler_set_cookie_survives_beside_ours() {
    let app = app(registry(&KeyRing::from(Key::generate()), Arc::new(MemoryBackend::new())));
    let response = send(&app, request("/own-cookie", None)).await;
    let cookies: Vec<&HeaderValue> = response.headers().get_all(header::SET_COOKIE).iter().collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(cookies.iter().any(|v| v.as_bytes().starts_with(b"theme=dark")), "{cookies:?}");
    assert!(cookie_of(&response).is_some(), "{cookies:?}");
}

#[tokio::test]
async fn a_tampered_cookie_yields_a_fresh_session() {
    let app = app(registry(&KeyRing::from(Key::generate()), Arc::new(MemoryBackend::new())));
    let cookie = first_cookie(&app).await;
    let tampered = format!("{}{}", &cookie[..cookie.len() - 1], if cookie.ends_with('A') { 'B' } else { 'A' });

    let response = send(&app, request("/counter", Some(&tampered))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, "1", "a fresh session, not an error");
}

#[tokio::test]
async fn a_cookie_that_is_not_ascii_does_not_hide_the_session() {
    let app = app(registry(&KeyRing::from(Key::generate()), Arc::new(MemoryBackend::new())));
    let cookie = first_cookie(&app).await;

    let junk_then_ours = [&b"junk=\xff\xfe; "[..], cookie.as_bytes()].concat();
    let mut next = request("/counter", None);
    next.headers_mut().insert(header::COOKIE, HeaderValue::from_bytes(&junk_then_ours).unwrap());
    assert_eq!(body(send(&app, next).await).await, "2", "the session cookie beside the junk must be read");
}

#[tokio::test]
async fn a_handler_that_returns_a_plain_reply_still_saves_its_write() {
    let app = app(registry(&KeyRing::from(Key::generate()), Arc::new(MemoryBackend::new())));
    let cookie = first_cookie(&app).await;

    let bumped = send(&app, request("/bump", Some(&cookie))).await;
    assert_eq!(bumped.status(), StatusCode::OK);
    assert_eq!(body(send(&app, request("/counter", Some(&cookie))).await).await, "3");
}

#[tokio::test]
async fn session_filter_without_wrap_answers_500_naming_wrap() {
    let response = warp::test::request().path("/counter").reply(&routes()).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = String::from_utf8_lossy(response.body());
    assert!(body.contains("sessions_warp::wrap"), "{body}");
}

#[tokio::test]
async fn sessions_filter_without_wrap_answers_500_naming_wrap() {
    let route = sessions().map(|_: Sessions| "unreachable");
    let response = warp::test::request().reply(&route).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(String::from_utf8_lossy(response.body()).contains("sessions_warp::wrap"));
}

#[tokio::test]
async fn wrapped_routes_serve_over_tcp_with_hyper_util() {
    use hyper_util::{rt::TokioExecutor, rt::TokioIo, server::conn::auto, service::TowerToHyperService};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // Served as the crate documentation shows, without boxing the service.
    let registry = registry(&KeyRing::from(Key::generate()), Arc::new(MemoryBackend::new()));
    let app = sessions_warp::wrap(warp::service(routes()), registry);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let app = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let server = auto::Builder::new(TokioExecutor::new());
                let _ = server.serve_connection_with_upgrades(TokioIo::new(stream), app).await;
            });
        }
    });

    let get = |cookie: Option<String>| async move {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let cookie = cookie.map(|c| format!("cookie: {c}\r\n")).unwrap_or_default();
        let head = format!("GET /counter HTTP/1.1\r\nhost: localhost\r\n{cookie}connection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let cookie = head.lines().find_map(|line| line.strip_prefix("set-cookie: id="));
        (cookie.map(|c| format!("id={}", c.split(';').next().unwrap())), body.to_owned())
    };
    let (cookie, first) = get(None).await;
    assert_eq!(first, "1");
    let (_, second) = get(Some(cookie.expect("the counter sets a cookie"))).await;
    assert_eq!(second, "2");
}

#[test]
fn session_service_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let registry = registry(&KeyRing::from(Key::generate()), Arc::new(MemoryBackend::new()));
    let mut app = sessions_warp::wrap(warp::service(routes()), registry);
    assert_send(&app.call(request("/counter", None)));
}

const PROBLEM: &str = r#"{"title":"Sign-in is resting; try again in a minute"}"#;

/// The registry's policy carries the application's own body: on a failed
/// save, on a failed load, and for a refused cross-origin form.
#[tokio::test]
async fn a_storage_outage_and_a_cross_origin_refusal_answer_the_applications_own_body() {
    use sessions_core::adapter::FailureKind;

    let ring = KeyRing::from(Key::generate());
    let cookie = first_cookie(&app(registry(&ring, Arc::new(MemoryBackend::new())))).await;
    let registry = Registry::builder()
        .store(ServerStore::new(config(&ring), Arc::new(UnavailableBackend)).unwrap())
        .failure_body(FailureKind::Unavailable, "application/problem+json", PROBLEM)
        .failure_body(FailureKind::CrossOrigin, "text/html; charset=utf-8", "<p>Please use the form on our site.</p>")
        .build()
        .unwrap();
    let down = app(registry);

    for (what, cookie) in [("save", None), ("load", Some(cookie.as_str()))] {
        let response = send(&down, request("/counter", cookie)).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json", "{what}");
        assert_eq!(body(response).await, PROBLEM, "{what}");
    }
    let forged = Request::post("/counter").header("sec-fetch-site", "cross-site").body(String::new()).unwrap();
    let refused = send(&down, forged).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(body(refused).await, "<p>Please use the form on our site.</p>");
}

sessions_warp::session_name! {
    /// The preferences session of the named-session test.
    struct Prefs = "prefs";
}

sessions_warp::session_name! {
    /// A session no store of the test's registry serves.
    struct Cart = "cart";
}

#[tokio::test]
async fn a_session_named_by_type_is_extracted_and_one_no_store_serves_answers_500() {
    use sessions_warp::Named;
    use sessions_warp::name::NamedSession;

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
    let theme = warp::path!("theme").and(sessions_warp::named::<Prefs>()).and(sessions()).then(
        |prefs: Named<Prefs>, sessions: Sessions| async move {
            let before = prefs.get::<String>("theme")?.unwrap_or_default();
            prefs.insert("theme", "dark")?;
            assert_eq!(sessions.get(Prefs).await?.get::<String>("theme")?.as_deref(), Some("dark"));
            Ok::<_, SessionError>(before)
        },
    );
    let cart =
        warp::path!("cart").and(sessions_warp::named::<Cart>()).map(|cart: Named<Cart>| cart.is_empty().to_string());
    let app = wrapped(registry, theme.or(cart));

    let first = send(&app, request("/theme", None)).await;
    let prefs = first.headers().get_all(header::SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        v.starts_with("prefs=").then(|| v.split(';').next().unwrap().to_owned())
    });
    assert_eq!(body(first).await, "", "no theme yet");
    let second = send(&app, request("/theme", prefs.as_deref())).await;
    assert_eq!(body(second).await, "dark", "the named session kept its value");

    let unserved = send(&app, request("/cart", None)).await;
    assert_eq!(unserved.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
