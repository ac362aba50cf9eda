//! Private memcached processes for the tests that kill a server or fill
//! one, and a server that accepts connections but never answers.

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A key prefix no other test uses.
pub fn unique_prefix(tag: &str) -> String {
    format!("test:{tag}:{}:", random_hex())
}

pub fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// True when `memcached` can be run; otherwise prints why the test is
/// skipped (or fails under `CI=true`).
pub fn memcached_installed() -> bool {
    let ok = Command::new("memcached")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(!sessions_core::testing::ci_requires_services(), "memcached is not installed, and CI=true");
        eprintln!("skipped: memcached is not installed");
    }
    ok
}

/// A loopback port that is free now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A memcached of the test's own on a free loopback port, stopped when
/// dropped.
pub struct MemcachedProcess {
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl MemcachedProcess {
    /// Starts `memcached` with `megabytes` of memory and extra `args`.
    pub fn start(megabytes: u32, args: &[&str]) -> MemcachedProcess {
        let mut server =
            MemcachedProcess { port: free_port(), args: args.iter().map(|a| (*a).to_owned()).collect(), child: None };
        server.args.extend(["-m".into(), megabytes.to_string()]);
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("memcache://127.0.0.1:{}", self.port)
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
        let child = Command::new("memcached")
            .args(["-l", "127.0.0.1", "-p", &self.port.to_string(), "-U", "0", "-u", "nobody"])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start memcached");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "memcached did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for MemcachedProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A server that accepts connections and never answers: the address of a
/// listener whose connections are held open, on a thread of its own.
pub fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten().take(64) {
            held.push(stream);
        }
    });
    format!("memcache://{address}")
}

/// Sends raw protocol lines to `url`'s server and returns its first answer
/// line.
pub async fn raw(url: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let address = url.trim_start_matches("memcache://");
    let mut stream = BufReader::new(tokio::net::TcpStream::connect(address).await.unwrap());
    stream.get_mut().write_all(request).await.unwrap();
    let mut line = String::new();
    stream.read_line(&mut line).await.unwrap();
    line.trim_end().to_owned()
}
