//! The sessions demo app on actix-web: the demo kit's routes on an actix
//! [`App`] wrapped in a [`SessionMiddleware`], so tests can run it
//! in-process.
#![deny(missing_docs)]

use std::sync::Arc;

use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::error::{InternalError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::middleware::{DefaultHeaders, ErrorHandlerResponse, ErrorHandlers};
use actix_web::web::{self, Data, Form, FormConfig};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, Responder};
use demo_kit::routes::{self, EndDeviceForm, FlashForm, KvForm, LoginForm, PrefsForm, RememberForm, RemoveForm};
use demo_kit::{About, Answer, Background, Config, Demo, Devices, PREFS_SESSION, SECURITY_HEADERS, Shutdown, Visit};
use sessions_actix::FailureKind;
use sessions_actix::backend::Backend;
use sessions_actix::{Session, SessionError, SessionMiddleware, Sessions};

/// The demo's routes wrapped in a [`SessionMiddleware`] on the demo's
/// registry; form bodies are bounded by [`routes::BODY_LIMIT`], and every
/// response carries the kit's [`SECURITY_HEADERS`].
pub fn app(
    demo: Demo,
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
        .app_data(Data::from(demo.about))
        .app_data(Data::new(demo.devices))
        .app_data(form_config())
        .wrap(SessionMiddleware::new(demo.registry))
        .wrap(ErrorHandlers::new().handler(StatusCode::FORBIDDEN, refusal))
        // Outermost: the session middleware's own answers carry them too.
        .wrap(SECURITY_HEADERS.iter().fold(DefaultHeaders::new(), |headers, header| headers.add(*header)))
        .route("/", web::get().to(home))
        .route(
            "/counter",
            web::post().to(|s: Session, r: HttpRequest| async move { reply(routes::counter(&s, &visit(&r))) }),
        )
        .route("/peek", web::get().to(|s: Session, r: HttpRequest| async move { reply(routes::peek(&s, &visit(&r))) }))
        .route(
            "/flash",
            web::post().to(|s: Session, r: HttpRequest, f: Form<FlashForm>| async move {
                reply(routes::flash(&s, &f, &visit(&r)))
            }),
        )
        .route("/flashes", web::get().to(|s: Session| async move { reply(routes::flashes(&s)) }))
        .route(
            "/login",
            web::post().to(|s: Session, r: HttpRequest, f: Form<LoginForm>| async move {
                reply(routes::login(&s, &f, &visit(&r)))
            }),
        )
        .route("/me", web::get().to(|s: Session, r: HttpRequest| async move { reply(routes::me(&s, &visit(&r))) }))
        .route(
            "/logout",
            web::post().to(|s: Session, r: HttpRequest| async move { reply(routes::logout(&s, &visit(&r))) }),
        )
        .route(
            "/remember",
            web::post().to(|s: Session, r: HttpRequest, f: Form<RememberForm>| async move {
                reply(routes::remember(&s, &f, &visit(&r)))
            }),
        )
        .route("/kv", web::get().to(|s: Session| async move { Page(routes::kv_list(&s)) }))
        .route(
            "/kv",
            web::post().to(|s: Session, r: HttpRequest, f: Form<KvForm>| async move {
                reply(routes::kv_set(&s, &f, &visit(&r)))
            }),
        )
        .route("/remove", web::post().to(remove))
        .route("/prefs", web::get().to(prefs_read))
        .route("/prefs", web::post().to(prefs_set))
        .route("/both", web::get().to(both))
        .route("/devices", web::get().to(devices))
        .route("/devices/end", web::post().to(end_device))
        .route("/devices/end-others", web::post().to(end_other_devices))
        .route("/favicon.ico", web::get().to(|| async { Page(routes::favicon()) }))
        .default_service(web::to(|r: HttpRequest| async move {
            Page(routes::unmatched(r.method().as_str(), r.path(), &visit(&r)))
        }))
}

