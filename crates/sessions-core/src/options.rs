//! Cookie attributes and the `Set-Cookie` header values built from them.

use cookie::Cookie;

use crate::error::{Error, Result};

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SameSite {
    /// Sent on same-site requests only.
    Strict,
    /// Sent on same-site requests and top-level navigations (the default).
    #[default]
    Lax,
    /// Sent on every request; requires `Secure`.
    None,
}

/// The attributes of a session cookie.
///
/// Defaults are the secure ones: `Path=/`, `HttpOnly`, `Secure`,
/// `SameSite=Lax`, no `Domain`. A store holds the defaults; a session can
/// override them for itself. How long the cookie lives (`Max-Age`) is not
/// an attribute here but the store's [`Lifetime`](crate::Lifetime) and
/// the session's own ([`Session::remember`](crate::Session::remember)).
///
/// ```
/// use sessions_core::{CookieOptions, SameSite};
///
/// let options = CookieOptions::new()
///     .secure(false) // plain http during local development
///     .same_site(SameSite::Strict);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieOptions {
    path: String,
    domain: Option<String>,
    secure: bool,
    http_only: bool,
    same_site: SameSite,
    partitioned: bool,
}

impl Default for CookieOptions {
    fn default() -> Self {
        CookieOptions {
            path: "/".into(),
            domain: None,
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            partitioned: false,
        }
    }
}

impl CookieOptions {
    /// The secure defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `Path`: `/` followed by visible ASCII other than `;`, at most
    /// 1024 bytes. Anything else is refused with [`Error::Config`] when the
    /// store is built (see [`CookieOptions::validate`]).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets `Domain`; `None` scopes the cookie to the exact host. A domain
    /// is dot-separated labels of ASCII letters, digits and inner hyphens
    /// (write an internationalized name in its `xn--` form), optionally
    /// after one leading dot. Anything else is refused with
    /// [`Error::Config`] when the store is built (see
    /// [`CookieOptions::validate`]).
    pub fn domain(mut self, domain: Option<String>) -> Self {
        self.domain = domain;
        self
    }

    /// Sets `Secure`. Only turn it off for plain-http local development.
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Sets `HttpOnly`.
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// Sets `SameSite`.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Sets `Partitioned` (CHIPS): where another site embeds the app (an
    /// iframe), the browser keeps the cookie in a jar of that top-level
    /// site's own, so it works with third-party cookies blocked and no
    /// other embedding site sees it. It requires `Secure`: browsers refuse
    /// a `Partitioned` cookie without it, so a store refuses the options
    /// ([`CookieOptions::validate`]).
    ///
    /// ```
    /// use sessions_core::CookieOptions;
    ///
    /// let options = CookieOptions::new().partitioned(true);
    /// assert!(options.validate("id").is_ok());
    /// assert!(options.secure(false).validate("id").is_err(), "Partitioned needs Secure");
    /// ```
    pub fn partitioned(mut self, partitioned: bool) -> Self {
        self.partitioned = partitioned;
        self
    }

