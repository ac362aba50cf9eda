//! The sessions demo app on warp: the demo kit's routes as warp filters,
//! served wrapped by [`sessions_warp::wrap`], so tests can run it
//! in-process.
#![deny(missing_docs)]

use std::net::TcpListener;
use std::sync::Arc;

use demo_kit::routes::{self, EndDeviceForm, FlashForm, KvForm, LoginForm, PrefsForm, RememberForm, RemoveForm};
use demo_kit::{About, Answer, Background, Config, Demo, Devices, PREFS_SESSION, SECURITY_HEADERS, Visit};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::de::DeserializeOwned;
use sessions_warp::backend::Backend;
use sessions_warp::{Session, SessionError, Sessions, session, sessions};
use tower_service::Service;
use warp::http::header::{CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue};
use warp::http::{Method, Request, StatusCode};
use warp::hyper::service::service_fn;
use warp::reply::{Reply, Response};
use warp::{Buf, Filter, Rejection, Stream};

type Page = Result<Answered, SessionError>;

/// The demo's routes as one filter, `about` shown by the home page; serve
/// it wrapped by [`sessions_warp::wrap`] (see [`serve`]). Form bodies are
/// read up to [`routes::BODY_LIMIT`] ([`form`]); every reply carries the
/// kit's [`SECURITY_HEADERS`].
pub fn routes(about: Arc<About>, devices: Devices) -> warp::filters::BoxedFilter<(impl Reply,)> {
    let get = warp::get();
    let post = warp::post();
    let about = warp::any().map(move || Arc::clone(&about));
    let devices = warp::any().map(move || devices.clone());
    let home = warp::path::end().and(get).and(sessions()).and(visit()).and(about).and(devices.clone()).then(home);
    let devices_list = warp::path!("devices")
        .and(get)
        .and(session())
        .and(devices.clone())
        .then(|s: Session, d: Devices| async move { reply(routes::devices(&s, &d).await) });
    let end_device =
        warp::path!("devices" / "end").and(post).and(session()).and(visit()).and(devices.clone()).and(form()).then(
            |s: Session, v: Visit, d: Devices, f: Result<EndDeviceForm, Answer>| async move {
                match f {
                    Ok(f) => reply(routes::end_device(&s, &d, &f, &v).await),
                    Err(refusal) => Ok(Answered(refusal)),
                }
            },
        );
    let end_other_devices = warp::path!("devices" / "end-others")
        .and(post)
        .and(session())
        .and(visit())
        .and(devices)
        .then(|s: Session, v: Visit, d: Devices| async move { reply(routes::end_other_devices(&s, &d, &v).await) });
    let counter = warp::path!("counter")
        .and(post)
        .and(session())
        .and(visit())
        .then(|s: Session, v: Visit| async move { reply(routes::counter(&s, &v)) });
    let peek = warp::path!("peek")
        .and(get)
        .and(session())
        .and(visit())
        .then(|s: Session, v: Visit| async move { reply(routes::peek(&s, &v)) });
    let flash = warp::path!("flash").and(post).and(session()).and(visit()).and(form()).then(
        |s: Session, v: Visit, f: Result<FlashForm, Answer>| async move { with_form(f, |f| routes::flash(&s, &f, &v)) },
    );
    let flashes =
        warp::path!("flashes").and(get).and(session()).then(|s: Session| async move { reply(routes::flashes(&s)) });
    let login = warp::path!("login").and(post).and(session()).and(visit()).and(form()).then(
        |s: Session, v: Visit, f: Result<LoginForm, Answer>| async move { with_form(f, |f| routes::login(&s, &f, &v)) },
    );
    let me = warp::path!("me")
        .and(get)
        .and(session())
        .and(visit())
        .then(|s: Session, v: Visit| async move { reply(routes::me(&s, &v)) });
    let logout = warp::path!("logout")
        .and(post)
        .and(session())
        .and(visit())
        .then(|s: Session, v: Visit| async move { reply(routes::logout(&s, &v)) });
    let remember = warp::path!("remember").and(post).and(session()).and(visit()).and(form()).then(
        |s: Session, v: Visit, f: Result<RememberForm, Answer>| async move {
            with_form(f, |f| routes::remember(&s, &f, &v))
        },
    );
    let kv_list =
        warp::path!("kv").and(get).and(session()).map(|s: Session| -> Page { Ok(Answered(routes::kv_list(&s))) });
    let kv_set = warp::path!("kv").and(post).and(session()).and(visit()).and(form()).then(
        |s: Session, v: Visit, f: Result<KvForm, Answer>| async move { with_form(f, |f| routes::kv_set(&s, &f, &v)) },
    );
    let remove = warp::path!("remove").and(post).and(sessions()).and(visit()).and(form()).then(remove);
    let prefs_read = warp::path!("prefs").and(get).and(sessions()).and(visit()).then(prefs_read);
    let prefs_set = warp::path!("prefs").and(post).and(sessions()).and(visit()).and(form()).then(prefs_set);
    let both = warp::path!("both").and(get).and(sessions()).and(visit()).then(both);
    let favicon = warp::path!("favicon.ico").and(get).map(|| -> Page { Ok(Answered(routes::favicon())) });
    // Last: whatever no route above took, the same answer as in every demo.
    let unmatched = warp::method().and(warp::path::full()).and(visit()).map(
        |method: Method, path: warp::path::FullPath, v: Visit| -> Page {
            Ok(Answered(routes::unmatched(method.as_str(), path.as_str(), &v)))
        },
    );
    // Each route is boxed before the routes are chained: a chain of
    // unboxed warp filters nests every route's type in the next, and
    // type-checking that took rustc minutes.
    let routes: [Route; 20] = [
        home.boxed(),
        counter.boxed(),
        peek.boxed(),
        flash.boxed(),
        flashes.boxed(),
        login.boxed(),
        me.boxed(),
        logout.boxed(),
        remember.boxed(),
        kv_list.boxed(),
        kv_set.boxed(),
        remove.boxed(),
        prefs_read.boxed(),
        prefs_set.boxed(),
        both.boxed(),
        devices_list.boxed(),
        end_device.boxed(),
        end_other_devices.boxed(),
        favicon.boxed(),
        // Last: it takes whatever the routes above did not.
        unmatched.boxed(),
    ];
    let [first, rest @ ..] = routes;
    rest.into_iter().fold(first, |all, route| all.or(route).unify().boxed())
}