/// The library's cross-origin refusal, as the kit's page or line.
fn refusal<B>(response: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    if response.response().extensions().get::<FailureKind>() != Some(&FailureKind::CrossOrigin) {
        return Ok(ErrorHandlerResponse::Response(response.map_into_left_body()));
    }
    let (request, _) = response.into_parts();
    let page = Page(routes::refused(&visit(&request))).respond_to(&request);
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(request, page).map_into_right_body()))
}

/// Form bodies up to [`routes::BODY_LIMIT`] (actix reads 16 KiB by
/// default), a longer one answered with the kit's `413`: before it is
/// read when `Content-Length` says so, as soon as it passes the limit
/// when chunked.
fn form_config() -> FormConfig {
    FormConfig::default().limit(routes::BODY_LIMIT).error_handler(|error, request| match error {
        UrlencodedError::Overflow { .. } => {
            let answer = Page(routes::too_large(&visit(request))).respond_to(request);
            InternalError::from_response(error, answer).into()
        }
        error => error.into(),
    })
}

fn visit(request: &HttpRequest) -> Visit {
    Visit::from_headers(request.headers().iter().map(|(name, value)| (name.as_str(), value.as_bytes())))
}

async fn home(
    about: Data<About>,
    devices: Data<Devices>,
    sessions: Sessions,
    request: HttpRequest,
) -> Result<Page, SessionError> {
    let (session, prefs) = (sessions.default_session().await?, sessions.get(PREFS_SESSION).await?);
    reply(routes::home(&session, &prefs, &devices, &visit(&request), &about).await)
}

async fn devices(devices: Data<Devices>, session: Session) -> Result<Page, SessionError> {
    reply(routes::devices(&session, &devices).await)
}

async fn end_device(
    devices: Data<Devices>,
    session: Session,
    request: HttpRequest,
    form: Form<EndDeviceForm>,
) -> Result<Page, SessionError> {
    reply(routes::end_device(&session, &devices, &form, &visit(&request)).await)
}

async fn end_other_devices(
    devices: Data<Devices>,
    session: Session,
    request: HttpRequest,
) -> Result<Page, SessionError> {
    reply(routes::end_other_devices(&session, &devices, &visit(&request)).await)
}

async fn prefs_read(sessions: Sessions, request: HttpRequest) -> Result<Page, SessionError> {
    reply(routes::prefs_read(&*sessions.get(PREFS_SESSION).await?, &visit(&request)))
}

async fn prefs_set(sessions: Sessions, request: HttpRequest, form: Form<PrefsForm>) -> Result<Page, SessionError> {
    reply(routes::prefs_set(&*sessions.get(PREFS_SESSION).await?, &form, &visit(&request)))
}

async fn remove(sessions: Sessions, request: HttpRequest, form: Form<RemoveForm>) -> Result<Page, SessionError> {
    let (session, prefs) = (sessions.default_session().await?, sessions.get(PREFS_SESSION).await?);
    reply(routes::remove(&session, &prefs, &form, &visit(&request)))
}

async fn both(sessions: Sessions, request: HttpRequest) -> Result<Page, SessionError> {
    let (session, prefs) = (sessions.default_session().await?, sessions.get(PREFS_SESSION).await?);
    reply(routes::both(&session, &prefs, &visit(&request)))
}

/// A kit answer as an actix response.
struct Page(Answer);

fn reply(answer: Result<Answer, sessions_actix::Error>) -> Result<Page, SessionError> {
    Ok(Page(answer?))
}

impl Responder for Page {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _request: &HttpRequest) -> HttpResponse {
        let mut response =
            HttpResponse::build(StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        for (name, value) in self.0.headers() {
            response.append_header((name, value));
        }
        response.body(self.0.into_body())
    }
}

/// Serves the demo on `listener` until `shutdown` completes (or, with
/// `signals`, until the process is interrupted).
pub async fn serve(listener: std::net::TcpListener, demo: Demo, shutdown: Option<Shutdown>) -> std::io::Result<()> {
    let mut server = HttpServer::new(move || app(demo.clone()));
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
    demo_kit::spawn("actix", config, backend, runtime, |listener, demo, shutdown| serve(listener, demo, Some(shutdown)))
}
