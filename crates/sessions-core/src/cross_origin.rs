//! Cross-origin protection: which unsafe requests are refused before any
//! session is loaded (see [`CrossOrigin`]).

use crate::error::{Error, Result};

/// Cross-origin protection: refusing the state-changing requests a browser
/// sends for another site (cross-site request forgery), before any session
/// is loaded.
///
/// A browser attaches the session cookie to a form another site submits to
/// this one (`SameSite=Lax` stops a cross-site `POST`, but not a request
/// from a sibling subdomain, nor a cookie set `SameSite=None`), so the
/// cookie alone does not say the user meant the request. The browser does
/// say where the request came from, in headers a page cannot forge:
///
/// 1. `GET`, `HEAD` and `OPTIONS` always pass: they must change nothing.
/// 2. `Sec-Fetch-Site` (sent by every major browser since 2023):
///    `same-origin` and `none` (the user typed the address or used a
///    bookmark) pass; `same-site` passes only when allowed
///    ([`CrossOrigin::allow_same_site`]); `cross-site` and any other value
///    are refused.
/// 3. Without `Sec-Fetch-Site`, an `Origin` header (older browsers) must
///    name the request's `Host`: the `host[:port]` after `scheme://` equals
///    the `Host` header, letter case aside. The scheme is not compared (the
///    `Host` header has none), as in Go's `net/http.CrossOriginProtection`.
/// 4. A request with neither header did not come from a browser page (a
///    program, or a browser too old to say) and passes.
///
/// A request refused by 2 or 3 still passes when its `Origin` is a trusted
/// origin ([`CrossOrigin::trust_origin`]) or its path is exempt
/// ([`CrossOrigin::exempt_path`], [`CrossOrigin::exempt_prefix`]).
///
/// The protection is on by default: every [`Registry`](crate::Registry)
/// built without a `CrossOrigin` of its own protects, and every adapter
/// asks it with [`Registry::check_origin`](crate::Registry::check_origin)
/// before the handler runs, so a refused request loads no session and
/// saves nothing.
///
/// ```
/// use sessions_core::CrossOrigin;
/// use sessions_core::adapter::{Refusal, RequestHead};
///
/// let policy = CrossOrigin::new().trust_origin("https://sso.example")?.exempt_prefix("/hooks/")?;
/// let form = |site: &'static str| RequestHead::new("POST", "/login").sec_fetch_site(site.as_bytes());
///
/// assert_eq!(policy.check(&form("same-origin")), Ok(()));
/// assert_eq!(policy.check(&form("cross-site")), Err(Refusal::FetchSite));
/// assert_eq!(policy.check(&form("cross-site").origin(b"https://sso.example")), Ok(()));
/// let hook = RequestHead::new("POST", "/hooks/payment").sec_fetch_site(b"cross-site");
/// assert_eq!(policy.check(&hook), Ok(()));
///
/// // An older browser: no Sec-Fetch-Site, an Origin that is not this host.
/// let old = RequestHead::new("POST", "/login").origin(b"https://evil.example").host(b"app.example");
/// assert_eq!(policy.check(&old), Err(Refusal::OriginMismatch));
/// // A program: neither header.
/// assert_eq!(policy.check(&RequestHead::new("POST", "/login")), Ok(()));
/// # Ok::<(), sessions_core::Error>(())
/// ```
///
/// Which unsafe requests are refused as cross-origin; set once on the
/// [`Registry`](crate::Registry) with
/// [`RegistryBuilder::cross_origin`](crate::RegistryBuilder::cross_origin).
///
/// [`CrossOrigin::new`] (the default) protects with no trusted origin and
/// no exempt path; the rules are above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossOrigin {
    enabled: bool,
    allow_same_site: bool,
    /// `scheme://host[:port]`, lowercase.
    trusted: Vec<String>,
    exempt: Vec<Exempt>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Exempt {
    Path(String),
    Prefix(String),
}

impl Default for CrossOrigin {
    fn default() -> Self {
        CrossOrigin::new()
    }
}

