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

use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, HOST, HeaderName, HeaderValue, ORIGIN};
use http::request::Parts;
use http::{Request, StatusCode};
use sessions_core::adapter::RequestHead;
use sessions_core::adapter::RequestSessions;
use sessions_core::adapter::{Failure, Policy, Reply};
use sessions_core::name::NamedSession;
use tower_layer::Layer;
use tower_service::Service;

const NOT_INSTALLED: &str = "no session layer: add `sessions_axum::SessionLayer` to the router";

sessions_core::adapter::handles! {
    /// The error of this crate: a session could not be extracted or used.
    ///
    /// It is the rejection of the extractors and converts from
    /// [`sessions_core::Error`], so a handler returning
    /// `Result<_, SessionError>` can use `?` on session calls. As a response
    /// it is a status and a short plain-text reason that names no secret;
    /// under [`SessionLayer`], the registry's [`Policy`] decides the status.
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// use sessions_axum::SessionError;
    ///
    /// let err = SessionError::from(sessions_axum::Error::UnknownStore("prefs".into()));
    /// assert_eq!(err.into_response().status(), 500);
    /// ```
    pub struct SessionError;
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
    pub struct Session;
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
    pub struct Sessions;
}

impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        // Tagged with its kind, so the layer answers it by the registry's
        // policy; without the layer, the default policy stands.
        let kind = self.0.kind();
        let mut response = reply(self.0.reply(&Policy::default()));
        response.extensions_mut().insert(kind);
        response
    }
}

fn reply<B: From<&'static str>>(reply: Reply) -> http::Response<B> {
    let mut response = http::Response::new(B::from(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // The policy admits only visible ASCII in a content type.
    let content_type = HeaderValue::from_str(reply.content_type).unwrap_or(HeaderValue::from_static(Reply::PLAIN_TEXT));
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response
}

/// The tower layer that gives every request its sessions and saves them
/// after the handler.
///
/// Build it once from a [`Registry`] and add it to the router with
/// `.layer(...)`; routes outside it cannot extract sessions (they answer
/// `500` naming the missing layer).
///
/// Before the handler, it refuses an unsafe request another origin's page
/// sent (the registry's [`CrossOrigin`], on by
/// default) with `403 cross-origin request refused`: the handler does not
/// run and no session is loaded or saved. That response carries
/// [`FailureKind::CrossOrigin`] in its extensions, so a middleware outside
/// the layer can answer it its own way (see the crate documentation).
#[derive(Debug, Clone)]
pub struct SessionLayer {
    registry: Registry,
}

impl SessionLayer {
    /// A layer serving the stores of `registry`.
    pub fn new(registry: Registry) -> SessionLayer {
        SessionLayer { registry }
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService { inner, registry: self.registry.clone() }
    }
}

/// The service built by [`SessionLayer`]; see there.
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    inner: S,
    registry: Registry,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: From<&'static str> + Send + 'static,
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
        // session cookies in the same header. Nothing is loaded yet.
        let headers = request.headers();
        let sessions = self.registry.request_with(headers.get_all(COOKIE).iter().map(HeaderValue::as_bytes), |name| {
            headers.get_all(name).iter().map(HeaderValue::as_bytes)
        });
        if let Err(refused) = sessions.check_origin_of(request.method().as_str(), || head(&request)) {
            let mut response = reply(refused);
            response.extensions_mut().insert(FailureKind::CrossOrigin);
            // An async block, not `ready`: it holds no `S::Error`, which need not be `Send`.
            return Box::pin(async move { Ok(response) });
        }
        request.extensions_mut().insert(sessions.clone());
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            let failure = response.extensions().get::<FailureKind>().copied();
            let finished = sessions
                .finish_owned(response.status().as_u16(), failure, |name, value| {
                    Some((HeaderName::from_static(name), header_value(value)?))
                })
                .await;
            if let Some(replacement) = finished.replace {
                response = reply(replacement);
            }
            response.headers_mut().extend(finished.headers);
            Ok(response)
        })
    }
}

/// A header value without a copy: a fixed text is referenced where it
/// lies, a `Set-Cookie` takes over the string the store wrote.
fn header_value(value: Cow<'static, str>) -> Option<HeaderValue> {
    match value {
        Cow::Borrowed(text) => HeaderValue::from_maybe_shared(Bytes::from_static(text.as_bytes())).ok(),
        Cow::Owned(text) => HeaderValue::try_from(text).ok(),
    }
}

/// What the cross-origin check reads of `request`; HTTP/2 has no `Host`
/// header, its `:authority` is the URI's.
fn head<B>(request: &Request<B>) -> RequestHead<'_> {
    let (headers, uri) = (request.headers(), request.uri());
    let host = headers.get(HOST).map(HeaderValue::as_bytes).or_else(|| uri.authority().map(|a| a.as_str().as_bytes()));
    RequestHead::new(request.method().as_str(), uri.path()).headers(
        headers.get("sec-fetch-site").map(HeaderValue::as_bytes),
        headers.get(ORIGIN).map(HeaderValue::as_bytes),
        host,
    )
}

fn sessions_of(parts: &Parts) -> Result<RequestSessions, SessionError> {
    parts.extensions.get::<RequestSessions>().cloned().ok_or(SessionError(Failure::NotInstalled(NOT_INSTALLED)))
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Session(sessions_of(parts)?.default_session().await?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Sessions {
    type Rejection = SessionError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        sessions_of(parts).map(Sessions)
    }
}

impl<S: Send + Sync, N: NamedSession> FromRequestParts<S> for Named<N> {
    type Rejection = SessionError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Named(Session(sessions_of(parts)?.get(N::NAME).await?), PhantomData))
    }
}

#[cfg(doctest)]
mod guides;