/// One route of the demo, its type erased.
type Route = warp::filters::BoxedFilter<(Page,)>;

/// The request's form of type `T`, its body read up to
/// [`routes::BODY_LIMIT`]: the kit's `413` instead when `Content-Length`
/// says it is longer (nothing read) or once a chunked body passes the
/// limit (nothing more read), its `400` when the form does not parse.
///
/// `warp::body::form` reads a body of any length, and
/// `warp::body::content_length_limit` refuses every body without a
/// length; this filter bounds both and answers the refusal itself, so no
/// other route takes a refused request (it rejects only when the body was
/// already taken, which no route here does).
fn form<T: DeserializeOwned + Send + 'static>() -> impl Filter<Extract = (Result<T, Answer>,), Error = Rejection> + Clone
{
    warp::header::headers_cloned()
        .and(warp::method())
        .and(warp::path::full())
        .and(warp::body::stream())
        .then(read_form::<T, _, _>)
}

async fn read_form<T, S, B>(
    headers: HeaderMap,
    method: Method,
    path: warp::path::FullPath,
    body: S,
) -> Result<T, Answer>
where
    T: DeserializeOwned,
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let visit = visit_of(&headers);
    let refused = || routes::unmatched(method.as_str(), path.as_str(), &visit);
    let declared = headers.get(CONTENT_LENGTH).map(|v| v.to_str().ok().and_then(|v| v.parse::<u64>().ok()));
    match declared {
        Some(None) => return Err(refused()),
        Some(Some(length)) if length > routes::BODY_LIMIT as u64 => return Err(routes::too_large(&visit)),
        _ => {}
    }
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    while let Some(chunk) = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await {
        let Ok(mut chunk) = chunk else { return Err(refused()) };
        if bytes.len() + chunk.remaining() > routes::BODY_LIMIT {
            return Err(routes::too_large(&visit));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            bytes.extend_from_slice(part);
            let read = part.len();
            chunk.advance(read);
        }
    }
    serde_urlencoded::from_bytes(&bytes).map_err(|_| refused())
}

