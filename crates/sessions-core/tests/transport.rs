//! Sessions carried in a request header instead of a cookie: the same
//! lifecycle, nothing cookie-specific sent, and bad input a fresh session.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{START, config, key};
use sessions_core::adapter::RequestHead;
use sessions_core::clock::ManualClock;
use sessions_core::{
    BrowserSession, CookieStore, CrossOrigin, Error, KeyRing, MemoryBackend, Registry, ServerStore, StoreConfig,
    Transport,
};

const HEADER: &str = "x-session";

/// A client that keeps no cookies: it holds the value the last response
/// handed it and sends it back in `header`.
struct Client {
    header: &'static str,
    held: Option<String>,
}

/// What one request answered: its headers as pairs.
struct Answer {
    headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn values(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| *n == name).map(|(_, v)| v.as_str()).collect()
    }
}

impl Client {
    fn new(header: &'static str) -> Client {
        Client { header, held: None }
    }

    /// Runs `handler` on the default session of a request carrying what
    /// the client holds, and keeps what the response hands back.
    async fn send(&mut self, registry: &Registry, handler: impl FnOnce(&sessions_core::Session)) -> Answer {
        let held = self.held.clone();
        let header = self.header;
        let sessions =
            registry.request_with([], |name| if name == header { held.as_deref().map(str::as_bytes) } else { None });
        handler(&sessions.default_session().await.unwrap());
        let finished = sessions.finish(200, None, |name, value| Some((name, value.to_owned()))).await;
        assert!(finished.errors.is_empty(), "{:?}", finished.errors);
        let answer = Answer { headers: finished.headers };
        if let Some(value) = answer.values(self.header).first() {
            self.held = (!value.is_empty()).then(|| value.to_string());
        }
        answer
    }

    async fn count_up(&mut self, registry: &Registry) -> (u64, Answer) {
        let mut count = 0;
        let answer = self
            .send(registry, |session| {
                count = session.get::<u64>("count").unwrap().unwrap_or(0) + 1;
                session.insert("count", &count).unwrap();
            })
            .await;
        (count, answer)
    }

    async fn peek(&mut self, registry: &Registry) -> u64 {
        let mut count = 0;
        self.send(registry, |session| count = session.get::<u64>("count").unwrap().unwrap_or(0)).await;
        count
    }
}

fn header_config(clock: &ManualClock, transport: Transport) -> StoreConfig {
    config("id", clock).transport(transport)
}

fn server(config: StoreConfig) -> (Registry, Arc<ServerStore>) {
    let store = Arc::new(ServerStore::new(config, Arc::new(MemoryBackend::new())).unwrap());
    (Registry::builder().shared_store(Arc::clone(&store) as _).build().unwrap(), store)
}

fn registries(clock: &ManualClock, transport: Transport) -> [Registry; 2] {
    [
        Registry::single(CookieStore::new(header_config(clock, transport)).unwrap()),
        server(header_config(clock, transport)).0,
    ]
}

#[tokio::test]
async fn header_session_travels_in_its_header_and_sends_nothing_cookie_specific() {
    let clock = ManualClock::new(START);
    for registry in registries(&clock, Transport::Header(HEADER)) {
        let mut client = Client::new(HEADER);
        let (count, answer) = client.count_up(&registry).await;
        assert_eq!(count, 1);
        assert!(answer.values("set-cookie").is_empty(), "no Set-Cookie: {:?}", answer.headers);
        assert_eq!(answer.values("vary"), [HEADER], "Vary names the header, not Cookie");
        assert_eq!(answer.values("cache-control"), ["no-store"], "a handed-out value is not cached");
        assert!(client.held.is_some(), "the new session's value is handed out");
        assert_eq!(client.count_up(&registry).await.0, 2, "the value read back from the header");
        assert_eq!(client.peek(&registry).await, 2);
    }
}

#[tokio::test]
async fn read_only_request_sends_only_vary() {
    let clock = ManualClock::new(START);
    for registry in registries(&clock, Transport::Header(HEADER)) {
        let mut client = Client::new(HEADER);
        client.count_up(&registry).await;
        let answer = client.send(&registry, |session| drop(session.get::<u64>("count"))).await;
        assert_eq!(answer.headers, [("vary", HEADER.to_owned())]);
    }
}