    /// Checks the attributes, and the cookie name they are for, as browsers
    /// will: `__Host-` needs `Secure`, `Path=/` and no `Domain`;
    /// `__Secure-`, `SameSite=None` and `Partitioned` need `Secure`. The
    /// prefixes match in any letter case, as in browsers (RFC 6265bis). The
    /// name must be an RFC 6265 token, and `Path` and `Domain` must be
    /// well-formed (see [`CookieOptions::path`] and
    /// [`CookieOptions::domain`]), so that no value can add attributes of
    /// its own to the `Set-Cookie` header.
    ///
    /// Stores call it when they are built, and on options a session sets
    /// for itself, so a mistake fails at start-up rather than in a browser.
    ///
    /// ```
    /// use sessions_core::{CookieOptions, Error};
    ///
    /// assert!(CookieOptions::new().validate("__Host-session").is_ok());
    /// let options = CookieOptions::new().path("/; Domain=example.com");
    /// assert!(matches!(options.validate("session"), Err(Error::Config(_))));
    /// assert!(CookieOptions::new().path("/app").validate("__HOST-session").is_err());
    /// ```
    pub fn validate(&self, name: &str) -> Result<()> {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(Error::Config(format!("`{name}` is not a valid cookie name")));
        }
        if !is_path(&self.path) {
            return Err(Error::Config(format!(
                "cookie `{name}`: `Path` must be `/` followed by visible ASCII other than `;`, at most {MAX_ATTRIBUTE_LEN} bytes"
            )));
        }
        if let Some(domain) = &self.domain
            && !is_domain(domain)
        {
            return Err(Error::Config(format!(
                "cookie `{name}`: `Domain` must be a host name of ASCII letters, digits, hyphens and dots"
            )));
        }
        let host = has_prefix(name, "__Host-");
        let needs_secure =
            host || has_prefix(name, "__Secure-") || self.same_site == SameSite::None || self.partitioned;
        if needs_secure && !self.secure {
            return Err(Error::Config(format!(
                "cookie `{name}` needs the Secure attribute (a __Secure-/__Host- prefix, SameSite=None or Partitioned)"
            )));
        }
        if host && (self.path != "/" || self.domain.is_some()) {
            return Err(Error::Config(format!("cookie `{name}` with the __Host- prefix needs Path=/ and no Domain")));
        }
        Ok(())
    }

    /// The `Set-Cookie` value that sets `name=value`, persistent for
    /// `max_age` seconds or a browser-session cookie when `None`.
    ///
    /// Written straight into one string, attribute for attribute as the
    /// `cookie` crate writes it (a test holds the two equal), which would
    /// take five allocations for the same header.
    #[cfg(test)]
    pub(crate) fn set_cookie(&self, name: &str, value: &str, max_age: Option<u64>) -> String {
        let Ok(header) = self.set_cookie_with(
            name,
            value.len(),
            |out| {
                out.push_str(value);
                Ok::<(), std::convert::Infallible>(())
            },
            max_age,
        );
        header
    }

    /// [`set_cookie`](Self::set_cookie) with the value written in place by
    /// `value` (which writes about `value_len` bytes): a cookie encoded
    /// straight into its header costs no string of its own.
    pub(crate) fn set_cookie_with<E>(
        &self,
        name: &str,
        value_len: usize,
        value: impl FnOnce(&mut String) -> Result<(), E>,
        max_age: Option<u64>,
    ) -> Result<String, E> {
        use std::fmt::Write as _;
        let domain = self.domain.as_deref().map(|d| d.strip_prefix('.').unwrap_or(d));
        let mut out = String::with_capacity(
            name.len() + value_len + self.path.len() + domain.map_or(0, str::len) + SET_COOKIE_ATTRIBUTES_LEN,
        );
        out.push_str(name);
        out.push('=');
        value(&mut out)?;
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        out.push_str(match self.same_site {
            SameSite::Strict => "; SameSite=Strict",
            SameSite::Lax => "; SameSite=Lax",
            SameSite::None => "; SameSite=None",
        });
        if self.partitioned {
            out.push_str("; Partitioned");
        }
        if self.secure || self.partitioned {
            out.push_str("; Secure");
        }
        out.push_str("; Path=");
        out.push_str(&self.path);
        if let Some(domain) = domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        if let Some(secs) = max_age {
            // Writing an integer into a `String` cannot fail.
            let _ = write!(out, "; Max-Age={}", i64::try_from(secs).unwrap_or(i64::MAX));
        }
        Ok(out)
    }

    /// The `Set-Cookie` value that makes the browser delete cookie `name`.
    pub(crate) fn removal(&self, name: &str) -> String {
        let mut cookie = self.cookie(name, String::new());
        cookie.make_removal();
        cookie.to_string()
    }

    fn cookie(&self, name: &str, value: String) -> Cookie<'static> {
        let mut builder = Cookie::build((name.to_owned(), value))
            .path(self.path.clone())
            .secure(self.secure)
            .http_only(self.http_only)
            .same_site(match self.same_site {
                SameSite::Strict => cookie::SameSite::Strict,
                SameSite::Lax => cookie::SameSite::Lax,
                SameSite::None => cookie::SameSite::None,
            });
        if self.partitioned {
            builder = builder.partitioned(true);
        }
        if let Some(domain) = &self.domain {
            builder = builder.domain(domain.clone());
        }
        builder.build()
    }
}

/// The longest the fixed attributes of a `Set-Cookie` can be, path and
/// domain aside: `; HttpOnly; SameSite=Strict; Partitioned; Secure; Path=;
/// Domain=; Max-Age=` and 20 digits.
const SET_COOKIE_ATTRIBUTES_LEN: usize = 96;

/// Browsers ignore an attribute whose value is longer (RFC 6265bis).
const MAX_ATTRIBUTE_LEN: usize = 1024;

/// True when `name` starts with `prefix` in any letter case.
fn has_prefix(name: &str, prefix: &str) -> bool {
    name.as_bytes().get(..prefix.len()).is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// A `Path` a browser keeps as written. RFC 6265 allows any character but
/// controls and `;`; spaces and non-ASCII are refused too, since a browser
/// compares the path with the percent-encoded one of the URL and would
/// never send the cookie. Without the leading `/` it would silently use
/// the request's directory instead.
fn is_path(path: &str) -> bool {
    path.len() <= MAX_ATTRIBUTE_LEN
        && path.starts_with('/')
        && path.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b';')
}

