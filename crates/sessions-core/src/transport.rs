//! How a store's session travels between client and server: in a cookie,
//! or in a request header for clients that keep no cookies (see
//! [`Transport`]).

use crate::error::{Error, Result};

/// How a store's value (a signed id for a [`ServerStore`](crate::ServerStore),
/// the sealed session for a [`CookieStore`](crate::CookieStore)) travels
/// between client and server. Set on the store's
/// [`StoreConfig::transport`](crate::StoreConfig::transport).
///
/// - [`Transport::Cookie`] (the default): the browser keeps the value in
///   a cookie and sends it by itself; the server sets it with
///   `Set-Cookie`.
/// - [`Transport::Header`]: the client sends the value in the named
///   request header (`x-session: <value>`), and the server answers a new
///   value in the same header, when the value changes: on creation, on
///   [`Session::cycle_id`](crate::Session::cycle_id), on a key rotation or
///   a sliding expiry's refresh. An empty value means the session ended:
///   the client drops what it holds.
/// - [`Transport::Bearer`]: the same in `Authorization: Bearer <value>`;
///   the server answers `authorization: Bearer <value>`, the line the
///   client sends back as it is.
///
/// Everything else is the same for both: the value's format, timeouts,
/// remember-me (its expiry is inside the value), rotation, revocation and
/// the user index. Nothing cookie-specific is sent for a header-carried
/// session: no `Set-Cookie`, no `Vary: Cookie`; instead `Vary` names the
/// header, and a response that hands out a new value says
/// `Cache-Control: no-store`, as an OAuth token response does. The
/// [`CookieOptions`](crate::CookieOptions) of such a store are not used.
///
/// A value that does not open (tampered, expired, over-long, not visible
/// ASCII), a `Bearer` without a token, another `Authorization` scheme, or
/// the header sent twice yields a fresh session, never an error.
///
/// A header name is lowercase (as HTTP/2 sends it, and as the adapters
/// pass it on), an RFC 9110 token, and not one the library reads or
/// writes itself (`cookie`, `set-cookie`, `vary`, `cache-control`,
/// `host`, `origin`, `sec-fetch-site`) or that frames the message; a
/// store with any other is refused when it is built.
///
/// ```
/// use sessions_core::{CookieStore, Key, KeyRing, StoreConfig, Transport};
///
/// let ring = KeyRing::from(Key::generate());
/// let api = CookieStore::new(StoreConfig::new("api", ring.clone()).transport(Transport::Bearer))?;
/// let app = CookieStore::new(StoreConfig::new("app", ring.clone()).transport(Transport::Header("x-session")))?;
/// assert!(CookieStore::new(StoreConfig::new("bad", ring).transport(Transport::Header("X-Session"))).is_err());
/// # let _ = (api, app);
/// # Ok::<(), sessions_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Transport {
    /// In a cookie named after the store (the default).
    #[default]
    Cookie,
    /// In the request header of this (lowercase) name, and back in the
    /// response header of the same name.
    Header(&'static str),
    /// In `Authorization: Bearer <value>`, and back in
    /// `authorization: Bearer <value>`.
    Bearer,
}

/// Headers a transport cannot use: the ones the library reads or writes
/// itself, and the ones that frame the message.
const RESERVED: [&str; 12] = [
    "cookie",
    "set-cookie",
    "vary",
    "cache-control",
    "host",
    "origin",
    "sec-fetch-site",
    "connection",
    "content-length",
    "content-type",
    "transfer-encoding",
    "upgrade",
];

impl Transport {
    /// The header the value travels in, or `None` for a cookie.
    pub fn header_name(&self) -> Option<&'static str> {
        match self {
            Transport::Cookie => None,
            Transport::Header(name) => Some(name),
            Transport::Bearer => Some("authorization"),
        }
    }

    /// True for [`Transport::Cookie`].
    pub fn is_cookie(&self) -> bool {
        matches!(self, Transport::Cookie)
    }

    /// Checks the header name (see [`Transport`]), as a store does when it
    /// is built: for an application that reads the name from its
    /// configuration and wants to refuse a bad one early.
    ///
    /// ```
    /// use sessions_core::Transport;
    ///
    /// assert!(Transport::Header("x-session").validate().is_ok());
    /// assert!(Transport::Header("set-cookie").validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        let Transport::Header(name) = self else { return Ok(()) };
        let token = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(Error::Config(format!(
                "`{name}` is not a header name a session can travel in: write it in lowercase letters, digits and `-`"
            )));
        }
        if RESERVED.contains(name) {
            return Err(Error::Config(format!(
                "a session cannot travel in the `{name}` header, which HTTP or this library uses"
            )));
        }
        Ok(())
    }

    /// The value a request header carried, without surrounding whitespace
    /// (and without the `Bearer` scheme): `None` when it carries none.
    pub(crate) fn value<'a>(&self, header: &'a [u8]) -> Option<&'a [u8]> {
        let value = match self {
            Transport::Cookie => return None,
            Transport::Header(_) => header.trim_ascii(),
            Transport::Bearer => {
                let header = header.trim_ascii_start();
                let (scheme, rest) = header.split_at_checked(6)?;
                let rest = rest.strip_prefix(b" ").or_else(|| rest.strip_prefix(b"\t"))?;
                if !scheme.eq_ignore_ascii_case(b"bearer") {
                    return None;
                }
                rest.trim_ascii()
            }
        };
        (!value.is_empty()).then_some(value)
    }

    /// The response header's value that hands the client `value`; an empty
    /// `value` ends the session.
    pub(crate) fn response_value(&self, value: String) -> String {
        match self {
            Transport::Bearer if !value.is_empty() => format!("Bearer {value}"),
            _ => value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Transport;

    #[test]
    fn header_names_are_lowercase_tokens_the_library_does_not_use() {
        for name in ["x-session", "authorization", "x-api-token", "session_1"] {
            assert!(Transport::Header(name).validate().is_ok(), "{name}");
        }
        for name in ["", "X-Session", "x session", "x:y", "cookie", "set-cookie", "vary", "host", "x-séance"] {
            assert!(Transport::Header(name).validate().is_err(), "{name}");
        }
        assert!(Transport::Bearer.validate().is_ok());
    }

    #[test]
    fn header_values_are_trimmed_and_empty_ones_carry_nothing() {
        let header = Transport::Header("x-session");
        assert_eq!(header.value(b"  abc \t"), Some(&b"abc"[..]));
        assert_eq!(header.value(b"   "), None);
        assert_eq!(Transport::Cookie.value(b"abc"), None);
    }

    #[test]
    fn bearer_values_need_the_scheme_and_a_token() {
        let bearer = Transport::Bearer;
        assert_eq!(bearer.value(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer.value(b"bearer   abc "), Some(&b"abc"[..]));
        assert_eq!(bearer.value(b"BEARER\tabc"), Some(&b"abc"[..]));
        for refused in [&b"Bearer"[..], b"Bearer ", b"Bearer    ", b"Bearerabc", b"Basic YWxhZGRpbjpvcGVu", b"abc", b""]
        {
            assert_eq!(bearer.value(refused), None, "{:?}", String::from_utf8_lossy(refused));
        }
    }

    #[test]
    fn bearer_answers_with_its_scheme_and_ends_with_an_empty_value() {
        assert_eq!(Transport::Bearer.response_value("abc".into()), "Bearer abc");
        assert_eq!(Transport::Bearer.response_value(String::new()), "");
        assert_eq!(Transport::Header("x-session").response_value("abc".into()), "abc");
    }
}
