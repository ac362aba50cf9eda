//! Cross-origin protection through the middleware: a forged form is
//! refused before its handler, loads no session and saves nothing; the
//! site's own forms, programs and cross-site links pass.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::dev::ServiceResponse;
use actix_web::http::{StatusCode, header};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{App, HttpResponse, test, web};
use sessions_actix::{Session, SessionError, SessionMiddleware};
use sessions_core::adapter::FailureKind;
use sessions_core::backend::MemoryBackend;
use sessions_core::testing::CountingBackend;
use sessions_core::{CookieOptions, CrossOrigin, Key, KeyRing, Registry, ServerStore, StoreConfig};

const HOST: &str = "app.example";
const SAME_ORIGIN: &[(&str, &str)] = &[("sec-fetch-site", "same-origin"), ("origin", "http://app.example")];
const CROSS_SITE: &[(&str, &str)] = &[("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")];

struct World {
    registry: Registry,
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
    World { registry, logins: Arc::new(AtomicUsize::new(0)), backend }
}

/// The routes, `/login` counting its runs in `logins`.
fn routes(logins: Arc<AtomicUsize>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |config| {
        config
            .route(
                "/login",
                web::post().to(move |session: Session| {
                    logins.fetch_add(1, Ordering::SeqCst);
                    async move {
                        session.cycle_id();
                        session.insert("user", "ada")?;
                        Ok::<_, SessionError>("welcome")
                    }
                }),
            )
            .route(
                "/me",
                web::get().to(|session: Session| async move {
                    Ok::<_, SessionError>(session.get::<String>("user")?.unwrap_or_default())
                }),
            );
    }
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], cookie: Option<&str>) -> actix_http::Request {
    let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = test::TestRequest::default().method(method).uri(path).insert_header((header::HOST, HOST));
    for &(name, value) in headers {
        request = request.insert_header((name, value));
    }
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
async fn cross_site_post_is_refused_before_the_handler_and_touches_no_session() {
    let world = world(CrossOrigin::new());
    let app = test::init_service(
        App::new().wrap(SessionMiddleware::new(world.registry.clone())).configure(routes(world.logins.clone())),
    )
    .await;
    let login = test::call_service(&app, request("POST", "/login", SAME_ORIGIN, None)).await;
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = cookie_of(&login).expect("login sets the session cookie");
    let (reads, writes) = (world.backend.reads(), world.backend.writes());

    let refused = test::call_service(&app, request("POST", "/login", CROSS_SITE, Some(&cookie))).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.response().extensions().get::<FailureKind>(), Some(&FailureKind::CrossOrigin));
    assert!(refused.headers().get(header::SET_COOKIE).is_none(), "a refusal sends no cookie");
    assert_eq!(test::read_body(refused).await, "cross-origin request refused");
    assert_eq!(world.logins.load(Ordering::SeqCst), 1, "the handler must not run");
    assert_eq!((world.backend.reads(), world.backend.writes()), (reads, writes), "no session loaded or saved");

    let me = test::call_service(&app, request("GET", "/me", &[], Some(&cookie))).await;
    assert_eq!(test::read_body(me).await, "ada", "the session is as it was");
}

#[actix_web::test]
async fn origin_of_another_host_without_sec_fetch_site_is_refused() {
    let world = world(CrossOrigin::new());
    let app = test::init_service(
        App::new().wrap(SessionMiddleware::new(world.registry.clone())).configure(routes(world.logins.clone())),
    )
    .await;
    let older_browser = [("origin", "http://evil.example")];
    let response = test::call_service(&app, request("POST", "/login", &older_browser, None)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(world.logins.load(Ordering::SeqCst), 0);
    assert_eq!(world.backend.writes(), 0);
}

#[actix_web::test]
async fn same_origin_header_less_and_cross_site_get_requests_pass() {
    let world = world(CrossOrigin::new());
    let app = test::init_service(
        App::new().wrap(SessionMiddleware::new(world.registry.clone())).configure(routes(world.logins.clone())),
    )
    .await;
    let same_origin = test::call_service(&app, request("POST", "/login", SAME_ORIGIN, None)).await;
    assert_eq!(same_origin.status(), StatusCode::OK);
    let older_browser = [("origin", "http://app.example")];
    let older = test::call_service(&app, request("POST", "/login", &older_browser, None)).await;
    assert_eq!(older.status(), StatusCode::OK);
    let program = test::call_service(&app, request("POST", "/login", &[], None)).await;
    assert_eq!(program.status(), StatusCode::OK);
    let cookie = cookie_of(&program).expect("a program's login sets the cookie");
    assert_eq!(world.logins.load(Ordering::SeqCst), 3);

    let link = test::call_service(&app, request("GET", "/me", CROSS_SITE, Some(&cookie))).await;
    assert_eq!(link.status(), StatusCode::OK);
    assert_eq!(test::read_body(link).await, "ada");
}

#[actix_web::test]
async fn disabled_protection_lets_a_cross_site_post_through() {
    let world = world(CrossOrigin::disabled());
    let app = test::init_service(
        App::new().wrap(SessionMiddleware::new(world.registry.clone())).configure(routes(world.logins.clone())),
    )
    .await;
    let response = test::call_service(&app, request("POST", "/login", CROSS_SITE, None)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

fn refusal_page<B>(response: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    if response.response().extensions().get::<FailureKind>() != Some(&FailureKind::CrossOrigin) {
        return Ok(ErrorHandlerResponse::Response(response.map_into_left_body()));
    }
    let (request, _) = response.into_parts();
    let page = HttpResponse::Forbidden().content_type("text/html; charset=utf-8").body("<h1>Refused</h1>");
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(request, page).map_into_right_body()))
}

#[actix_web::test]
async fn error_handlers_outside_the_middleware_answer_the_refusal_their_own_way() {
    let world = world(CrossOrigin::new());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(world.registry.clone()))
            .wrap(ErrorHandlers::new().handler(StatusCode::FORBIDDEN, refusal_page))
            .configure(routes(world.logins.clone())),
    )
    .await;
    let refused = test::call_service(&app, request("POST", "/login", CROSS_SITE, None)).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(test::read_body(refused).await, "<h1>Refused</h1>");
    let passed = test::call_service(&app, request("POST", "/login", SAME_ORIGIN, None)).await;
    assert_eq!(test::read_body(passed).await, "welcome");
    assert_eq!(world.logins.load(Ordering::SeqCst), 1);
}
