//! `Registry`: reading a request's `Cookie` headers.

mod common;

use common::{START, config, value};
use sessions_core::clock::ManualClock;
use sessions_core::{CookieStore, Registry, RequestSessions};

fn registry(clock: &ManualClock) -> Registry {
    Registry::single(CookieStore::new(config("s", clock)).unwrap())
}

/// The `Set-Cookie` of a session holding `user = ada`.
async fn issue(registry: &Registry) -> String {
    let sessions = registry.request([]);
    sessions.default_session().await.unwrap().insert("user", "ada").unwrap();
    let mut saved = sessions.save().await;
    assert!(saved.errors.is_empty(), "{:?}", saved.errors);
    saved.set_cookies.remove(0)
}

async fn user(sessions: &RequestSessions) -> Option<String> {
    sessions.default_session().await.unwrap().get::<String>("user").unwrap()
}

#[tokio::test]
async fn a_quoted_session_cookie_loads_the_session() {
    let clock = ManualClock::new(START);
    let registry = registry(&clock);
    let set_cookie = issue(&registry).await;
    let quoted = format!("s=\"{}\"", value(&set_cookie));
    assert_eq!(user(&registry.request([quoted.as_str()])).await.as_deref(), Some("ada"));
    let among_others = format!("a=1;  {quoted} ; b=\"2\"");
    assert_eq!(user(&registry.request([among_others.as_str()])).await.as_deref(), Some("ada"));
}
