//! Private `redis-server` processes for tests: a
//! server a test can kill, freeze and restart, with a password, ACL users
//! or TLS ([`RedisProcess::builder`]), and a three-node cluster.
//!
//! Test support, not production code: every function panics when the
//! machine cannot run `redis-server`; call [`redis_tools_installed`] first.
//!
//! ```no_run
//! use sessions_testkit::redis::RedisProcess;
//!
//! let mut server = RedisProcess::start(false);
//! let url = server.url(); // connect a backend here
//! server.kill(); // as a crash would
//! server.restart(); // same port, empty data (keep it: `builder().durable()`)
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
    options: RedisProcessBuilder,
    child: Option<Child>,
}

/// How a [`RedisProcess`] is configured: durable, with a password, ACL
/// users, TLS. Every restart keeps the configuration (and, when durable,
/// the data).
///
/// ```no_run
/// use sessions_testkit::redis::RedisProcess;
///
/// let server = RedisProcess::builder().durable().password("s3cret").start();
/// let url = format!("redis://:s3cret@127.0.0.1:{}", server.port);
/// # let _ = url;
/// ```
#[derive(Debug, Clone, Default)]
pub struct RedisProcessBuilder {
    cluster: bool,
    durable: bool,
    password: Option<String>,
    users: Vec<Vec<String>>,
    tls: Option<TestCertificates>,
    maxmemory: Option<u64>,
    replica_of: Option<u16>,
    cluster_node_timeout: Option<u64>,
}

impl RedisProcessBuilder {
    /// A cluster-enabled node (for [`RedisCluster`]).
    pub fn cluster(mut self) -> Self {
        self.cluster = true;
        self
    }

    /// A cluster node that marks a peer failed after `millis` without an
    /// answer (Redis's default is 15 s), so that a failover in a test
    /// takes seconds.
    pub fn cluster_node_timeout(mut self, millis: u64) -> Self {
        self.cluster_node_timeout = Some(millis);
        self
    }

    /// A replica of the server on loopback `port` (`--replicaof`).
    pub fn replica_of(mut self, port: u16) -> Self {
        self.replica_of = Some(port);
        self
    }

    /// An append-only file synced on every write: after a kill and a
    /// restart, every write the server acknowledged is there again.
    pub fn durable(mut self) -> Self {
        self.durable = true;
        self
    }

    /// `requirepass`: the default user needs this password.
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }

    /// An ACL user: its name, then its rules, as in `ACL SETUSER`
    /// (`["app", "on", ">pw", "~app:*", "+@all"]`).
    pub fn acl_user(mut self, name_and_rules: &[&str]) -> Self {
        self.users.push(name_and_rules.iter().map(|s| (*s).to_owned()).collect());
        self
    }

    /// `maxmemory` of `bytes` with `maxmemory-policy noeviction`: once
    /// full, the server refuses writes with `OOM command not allowed` and
    /// still serves reads, as a store sized too small does.
    pub fn maxmemory(mut self, bytes: u64) -> Self {
        self.maxmemory = Some(bytes);
        self
    }

    /// Serves TLS only (`--port 0 --tls-port`), with these certificates;
    /// clients must present a certificate the CA signed.
    pub fn tls(mut self, certificates: &TestCertificates) -> Self {
        self.tls = Some(certificates.clone());
        self
    }

    /// Starts the server on a free port and waits until it answers.
    pub fn start(self) -> RedisProcess {
        let dir = std::env::temp_dir().join(format!("sessions-redis-test-{}", random_hex()));
        std::fs::create_dir_all(&dir).expect("create a directory for redis-server");
        let mut process = RedisProcess { port: free_port(), dir, options: self, child: None };
        process.restart();
        process
    }
}

impl RedisProcess {
    /// Starts a server on a free port and waits until it answers.
    pub fn start(cluster: bool) -> RedisProcess {
        let builder = RedisProcess::builder();
        if cluster { builder.cluster() } else { builder }.start()
    }

