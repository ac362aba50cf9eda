//! The sessions demo app on axum: the demo kit's routes as an axum
//! [`Router`] behind a [`SessionLayer`], so tests can run it in-process.
#![deny(missing_docs)]

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use demo_kit::routes::{self, FlashForm, KvQuery, LoginForm, PrefsQuery, RememberForm};
use demo_kit::{Answer, Background, Config, PREFS_SESSION, Shutdown};
use sessions_axum::{Session, SessionError, SessionLayer, Sessions};
use sessions_core::Registry;
use sessions_core::backend::Backend;

/// The demo's routes behind a [`SessionLayer`] on `registry`.
pub fn app(registry: Registry) -> Router {
    Router::new()
        .route("/", get(|s: Sessions| async move { both_sessions(s, routes::home).await }))
        .route("/counter", get(|s: Session| async move { reply(routes::counter(&s)) }))
        .route("/peek", get(|s: Session| async move { reply(routes::peek(&s)) }))
        .route("/flash", post(|s: Session, Form(f): Form<FlashForm>| async move { reply(routes::flash(&s, &f)) }))
        .route("/flashes", get(|s: Session| async move { reply(routes::flashes(&s)) }))
        .route("/login", post(|s: Session, Form(f): Form<LoginForm>| async move { reply(routes::login(&s, &f)) }))
        .route("/me", get(|s: Session| async move { reply(routes::me(&s)) }))
        .route("/logout", post(|s: Session| async move { reply(routes::logout(&s)) }))
        .route(
            "/remember",
            post(|s: Session, Form(f): Form<RememberForm>| async move { reply(routes::remember(&s, &f)) }),
        )
        .route("/kv", get(|s: Session, Query(q): Query<KvQuery>| async move { reply(routes::kv(&s, &q)) }))
        .route("/prefs", get(prefs))
        .route("/both", get(|s: Sessions| async move { both_sessions(s, routes::both).await }))
        .layer(SessionLayer::new(registry))
}

async fn prefs(sessions: Sessions, Query(query): Query<PrefsQuery>) -> Result<Page, SessionError> {
    reply(routes::prefs(&sessions.get(PREFS_SESSION).await?, &query))
}

async fn both_sessions(
    sessions: Sessions,
    body: fn(&sessions_core::Session, &sessions_core::Session) -> sessions_core::Result<Answer>,
) -> Result<Page, SessionError> {
    reply(body(&sessions.default_session().await?, &sessions.get(PREFS_SESSION).await?))
}

/// A kit answer as an axum response.
struct Page(Answer);

fn reply(answer: sessions_core::Result<Answer>) -> Result<Page, SessionError> {
    Ok(Page(answer?))
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match self.0.content_type() {
            Some(content_type) => (status, [(header::CONTENT_TYPE, content_type)], self.0.into_body()).into_response(),
            None => status.into_response(),
        }
    }
}

/// Serves the demo on `listener` (non-blocking) until `shutdown` completes.
pub async fn serve(
    listener: std::net::TcpListener,
    registry: Registry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    axum::serve(listener, app(registry)).with_graceful_shutdown(shutdown).await
}

/// Starts the demo in the background (see [`demo_kit::spawn`]).
pub fn spawn(config: &Config, backend: Option<Arc<dyn Backend>>) -> std::io::Result<Background> {
    demo_kit::spawn(config, backend, demo_kit::tokio_runtime, |listener, registry, shutdown: Shutdown| {
        serve(listener, registry, shutdown)
    })
}
