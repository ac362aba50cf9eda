//! A Redis primary with replicas watched by three sentinels, all private
//! processes on loopback ports, to kill the primary and watch the
//! sentinels promote a replica.
//!
//! ```no_run
//! use std::time::Duration;
//! use sessions_testkit::sentinel::SentinelGroup;
//!
//! let mut group = SentinelGroup::start("sessions", 1);
//! let sentinels = group.sentinel_urls(); // connect a backend here
//! let old = group.primary_port();
//! group.kill_primary();
//! let new = group.wait_for_promotion(old, Duration::from_secs(30));
//! assert_ne!(new, old);
//! # let _ = sentinels;
//! ```

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis::{RedisProcess, free_port, random_hex};

/// How long a sentinel waits for an answer before it holds the primary
/// down: Redis's default is 30 s; a test wants seconds.
const DOWN_AFTER_MILLIS: u64 = 1500;

/// A primary, its replicas and three sentinels monitoring it under one
/// service name (quorum two); everything is killed when dropped.
#[derive(Debug)]
pub struct SentinelGroup {
    /// The service the sentinels monitor.
    pub service: String,
    /// The primary at the start, then the replicas.
    pub servers: Vec<RedisProcess>,
    sentinels: Vec<SentinelProcess>,
}

#[derive(Debug)]
struct SentinelProcess {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl Drop for SentinelProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl SentinelGroup {
    /// Starts a primary, `replicas` replicas of it and three sentinels,
    /// and waits until every replica has its first copy and every
    /// sentinel knows the replicas and the other sentinels: a failover
    /// can happen from then on.
    pub fn start(service: &str, replicas: usize) -> SentinelGroup {
        let primary = RedisProcess::builder().start();
        let mut servers = vec![primary];
        for _ in 0..replicas {
            servers.push(RedisProcess::builder().replica_of(servers[0].port).start());
        }
        let sentinels = (0..3).map(|_| SentinelProcess::start(service, servers[0].port)).collect();
        let group = SentinelGroup { service: service.to_owned(), servers, sentinels };
        group.wait_until_ready(replicas);
        group
    }

    /// The sentinels' URLs, `redis://127.0.0.1:<port>`.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(|s| format!("redis://127.0.0.1:{}", s.port)).collect()
    }

    /// The `redis+sentinel://` URL of the group: every sentinel and the
    /// service.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.sentinels.iter().map(|s| format!("127.0.0.1:{}", s.port)).collect();
        format!("redis+sentinel://{}/{}", hosts.join(","), self.service)
    }

    /// The port of the primary the first sentinel names now.
    pub fn primary_port(&self) -> u16 {
        let answer = self.sentinel_cli(0, &["sentinel", "get-master-addr-by-name", &self.service]);
        answer.lines().nth(1).and_then(|port| port.trim().parse().ok()).expect("the sentinel names a primary")
    }

    /// Kills the current primary (SIGKILL), as a crash would.
    pub fn kill_primary(&mut self) {
        let port = self.primary_port();
        let primary = self.servers.iter_mut().find(|s| s.port == port).expect("the primary is one of the group");
        primary.kill();
    }

    /// Cuts every replica off the primary, as a network partition
    /// between them would: the primary starts wanting a password its
    /// replicas do not have, and drops their links, so they copy nothing
    /// from then on. Clients already connected (the backend's, the
    /// sentinels') keep their sessions.
    pub fn cut_replication(&self) {
        let port = self.primary_port();
        let primary = self.servers.iter().find(|s| s.port == port).expect("the primary is one of the group");
        let password = random_hex();
        assert_eq!(primary.cli(&["config", "set", "requirepass", &password]).trim(), "OK");
        let mut command = Command::new("redis-cli");
        command.args(["-h", "127.0.0.1", "-p", &port.to_string(), "--no-auth-warning", "-a", &password]);
        let out = command.args(["client", "kill", "type", "replica"]).output().expect("run redis-cli");
        let dropped: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0);
        assert_eq!(dropped, self.servers.len() - 1, "every replica's link is dropped");
    }

    /// Waits until every sentinel names a primary other than the one on
    /// `old` and that server says it is a primary; returns its port.
    /// Panics after `within`.
    pub fn wait_for_promotion(&self, old: u16, within: Duration) -> u16 {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let named: Vec<u16> = (0..self.sentinels.len())
                .filter_map(|i| {
                    let answer = self.sentinel_cli(i, &["sentinel", "get-master-addr-by-name", &self.service]);
                    answer.lines().nth(1).and_then(|port| port.trim().parse().ok())
                })
                .collect();
            if named.len() == self.sentinels.len() && named.iter().all(|&port| port != old && port == named[0]) {
                let server = self.servers.iter().find(|s| s.port == named[0]).expect("a server of the group");
                if server.cli(&["role"]).starts_with("master") {
                    return named[0];
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the sentinels promoted no replica within {within:?}");
    }

    fn sentinel_cli(&self, index: usize, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.sentinels[index].port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_until_ready(&self, replicas: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let synced = self.servers[1..].iter().all(RedisProcess::replication_is_up);
            let known = (0..self.sentinels.len()).all(|i| {
                let state = self.sentinel_cli(i, &["sentinel", "master", &self.service]);
                field(&state, "num-other-sentinels") == Some(self.sentinels.len() - 1)
                    && field(&state, "num-slaves") == Some(replicas)
            });
            if synced && known {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the sentinel group did not come together within 30 s");
    }
}

/// A numeric field of `SENTINEL MASTER`'s answer, which redis-cli prints
/// as alternating lines of names and values.
fn field(answer: &str, name: &str) -> Option<usize> {
    let mut lines = answer.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line == name {
            return lines.next().and_then(|value| value.parse().ok());
        }
    }
    None
}

impl SentinelProcess {
    fn start(service: &str, primary: u16) -> SentinelProcess {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("sessions-sentinel-test-{}", random_hex()));
        std::fs::create_dir_all(&dir).expect("create a directory for the sentinel");
        // A sentinel rewrites its configuration file as it learns, so each
        // has its own.
        let config = dir.join("sentinel.conf");
        let text = format!(
            "port {port}\nbind 127.0.0.1\ndir {dir}\n\
             sentinel monitor {service} 127.0.0.1 {primary} 2\n\
             sentinel down-after-milliseconds {service} {DOWN_AFTER_MILLIS}\n\
             sentinel failover-timeout {service} 10000\n\
             sentinel parallel-syncs {service} 1\n",
            dir = dir.display()
        );
        std::fs::write(&config, text).expect("write the sentinel's configuration");
        let child = Command::new("redis-server")
            .arg(&config)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server --sentinel");
        let sentinel = SentinelProcess { port, dir, child };
        for _ in 0..100 {
            let out = Command::new("redis-cli").args(["-h", "127.0.0.1", "-p", &port.to_string(), "ping"]).output();
            if out.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "PONG") {
                return sentinel;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the sentinel on port {port} did not start");
    }
}
