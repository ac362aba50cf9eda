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
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, HOST, HeaderMap, HeaderName, HeaderValue, ORIGIN};
use http::{Request, StatusCode};
use sessions_core::adapter::RequestHead;
use sessions_core::adapter::RequestSessions;
use sessions_core::adapter::{Failure, Policy, Reply};
use sessions_core::name::NamedSession;
use tower_service::Service;
use warp::Filter;
use warp::reject::{Reject, Rejection};
use warp::reply::Response;

const NOT_INSTALLED: &str = "no sessions: serve the routes as `sessions_warp::wrap(warp::service(routes), registry)`";

sessions_core::adapter::handles! {
    record_failures;
    /// The error of this crate: a session could not be loaded or used.
    ///
    /// It converts from [`sessions_core::Error`], so a handler returning
    /// `Result<_, SessionError>` can use `?` on session calls. It is a warp
    /// reply: a status and a short plain-text reason that names no secret,
    /// which [`wrap`] answers by the registry's [`Policy`]. It is also the
    /// rejection of the [`session`] and [`sessions`] filters.
    ///
    /// ```
    /// use sessions_warp::SessionError;
    /// use warp::Reply;
    ///
    /// let err = SessionError::from(sessions_warp::Error::UnknownStore("prefs".into()));
    /// assert_eq!(err.into_response().status(), 500);
    /// ```
    pub struct SessionError;
    /// The default session of the request, from the [`session`] filter.
    ///
    /// Dereferences to [`sessions_core::Session`]: `get`, `insert`, flashes,
    /// `cycle_id`, `destroy`, `remember`. Changes are saved by [`wrap`] after
    /// the reply, whether or not the handler returns the session.
    ///
    /// ```
    /// async fn logout(session: sessions_warp::Session) -> &'static str {
    ///     session.destroy();
    ///     "bye"
    /// }
    /// # let _ = logout;
    /// ```
    pub struct Session;
    /// Every named session of the request, from the [`sessions`] filter.
    ///
    /// A load that fails is recorded as well as returned, so [`wrap`] answers
    /// it by the registry's policy even when it reaches warp as a rejection.
    ///
    /// ```
    /// async fn user(sessions: sessions_warp::Sessions) -> Result<String, sessions_warp::SessionError> {
    ///     Ok(sessions.default_session().await?.get::<String>("user")?.unwrap_or_default())
    /// }
    /// # let _ = user;
    /// ```
    pub struct Sessions;
}

impl Reject for SessionError {}

impl warp::Reply for SessionError {
    fn into_response(self) -> Response {
        // Tagged with its kind, so the wrapper answers it by the registry's
        // policy; without the wrapper, the default policy stands.
        let kind = self.0.kind();
        let mut response = reply(self.0.reply(&Policy::default()));
        response.extensions_mut().insert(kind);
        response
    }
}

fn reply(reply: Reply) -> Response {
    let mut response = Response::new(reply.body.into());
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // The policy admits only visible ASCII in a content type.
    let content_type = HeaderValue::from_str(reply.content_type).unwrap_or(HeaderValue::from_static(Reply::PLAIN_TEXT));
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response
}

/// Gives every request of `service`, usually `warp::service(routes)`, its
/// sessions, and saves them after the reply.
///
/// Wrap the whole app once; routes outside it cannot take sessions (their
/// filters reject, which warp answers `500` naming `wrap`). See the crate
/// documentation for serving the result.
///
/// Before the routes, it refuses an unsafe request another origin's page
/// sent (the registry's [`CrossOrigin`], on by
/// default) with `403 cross-origin request refused`, or what
/// [`SessionService::refuse_with`] renders: no filter runs and no session
/// is loaded or saved.
///
/// ```
/// use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
/// use warp::Filter;
///
/// let store = CookieStore::new(StoreConfig::new("session", KeyRing::from(Key::generate())))?;
/// let routes = warp::path!("hello").map(|| "hello");
/// let app = sessions_warp::wrap(warp::service(routes), Registry::single(store));
/// # let _ = app;
/// # Ok::<(), sessions_core::Error>(())
/// ```
pub fn wrap<S>(service: S, registry: Registry) -> SessionService<S> {
    SessionService { inner: service, registry, refusal: None }
}

/// The service built by [`wrap`]; see there.
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    inner: S,
    registry: Registry,
    refusal: Option<Refusal>,
}

/// How an application answers a refused cross-origin request.
#[derive(Clone)]
struct Refusal(Arc<dyn Fn(&HeaderMap) -> Response + Send + Sync>);

impl std::fmt::Debug for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Refusal(..)")
    }
}

