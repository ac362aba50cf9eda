//! The sessions demo app on warp: the demo kit's routes as warp filters,
//! served wrapped by [`sessions_warp::wrap`], so tests can run it
//! in-process.
#![deny(missing_docs)]

use std::net::TcpListener;
use std::sync::Arc;

use demo_kit::routes::{self, FlashForm, KvQuery, LoginForm, PrefsQuery, RememberForm};
use demo_kit::{About, Answer, Background, Config, Demo, PREFS_SESSION, Visit};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use sessions_core::backend::Backend;
use sessions_warp::{Session, SessionError, Sessions, session, sessions};
use warp::Filter;
use warp::http::header::{HeaderMap, HeaderName, HeaderValue};
use warp::http::{Method, StatusCode};
use warp::reply::{Reply, Response};

type Page = Result<Answered, SessionError>;

/// The demo's routes as one filter, `about` shown by the home page; serve
/// it wrapped by [`sessions_warp::wrap`] (see [`serve`]).
pub fn routes(about: Arc<About>) -> warp::filters::BoxedFilter<(impl Reply,)> {
    let get = warp::get();
    let post = warp::post();
    let about = warp::any().map(move || Arc::clone(&about));
    let home = warp::path::end().and(get).and(sessions()).and(visit()).and(about).then(home);
    let counter = warp::path!("counter")
        .and(get)
        .and(session())
        .and(visit())
        .then(|s: Session, v: Visit| async move { reply(routes::counter(&s, &v)) });
    let peek = warp::path!("peek").and(get).and(session()).then(|s: Session| async move { reply(routes::peek(&s)) });
    let flash = warp::path!("flash")
        .and(post)
        .and(session())
        .and(visit())
        .and(warp::body::form())
        .then(|s: Session, v: Visit, f: FlashForm| async move { reply(routes::flash(&s, &f, &v)) });
    let flashes =
        warp::path!("flashes").and(get).and(session()).then(|s: Session| async move { reply(routes::flashes(&s)) });
    let login = warp::path!("login")
        .and(post)
        .and(session())
        .and(visit())
        .and(warp::body::form())
        .then(|s: Session, v: Visit, f: LoginForm| async move { reply(routes::login(&s, &f, &v)) });
    let me = warp::path!("me").and(get).and(session()).then(|s: Session| async move { reply(routes::me(&s)) });
    let logout = warp::path!("logout")
        .and(post)
        .and(session())
        .and(visit())
        .then(|s: Session, v: Visit| async move { reply(routes::logout(&s, &v)) });
    let remember = warp::path!("remember")
        .and(post)
        .and(session())
        .and(visit())
        .and(warp::body::form())
        .then(|s: Session, v: Visit, f: RememberForm| async move { reply(routes::remember(&s, &f, &v)) });
    let kv = warp::path!("kv")
        .and(get)
        .and(session())
        .and(visit())
        .and(warp::query())
        .then(|s: Session, v: Visit, q: KvQuery| async move { reply(routes::kv(&s, &q, &v)) });
    let prefs = warp::path!("prefs").and(get).and(sessions()).and(visit()).and(warp::query()).then(prefs);
    let both = warp::path!("both").and(get).and(sessions()).then(both);
    let favicon = warp::path!("favicon.ico").and(get).map(|| Ok(Answered(routes::favicon())));
    // Last: whatever no route above took, the same answer as in every demo.
    let unmatched = warp::method().and(warp::path::full()).and(visit()).map(
        |method: Method, path: warp::path::FullPath, v: Visit| {
            Ok(Answered(routes::unmatched(method.as_str(), path.as_str(), &v)))
        },
    );
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
        .or(favicon)
        .unify()
        .or(unmatched)
        .unify()
        .boxed()
}

/// The request's [`Visit`], as a filter.
fn visit() -> impl Filter<Extract = (Visit,), Error = std::convert::Infallible> + Clone {
    warp::header::headers_cloned().map(|headers: HeaderMap| visit_of(&headers))
}

fn visit_of(headers: &HeaderMap) -> Visit {
    Visit::from_headers(headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes())))
}

async fn home(sessions: Sessions, visit: Visit, about: Arc<About>) -> Page {
    let (session, prefs) = (sessions.default_session().await?, sessions.get(PREFS_SESSION).await?);
    reply(routes::home(&session, &prefs, &visit, &about))
}

async fn prefs(sessions: Sessions, visit: Visit, query: PrefsQuery) -> Page {
    reply(routes::prefs(&sessions.get(PREFS_SESSION).await?, &query, &visit))
}

async fn both(sessions: Sessions) -> Page {
    reply(routes::both(&sessions.default_session().await?, &sessions.get(PREFS_SESSION).await?))
}

/// A kit answer as a warp reply.
struct Answered(Answer);

fn reply(answer: sessions_core::Result<Answer>) -> Page {
    Ok(Answered(answer?))
}

impl Reply for Answered {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut headers = HeaderMap::new();
        for (name, value) in self.0.headers() {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.append(HeaderName::from_static(name), value);
            }
        }
        let mut response = Response::new(self.0.into_body().into());
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }
}

/// Serves the demo on `listener` until `shutdown` completes.
///
/// `warp::serve` takes filters only, and the sessions wrap the routes as a
/// service, so the connections are served with hyper-util, the server
/// `warp::serve` runs itself.
pub async fn serve(listener: TcpListener, demo: Demo, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = sessions_warp::wrap(warp::service(routes(demo.about)), demo.registry)
        .refuse_with(|headers: &HeaderMap| Answered(routes::refused(&visit_of(headers))));
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
    demo_kit::spawn("warp", config, backend, demo_kit::tokio_runtime, serve)
}
