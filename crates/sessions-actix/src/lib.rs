//! actix-web 4 adapter for `sessions`: the [`SessionMiddleware`] and the
//! [`Session`] and [`Sessions`] extractors.
//!
//! The middleware reads the request's `Cookie` headers into the sessions of
//! a [`Registry`]; a handler that extracts a session loads it on first use;
//! after the handler, the middleware saves every session the request
//! touched and adds one `Set-Cookie` per changed session, `Vary: Cookie`
//! and `Cache-Control: no-cache="set-cookie"`. What to save and which
//! headers to send is decided by `sessions-core`; this crate only wires it
//! into actix-web, converting core's plain strings to actix's header types.
//!
//! - A handler that answers `>= 500` persists nothing.
//! - A tampered, expired or unknown cookie gives a fresh session.
//! - A storage outage answers `503` (see [`SessionMiddleware::unavailable_status`]).
//!
//! ```
//! use actix_web::{App, web};
//! use sessions_actix::{Session, SessionError, SessionMiddleware};
//! use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
//!
//! async fn counter(session: Session) -> Result<String, SessionError> {
//!     let count = session.get::<u64>("count")?.unwrap_or(0) + 1;
//!     session.insert("count", &count)?;
//!     Ok(count.to_string())
//! }
//!
//! let store = CookieStore::new(StoreConfig::new("session", KeyRing::from(Key::generate())))?;
//! let registry = Registry::single(store);
//! let app = App::new().wrap(SessionMiddleware::new(registry)).route("/", web::get().to(counter));
//! # let _ = app;
//! # Ok::<(), sessions_core::Error>(())
//! ```
#![deny(missing_docs)]

use std::future::{Future, Ready, ready};
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{COOKIE, HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use sessions_core::{Finished, Registry, RequestSessions};

/// The per-request state the middleware leaves in the request extensions.
#[derive(Debug, Clone)]
struct Handle {
    sessions: RequestSessions,
    unavailable: StatusCode,
}

impl Handle {
    fn from_request(request: &HttpRequest) -> Result<Handle, SessionError> {
        // The extensions borrow ends here, before any await.
        request.extensions().get::<Handle>().cloned().ok_or(SessionError::MissingMiddleware)
    }

    fn error(&self, source: sessions_core::Error) -> SessionError {
        let status = StatusCode::from_u16(source.http_status(self.unavailable.as_u16()))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        SessionError::Session { status, source }
    }
}

/// The error of this crate: a session could not be extracted or used.
///
/// It is the extractors' error and converts from [`sessions_core::Error`],
/// so a handler returning `Result<_, SessionError>` can use `?` on session
/// calls (converted that way, a storage outage is `503`; loads through the
/// extractors and [`Sessions::get`] use the middleware's configured status).
/// As a response it is a status with a short plain-text reason that
/// names no secret.
///
/// ```
/// use actix_web::ResponseError;
/// use sessions_actix::SessionError;
///
/// assert_eq!(SessionError::MissingMiddleware.status_code(), 500);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The handler asked for a session but no [`SessionMiddleware`] wraps it.
    #[error("no session middleware: wrap the app in `sessions_actix::SessionMiddleware`")]
    MissingMiddleware,
    /// A session failed: loading it (the storage is down: `503` by default)
    /// or reading or writing a value (`500`).
    #[error("{source}")]
    Session {
        /// The status to answer with.
        status: StatusCode,
        /// What failed.
        #[source]
        source: sessions_core::Error,
    },
}

impl From<sessions_core::Error> for SessionError {
    fn from(source: sessions_core::Error) -> Self {
        let status = StatusCode::from_u16(source.http_status(503)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        SessionError::Session { status, source }
    }
}

impl ResponseError for SessionError {
    fn status_code(&self) -> StatusCode {
        match self {
            SessionError::MissingMiddleware => StatusCode::INTERNAL_SERVER_ERROR,
            SessionError::Session { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let reason = match self {
            SessionError::MissingMiddleware => self.to_string(),
            SessionError::Session { source, .. } if source.is_unavailable() => "session storage unavailable".into(),
            SessionError::Session { .. } => "session error".into(),
        };
        HttpResponse::build(self.status_code()).content_type("text/plain; charset=utf-8").body(reason)
    }
}

/// The middleware that gives every request its sessions and saves them
/// after the handler.
///
/// Build it once from a [`Registry`] and `wrap` the app or a scope with it;
/// routes outside it cannot extract sessions (they answer `500` naming the
/// missing middleware).
///
/// ```
/// use actix_web::{App, http::StatusCode, web};
/// use sessions_actix::SessionMiddleware;
/// use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
///
/// let store = CookieStore::new(StoreConfig::new("session", KeyRing::from(Key::generate())))?;
/// let middleware =
///     SessionMiddleware::new(Registry::single(store)).unavailable_status(StatusCode::SERVICE_UNAVAILABLE);
/// let app = App::new().wrap(middleware).route("/", web::get().to(|| async { "hello" }));
/// # let _ = app;
/// # Ok::<(), sessions_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SessionMiddleware {
    registry: Registry,
    unavailable: StatusCode,
}

impl SessionMiddleware {
    /// A middleware serving the stores of `registry`.
    pub fn new(registry: Registry) -> SessionMiddleware {
        SessionMiddleware { registry, unavailable: StatusCode::SERVICE_UNAVAILABLE }
    }

