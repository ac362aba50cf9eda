//! Helpers shared by the Redis integration tests: service URLs from the
//! environment, and private `redis-server` processes on free ports.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The URL in `var`, or `None` after printing why the test is skipped.
/// Under `CI=true` a missing URL fails the test instead.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{var} is not set, and CI=true requires every service"
            );
            eprintln!("skipped: {var} is not set");
            None
        }
    }
}

/// True when `redis-server` and `redis-cli` can be run; otherwise prints
/// why the test is skipped (or fails under `CI=true`).
pub fn redis_tools_installed() -> bool {
    let ok = ["redis-server", "redis-cli"].iter().all(|tool| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "redis-server/redis-cli not installed, and CI=true");
        eprintln!("skipped: redis-server or redis-cli is not installed");
    }
    ok
}

fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A key prefix no other test uses.
pub fn unique_prefix(tag: &str) -> String {
    format!("test:{tag}:{}:", random_hex())
}

fn bindable(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A loopback port that is free now, whose cluster bus port (+10000) is
/// free too.
pub fn free_port() -> u16 {
    loop {
        let mut bytes = [0u8; 2];
        getrandom::fill(&mut bytes).unwrap();
        let port = 20_000 + u16::from_le_bytes(bytes) % 20_000;
        if bindable(port) && bindable(port + 10_000) {
            return port;
        }
    }
}

/// A `redis-server` this test owns, killed (and its directory removed)
/// when dropped.
pub struct RedisProcess {
    pub port: u16,
    dir: PathBuf,
    cluster: bool,
    child: Option<Child>,
}

impl RedisProcess {
    /// Starts a server on a free port and waits until it answers.
    pub fn start(cluster: bool) -> RedisProcess {
        let dir = std::env::temp_dir().join(format!("sessions-redis-test-{}", random_hex()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut process = RedisProcess { port: free_port(), dir, cluster, child: None };
        process.restart();
        process
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port (after [`kill`]).
    pub fn restart(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.cluster {
            command.args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]);
        }
        self.child = Some(command.spawn().expect("start redis-server"));
        self.wait_until_answering();
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_until_answering(&self) {
        for _ in 0..100 {
            if self.cli(&["ping"]).trim() == "PONG" {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on port {} did not start", self.port);
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three cluster-enabled servers joined into one cluster with all 16384
/// slots assigned; torn down when dropped.
pub struct RedisCluster {
    pub nodes: Vec<RedisProcess>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisProcess> = (0..3).map(|_| RedisProcess::start(true)).collect();
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("run redis-cli --cluster create");
        assert!(out.status.success(), "cluster create failed: {}", String::from_utf8_lossy(&out.stdout));
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok();
        cluster
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisProcess::url).collect()
    }

    fn wait_until_ok(&self) {
        for _ in 0..200 {
            if self.nodes.iter().all(|n| n.cli(&["cluster", "info"]).contains("cluster_state:ok")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the test cluster never reached cluster_state:ok");
    }
}
