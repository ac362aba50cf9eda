//! Cookie attributes and the `Set-Cookie` header values built from them.

use std::time::Duration;

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
/// `SameSite=Lax`, no `Domain`, a browser-session cookie (no `Max-Age`).
/// A store holds the defaults; a session can override them for itself.
///
/// ```
/// use std::time::Duration;
/// use sessions_core::{CookieOptions, SameSite};
///
/// let options = CookieOptions::new()
///     .secure(false) // plain http during local development
///     .same_site(SameSite::Strict)
///     .max_age(Some(Duration::from_secs(3600)));
/// assert_eq!(options.get_max_age(), Some(Duration::from_secs(3600)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieOptions {
    path: String,
    domain: Option<String>,
    max_age: Option<Duration>,
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
            max_age: None,
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

    /// Sets `Path`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets `Domain`; `None` scopes the cookie to the exact host.
    pub fn domain(mut self, domain: Option<String>) -> Self {
        self.domain = domain;
        self
    }

    /// Sets the lifetime of new sessions: `None` for a browser-session
    /// cookie, `Some(d)` for a persistent cookie with `Max-Age=d`.
    pub fn max_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age;
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

    /// Sets `Partitioned` (CHIPS); requires `Secure`.
    pub fn partitioned(mut self, partitioned: bool) -> Self {
        self.partitioned = partitioned;
        self
    }

    /// The configured lifetime of new sessions.
    pub fn get_max_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// Checks the attributes against the cookie name, as browsers will:
    /// `__Host-` needs `Secure`, `Path=/` and no `Domain`; `__Secure-`,
    /// `SameSite=None` and `Partitioned` need `Secure`.
    pub fn validate(&self, name: &str) -> Result<()> {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(Error::Config(format!("`{name}` is not a valid cookie name")));
        }
        let needs_secure = name.starts_with("__Secure-")
            || name.starts_with("__Host-")
            || self.same_site == SameSite::None
            || self.partitioned;
        if needs_secure && !self.secure {
            return Err(Error::Config(format!(
                "cookie `{name}` needs the Secure attribute (a __Secure-/__Host- prefix, SameSite=None or Partitioned)"
            )));
        }
        if name.starts_with("__Host-") && (self.path != "/" || self.domain.is_some()) {
            return Err(Error::Config(format!("cookie `{name}` with the __Host- prefix needs Path=/ and no Domain")));
        }
        Ok(())
    }

    /// The `Set-Cookie` value that sets `name=value`, persistent for
    /// `max_age` seconds or a browser-session cookie when `None`.
    pub(crate) fn set_cookie(&self, name: &str, value: &str, max_age: Option<u64>) -> String {
        let mut cookie = self.cookie(name, value.to_owned());
        if let Some(secs) = max_age {
            cookie.set_max_age(cookie::time::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX)));
        }
        cookie.to_string()
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
    fn removal_expires_the_cookie_now() {
        let header = CookieOptions::new().removal("id");
        assert!(header.starts_with("id=; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=0; Expires="), "{header}");
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