    /// Configures a server before starting it.
    pub fn builder() -> RedisProcessBuilder {
        RedisProcessBuilder::default()
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.options.tls.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port (after [`RedisProcess::kill`]).
    pub fn restart(&mut self) {
        let options = &self.options;
        let port = self.port.to_string();
        let mut command = Command::new("redis-server");
        command.args(["--bind", "127.0.0.1", "--save", ""]).arg("--dir").arg(&self.dir);
        if options.durable {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        match &options.tls {
            None => {
                command.args(["--port", &port]);
            }
            Some(certs) => {
                command.args(["--port", "0", "--tls-port", &port]);
                command.arg("--tls-cert-file").arg(certs.server_cert());
                command.arg("--tls-key-file").arg(certs.server_key());
                command.arg("--tls-ca-cert-file").arg(certs.ca_cert());
            }
        }
        if let Some(password) = &options.password {
            command.args(["--requirepass", password]);
        }
        for user in &options.users {
            command.arg("--user").args(user);
        }
        if let Some(bytes) = options.maxmemory {
            command.args(["--maxmemory", &bytes.to_string(), "--maxmemory-policy", "noeviction"]);
        }
        if options.cluster {
            command.args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]);
        }
        if let Some(millis) = options.cluster_node_timeout {
            command.args(["--cluster-node-timeout", &millis.to_string()]);
        }
        if let Some(primary) = options.replica_of {
            command.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
        }
        command.stdout(Stdio::null()).stderr(Stdio::null());
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

    /// True until [`kill`](Self::kill).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Stops the server (SIGSTOP) without closing its connections, as a
    /// server that hangs would: connections open, requests unanswered.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the server is running");
        let status = Command::new("kill").arg(signal).arg(child.id().to_string()).status().expect("run kill");
        assert!(status.success(), "kill {signal} {} failed", child.id());
    }

    /// Runs `redis-cli` against this server (over TLS with the client
    /// certificate when the server wants TLS) and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut command = Command::new("redis-cli");
        command.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(certs) = &self.options.tls {
            command.arg("--tls").arg("--cacert").arg(certs.ca_cert());
            command.arg("--cert").arg(certs.client_cert()).arg("--key").arg(certs.client_key());
        }
        if let Some(password) = &self.options.password {
            command.args(["--no-auth-warning", "-a", password]);
        }
        let out = command.args(args).output().expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// True when this server is a replica whose link to its primary is up
    /// and whose first full copy is done.
    pub fn replication_is_up(&self) -> bool {
        let info = self.cli(&["info", "replication"]);
        info.contains("master_link_status:up") && !info.contains("master_sync_in_progress:1")
    }

    fn wait_until_answering(&self) {
        for _ in 0..100 {
            // A server that wants a login it was not given still answers.
            let reply = self.cli(&["ping"]);
            if reply.trim() == "PONG" || reply.contains("NOAUTH") || reply.contains("NOPERM") {
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

/// True when the `openssl` command can be run, for
/// [`TestCertificates::generate`]; otherwise prints why the test is
/// skipped (or fails under `CI=true`).
pub fn openssl_installed() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(!sessions_core::testing::ci_requires_services(), "openssl not installed, and CI=true");
        eprintln!("skipped: openssl is not installed");
    }
    ok
}

/// A private certificate authority, a server certificate for
/// `127.0.0.1`/`localhost` and a client certificate, as PEM files made
/// with the `openssl` command in a directory removed when the last clone
/// is dropped.
#[derive(Debug, Clone)]
pub struct TestCertificates {
    dir: std::sync::Arc<CertificateDir>,
}

#[derive(Debug)]
struct CertificateDir(PathBuf);

impl Drop for CertificateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestCertificates {
    /// Makes the CA and the two certificates (P-256 keys, valid for two
    /// days). Panics when `openssl` fails; call [`openssl_installed`] first.
    pub fn generate() -> TestCertificates {
        let dir = std::env::temp_dir().join(format!("sessions-redis-certs-{}", random_hex()));
        std::fs::create_dir_all(&dir).expect("create a directory for certificates");
        let certificates = TestCertificates { dir: std::sync::Arc::new(CertificateDir(dir.clone())) };
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(&dir).output().expect("run openssl");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        let ca = ["-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=sessions test CA"];
        openssl(&[&["req", "-x509"][..], &key, &ca].concat());
        for (name, extension) in
            [("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"), ("client", "extendedKeyUsage=clientAuth")]
        {
            std::fs::write(dir.join(format!("{name}.ext")), format!("{extension}\n")).expect("write extension");
            let (csr, pem, ext) = (format!("{name}.csr"), format!("{name}.key"), format!("{name}.ext"));
            openssl(&[&["req"][..], &key, &["-keyout", &pem, "-out", &csr, "-subj", &format!("/CN={name}")]].concat());
            let cert = format!("{name}.crt");
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                &ext,
            ]);
        }
        certificates
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.0.join(name)
    }

