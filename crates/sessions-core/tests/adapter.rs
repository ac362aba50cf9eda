//! The edge every adapter shares: one policy on the registry, one answer
//! for a session failure whatever step met it, and nothing persisted by a
//! response that failed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{START, config};
use sessions_core::adapter::{Failure, FailureKind, Policy, Reply};
use sessions_core::backend::record::Fields;
use sessions_core::backend::{Backend, BackendError, MemoryBackend, Patch, StorageKey, Stored};
use sessions_core::clock::ManualClock;
use sessions_core::testing;
use sessions_core::{CookieStore, Error, Key, KeyRing, Registry, ServerStore, StoreConfig};

/// A backend that serves loads and refuses every write: the outage meets
/// the request at its save, after the handler ran.
#[derive(Debug)]
struct WritesFail;

#[async_trait]
impl Backend for WritesFail {
    async fn load(&self, _: &StorageKey) -> Result<Option<Stored>, BackendError> {
        Ok(None)
    }
    async fn create(&self, _: &StorageKey, _: &Fields, _: Duration) -> Result<bool, BackendError> {
        Err(BackendError::unavailable("connection refused"))
    }
    async fn update(&self, _: &StorageKey, _: &Patch, _: Duration) -> Result<bool, BackendError> {
        Err(BackendError::unavailable("connection refused"))
    }
    async fn delete(&self, _: &StorageKey) -> Result<(), BackendError> {
        Err(BackendError::unavailable("connection refused"))
    }
    async fn touch(&self, _: &StorageKey, _: Duration) -> Result<bool, BackendError> {
        Err(BackendError::unavailable("connection refused"))
    }
}

/// A backend that serves loads and refuses every new record for lack of
/// room, as a store at its bound does.
#[derive(Debug)]
struct CreatesFull;

#[async_trait]
impl Backend for CreatesFull {
    async fn load(&self, _: &StorageKey) -> Result<Option<Stored>, BackendError> {
        Ok(None)
    }
    async fn create(&self, _: &StorageKey, _: &Fields, _: Duration) -> Result<bool, BackendError> {
        Err(BackendError::Full("at its bound of 64 MiB".into()))
    }
    async fn update(&self, _: &StorageKey, _: &Patch, _: Duration) -> Result<bool, BackendError> {
        Ok(false)
    }
    async fn delete(&self, _: &StorageKey) -> Result<(), BackendError> {
        Ok(())
    }
    async fn touch(&self, _: &StorageKey, _: Duration) -> Result<bool, BackendError> {
        Ok(false)
    }
}

fn registry(clock: &ManualClock, backend: Arc<dyn Backend>, unavailable: u16) -> Registry {
    Registry::builder()
        .store(ServerStore::new(config("id", clock), backend).unwrap())
        .store(CookieStore::new(config("prefs", clock)).unwrap())
        .unavailable_status(unavailable)
        .build()
        .unwrap()
}

#[test]
fn the_outage_status_must_be_an_error_status() {
    for status in [0, 200, 302, 399, 600, 999] {
        assert!(matches!(Policy::default().with_unavailable_status(status), Err(Error::Config(_))), "{status}");
        let clock = ManualClock::new(START);
        let built = Registry::builder()
            .store(CookieStore::new(config("s", &clock)).unwrap())
            .unavailable_status(status)
            .build();
        assert!(matches!(built, Err(Error::Config(_))), "{status}");
    }
    assert_eq!(Policy::default().status(FailureKind::Unavailable), 503);
    assert_eq!(Policy::default().with_unavailable_status(500).unwrap().status(FailureKind::Unavailable), 500);
}

#[test]
fn every_failure_has_one_public_reason_that_names_no_cause() {
    let down = Failure::from(Error::from(BackendError::unavailable("10.0.0.7:6379 refused; password=hunter2")));
    let full = Failure::from(Error::from(BackendError::Full("no room at 10.0.0.7".into())));
    let bad = Failure::from(Error::UnknownStore("secret-store".into()));
    let missing = Failure::NotInstalled("wrap the app in the session middleware");
    let policy = Policy::default().with_unavailable_status(502).unwrap();
    assert_eq!(policy.reply(down.kind()), Reply::text(502, "session storage unavailable"));
    assert_eq!(policy.reply(full.kind()), Reply::text(502, "session storage full"));
    assert_eq!(policy.reply(bad.kind()), Reply::text(500, "session error"));
    assert_eq!(policy.reply(missing.kind()).status, 500);
    for failure in [&down, &full, &bad, &missing] {
        let reason = policy.reply(failure.kind()).body;
        for secret in ["10.0.0.7", "hunter2", "secret-store"] {
            assert!(!reason.contains(secret), "{reason}");
        }
    }
    assert!(missing.to_string().contains("middleware"), "the wiring mistake says how to fix it");
    assert!(down.session_error().is_some_and(Error::is_unavailable));
}