#[tokio::test]
async fn server_store_cycle_hands_out_a_new_value_and_forgets_the_old_one() {
    let clock = ManualClock::new(START);
    let (registry, _) = server(header_config(&clock, Transport::Header(HEADER)));
    let mut client = Client::new(HEADER);
    client.count_up(&registry).await;
    let before = client.held.clone().unwrap();
    let answer = client.send(&registry, |session| session.cycle_id()).await;
    let after = client.held.clone().unwrap();
    assert_ne!(before, after, "a cycled id is a new value");
    assert_eq!(answer.values(HEADER), [after.as_str()]);
    assert_eq!(client.peek(&registry).await, 1, "the session moved with its id");
    let mut replay = Client { header: HEADER, held: Some(before) };
    assert_eq!(replay.peek(&registry).await, 0, "the old value names no session");
}

#[tokio::test]
async fn destroy_answers_an_empty_value() {
    let clock = ManualClock::new(START);
    for registry in registries(&clock, Transport::Header(HEADER)) {
        let mut client = Client::new(HEADER);
        client.count_up(&registry).await;
        let answer = client.send(&registry, |session| session.destroy()).await;
        assert_eq!(answer.values(HEADER), [""], "an ended session is an empty value");
        assert!(answer.values("set-cookie").is_empty());
        assert_eq!(client.held, None);
        assert_eq!(client.peek(&registry).await, 0);
    }
}

#[tokio::test]
async fn bearer_reads_authorization_and_answers_the_line_to_send_back() {
    let clock = ManualClock::new(START);
    for registry in registries(&clock, Transport::Bearer) {
        let mut client = Client::new("authorization");
        client.count_up(&registry).await;
        let held = client.held.clone().unwrap();
        assert!(held.starts_with("Bearer "), "{held}");
        assert_eq!(client.count_up(&registry).await.0, 2);
        // Any letter case of the scheme, any run of spaces after it.
        let held = client.held.clone().unwrap();
        let token = held.strip_prefix("Bearer ").unwrap();
        client.held = Some(format!("bearer   {token}"));
        assert_eq!(client.peek(&registry).await, 2);
        let answer = client.send(&registry, |session| session.destroy()).await;
        assert_eq!(answer.values("authorization"), [""]);
        assert_eq!(answer.values("vary"), ["authorization"]);
    }
}

#[tokio::test]
async fn bad_header_values_yield_a_fresh_session() {
    let clock = ManualClock::new(START);
    for (transport, header, scheme) in
        [(Transport::Header(HEADER), HEADER, ""), (Transport::Bearer, "authorization", "Bearer ")]
    {
        for registry in registries(&clock, transport) {
            let mut client = Client::new(header);
            client.count_up(&registry).await;
            let good = client.held.clone().unwrap();
            let token = good.strip_prefix(scheme).unwrap();
            let mut tampered = token.as_bytes().to_vec();
            let middle = tampered.len() / 2;
            tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
            let tampered = format!("{scheme}{}", String::from_utf8(tampered).unwrap());
            let long = format!("{scheme}{}", "A".repeat(64 * 1024));
            let spaced = format!("{scheme}{token} {token}");
            let non_ascii = format!("{scheme}caf\u{e9}{token}");
            let bad: [&[&[u8]]; 8] = [
                &[tampered.as_bytes()],
                &[long.as_bytes()],
                &[spaced.as_bytes()],
                &[non_ascii.as_bytes()],
                &[b"Bearer"],
                &[b"Basic YWxhZGRpbjpvcGVuc2VzYW1l"],
                &[b"\xff\xfe"],
                // The right value, twice: neither is read.
                &[good.as_bytes(), good.as_bytes()],
            ];
            for values in bad {
                let sessions = registry.request_with([], |name| if name == header { values.to_vec() } else { vec![] });
                let session = sessions.default_session().await.unwrap();
                assert_eq!(session.get::<u64>("count").unwrap(), None, "{:?}", values);
                assert!(session.is_new());
            }
            assert_eq!(client.peek(&registry).await, 1, "the good value still reads");
        }
    }
}

#[tokio::test]
async fn header_store_never_reads_a_cookie_of_its_name() {
    let clock = ManualClock::new(START);
    for registry in registries(&clock, Transport::Header(HEADER)) {
        let mut client = Client::new(HEADER);
        client.count_up(&registry).await;
        let cookie = format!("id={}", client.held.clone().unwrap());
        let sessions = registry.request([cookie.as_str()]);
        assert_eq!(sessions.default_session().await.unwrap().get::<u64>("count").unwrap(), None);
    }
}

