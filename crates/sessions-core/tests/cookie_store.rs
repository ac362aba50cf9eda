//! `CookieStore`: the whole session in the cookie.

mod common;

use std::time::Duration;

use common::{START, config, key, max_age, pair, value};
use sessions_core::clock::ManualClock;
use sessions_core::codec::Mode;
use sessions_core::store::Store;
use sessions_core::{CookieOptions, CookieStore, Error, KeyRing, SameSite, StoreConfig};

fn store(clock: &ManualClock) -> CookieStore {
    CookieStore::new(config("session", clock)).unwrap()
}

async fn issue(store: &CookieStore, key: &str, v: &str) -> String {
    let session = store.load(&[]).await.unwrap();
    session.insert(key, v).unwrap();
    store.save(&session).await.unwrap().expect("a changed session sets its cookie")
}

#[tokio::test]
async fn values_round_trip_through_the_cookie() {
    let clock = ManualClock::new(START);
    let store = store(&clock);
    let header = issue(&store, "user", "ada").await;
    let session = store.load(&[value(&header)]).await.unwrap();
    assert!(!session.is_new());
    assert_eq!(session.get::<String>("user").unwrap().as_deref(), Some("ada"));
}

#[tokio::test]
async fn untouched_session_sends_no_cookie() {
    let clock = ManualClock::new(START);
    let store = store(&clock);
    let header = issue(&store, "user", "ada").await;
    let session = store.load(&[value(&header)]).await.unwrap();
    assert_eq!(session.get::<String>("user").unwrap().as_deref(), Some("ada"));
    assert_eq!(store.save(&session).await.unwrap(), None);
    let fresh = store.load(&[]).await.unwrap();
    assert_eq!(store.save(&fresh).await.unwrap(), None, "an empty new session sends nothing");
}

#[tokio::test]
async fn writing_the_same_value_again_is_not_a_change() {
    let clock = ManualClock::new(START);
    let store = store(&clock);
    let header = issue(&store, "user", "ada").await;
    let session = store.load(&[value(&header)]).await.unwrap();
    session.insert("user", "ada").unwrap();
    assert_eq!(store.save(&session).await.unwrap(), None);
}

#[tokio::test]
async fn flashes_are_read_once_across_requests() {
    let clock = ManualClock::new(START);
    let store = store(&clock);
    let session = store.load(&[]).await.unwrap();
    session.add_flash("saved").unwrap();
    session.add_flash_to("errors", &404u16).unwrap();
    let header = store.save(&session).await.unwrap().unwrap();

    let next = store.load(&[value(&header)]).await.unwrap();
    assert_eq!(next.flashes::<String>().unwrap(), vec!["saved".to_string()]);
    assert_eq!(next.flashes_from::<u16>("errors").unwrap(), vec![404]);
    let header = store.save(&next).await.unwrap().expect("consuming flashes changes the session");

    let after = store.load(&[value(&header)]).await.unwrap();
    assert!(after.flashes::<String>().unwrap().is_empty());
    assert!(after.flashes_from::<u16>("errors").unwrap().is_empty());
}

#[tokio::test]
async fn tampered_cookie_yields_fresh_session() {
    let clock = ManualClock::new(START);
    let store = store(&clock);
    let header = issue(&store, "user", "ada").await;
    let mut forged = value(&header).to_string();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let session = store.load(&[&forged]).await.unwrap();
    assert!(session.is_new());
    assert!(session.is_empty());
}

#[tokio::test]
async fn cookie_under_another_name_is_refused() {
    let clock = ManualClock::new(START);
    let header = issue(&store(&clock), "user", "ada").await;
    let other = CookieStore::new(config("other", &clock)).unwrap();
    assert!(other.load(&[value(&header)]).await.unwrap().is_new());
}

#[tokio::test]
async fn first_valid_duplicate_wins() {
    let clock = ManualClock::new(START);
    let store = store(&clock);
    let header = issue(&store, "user", "ada").await;
    let session = store.load(&["garbage", value(&header)]).await.unwrap();
    assert_eq!(session.get::<String>("user").unwrap().as_deref(), Some("ada"));
}

