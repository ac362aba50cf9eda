//! The sessions demo app on actix-web: the demo kit's routes on an actix
//! [`App`] wrapped in a [`SessionMiddleware`], so tests can run it
//! in-process.
#![deny(missing_docs)]

use std::sync::Arc;

use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::web::{self, Form, Query};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, Responder};
use demo_kit::routes::{self, FlashForm, KvQuery, LoginForm, PrefsQuery, RememberForm};
use demo_kit::{Answer, Background, Config, PREFS_SESSION, Shutdown};
use sessions_actix::{Session, SessionError, SessionMiddleware, Sessions};
use sessions_core::Registry;
use sessions_core::backend::Backend;

/// The demo's routes wrapped in a [`SessionMiddleware`] on `registry`.
pub fn app(
    registry: Registry,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(SessionMiddleware::new(registry))
        .route("/", web::get().to(|s: Sessions| both_sessions(s, routes::home)))
        .route("/counter", web::get().to(|s: Session| async move { reply(routes::counter(&s)) }))
        .route("/peek", web::get().to(|s: Session| async move { reply(routes::peek(&s)) }))
        .route("/flash", web::post().to(|s: Session, f: Form<FlashForm>| async move { reply(routes::flash(&s, &f)) }))
        .route("/flashes", web::get().to(|s: Session| async move { reply(routes::flashes(&s)) }))
        .route("/login", web::post().to(|s: Session, f: Form<LoginForm>| async move { reply(routes::login(&s, &f)) }))
        .route("/me", web::get().to(|s: Session| async move { reply(routes::me(&s)) }))
        .route("/logout", web::post().to(|s: Session| async move { reply(routes::logout(&s)) }))
        .route(
            "/remember",
            web::post().to(|s: Session, f: Form<RememberForm>| async move { reply(routes::remember(&s, &f)) }),
        )
        .route("/kv", web::get().to(|s: Session, q: Query<KvQuery>| async move { reply(routes::kv(&s, &q)) }))
        .route("/prefs", web::get().to(prefs))
        .route("/both", web::get().to(|s: Sessions| both_sessions(s, routes::both)))
}

async fn prefs(sessions: Sessions, query: Query<PrefsQuery>) -> Result<Page, SessionError> {
    reply(routes::prefs(&sessions.get(PREFS_SESSION).await?, &query))
}

async fn both_sessions(
    sessions: Sessions,
    body: fn(&sessions_core::Session, &sessions_core::Session) -> sessions_core::Result<Answer>,
) -> Result<Page, SessionError> {
    reply(body(&sessions.default_session().await?, &sessions.get(PREFS_SESSION).await?))
}

/// A kit answer as an actix response.
struct Page(Answer);

fn reply(answer: sessions_core::Result<Answer>) -> Result<Page, SessionError> {
    Ok(Page(answer?))
}

impl Responder for Page {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _request: &HttpRequest) -> HttpResponse {
        let mut response =
            HttpResponse::build(StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        match self.0.content_type() {
            Some(content_type) => response.content_type(content_type).body(self.0.into_body()),
            None => response.finish(),
        }
    }
}

/// Serves the demo on `listener` until `shutdown` completes (or, with
/// `signals`, until the process is interrupted).
pub async fn serve(
    listener: std::net::TcpListener,
    registry: Registry,
    shutdown: Option<Shutdown>,
) -> std::io::Result<()> {
    let mut server = HttpServer::new(move || app(registry.clone()));
    if shutdown.is_some() {
        server = server.workers(1).disable_signals().shutdown_timeout(0);
    }
    let server = server.listen(listener)?.run();
    if let Some(shutdown) = shutdown {
        let handle = server.handle();
        actix_web::rt::spawn(async move {
            shutdown.await;
            handle.stop(false).await;
        });
    }
    server.await
}

/// Starts the demo in the background (see [`demo_kit::spawn`]) on an actix
/// system of its own.
pub fn spawn(config: &Config, backend: Option<Arc<dyn Backend>>) -> std::io::Result<Background> {
    let runtime = |task: demo_kit::Task| {
        actix_web::rt::System::new().block_on(task);
        Ok(())
    };
    demo_kit::spawn(config, backend, runtime, |listener, registry, shutdown| serve(listener, registry, Some(shutdown)))
}