#[tokio::test]
async fn idle_timeout_expires_a_header_session() {
    let clock = ManualClock::new(START);
    let lifetime = BrowserSession::new().idle_timeout(Some(Duration::from_secs(600)));
    let cookie = header_config(&clock, Transport::Header(HEADER)).lifetime(lifetime);
    let server_config = header_config(&clock, Transport::Header(HEADER)).lifetime(lifetime);
    for registry in [Registry::single(CookieStore::new(cookie).unwrap()), server(server_config).0] {
        let mut client = Client::new(HEADER);
        client.count_up(&registry).await;
        clock.advance(Duration::from_secs(599));
        assert_eq!(client.peek(&registry).await, 1, "still within the idle timeout");
        clock.advance(Duration::from_secs(601));
        assert_eq!(client.peek(&registry).await, 0, "idle past the timeout");
    }
}

#[tokio::test]
async fn rotated_key_reissues_the_value_in_the_header() {
    let clock = ManualClock::new(START);
    let old = header_config(&clock, Transport::Header(HEADER));
    let rotated = || {
        StoreConfig::new("id", KeyRing::new([key(2), key(1)]).unwrap())
            .clock(Arc::new(clock.clone()))
            .transport(Transport::Header(HEADER))
    };
    let mut client = Client::new(HEADER);
    let before = Registry::single(CookieStore::new(old).unwrap());
    client.count_up(&before).await;
    let held = client.held.clone();
    let after = Registry::single(CookieStore::new(rotated()).unwrap());
    let answer = client.send(&after, |session| drop(session.get::<u64>("count"))).await;
    assert_eq!(answer.values(HEADER).len(), 1, "a value under a retired key is re-issued");
    assert_ne!(client.held, held);
    let newest = Registry::single(
        CookieStore::new(
            StoreConfig::new("id", KeyRing::from(key(2)))
                .clock(Arc::new(clock.clone()))
                .transport(Transport::Header(HEADER)),
        )
        .unwrap(),
    );
    assert_eq!(client.peek(&newest).await, 1, "the re-issued value opens under the new key alone");
}

#[tokio::test]
async fn ending_a_users_sessions_ends_header_sessions() {
    let clock = ManualClock::new(START);
    let (registry, store) = server(header_config(&clock, Transport::Bearer));
    let mut client = Client::new("authorization");
    client.send(&registry, |session| session.set_user(Some("ada")).unwrap()).await;
    assert_eq!(store.user_sessions("ada").await.unwrap().len(), 1, "indexed under its user");
    assert_eq!(store.destroy_user_sessions("ada").await.unwrap(), 1);
    let mut user = None;
    client.send(&registry, |session| user = session.user()).await;
    assert_eq!(user, None, "logged out everywhere");
}

#[tokio::test]
async fn cross_origin_check_passes_requests_that_carry_no_session_cookie() {
    let clock = ManualClock::new(START);
    let cross_site = RequestHead::new("POST", "/orders").sec_fetch_site(b"cross-site");
    let token: &[u8] = b"anything";
    let headers = |name: &str| if name == HEADER { vec![token] } else { vec![] };

    // Only header-carried sessions: nothing a browser attaches by itself.
    let api = Registry::single(CookieStore::new(header_config(&clock, Transport::Header(HEADER))).unwrap());
    assert!(api.request_with([], |_| []).check_origin(&cross_site).is_ok());
    assert!(api.request_with([], headers).check_origin(&cross_site).is_ok());

    // Beside a cookie-carried store: the header passes, a cookie does not.
    let mixed = Registry::builder()
        .store(CookieStore::new(header_config(&clock, Transport::Header(HEADER))).unwrap())
        .store(CookieStore::new(config("prefs", &clock)).unwrap())
        .build()
        .unwrap();
    assert!(mixed.request_with([], headers).check_origin(&cross_site).is_ok());
    assert_eq!(mixed.request_with([], |_| []).check_origin(&cross_site).unwrap_err().status, 403);
    let with_cookie = mixed.request_with([&b"prefs=x"[..]], headers);
    assert_eq!(with_cookie.check_origin(&cross_site).unwrap_err().status, 403, "a cookie rides on it");

    // Cookie sessions only: as before.
    let cookies = Registry::builder()
        .store(CookieStore::new(config("id", &clock)).unwrap())
        .cross_origin(CrossOrigin::new())
        .build()
        .unwrap();
    assert!(cookies.request_with([], headers).check_origin(&cross_site).is_err());
}

#[test]
fn two_stores_cannot_share_a_header() {
    let clock = ManualClock::new(START);
    let err = Registry::builder()
        .store(CookieStore::new(config("a", &clock).transport(Transport::Bearer)).unwrap())
        .store(CookieStore::new(config("b", &clock).transport(Transport::Bearer)).unwrap())
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    for name in ["X-Session", "cookie", "set-cookie", "vary", ""] {
        let refused = CookieStore::new(config("a", &clock).transport(Transport::Header(name)));
        assert!(matches!(refused, Err(Error::Config(_))), "{name}");
    }
}
