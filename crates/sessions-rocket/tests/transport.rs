//! A session carried in a request header through the fairing: no
//! `Set-Cookie`, `Vary` naming the header, an empty value at the end.

use std::sync::Arc;

use rocket::http::{Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::{Build, Rocket, post, routes};
use sessions_core::{Key, KeyRing};
use sessions_rocket::{
    MemoryBackend, Registry, ServerStore, Session, SessionError, SessionFairing, StoreConfig, Transport,
};

#[post("/counter")]
fn counter(session: Session) -> Result<String, SessionError> {
    let count = session.get::<u64>("count")?.unwrap_or(0) + 1;
    session.insert("count", &count)?;
    Ok(count.to_string())
}

#[post("/logout")]
fn logout(session: Session) -> Status {
    session.destroy();
    Status::NoContent
}

fn app() -> Rocket<Build> {
    let config = StoreConfig::new("id", KeyRing::from(Key::generate())).transport(Transport::Bearer);
    let registry = Registry::single(ServerStore::new(config, Arc::new(MemoryBackend::new())).unwrap());
    let quiet = rocket::Config { log_level: rocket::config::LogLevel::Off, ..rocket::Config::debug_default() };
    rocket::custom(quiet).attach(SessionFairing::new(registry)).mount("/", routes![counter, logout])
}

async fn post<'c>(client: &'c Client, path: &str, headers: &[(&'static str, &str)]) -> LocalResponse<'c> {
    let mut request = client.post(path.to_owned());
    for (name, value) in headers {
        request = request.header(Header::new(*name, value.to_string()));
    }
    request.dispatch().await
}

fn values(response: &LocalResponse<'_>, name: &str) -> Vec<String> {
    response.headers().get(name).map(str::to_owned).collect()
}

#[rocket::async_test]
async fn bearer_session_travels_in_authorization_and_ends_with_an_empty_value() {
    let client = Client::untracked(app()).await.unwrap();
    let first = post(&client, "/counter", &[]).await;
    assert!(values(&first, "Set-Cookie").is_empty(), "no cookie for a header session");
    assert_eq!(values(&first, "Vary"), ["authorization"]);
    assert_eq!(values(&first, "Cache-Control"), ["no-store"]);
    let line = values(&first, "Authorization").remove(0);
    assert!(line.starts_with("Bearer "), "{line}");
    assert_eq!(first.into_string().await.unwrap(), "1");

    let second = post(&client, "/counter", &[("Authorization", &line)]).await;
    assert!(values(&second, "Authorization").is_empty(), "an unchanged id is not sent again");
    assert_eq!(second.into_string().await.unwrap(), "2");
    let cross = [("Authorization", line.as_str()), ("Sec-Fetch-Site", "cross-site")];
    assert_eq!(post(&client, "/counter", &cross).await.into_string().await.unwrap(), "3");
    let no_token = post(&client, "/counter", &[("Authorization", "Bearer")]).await;
    assert_eq!(no_token.into_string().await.unwrap(), "1", "a Bearer without a token starts a fresh session");

    let out = post(&client, "/logout", &[("Authorization", &line)]).await;
    assert_eq!(out.status(), Status::NoContent);
    assert_eq!(values(&out, "Authorization"), [""], "the end is an empty value");
    assert!(values(&out, "Set-Cookie").is_empty());
    let after = post(&client, "/counter", &[("Authorization", &line)]).await;
    assert_eq!(after.into_string().await.unwrap(), "1", "the old value names no session");
}
