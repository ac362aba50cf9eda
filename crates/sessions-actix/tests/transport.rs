//! A session carried in a request header through the middleware: no
//! `Set-Cookie`, `Vary` naming the header, an empty value at the end.

use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, test, web};
use sessions_actix::{
    MemoryBackend, Registry, ServerStore, Session, SessionError, SessionMiddleware, StoreConfig, Transport,
};
use sessions_core::{Key, KeyRing};

async fn counter(session: Session) -> Result<String, SessionError> {
    let count = session.get::<u64>("count")?.unwrap_or(0) + 1;
    session.insert("count", &count)?;
    Ok(count.to_string())
}

async fn logout(session: Session) -> HttpResponse {
    session.destroy();
    HttpResponse::NoContent().finish()
}

fn registry() -> Registry {
    let config = StoreConfig::new("id", KeyRing::from(Key::generate())).transport(Transport::Header("x-session"));
    Registry::single(ServerStore::new(config, Arc::new(MemoryBackend::new())).unwrap())
}

fn post(path: &str, headers: &[(&str, &str)]) -> actix_http::Request {
    let mut request = test::TestRequest::post().uri(path);
    for (name, value) in headers {
        request = request.append_header((*name, *value));
    }
    request.to_request()
}

fn values<B>(response: &ServiceResponse<B>, name: &str) -> Vec<String> {
    response.headers().get_all(name).map(|v| v.to_str().unwrap().to_owned()).collect()
}

#[actix_web::test]
async fn session_travels_in_a_header_and_ends_with_an_empty_value() {
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(registry()))
            .route("/counter", web::post().to(counter))
            .route("/logout", web::post().to(logout)),
    )
    .await;
    let first = test::call_service(&app, post("/counter", &[])).await;
    assert!(first.headers().get("set-cookie").is_none(), "no cookie for a header session");
    assert_eq!(values(&first, "vary"), ["x-session"]);
    assert_eq!(values(&first, "cache-control"), ["no-store"]);
    let token = values(&first, "x-session").remove(0);
    assert_eq!(test::read_body(first).await, "1");

    let second = test::call_service(&app, post("/counter", &[("x-session", &token)])).await;
    assert!(values(&second, "x-session").is_empty(), "an unchanged id is not sent again");
    assert_eq!(test::read_body(second).await, "2");
    let cross = [("x-session", token.as_str()), ("sec-fetch-site", "cross-site")];
    assert_eq!(test::read_body(test::call_service(&app, post("/counter", &cross)).await).await, "3");
    let twice = [("x-session", token.as_str()), ("x-session", token.as_str())];
    assert_eq!(test::read_body(test::call_service(&app, post("/counter", &twice)).await).await, "1");

    let out = test::call_service(&app, post("/logout", &[("x-session", &token)])).await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(values(&out, "x-session"), [""], "the end is an empty value");
    assert!(out.headers().get("set-cookie").is_none());
    let after = test::call_service(&app, post("/counter", &[("x-session", &token)])).await;
    assert_eq!(test::read_body(after).await, "1", "the old value names no session");
}
