//! The contract between the core and a web framework adapter.
//!
//! Applications do not need this module: an adapter crate
//! (`sessions-axum`, `sessions-actix`, `sessions-rocket`, `sessions-warp`)
//! uses it and re-exports what applications need. Someone writing an
//! adapter for another framework finds everything here. Per request, an
//! adapter keeps one value, the request's [`RequestSessions`], and makes
//! three calls:
//!
//! 1. Before the handler, [`Registry::request_with`](crate::Registry::request_with)
//!    with the request's `Cookie` headers and a lookup of its other
//!    headers (for stores whose [`Transport`](crate::Transport) is a
//!    header) gives the [`RequestSessions`], which nothing has loaded yet;
//!    then [`RequestSessions::check_origin`] with the request's
//!    [`RequestHead`]: a cross-origin request refused by the registry's
//!    [`CrossOrigin`](crate::CrossOrigin) is answered with its [`Reply`]
//!    (`403`) instead of running the handler.
//! 2. The [`RequestSessions`] goes where the framework's extractors reach
//!    it. An extractor's error wraps a [`Failure`] and turns its [`Reply`]
//!    into the framework's response, tagged with its [`FailureKind`];
//!    [`handles!`] writes those types.
//! 3. After the handler, [`RequestSessions::finish`] is the whole decision:
//!    it saves, converts the headers to add into the framework's type and
//!    says whether a [`Reply`] replaces the handler's response
//!    ([`Finished`]).
//!
//! What every failure answers is the registry's [`Policy`], so a storage
//! outage reads the same on every framework and at every step.
//!
//! ```
//! use sessions_core::adapter::{Failure, FailureKind, Policy};
//! use sessions_core::{BackendError, Error};
//!
//! let policy = Policy::default().with_unavailable_status(502)?;
//! let down = Failure::from(Error::from(BackendError::unavailable("connection refused")));
//! assert_eq!(down.kind(), FailureKind::Unavailable);
//! let reply = policy.reply(down.kind());
//! assert_eq!((reply.status, reply.body), (502, "session storage unavailable"));
//! # Ok::<(), sessions_core::Error>(())
//! ```

pub use crate::cross_origin::{Refusal, RequestHead};
pub use crate::registry::RequestSessions;

use crate::error::{Error, Result};

/// How a session failure is answered; configured once, on the
/// [`Registry`](crate::Registry), and read by every adapter.
///
/// By default a failure answers its status with a short plain-text reason
/// ([`FailureKind::reason`]). An application can give each kind its own
/// body and content type ([`Policy::with_body`]), an error page or a JSON
/// problem document: a fixed text, so that no cause, cookie or key can
/// reach a client through it.
///
/// ```
/// use sessions_core::adapter::{FailureKind, Policy};
///
/// let policy = Policy::default().with_body(
///     FailureKind::Unavailable,
///     "application/problem+json",
///     r#"{"title":"Please try again in a minute"}"#,
/// )?;
/// let reply = policy.reply(FailureKind::Unavailable);
/// assert_eq!((reply.status, reply.content_type), (503, "application/problem+json"));
/// assert_eq!(policy.reply(FailureKind::Full).body, "session storage full");
/// # Ok::<(), sessions_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    unavailable: u16,
    /// The application's bodies, by [`FailureKind::slot`].
    bodies: [Option<Body>; 4],
}

/// An application's answer body for one failure kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Body {
    content_type: &'static str,
    text: &'static str,
}

impl Default for Policy {
    /// A storage outage answers `503 Service Unavailable`.
    fn default() -> Self {
        Policy { unavailable: 503, bodies: [None; 4] }
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
        Ok(Policy { unavailable: status, ..self })
    }