/// The handler's answer for a form that was read, the refusal otherwise.
fn with_form<T>(form: Result<T, Answer>, handler: impl FnOnce(T) -> Result<Answer, sessions_warp::Error>) -> Page {
    match form {
        Ok(form) => reply(handler(form)),
        Err(refusal) => Ok(Answered(refusal)),
    }
}

/// The request's [`Visit`], as a filter.
fn visit() -> impl Filter<Extract = (Visit,), Error = std::convert::Infallible> + Clone {
    warp::header::headers_cloned().map(|headers: HeaderMap| visit_of(&headers))
}

fn visit_of(headers: &HeaderMap) -> Visit {
    Visit::from_headers(headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes())))
}

async fn home(sessions: Sessions, visit: Visit, about: Arc<About>, devices: Devices) -> Page {
    let (session, prefs) = (sessions.default_session().await?, sessions.get(PREFS_SESSION).await?);
    reply(routes::home(&session, &prefs, &devices, &visit, &about).await)
}

async fn prefs_read(sessions: Sessions, visit: Visit) -> Page {
    reply(routes::prefs_read(&*sessions.get(PREFS_SESSION).await?, &visit))
}

async fn prefs_set(sessions: Sessions, visit: Visit, form: Result<PrefsForm, Answer>) -> Page {
    let form = match form {
        Ok(form) => form,
        Err(refusal) => return Ok(Answered(refusal)),
    };
    reply(routes::prefs_set(&*sessions.get(PREFS_SESSION).await?, &form, &visit))
}

async fn remove(sessions: Sessions, visit: Visit, form: Result<RemoveForm, Answer>) -> Page {
    let form = match form {
        Ok(form) => form,
        Err(refusal) => return Ok(Answered(refusal)),
    };
    let (session, prefs) = (sessions.default_session().await?, sessions.get(PREFS_SESSION).await?);
    reply(routes::remove(&session, &prefs, &form, &visit))
}

async fn both(sessions: Sessions, visit: Visit) -> Page {
    let (session, prefs) = (sessions.default_session().await?, sessions.get(PREFS_SESSION).await?);
    reply(routes::both(&session, &prefs, &visit))
}

/// A kit answer as a warp reply.
struct Answered(Answer);

fn reply(answer: Result<Answer, sessions_warp::Error>) -> Page {
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
    let app = sessions_warp::wrap(warp::service(routes(demo.about, demo.devices)), demo.registry)
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
        let app = app.clone();
        let service = service_fn(move |request| with_security_headers(app.clone(), request));
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Calls `app` and sets the kit's [`SECURITY_HEADERS`] on its response:
/// outside the session wrapper, so its own failure replies carry them too.
async fn with_security_headers<S, B>(mut app: S, request: Request<B>) -> Result<Response, S::Error>
where
    S: Service<Request<B>, Response = Response>,
{
    std::future::poll_fn(|cx| app.poll_ready(cx)).await?;
    let mut response = app.call(request).await?;
    for (name, value) in SECURITY_HEADERS {
        response.headers_mut().insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    Ok(response)
}

/// Starts the demo in the background (see [`demo_kit::spawn`]).
pub fn spawn(config: &Config, backend: Option<Arc<dyn Backend>>) -> std::io::Result<Background> {
    demo_kit::spawn("warp", config, backend, demo_kit::tokio_runtime, serve)
}