#[tokio::test]
async fn an_outage_at_save_answers_the_registry_status_and_keeps_the_saved_cookies() {
    let clock = ManualClock::new(START);
    let registry = registry(&clock, Arc::new(WritesFail), 502);
    let sessions = registry.request([]);
    sessions.default_session().await.unwrap().insert("a", &1).unwrap();
    sessions.get("prefs").await.unwrap().insert("theme", "dark").unwrap();
    let finished = sessions.finish(200, None, testing::header_pair).await;
    assert_eq!(finished.replace, Some(Reply::text(502, "session storage unavailable")));
    assert_eq!(finished.status(200), 502);
    assert_eq!(finished.values("set-cookie").count(), 1, "the cookie session still saved");
    assert!(finished.values("set-cookie").next().unwrap().starts_with("prefs="));
    assert_eq!(finished.errors.len(), 1);
}

#[tokio::test]
async fn a_full_store_at_save_answers_the_outage_status_with_its_own_reason() {
    let clock = ManualClock::new(START);
    let sessions = registry(&clock, Arc::new(CreatesFull), 503).request([]);
    sessions.default_session().await.unwrap().insert("a", &1).unwrap();
    let finished = sessions.finish(200, None, testing::header_pair).await;
    assert_eq!(finished.replace, Some(Reply::text(503, "session storage full")));
    assert!(finished.errors[0].1.is_full() && finished.errors[0].1.is_unavailable());
    // Tagged by an adapter whose handler met it, it reads the same.
    let tagged = registry(&clock, Arc::new(CreatesFull), 503)
        .request([])
        .finish(500, Some(FailureKind::Full), testing::header_pair)
        .await;
    assert_eq!(tagged.replace, Some(Reply::text(503, "session storage full")));
}

#[tokio::test]
async fn an_outage_at_load_answers_exactly_as_one_at_save() {
    let clock = ManualClock::new(START);
    let at_save = {
        let sessions = registry(&clock, Arc::new(WritesFail), 503).request([]);
        sessions.default_session().await.unwrap().insert("a", &1).unwrap();
        sessions.finish(200, None, testing::header_pair).await.replace
    };
    // The handler's extractor met the outage; the adapter tagged its
    // response, whatever status the framework gave it.
    let at_load = registry(&clock, Arc::new(WritesFail), 503)
        .request([])
        .finish(500, Some(FailureKind::Unavailable), testing::header_pair)
        .await
        .replace;
    assert_eq!(at_save, at_load);
    assert_eq!(at_load, Some(Reply::text(503, "session storage unavailable")));
}

#[tokio::test]
async fn a_response_made_from_a_session_failure_persists_nothing() {
    let clock = ManualClock::new(START);
    let backend = Arc::new(MemoryBackend::new());
    let registry = registry(&clock, backend.clone(), 503);
    let sessions = registry.request([]);
    sessions.default_session().await.unwrap().insert("a", &1).unwrap();
    // A `?` on some other session call failed in the handler, which
    // answered with the adapter's error: a 500, so nothing is written.
    let finished = sessions.finish(400, Some(FailureKind::Internal), testing::header_pair).await;
    assert_eq!(finished.replace, Some(Reply::text(500, "session error")));
    assert!(finished.values("set-cookie").next().is_none());
    assert!(finished.values("vary").next().is_some());
    assert_eq!(backend.len(), 0);
}

#[tokio::test]
async fn a_client_error_still_saves_and_a_server_error_does_not() {
    let clock = ManualClock::new(START);
    let backend = Arc::new(MemoryBackend::new());
    let registry = registry(&clock, backend.clone(), 503);
    for (status, saves) in [(200, true), (302, true), (404, true), (422, true), (500, false), (503, false)] {
        let sessions = registry.request([]);
        sessions.default_session().await.unwrap().insert("a", &1).unwrap();
        let before = backend.len();
        let finished = sessions.finish(status, None, testing::header_pair).await;
        assert_eq!(finished.values("set-cookie").count() == 1, saves, "{status}");
        assert_eq!(backend.len() > before, saves, "{status}");
        assert_eq!(finished.replace, None, "{status}");
    }
}

#[tokio::test]
async fn a_request_that_touched_no_session_gets_no_headers() {
    let clock = ManualClock::new(START);
    let registry = registry(&clock, Arc::new(MemoryBackend::new()), 503);
    let finished = registry.request(["id=whatever"]).finish(200, None, testing::header_pair).await;
    assert_eq!(finished.headers.len(), 0);
    assert_eq!(finished.replace, None);
}

