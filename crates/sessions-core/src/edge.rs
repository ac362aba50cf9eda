//! What every web framework adapter shares: how a session failure is
//! answered, and what a response needs once the handler has run.
//!
//! An adapter keeps one value per request, the request's
//! [`RequestSessions`](crate::RequestSessions). Everything it must decide
//! is decided here, once for every framework:
//!
//! - [`Policy`], set once on the [`Registry`](crate::Registry): the status
//!   of a storage outage.
//! - Before the handler, [`Registry::check_origin`](crate::Registry::check_origin):
//!   a cross-origin request refused by the registry's
//!   [`CrossOrigin`](crate::CrossOrigin) is answered with its [`Reply`]
//!   (`403`) instead of running the handler.
//! - [`Failure`]: why a handler could not use its session. An adapter's
//!   error type wraps it and turns its [`Reply`] into the framework's
//!   response, tagged with its [`FailureKind`].
//! - [`Finished`]: after the handler, the headers to add, or the
//!   [`Reply`] to send instead of the handler's response.
//!
//! ```
//! use sessions_core::edge::{Failure, FailureKind, Policy};
//! use sessions_core::{BackendError, Error};
//!
//! let policy = Policy::default().with_unavailable_status(502)?;
//! let down = Failure::from(Error::from(BackendError::unavailable("connection refused")));
//! assert_eq!(down.kind(), FailureKind::Unavailable);
//! let reply = policy.reply(down.kind());
//! assert_eq!((reply.status, reply.reason), (502, "session storage unavailable"));
//! # Ok::<(), sessions_core::Error>(())
//! ```

use crate::error::{Error, Result};

/// How the edge answers a session failure; configured once, on the
/// [`Registry`](crate::Registry), and read by every adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    unavailable: u16,
}

impl Default for Policy {
    /// A storage outage answers `503 Service Unavailable`.
    fn default() -> Self {
        Policy { unavailable: 503 }
    }
}

impl Policy {
    /// The status answered when the session storage is down or full; a
    /// client or server error status (`400..=599`).
    ///
    /// Some deployments prefer `500` so that a load balancer takes the
    /// instance out, or `502` to blame the storage tier.
    pub fn with_unavailable_status(self, status: u16) -> Result<Policy> {
        if !(400..=599).contains(&status) {
            return Err(Error::Config(format!("the storage-outage status must be 400 to 599, not {status}")));
        }
        Ok(Policy { unavailable: status })
    }

    /// The status of a failure of `kind`.
    pub fn status(&self, kind: FailureKind) -> u16 {
        match kind {
            FailureKind::Unavailable | FailureKind::Full => self.unavailable,
            FailureKind::Internal | FailureKind::NotInstalled => 500,
            FailureKind::CrossOrigin => 403,
        }
    }

    /// The answer to a failure of `kind`: its status and public reason.
    pub fn reply(&self, kind: FailureKind) -> Reply {
        Reply { status: self.status(kind), reason: kind.reason() }
    }
}

/// Why a handler could not use its session: what every adapter's error
/// type holds.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// A handler asked for a session but the adapter's middleware does not
    /// wrap it; the text says how to add it.
    #[error("{0}")]
    NotInstalled(&'static str),
    /// Loading, reading or writing a session failed.
    #[error(transparent)]
    Session(#[from] Error),
}

impl Failure {
    /// What kind of failure this is, which decides the answer.
    pub fn kind(&self) -> FailureKind {
        match self {
            Failure::NotInstalled(_) => FailureKind::NotInstalled,
            Failure::Session(err) => FailureKind::of(err),
        }
    }

    /// The answer to this failure under `policy`. A missing middleware
    /// answers with the text that says how to add it: a wiring mistake a
    /// developer meets before any user does, and no secret.
    pub fn reply(&self, policy: &Policy) -> Reply {
        match self {
            Failure::NotInstalled(hint) => Reply { status: 500, reason: hint },
            _ => policy.reply(self.kind()),
        }
    }

    /// The session error, when it is one.
    pub fn session_error(&self) -> Option<&Error> {
        match self {
            Failure::Session(err) => Some(err),
            Failure::NotInstalled(_) => None,
        }
    }
}

/// The kind of a [`Failure`], or of a request refused before its handler:
/// small and `Copy`, so an adapter can tag the response it made from one,
/// and its middleware, which knows the [`Policy`], can hand it to
/// [`RequestSessions::finish`](crate::RequestSessions::finish).
///
/// An application that answers some failures its own way (a page for
/// browsers) looks for this tag on the response: see each adapter's
/// documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The session storage is down or did not answer in time.
    Unavailable,
    /// The session storage is full: it refused a write for lack of room
    /// (its configured bound, or the disk or memory behind it). Answered
    /// with the same status as [`FailureKind::Unavailable`] but its own
    /// reason, so an operator can tell "add room" from "the store is
    /// down"; and unlike an outage it never opens a
    /// [`Breaker`](crate::backend::Breaker), so reads go on.
    Full,
    /// A value failed to encode or decode, or the configuration is wrong.
    Internal,
    /// The adapter's middleware is missing: a wiring mistake.
    NotInstalled,
    /// An unsafe request a browser sent from another origin, refused by the
    /// registry's [`CrossOrigin`](crate::CrossOrigin) before its handler
    /// ran: `403`, nothing loaded, nothing saved.
    CrossOrigin,
}