/// A `Domain` as RFC 6265 defines it: a host name (RFC 1123 labels),
/// optionally after one leading dot, which browsers ignore.
fn is_domain(domain: &str) -> bool {
    let host = domain.strip_prefix('.').unwrap_or(domain);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// RFC 6265 `token` characters, the ones allowed in a cookie name.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_render_secure_attributes() {
        let header = CookieOptions::new().set_cookie("id", "abc", None);
        assert_eq!(header, "id=abc; HttpOnly; SameSite=Lax; Secure; Path=/");
    }

    #[test]
    fn persistent_cookie_has_max_age() {
        let header = CookieOptions::new().secure(false).set_cookie("id", "abc", Some(2_592_000));
        assert_eq!(header, "id=abc; HttpOnly; SameSite=Lax; Path=/; Max-Age=2592000");
    }

    #[test]
    fn every_attribute_renders() {
        let header = CookieOptions::new()
            .path("/app")
            .domain(Some("example.com".into()))
            .same_site(SameSite::None)
            .partitioned(true)
            .http_only(false)
            .set_cookie("id", "abc", Some(60));
        assert_eq!(header, "id=abc; SameSite=None; Partitioned; Secure; Path=/app; Domain=example.com; Max-Age=60");
    }

    #[test]
    fn set_cookie_is_written_as_the_cookie_crate_writes_it() {
        let same_sites = [SameSite::Strict, SameSite::Lax, SameSite::None];
        for bits in 0..(1 << 5) * 3 {
            let flag = |n: u32| bits & (1 << n) != 0;
            let options = CookieOptions::new()
                .secure(flag(0))
                .http_only(flag(1))
                .partitioned(flag(2))
                .path(if flag(3) { "/app" } else { "/" })
                .domain(flag(4).then(|| if bits % 2 == 0 { "example.com" } else { ".example.com" }.to_owned()))
                .same_site(same_sites[(bits >> 5) as usize]);
            for max_age in [None, Some(0), Some(3600), Some(u64::MAX)] {
                let mut expected = options.cookie("id", "v4lue".to_owned());
                if let Some(secs) = max_age {
                    expected.set_max_age(cookie::time::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX)));
                }
                assert_eq!(options.set_cookie("id", "v4lue", max_age), expected.to_string(), "{options:?} {max_age:?}");
            }
        }
    }

    #[test]
    fn removal_expires_the_cookie_now() {
        let header = CookieOptions::new().removal("id");
        assert!(header.starts_with("id=; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=0; Expires="), "{header}");
    }

    #[test]
    fn prefixes_match_in_any_letter_case() {
        for name in ["__host-id", "__HOST-id", "__Host-id"] {
            assert!(CookieOptions::new().validate(name).is_ok(), "{name}");
            assert!(CookieOptions::new().secure(false).validate(name).is_err(), "{name}");
            assert!(CookieOptions::new().path("/app").validate(name).is_err(), "{name}");
            assert!(CookieOptions::new().domain(Some("example.com".into())).validate(name).is_err(), "{name}");
        }
        for name in ["__secure-id", "__SECURE-id", "__sEcUrE-id"] {
            assert!(CookieOptions::new().validate(name).is_ok(), "{name}");
            assert!(CookieOptions::new().secure(false).validate(name).is_err(), "{name}");
        }
        // Too short to hold the prefix: no slicing panic, just a plain name.
        assert!(CookieOptions::new().secure(false).validate("__H").is_ok());
    }

    #[test]
    fn path_cannot_carry_other_attributes_or_controls() {
        for path in [
            "/; Domain=evil.example",
            "/a;b",
            "/a\r\nSet-Cookie: x=1",
            "/a\u{0}",
            "/a\u{7f}",
            "/a b",
            "/caf\u{e9}",
            "app",
            "",
        ] {
            let err = CookieOptions::new().path(path).validate("id").unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{path:?}: {err}");
        }
        assert!(CookieOptions::new().path("/".repeat(MAX_ATTRIBUTE_LEN + 1)).validate("id").is_err());
        for path in ["/", "/app", "/app/", "/a-b_c.d~e/%20/:@!$&'()*+,="] {
            assert!(CookieOptions::new().path(path).validate("id").is_ok(), "{path:?}");
        }
    }

    #[test]
    fn domain_must_be_a_host_name() {
        let long_label = "a".repeat(64);
        let long_host = ["abcdefghi"; 26].join(".");
        for domain in [
            "example.com; Secure",
            "evil.example\r\n",
            "example.com.",
            "a..b",
            "",
            ".",
            "-a.com",
            "a-.com",
            "ex ample.com",
            "bücher.example",
            "[::1]",
            "a_b.com",
            long_label.as_str(),
            long_host.as_str(),
        ] {
            let err = CookieOptions::new().domain(Some(domain.into())).validate("id").unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{domain:?}: {err}");
        }
        for domain in ["example.com", ".example.com", "xn--bcher-kva.example", "localhost", "127.0.0.1", "A-1.B2.c"] {
            assert!(CookieOptions::new().domain(Some(domain.into())).validate("id").is_ok(), "{domain:?}");
        }
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(CookieOptions::new().validate("__Host-id").is_ok());
        assert!(CookieOptions::new().secure(false).validate("__Host-id").is_err());
        assert!(CookieOptions::new().path("/x").validate("__Host-id").is_err());
        assert!(CookieOptions::new().secure(false).validate("__Secure-id").is_err());
        assert!(CookieOptions::new().secure(false).same_site(SameSite::None).validate("id").is_err());
        assert!(CookieOptions::new().validate("bad name").is_err());
        assert!(CookieOptions::new().validate("").is_err());
    }
}
