//! Private `redis-server` processes for tests (feature `testing`): a
//! server a test can kill and restart, and a three-node cluster.
//!
//! Test support, not production code: every function panics when the
//! machine cannot run `redis-server`; call [`redis_tools_installed`] first.
//!
//! ```no_run
//! use sessions_redis::testing::RedisProcess;
//!
//! let mut server = RedisProcess::start(false);
//! let url = server.url(); // connect a backend here
//! server.kill(); // as a crash would
//! server.restart(); // same port, empty data
//! # let _ = url;
//! ```

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

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
        assert!(!sessions_core::testing::ci_requires_services(), "redis-server/redis-cli not installed, and CI=true");
        eprintln!("skipped: redis-server or redis-cli is not installed");
    }
    ok
}

pub(crate) fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("OS RNG");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
#[derive(Debug)]
pub struct RedisProcess {
    /// The loopback port it listens on.
    pub port: u16,
    dir: PathBuf,
    cluster: bool,
    child: Option<Child>,
}

impl RedisProcess {
    /// Starts a server on a free port and waits until it answers.
    pub fn start(cluster: bool) -> RedisProcess {
        let dir = std::env::temp_dir().join(format!("sessions-redis-test-{}", random_hex()));
        std::fs::create_dir_all(&dir).expect("create a directory for redis-server");
        let mut process = RedisProcess { port: free_port(), dir, cluster, child: None };
        process.restart();
        process
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port (after [`RedisProcess::kill`]).
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

    /// Runs `redis-cli` against this server and returns its output.
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
#[derive(Debug)]
pub struct RedisCluster {
    /// The three nodes.
    pub nodes: Vec<RedisProcess>,
}

impl RedisCluster {
    /// Starts three nodes and creates the cluster.
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

    /// The nodes' URLs.
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
