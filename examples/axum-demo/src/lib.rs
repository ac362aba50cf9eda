//! The sessions demo app on axum: the demo kit's routes as an axum
//! [`Router`] behind a [`SessionLayer`], so tests can run it in-process.
#![deny(missing_docs)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Extension, Form, Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use demo_kit::routes::{self, EndDeviceForm, FlashForm, KvForm, LoginForm, PrefsForm, RememberForm, RemoveForm};
use demo_kit::{About, Answer, Background, Config, Demo, Devices, PREFS_SESSION, SECURITY_HEADERS, Shutdown, Visit};
use sessions_axum::FailureKind;
use sessions_axum::backend::Backend;
use sessions_axum::{Session, SessionError, SessionLayer, Sessions};

/// The demo's routes behind a [`SessionLayer`] on the demo's registry;
/// form bodies are bounded by [`routes::BODY_LIMIT`], and every response,
/// the session layer's own included, carries the kit's
/// [`SECURITY_HEADERS`].
pub fn app(demo: Demo) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/counter", post(|s: Session, h: HeaderMap| async move { reply(routes::counter(&s, &visit(&h))) }))
        .route("/peek", get(|s: Session, h: HeaderMap| async move { reply(routes::peek(&s, &visit(&h))) }))
        .route(
            "/flash",
            post(|s: Session, h: HeaderMap, Form(f): Form<FlashForm>| async move {
                reply(routes::flash(&s, &f, &visit(&h)))
            }),
        )
        .route("/flashes", get(|s: Session| async move { reply(routes::flashes(&s)) }))
        .route(
            "/login",
            post(|s: Session, h: HeaderMap, Form(f): Form<LoginForm>| async move {
                reply(routes::login(&s, &f, &visit(&h)))
            }),
        )
        .route("/me", get(|s: Session, h: HeaderMap| async move { reply(routes::me(&s, &visit(&h))) }))
        .route("/logout", post(|s: Session, h: HeaderMap| async move { reply(routes::logout(&s, &visit(&h))) }))
        .route(
            "/remember",
            post(|s: Session, h: HeaderMap, Form(f): Form<RememberForm>| async move {
                reply(routes::remember(&s, &f, &visit(&h)))
            }),
        )
        .route(
            "/kv",
            get(|s: Session| async move { Page(routes::kv_list(&s)) }).post(
                |s: Session, h: HeaderMap, Form(f): Form<KvForm>| async move { reply(routes::kv_set(&s, &f, &visit(&h))) },
            ),
        )
        .route("/remove", post(remove))
        .route("/prefs", get(prefs_read).post(prefs_set))
        .route("/both", get(both))
        .route("/devices", get(devices))
        .route("/devices/end", post(end_device))
        .route("/devices/end-others", post(end_other_devices))
        .route("/favicon.ico", get(|| async { Page(routes::favicon()) }))
        .method_not_allowed_fallback(unmatched)
        .fallback(unmatched)
        .with_state(demo.about)
        .layer(Extension(demo.devices))
        // Inside the session layer: a refused body never reaches a handler,
        // and the session layer still sees the answer.
        .layer(middleware::from_fn(limit_body))
        .layer(DefaultBodyLimit::max(routes::BODY_LIMIT))
        .layer(SessionLayer::new(demo.registry))
        .layer(middleware::from_fn(refusal))
        .layer(middleware::map_response(security_headers))
}

/// The library's cross-origin refusal, as the kit's page or line.
async fn refusal(request: Request, next: Next) -> Response {
    let visit = visit(request.headers());
    let response = next.run(request).await;
    match response.extensions().get::<FailureKind>() {
        Some(FailureKind::CrossOrigin) => Page(routes::refused(&visit)).into_response(),
        _ => response,
    }
}

