//! What the kit reads from a request besides its sessions: two headers.

/// The headers of one request that the handler bodies need: `Accept`, to
/// tell a browser from a program; `Cookie`, to show the cookies as the
/// browser sent them and to notice one the server refused; `Host` and
/// `X-Forwarded-Proto`, to notice a browser that will not send `Secure`
/// cookies back.
///
/// Each demo builds it from its framework's header map with
/// [`Visit::from_headers`].
///
/// ```
/// use demo_kit::Visit;
///
/// let browser = Visit::from_headers([("accept", &b"text/html,*/*;q=0.8"[..]), ("cookie", b"id=abc; prefs=xy")]);
/// assert!(browser.wants_html());
/// assert_eq!(browser.cookie("prefs"), Some("xy"));
/// assert!(!Visit::default().wants_html());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visit {
    accept: String,
    cookies: Vec<(String, String)>,
    host: Option<String>,
    https: bool,
}

impl Visit {
    /// Reads `Accept`, every `Cookie`, `Host` and `X-Forwarded-Proto` from
    /// `(name, value)` pairs; names are matched case-insensitively, other
    /// headers are ignored.
    pub fn from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Visit {
        let mut visit = Visit::default();
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value);
            if name.eq_ignore_ascii_case("accept") {
                if !visit.accept.is_empty() {
                    visit.accept.push(',');
                }
                visit.accept.push_str(&value);
            } else if name.eq_ignore_ascii_case("cookie") {
                let pairs = value.split(';').filter_map(|pair| pair.split_once('='));
                visit.cookies.extend(pairs.map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())));
            } else if name.eq_ignore_ascii_case("host") {
                visit.host = Some(value.trim().to_owned());
            } else if name.eq_ignore_ascii_case("x-forwarded-proto") {
                visit.https = value.trim().eq_ignore_ascii_case("https");
            }
        }
        visit
    }

    /// True for a browser navigating: it asks for `text/html`. Programs
    /// (curl's `*/*`, the conformance suite's client, which sends no
    /// `Accept`) get the plain contract instead: statuses, text and JSON.
    pub fn wants_html(&self) -> bool {
        self.accept.split(',').any(|item| {
            let media = item.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case("text/html")
        })
    }

    /// The `Host` the browser asked for, if it said.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// True when a browser drops `Secure` cookies for this request: plain
    /// http (no proxy says `X-Forwarded-Proto: https`) to a host name that
    /// is not loopback. Chromium keeps them on `localhost` and `127.0.0.1`.
    pub fn drops_secure_cookies(&self) -> bool {
        let Some(host) = self.host.as_deref() else { return false };
        // `name:port`, `[v6]:port`, or either without a port.
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or_default(),
            None => host.rsplit_once(':').map_or(host, |(name, _)| name),
        };
        let loopback = name.eq_ignore_ascii_case("localhost")
            || name.to_ascii_lowercase().ends_with(".localhost")
            || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        !self.https && !loopback
    }

    /// The first value the request sent for cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every cookie the request sent, `(name, value)` in header order.
    pub fn cookies(&self) -> impl Iterator<Item = (&str, &str)> {
        self.cookies.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(accept: &str) -> Visit {
        Visit::from_headers([("Accept", accept.as_bytes())])
    }

    #[test]
    fn chromium_navigation_wants_html() {
        let chromium = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
        assert!(visit(chromium).wants_html());
    }

    #[test]
    fn curl_and_fetch_do_not_want_html() {
        assert!(!visit("*/*").wants_html());
        assert!(!visit("application/json").wants_html());
        assert!(!Visit::from_headers([]).wants_html());
    }

    #[test]
    fn plain_http_to_a_remote_name_drops_secure_cookies() {
        let to = |host: &str| Visit::from_headers([("host", host.as_bytes())]);
        for kept in ["127.0.0.1:3000", "localhost:3000", "[::1]:3000", "app.localhost", "127.0.0.2"] {
            assert!(!to(kept).drops_secure_cookies(), "{kept}");
        }
        for dropped in ["192.0.2.7:3000", "demo.example", "[2001:db8::1]:80"] {
            assert!(to(dropped).drops_secure_cookies(), "{dropped}");
        }
        let proxied = Visit::from_headers([("host", &b"demo.example"[..]), ("x-forwarded-proto", b"https")]);
        assert!(!proxied.drops_secure_cookies());
    }

    #[test]
    fn cookies_of_several_headers_are_all_read() {
        let visit = Visit::from_headers([("cookie", &b"id=1"[..]), ("Cookie", b"prefs=2; other=3")]);
        let names: Vec<&str> = visit.cookies().map(|(n, _)| n).collect();
        assert_eq!(names, ["id", "prefs", "other"]);
    }
}
