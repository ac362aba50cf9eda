//! Ending sessions that must end: revocation of cookie sessions, and "log
//! out everywhere" for server sessions.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{START, config, value};
use sessions_core::backend::MemoryBackend;
use sessions_core::clock::ManualClock;
use sessions_core::revocation::RevocationList;
use sessions_core::store::Store;
use sessions_core::{CookieStore, ServerStore};

async fn login<S: Store>(store: &S, user: &str) -> String {
    let session = store.load(&[]).await.unwrap();
    session.cycle_id();
    session.set_user(Some(user)).unwrap();
    session.insert("greeting", &format!("hello {user}")).unwrap();
    value(&store.save(&session).await.unwrap().unwrap()).to_owned()
}

#[tokio::test]
async fn revoked_cookie_session_is_refused_when_replayed() {
    let clock = ManualClock::new(START);
    let revocations = RevocationList::with_clock(Arc::new(clock.clone()));
    let store = CookieStore::new(config("session", &clock).revocation(Arc::new(revocations.clone()))).unwrap();
    let ada = login(&store, "ada").await;
    let bob = login(&store, "bob").await;
    clock.advance(Duration::from_secs(10));
    revocations.revoke("ada");

    assert!(store.load(&[&ada]).await.unwrap().is_new(), "ada's copied cookie is dead");
    assert!(!store.load(&[&bob]).await.unwrap().is_new(), "bob is unaffected");
}

#[tokio::test]
async fn login_after_revocation_is_valid() {
    let clock = ManualClock::new(START);
    let revocations = RevocationList::with_clock(Arc::new(clock.clone()));
    let store = CookieStore::new(config("session", &clock).revocation(Arc::new(revocations.clone()))).unwrap();
    revocations.revoke("ada");
    clock.advance(Duration::from_secs(1));
    let ada = login(&store, "ada").await;
    let session = store.load(&[&ada]).await.unwrap();
    assert_eq!(session.user().as_deref(), Some("ada"));
}

#[tokio::test]
async fn revocation_applies_to_server_sessions_too() {
    let clock = ManualClock::new(START);
    let revocations = RevocationList::with_clock(Arc::new(clock.clone()));
    let backend = Arc::new(MemoryBackend::builder().clock(Arc::new(clock.clone())).build());
    let store =
        ServerStore::new(config("id", &clock).revocation(Arc::new(revocations.clone())), backend.clone()).unwrap();
    let ada = login(&store, "ada").await;
    clock.advance(Duration::from_secs(5));
    revocations.revoke("ada");
    assert!(store.load(&[&ada]).await.unwrap().is_new());
    assert!(store.user_sessions("ada").await.unwrap().is_empty(), "the revoked record was deleted");
}

#[tokio::test]
async fn log_out_everywhere_deletes_every_session_of_the_user() {
    let clock = ManualClock::new(START);
    let backend = Arc::new(MemoryBackend::builder().clock(Arc::new(clock.clone())).build());
    let store = ServerStore::new(config("id", &clock), backend.clone()).unwrap();
    let laptop = login(&store, "ada").await;
    let phone = login(&store, "ada").await;
    let bob = login(&store, "bob").await;
    assert_eq!(store.user_sessions("ada").await.unwrap().len(), 2);

    assert_eq!(store.destroy_user_sessions("ada").await.unwrap(), 2);
    assert!(store.load(&[&laptop]).await.unwrap().is_new());
    assert!(store.load(&[&phone]).await.unwrap().is_new());
    assert!(!store.load(&[&bob]).await.unwrap().is_new(), "other users keep their sessions");
    assert!(store.user_sessions("ada").await.unwrap().is_empty());
}

#[tokio::test]
async fn logout_and_id_cycling_keep_the_index_exact() {
    let clock = ManualClock::new(START);
    let store = ServerStore::new(
        config("id", &clock),
        Arc::new(MemoryBackend::builder().clock(Arc::new(clock.clone())).build()),
    )
    .unwrap();
    let first = login(&store, "ada").await;
    let second = login(&store, "ada").await;

    let session = store.load(&[&first]).await.unwrap();
    session.cycle_id();
    let cycled = value(&store.save(&session).await.unwrap().unwrap()).to_owned();
    assert_eq!(store.user_sessions("ada").await.unwrap().len(), 2, "cycling replaces the entry");

    let session = store.load(&[&second]).await.unwrap();
    session.destroy();
    store.save(&session).await.unwrap();
    assert_eq!(store.user_sessions("ada").await.unwrap().len(), 1, "logout removes the entry");

    let session = store.load(&[&cycled]).await.unwrap();
    session.set_user(Some("eve")).unwrap();
    store.save(&session).await.unwrap();
    assert!(store.user_sessions("ada").await.unwrap().is_empty(), "re-binding moves the session");
    assert_eq!(store.destroy_user_sessions("ada").await.unwrap(), 0);
    assert_eq!(store.user_sessions("eve").await.unwrap().len(), 1);
    assert!(!store.load(&[&cycled]).await.unwrap().is_new());
}
