//! The session lifecycle across requests that race each other: logouts,
//! id cycles, key rotations and emptied sessions, on a server store.
//!
//! Each test replays a defect an outside suite found; the model-based test
//! (`lifecycle_model.rs`) closes the class.

mod common;

use std::sync::Arc;

use common::{START, config, key, value};
use sessions_core::backend::{Backend, MemoryBackend};
use sessions_core::clock::ManualClock;
use sessions_core::store::Store;
use sessions_core::testing::CountingBackend;
use sessions_core::{CookieOptions, CookieStore, KeyRing, ServerStore, Session, StoreConfig};

fn memory(clock: &ManualClock) -> Arc<MemoryBackend> {
    Arc::new(MemoryBackend::builder().clock(Arc::new(clock.clone())).build())
}

fn store(clock: &ManualClock, backend: Arc<dyn Backend>) -> ServerStore {
    ServerStore::new(config("id", clock), backend).unwrap()
}

/// The same backend after a restart with a new key in front of the old.
fn rotated(clock: &ManualClock, backend: Arc<dyn Backend>) -> ServerStore {
    let ring = KeyRing::new([key(2), key(1)]).unwrap();
    let config =
        StoreConfig::new("id", ring).cookie_options(CookieOptions::new().secure(false)).clock(Arc::new(clock.clone()));
    ServerStore::new(config, backend).unwrap()
}

async fn login(store: &ServerStore, user: &str) -> String {
    let session = store.load(&[]).await.unwrap();
    session.cycle_id();
    session.set_user(Some(user)).unwrap();
    session.insert("name", user).unwrap();
    value(&store.save(&session).await.unwrap().expect("a login sets the id cookie")).to_owned()
}

async fn logout(store: &ServerStore, cookie: &str) {
    let session = store.load(&[cookie]).await.unwrap();
    assert!(!session.is_new(), "the logout request carries a live session");
    session.destroy();
    store.save(&session).await.unwrap();
}

async fn cookie_of(store: &ServerStore, session: &Session) -> Option<String> {
    store.save(session).await.unwrap().map(|header| value(&header).to_owned())
}

#[tokio::test]
async fn a_cycle_saved_after_a_logout_does_not_bring_the_session_back() {
    let clock = ManualClock::new(START);
    let store = store(&clock, memory(&clock));
    let cookie = login(&store, "ada").await;

    let slow = store.load(&[&cookie]).await.unwrap();
    logout(&store, &cookie).await;
    slow.cycle_id();
    let reissued = cookie_of(&store, &slow).await;

    if let Some(reissued) = reissued {
        assert!(store.load(&[&reissued]).await.unwrap().is_new(), "the cycled cookie must not load the session");
    }
    assert!(store.user_sessions("ada").await.unwrap().is_empty(), "ada has no live session after her logout");
}

