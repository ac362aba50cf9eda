//! The sessions demo app on rocket: the demo kit's routes mounted on a
//! [`Rocket`] with a [`SessionFairing`], so tests can run it in-process.
#![deny(missing_docs)]

use std::convert::Infallible;
use std::io::Cursor;
use std::net::TcpListener;
use std::sync::Arc;

use demo_kit::routes::{self, EndDeviceForm, FlashForm, KvForm, LoginForm, PrefsForm, RememberForm, RemoveForm};
use demo_kit::{About, Answer, Background, Config, Demo, Devices, PREFS_SESSION, SECURITY_HEADERS, Shutdown, Visit};
use rocket::fairing::{Fairing, Info, Kind};
use rocket::form::Form;
use rocket::http::Status;
use rocket::request::{self, FromRequest};
use rocket::response::{self, Responder, Response};
use rocket::{Build, Request, Rocket, State, catch, catchers, get, post, routes};
use sessions_rocket::backend::Backend;
use sessions_rocket::{Session, SessionError, SessionFairing, Sessions};

/// The demo's routes with a [`SessionFairing`] on the demo's registry, on
/// a rocket configured by `figment` (address, port, logging).
pub fn app(demo: Demo, figment: rocket::figment::Figment) -> Rocket<Build> {
    rocket::custom(figment)
        .attach(SessionFairing::new(demo.registry))
        .attach(SecurityHeaders)
        .manage(demo.about)
        .manage(demo.devices)
        .mount(
            "/",
            routes![
                home,
                counter,
                peek,
                flash,
                flashes,
                login,
                me,
                logout,
                remember,
                kv_list,
                kv_set,
                remove,
                prefs_read,
                prefs_set,
                both,
                devices,
                end_device,
                end_other_devices,
                favicon
            ],
        )
        .register("/", catchers![unmatched, refused, too_large])
}

/// Sets the kit's [`SECURITY_HEADERS`] on every response, replacing what
/// rocket's own shield sets (it allows same-origin framing).
struct SecurityHeaders;

#[rocket::async_trait]
impl Fairing for SecurityHeaders {
    fn info(&self) -> Info {
        Info { name: "demo security headers", kind: Kind::Response }
    }

    async fn on_response<'r>(&self, _request: &'r Request<'_>, response: &mut Response<'r>) {
        for (name, value) in SECURITY_HEADERS {
            response.set_raw_header(*name, *value);
        }
    }
}

type Reply = Result<Page, SessionError>;

/// The request's [`Visit`], as a request guard.
struct Headers(Visit);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Headers {
    type Error = Infallible;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Infallible> {
        request::Outcome::Success(Headers(visit(request)))
    }
}

fn visit(request: &Request<'_>) -> Visit {
    let headers = request.headers();
    let named = |name: &'static str| headers.get(name).map(move |value| (name, value.as_bytes()));
    Visit::from_headers(["accept", "cookie", "host", "x-forwarded-proto"].into_iter().flat_map(named))
}

#[get("/")]
async fn home(about: &State<Arc<About>>, devices: &State<Devices>, sessions: Sessions, headers: Headers) -> Reply {
    let (session, prefs) = (sessions.default_session().await?, sessions.get(PREFS_SESSION).await?);
    reply(routes::home(&session, &prefs, devices, &headers.0, about).await)
}

#[get("/devices")]
async fn devices(devices: &State<Devices>, session: Session) -> Reply {
    reply(routes::devices(&session, devices).await)
}

#[post("/devices/end", data = "<form>")]
async fn end_device(
    devices: &State<Devices>,
    session: Session,
    headers: Headers,
    form: Form<EndDeviceFields>,
) -> Reply {
    reply(routes::end_device(&session, devices, &EndDeviceForm { handle: form.into_inner().handle }, &headers.0).await)
}

#[post("/devices/end-others")]
async fn end_other_devices(devices: &State<Devices>, session: Session, headers: Headers) -> Reply {
    reply(routes::end_other_devices(&session, devices, &headers.0).await)
}

#[post("/counter")]
fn counter(session: Session, headers: Headers) -> Reply {
    reply(routes::counter(&session, &headers.0))
}

#[get("/peek")]
fn peek(session: Session, headers: Headers) -> Reply {
    reply(routes::peek(&session, &headers.0))
}

#[post("/flash", data = "<form>")]
fn flash(session: Session, headers: Headers, form: Form<FlashFields>) -> Reply {
    reply(routes::flash(&session, &FlashForm { message: form.into_inner().message }, &headers.0))
}

#[get("/flashes")]
fn flashes(session: Session) -> Reply {
    reply(routes::flashes(&session))
}

#[post("/login", data = "<form>")]
fn login(session: Session, headers: Headers, form: Form<LoginFields>) -> Reply {
    reply(routes::login(&session, &LoginForm { user: form.into_inner().user }, &headers.0))
}

#[get("/me")]
fn me(session: Session, headers: Headers) -> Reply {
    reply(routes::me(&session, &headers.0))
}

#[post("/logout")]
fn logout(session: Session, headers: Headers) -> Reply {
    reply(routes::logout(&session, &headers.0))
}

#[post("/remember", data = "<form>")]
fn remember(session: Session, headers: Headers, form: Form<RememberFields>) -> Reply {
    reply(routes::remember(&session, &RememberForm { on: form.into_inner().on }, &headers.0))
}

#[get("/kv")]
fn kv_list(session: Session) -> Page {
    Page(routes::kv_list(&session))
}

