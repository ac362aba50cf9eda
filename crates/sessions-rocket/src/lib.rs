#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

// What an application needs, so that it names this crate alone.
pub use sessions_core::adapter::FailureKind;
#[doc(no_inline)]
pub use sessions_core::{
    BackendError, BrowserSession, CookieOptions, CookieStore, CrossOrigin, DEFAULT_FLASH_QUEUE, Error,
    FilesystemBackend, Key, KeyRing, Lifetime, MemoryBackend, Mode, PersistentSession, Registry, RegistryBuilder,
    SameSite, SerialError, ServerStore, StoreConfig, Transport,
};
#[doc(no_inline)]
pub use sessions_core::{backend, clock, name, revocation, session_name, store};

use std::io::Cursor;
use std::marker::PhantomData;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::{Header, Method, Status};
use rocket::request::{self, FromRequest, Outcome};
use rocket::route::{self, Route};
use rocket::{Build, Data, Ignite, Request, Response, Rocket, Sentinel};
use sessions_core::adapter::RequestHead;
use sessions_core::adapter::RequestSessions;
use sessions_core::adapter::{Failure, Policy, Reply};
use sessions_core::name::NamedSession;

#[cfg(feature = "migrate")]
pub mod migrate;

const NOT_INSTALLED: &str = "no session fairing: attach `sessions_rocket::SessionFairing` to the rocket";

sessions_core::adapter::handles! {
    /// The error of this crate: a session could not be loaded or used.
    ///
    /// The guards' error; converts from [`sessions_core::Error`], so a handler
    /// returning `Result<_, SessionError>` can use `?` on session calls. As a
    /// response it is a status by the registry's [`Policy`] and a short
    /// plain-text reason that names no secret.
    ///
    /// ```
    /// use sessions_rocket::SessionError;
    ///
    /// let err = SessionError::from(sessions_rocket::Error::UnknownStore("prefs".into()));
    /// assert_eq!(err.to_string(), "no session store named `prefs` is configured");
    /// ```
    pub struct SessionError;
    /// The default session of the request, as a request guard.
    ///
    /// Dereferences to [`sessions_core::Session`]; changes are saved by
    /// [`SessionFairing`]. A storage outage fails the guard with the registry's
    /// status and the fairing's `session storage unavailable`.
    ///
    /// Take `Session`, not `Option<Session>` or `Result<Session, _>`: those run
    /// the handler through an outage without the user's session, as if logged
    /// out; the fairing still answers the outage, but what the handler did is
    /// done.
    ///
    /// ```
    /// use rocket::post;
    /// use sessions_rocket::{Session, SessionError};
    ///
    /// #[post("/login")]
    /// fn login(session: Session) -> Result<&'static str, SessionError> {
    ///     session.cycle_id();
    ///     session.insert("user", "ada")?;
    ///     Ok("welcome")
    /// }
    /// ```
    pub struct Session;
    /// Every named session of the request, as a request guard.
    ///
    /// Use it when a handler works with more than the default session; each
    /// session loads on its first [`Sessions::get`].
    ///
    /// ```
    /// use rocket::get;
    /// use sessions_rocket::{SessionError, Sessions};
    ///
    /// #[get("/theme")]
    /// async fn theme(sessions: Sessions) -> Result<String, SessionError> {
    ///     let prefs = sessions.get("prefs").await?;
    ///     Ok(prefs.get::<String>("theme")?.unwrap_or_default())
    /// }
    /// ```
    pub struct Sessions;
}

impl<'r> rocket::response::Responder<'r, 'static> for SessionError {
    fn respond_to(self, request: &'r Request<'_>) -> rocket::response::Result<'static> {
        Ok(reply(record(request, &self.0)))
    }
}

/// Records `failure` for the fairing, which answers it whatever rocket made
/// of it (a guard's error goes to a catcher), and returns that answer.
fn record(request: &Request<'_>, failure: &Failure) -> Reply {
    match cached(request) {
        Some(sessions) => {
            sessions.fail(failure.kind());
            failure.reply(&sessions.policy())
        }
        None => failure.reply(&Policy::default()),
    }
}

