//! Cross-origin protection through `wrap`: a forged form is refused before
//! any filter, loads no session and saves nothing; the site's own forms,
//! programs and cross-site links pass.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use sessions_core::adapter::FailureKind;
use sessions_core::backend::MemoryBackend;
use sessions_core::testing::CountingBackend;
use sessions_core::{CookieOptions, CrossOrigin, Key, KeyRing, Registry, ServerStore, StoreConfig};
use sessions_warp::{Session, SessionError, session};
use tower::ServiceExt;
use warp::Filter;
use warp::reply::Response;

const HOST: &str = "app.example";
const SAME_ORIGIN: &[(&str, &str)] = &[("sec-fetch-site", "same-origin"), ("origin", "http://app.example")];
const CROSS_SITE: &[(&str, &str)] = &[("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")];

type App = sessions_warp::SessionService<tower::util::BoxCloneSyncService<Request<String>, Response, Infallible>>;

struct World {
    app: App,
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
    let login = warp::path!("login").and(warp::post()).and(session()).then(move |session: Session| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            session.cycle_id();
            session.insert("user", "ada")?;
            Ok::<_, SessionError>("welcome")
        }
    });
    let me = warp::path!("me").and(warp::get()).and(session()).then(|session: Session| async move {
        Ok::<_, SessionError>(session.get::<String>("user")?.unwrap_or_default())
    });
    let service = tower::util::BoxCloneSyncService::new(warp::service(login.or(me)));
    World { app: sessions_warp::wrap(service, registry), logins, backend }
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], cookie: Option<&str>) -> Request<String> {
    let mut builder = Request::builder().method(method).uri(path).header(header::HOST, HOST);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(String::new()).unwrap()
}

async fn send(app: &App, request: Request<String>) -> Response {
    app.clone().oneshot(request).await.unwrap()
}

fn cookie_of(response: &Response) -> Option<String> {
    let set_cookie = response.headers().get(header::SET_COOKIE)?.to_str().ok()?;
    Some(set_cookie.split(';').next()?.to_owned())
}

async fn body(response: Response) -> String {
    String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn cross_site_post_is_refused_before_the_handler_and_touches_no_session() {
    let world = world(CrossOrigin::new());
    let login = send(&world.app, request("POST", "/login", SAME_ORIGIN, None)).await;
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = cookie_of(&login).expect("login sets the session cookie");
    let (reads, writes) = (world.backend.reads(), world.backend.writes());

    let refused = send(&world.app, request("POST", "/login", CROSS_SITE, Some(&cookie))).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.extensions().get::<FailureKind>(), Some(&FailureKind::CrossOrigin));
    assert!(refused.headers().get(header::SET_COOKIE).is_none(), "a refusal sends no cookie");
    assert_eq!(body(refused).await, "cross-origin request refused");
    assert_eq!(world.logins.load(Ordering::SeqCst), 1, "the handler must not run");
    assert_eq!((world.backend.reads(), world.backend.writes()), (reads, writes), "no session loaded or saved");

    let me = send(&world.app, request("GET", "/me", &[], Some(&cookie))).await;
    assert_eq!(body(me).await, "ada", "the session is as it was");
}

#[tokio::test]
async fn origin_of_another_host_without_sec_fetch_site_is_refused() {
    let world = world(CrossOrigin::new());
    let older_browser = [("origin", "http://evil.example")];
    let response = send(&world.app, request("POST", "/login", &older_browser, None)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(world.logins.load(Ordering::SeqCst), 0);
    assert_eq!(world.backend.writes(), 0);
}

#[tokio::test]
async fn same_origin_header_less_and_cross_site_get_requests_pass() {
    let world = world(CrossOrigin::new());
    assert_eq!(send(&world.app, request("POST", "/login", SAME_ORIGIN, None)).await.status(), StatusCode::OK);
    let older_browser = [("origin", "http://app.example")];
    assert_eq!(send(&world.app, request("POST", "/login", &older_browser, None)).await.status(), StatusCode::OK);
    let program = send(&world.app, request("POST", "/login", &[], None)).await;
    assert_eq!(program.status(), StatusCode::OK);
    let cookie = cookie_of(&program).expect("a program's login sets the cookie");
    assert_eq!(world.logins.load(Ordering::SeqCst), 3);

    let link = send(&world.app, request("GET", "/me", CROSS_SITE, Some(&cookie))).await;
    assert_eq!(link.status(), StatusCode::OK);
    assert_eq!(body(link).await, "ada");
}

#[tokio::test]
async fn disabled_protection_lets_a_cross_site_post_through() {
    let world = world(CrossOrigin::disabled());
    assert_eq!(send(&world.app, request("POST", "/login", CROSS_SITE, None)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn refuse_with_answers_the_refusal_the_applications_way() {
    let world = world(CrossOrigin::new());
    let app = world.app.clone().refuse_with(|headers: &http::HeaderMap| {
        let page = headers.get(header::ACCEPT).is_some_and(|accept| accept.as_bytes().starts_with(b"text/html"));
        let text = if page { "<h1>Refused</h1>" } else { "refused" };
        warp::reply::with_status(text, StatusCode::FORBIDDEN)
    });
    let mut browser = request("POST", "/login", CROSS_SITE, None);
    browser.headers_mut().insert(header::ACCEPT, "text/html".parse().unwrap());
    let refused = send(&app, browser).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.extensions().get::<FailureKind>(), Some(&FailureKind::CrossOrigin));
    assert_eq!(body(refused).await, "<h1>Refused</h1>");
    assert_eq!(body(send(&app, request("POST", "/login", CROSS_SITE, None)).await).await, "refused");
    assert_eq!(body(send(&app, request("POST", "/login", SAME_ORIGIN, None)).await).await, "welcome");
    assert_eq!(world.logins.load(Ordering::SeqCst), 1);
}
