//! Starting a demo: its `main`, and in-process servers for tests.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;

use sessions_core::Registry;
use sessions_core::backend::Backend;

use crate::about::About;
use crate::config::Config;
use crate::devices::Devices;

/// Resolves when a demo started by [`spawn`] should stop.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A future a runtime drives to completion on the server's own thread.
pub type Task = Pin<Box<dyn Future<Output = ()>>>;

/// Prints the library's events to standard error, filtered by `RUST_LOG`
/// (default `info`: id cycles, logouts and storage errors; `debug` adds
/// created sessions and refused cookies with their reason).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// What a demo serves: its sessions, and what its page says about them.
///
/// Each demo hands the registry to its framework's session middleware and
/// makes `about` and `devices` reachable from the handlers that need them
/// (the framework's state: axum's `State`, actix's `Data`, rocket's
/// `manage`, a warp filter).
#[derive(Debug, Clone)]
pub struct Demo {
    /// The sessions: `id` on the configured store, `prefs` in its own cookie.
    pub registry: Registry,
    /// The settings as the page shows them.
    pub about: Arc<About>,
    /// The user's sessions on the main store, for the page and the
    /// `/devices` routes.
    pub devices: Devices,
}

/// The whole `main` of the demo on `framework` (its binary is
/// `demo-<framework>`): logging, the environment, the stores, the
/// listener and what a person needs to know at start-up, then `serve`
/// until it returns. Errors are printed, never panicked.
pub async fn main<S, F>(framework: &str, serve: S) -> ExitCode
where
    S: FnOnce(TcpListener, Demo) -> F,
    F: Future<Output = io::Result<()>>,
{
    init_logging();
    let name = format!("demo-{framework}");
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{name}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let about = Arc::new(About::new(framework, &config));
    let result = async {
        let (registry, devices) = config.sessions().await.map_err(|e| e.to_string())?;
        let listener = TcpListener::bind(config.addr).map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        eprint!("{name}: {}", about.startup(addr));
        serve(listener, Demo { registry, about, devices }).await.map_err(|e| e.to_string())
    };
    match result.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{name}: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `task` on a multi-threaded tokio runtime of two workers: the
/// `runtime` argument of [`spawn`] for every demo but actix-web's.
pub fn tokio_runtime(task: Task) -> io::Result<()> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?.block_on(task);
    Ok(())
}

/// Starts the demo on `framework` on a background thread, listening on
/// `config.addr` (port 0 picks a free port), for tests; the main session
/// uses `backend` instead of opening the configured one when it is given.
///
/// `runtime` drives the server's future on that thread ([`tokio_runtime`],
/// or actix's `System`); `serve` serves the [`Demo`] on the listener
/// (already non-blocking) until the shutdown future resolves, which it
/// does when the returned [`Background`] is dropped.
pub fn spawn<R, S, F>(
    framework: &str,
    config: &Config,
    backend: Option<Arc<dyn Backend>>,
    runtime: R,
    serve: S,
) -> io::Result<Background>
where
    R: FnOnce(Task) -> io::Result<()> + Send + 'static,
    S: FnOnce(TcpListener, Demo, Shutdown) -> F + Send + 'static,
    F: Future<Output = io::Result<()>> + 'static,
{
    let listener = TcpListener::bind(config.addr)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let about = Arc::new(About::new(framework, config));
    let config = config.clone();
    let (started, start) = std::sync::mpsc::channel::<io::Result<()>>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // The runtime is built, used and dropped on the server's own thread:
    // callers may be inside a runtime of their own, where none of that is
    // allowed.
    let thread = std::thread::spawn(move || {
        let task = Box::pin(async move {
            let sessions = match backend {
                Some(backend) => config.sessions_on(Some(backend)),
                None => config.sessions().await,
            };
            match sessions {
                Ok((registry, devices)) => {
                    let _ = started.send(Ok(()));
                    let shutdown: Shutdown = Box::pin(async move {
                        let _ = stopped.await;
                    });
                    if let Err(err) = serve(listener, Demo { registry, about, devices }, shutdown).await {
                        tracing::error!(error = %err, "the demo server stopped with an error");
                    }
                }
                Err(err) => {
                    let _ = started.send(Err(io::Error::other(err)));
                }
            }
        });
        // A runtime that cannot be built drops the task unstarted, which
        // the caller sees as a closed channel.
        if let Err(err) = runtime(task) {
            tracing::error!(error = %err, "the demo's runtime could not start");
        }
    });
    start.recv().map_err(|_| io::Error::other("the demo's runtime could not start"))??;
    Ok(Background::new(addr, move || {
        let _ = stop.send(());
        let _ = thread.join();
    }))
}

/// Waits, for at most ten seconds, until an HTTP server answers at
/// `addr`: for servers that bind their own socket after start-up (rocket
/// 0.5 does). A bare connect is not enough: until the server binds, the
/// socket that chose the port may still take connections, and reset them.
pub fn wait_until_serving(addr: SocketAddr) -> io::Result<()> {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    let probe = || -> io::Result<bool> {
        let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
        stream.set_read_timeout(Some(Duration::from_millis(500)))?;
        stream.write_all(b"GET /favicon.ico HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")?;
        let mut head = [0u8; 5];
        stream.read_exact(&mut head)?;
        Ok(&head == b"HTTP/")
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match probe() {
            Ok(true) => return Ok(()),
            Ok(false) => return Err(io::Error::other(format!("something that is not HTTP answers at {addr}"))),
            Err(err) if Instant::now() > deadline => return Err(err),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// How a demo starts in the background: its crate's `spawn`.
pub type Spawn = fn(&Config, Option<Arc<dyn Backend>>) -> io::Result<Background>;

/// Starts a demo with `spawn` as its binary would with the environment
/// `vars`, for the test suites. A memory store keeps one backend for the
/// whole test process, so that a restarted app (a key rotation) finds its
/// sessions as a reload of the real binary would on a shared store.
pub fn launch(vars: Vec<(String, String)>, spawn: Spawn) -> Result<Background, String> {
    static MEMORY: std::sync::OnceLock<Arc<dyn Backend>> = std::sync::OnceLock::new();
    let config = Config::from_vars(vars).map_err(|e| e.to_string())?;
    let backend = (config.store == crate::StoreSpec::Memory)
        .then(|| Arc::clone(MEMORY.get_or_init(|| Arc::new(sessions_core::backend::MemoryBackend::new()))));
    spawn(&config, backend).map_err(|e| e.to_string())
}

/// A demo server running on a background thread, stopped when dropped.
///
/// Each demo's `spawn` returns one, so tests can start and restart apps
/// in-process on a free port.
pub struct Background {
    /// Where the server listens.
    pub addr: SocketAddr,
    stop: Option<Box<dyn FnOnce() + Send>>,
}

impl Background {
    /// A server at `addr` that `stop` shuts down (and waits for).
    pub fn new(addr: SocketAddr, stop: impl FnOnce() + Send + 'static) -> Background {
        Background { addr, stop: Some(Box::new(stop)) }
    }
}

impl fmt::Debug for Background {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Background").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
    }
}
