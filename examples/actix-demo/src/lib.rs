//! The sessions demo app on actix-web: every route of the demo, configured
//! onto an `App` from a [`Registry`], so tests can run it in-process.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::web::{self, Form, Json, Query};
use actix_web::{App, HttpResponse, HttpServer};
use demo_config::{Background, Config, HomeView, PREFS_SESSION};
use serde::Deserialize;
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
        .route("/", web::get().to(home))
        .route("/counter", web::get().to(counter))
        .route("/peek", web::get().to(peek))
        .route("/flash", web::post().to(flash))
        .route("/flashes", web::get().to(flashes))
        .route("/login", web::post().to(login))
        .route("/me", web::get().to(me))
        .route("/logout", web::post().to(logout))
        .route("/remember", web::post().to(remember))
        .route("/kv", web::get().to(kv))
        .route("/prefs", web::get().to(prefs))
        .route("/both", web::get().to(both))
}

/// Serves the demo on `listener` until the process is stopped.
pub async fn serve(listener: std::net::TcpListener, registry: Registry) -> std::io::Result<()> {
    HttpServer::new(move || app(registry.clone())).listen(listener)?.run().await
}

/// Starts the demo on a background thread with its own actix system,
/// listening on `config.addr` (port 0 picks a free port); the main session
/// uses `backend` instead of opening the configured one when it is given.
pub fn spawn(config: &Config, backend: Option<Arc<dyn Backend>>) -> std::io::Result<Background> {
    let listener = std::net::TcpListener::bind(config.addr)?;
    let addr = listener.local_addr()?;
    let config = config.clone();
    let (started, start) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let registry = match backend {
                Some(backend) => config.registry_on(Some(backend)),
                None => config.registry().await,
            };
            let server = registry.map_err(std::io::Error::other).and_then(|registry| {
                Ok(HttpServer::new(move || app(registry.clone()))
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(0)
                    .listen(listener)?
                    .run())
            });
            match server {
                Ok(server) => {
                    let _ = started.send(Ok(server.handle()));
                    server.await
                }
                Err(err) => {
                    let _ = started.send(Err(err));
                    Ok(())
                }
            }
        })
    });
    let handle = start.recv().map_err(std::io::Error::other)??;
    Ok(Background::new(addr, move || {
        // `stop` sends its command at once; the returned future only
        // reports completion, which joining the thread waits for anyway.
        drop(handle.stop(false));
        let _ = thread.join();
    }))
}

async fn home(sessions: Sessions) -> Result<HttpResponse, SessionError> {
    let session = sessions.default_session().await?;
    let prefs = sessions.get(PREFS_SESSION).await?;
    let view = HomeView {
        count: session.get("count")?.unwrap_or(0),
        flashes: session.flashes()?,
        user: session.get("user")?,
        theme: prefs.get("theme")?,
    };
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(demo_config::home_page(&view)))
}

async fn counter(session: Session) -> Result<String, SessionError> {
    let count = session.get::<u64>("count")?.unwrap_or(0) + 1;
    session.insert("count", &count)?;
    Ok(count.to_string())
}

async fn peek(session: Session) -> Result<String, SessionError> {
    Ok(session.get::<u64>("count")?.unwrap_or(0).to_string())
}

#[derive(Deserialize)]
struct FlashForm {
    message: String,
}

async fn flash(session: Session, form: Form<FlashForm>) -> Result<HttpResponse, SessionError> {
    session.add_flash(&form.message)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn flashes(session: Session) -> Result<Json<Vec<String>>, SessionError> {
    Ok(Json(session.flashes()?))
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
}

async fn login(session: Session, form: Form<LoginForm>) -> Result<HttpResponse, SessionError> {
    session.cycle_id();
    session.insert("user", &form.user)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn me(session: Session) -> Result<HttpResponse, SessionError> {
    Ok(match session.get::<String>("user")? {
        Some(user) => HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(user),
        None => HttpResponse::Unauthorized().finish(),
    })
}

async fn logout(session: Session) -> HttpResponse {
    session.destroy();
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct RememberForm {
    on: String,
}

async fn remember(session: Session, form: Form<RememberForm>) -> HttpResponse {
    match form.on.as_str() {
        "1" => session.remember(true),
        "0" => session.remember(false),
        _ => return HttpResponse::new(StatusCode::UNPROCESSABLE_ENTITY),
    }
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct KvQuery {
    k: Option<String>,
    v: Option<String>,
}

async fn kv(session: Session, query: Query<KvQuery>) -> Result<HttpResponse, SessionError> {
    let query = query.into_inner();
    if let Some(key) = query.k {
        session.insert(&key, &query.v.unwrap_or_default())?;
        return Ok(HttpResponse::NoContent().finish());
    }
    // Values of other types fail to decode as a string and are left out.
    let strings: BTreeMap<String, String> =
        session.keys().into_iter().filter_map(|k| session.get::<String>(&k).ok().flatten().map(|v| (k, v))).collect();
    Ok(HttpResponse::Ok().json(strings))
}

#[derive(Deserialize)]
struct PrefsQuery {
    theme: Option<String>,
}

async fn prefs(sessions: Sessions, query: Query<PrefsQuery>) -> Result<String, SessionError> {
    let prefs = sessions.get(PREFS_SESSION).await?;
    if let Some(theme) = query.into_inner().theme {
        prefs.insert("theme", &theme)?;
        return Ok(theme);
    }
    Ok(prefs.get::<String>("theme")?.unwrap_or_default())
}

async fn both(sessions: Sessions) -> Result<HttpResponse, SessionError> {
    let count = sessions.default_session().await?.get::<u64>("count")?.unwrap_or(0);
    let theme = sessions.get(PREFS_SESSION).await?.get::<String>("theme")?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "count": count, "theme": theme })))
}