fn reply(reply: Reply) -> Response<'static> {
    Response::build()
        .status(Status::new(reply.status))
        .raw_header("Content-Type", reply.content_type)
        .sized_body(reply.body.len(), Cursor::new(reply.body))
        .finalize()
}

/// The fairing that gives every request its sessions and saves them once
/// the response is made.
///
/// Attach it once, built from a [`Registry`] (a second one replaces the
/// first). It appends its headers to the response itself: rocket takes the
/// `CookieJar`'s cookies before response fairings run, and drops them for a
/// catcher.
///
/// Before routing, it refuses an unsafe request another origin's page sent
/// (the registry's [`CrossOrigin`], on by
/// default): no route of the application runs and no session is loaded or
/// saved. A route of the fairing's own, mounted ahead of every other,
/// answers it: `403 cross-origin request refused`, or, when the
/// application registers a `403` catcher, that catcher
/// ([`is_cross_origin_refusal`] tells this `403` from others).
#[derive(Debug, Clone)]
pub struct SessionFairing {
    registry: Registry,
}

impl SessionFairing {
    /// A fairing serving the stores of `registry`.
    pub fn new(registry: Registry) -> SessionFairing {
        SessionFairing { registry }
    }
}

/// Managed on ignite, for the guards' sentinels.
struct Attached;

/// In rocket's per-request cache: guards run again on a forward.
struct Cached(Option<RequestSessions>);

/// In rocket's per-request cache: the answer to a request refused as
/// cross-origin, if it was.
struct Refused(Option<Reply>);

/// The methods a cross-origin request is refused for: every one but the
/// safe `GET`, `HEAD` and `OPTIONS`.
const UNSAFE: [Method; 6] = [Method::Post, Method::Put, Method::Patch, Method::Delete, Method::Trace, Method::Connect];

/// Ahead of every route an application can rank.
const REFUSAL_RANK: isize = isize::MIN;

/// The route that answers a refused request and forwards every other.
#[derive(Clone)]
struct Refusal {
    /// The application registered a `403` catcher: it answers.
    catcher: bool,
}

#[rocket::async_trait]
impl route::Handler for Refusal {
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> route::Outcome<'r> {
        match request.local_cache(|| Refused(None)).0 {
            None => route::Outcome::Forward((data, Status::NotFound)),
            Some(refused) if self.catcher => route::Outcome::Error(Status::new(refused.status)),
            Some(refused) => route::Outcome::Success(reply(refused)),
        }
    }
}

/// True when rocket answers `request` with a `403` because the fairing
/// refused it as cross-origin: for a `403` catcher that answers other
/// refusals too.
///
/// ```
/// use rocket::response::content::RawHtml;
/// use rocket::{Request, catch};
///
/// #[catch(403)]
/// fn forbidden(request: &Request<'_>) -> RawHtml<&'static str> {
///     if sessions_rocket::is_cross_origin_refusal(request) {
///         RawHtml("<h1>Refused</h1><p>That form came from another site.</p>")
///     } else {
///         RawHtml("<h1>Forbidden</h1>")
///     }
/// }
/// ```
pub fn is_cross_origin_refusal(request: &Request<'_>) -> bool {
    request.local_cache(|| Refused(None)).0.is_some()
}

fn cached(request: &Request<'_>) -> Option<RequestSessions> {
    request.local_cache(|| Cached(None)).0.clone()
}

