//! A session carried in a request header through the layer: no
//! `Set-Cookie`, `Vary` naming the header, an empty value at the end.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use sessions_axum::{
    MemoryBackend, Registry, ServerStore, Session, SessionError, SessionLayer, StoreConfig, Transport,
};
use sessions_core::{Key, KeyRing};
use tower::ServiceExt;

async fn counter(session: Session) -> Result<String, SessionError> {
    let count = session.get::<u64>("count")?.unwrap_or(0) + 1;
    session.insert("count", &count)?;
    Ok(count.to_string())
}

async fn logout(session: Session) -> StatusCode {
    session.destroy();
    StatusCode::NO_CONTENT
}

fn app(transport: Transport) -> Router {
    let config = StoreConfig::new("id", KeyRing::from(Key::generate())).transport(transport);
    let registry = Registry::single(ServerStore::new(config, Arc::new(MemoryBackend::new())).unwrap());
    Router::new().route("/counter", post(counter)).route("/logout", post(logout)).layer(SessionLayer::new(registry))
}

fn request(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::post(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

async fn body(response: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn values<'a>(response: &'a axum::response::Response, name: &str) -> Vec<&'a str> {
    response.headers().get_all(name).iter().map(|v| v.to_str().unwrap()).collect()
}

#[tokio::test]
async fn session_travels_in_a_header_and_ends_with_an_empty_value() {
    let app = app(Transport::Header("x-session"));
    let first = app.clone().oneshot(request("/counter", &[])).await.unwrap();
    assert!(first.headers().get("set-cookie").is_none(), "no cookie for a header session");
    assert_eq!(values(&first, "vary"), ["x-session"]);
    assert_eq!(values(&first, "cache-control"), ["no-store"]);
    let token = values(&first, "x-session")[0].to_owned();
    assert_eq!(body(first).await, "1");

    let second = app.clone().oneshot(request("/counter", &[("x-session", &token)])).await.unwrap();
    assert!(values(&second, "x-session").is_empty(), "an unchanged id is not sent again");
    assert_eq!(body(second).await, "2");

    // A cross-site request carrying the header: no cookie rides on it.
    let cross = [("x-session", token.as_str()), ("sec-fetch-site", "cross-site")];
    assert_eq!(body(app.clone().oneshot(request("/counter", &cross)).await.unwrap()).await, "3");

    let out = app.clone().oneshot(request("/logout", &[("x-session", &token)])).await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(values(&out, "x-session"), [""], "the end is an empty value");
    assert!(out.headers().get("set-cookie").is_none());
    let after = app.oneshot(request("/counter", &[("x-session", &token)])).await.unwrap();
    assert_eq!(body(after).await, "1", "the old value names no session");
}

#[tokio::test]
async fn bearer_session_reads_authorization_and_bad_values_start_fresh() {
    let app = app(Transport::Bearer);
    let first = app.clone().oneshot(request("/counter", &[])).await.unwrap();
    let line = values(&first, "authorization")[0].to_owned();
    assert!(line.starts_with("Bearer "), "{line}");
    assert_eq!(values(&first, "vary"), ["authorization"]);
    let second = app.clone().oneshot(request("/counter", &[("authorization", &line)])).await.unwrap();
    assert_eq!(body(second).await, "2");
    for bad in [
        &[("authorization", "Bearer")][..],
        &[("authorization", "Basic YTpi")],
        &[("authorization", &line), ("authorization", &line)],
    ] {
        let response = app.clone().oneshot(request("/counter", bad)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{bad:?}");
        assert_eq!(body(response).await, "1", "{bad:?} starts a fresh session");
    }
}
