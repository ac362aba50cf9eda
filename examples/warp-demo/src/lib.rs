//! The sessions demo app on warp: the demo kit's routes as warp filters,
//! served wrapped by [`sessions_warp::wrap`], so tests can run it
//! in-process.
#![deny(missing_docs)]

use std::net::TcpListener;
use std::sync::Arc;

use demo_kit::routes::{self, FlashForm, KvQuery, LoginForm, PrefsQuery, RememberForm};
use demo_kit::{Answer, Background, Config, PREFS_SESSION};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use sessions_core::Registry;
use sessions_core::backend::Backend;
use sessions_warp::{Session, SessionError, Sessions, session, sessions};
use warp::Filter;
use warp::http::{StatusCode, header};
use warp::reply::{Reply, Response};

type Page = Result<Answered, SessionError>;

/// The demo's routes as one filter; serve it wrapped by
/// [`sessions_warp::wrap`] (see [`serve`]).
pub fn routes() -> warp::filters::BoxedFilter<(impl Reply,)> {
    let get = warp::get();
    let post = warp::post();
    let home = warp::path::end().and(get).and(sessions()).then(|s: Sessions| both_sessions(s, routes::home));
    let counter =
        warp::path!("counter").and(get).and(session()).then(|s: Session| async move { reply(routes::counter(&s)) });
    let peek = warp::path!("peek").and(get).and(session()).then(|s: Session| async move { reply(routes::peek(&s)) });
    let flash = warp::path!("flash")
        .and(post)
        .and(session())
        .and(warp::body::form())
        .then(|s: Session, f: FlashForm| async move { reply(routes::flash(&s, &f)) });
    let flashes =
        warp::path!("flashes").and(get).and(session()).then(|s: Session| async move { reply(routes::flashes(&s)) });
    let login = warp::path!("login")
        .and(post)
        .and(session())
        .and(warp::body::form())
        .then(|s: Session, f: LoginForm| async move { reply(routes::login(&s, &f)) });
    let me = warp::path!("me").and(get).and(session()).then(|s: Session| async move { reply(routes::me(&s)) });
    let logout =
        warp::path!("logout").and(post).and(session()).then(|s: Session| async move { reply(routes::logout(&s)) });
    let remember = warp::path!("remember")
        .and(post)
        .and(session())
        .and(warp::body::form())
        .then(|s: Session, f: RememberForm| async move { reply(routes::remember(&s, &f)) });
    let kv = warp::path!("kv")
        .and(get)
        .and(session())
        .and(warp::query())
        .then(|s: Session, q: KvQuery| async move { reply(routes::kv(&s, &q)) });
    let prefs = warp::path!("prefs").and(get).and(sessions()).and(warp::query()).then(prefs);
    let both = warp::path!("both").and(get).and(sessions()).then(|s: Sessions| both_sessions(s, routes::both));
    home.or(counter)
        .unify()
        .or(peek)
        .unify()
        .or(flash)
        .unify()
        .or(flashes)
        .unify()
        .or(login)
        .unify()
        .or(me)
        .unify()
        .or(logout)
        .unify()
        .or(remember)
        .unify()
        .or(kv)
        .unify()
        .or(prefs)
        .unify()
        .or(both)
        .unify()
        .boxed()
}

async fn prefs(sessions: Sessions, query: PrefsQuery) -> Page {
    reply(routes::prefs(&sessions.get(PREFS_SESSION).await?, &query))
}

async fn both_sessions(
    sessions: Sessions,
    body: fn(&sessions_core::Session, &sessions_core::Session) -> sessions_core::Result<Answer>,
) -> Page {
    reply(body(&sessions.default_session().await?, &sessions.get(PREFS_SESSION).await?))
}

/// A kit answer as a warp reply.
struct Answered(Answer);

fn reply(answer: sessions_core::Result<Answer>) -> Page {
    Ok(Answered(answer?))
}

impl Reply for Answered {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let content_type = self.0.content_type();
        let mut response = Response::new(self.0.into_body().into());
        *response.status_mut() = status;
        if let Some(content_type) = content_type {
            response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
        }
        response
    }
}

/// Serves the demo on `listener` until `shutdown` completes.
///
/// `warp::serve` takes filters only, and the sessions wrap the routes as a
/// service, so the connections are served with hyper-util, the server
/// `warp::serve` runs itself.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = sessions_warp::wrap(warp::service(routes()), registry);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors or a connection reset before it
                // was accepted: the next one may well succeed.
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    continue;
                }
            },
        };
        let app = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), app).await;
        });
    }
}

/// Starts the demo in the background (see [`demo_kit::spawn`]).
pub fn spawn(config: &Config, backend: Option<Arc<dyn Backend>>) -> std::io::Result<Background> {
    demo_kit::spawn(config, backend, demo_kit::tokio_runtime, serve)
}
