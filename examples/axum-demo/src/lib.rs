//! The sessions demo app on axum: every route of the demo, as a router
//! built from a [`Registry`], so tests can run it in-process.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Query};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use demo_config::{Background, Config, HomeView, PREFS_SESSION};
use serde::Deserialize;
use sessions_axum::{Session, SessionError, SessionLayer, Sessions};
use sessions_core::Registry;
use sessions_core::backend::Backend;

/// The demo's routes behind a [`SessionLayer`] on `registry`.
pub fn app(registry: Registry) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/counter", get(counter))
        .route("/peek", get(peek))
        .route("/flash", post(flash))
        .route("/flashes", get(flashes))
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/remember", post(remember))
        .route("/kv", get(kv))
        .route("/prefs", get(prefs))
        .route("/both", get(both))
        .layer(SessionLayer::new(registry))
}

/// Serves the demo on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Registry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(registry)).with_graceful_shutdown(shutdown).await
}

/// Starts the demo on a background thread with its own runtime, listening
/// on `config.addr` (port 0 picks a free port); the main session uses
/// `backend` instead of opening the configured one when it is given.
pub fn spawn(config: &Config, backend: Option<Arc<dyn Backend>>) -> std::io::Result<Background> {
    let listener = std::net::TcpListener::bind(config.addr)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let config = config.clone();
    let (started, start) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // The runtime is built, used and dropped on the server's own thread:
    // callers may be inside a runtime of their own, where none of that is
    // allowed.
    let thread = std::thread::spawn(move || -> std::io::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        runtime.block_on(async move {
            let ready = async {
                let registry = match backend {
                    Some(backend) => config.registry_on(Some(backend)),
                    None => config.registry().await,
                };
                Ok::<_, std::io::Error>((
                    registry.map_err(std::io::Error::other)?,
                    tokio::net::TcpListener::from_std(listener)?,
                ))
            };
            match ready.await {
                Ok((registry, listener)) => {
                    let _ = started.send(Ok(()));
                    serve(listener, registry, async move {
                        let _ = stopped.await;
                    })
                    .await
                }
                Err(err) => {
                    let _ = started.send(Err(err));
                    Ok(())
                }
            }
        })
    });
    start.recv().map_err(std::io::Error::other)??;
    Ok(Background::new(addr, move || {
        let _ = stop.send(());
        let _ = thread.join();
    }))
}

async fn home(sessions: Sessions) -> Result<Html<String>, SessionError> {
    let session = sessions.default_session().await?;
    let prefs = sessions.get(PREFS_SESSION).await?;
    let view = HomeView {
        count: session.get("count")?.unwrap_or(0),
        flashes: session.flashes()?,
        user: session.get("user")?,
        theme: prefs.get("theme")?,
    };
    Ok(Html(demo_config::home_page(&view)))
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

async fn flash(session: Session, Form(form): Form<FlashForm>) -> Result<StatusCode, SessionError> {
    session.add_flash(&form.message)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn flashes(session: Session) -> Result<Json<Vec<String>>, SessionError> {
    Ok(Json(session.flashes()?))
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
}

async fn login(session: Session, Form(form): Form<LoginForm>) -> Result<StatusCode, SessionError> {
    session.cycle_id();
    session.insert("user", &form.user)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(session: Session) -> Result<Response, SessionError> {
    Ok(match session.get::<String>("user")? {
        Some(user) => user.into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    })
}

async fn logout(session: Session) -> StatusCode {
    session.destroy();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct RememberForm {
    on: String,
}

async fn remember(session: Session, Form(form): Form<RememberForm>) -> StatusCode {
    match form.on.as_str() {
        "1" => session.remember(true),
        "0" => session.remember(false),
        _ => return StatusCode::UNPROCESSABLE_ENTITY,
    }
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct KvQuery {
    k: Option<String>,
    v: Option<String>,
}

async fn kv(session: Session, Query(query): Query<KvQuery>) -> Result<Response, SessionError> {
    if let Some(key) = query.k {
        session.insert(&key, &query.v.unwrap_or_default())?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    // Values of other types fail to decode as a string and are left out.
    let strings: BTreeMap<String, String> =
        session.keys().into_iter().filter_map(|k| session.get::<String>(&k).ok().flatten().map(|v| (k, v))).collect();
    Ok(Json(strings).into_response())
}

#[derive(Deserialize)]
struct PrefsQuery {
    theme: Option<String>,
}

async fn prefs(sessions: Sessions, Query(query): Query<PrefsQuery>) -> Result<String, SessionError> {
    let prefs = sessions.get(PREFS_SESSION).await?;
    if let Some(theme) = query.theme {
        prefs.insert("theme", &theme)?;
        return Ok(theme);
    }
    Ok(prefs.get::<String>("theme")?.unwrap_or_default())
}

async fn both(sessions: Sessions) -> Result<Json<serde_json::Value>, SessionError> {
    let count = sessions.default_session().await?.get::<u64>("count")?.unwrap_or(0);
    let theme = sessions.get(PREFS_SESSION).await?.get::<String>("theme")?;
    Ok(Json(serde_json::json!({ "count": count, "theme": theme })))
}