#[rocket::async_trait]
impl Fairing for SessionFairing {
    fn info(&self) -> Info {
        Info { name: "sessions", kind: Kind::Ignite | Kind::Request | Kind::Response | Kind::Singleton }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        // A fairing cannot answer a request itself; this route, tried first
        // for every unsafe method and path, does it for refused requests.
        let refusal = Refusal { catcher: rocket.catchers().any(|c| c.code == Some(403)) };
        let routes: Vec<Route> = UNSAFE
            .into_iter()
            .map(|method| {
                let mut route = Route::ranked(REFUSAL_RANK, method, "/<_..>", refusal.clone());
                route.name = Some("sessions: cross-origin refusal".into());
                route
            })
            .collect();
        Ok(rocket.manage(Attached).mount("/", routes))
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        let sessions = {
            // The headers keep every value of a duplicated name, the jar
            // one; rocket's local `Client` fills only the jar. Nothing is
            // loaded yet.
            let headers = request.headers();
            let mut cookies = headers.get("Cookie").map(str::as_bytes).peekable();
            let other = |name: &str| headers.get(name).map(str::as_bytes);
            if cookies.peek().is_some() {
                self.registry.request_with(cookies, other)
            } else {
                let pairs: Vec<String> =
                    request.cookies().iter().map(|c| format!("{}={}", c.name(), c.value())).collect();
                self.registry.request_with(pairs.iter().map(String::as_bytes), other)
            }
        };
        // A safe method is not judged: its headers are not looked up.
        let refused = if !self.registry.cross_origin().judges(request.method().as_str()) {
            None
        } else {
            let headers = request.headers();
            // HTTP/2 has no `Host` header; rocket keeps its `:authority` as the host.
            let authority = request.host().filter(|_| !headers.contains("Host")).map(|host| host.to_string());
            let host = headers.get_one("Host").or(authority.as_deref()).map(str::as_bytes);
            let head = RequestHead::new(request.method().as_str(), request.uri().path().as_str()).headers(
                headers.get_one("Sec-Fetch-Site").map(str::as_bytes),
                headers.get_one("Origin").map(str::as_bytes),
                host,
            );
            sessions.check_origin(&head).err()
        };
        if let Some(refused) = refused {
            // No sessions for it: nothing is loaded, and `on_response` saves nothing.
            request.local_cache(|| Refused(Some(refused)));
            return;
        }
        request.local_cache(|| Cached(Some(sessions)));
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let Some(sessions) = cached(request) else { return };
        let finished =
            sessions.finish_owned(response.status().code, None, |name, value| Some(Header::new(name, value))).await;
        if let Some(replacement) = finished.replace {
            *response = reply(replacement);
        }
        for header in finished.headers {
            response.adjoin_header(header);
        }
    }
}

fn sessions_of(request: &Request<'_>) -> Result<RequestSessions, SessionError> {
    cached(request).ok_or_else(|| {
        tracing::error!("{NOT_INSTALLED}");
        SessionError(Failure::NotInstalled(NOT_INSTALLED))
    })
}

fn outcome<T>(request: &Request<'_>, result: Result<T, SessionError>) -> request::Outcome<T, SessionError> {
    match result {
        Ok(value) => Outcome::Success(value),
        Err(err) => Outcome::Error((Status::new(record(request, &err.0).status), err)),
    }
}

fn fairing_missing(rocket: &Rocket<Ignite>) -> bool {
    let missing = rocket.state::<Attached>().is_none();
    if missing {
        tracing::error!("{NOT_INSTALLED}");
    }
    missing
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Session {
    type Error = SessionError;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, SessionError> {
        let session = async { Ok(Session(sessions_of(request)?.default_session().await?)) };
        outcome(request, session.await)
    }
}

impl Sentinel for Session {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        fairing_missing(rocket)
    }
}

#[rocket::async_trait]
impl<'r, N: NamedSession> FromRequest<'r> for Named<N> {
    type Error = SessionError;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, SessionError> {
        let session = async { Ok(Named(Session(sessions_of(request)?.get(N::NAME).await?), PhantomData)) };
        outcome(request, session.await)
    }
}

impl<N> Sentinel for Named<N> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        fairing_missing(rocket)
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Sessions {
    type Error = SessionError;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, SessionError> {
        outcome(request, sessions_of(request).map(Sessions))
    }
}

impl Sentinel for Sessions {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        fairing_missing(rocket)
    }
}

#[cfg(doctest)]
mod guides;