/// A body longer than [`routes::BODY_LIMIT`] answered with the kit's
/// `413`: at once when `Content-Length` says so, and in place of axum's own
/// rejection when a chunked body passes the limit.
async fn limit_body(request: Request, next: Next) -> Response {
    let visit = visit(request.headers());
    let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > routes::BODY_LIMIT as u64) {
        return Page(routes::too_large(&visit)).into_response();
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return Page(routes::too_large(&visit)).into_response();
    }
    response
}

async fn security_headers(mut response: Response) -> Response {
    for (name, value) in SECURITY_HEADERS {
        response.headers_mut().insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    response
}

fn visit(headers: &HeaderMap) -> Visit {
    Visit::from_headers(headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes())))
}

async fn home(
    State(about): State<Arc<About>>,
    Extension(devices): Extension<Devices>,
    sessions: Sessions,
    headers: HeaderMap,
) -> Result<Page, SessionError> {
    let (session, prefs) = (sessions.default_session().await?, sessions.get(PREFS_SESSION).await?);
    reply(routes::home(&session, &prefs, &devices, &visit(&headers), &about).await)
}

async fn devices(Extension(devices): Extension<Devices>, session: Session) -> Result<Page, SessionError> {
    reply(routes::devices(&session, &devices).await)
}

async fn end_device(
    Extension(devices): Extension<Devices>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<EndDeviceForm>,
) -> Result<Page, SessionError> {
    reply(routes::end_device(&session, &devices, &form, &visit(&headers)).await)
}

async fn end_other_devices(
    Extension(devices): Extension<Devices>,
    session: Session,
    headers: HeaderMap,
) -> Result<Page, SessionError> {
    reply(routes::end_other_devices(&session, &devices, &visit(&headers)).await)
}

async fn prefs_read(sessions: Sessions, headers: HeaderMap) -> Result<Page, SessionError> {
    reply(routes::prefs_read(&*sessions.get(PREFS_SESSION).await?, &visit(&headers)))
}

async fn prefs_set(sessions: Sessions, headers: HeaderMap, Form(form): Form<PrefsForm>) -> Result<Page, SessionError> {
    reply(routes::prefs_set(&*sessions.get(PREFS_SESSION).await?, &form, &visit(&headers)))
}

async fn remove(sessions: Sessions, headers: HeaderMap, Form(form): Form<RemoveForm>) -> Result<Page, SessionError> {
    let (session, prefs) = (sessions.default_session().await?, sessions.get(PREFS_SESSION).await?);
    reply(routes::remove(&session, &prefs, &form, &visit(&headers)))
}

async fn both(sessions: Sessions, headers: HeaderMap) -> Result<Page, SessionError> {
    let (session, prefs) = (sessions.default_session().await?, sessions.get(PREFS_SESSION).await?);
    reply(routes::both(&session, &prefs, &visit(&headers)))
}

async fn unmatched(method: Method, uri: Uri, headers: HeaderMap) -> Page {
    Page(routes::unmatched(method.as_str(), uri.path(), &visit(&headers)))
}

/// A kit answer as an axum response.
struct Page(Answer);

fn reply(answer: Result<Answer, sessions_axum::Error>) -> Result<Page, SessionError> {
    Ok(Page(answer?))
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in self.0.headers() {
            if let Ok(value) = HeaderValue::from_str(value) {
                response.headers_mut().append(HeaderName::from_static(name), value);
            }
        }
        *response.body_mut() = Body::from(self.0.into_body());
        response
    }
}

/// Serves the demo on `listener` (non-blocking) until `shutdown` completes.
pub async fn serve(
    listener: std::net::TcpListener,
    demo: Demo,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    axum::serve(listener, app(demo)).with_graceful_shutdown(shutdown).await
}

/// Starts the demo in the background (see [`demo_kit::spawn`]).
pub fn spawn(config: &Config, backend: Option<Arc<dyn Backend>>) -> std::io::Result<Background> {
    demo_kit::spawn("axum", config, backend, demo_kit::tokio_runtime, |listener, demo, shutdown: Shutdown| {
        serve(listener, demo, shutdown)
    })
}