impl<S> SessionService<S> {
    /// Answers a cross-origin request the registry refuses with the reply
    /// `render` makes from the request's headers (a page for a browser
    /// that asks for `text/html`, say), instead of the plain-text
    /// `403 cross-origin request refused`. warp's `recover` never sees the
    /// refusal (no filter runs), so this is where its answer is chosen.
    /// Keep a `403` status: the request was not served.
    ///
    /// ```
    /// use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
    /// use warp::Filter;
    /// use warp::http::StatusCode;
    ///
    /// let store = CookieStore::new(StoreConfig::new("session", KeyRing::from(Key::generate())))?;
    /// let routes = warp::path!("login").and(warp::post()).map(|| "welcome");
    /// let app = sessions_warp::wrap(warp::service(routes), Registry::single(store)).refuse_with(|_headers| {
    ///     warp::reply::with_status(warp::reply::html("<h1>Refused</h1>"), StatusCode::FORBIDDEN)
    /// });
    /// # let _ = app;
    /// # Ok::<(), sessions_core::Error>(())
    /// ```
    pub fn refuse_with<R: warp::Reply>(mut self, render: impl Fn(&HeaderMap) -> R + Send + Sync + 'static) -> Self {
        self.refusal = Some(Refusal(Arc::new(move |headers| render(headers).into_response())));
        self
    }
}

impl<S, B> Service<Request<B>> for SessionService<S>
where
    S: Service<Request<B>, Response = Response>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    // Boxed: saving is an async step after the inner future; a hand-written
    // state machine would outweigh this crate for tens of nanoseconds.
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // As bytes: one cookie that is not visible ASCII must not hide the
        // session cookies in the same header. Nothing is loaded yet.
        let headers = request.headers();
        let sessions = self.registry.request_with(headers.get_all(COOKIE).iter().map(HeaderValue::as_bytes), |name| {
            headers.get_all(name).iter().map(HeaderValue::as_bytes)
        });
        if let Err(refused) = sessions.check_origin_of(request.method().as_str(), || head(&request)) {
            let mut response = match &self.refusal {
                Some(render) => (render.0)(request.headers()),
                None => reply(refused),
            };
            response.extensions_mut().insert(FailureKind::CrossOrigin);
            // An async block, not `ready`: it holds no `S::Error`, which need not be `Send`.
            return Box::pin(async move { Ok(response) });
        }
        request.extensions_mut().insert(sessions.clone());
        let response = self.inner.call(request);
        Box::pin(async move {
            // A rejection arrives as warp's response to it; `finish` replaces
            // it when a session failure behind it was recorded with `fail`.
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
            // `extend` appends: a `Set-Cookie` of the handler's stays.
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

/// The filter of the request's default session.
///
/// Loads the session on first use in the request, whichever `or` branch
/// asks; a load that fails rejects, and [`wrap`] answers it by the
/// registry's policy. Without [`wrap`] it rejects, and warp answers `500`
/// naming it.
///
/// ```
/// use sessions_warp::{Session, SessionError};
/// use warp::Filter;
///
/// async fn login(session: Session) -> Result<&'static str, SessionError> {
///     session.cycle_id();
///     session.insert("user", "ada")?;
///     Ok("welcome")
/// }
///
/// let route = warp::path!("login").and(warp::post()).and(sessions_warp::session()).then(login);
/// # let _ = route;
/// ```
pub fn session() -> impl Filter<Extract = (Session,), Error = Rejection> + Clone {
    sessions()
        .and_then(|sessions: Sessions| async move { sessions.default_session().await.map_err(warp::reject::custom) })
}

/// The filter of the session a type declared with
/// [`session_name!`](crate::session_name) names: `named::<Prefs>()` where a
/// route would call `sessions.get("prefs")`, so that a typo in the name is
/// a compile error. Rejects like [`session`] when the session fails to
/// load.
///
/// ```
/// use sessions_warp::{Named, session_name};
/// use warp::Filter;
///
/// session_name! {
///     /// The visitor's display preferences.
///     pub struct Prefs = "prefs";
/// }
///
/// let route = warp::path!("theme")
///     .and(sessions_warp::named::<Prefs>())
///     .map(|prefs: Named<Prefs>| prefs.get::<String>("theme").ok().flatten().unwrap_or_default());
/// # let _ = route;
/// ```
pub fn named<N: NamedSession>() -> impl Filter<Extract = (Named<N>,), Error = Rejection> + Clone {
    sessions().and_then(|sessions: Sessions| async move {
        sessions.get(N::NAME).await.map(|session| Named(session, PhantomData)).map_err(warp::reject::custom)
    })
}

/// The filter of every named session of the request.
///
/// Use it when a route works with more than the default session; each
/// session loads on its first [`Sessions::get`]. Without [`wrap`] it
/// rejects, and warp answers `500` naming it.
///
/// ```
/// use sessions_warp::{SessionError, Sessions};
/// use warp::Filter;
///
/// async fn theme(sessions: Sessions) -> Result<String, SessionError> {
///     let prefs = sessions.get("prefs").await?;
///     Ok(prefs.get::<String>("theme")?.unwrap_or_default())
/// }
///
/// let route = warp::path!("theme").and(sessions_warp::sessions()).then(theme);
/// # let _ = route;
/// ```
pub fn sessions() -> impl Filter<Extract = (Sessions,), Error = Rejection> + Clone {
    warp::ext::optional::<RequestSessions>().and_then(|sessions: Option<RequestSessions>| async move {
        sessions.map(Sessions).ok_or_else(|| warp::reject::custom(SessionError(Failure::NotInstalled(NOT_INSTALLED))))
    })
}

#[cfg(doctest)]
mod guides;