#[tokio::test]
async fn a_previous_key_cookie_cannot_outlive_a_logout() {
    let clock = ManualClock::new(START);
    let backend: Arc<dyn Backend> = memory(&clock);
    let cookie = login(&store(&clock, backend.clone()), "ada").await;
    let store = rotated(&clock, backend);

    // An attacker's copy of the cookie makes a read-only request.
    let peek = store.load(&[&cookie]).await.unwrap();
    assert_eq!(peek.get::<String>("name").unwrap().as_deref(), Some("ada"));
    let attacker = cookie_of(&store, &peek).await.unwrap_or_else(|| cookie.clone());
    // The victim logs out with the cookie she holds.
    logout(&store, &cookie).await;

    let replay = store.load(&[&attacker]).await.unwrap();
    assert!(replay.is_new(), "the attacker's cookie must be anonymous after the victim's logout");
    assert_eq!(replay.user(), None);
    assert!(store.user_sessions("ada").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_logout_racing_a_previous_key_request_does_not_resurrect() {
    let clock = ManualClock::new(START);
    let backend: Arc<dyn Backend> = memory(&clock);
    let cookie = login(&store(&clock, backend.clone()), "ada").await;
    let store = rotated(&clock, backend);

    let slow = store.load(&[&cookie]).await.unwrap();
    logout(&store, &cookie).await;
    if let Some(reissued) = cookie_of(&store, &slow).await {
        assert!(store.load(&[&reissued]).await.unwrap().is_new(), "the session stays ended");
    }
    assert!(store.user_sessions("ada").await.unwrap().is_empty());
}

#[tokio::test]
async fn two_previous_key_requests_keep_each_others_writes() {
    let clock = ManualClock::new(START);
    let backend: Arc<dyn Backend> = memory(&clock);
    let cookie = login(&store(&clock, backend.clone()), "ada").await;
    let store = rotated(&clock, backend);

    let first = store.load(&[&cookie]).await.unwrap();
    let second = store.load(&[&cookie]).await.unwrap();
    first.insert("a", &1).unwrap();
    second.insert("b", &2).unwrap();
    let first_cookie = cookie_of(&store, &first).await.unwrap_or_else(|| cookie.clone());
    let second_cookie = cookie_of(&store, &second).await.unwrap_or_else(|| cookie.clone());

    for cookie in [&first_cookie, &second_cookie] {
        let session = store.load(&[cookie]).await.unwrap();
        assert_eq!(session.get::<i32>("a").unwrap(), Some(1), "the first request's write is kept");
        assert_eq!(session.get::<i32>("b").unwrap(), Some(2), "the second request's write is kept");
    }
}

#[tokio::test]
async fn a_read_only_request_after_a_rotation_writes_nothing() {
    let clock = ManualClock::new(START);
    let memory: Arc<dyn Backend> = memory(&clock);
    let cookie = login(&store(&clock, memory.clone()), "ada").await;
    let counting = Arc::new(CountingBackend::new(memory));
    let store = rotated(&clock, counting.clone());

    let session = store.load(&[&cookie]).await.unwrap();
    assert_eq!(session.get::<String>("name").unwrap().as_deref(), Some("ada"));
    let reissued = cookie_of(&store, &session).await.expect("the cookie is re-signed under the newest key");
    assert_eq!(counting.writes(), 0, "a read-only request must not write to the backend");

    let new_only = StoreConfig::new("id", KeyRing::from(key(2)))
        .cookie_options(CookieOptions::new().secure(false))
        .clock(Arc::new(clock.clone()));
    let new_only = ServerStore::new(new_only, counting).unwrap();
    let session = new_only.load(&[&reissued]).await.unwrap();
    assert_eq!(session.get::<String>("name").unwrap().as_deref(), Some("ada"), "readable once the old key retires");
}

/// OWASP's logout: clear the data, then give the session a new id.
#[tokio::test]
async fn clear_then_cycle_ends_the_old_record() {
    let clock = ManualClock::new(START);
    let store = store(&clock, memory(&clock));
    let cookie = login(&store, "ada").await;

    let session = store.load(&[&cookie]).await.unwrap();
    session.clear();
    session.cycle_id();
    let header = store.save(&session).await.unwrap().expect("the browser is told");
    assert!(store.load(&[&cookie]).await.unwrap().is_new(), "the old cookie no longer loads the user");
    assert!(store.load(&[value(&header)]).await.unwrap().user().is_none());
    assert!(store.user_sessions("ada").await.unwrap().is_empty());
}

#[tokio::test]
async fn removing_the_last_key_then_cycling_ends_the_old_record() {
    let clock = ManualClock::new(START);
    let store = store(&clock, memory(&clock));
    let session = store.load(&[]).await.unwrap();
    session.insert("cart", &3).unwrap();
    let cookie = value(&store.save(&session).await.unwrap().unwrap()).to_owned();

    let session = store.load(&[&cookie]).await.unwrap();
    assert!(session.remove("cart"));
    session.cycle_id();
    store.save(&session).await.unwrap().expect("the browser is told");
    assert!(store.load(&[&cookie]).await.unwrap().is_new(), "the emptied session is gone");
}

#[tokio::test]
async fn clearing_a_previous_key_session_ends_its_record() {
    let clock = ManualClock::new(START);
    let backend: Arc<dyn Backend> = memory(&clock);
    let cookie = login(&store(&clock, backend.clone()), "ada").await;
    let store = rotated(&clock, backend);

    let session = store.load(&[&cookie]).await.unwrap();
    session.clear();
    store.save(&session).await.unwrap().expect("the browser is told");
    assert!(store.load(&[&cookie]).await.unwrap().is_new(), "the cleared session is gone");
    assert!(store.user_sessions("ada").await.unwrap().is_empty());
}

#[tokio::test]
async fn an_emptied_session_ends_the_same_way_on_both_kinds_of_store() {
    let clock = ManualClock::new(START);
    let server = store(&clock, memory(&clock));
    let cookies = CookieStore::new(config("c", &clock)).unwrap();
    for store in [&server as &dyn Store, &cookies] {
        let session = store.load(&[]).await.unwrap();
        session.insert("k", &1).unwrap();
        let cookie = value(&store.save(&session).await.unwrap().unwrap()).to_owned();
        let session = store.load(&[&cookie]).await.unwrap();
        session.remove("k");
        let header = store.save(&session).await.unwrap().expect("a removal cookie");
        assert!(header.contains("Max-Age=0"), "{header}");
    }
}

#[tokio::test]
async fn per_session_options_keep_the_host_prefix_rules() {
    let clock = ManualClock::new(START);
    let store =
        CookieStore::new(StoreConfig::new("__Host-s", KeyRing::from(key(1))).clock(Arc::new(clock.clone()))).unwrap();
    let session = store.load(&[]).await.unwrap();
    session.insert("k", &1).unwrap();
    let refused =
        session.set_cookie_options(CookieOptions::new().path("/app").domain(Some("example.com".into())).secure(false));
    assert!(matches!(refused, Err(sessions_core::Error::Config(_))));
    let header = store.save(&session).await.unwrap().unwrap();
    let attributes: Vec<&str> = header.split("; ").skip(1).collect();
    assert!(attributes.contains(&"Secure") && attributes.contains(&"Path=/"), "{header}");
    assert!(!header.contains("Domain"), "{header}");
}

#[tokio::test]
async fn a_logout_handler_can_continue_in_a_fresh_session() {
    let clock = ManualClock::new(START);
    let store = store(&clock, memory(&clock));
    let cookie = login(&store, "ada").await;

    let session = store.load(&[&cookie]).await.unwrap();
    session.destroy();
    session.add_flash(&"You are logged out").unwrap();
    assert_eq!(session.user(), None);
    let header = store.save(&session).await.unwrap().expect("the fresh session's cookie");
    assert_ne!(value(&header), cookie);
    assert!(store.load(&[&cookie]).await.unwrap().is_new(), "the old session is over");
    let next = store.load(&[value(&header)]).await.unwrap();
    assert_eq!(next.flashes::<String>().unwrap(), ["You are logged out"]);
    assert_eq!(next.user(), None);
    assert!(store.user_sessions("ada").await.unwrap().is_empty());
}

#[tokio::test]
async fn take_reads_and_removes_in_one_step() {
    let session = Session::new_detached();
    session.insert("return_to", "/cart").unwrap();
    assert!(session.take::<u64>("return_to").is_err(), "a value of another type is an error");
    assert!(session.contains_key("return_to"), "and it is kept");
    assert_eq!(session.take::<String>("return_to").unwrap().as_deref(), Some("/cart"));
    assert!(!session.contains_key("return_to"));
}

#[tokio::test]
async fn a_lifetime_that_cannot_hold_is_refused_at_configuration_or_means_a_browser_session() {
    let clock = ManualClock::new(START);
    let zero =
        config("s", &clock).lifetime(sessions_core::PersistentSession::new(std::time::Duration::from_millis(999)));
    match CookieStore::new(zero) {
        Err(sessions_core::Error::Config(message)) => {
            assert!(message.contains("BrowserSession"), "names the fix: {message}")
        }
        other => panic!("a persistent lifetime under a second is refused: {other:?}"),
    }
    let zero = config("s", &clock).remember_for(std::time::Duration::ZERO);
    assert!(matches!(CookieStore::new(zero), Err(sessions_core::Error::Config(_))));

    let renewing = config("s", &clock).renewal_timeout(Some(std::time::Duration::from_secs(600)));
    match CookieStore::new(renewing) {
        Err(sessions_core::Error::Config(message)) => {
            assert!(message.contains("server store"), "names the fix: {message}")
        }
        other => panic!("a cookie store has no id to renew: {other:?}"),
    }

    let store = CookieStore::new(config("s", &clock)).unwrap();
    let session = store.load(&[]).await.unwrap();
    session.insert("k", &1).unwrap();
    session.set_max_age(Some(std::time::Duration::ZERO));
    assert_eq!(session.max_age(), None);
    let header = store.save(&session).await.unwrap().unwrap();
    assert!(!header.contains("Max-Age"), "a browser-session cookie: {header}");
}

#[test]
fn a_session_holding_only_a_user_binding_is_not_empty() {
    let session = Session::new_detached();
    assert!(session.is_empty());
    session.set_user(Some("ada")).unwrap();
    assert!(!session.is_empty());
}

#[tokio::test]
async fn a_detached_session_is_not_born_expired() {
    let session = Session::new_detached();
    session.insert("k", &1).unwrap();
    // Saved by a store with an absolute timeout, it must still load.
    let clock = ManualClock::new(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs());
    let store =
        CookieStore::new(config("session", &clock).lifetime(
            sessions_core::BrowserSession::new().absolute_timeout(Some(std::time::Duration::from_secs(3600))),
        ))
        .unwrap();
    let header = store.save(&session).await.unwrap().expect("a cookie");
    assert!(!store.load(&[value(&header)]).await.unwrap().is_new());
}

#[tokio::test]
async fn one_device_can_be_signed_out_by_its_non_secret_handle() {
    let clock = ManualClock::new(START);
    let store = store(&clock, memory(&clock));
    let laptop = login(&store, "ada").await;
    let phone = login(&store, "ada").await;
    let other = login(&store, "bob").await;

    let this_device = store.load(&[&laptop]).await.unwrap().storage_key().expect("a server session has a handle");
    let listed: Vec<_> = store.user_sessions("ada").await.unwrap().into_iter().map(|s| s.storage_key).collect();
    assert!(listed.contains(&this_device) && listed.len() == 2);
    assert!(!this_device.as_str().contains(&phone), "the handle is not the cookie");

    let bobs = store.load(&[&other]).await.unwrap().storage_key().unwrap();
    assert!(!store.destroy_user_session("ada", &bobs).await.unwrap(), "another user's session is left alone");
    assert!(store.destroy_user_session("ada", &this_device).await.unwrap());
    assert!(store.load(&[&laptop]).await.unwrap().is_new());
    assert!(!store.load(&[&phone]).await.unwrap().is_new(), "the other device stays signed in");
    assert!(!store.load(&[&other]).await.unwrap().is_new());
}

#[tokio::test]
async fn flashes_queued_by_concurrent_requests_are_all_delivered() {
    let clock = ManualClock::new(START);
    let store = store(&clock, memory(&clock));
    let cookie = login(&store, "ada").await;
    let first = store.load(&[&cookie]).await.unwrap();
    let second = store.load(&[&cookie]).await.unwrap();
    first.add_flash(&"one").unwrap();
    second.add_flash(&"two").unwrap();
    store.save(&first).await.unwrap();
    store.save(&second).await.unwrap();
    let mut got = store.load(&[&cookie]).await.unwrap().flashes::<String>().unwrap();
    got.sort();
    assert_eq!(got, ["one", "two"]);
}

#[tokio::test]
async fn a_ring_of_fresh_keys_ends_every_session_of_every_user() {
    let clock = ManualClock::new(START);
    let backend: Arc<dyn Backend> = memory(&clock);
    let server = store(&clock, backend.clone());
    let cookies = CookieStore::new(config("c", &clock)).unwrap();
    let ada = login(&server, "ada").await;
    let session = cookies.load(&[]).await.unwrap();
    session.set_user(Some("bob")).unwrap();
    let bob = value(&cookies.save(&session).await.unwrap().unwrap()).to_owned();

    let fresh = |name: &str| {
        StoreConfig::new(name, KeyRing::from(key(9)))
            .cookie_options(CookieOptions::new().secure(false))
            .clock(Arc::new(clock.clone()))
    };
    let server = ServerStore::new(fresh("id"), backend).unwrap();
    let cookies = CookieStore::new(fresh("c")).unwrap();
    assert!(server.load(&[&ada]).await.unwrap().is_new());
    assert!(cookies.load(&[&bob]).await.unwrap().is_new());
}

#[tokio::test]
async fn a_renewal_timeout_gives_a_long_lived_session_a_new_id() {
    let clock = ManualClock::new(START);
    let backend: Arc<dyn Backend> = memory(&clock);
    let renewing = |clock: &ManualClock| {
        let config = config("id", clock)
            .lifetime(sessions_core::BrowserSession::new().idle_timeout(None))
            .renewal_timeout(Some(std::time::Duration::from_secs(600)));
        ServerStore::new(config, backend.clone()).unwrap()
    };
    let store = renewing(&clock);
    let cookie = login(&store, "ada").await;

    clock.advance(std::time::Duration::from_secs(300));
    let session = store.load(&[&cookie]).await.unwrap();
    assert_eq!(store.save(&session).await.unwrap(), None, "not yet due");

    clock.advance(std::time::Duration::from_secs(301));
    let session = store.load(&[&cookie]).await.unwrap();
    assert_eq!(session.user().as_deref(), Some("ada"));
    let renewed = value(&store.save(&session).await.unwrap().expect("a new id")).to_owned();
    assert_ne!(renewed, cookie);
    assert!(store.load(&[&cookie]).await.unwrap().is_new(), "the old id is over");
    let session = store.load(&[&renewed]).await.unwrap();
    assert_eq!(session.user().as_deref(), Some("ada"));
    assert_eq!(session.keys(), ["name"], "the data moves with the session");
    assert_eq!(store.save(&session).await.unwrap(), None, "the new id is fresh: no renewal right after");
    assert_eq!(store.user_sessions("ada").await.unwrap().len(), 1);
}

/// OWASP's defaults out of the box: 30 minutes idle, 12 hours in all, for
/// a browser-session session; "remember me" is the deliberate exception.
#[tokio::test]
async fn safe_timeouts_are_on_by_default_and_remember_me_is_the_exception() {
    let clock = ManualClock::new(START);
    let server = store(&clock, memory(&clock));
    let cookies = CookieStore::new(config("c", &clock)).unwrap();
    for store in [&server as &dyn Store, &cookies] {
        // Idle: 29 minutes is fine, 31 without a request is not.
        let idle = fresh_cookie(store).await;
        clock.advance(std::time::Duration::from_secs(29 * 60));
        let session = store.load(&[&idle]).await.unwrap();
        assert!(!session.is_new(), "{}: 29 minutes idle", store.cookie_name());
        let idle = store.save(&session).await.unwrap().map_or(idle, |h| value(&h).to_owned());
        clock.advance(std::time::Duration::from_secs(31 * 60));
        assert!(store.load(&[&idle]).await.unwrap().is_new(), "{}: 31 minutes idle", store.cookie_name());

        // Absolute: used every 20 minutes, it still ends after 12 hours.
        let mut busy = fresh_cookie(store).await;
        for _ in 0..(12 * 3) {
            clock.advance(std::time::Duration::from_secs(20 * 60));
            let session = store.load(&[&busy]).await.unwrap();
            if session.is_new() {
                break;
            }
            busy = store.save(&session).await.unwrap().map_or(busy, |h| value(&h).to_owned());
        }
        assert!(store.load(&[&busy]).await.unwrap().is_new(), "{}: past 12 hours", store.cookie_name());

        // Remembered: 29 days without a request, Max-Age 30 days.
        let session = store.load(&[]).await.unwrap();
        session.insert("k", &1).unwrap();
        session.remember(true);
        let header = store.save(&session).await.unwrap().unwrap();
        assert!(header.contains("Max-Age=2592000"), "{header}");
        clock.advance(std::time::Duration::from_secs(29 * 24 * 3600));
        assert!(!store.load(&[value(&header)]).await.unwrap().is_new(), "{}: remembered", store.cookie_name());
    }
}

async fn fresh_cookie(store: &dyn Store) -> String {
    let session = store.load(&[]).await.unwrap();
    session.insert("k", &1).unwrap();
    value(&store.save(&session).await.unwrap().unwrap()).to_owned()
}

/// A request still running under an id that another request has cycled
/// writes nothing into the new record and sends no cookie, so a late
/// response cannot overwrite the browser's new cookie.
#[tokio::test]
async fn a_request_under_a_cycled_away_id_writes_nothing_and_sends_no_cookie() {
    let clock = ManualClock::new(START);
    let store = store(&clock, memory(&clock));
    let cookie = login(&store, "ada").await;

    let late = store.load(&[&cookie]).await.unwrap();
    let cycling = store.load(&[&cookie]).await.unwrap();
    cycling.cycle_id();
    let renewed = cookie_of(&store, &cycling).await.expect("the cycle sends the new id");
    late.insert("planted", &1).unwrap();
    assert_eq!(store.save(&late).await.unwrap(), None, "no cookie for the cycled-away id");

    let session = store.load(&[&renewed]).await.unwrap();
    assert_eq!(session.get::<i32>("planted").unwrap(), None, "the old id wrote into the new record");
    assert_eq!(session.user().as_deref(), Some("ada"));
}