impl FailureKind {
    /// The kind of a session error: [`FailureKind::Full`] for a write the
    /// storage refused for lack of room, [`FailureKind::Unavailable`] for
    /// any other outage, [`FailureKind::Internal`] for the rest.
    pub fn of(err: &Error) -> FailureKind {
        if err.is_full() {
            FailureKind::Full
        } else if err.is_unavailable() {
            FailureKind::Unavailable
        } else {
            FailureKind::Internal
        }
    }

    /// The public reason: short, plain text, and free of anything secret
    /// or internal (the cause goes to the log, not to the client).
    pub fn reason(self) -> &'static str {
        match self {
            FailureKind::Unavailable => "session storage unavailable",
            FailureKind::Full => "session storage full",
            FailureKind::Internal => "session error",
            FailureKind::NotInstalled => "session middleware missing",
            FailureKind::CrossOrigin => "cross-origin request refused",
        }
    }
}

/// An answer decided by the edge: a status and a plain-text reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body, as `text/plain; charset=utf-8`.
    pub reason: &'static str,
}

/// What a response needs after the handler ran: the adapters' whole job
/// after the handler, decided once here for every framework.
///
/// An adapter appends [`Finished::headers`] (or converts them with
/// [`Finished::convert_headers`]) and, when [`Finished::replace`] is set,
/// sends that reply instead of the handler's response.
#[derive(Debug, Default)]
pub struct Finished {
    /// `Set-Cookie` values to append.
    pub set_cookies: Vec<String>,
    /// Add `Vary: Cookie`: the response depends on a session.
    pub vary_cookie: bool,
    /// Add `Cache-Control: no-cache="set-cookie"`: a shared cache must not
    /// store the cookie with the response.
    pub no_cache_set_cookie: bool,
    /// Sessions that failed to save, by cookie name. Sessions that saved
    /// are still in `set_cookies`.
    pub errors: Vec<(String, Error)>,
    /// Send this instead of the handler's response: a session failed to
    /// save (the handler's answer must not go out as if it succeeded), or
    /// the handler's response was itself a session failure.
    pub replace: Option<Reply>,
}

impl Finished {
    /// The headers to append to the response, in order: one `Set-Cookie`
    /// per changed session, then `Vary: Cookie` and
    /// `Cache-Control: no-cache="set-cookie"` when they apply. Names are
    /// lowercase, values visible ASCII, spaces and tabs, so every
    /// framework can append them as they are.
    ///
    /// ```
    /// use sessions_core::Finished;
    ///
    /// let finished = Finished { vary_cookie: true, ..Finished::default() };
    /// assert_eq!(finished.headers().collect::<Vec<_>>(), [("vary", "Cookie")]);
    /// ```
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        let cookies = self.set_cookies.iter().map(|value| ("set-cookie", value.as_str()));
        let vary = self.vary_cookie.then_some(("vary", "Cookie"));
        let cache = self.no_cache_set_cookie.then_some(("cache-control", "no-cache=\"set-cookie\""));
        cookies.chain(vary).chain(cache)
    }

    /// The headers converted into a framework's header type by `convert`.
    ///
    /// Should `convert` refuse a header (core hands out only values every
    /// HTTP library accepts, so this is a stricter library or a bug), the
    /// response must not go out as if it succeeded without it: a missing
    /// removal cookie leaves a user logged in. The refusal is logged and
    /// [`Finished::replace`] becomes a `500`.
    ///
    /// ```
    /// use sessions_core::Finished;
    ///
    /// let mut finished = Finished { set_cookies: vec!["a=1".into(), "b=\u{1}".into()], ..Finished::default() };
    /// let visible = |value: &str| value.bytes().all(|b| b.is_ascii_graphic());
    /// let sent = finished.convert_headers(|name, value| visible(value).then(|| format!("{name}: {value}")));
    /// assert_eq!(sent, ["set-cookie: a=1"]);
    /// assert_eq!(finished.replace.map(|reply| reply.status), Some(500));
    /// ```
    pub fn convert_headers<H>(&mut self, mut convert: impl FnMut(&'static str, &str) -> Option<H>) -> Vec<H> {
        let mut refused = false;
        let mut converted = Vec::new();
        for (name, value) in self.headers() {
            match convert(name, value) {
                Some(header) => converted.push(header),
                None => {
                    tracing::error!(header = name, "a session header was refused by the framework; answering 500");
                    refused = true;
                }
            }
        }
        if refused {
            self.replace.get_or_insert(Policy::default().reply(FailureKind::Internal));
        }
        converted
    }

    /// The status answered instead of `status`, the handler's.
    pub fn status(&self, status: u16) -> u16 {
        self.replace.map_or(status, |reply| reply.status)
    }
}
