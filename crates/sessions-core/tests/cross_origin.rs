//! The cross-origin decision: every `Sec-Fetch-Site` value against every
//! method and `Origin`/`Host` pair, trusted origins, exempt paths, the
//! configuration that is refused, and header bytes that never panic.

use proptest::prelude::*;
use sessions_core::CrossOrigin;
use sessions_core::adapter::FailureKind;
use sessions_core::adapter::{Refusal, RequestHead};
use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};

const HOST: &str = "app.example:8080";

const METHODS: &[&str] =
    &["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT", "get", "QUERY"];
const FETCH_SITES: &[Option<&str>] = &[
    None,
    Some(""),
    Some("same-origin"),
    Some("none"),
    Some("same-site"),
    Some("cross-site"),
    Some("Same-Origin"),
    Some("same-origin, cross-site"),
    Some("bogus"),
];
/// Each `Origin` with whether it names [`HOST`].
const ORIGINS: &[(Option<&str>, bool)] = &[
    (None, false),
    (Some("http://app.example:8080"), true),
    // The scheme is not compared: the Host header has none.
    (Some("https://app.example:8080"), true),
    (Some("HTTP://APP.EXAMPLE:8080"), true),
    (Some("http://app.example"), false),
    (Some("http://app.example:8081"), false),
    (Some("http://evil.example:8080"), false),
    (Some("http://app.example.evil:8080"), false),
    (Some("null"), false),
    (Some("app.example:8080"), false),
    (Some("http://app.example:8080/"), false),
    (Some("http://user@app.example:8080"), false),
];

fn is_safe(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// The table of the module documentation, row by row, independent of the
/// implementation's structure.
fn expected(
    method: &str,
    site: Option<&str>,
    origin: Option<&str>,
    origin_is_host: bool,
    same_site: bool,
) -> Result<(), Refusal> {
    if is_safe(method) {
        return Ok(());
    }
    match site {
        Some("same-origin" | "none") => Ok(()),
        Some("same-site") if same_site => Ok(()),
        Some(s) if !s.is_empty() => Err(Refusal::FetchSite),
        // Missing or empty: the Origin decides.
        _ => match origin {
            None => Ok(()),
            Some(_) if origin_is_host => Ok(()),
            Some(_) => Err(Refusal::OriginMismatch),
        },
    }
}

fn head<'a>(
    method: &'a str,
    path: &'a str,
    site: Option<&'a str>,
    origin: Option<&'a str>,
    host: Option<&'a str>,
) -> RequestHead<'a> {
    RequestHead::new(method, path).headers(site.map(str::as_bytes), origin.map(str::as_bytes), host.map(str::as_bytes))
}

#[test]
fn every_fetch_site_method_and_origin_is_decided_by_the_table() {
    let mut decided = 0;
    for same_site in [false, true] {
        let policy = CrossOrigin::new().allow_same_site(same_site);
        for &method in METHODS {
            for &site in FETCH_SITES {
                for &(origin, origin_is_host) in ORIGINS {
                    let got = policy.check(&head(method, "/login", site, origin, Some(HOST)));
                    let want = expected(method, site, origin, origin_is_host, same_site);
                    assert_eq!(
                        got, want,
                        "{method} Sec-Fetch-Site={site:?} Origin={origin:?} same-site allowed={same_site}"
                    );
                    decided += 1;
                }
            }
        }
    }
    assert_eq!(decided, 2 * METHODS.len() * FETCH_SITES.len() * ORIGINS.len());
}

#[test]
fn the_rows_that_matter_most() {
    let policy = CrossOrigin::new();
    let post = |site, origin| policy.check(&head("POST", "/login", site, origin, Some(HOST)));
    // A cross-site form.
    assert_eq!(post(Some("cross-site"), Some("https://evil.example")), Err(Refusal::FetchSite));
    // A sibling subdomain's form, not allowed by default.
    assert_eq!(post(Some("same-site"), Some("https://blog.app.example")), Err(Refusal::FetchSite));
    // The site's own form, even with an Origin that does not match (a proxy rewrote Host).
    assert_eq!(post(Some("same-origin"), Some("https://public.example")), Ok(()));
    // An older browser on another site.
    assert_eq!(post(None, Some("https://evil.example")), Err(Refusal::OriginMismatch));
    // An older browser on this site.
    assert_eq!(post(None, Some("https://app.example:8080")), Ok(()));
    // curl.
    assert_eq!(post(None, None), Ok(()));
    // A link followed cross-site is a GET and passes: it must change nothing.
    assert_eq!(policy.check(&head("GET", "/kv", Some("cross-site"), None, Some(HOST))), Ok(()));
}

