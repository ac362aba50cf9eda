//! A user's devices: the per-user index as an application shows it, with
//! public handles, created and last-seen times, and "sign out the others".

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{START, config, key, value};
use sessions_core::backend::{Backend, MemoryBackend};
use sessions_core::clock::ManualClock;
use sessions_core::store::{SessionHandle, Store};
use sessions_core::{BrowserSession, CookieOptions, KeyRing, ServerStore, StoreConfig};

fn rig(clock: &ManualClock) -> (ServerStore, Arc<MemoryBackend>) {
    let backend = Arc::new(MemoryBackend::builder().clock(Arc::new(clock.clone())).build());
    let config = config("id", clock).lifetime(BrowserSession::new().idle_timeout(Some(Duration::from_secs(800))));
    (ServerStore::new(config, Arc::clone(&backend) as Arc<dyn Backend>).unwrap(), backend)
}

async fn login(store: &ServerStore, user: &str) -> String {
    let session = store.load(&[]).await.unwrap();
    session.cycle_id();
    session.set_user(Some(user)).unwrap();
    value(&store.save(&session).await.unwrap().expect("a login sets the id cookie")).to_owned()
}

async fn handle(store: &ServerStore, cookie: &str) -> SessionHandle {
    store.handle(&store.load(&[cookie]).await.unwrap()).expect("a stored session has a handle")
}

#[tokio::test]
async fn handle_reveals_neither_the_id_nor_the_storage_key() {
    let clock = ManualClock::new(START);
    let (store, _) = rig(&clock);
    let cookie = login(&store, "ada").await;
    let session = store.load(&[&cookie]).await.unwrap();
    let handle = store.handle(&session).unwrap().to_string();
    let storage_key = session.storage_key().unwrap().as_str();
    assert_eq!(handle.len(), 32);
    assert!(!storage_key.contains(&handle) && !cookie.contains(&handle), "{handle}");
    let listed = store.user_sessions("ada").await.unwrap();
    assert_eq!(listed[0].handle.to_string(), handle, "the list and the session agree");
    assert_eq!(store.handle(&store.load(&[]).await.unwrap()), None, "a fresh session has none yet");
}

#[tokio::test]
async fn handle_depends_on_the_master_key() {
    let clock = ManualClock::new(START);
    let (store, backend) = rig(&clock);
    let cookie = login(&store, "ada").await;
    let ring = KeyRing::new([key(2), key(1)]).unwrap();
    let rotated = StoreConfig::new("id", ring).cookie_options(CookieOptions::new().secure(false));
    let rotated = ServerStore::new(rotated.clock(Arc::new(clock.clone())), backend).unwrap();
    assert_ne!(handle(&store, &cookie).await, handle(&rotated, &cookie).await);
}

#[tokio::test]
async fn sessions_list_when_they_were_created_and_last_seen() {
    let clock = ManualClock::new(START);
    let (store, _) = rig(&clock);
    let cookie = login(&store, "ada").await;
    let listed = store.user_sessions("ada").await.unwrap();
    assert_eq!((listed[0].created, listed[0].last_seen), (START, START));

    // A write marks it at once.
    clock.advance(Duration::from_secs(30));
    let session = store.load(&[&cookie]).await.unwrap();
    session.insert("k", "v").unwrap();
    store.save(&session).await.unwrap();
    let listed = store.user_sessions("ada").await.unwrap();
    assert_eq!((listed[0].created, listed[0].last_seen), (START, START + 30));

    // A read marks it when it extends the idle window (an eighth of it).
    clock.advance(Duration::from_secs(200));
    let session = store.load(&[&cookie]).await.unwrap();
    assert_eq!(session.get::<String>("k").unwrap().as_deref(), Some("v"));
    store.save(&session).await.unwrap();
    assert_eq!(store.user_sessions("ada").await.unwrap()[0].last_seen, START + 230);
}

#[tokio::test]
async fn a_device_is_ended_by_its_handle_and_only_among_its_users_sessions() {
    let clock = ManualClock::new(START);
    let (store, _) = rig(&clock);
    let (laptop, phone, bobs) = (login(&store, "ada").await, login(&store, "ada").await, login(&store, "bob").await);

    let bobs_handle = handle(&store, &bobs).await;
    assert!(!store.destroy_user_session_by_handle("ada", &bobs_handle).await.unwrap(), "bob's session is not ada's");
    assert!(!store.load(&[&bobs]).await.unwrap().is_new(), "bob stays signed in");

    let phone_handle = handle(&store, &phone).await;
    assert!(store.destroy_user_session_by_handle("ada", &phone_handle).await.unwrap());
    assert!(store.load(&[&phone]).await.unwrap().is_new(), "the phone's cookie names nothing now");
    assert!(!store.load(&[&laptop]).await.unwrap().is_new());
    assert!(!store.destroy_user_session_by_handle("ada", &phone_handle).await.unwrap(), "ended once");
    let left: Vec<_> = store.user_sessions("ada").await.unwrap().into_iter().map(|s| s.handle).collect();
    assert_eq!(left, [handle(&store, &laptop).await]);
}

#[tokio::test]
async fn other_devices_are_ended_and_this_one_kept() {
    let clock = ManualClock::new(START);
    let (store, _) = rig(&clock);
    let laptop = login(&store, "ada").await;
    let others = [login(&store, "ada").await, login(&store, "ada").await];
    let bobs = login(&store, "bob").await;

    let this = store.load(&[&laptop]).await.unwrap();
    assert_eq!(store.destroy_other_user_sessions("ada", &this).await.unwrap(), 2);
    for other in &others {
        assert!(store.load(&[other]).await.unwrap().is_new());
    }
    assert!(!store.load(&[&laptop]).await.unwrap().is_new(), "this device stays");
    assert!(!store.load(&[&bobs]).await.unwrap().is_new(), "another user's sessions stay");
    assert_eq!(store.user_sessions("ada").await.unwrap().len(), 1);
}

#[tokio::test]
async fn last_seen_is_not_stamped_on_anonymous_sessions() {
    let clock = ManualClock::new(START);
    let (store, backend) = rig(&clock);
    let session = store.load(&[]).await.unwrap();
    session.insert("k", "v").unwrap();
    store.save(&session).await.unwrap();
    let stored = backend.load(&session.storage_key().unwrap()).await.unwrap().unwrap();
    assert!(!stored.fields.contains_key("s"), "{:?}", stored.fields.keys().collect::<Vec<_>>());
}