#[tokio::test]
async fn default_attributes_are_secure() {
    let clock = ManualClock::new(START);
    let store =
        CookieStore::new(StoreConfig::new("session", KeyRing::from(key(1))).clock(std::sync::Arc::new(clock))).unwrap();
    let session = store.load(&[]).await.unwrap();
    session.insert("n", &1).unwrap();
    let header = store.save(&session).await.unwrap().unwrap();
    let attributes: Vec<&str> = header.split(';').skip(1).map(str::trim).collect();
    assert_eq!(attributes, ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"]);
}

#[tokio::test]
async fn configured_attributes_are_emitted_exactly() {
    let clock = ManualClock::new(START);
    let options = CookieOptions::new().path("/app").domain(Some("example.com".into())).same_site(SameSite::Strict);
    let config = config("session", &clock)
        .cookie_options(options)
        .lifetime(sessions_core::PersistentSession::new(Duration::from_secs(3600)));
    let store = CookieStore::new(config).unwrap();
    let header = issue(&store, "n", "1").await;
    let attributes: Vec<&str> = header.split(';').skip(1).map(str::trim).collect();
    assert_eq!(
        attributes,
        ["HttpOnly", "SameSite=Strict", "Secure", "Path=/app", "Domain=example.com", "Max-Age=3600"]
    );
}

#[tokio::test]
async fn remember_me_switches_between_persistent_and_browser_cookie() {
    let clock = ManualClock::new(START);
    let store = store(&clock);
    let header = issue(&store, "user", "ada").await;
    assert_eq!(max_age(&header), None, "new sessions are browser-session cookies by default");

    let session = store.load(&[value(&header)]).await.unwrap();
    session.remember(true);
    let header = store.save(&session).await.unwrap().expect("remember-me re-sends the cookie");
    assert_eq!(max_age(&header), Some(30 * 24 * 3600));

    let session = store.load(&[value(&header)]).await.unwrap();
    assert_eq!(session.max_age(), Some(Duration::from_secs(30 * 24 * 3600)));
    session.remember(false);
    let header = store.save(&session).await.unwrap().expect("forgetting re-sends the cookie");
    assert_eq!(max_age(&header), None);
}

#[tokio::test]
async fn remember_me_moves_the_authenticated_expiry() {
    // gorilla/sessions #48: a long Max-Age on the cookie but a shorter
    // expiry baked into the signed value made remembered users log out.
    let clock = ManualClock::new(START);
    let store = CookieStore::new(config("session", &clock).remember_for(Duration::from_secs(90 * 24 * 3600))).unwrap();
    let session = store.load(&[]).await.unwrap();
    session.insert("user", "ada").unwrap();
    session.remember(true);
    let header = store.save(&session).await.unwrap().unwrap();
    assert_eq!(max_age(&header), Some(90 * 24 * 3600));
    clock.advance(Duration::from_secs(89 * 24 * 3600));
    let later = store.load(&[value(&header)]).await.unwrap();
    assert_eq!(later.get::<String>("user").unwrap().as_deref(), Some("ada"));
    clock.advance(Duration::from_secs(2 * 24 * 3600));
    assert!(store.load(&[value(&header)]).await.unwrap().is_new(), "past Max-Age the cookie is dead");
}

#[tokio::test]
async fn idle_timeout_ends_an_unused_session() {
    let clock = ManualClock::new(START);
    let store = CookieStore::new(
        config("session", &clock)
            .lifetime(sessions_core::BrowserSession::new().idle_timeout(Some(Duration::from_secs(600)))),
    )
    .unwrap();
    let header = issue(&store, "user", "ada").await;
    clock.advance(Duration::from_secs(599));
    assert!(!store.load(&[value(&header)]).await.unwrap().is_new());
    clock.advance(Duration::from_secs(1));
    assert!(store.load(&[value(&header)]).await.unwrap().is_new());
}

#[tokio::test]
async fn idle_timeout_slides_with_activity() {
    let clock = ManualClock::new(START);
    let store = CookieStore::new(
        config("session", &clock)
            .lifetime(sessions_core::BrowserSession::new().idle_timeout(Some(Duration::from_secs(600)))),
    )
    .unwrap();
    let mut header = issue(&store, "user", "ada").await;
    for _ in 0..10 {
        clock.advance(Duration::from_secs(300));
        let session = store.load(&[value(&header)]).await.unwrap();
        assert_eq!(session.get::<String>("user").unwrap().as_deref(), Some("ada"));
        header = store.save(&session).await.unwrap().expect("an active session's idle deadline moves");
    }
}

#[tokio::test]
async fn absolute_timeout_ends_even_an_active_session() {
    let clock = ManualClock::new(START);
    let store = CookieStore::new(
        config("session", &clock).lifetime(
            sessions_core::BrowserSession::new()
                .idle_timeout(Some(Duration::from_secs(600)))
                .absolute_timeout(Some(Duration::from_secs(1000))),
        ),
    )
    .unwrap();
    let mut header = issue(&store, "user", "ada").await;
    for _ in 0..3 {
        clock.advance(Duration::from_secs(300));
        let session = store.load(&[value(&header)]).await.unwrap();
        assert!(!session.is_new());
        session.insert("tick", &clock_now(&clock)).unwrap();
        header = store.save(&session).await.unwrap().unwrap();
    }
    clock.advance(Duration::from_secs(100));
    assert!(store.load(&[value(&header)]).await.unwrap().is_new(), "1000 s after creation the session ends");
}

fn clock_now(clock: &ManualClock) -> u64 {
    use sessions_core::clock::Clock;
    clock.now()
}

#[tokio::test]
async fn rotated_key_is_accepted_and_reissued_under_the_newest() {
    let clock = ManualClock::new(START);
    let old = CookieStore::new(config("session", &clock)).unwrap();
    let header = issue(&old, "user", "ada").await;

    let rotated_config = StoreConfig::new("session", KeyRing::new([key(2), key(1)]).unwrap())
        .cookie_options(CookieOptions::new().secure(false))
        .clock(std::sync::Arc::new(clock.clone()));
    let rotated = CookieStore::new(rotated_config).unwrap();
    let session = rotated.load(&[value(&header)]).await.unwrap();
    assert_eq!(session.get::<String>("user").unwrap().as_deref(), Some("ada"));
    let reissued = rotated.save(&session).await.unwrap().expect("a cookie under a retiring key is re-issued");

    let new_only = StoreConfig::new("session", KeyRing::from(key(2)))
        .cookie_options(CookieOptions::new().secure(false))
        .clock(std::sync::Arc::new(clock.clone()));
    let new_only = CookieStore::new(new_only).unwrap();
    let session = new_only.load(&[value(&reissued)]).await.unwrap();
    assert_eq!(session.get::<String>("user").unwrap().as_deref(), Some("ada"));
    assert!(new_only.load(&[value(&header)]).await.unwrap().is_new(), "the old cookie needs the old key");
}

#[tokio::test]
async fn oversized_session_is_a_typed_error_before_anything_is_sent() {
    let clock = ManualClock::new(START);
    let store = store(&clock);
    let session = store.load(&[]).await.unwrap();
    session.insert("blob", &"x".repeat(5000)).unwrap();
    match store.save(&session).await {
        Err(Error::TooLarge { size, limit, .. }) => assert!(size > limit && limit == 4096),
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[tokio::test]
async fn near_limit_session_fits() {
    let clock = ManualClock::new(START);
    let store = store(&clock);
    let session = store.load(&[]).await.unwrap();
    session.insert("blob", &"x".repeat(2900)).unwrap();
    let header = store.save(&session).await.unwrap().unwrap();
    assert!(pair(&header).len() <= 4096);
    assert_eq!(store.load(&[value(&header)]).await.unwrap().get::<String>("blob").unwrap().unwrap().len(), 2900);
}

#[tokio::test]
async fn destroy_sends_a_removal_cookie() {
    let clock = ManualClock::new(START);
    let store = store(&clock);
    let header = issue(&store, "user", "ada").await;
    let session = store.load(&[value(&header)]).await.unwrap();
    session.destroy();
    let removal = store.save(&session).await.unwrap().expect("destroy removes the cookie");
    assert!(removal.starts_with("session=;"), "{removal}");
    assert_eq!(max_age(&removal), Some(0));
}

#[tokio::test]
async fn signed_mode_round_trips_and_exposes_no_key() {
    let clock = ManualClock::new(START);
    let store = CookieStore::new(config("session", &clock).mode(Mode::Signed)).unwrap();
    let header = issue(&store, "user", "ada").await;
    let session = store.load(&[value(&header)]).await.unwrap();
    assert_eq!(session.get::<String>("user").unwrap().as_deref(), Some("ada"));
    let sealed = CookieStore::new(config("session", &clock)).unwrap();
    assert!(sealed.load(&[value(&header)]).await.unwrap().is_new(), "a sealed store refuses signed frames");
}

#[tokio::test]
async fn host_prefixed_cookie_gets_the_attributes_browsers_require() {
    let clock = ManualClock::new(START);
    let config = StoreConfig::new("__Host-session", KeyRing::from(key(1))).clock(std::sync::Arc::new(clock));
    let store = CookieStore::new(config).unwrap();
    let header = issue(&store, "n", "1").await;
    assert!(header.starts_with("__Host-session="));
    assert!(header.contains("; Secure") && header.contains("; Path=/") && !header.contains("Domain="));
    let insecure =
        StoreConfig::new("__Host-session", KeyRing::from(key(1))).cookie_options(CookieOptions::new().secure(false));
    assert!(matches!(CookieStore::new(insecure), Err(Error::Config(_))), "refused at start-up");
}

/// The cookie value after queueing `n` one-byte flashes (`u8`s, or
/// one-character strings), one request each.
async fn cookie_with_flashes(store: &CookieStore, n: usize, text: bool) -> String {
    let mut cookie: Option<String> = None;
    for i in 0..n {
        let values: Vec<&str> = cookie.iter().map(|c| value(c)).collect();
        let session = store.load(&values).await.unwrap();
        if text {
            session.add_flash("x").unwrap();
        } else {
            session.add_flash(&(i as u8)).unwrap();
        }
        cookie = Some(store.save(&session).await.unwrap().expect("a flash sets the cookie"));
    }
    value(&cookie.expect("at least one flash")).to_owned()
}

#[tokio::test]
async fn a_cookie_holds_a_hundred_one_byte_flashes_at_most_eight_characters_each() {
    let clock = ManualClock::new(START);
    let store = store(&clock);
    for text in [false, true] {
        let hundred = cookie_with_flashes(&store, 100, text).await;
        assert!(hundred.len() <= 4096, "100 one-byte flashes make a cookie of {} characters", hundred.len());
        for n in [101, 120] {
            let more = cookie_with_flashes(&store, n, text).await;
            let each = (more.len() - hundred.len()) as f64 / (n - 100) as f64;
            assert!(each <= 8.0, "each flash after 100 adds {each} characters");
        }
        // And they come back, in order, once.
        let session = store.load(&[&hundred]).await.unwrap();
        if text {
            assert_eq!(session.flashes::<String>().unwrap(), vec!["x".to_owned(); 100]);
        } else {
            assert_eq!(session.flashes::<u8>().unwrap(), (0..100).collect::<Vec<u8>>());
        }
        let header = store.save(&session).await.unwrap().expect("reading flashes changes the session");
        assert!(store.load(&[value(&header)]).await.unwrap().flashes::<u8>().unwrap().is_empty());
    }
}

#[tokio::test]
async fn flashes_of_several_queues_and_types_keep_their_order_through_the_cookie() {
    let clock = ManualClock::new(START);
    let store = store(&clock);
    let session = store.load(&[]).await.unwrap();
    session.add_flash("first").unwrap();
    session.add_flash_to("a#b", &1u32).unwrap();
    let header = store.save(&session).await.unwrap().unwrap();
    // The next request adds to both, with another type in between.
    let session = store.load(&[value(&header)]).await.unwrap();
    session.add_flash("second").unwrap();
    session.add_flash_to("a#b", &2u32).unwrap();
    session.add_flash_to("a", &"other queue").unwrap();
    let header = store.save(&session).await.unwrap().unwrap();
    let session = store.load(&[value(&header)]).await.unwrap();
    assert_eq!(session.flashes::<String>().unwrap(), ["first", "second"]);
    assert_eq!(session.flashes_from::<u32>("a#b").unwrap(), [1, 2]);
    assert_eq!(session.flashes_from::<String>("a").unwrap(), ["other queue"]);
    // A queue of mixed types is an error as a whole, and is emptied.
    session.add_flash(&1u8).unwrap();
    session.add_flash("text").unwrap();
    let header = store.save(&session).await.unwrap().unwrap();
    let session = store.load(&[value(&header)]).await.unwrap();
    assert!(matches!(session.flashes::<u8>(), Err(Error::Value { .. })));
    assert!(session.flashes::<u8>().unwrap().is_empty());
}