    /// Answers failures of `kind` with `body`, as `content_type`, instead
    /// of the plain-text reason; the status stays the kind's. The body is
    /// sent as it is: a fixed text, never a template filled with the
    /// failure's cause.
    ///
    /// Fails for [`FailureKind::NotInstalled`] (a missing middleware has
    /// no registry, so no policy reaches that answer) and for a content
    /// type that is empty or holds anything but visible ASCII and spaces
    /// (what a header value may hold).
    pub fn with_body(self, kind: FailureKind, content_type: &'static str, body: &'static str) -> Result<Policy> {
        let Some(slot) = kind.slot() else {
            return Err(Error::Config(
                "a missing session middleware answers before any registry is reached: its body cannot be set".into(),
            ));
        };
        if content_type.trim().is_empty() || !content_type.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(Error::Config(format!("`{}` is not a content type", content_type.escape_debug())));
        }
        let mut bodies = self.bodies;
        bodies[slot] = Some(Body { content_type, text: body });
        Ok(Policy { bodies, ..self })
    }

    /// The status of a failure of `kind`.
    pub fn status(&self, kind: FailureKind) -> u16 {
        match kind {
            FailureKind::Unavailable | FailureKind::Full => self.unavailable,
            FailureKind::Internal | FailureKind::NotInstalled => 500,
            FailureKind::CrossOrigin => 403,
        }
    }

    /// The answer to a failure of `kind`: its status, and the
    /// application's body for it or else the public reason as plain text.
    pub fn reply(&self, kind: FailureKind) -> Reply {
        let status = self.status(kind);
        match kind.slot().and_then(|slot| self.bodies[slot]) {
            Some(Body { content_type, text }) => Reply { status, content_type, body: text },
            None => Reply::text(status, kind.reason()),
        }
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
            Failure::NotInstalled(hint) => Reply::text(500, hint),
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
/// [`RequestSessions::finish`].
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

    /// Where an application's body for this kind is kept in a [`Policy`];
    /// `None` for the one kind no policy answers.
    fn slot(self) -> Option<usize> {
        match self {
            FailureKind::Unavailable => Some(0),
            FailureKind::Full => Some(1),
            FailureKind::Internal => Some(2),
            FailureKind::CrossOrigin => Some(3),
            FailureKind::NotInstalled => None,
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

/// An answer decided by the core: a status, a body and its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type` of the body.
    pub content_type: &'static str,
    /// The body.
    pub body: &'static str,
}

impl Reply {
    /// The content type of the built-in answers.
    pub const PLAIN_TEXT: &'static str = "text/plain; charset=utf-8";

    /// A plain-text answer, as the built-in ones are.
    ///
    /// ```
    /// use sessions_core::adapter::Reply;
    ///
    /// let reply = Reply::text(503, "session storage unavailable");
    /// assert_eq!(reply.content_type, "text/plain; charset=utf-8");
    /// ```
    pub const fn text(status: u16, body: &'static str) -> Reply {
        Reply { status, content_type: Reply::PLAIN_TEXT, body }
    }
}

/// What to do with the response once the handler ran: the headers to add,
/// in the framework's own type, and the reply that replaces the handler's
/// response, if any. Made by [`RequestSessions::finish`], the one
/// after-handler decision every adapter shares.
///
/// ```
/// use sessions_core::adapter::Finished;
///
/// let finished: Finished<(&str, String)> = Finished::default();
/// assert!(finished.headers.is_empty());
/// assert_eq!(finished.status(200), 200);
/// ```
#[derive(Debug)]
#[must_use = "the headers must be added to the response and `replace` sent instead of it when set"]
pub struct Finished<H> {
    /// The headers to append, in order: one `Set-Cookie` per changed
    /// session (or, for a session whose [`Transport`](crate::Transport)
    /// is a header, that header with its new value), then `Vary: Cookie`
    /// when the response depends on a cookie-carried session and one
    /// `Vary` naming each header a used session travels in, then
    /// `Cache-Control: no-cache="set-cookie"` when it sets a cookie (a
    /// shared cache must not store it with the response) and
    /// `Cache-Control: no-store` when it hands out a header-carried value.
    pub headers: Vec<H>,
    /// Sessions that failed to save, by cookie name (already logged).
    /// Sessions that saved still have their `Set-Cookie` in `headers`.
    pub errors: Vec<(String, Error)>,
    /// Send this instead of the handler's response: a session failed to
    /// save (the handler's answer must not go out as if it succeeded), a
    /// header was refused by the framework, or the handler's response was
    /// itself a session failure.
    pub replace: Option<Reply>,
}

impl<H> Default for Finished<H> {
    fn default() -> Self {
        Finished { headers: Vec::new(), errors: Vec::new(), replace: None }
    }
}

impl<H> Finished<H> {
    /// The status answered instead of `status`, the handler's.
    pub fn status(&self, status: u16) -> u16 {
        self.replace.map_or(status, |reply| reply.status)
    }
}

impl Finished<(&'static str, String)> {
    /// The values of the headers named `name`, in order, when the headers
    /// were converted into `(name, value)` pairs (tests do, and so may a
    /// framework that takes headers as pairs).
    ///
    /// ```
    /// use sessions_core::adapter::Finished;
    ///
    /// let finished = Finished { headers: vec![("vary", "Cookie".to_owned())], ..Finished::default() };
    /// assert_eq!(finished.values("vary").collect::<Vec<_>>(), ["Cookie"]);
    /// assert_eq!(finished.values("set-cookie").count(), 0);
    /// ```
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| *n == name).map(|(_, value)| value.as_str())
    }
}

