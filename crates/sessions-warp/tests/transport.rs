//! A session carried in a request header through `wrap`: no
//! `Set-Cookie`, `Vary` naming the header, an empty value at the end.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use sessions_core::{Key, KeyRing};
use sessions_warp::{MemoryBackend, Registry, ServerStore, Session, SessionError, StoreConfig, Transport, session};
use tower::ServiceExt;
use warp::Filter;
use warp::reply::Response;

async fn counter(session: Session) -> Result<String, SessionError> {
    let count = session.get::<u64>("count")?.unwrap_or(0) + 1;
    session.insert("count", &count)?;
    Ok(count.to_string())
}

type App = sessions_warp::SessionService<tower::util::BoxCloneSyncService<Request<String>, Response, Infallible>>;

fn app() -> App {
    let config = StoreConfig::new("id", KeyRing::from(Key::generate())).transport(Transport::Header("x-session"));
    let registry = Registry::single(ServerStore::new(config, Arc::new(MemoryBackend::new())).unwrap());
    let count = warp::path!("counter").and(session()).then(counter);
    let logout = warp::path!("logout").and(session()).map(|s: Session| {
        s.destroy();
        StatusCode::NO_CONTENT
    });
    sessions_warp::wrap(tower::util::BoxCloneSyncService::new(warp::service(count.or(logout))), registry)
}

async fn post(app: &App, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut builder = Request::post(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    app.clone().oneshot(builder.body(String::new()).unwrap()).await.unwrap()
}

async fn body(response: Response) -> String {
    String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

fn values<'a>(response: &'a Response, name: &str) -> Vec<&'a str> {
    response.headers().get_all(name).iter().map(|v| v.to_str().unwrap()).collect()
}

#[tokio::test]
async fn session_travels_in_a_header_and_ends_with_an_empty_value() {
    let app = app();
    let first = post(&app, "/counter", &[]).await;
    assert!(first.headers().get("set-cookie").is_none(), "no cookie for a header session");
    assert_eq!(values(&first, "vary"), ["x-session"]);
    assert_eq!(values(&first, "cache-control"), ["no-store"]);
    let token = values(&first, "x-session")[0].to_owned();
    assert_eq!(body(first).await, "1");

    let second = post(&app, "/counter", &[("x-session", &token)]).await;
    assert!(values(&second, "x-session").is_empty(), "an unchanged id is not sent again");
    assert_eq!(body(second).await, "2");
    let cross = [("x-session", token.as_str()), ("sec-fetch-site", "cross-site")];
    assert_eq!(body(post(&app, "/counter", &cross).await).await, "3");
    let twice = [("x-session", token.as_str()), ("x-session", token.as_str())];
    assert_eq!(body(post(&app, "/counter", &twice).await).await, "1");

    let out = post(&app, "/logout", &[("x-session", &token)]).await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(values(&out, "x-session"), [""], "the end is an empty value");
    assert!(out.headers().get("set-cookie").is_none());
    assert_eq!(
        body(post(&app, "/counter", &[("x-session", &token)]).await).await,
        "1",
        "the old value names no session"
    );
}
