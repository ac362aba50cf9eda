//! `Registry`: reading a request's `Cookie` headers, and the `Set-Cookie`
//! values it hands back.

mod common;

use common::{START, config, pair, value};
use sessions_core::adapter::RequestSessions;
use sessions_core::clock::ManualClock;
use sessions_core::testing;
use sessions_core::{CookieOptions, CookieStore, Error, Registry};

fn registry(clock: &ManualClock) -> Registry {
    Registry::single(CookieStore::new(config("s", clock)).unwrap())
}

/// The `Set-Cookie` of a session holding `user = ada`.
async fn issue(registry: &Registry) -> String {
    let sessions = registry.request([]);
    sessions.default_session().await.unwrap().insert("user", "ada").unwrap();
    let finished = sessions.finish(200, None, testing::header_pair).await;
    assert!(finished.errors.is_empty(), "{:?}", finished.errors);
    finished.values("set-cookie").next().expect("a new session sets its cookie").to_owned()
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

#[tokio::test]
async fn a_cookie_that_is_not_ascii_does_not_hide_the_session_cookie() {
    let clock = ManualClock::new(START);
    let registry = registry(&clock);
    let set_cookie = issue(&registry).await;
    let ours = pair(&set_cookie).as_bytes();
    for junk in [&b"junk=\xff\xfe"[..], b"caf\xc3\xa9=cr\xc3\xa8me", b"\xff", b"x=\x01\x7f"] {
        let before = [junk, b"; ", ours].concat();
        let after = [ours, b";", junk].concat();
        for header in [&before, &after] {
            let sessions = registry.request_bytes([header.as_slice()]);
            assert_eq!(user(&sessions).await.as_deref(), Some("ada"), "{:?}", String::from_utf8_lossy(header));
        }
        // The same junk in a header of its own (HTTP/2 splits them).
        let sessions = registry.request_bytes([junk, ours]);
        assert_eq!(user(&sessions).await.as_deref(), Some("ada"));
    }
}

#[tokio::test]
async fn values_that_are_not_cookie_values_are_skipped_not_counted() {
    let clock = ManualClock::new(START);
    let registry = registry(&clock);
    let set_cookie = issue(&registry).await;
    // More invalid candidates than the registry tries, all before the
    // valid one: they must not use up its places.
    let header = [&b"s=\xff; s=a b; s=\x01; s=\xe2\x82\xac; s=\"\xff\"; "[..], pair(&set_cookie).as_bytes()].concat();
    let sessions = registry.request_bytes([header.as_slice()]);
    assert_eq!(user(&sessions).await.as_deref(), Some("ada"));
}

#[tokio::test]
async fn names_match_exactly_and_pairs_need_an_equals_sign() {
    let clock = ManualClock::new(START);
    let registry = registry(&clock);
    let set_cookie = issue(&registry).await;
    let v = value(&set_cookie);
    for header in [format!("S={v}"), format!("s2={v}"), format!("\"s\"={v}"), format!("s{v}"), format!("xs={v}")] {
        let sessions = registry.request([header.as_str()]);
        assert_eq!(user(&sessions).await, None, "{header}");
    }
    let spaced = format!(" \ts \t= \t{v} \t");
    assert_eq!(user(&registry.request([spaced.as_str()])).await.as_deref(), Some("ada"));
}

#[tokio::test]
async fn per_session_options_that_cannot_be_sent_are_refused_and_the_logout_still_removes_the_cookie() {
    let clock = ManualClock::new(START);
    let registry = registry(&clock);
    let set_cookie = issue(&registry).await;

    let sessions = registry.request([pair(&set_cookie)]);
    let session = sessions.default_session().await.unwrap();
    let refused = session.set_cookie_options(CookieOptions::new().secure(false).path("/app\u{1}"));
    assert!(matches!(refused, Err(Error::Config(_))), "{refused:?}");
    session.destroy();
    let finished = sessions.finish(200, None, testing::header_pair).await;
    assert_eq!(finished.replace, None);
    let removal: Vec<&str> = finished.values("set-cookie").collect();
    assert!(matches!(removal.as_slice(), [one] if one.contains("Max-Age=0") && one.contains("Path=/;")), "{removal:?}");
}

#[tokio::test]
async fn cookie_attributes_are_checked_when_the_store_is_built() {
    let clock = ManualClock::new(START);
    for (name, options) in [
        ("__HOST-s", CookieOptions::new().path("/app")),
        ("__host-s", CookieOptions::new().domain(Some("example.com".into()))),
        ("__SECURE-s", CookieOptions::new().secure(false)),
        ("s", CookieOptions::new().path("/; Domain=evil.example")),
        ("s", CookieOptions::new().domain(Some("example.com; Secure".into()))),
    ] {
        let config = config(name, &clock).cookie_options(options);
        assert!(matches!(CookieStore::new(config), Err(Error::Config(_))), "{name}");
    }
}