#[post("/kv", data = "<form>")]
fn kv_set(session: Session, headers: Headers, form: Form<KvFields>) -> Reply {
    let KvFields { k, v } = form.into_inner();
    reply(routes::kv_set(&session, &KvForm { k, v }, &headers.0))
}

#[post("/remove", data = "<form>")]
async fn remove(sessions: Sessions, headers: Headers, form: Form<RemoveFields>) -> Reply {
    let RemoveFields { k, session } = form.into_inner();
    let (main, prefs) = (sessions.default_session().await?, sessions.get(PREFS_SESSION).await?);
    reply(routes::remove(&main, &prefs, &RemoveForm { k, session }, &headers.0))
}

#[get("/prefs")]
async fn prefs_read(sessions: Sessions, headers: Headers) -> Reply {
    reply(routes::prefs_read(&*sessions.get(PREFS_SESSION).await?, &headers.0))
}

#[post("/prefs", data = "<form>")]
async fn prefs_set(sessions: Sessions, headers: Headers, form: Form<PrefsFields>) -> Reply {
    let form = PrefsForm { theme: form.into_inner().theme };
    reply(routes::prefs_set(&*sessions.get(PREFS_SESSION).await?, &form, &headers.0))
}

#[get("/both")]
async fn both(sessions: Sessions, headers: Headers) -> Reply {
    let (session, prefs) = (sessions.default_session().await?, sessions.get(PREFS_SESSION).await?);
    reply(routes::both(&session, &prefs, &headers.0))
}

#[get("/favicon.ico")]
fn favicon() -> Page {
    Page(routes::favicon())
}

/// Rocket answers a path no route takes, or a method no route of that path
/// takes, with 404: the kit tells the two apart.
#[catch(404)]
fn unmatched(request: &Request<'_>) -> Page {
    Page(routes::unmatched(request.method().as_str(), request.uri().path().as_str(), &visit(request)))
}

/// The library's cross-origin refusal, as the kit's page or line.
#[catch(403)]
fn refused(request: &Request<'_>) -> Page {
    Page(routes::refused(&visit(request)))
}

/// A form body over the `form` limit ([`routes::BODY_LIMIT`], see
/// [`figment`]): rocket stops reading it there and answers 413.
#[catch(413)]
fn too_large(request: &Request<'_>) -> Page {
    Page(routes::too_large(&visit(request)))
}

/// The kit's forms are serde types; rocket parses forms with its own
/// derive, so each has its rocket twin here (a missing field is empty, as
/// in the kit).
#[derive(rocket::FromForm)]
struct FlashFields {
    #[field(default = String::new())]
    message: String,
}

#[derive(rocket::FromForm)]
struct EndDeviceFields {
    #[field(default = String::new())]
    handle: String,
}

#[derive(rocket::FromForm)]
struct LoginFields {
    #[field(default = String::new())]
    user: String,
}

#[derive(rocket::FromForm)]
struct RememberFields {
    #[field(default = String::new())]
    on: String,
}

#[derive(rocket::FromForm)]
struct KvFields {
    #[field(default = String::new())]
    k: String,
    #[field(default = String::new())]
    v: String,
}

#[derive(rocket::FromForm)]
struct RemoveFields {
    #[field(default = String::new())]
    k: String,
    #[field(default = String::new())]
    session: String,
}

#[derive(rocket::FromForm)]
struct PrefsFields {
    #[field(default = String::new())]
    theme: String,
}

/// A kit answer as a rocket response.
struct Page(Answer);

fn reply(answer: Result<Answer, sessions_rocket::Error>) -> Reply {
    Ok(Page(answer?))
}

impl<'r> Responder<'r, 'static> for Page {
    fn respond_to(self, _request: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        response.status(Status::new(self.0.status()));
        for (name, value) in self.0.headers() {
            response.raw_header_adjoin(name, value.to_owned());
        }
        let body = self.0.into_body();
        if !body.is_empty() {
            response.sized_body(body.len(), Cursor::new(body));
        }
        Ok(response.finalize())
    }
}

/// The rocket configuration of the demo on `addr`: quiet, no colors, no
/// Ctrl-C handling of its own when `shutdown` is managed by the caller,
/// form bodies up to [`routes::BODY_LIMIT`], and a secret key of its own.
///
/// Rocket's `secrets` feature is on in any build where another crate of
/// the workspace turns it on (feature unification), and rocket then
/// refuses to start in its release profile without `secret_key`. The demo
/// uses no private cookie, so the key is random per start: the demo starts
/// from any build with no extra variable.
pub fn figment(addr: std::net::SocketAddr, ctrlc: bool) -> rocket::figment::Figment {
    // A fresh 256-bit key's text: rocket derives its key from material of
    // 32 bytes or more.
    let secret = sessions_rocket::Key::generate().to_base64().into_bytes();
    rocket::Config::figment()
        .merge(("secret_key", secret))
        .merge(("limits.form", routes::BODY_LIMIT))
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
pub async fn serve(listener: TcpListener, demo: Demo, shutdown: Option<Shutdown>) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    drop(listener);
    let rocket = app(demo, figment(addr, shutdown.is_none())).ignite().await.map_err(std::io::Error::other)?;
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
    let server = demo_kit::spawn("rocket", config, backend, demo_kit::tokio_runtime, |listener, demo, shutdown| {
        serve(listener, demo, Some(shutdown))
    })?;
    demo_kit::wait_until_serving(server.addr)?;
    Ok(server)
}
