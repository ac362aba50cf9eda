//! The sessions demo app on rocket: the demo kit's routes mounted on a
//! [`Rocket`] with a [`SessionFairing`], so tests can run it in-process.
#![deny(missing_docs)]

use std::io::Cursor;
use std::net::TcpListener;
use std::sync::Arc;

use demo_kit::routes::{self, FlashForm, KvQuery, LoginForm, PrefsQuery, RememberForm};
use demo_kit::{Answer, Background, Config, PREFS_SESSION, Shutdown};
use rocket::form::Form;
use rocket::http::{ContentType, Status};
use rocket::response::{self, Responder, Response};
use rocket::{Build, Request, Rocket, get, post, routes};
use sessions_core::Registry;
use sessions_core::backend::Backend;
use sessions_rocket::{Session, SessionError, SessionFairing, Sessions};

/// The demo's routes with a [`SessionFairing`] on `registry`, on a rocket
/// configured by `figment` (address, port, logging).
pub fn app(registry: Registry, figment: rocket::figment::Figment) -> Rocket<Build> {
    rocket::custom(figment)
        .attach(SessionFairing::new(registry))
        .mount("/", routes![home, counter, peek, flash, flashes, login, me, logout, remember, kv, prefs, both])
}

type Reply = Result<Page, SessionError>;

#[get("/")]
async fn home(sessions: Sessions) -> Reply {
    reply(routes::home(&sessions.default_session().await?, &sessions.get(PREFS_SESSION).await?))
}

#[get("/counter")]
fn counter(session: Session) -> Reply {
    reply(routes::counter(&session))
}

#[get("/peek")]
fn peek(session: Session) -> Reply {
    reply(routes::peek(&session))
}

#[post("/flash", data = "<form>")]
fn flash(session: Session, form: Form<FlashFields>) -> Reply {
    reply(routes::flash(&session, &FlashForm { message: form.into_inner().message }))
}

#[get("/flashes")]
fn flashes(session: Session) -> Reply {
    reply(routes::flashes(&session))
}

#[post("/login", data = "<form>")]
fn login(session: Session, form: Form<LoginFields>) -> Reply {
    reply(routes::login(&session, &LoginForm { user: form.into_inner().user }))
}

#[get("/me")]
fn me(session: Session) -> Reply {
    reply(routes::me(&session))
}

#[post("/logout")]
fn logout(session: Session) -> Reply {
    reply(routes::logout(&session))
}

#[post("/remember", data = "<form>")]
fn remember(session: Session, form: Form<RememberFields>) -> Reply {
    reply(routes::remember(&session, &RememberForm { on: form.into_inner().on }))
}

#[get("/kv?<k>&<v>")]
fn kv(session: Session, k: Option<String>, v: Option<String>) -> Reply {
    reply(routes::kv(&session, &KvQuery { k, v }))
}

#[get("/prefs?<theme>")]
async fn prefs(sessions: Sessions, theme: Option<String>) -> Reply {
    reply(routes::prefs(&sessions.get(PREFS_SESSION).await?, &PrefsQuery { theme }))
}

#[get("/both")]
async fn both(sessions: Sessions) -> Reply {
    reply(routes::both(&sessions.default_session().await?, &sessions.get(PREFS_SESSION).await?))
}

/// The kit's forms are serde types; rocket parses forms with its own
/// derive, so each has its rocket twin here.
#[derive(rocket::FromForm)]
struct FlashFields {
    message: String,
}

#[derive(rocket::FromForm)]
struct LoginFields {
    user: String,
}

#[derive(rocket::FromForm)]
struct RememberFields {
    on: String,
}

/// A kit answer as a rocket response.
struct Page(Answer);

fn reply(answer: sessions_core::Result<Answer>) -> Reply {
    Ok(Page(answer?))
}

impl<'r> Responder<'r, 'static> for Page {
    fn respond_to(self, _request: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        response.status(Status::new(self.0.status()));
        if let Some(content_type) = self.0.content_type().and_then(ContentType::parse_flexible) {
            response.header(content_type);
            let body = self.0.into_body();
            response.sized_body(body.len(), Cursor::new(body));
        }
        Ok(response.finalize())
    }
}

/// The rocket configuration of the demo on `addr`: quiet, no colors, and
/// no Ctrl-C handling of its own when `shutdown` is managed by the caller.
pub fn figment(addr: std::net::SocketAddr, ctrlc: bool) -> rocket::figment::Figment {
    rocket::Config::figment()
        .merge(("address", addr.ip()))
        .merge(("port", addr.port()))
        .merge(("log_level", rocket::config::LogLevel::Off))
        .merge(("cli_colors", false))
        .merge(("workers", 2))
        .merge(("shutdown.ctrlc", ctrlc))
        .merge(("shutdown.grace", 0))
        .merge(("shutdown.mercy", 0))
}

/// Serves the demo where `listener` listens until `shutdown` completes (or
/// until Ctrl-C without one).
///
/// Rocket 0.5 binds its own socket from its configuration, so the
/// listener only chooses the address and is closed just before rocket
/// binds it.
pub async fn serve(listener: TcpListener, registry: Registry, shutdown: Option<Shutdown>) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    drop(listener);
    let rocket = app(registry, figment(addr, shutdown.is_none())).ignite().await.map_err(std::io::Error::other)?;
    if let Some(shutdown) = shutdown {
        let handle = rocket.shutdown();
        rocket::tokio::spawn(async move {
            shutdown.await;
            handle.notify();
        });
    }
    rocket.launch().await.map(drop).map_err(std::io::Error::other)
}

/// Starts the demo in the background (see [`demo_kit::spawn`]) and waits
/// until it answers.
pub fn spawn(config: &Config, backend: Option<Arc<dyn Backend>>) -> std::io::Result<Background> {
    let server = demo_kit::spawn(config, backend, demo_kit::tokio_runtime, |listener, registry, shutdown| {
        serve(listener, registry, Some(shutdown))
    })?;
    demo_kit::wait_until_serving(server.addr)?;
    Ok(server)
}