#[test]
fn an_origin_without_a_host_to_compare_is_refused() {
    let policy = CrossOrigin::new();
    for host in [None, Some(""), Some("  ")] {
        let got = policy.check(&head("POST", "/", None, Some("http://app.example:8080"), host));
        assert_eq!(got, Err(Refusal::OriginMismatch), "Host {host:?}");
        // Neither header: still a program.
        assert_eq!(policy.check(&head("POST", "/", None, None, host)), Ok(()));
    }
    // `null` compared with an empty host must not match (empty authority).
    assert_eq!(policy.check(&head("POST", "/", None, Some("http://"), Some(""))), Err(Refusal::OriginMismatch));
}

#[test]
fn header_values_are_read_without_surrounding_whitespace() {
    let policy = CrossOrigin::new();
    assert_eq!(policy.check(&head("POST", "/", Some(" same-origin "), None, Some(HOST))), Ok(()));
    assert_eq!(policy.check(&head("POST", "/", Some("\tcross-site"), None, Some(HOST))), Err(Refusal::FetchSite));
    assert_eq!(
        policy.check(&head("POST", "/", None, Some(" http://app.example:8080 "), Some(" app.example:8080"))),
        Ok(())
    );
}

#[test]
fn a_trusted_origin_passes_whatever_the_browser_says() {
    let policy =
        CrossOrigin::new().trust_origin("https://SSO.example").unwrap().trust_origin("http://[::1]:3000").unwrap();
    for site in [Some("cross-site"), Some("same-site"), Some("bogus"), None] {
        assert_eq!(
            policy.check(&head("POST", "/callback", site, Some("https://sso.example"), Some(HOST))),
            Ok(()),
            "{site:?}"
        );
        assert_eq!(
            policy.check(&head("POST", "/callback", site, Some("http://[::1]:3000"), Some(HOST))),
            Ok(()),
            "{site:?}"
        );
    }
    // Exactly that origin: not another scheme, port or subdomain.
    for other in ["http://sso.example", "https://sso.example:8443", "https://a.sso.example", "https://sso.example/"] {
        let got = policy.check(&head("POST", "/callback", Some("cross-site"), Some(other), Some(HOST)));
        assert_eq!(got, Err(Refusal::FetchSite), "{other}");
    }
}

#[test]
fn exempt_paths_are_exact_and_prefixes_cover_their_subtree() {
    let policy = CrossOrigin::new().exempt_path("/hooks").unwrap().exempt_prefix("/api/hooks/").unwrap();
    let refused =
        |path| policy.check(&head("POST", path, Some("cross-site"), Some("https://evil.example"), Some(HOST)));
    for exempt in ["/hooks", "/api/hooks/a", "/api/hooks/a/b", "/api/hooks/"] {
        assert_eq!(refused(exempt), Ok(()), "{exempt}");
    }
    for checked in [
        "/hooks/",
        "/hooksx",
        "/hook",
        "/api/hooks",
        "/api/hooksx/a",
        "/HOOKS",
        "/",
        "/api/hooks/../login",
        "/api/hooks/%2e%2e/login",
        "/api/hooks/./x",
    ] {
        assert_eq!(refused(checked), Err(Refusal::FetchSite), "{checked}");
    }
    // The Origin fallback respects the exemptions too.
    assert_eq!(policy.check(&head("POST", "/hooks", None, Some("https://evil.example"), Some(HOST))), Ok(()));
    assert_eq!(
        policy.check(&head("POST", "/login", None, Some("https://evil.example"), Some(HOST))),
        Err(Refusal::OriginMismatch)
    );
}

#[test]
fn trusted_origins_are_validated_when_configured() {
    for good in [
        "https://a.example",
        "http://a.example:8080",
        "https://[2001:db8::1]:8443",
        "http://127.0.0.1:3000",
        "app+x://a-b.c_d",
    ] {
        assert!(CrossOrigin::new().trust_origin(good).is_ok(), "{good}");
    }
    for bad in [
        "a.example",
        "https://",
        "https://a.example/",
        "https://a.example/path",
        "https://a.example?x",
        "https://a.example#x",
        "https://user@a.example",
        "https://a.example:443",
        "http://a.example:80",
        "https://a.example:0",
        "https://a.example:99999",
        "https://a.example:",
        "https://a example",
        "https://[::1",
        "null",
        "*",
        "1https://a.example",
        "://a.example",
    ] {
        let err = CrossOrigin::new().trust_origin(bad).expect_err(bad);
        assert!(err.to_string().contains(bad), "the error names the origin: {err}");
    }
}

