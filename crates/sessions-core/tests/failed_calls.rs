//! One backend call failing in the middle of a save: a live session bound
//! to a user stays in that user's index, and "log out everywhere", retried,
//! ends what the failed attempt did not.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{START, config, value};
use sessions_core::ServerStore;
use sessions_core::backend::{Backend, MemoryBackend};
use sessions_core::clock::ManualClock;
use sessions_core::store::Store;
use sessions_core::testing::{Call, Failure, Fault, FaultyBackend, unlisted_bound_sessions};

/// The default absolute timeout of [`config`]: 12 hours.
const ABSOLUTE: Duration = Duration::from_secs(12 * 3600);

struct Rig {
    faulty: Arc<FaultyBackend>,
    store: ServerStore,
}

fn rig() -> Rig {
    let clock = ManualClock::new(START);
    let memory = Arc::new(MemoryBackend::builder().clock(Arc::new(clock.clone())).build());
    let faulty = Arc::new(FaultyBackend::new(memory));
    let store = ServerStore::new(config("id", &clock), faulty.clone() as Arc<dyn Backend>).unwrap();
    Rig { faulty, store }
}

impl Rig {
    async fn login(&self, user: &str) -> String {
        let session = self.store.load(&[]).await.unwrap();
        session.cycle_id();
        session.set_user(Some(user)).unwrap();
        value(&self.store.save(&session).await.unwrap().expect("a login sets the id cookie")).to_owned()
    }

    async fn user_of(&self, cookie: &str) -> Option<String> {
        self.store.load(&[cookie]).await.unwrap().user()
    }

    /// Every record the test made that is live and bound but unlisted.
    async fn unlisted(&self) -> Vec<String> {
        let keys = self.faulty.created_keys();
        let unlisted = unlisted_bound_sessions(&*self.faulty, &keys, Some(ABSOLUTE), START).await;
        unlisted.into_iter().map(|(key, user)| format!("{user}: {key}")).collect()
    }
}

#[tokio::test]
async fn a_logout_whose_delete_fails_leaves_the_session_listed_for_log_out_everywhere() {
    let rig = rig();
    let cookie = rig.login("ada").await;

    let session = rig.store.load(&[&cookie]).await.unwrap();
    session.destroy();
    rig.faulty.inject(Fault::nth_of(Call::Delete, 1, Failure::Unavailable));
    assert!(rig.store.save(&session).await.is_err(), "the logout fails with its delete");
    assert_eq!(rig.user_of(&cookie).await.as_deref(), Some("ada"), "the session is still alive");

    assert_eq!(rig.store.user_sessions("ada").await.unwrap().len(), 1, "and still listed");
    assert_eq!(rig.store.destroy_user_sessions("ada").await.unwrap(), 1, "log out everywhere ends it");
    assert_eq!(rig.user_of(&cookie).await, None);
}

#[tokio::test]
async fn log_out_everywhere_retried_after_a_failed_delete_ends_every_session() {
    for n in 1..=3 {
        let rig = rig();
        let cookies = [rig.login("ada").await, rig.login("ada").await, rig.login("ada").await];
        rig.faulty.inject(Fault::nth_of(Call::Delete, n, Failure::Unavailable));
        assert!(rig.store.destroy_user_sessions("ada").await.is_err(), "delete {n} fails");
        let ended = rig.store.destroy_user_sessions("ada").await.expect("the retry is served");
        assert_eq!(ended, 3 - (n as usize - 1), "the retry ends what the first attempt left (delete {n})");
        for cookie in &cookies {
            assert_eq!(rig.user_of(cookie).await, None, "a session outlived log out everywhere (delete {n})");
        }
        assert!(rig.store.user_sessions("ada").await.unwrap().is_empty());
    }
}

