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
use std::future::{Future, Ready, ready};
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{COOKIE, HOST, HeaderName, HeaderValue, ORIGIN};
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use sessions_core::adapter::RequestHead;
use sessions_core::adapter::RequestSessions;
use sessions_core::adapter::{Failure, Policy, Reply};
use sessions_core::name::NamedSession;

const NOT_INSTALLED: &str = "no session middleware: wrap the app in `sessions_actix::SessionMiddleware`";

sessions_core::adapter::handles! {
    /// The error of this crate: a session could not be extracted or used.
    ///
    /// It is the extractors' error and converts from [`sessions_core::Error`],
    /// so a handler returning `Result<_, SessionError>` can use `?` on session
    /// calls. As a response it is a status and a short plain-text reason that
    /// names no secret; under [`SessionMiddleware`], the registry's [`Policy`]
    /// decides the status.
    ///
    /// ```
    /// use actix_web::ResponseError;
    /// use sessions_actix::SessionError;
    ///
    /// let err = SessionError::from(sessions_actix::Error::UnknownStore("prefs".into()));
    /// assert_eq!(err.status_code(), 500);
    /// ```
    pub struct SessionError;
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
    pub struct Session;
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
    pub struct Sessions;
}

impl ResponseError for SessionError {
    fn status_code(&self) -> StatusCode {
        status(self.0.reply(&Policy::default()))
    }

    fn error_response(&self) -> HttpResponse {
        reply(self.0.reply(&Policy::default()))
    }
}

fn status(reply: Reply) -> StatusCode {
    StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn reply(reply: Reply) -> HttpResponse {
    HttpResponse::build(status(reply)).content_type(reply.content_type).body(reply.body)
}

/// The middleware that gives every request its sessions and saves them
/// after the handler.
///
/// Build it once from a [`Registry`] and `wrap` the app or a scope with it;
/// routes outside it cannot extract sessions (they answer `500` naming the
/// missing middleware).
///
/// Before the handler, it refuses an unsafe request another origin's page
/// sent (the registry's [`CrossOrigin`], on by
/// default) with `403 cross-origin request refused`: the handler does not
/// run and no session is loaded or saved. That response carries
/// [`FailureKind::CrossOrigin`] in its extensions, so an
/// [`ErrorHandlers`](actix_web::middleware::ErrorHandlers) wrapped outside
/// this middleware can answer it its own way (see the crate documentation).
#[derive(Debug, Clone)]
pub struct SessionMiddleware {
    registry: Registry,
}

impl SessionMiddleware {
    /// A middleware serving the stores of `registry`.
    pub fn new(registry: Registry) -> SessionMiddleware {
        SessionMiddleware { registry }
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
        ready(Ok(SessionService { service: Rc::new(service), registry: self.registry.clone() }))
    }
}

/// The service built by [`SessionMiddleware`]; see there.
#[derive(Debug)]
pub struct SessionService<S> {
    service: Rc<S>,
    registry: Registry,
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
        // session cookies in the same header. Nothing is loaded yet.
        let headers = request.headers();
        let sessions = self.registry.request_with(headers.get_all(COOKIE).map(HeaderValue::as_bytes), |name| {
            headers.get_all(name).map(HeaderValue::as_bytes)
        });
        if let Err(refused) = sessions.check_origin_of(request.method().as_str(), || head(&request)) {
            let mut response = reply(refused);
            response.extensions_mut().insert(FailureKind::CrossOrigin);
            let (request, _) = request.into_parts();
            return Box::pin(ready(Ok(ServiceResponse::new(request, response).map_into_right_body())));
        }
        request.extensions_mut().insert(sessions.clone());
        let response = self.service.call(request);
        Box::pin(async move {
            // An `Err` here comes from another middleware, not the handler
            // (actix turns handler errors into responses first); it is an
            // error response, so nothing is saved.
            let response = response.await?;
            let failure = response.response().error().and_then(|e| e.as_error::<SessionError>()).map(|e| e.0.kind());
            let finished = sessions
                .finish_owned(response.status().as_u16(), failure, |name, value| {
                    Some((HeaderName::from_static(name), header_value(value)?))
                })
                .await;
            let mut response = match finished.replace {
                Some(replacement) => {
                    let (request, _) = response.into_parts();
                    ServiceResponse::new(request, reply(replacement)).map_into_right_body()
                }
                None => response.map_into_left_body(),
            };
            for (name, value) in finished.headers {
                response.headers_mut().append(name, value);
            }
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
/// header, its `:authority` is the URI's. (Not `connection_info`, which
/// believes `X-Forwarded-Host` from any client.)
fn head(request: &ServiceRequest) -> RequestHead<'_> {
    let (headers, uri) = (request.headers(), request.uri());
    let host = headers.get(HOST).map(HeaderValue::as_bytes).or_else(|| uri.authority().map(|a| a.as_str().as_bytes()));
    RequestHead::new(request.method().as_str(), uri.path()).headers(
        headers.get("sec-fetch-site").map(HeaderValue::as_bytes),
        headers.get(ORIGIN).map(HeaderValue::as_bytes),
        host,
    )
}

fn sessions_of(request: &HttpRequest) -> Result<RequestSessions, SessionError> {
    // The extensions borrow ends here, before any await.
    request.extensions().get::<RequestSessions>().cloned().ok_or(SessionError(Failure::NotInstalled(NOT_INSTALLED)))
}

impl FromRequest for Session {
    type Error = SessionError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let sessions = sessions_of(request);
        Box::pin(async move { Ok(Session(sessions?.default_session().await?)) })
    }
}

impl FromRequest for Sessions {
    type Error = SessionError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(sessions_of(request).map(Sessions))
    }
}

impl<N: NamedSession> FromRequest for Named<N> {
    type Error = SessionError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let sessions = sessions_of(request);
        Box::pin(async move { Ok(Named(Session(sessions?.get(N::NAME).await?), PhantomData)) })
    }
}

#[cfg(doctest)]
mod guides;