/// Why a request was refused; for the log, never for the client (every
/// refusal answers the same `403`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// `Sec-Fetch-Site` says the request came from another site (or is a
    /// value this library does not know).
    #[error("Sec-Fetch-Site says the request came from another site")]
    FetchSite,
    /// No `Sec-Fetch-Site`, and `Origin` does not name the request's
    /// `Host` (or there is no `Host`): a cross-origin request from an older
    /// browser, or a proxy that rewrites `Host`.
    #[error("no Sec-Fetch-Site, and Origin does not match Host")]
    OriginMismatch,
}

impl CrossOrigin {
    /// Protection on, `same-site` refused, no trusted origin, no exempt path.
    pub fn new() -> CrossOrigin {
        CrossOrigin { enabled: true, allow_same_site: false, trusted: Vec::new(), exempt: Vec::new() }
    }

    /// No protection: every request passes. For an application that
    /// checks requests itself (tokens, its own header rules), or serves no
    /// browser.
    pub fn disabled() -> CrossOrigin {
        CrossOrigin { enabled: false, ..CrossOrigin::new() }
    }

    /// True unless built with [`CrossOrigin::disabled`].
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Lets `Sec-Fetch-Site: same-site` pass (default: refused).
    ///
    /// Same-site is wider than it sounds: every subdomain of the
    /// registrable domain (`blog.example.com` for `app.example.com`), and,
    /// in browsers that compare sites without the scheme, `http://` pages
    /// of the same domain. Allow it only when all of them are yours and
    /// trusted; listing the few origins that need it with
    /// [`CrossOrigin::trust_origin`] is narrower.
    pub fn allow_same_site(mut self, allow: bool) -> CrossOrigin {
        self.allow_same_site = allow;
        self
    }

