//! What the tests share: a collection of their own on the shared server,
//! and private secantusdb servers for the tests that kill one.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sessions_core::testing::{ci_requires_services, service_url};
use sessions_mongodb::{MongoDbBackend, MongoDbBackendBuilder};

/// A collection name no other test uses.
pub fn unique_collection(tag: &str) -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sessions_test_{tag}_{hex}")
}

/// The shared server's URL, or `None` (the test is skipped) when
/// `SESSIONS_MONGODB_URL` is unset.
pub fn url() -> Option<String> {
    service_url("SESSIONS_MONGODB_URL")
}

/// A backend on a collection of its own on the shared server, made with
/// `builder`, its indexes made.
pub async fn connect_with(tag: &str, builder: MongoDbBackendBuilder) -> Option<MongoDbBackend> {
    let url = url()?;
    let backend = builder.collection(unique_collection(tag)).connect(&url).await.expect("connect");
    backend.create_indexes_if_missing().await.expect("indexes");
    Some(backend)
}

/// [`connect_with`] the default settings.
pub async fn connect(tag: &str) -> Option<MongoDbBackend> {
    connect_with(tag, MongoDbBackend::builder()).await
}

/// A loopback port that is free now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The secantusdb server program: `secantusd-py` on the `PATH`, or in the
/// virtual environment `.ci/run` makes at the top of the repository.
/// `None` (the test is skipped, or fails under `CI=true`) when neither.
pub fn server_program() -> Option<PathBuf> {
    let name = "secantusd-py";
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|dir| dir.join(name)).collect::<Vec<_>>())
        .unwrap_or_default();
    let in_repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/venv/bin").join(name);
    let found = on_path.into_iter().chain([in_repo]).find(|p| p.is_file());
    if found.is_none() {
        assert!(!ci_requires_services(), "{name} is not installed, and CI=true");
        eprintln!("skipped: {name} is not installed");
    }
    found
}

/// A secantusdb of the test's own on a free loopback port, in memory,
/// stopped when dropped.
pub struct ServerProcess {
    pub port: u16,
    program: PathBuf,
    child: Option<Child>,
}

impl ServerProcess {
    pub fn start(program: PathBuf) -> ServerProcess {
        let mut server = ServerProcess { port: free_port(), program, child: None };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("mongodb://127.0.0.1:{}/test?directConnection=true", self.port)
    }

    /// Kills the server, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new(&self.program)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string(), "--storage-path", ":memory:"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start secantusdb");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "secantusdb did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