/// A failure at every call, of every kind, of a login that binds the user
/// without a new id (a new session, then an existing anonymous one), and of
/// a rebinding to another user: afterwards every live bound session is in
/// its user's index, and the login, retried, is served.
#[tokio::test]
async fn a_bound_session_is_listed_whichever_call_of_its_save_fails() {
    for failure in Failure::ALL {
        for (path, anonymous_first, rebind) in
            [("new", false, false), ("anonymous", true, false), ("rebind", true, true)]
        {
            for n in 1..=8 {
                let rig = rig();
                let cookie = if anonymous_first {
                    let session = rig.store.load(&[]).await.unwrap();
                    session.insert("cart", &3).unwrap();
                    if rebind {
                        session.set_user(Some("bob")).unwrap();
                    }
                    Some(value(&rig.store.save(&session).await.unwrap().unwrap()).to_owned())
                } else {
                    None
                };
                let values: Vec<&str> = cookie.iter().map(String::as_str).collect();
                let session = rig.store.load(&values).await.unwrap();
                session.set_user(Some("ada")).unwrap();
                rig.faulty.inject(Fault::nth_call(n, failure));
                let saved = tokio::select! {
                    saved = rig.store.save(&session) => saved.is_ok(),
                    () = rig.faulty.stalled() => false,
                };
                rig.faulty.clear();
                let unlisted = rig.unlisted().await;
                assert!(unlisted.is_empty(), "{path}, call {n} {failure:?} (saved: {saved}): unlisted {unlisted:?}");

                // The retry binds the user for good.
                let session = rig.store.load(&values).await.unwrap();
                session.set_user(Some("ada")).unwrap();
                let header = rig.store.save(&session).await.expect("the retry is served");
                let cookie = header.as_deref().map(value).or(cookie.as_deref()).unwrap().to_owned();
                assert_eq!(rig.user_of(&cookie).await.as_deref(), Some("ada"), "{path}, call {n} {failure:?}");
                let listed = rig.store.user_sessions("ada").await.unwrap();
                assert!(!listed.is_empty(), "{path}, call {n} {failure:?}: the retried login is not listed");
                assert!(rig.unlisted().await.is_empty(), "{path}, call {n} {failure:?}");
            }
        }
    }
}

/// The same for a login that gives the session a new id, and for a
/// logout: whichever call fails, no live bound session is left unlisted,
/// and the request, retried, is served.
#[tokio::test]
async fn a_cycle_or_logout_leaves_no_bound_session_unlisted_whichever_call_fails() {
    for failure in Failure::ALL {
        for n in 1..=10 {
            let rig = rig();
            let cookie = rig.login("bob").await;
            let session = rig.store.load(&[&cookie]).await.unwrap();
            session.cycle_id();
            session.set_user(Some("ada")).unwrap();
            rig.faulty.inject(Fault::nth_call(n, failure));
            tokio::select! {
                _ = rig.store.save(&session) => {}
                () = rig.faulty.stalled() => {}
            }
            rig.faulty.clear();
            assert!(rig.unlisted().await.is_empty(), "login, call {n} {failure:?}: {:?}", rig.unlisted().await);

            let cookie = rig.login("ada").await;
            let session = rig.store.load(&[&cookie]).await.unwrap();
            session.destroy();
            rig.faulty.inject(Fault::nth_call(n, failure));
            tokio::select! {
                _ = rig.store.save(&session) => {}
                () = rig.faulty.stalled() => {}
            }
            rig.faulty.clear();
            assert!(rig.unlisted().await.is_empty(), "logout, call {n} {failure:?}: {:?}", rig.unlisted().await);
            rig.store.destroy_user_sessions("ada").await.expect("log out everywhere is served");
            rig.store.destroy_user_sessions("bob").await.expect("log out everywhere is served");
            assert_eq!(rig.user_of(&cookie).await, None, "logout, call {n} {failure:?}: the session outlived it");
        }
    }
}

/// A login that gives the session a new id fails at any one call (or hangs
/// there until the request is dropped); the same login, sent again with
/// the same cookie, is served with a new id and keeps the session's data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_cycle_can_be_sent_again_at_once() {
    for failure in [Failure::Unavailable, Failure::Full, Failure::Hang] {
        for n in 1..=6 {
            let rig = rig();
            let session = rig.store.load(&[]).await.unwrap();
            session.insert("cart", &3).unwrap();
            let cookie = value(&rig.store.save(&session).await.unwrap().unwrap()).to_owned();
            let login = || async {
                let session = rig.store.load(&[&cookie]).await.unwrap();
                session.cycle_id();
                session.set_user(Some("ada")).unwrap();
                session
            };
            let session = login().await;
            rig.faulty.inject(Fault::nth_call(n, failure));
            let failed = tokio::select! {
                saved = rig.store.save(&session) => saved.is_err(),
                () = rig.faulty.stalled() => true,
            };
            rig.faulty.clear();
            if !failed {
                continue;
            }
            // A dropped request cleans up in a task of its own.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let session = login().await;
            assert_eq!(session.get::<i32>("cart").unwrap(), Some(3), "call {n} {failure:?}: the session was lost");
            let header = rig.store.save(&session).await.unwrap();
            let header = header.unwrap_or_else(|| panic!("call {n} {failure:?}: the login sent again sent no cookie"));
            assert_eq!(rig.user_of(value(&header)).await.as_deref(), Some("ada"), "call {n} {failure:?}");
        }
    }
}