    /// Lets requests whose `Origin` is exactly `origin` pass, for example
    /// a single sign-on provider that posts back to this site.
    ///
    /// `origin` is `scheme://host[:port]` as browsers send it: no path (not
    /// even `/`), query, fragment or user, no default port (`:443` for
    /// `https`, `:80` for `http`, which browsers leave out). Letter case
    /// does not matter. Anything else is refused here, at configuration,
    /// rather than never matching at run time.
    pub fn trust_origin(mut self, origin: &str) -> Result<CrossOrigin> {
        let invalid = |why: &str| Error::Config(format!("trusted origin `{origin}`: {why}"));
        let (scheme, authority) = origin.split_once("://").ok_or_else(|| invalid("expected scheme://host[:port]"))?;
        let scheme_ok = scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !scheme_ok {
            return Err(invalid("the scheme must be letters, digits, `+`, `-` or `.`, starting with a letter"));
        }
        if authority.bytes().any(|b| b"/?#@\\".contains(&b)) {
            return Err(invalid("an origin has no path (not even `/`), query, fragment or user"));
        }
        let (host, port) = split_authority(authority).ok_or_else(|| invalid("expected host[:port]"))?;
        let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b":.".contains(&b)),
            None => !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)),
        };
        if !host_ok {
            return Err(invalid("the host must be a name, an IPv4 address or a bracketed IPv6 address"));
        }
        if let Some(port) = port {
            let number = (!port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()))
                .then(|| port.parse::<u16>().ok())
                .flatten()
                .filter(|&n| n != 0)
                .ok_or_else(|| invalid("the port must be a number from 1 to 65535"))?;
            let default = match scheme.to_ascii_lowercase().as_str() {
                "https" => Some(443),
                "http" => Some(80),
                _ => None,
            };
            if default == Some(number) {
                return Err(invalid("browsers leave the default port out of Origin; drop it"));
            }
        }
        let origin = origin.to_ascii_lowercase();
        if !self.trusted.contains(&origin) {
            self.trusted.push(origin);
        }
        Ok(self)
    }

    /// Lets requests to exactly `path` pass (`/hooks/payment`, not
    /// `/hooks/payment/` nor `/hooks/payment?x`; the query is never part of
    /// the path), for an endpoint other sites are meant to post to, such
    /// as a webhook that authenticates its caller another way.
    ///
    /// `path` starts with `/` and is visible ASCII without `?`, `#` or a
    /// `.`/`..` segment. Paths are compared as they arrive, before any
    /// percent-decoding; a request path with a `.` or `..` segment (plain
    /// or percent-encoded) is never exempt, so `/hooks/../login` is not
    /// mistaken for a hook.
    pub fn exempt_path(mut self, path: &str) -> Result<CrossOrigin> {
        check_exempt(path, "exempt path")?;
        self.exempt.push(Exempt::Path(path.to_owned()));
        Ok(self)
    }

    /// Lets requests to every path under `prefix` pass; `prefix` ends with
    /// `/` (`/hooks/` covers `/hooks/a` and `/hooks/a/b`, not `/hooks`
    /// itself nor `/hooksx`: add `/hooks` with [`CrossOrigin::exempt_path`]
    /// if it needs it). Otherwise as [`CrossOrigin::exempt_path`].
    pub fn exempt_prefix(mut self, prefix: &str) -> Result<CrossOrigin> {
        check_exempt(prefix, "exempt prefix")?;
        if !prefix.ends_with('/') {
            return Err(Error::Config(format!("exempt prefix `{prefix}` must end with `/`")));
        }
        self.exempt.push(Exempt::Prefix(prefix.to_owned()));
        Ok(self)
    }

    /// Whether requests of `method` are judged at all: not when the
    /// protection is off, nor for the safe methods (`GET`, `HEAD`,
    /// `OPTIONS`), which [`check`](Self::check) lets through on their
    /// method alone.
    ///
    /// ```
    /// use sessions_core::CrossOrigin;
    ///
    /// assert!(CrossOrigin::new().judges("POST"));
    /// assert!(!CrossOrigin::new().judges("GET"));
    /// assert!(!CrossOrigin::disabled().judges("POST"));
    /// ```
    pub fn judges(&self, method: &str) -> bool {
        self.enabled && !matches!(method, "GET" | "HEAD" | "OPTIONS")
    }

    /// Whether the request described by `head` may go on to its handler.
    pub fn check(&self, head: &RequestHead<'_>) -> std::result::Result<(), Refusal> {
        if !self.judges(head.method) {
            return Ok(());
        }
        let refusal = match present(head.sec_fetch_site) {
            Some(b"same-origin" | b"none") => return Ok(()),
            Some(b"same-site") if self.allow_same_site => return Ok(()),
            Some(_) => Refusal::FetchSite,
            None => match present(head.origin) {
                None => return Ok(()),
                Some(origin) if present(head.host).is_some_and(|host| names_host(origin, host)) => return Ok(()),
                Some(_) => Refusal::OriginMismatch,
            },
        };
        if self.is_exempt(head) { Ok(()) } else { Err(refusal) }
    }

    fn is_exempt(&self, head: &RequestHead<'_>) -> bool {
        let trusted = present(head.origin)
            .is_some_and(|origin| self.trusted.iter().any(|t| t.as_bytes().eq_ignore_ascii_case(origin)));
        trusted
            || (!self.exempt.is_empty()
                && !has_dot_segment(head.path)
                && self.exempt.iter().any(|e| e.covers(head.path)))
    }
}

impl Exempt {
    fn covers(&self, path: &str) -> bool {
        match self {
            Exempt::Path(exact) => path == exact,
            Exempt::Prefix(prefix) => path.starts_with(prefix.as_str()),
        }
    }
}

/// What [`CrossOrigin::check`] reads of a request: its method, its path
/// and three headers, as an adapter finds them.
///
/// Header values are raw bytes (the first value of the name); any bytes at
/// all are judged, never a panic. `host` is the `Host` header, or the
/// request target's authority when there is none (HTTP/2's `:authority`).
///
/// ```
/// use sessions_core::adapter::RequestHead;
///
/// let head = RequestHead::new("POST", "/logout").sec_fetch_site(b"cross-site").host(b"app.example");
/// # let _ = head;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHead<'a> {
    method: &'a str,
    path: &'a str,
    sec_fetch_site: Option<&'a [u8]>,
    origin: Option<&'a [u8]>,
    host: Option<&'a [u8]>,
}