    /// The CA certificate (PEM file).
    pub fn ca_cert(&self) -> PathBuf {
        self.file("ca.crt")
    }

    /// The server certificate (PEM file), for `127.0.0.1` and `localhost`.
    pub fn server_cert(&self) -> PathBuf {
        self.file("server.crt")
    }

    /// The server's private key (PEM file).
    pub fn server_key(&self) -> PathBuf {
        self.file("server.key")
    }

    /// The client certificate (PEM file).
    pub fn client_cert(&self) -> PathBuf {
        self.file("client.crt")
    }

    /// The client's private key (PEM file).
    pub fn client_key(&self) -> PathBuf {
        self.file("client.key")
    }
}

/// Cluster-enabled servers joined into one cluster with all 16384 slots
/// assigned over three primaries; torn down when dropped.
#[derive(Debug)]
pub struct RedisCluster {
    /// The three nodes.
    pub nodes: Vec<RedisProcess>,
}

impl RedisCluster {
    /// Starts three nodes and creates the cluster.
    pub fn start() -> RedisCluster {
        Self::create(RedisProcess::builder().cluster(), 0)
    }

    /// Starts three primaries with `replicas` replicas each, whose nodes
    /// mark a silent peer failed after one second: killing a primary makes
    /// a replica of it take over in seconds.
    pub fn start_with_replicas(replicas: usize) -> RedisCluster {
        Self::create(RedisProcess::builder().cluster().cluster_node_timeout(1000), replicas)
    }

    fn create(node: RedisProcessBuilder, replicas: usize) -> RedisCluster {
        let nodes: Vec<RedisProcess> = (0..3 * (1 + replicas)).map(|_| node.clone().start()).collect();
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
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

    /// A node that is a primary now, serving slots.
    pub fn a_primary(&mut self) -> &mut RedisProcess {
        let primary = self.nodes.iter().position(|n| n.cli(&["role"]).starts_with("master")).expect("a primary");
        &mut self.nodes[primary]
    }

    /// Waits until every node still running says the cluster is whole
    /// again and every replica copies its primary; panics after `within`.
    pub fn wait_until_healed(&self, within: Duration) {
        let running = || self.nodes.iter().filter(|n| n.is_running());
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if running().all(|n| n.cli(&["cluster", "info"]).contains("cluster_state:ok")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the test cluster did not heal within {within:?}");
    }

    fn wait_until_ok(&self) {
        for _ in 0..200 {
            let replicas_synced =
                self.nodes.iter().all(|n| !n.cli(&["role"]).starts_with("slave") || n.replication_is_up());
            if replicas_synced && self.nodes.iter().all(|n| n.cli(&["cluster", "info"]).contains("cluster_state:ok")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the test cluster never reached cluster_state:ok");
    }
}