    /// The status answered when the session storage is down (default `503`).
    pub fn unavailable_status(mut self, status: StatusCode) -> SessionMiddleware {
        self.unavailable = status;
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for SessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SessionService {
            service: Rc::new(service),
            registry: self.registry.clone(),
            unavailable: self.unavailable,
        }))
    }
}

/// The service built by [`SessionMiddleware`]; see there.
#[derive(Debug)]
pub struct SessionService<S> {
    service: Rc<S>,
    registry: Registry,
    unavailable: StatusCode,
}

impl<S, B> Service<ServiceRequest> for SessionService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    // actix services are not `Send`, and saving is an async step after the
    // inner future: a boxed local future is the idiom here.
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        // As bytes: one cookie that is not visible ASCII must not hide the
        // session cookies in the same header.
        let sessions = self.registry.request_bytes(request.headers().get_all(COOKIE).map(HeaderValue::as_bytes));
        let unavailable = self.unavailable;
        request.extensions_mut().insert(Handle { sessions: sessions.clone(), unavailable });
        let response = self.service.call(request);
        Box::pin(async move {
            // An `Err` here comes from another middleware, not the handler
            // (actix turns handler errors into responses first); it is an
            // error response, so nothing is saved.
            let response = response.await?;
            let finished = sessions.finish(response.status().as_u16()).await;
            let (headers, unsendable) = header_values(&finished);
            let mut response = match finished.failure_status(unavailable.as_u16()).or(unsendable.then_some(500)) {
                Some(status) => {
                    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    let (request, _) = response.into_parts();
                    ServiceResponse::new(request, HttpResponse::new(status)).map_into_right_body()
                }
                None => response.map_into_left_body(),
            };
            for (name, value) in headers {
                response.headers_mut().append(name, value);
            }
            Ok(response)
        })
    }
}

/// The session headers as actix values, and whether one could not be
/// converted. Core only hands out valid header values; should one still
/// fail, the response must not go out as if it succeeded without it (a
/// missing removal cookie leaves a user logged in), so the caller answers
/// 500 instead.
fn header_values(finished: &Finished) -> (Vec<(HeaderName, HeaderValue)>, bool) {
    let mut unsendable = false;
    let mut headers = Vec::new();
    for (name, value) in finished.headers() {
        match HeaderValue::from_str(value) {
            Ok(value) => headers.push((HeaderName::from_static(name), value)),
            Err(_) => {
                tracing::error!(header = name, "a session header is not a valid header value; answering 500");
                unsendable = true;
            }
        }
    }
    (headers, unsendable)
}

/// The default session of the request, as an extractor.
///
/// Dereferences to [`sessions_core::Session`]: `get`, `insert`, flashes,
/// `cycle_id`, `destroy`, `remember`. Loaded on first extraction; changes
/// are saved by [`SessionMiddleware`] after the handler.
///
/// ```
/// use sessions_actix::{Session, SessionError};
///
/// async fn login(session: Session) -> Result<&'static str, SessionError> {
///     session.cycle_id();
///     session.insert("user", "ada")?;
///     Ok("welcome")
/// }
/// # let _ = login;
/// ```
#[derive(Debug, Clone)]
pub struct Session(sessions_core::Session);

impl Session {
    /// The core session handle.
    pub fn into_inner(self) -> sessions_core::Session {
        self.0
    }
}

impl Deref for Session {
    type Target = sessions_core::Session;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl FromRequest for Session {
    type Error = SessionError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let handle = Handle::from_request(request);
        Box::pin(async move {
            let handle = handle?;
            handle.sessions.default_session().await.map(Session).map_err(|e| handle.error(e))
        })
    }
}

/// Every named session of the request, as an extractor.
///
/// Use it when a handler works with more than the default session; each
/// session loads on its first [`Sessions::get`].
///
/// ```
/// use sessions_actix::{SessionError, Sessions};
///
/// async fn theme(sessions: Sessions) -> Result<String, SessionError> {
///     let prefs = sessions.get("prefs").await?;
///     Ok(prefs.get::<String>("theme")?.unwrap_or_default())
/// }
/// # let _ = theme;
/// ```
#[derive(Debug, Clone)]
pub struct Sessions(Handle);

impl Sessions {
    /// The session stored under cookie `name`.
    pub async fn get(&self, name: &str) -> Result<sessions_core::Session, SessionError> {
        self.0.sessions.get(name).await.map_err(|e| self.0.error(e))
    }

    /// The default session (the registry's first store).
    pub async fn default_session(&self) -> Result<sessions_core::Session, SessionError> {
        self.0.sessions.default_session().await.map_err(|e| self.0.error(e))
    }
}

impl FromRequest for Sessions {
    type Error = SessionError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Handle::from_request(request).map(Sessions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_that_cannot_be_converted_is_reported_not_dropped() {
        let finished = Finished {
            set_cookies: vec!["a=1; Path=/".into(), "b=; Path=/\u{1}; Max-Age=0".into()],
            vary_cookie: true,
            ..Finished::default()
        };
        let (headers, unsendable) = header_values(&finished);
        assert!(unsendable);
        let names: Vec<&str> = headers.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["set-cookie", "vary"]);
        assert!(!header_values(&Finished { vary_cookie: true, ..Finished::default() }).1);
    }
}

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