impl<'a> RequestHead<'a> {
    /// A request of `method` (as sent: methods are case-sensitive) to
    /// `path` (without the query), with none of the three headers.
    pub fn new(method: &'a str, path: &'a str) -> RequestHead<'a> {
        RequestHead { method, path, sec_fetch_site: None, origin: None, host: None }
    }

    /// The `Sec-Fetch-Site` header.
    pub fn sec_fetch_site(mut self, value: &'a [u8]) -> RequestHead<'a> {
        self.sec_fetch_site = Some(value);
        self
    }

    /// The `Origin` header.
    pub fn origin(mut self, value: &'a [u8]) -> RequestHead<'a> {
        self.origin = Some(value);
        self
    }

    /// The `Host` header (or the request target's authority).
    pub fn host(mut self, value: &'a [u8]) -> RequestHead<'a> {
        self.host = Some(value);
        self
    }

    /// The three headers at once, each when present: how adapters fill it.
    pub fn headers(
        mut self,
        sec_fetch_site: Option<&'a [u8]>,
        origin: Option<&'a [u8]>,
        host: Option<&'a [u8]>,
    ) -> RequestHead<'a> {
        self.sec_fetch_site = sec_fetch_site;
        self.origin = origin;
        self.host = host;
        self
    }

    /// The method.
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The path.
    pub fn path(&self) -> &'a str {
        self.path
    }
}

/// A header's value without surrounding whitespace, or `None` when it is
/// missing or empty (an empty header says nothing, as in Go's
/// `Header.Get`).
fn present(value: Option<&[u8]>) -> Option<&[u8]> {
    value.map(<[u8]>::trim_ascii).filter(|v| !v.is_empty())
}

/// True when `origin` is `scheme://authority` and `authority` is `host`,
/// letter case aside. An origin with anything after the authority (a
/// browser never sends one), or `null`, names no host.
fn names_host(origin: &[u8], host: &[u8]) -> bool {
    let Some(at) = origin.windows(3).position(|w| w == b"://") else { return false };
    let (scheme, authority) = (&origin[..at], &origin[at + 3..]);
    !scheme.is_empty()
        && !authority.is_empty()
        && !authority.iter().any(|b| b"/?#@\\".contains(b))
        && authority.eq_ignore_ascii_case(host)
}

/// `host` and the port after the last `:` outside brackets, if any.
fn split_authority(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, rest) = authority.split_at(close + 1);
        return match rest {
            "" => Some((host, None)),
            rest => Some((host, Some(rest.strip_prefix(':')?))),
        };
    }
    Some(match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

/// True when a segment of `path` is `.` or `..`, plainly or with the dots
/// percent-encoded: a framework may resolve it, so the path it serves is
/// not the one compared.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let (mut dots, mut rest) = (0, segment.as_bytes());
        while !rest.is_empty() {
            match rest {
                [b'.', tail @ ..] => rest = tail,
                [b'%', b'2', b'e' | b'E', tail @ ..] => rest = tail,
                _ => return false,
            }
            dots += 1;
        }
        dots == 1 || dots == 2
    })
}

fn check_exempt(path: &str, what: &str) -> Result<()> {
    let why = if !path.starts_with('/') {
        "must start with `/`"
    } else if !path.bytes().all(|b| b.is_ascii_graphic()) || path.contains(['?', '#']) {
        "must be visible ASCII without `?` or `#`"
    } else if has_dot_segment(path) {
        "must have no `.` or `..` segment"
    } else {
        return Ok(());
    };
    Err(Error::Config(format!("{what} `{path}` {why}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_found_plain_and_encoded() {
        for dotted in ["/a/../b", "/./a", "/a/..", "/a/%2e%2E/b", "/a/.%2e", "/%2e"] {
            assert!(has_dot_segment(dotted), "{dotted}");
        }
        for plain in ["/", "/a/b", "/a.b/c", "/.well-known/x", "/a/.../b", "/a/%2e%2e%2e", "/a/%2f"] {
            assert!(!has_dot_segment(plain), "{plain}");
        }
    }

    #[test]
    fn authority_splits_at_the_last_colon_outside_brackets() {
        assert_eq!(split_authority("a.example:8443"), Some(("a.example", Some("8443"))));
        assert_eq!(split_authority("a.example"), Some(("a.example", None)));
        assert_eq!(split_authority("[::1]:3000"), Some(("[::1]", Some("3000"))));
        assert_eq!(split_authority("[::1]"), Some(("[::1]", None)));
        assert_eq!(split_authority("[::1]x"), None);
    }
}
