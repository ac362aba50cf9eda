//! axum 0.8 adapter for `sessions`: a tower [`SessionLayer`] and the
//! [`Session`] and [`Sessions`] extractors.
//!
//! The layer reads the request's `Cookie` headers into the sessions of a
//! [`Registry`]; a handler that extracts a session loads it on first use;
//! after the handler, the layer saves every session the request touched and
//! adds one `Set-Cookie` per changed session, `Vary: Cookie` and
//! `Cache-Control: no-cache="set-cookie"`. What to save and which headers to
//! send is decided by `sessions-core`; this crate only wires it into axum.
//!
//! - A handler that answers `>= 500` persists nothing.
//! - A tampered, expired or unknown cookie gives a fresh session.
//! - A storage outage answers `503` (see [`SessionLayer::unavailable_status`]).
//!
//! ```
//! use axum::{Router, routing::get};
//! use sessions_axum::{Session, SessionLayer};
//! use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
//!
//! async fn counter(session: Session) -> Result<String, sessions_axum::SessionError> {
//!     let count = session.get::<u64>("count")?.unwrap_or(0) + 1;
//!     session.insert("count", &count)?;
//!     Ok(count.to_string())
//! }
//!
//! let store = CookieStore::new(StoreConfig::new("session", KeyRing::from(Key::generate())))?;
//! let app: Router = Router::new().route("/", get(counter)).layer(SessionLayer::new(Registry::single(store)));
//! # let _ = app;
//! # Ok::<(), sessions_core::Error>(())
//! ```
#![deny(missing_docs)]

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::header::{COOKIE, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Request, StatusCode};
use sessions_core::{Finished, Registry, RequestSessions};
use tower_layer::Layer;
use tower_service::Service;

/// The per-request state the layer leaves in the request extensions.
#[derive(Debug, Clone)]
struct Handle {
    sessions: RequestSessions,
    unavailable: StatusCode,
}

impl Handle {
    fn from_parts(parts: &Parts) -> Result<Handle, SessionError> {
        parts.extensions.get::<Handle>().cloned().ok_or(SessionError::MissingLayer)
    }

    fn error(&self, source: sessions_core::Error) -> SessionError {
        let status = StatusCode::from_u16(source.http_status(self.unavailable.as_u16()))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        SessionError::Session { status, source }
    }
}

/// The error of this crate: a session could not be extracted or used.
///
/// It is the rejection of the extractors and converts from
/// [`sessions_core::Error`], so a handler returning
/// `Result<_, SessionError>` can use `?` on session calls (converted that
/// way, a storage outage is `503`; loads through the extractors and
/// [`Sessions::get`] use the layer's configured status). As a response it
/// is a status with a short plain-text reason that names no secret.
///
/// ```
/// use axum::response::IntoResponse;
/// use sessions_axum::SessionError;
///
/// let response = SessionError::MissingLayer.into_response();
/// assert_eq!(response.status(), 500);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The handler asked for a session but no [`SessionLayer`] wraps it.
    #[error("no session layer: add `sessions_axum::SessionLayer` to the router")]
    MissingLayer,
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

impl SessionError {
    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            SessionError::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
            SessionError::Session { status, .. } => *status,
        }
    }
}

impl From<sessions_core::Error> for SessionError {
    fn from(source: sessions_core::Error) -> Self {
        let status = StatusCode::from_u16(source.http_status(503)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        SessionError::Session { status, source }
    }
}

impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        let reason = match &self {
            SessionError::MissingLayer => self.to_string(),
            SessionError::Session { source, .. } if source.is_unavailable() => "session storage unavailable".into(),
            SessionError::Session { .. } => "session error".into(),
        };
        (self.status(), reason).into_response()
    }
}

/// The tower layer that gives every request its sessions and saves them
/// after the handler.
///
/// Build it once from a [`Registry`] and add it to the router with
/// `.layer(...)`; routes outside it cannot extract sessions (they answer
/// `500` naming the missing layer).
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, http::StatusCode, routing::get};
/// use sessions_axum::SessionLayer;
/// use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
///
/// let store = CookieStore::new(StoreConfig::new("session", KeyRing::from(Key::generate())))?;
/// let layer = SessionLayer::new(Registry::single(store)).unavailable_status(StatusCode::SERVICE_UNAVAILABLE);
/// let app: Router = Router::new().route("/", get(|| async { "hello" })).layer(layer);
/// # let _ = app;
/// # Ok::<(), sessions_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SessionLayer {
    registry: Registry,
    unavailable: StatusCode,
}

impl SessionLayer {
    /// A layer serving the stores of `registry`.
    pub fn new(registry: Registry) -> SessionLayer {
        SessionLayer { registry, unavailable: StatusCode::SERVICE_UNAVAILABLE }
    }

    /// The status answered when the session storage is down (default `503`).
    pub fn unavailable_status(mut self, status: StatusCode) -> SessionLayer {
        self.unavailable = status;
        self
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService { inner, registry: self.registry.clone(), unavailable: self.unavailable }
    }
}

/// The service built by [`SessionLayer`]; see there.
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    inner: S,
    registry: Registry,
    unavailable: StatusCode,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    // Boxed: saving is an async step after the inner future, and a
    // hand-written state machine for it would be longer than the whole
    // adapter for an allocation that costs tens of nanoseconds.
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // As bytes: one cookie that is not visible ASCII must not hide the
        // session cookies in the same header.
        let sessions = self.registry.request_bytes(request.headers().get_all(COOKIE).iter().map(HeaderValue::as_bytes));
        let unavailable = self.unavailable;
        request.extensions_mut().insert(Handle { sessions: sessions.clone(), unavailable });
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            let finished = sessions.finish(response.status().as_u16()).await;
            let (headers, unsendable) = header_values(&finished);
            if let Some(status) = finished.failure_status(unavailable.as_u16()).or(unsendable.then_some(500)) {
                response = http::Response::new(ResBody::default());
                *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            }
            response.headers_mut().extend(headers);
            Ok(response)
        })
    }
}

/// The session headers as `http` values, and whether one could not be
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
/// are saved by [`SessionLayer`] after the handler.
///
/// ```
/// use sessions_axum::{Session, SessionError};
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

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let handle = Handle::from_parts(parts)?;
        handle.sessions.default_session().await.map(Session).map_err(|e| handle.error(e))
    }
}

/// Every named session of the request, as an extractor.
///
/// Use it when a handler works with more than the default session; each
/// session loads on its first [`Sessions::get`].
///
/// ```
/// use sessions_axum::{SessionError, Sessions};
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

impl<S: Send + Sync> FromRequestParts<S> for Sessions {
    type Rejection = SessionError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Handle::from_parts(parts).map(Sessions)
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