#[test]
fn exempt_paths_are_validated_when_configured() {
    assert!(CrossOrigin::new().exempt_path("").is_err());
    for bad in ["hooks", "/a b", "/a?x", "/a#x", "/a/../b", "/a/%2E/b", "/é"] {
        assert!(CrossOrigin::new().exempt_path(bad).is_err(), "{bad}");
        assert!(CrossOrigin::new().exempt_prefix(&format!("{bad}/")).is_err(), "{bad}/");
    }
    let err = CrossOrigin::new().exempt_prefix("/hooks").unwrap_err();
    assert!(err.to_string().contains("must end with `/`"), "{err}");
}

#[test]
fn disabled_protection_lets_everything_through() {
    let policy = CrossOrigin::disabled();
    assert!(!policy.is_enabled());
    assert_eq!(
        policy.check(&head("POST", "/login", Some("cross-site"), Some("https://evil.example"), Some(HOST))),
        Ok(())
    );
}

fn store() -> CookieStore {
    CookieStore::new(StoreConfig::new("s", KeyRing::from(Key::generate()))).unwrap()
}

#[test]
fn a_registry_protects_unless_told_otherwise() {
    let forged = head("POST", "/logout", Some("cross-site"), Some("https://evil.example"), Some(HOST));
    for registry in [Registry::single(store()), Registry::builder().store(store()).build().unwrap()] {
        assert!(registry.cross_origin().is_enabled());
        let reply = registry.check_origin(&forged).unwrap_err();
        assert_eq!((reply.status, reply.body), (403, "cross-origin request refused"));
        assert_eq!(reply, registry.policy().reply(FailureKind::CrossOrigin));
    }
    let off = Registry::builder().store(store()).cross_origin(CrossOrigin::disabled()).build().unwrap();
    assert!(off.check_origin(&forged).is_ok());
}

#[test]
fn the_refusal_status_is_not_the_outage_status() {
    let registry = Registry::builder().store(store()).unavailable_status(500).build().unwrap();
    let forged = head("PUT", "/x", Some("cross-site"), None, Some(HOST));
    assert_eq!(registry.check_origin(&forged).unwrap_err().status, 403);
}

fn any_header() -> impl Strategy<Value = Option<Vec<u8>>> {
    let known = prop::sample::select(vec![
        b"same-origin".to_vec(),
        b"same-site".to_vec(),
        b"cross-site".to_vec(),
        b"none".to_vec(),
        b"http://app.example:8080".to_vec(),
        b"app.example:8080".to_vec(),
        b"null".to_vec(),
    ]);
    prop_oneof![Just(None), known.prop_map(Some), prop::collection::vec(any::<u8>(), 0..48).prop_map(Some),]
}

fn any_method() -> impl Strategy<Value = String> {
    prop_oneof![prop::sample::select(METHODS.to_vec()).prop_map(str::to_owned), "\\PC{0,8}"]
}

proptest! {
    /// Any bytes in any header, any method and path: a decision, never a
    /// panic; safe methods always pass; a request the plain policy lets
    /// through passes under any trusted origin or exemption too.
    #[test]
    fn any_request_is_decided_without_panicking(
        method in any_method(),
        path in "\\PC{0,24}",
        site in any_header(),
        origin in any_header(),
        host in any_header(),
    ) {
        let request = RequestHead::new(&method, &path).headers(site.as_deref(), origin.as_deref(), host.as_deref());
        let plain = CrossOrigin::new().check(&request);
        if is_safe(&method) {
            prop_assert_eq!(plain, Ok(()));
        }
        let relaxed = CrossOrigin::new()
            .allow_same_site(true)
            .trust_origin("http://app.example:8080").unwrap()
            .exempt_prefix("/hooks/").unwrap()
            .check(&request);
        if plain.is_ok() {
            prop_assert_eq!(relaxed, Ok(()));
        }
        // No Sec-Fetch-Site and no Origin: never refused.
        let bare = RequestHead::new(&method, &path).headers(None, None, host.as_deref());
        prop_assert_eq!(CrossOrigin::new().check(&bare), Ok(()));
    }

    /// A browser that says `cross-site` is refused on an unsafe method,
    /// whatever Origin and Host say, unless exempt.
    #[test]
    fn cross_site_is_refused_whatever_else_the_request_says(
        method in prop::sample::select(vec!["POST", "PUT", "PATCH", "DELETE"]),
        path in "/[a-z]{0,8}",
        origin in any_header(),
        host in any_header(),
    ) {
        let request = RequestHead::new(method, &path).headers(Some(b"cross-site"), origin.as_deref(), host.as_deref());
        prop_assert_eq!(CrossOrigin::new().check(&request), Err(Refusal::FetchSite));
    }
}