#[tokio::test]
async fn a_header_the_framework_refuses_turns_the_answer_into_a_500() {
    let clock = ManualClock::new(START);
    let registry = registry(&clock, Arc::new(MemoryBackend::new()), 503);
    let sessions = registry.request([]);
    sessions.default_session().await.unwrap().insert("a", &1).unwrap();
    let finished = sessions.finish(200, None, |name, value| (name != "set-cookie").then(|| value.to_owned())).await;
    assert_eq!(finished.headers, ["Cookie", "no-cache=\"set-cookie\""]);
    assert_eq!(finished.replace, Some(Reply::text(500, "session error")));

    // An outage already decided stays the answer.
    let sessions = registry_with_outage(&clock).request([]);
    sessions.default_session().await.unwrap().insert("a", &1).unwrap();
    let finished = sessions.finish(200, None, |_, _| None::<()>).await;
    assert_eq!(finished.replace.map(|reply| reply.status), Some(503));
}

fn registry_with_outage(clock: &ManualClock) -> Registry {
    registry(clock, Arc::new(WritesFail), 503)
}

#[tokio::test]
async fn a_failure_recorded_on_the_request_replaces_what_the_framework_made_of_it() {
    let clock = ManualClock::new(START);
    let backend = Arc::new(MemoryBackend::new());
    let registry = registry(&clock, backend.clone(), 502);
    let sessions = registry.request([]);
    sessions.default_session().await.unwrap().insert("a", &1).unwrap();
    // A guard met the outage; the framework's catcher answered 404.
    sessions.fail(FailureKind::Unavailable);
    sessions.fail(FailureKind::Internal);
    let finished = sessions.finish(404, None, testing::header_pair).await;
    assert_eq!(finished.replace, Some(Reply::text(502, "session storage unavailable")));
    assert!(finished.values("set-cookie").next().is_none(), "a failed request saves nothing");
    assert_eq!(backend.len(), 0);
}

#[test]
fn an_applications_body_replaces_the_reason_of_its_kind_only_and_keeps_the_status() {
    let policy = Policy::default()
        .with_unavailable_status(502)
        .unwrap()
        .with_body(FailureKind::Full, "application/json", r#"{"error":"full"}"#)
        .unwrap()
        .with_body(FailureKind::Internal, "text/html; charset=utf-8", "<p>Sorry</p>")
        .unwrap();
    let full = policy.reply(FailureKind::Full);
    assert_eq!((full.status, full.content_type, full.body), (502, "application/json", r#"{"error":"full"}"#));
    assert_eq!(policy.reply(FailureKind::Internal).body, "<p>Sorry</p>");
    assert_eq!(policy.reply(FailureKind::Unavailable), Reply::text(502, "session storage unavailable"));
    assert_eq!(policy.reply(FailureKind::CrossOrigin), Reply::text(403, "cross-origin request refused"));
    // The status chosen afterwards still applies to a kind with a body.
    let later = policy.with_unavailable_status(500).unwrap();
    assert_eq!(later.reply(FailureKind::Full).status, 500);
    assert_eq!(later.reply(FailureKind::Full).content_type, "application/json");
}

#[test]
fn a_body_for_a_missing_middleware_or_a_bad_content_type_is_refused() {
    let refused = Policy::default().with_body(FailureKind::NotInstalled, "text/plain", "x");
    assert!(matches!(refused, Err(Error::Config(_))), "{refused:?}");
    for content_type in ["", "  ", "text/html\r\nSet-Cookie: a=b", "text/plain; charset=\u{e9}", "a\tb"] {
        let refused = Policy::default().with_body(FailureKind::Unavailable, content_type, "x");
        assert!(matches!(refused, Err(Error::Config(_))), "{content_type:?}");
    }
    let registry = Registry::builder()
        .store(CookieStore::new(StoreConfig::new("s", KeyRing::from(Key::generate()))).unwrap())
        .failure_body(FailureKind::Unavailable, "text/html\n", "x")
        .build();
    assert!(matches!(registry, Err(Error::Config(_))), "the builder checks the body too");
}

/// After the handler, `finish` answers a failed save with the policy's
/// body: what every adapter sends.
#[tokio::test]
async fn a_failed_save_is_answered_with_the_applications_body() {
    let registry = Registry::builder()
        .store(
            ServerStore::new(
                StoreConfig::new("id", KeyRing::from(Key::generate())),
                Arc::new(testing::UnavailableBackend),
            )
            .unwrap(),
        )
        .failure_body(FailureKind::Unavailable, "application/problem+json", r#"{"title":"down"}"#)
        .build()
        .unwrap();
    let sessions = registry.request([]);
    let session = sessions.default_session().await.unwrap();
    session.insert("n", &1u8).unwrap();
    let finished = sessions.finish(200, None, testing::header_pair).await;
    assert_eq!(
        finished.replace,
        Some(Reply { status: 503, content_type: "application/problem+json", body: r#"{"title":"down"}"# })
    );
}