/// Writes an adapter's handle types, the same on every framework: the
/// error (`SessionError`, wrapping a [`Failure`]), the default session
/// (`Session`, dereferencing to [`crate::Session`]), the request's
/// sessions (`Sessions`, over [`RequestSessions`], whose `get` gives a
/// `Session` too), and `Named<N>`, the session a
/// [`NamedSession`](crate::name::NamedSession) type names; so an
/// application meets one session type.
///
/// An adapter crate invokes it once at its root, with each type's
/// documentation, then implements its framework's traits for them: the
/// extractor trait for `Session` and `Sessions`, the response trait for
/// `SessionError`. Their fields are private to the adapter crate, which
/// builds them as `Session(session)`, `Sessions(sessions)` and
/// `SessionError(failure)`.
///
/// Starting with `record_failures;`, a failed `Sessions::get` also records
/// its kind on the request ([`RequestSessions::fail`]): for a framework
/// that turns an error into its own response before the adapter sees it
/// (warp's rejections), so that the registry's answer still replaces it.
///
/// ```
/// use sessions_core::adapter::{Failure, handles};
///
/// handles! {
///     /// The error of this adapter.
///     pub struct SessionError;
///     /// The default session, as an extractor.
///     pub struct Session;
///     /// Every session of the request, as an extractor.
///     pub struct Sessions;
/// }
///
/// let err = SessionError::from(sessions_core::Error::UnknownStore("prefs".into()));
/// assert!(matches!(err.failure(), Failure::Session(_)));
/// assert_eq!(err.to_string(), "no session store named `prefs` is configured");
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __adapter_handles {
    (record_failures; $($types:tt)*) => {
        $crate::adapter::handles!(@record yes; $($types)*);
    };
    (@record $record:ident;
        $(#[$error_meta:meta])* pub struct SessionError;
        $(#[$session_meta:meta])* pub struct Session;
        $(#[$sessions_meta:meta])* pub struct Sessions;
    ) => {
        $(#[$error_meta])*
        #[derive(Debug)]
        pub struct SessionError($crate::adapter::Failure);

        impl SessionError {
            /// What failed.
            pub fn failure(&self) -> &$crate::adapter::Failure {
                &self.0
            }
        }

        impl ::std::fmt::Display for SessionError {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::error::Error for SessionError {
            fn source(&self) -> ::std::option::Option<&(dyn ::std::error::Error + 'static)> {
                ::std::error::Error::source(&self.0)
            }
        }

        impl ::std::convert::From<$crate::adapter::Failure> for SessionError {
            fn from(failure: $crate::adapter::Failure) -> Self {
                SessionError(failure)
            }
        }

        impl ::std::convert::From<$crate::Error> for SessionError {
            fn from(source: $crate::Error) -> Self {
                SessionError($crate::adapter::Failure::Session(source))
            }
        }

        $(#[$session_meta])*
        #[derive(Debug, Clone)]
        pub struct Session($crate::Session);

        impl Session {
            /// The core session handle.
            pub fn into_inner(self) -> $crate::Session {
                self.0
            }
        }

        impl ::std::ops::Deref for Session {
            type Target = $crate::Session;

            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        $(#[$sessions_meta])*
        #[derive(Debug, Clone)]
        pub struct Sessions($crate::adapter::RequestSessions);

        impl Sessions {
            /// The session stored under cookie `name`, loaded on first use:
            /// a string, or a type declared with
            /// [`session_name!`]($crate::session_name) (a typo in which is a
            /// compile error).
            pub async fn get(
                &self,
                name: impl $crate::name::SessionName,
            ) -> ::std::result::Result<Session, SessionError> {
                self.recorded(self.0.get(name.session_name()).await).map(Session)
            }

            /// The default session (the registry's first store).
            pub async fn default_session(&self) -> ::std::result::Result<Session, SessionError> {
                self.recorded(self.0.default_session().await).map(Session)
            }

            fn recorded<T>(&self, result: $crate::Result<T>) -> ::std::result::Result<T, SessionError> {
                result.map_err(|err| {
                    let err = SessionError::from(err);
                    $crate::adapter::handles!(@fail $record self.0, err.0.kind());
                    err
                })
            }
        }

        /// The session a type declared with
        /// [`session_name!`]($crate::session_name) names, as an extractor:
        /// `Named<Prefs>` where a handler would call `sessions.get("prefs")`.
        /// It dereferences to the session.
        pub struct Named<N>(Session, ::std::marker::PhantomData<fn() -> N>);

        impl<N> Named<N> {
            /// The session.
            pub fn into_inner(self) -> Session {
                self.0
            }
        }

        impl<N> ::std::ops::Deref for Named<N> {
            type Target = $crate::Session;

            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl<N> ::std::fmt::Debug for Named<N> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_tuple("Named").field(&self.0).finish()
            }
        }

        impl<N> ::std::clone::Clone for Named<N> {
            fn clone(&self) -> Self {
                Named(self.0.clone(), ::std::marker::PhantomData)
            }
        }
    };
    (@fail yes $sessions:expr, $kind:expr) => {
        $sessions.fail($kind)
    };
    (@fail no $sessions:expr, $kind:expr) => {};
    ($($types:tt)*) => {
        $crate::adapter::handles!(@record no; $($types)*);
    };
}

#[doc(inline)]
pub use crate::__adapter_handles as handles;
