//! A private PostgreSQL cluster for tests: made with
//! `initdb` in a temporary directory, served on a free loopback port,
//! stopped and started again by the test, and removed when dropped. The
//! shared service (port 5432) is never touched.
//!
//! Test support, not production code: every function panics when the
//! machine cannot run PostgreSQL; call [`postgres_tools_installed`] first.
//!
//! ```no_run
//! use sessions_testkit::postgres::PostgresProcess;
//!
//! let mut server = PostgresProcess::start();
//! let url = server.url(); // connect a backend here
//! server.stop(); // a clean shutdown: clients are disconnected
//! server.restart(); // same port, same data
//! # let _ = url;
//! ```

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The account the server runs as when the tests run as root (`initdb`
/// and `postgres` refuse to run as root).
const SERVICE_USER: &str = "postgres";

/// The directory holding `initdb` and `pg_ctl`: the one on the `PATH`,
/// else the newest `/usr/lib/postgresql/<version>/bin` (Debian keeps them
/// off the `PATH`).
fn bin_dir() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// True when `initdb` and `pg_ctl` are installed (and, when the tests run
/// as root, `runuser` and the `postgres` account to run them as);
/// otherwise prints why the test is skipped (or fails under `CI=true`).
pub fn postgres_tools_installed() -> bool {
    let missing = match bin_dir() {
        None => Some("initdb/pg_ctl not found on the PATH or in /usr/lib/postgresql/*/bin"),
        Some(_) if running_as_root() && service_user_ids().is_none() => {
            Some("running as root, and there is no `postgres` account to run the server as")
        }
        Some(_) => None,
    };
    if let Some(why) = missing {
        assert!(!sessions_core::testing::ci_requires_services(), "{why}, and CI=true");
        eprintln!("skipped: {why}");
        return false;
    }
    true
}

/// The uid and gid of [`SERVICE_USER`], from `/etc/passwd`.
fn service_user_ids() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next() != Some(SERVICE_USER) {
            return None;
        }
        let mut ids = fields.skip(1).map(str::parse::<u32>);
        Some((ids.next()?.ok()?, ids.next()?.ok()?))
    })
}

fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("OS RNG");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr()).expect("a free loopback port").port()
}

/// A PostgreSQL cluster this test owns: stopped at once (and its
/// directory removed) when dropped.
#[derive(Debug)]
pub struct PostgresProcess {
    /// The loopback port it listens on.
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    running: bool,
}

impl PostgresProcess {
    /// Creates a cluster (trust authentication for `postgres` on
    /// loopback), starts it on a free port and waits until it accepts
    /// connections.
    pub fn start() -> PostgresProcess {
        let bin = bin_dir().expect("initdb and pg_ctl are installed (check postgres_tools_installed)");
        let dir = std::env::temp_dir().join(format!("sessions-sql-test-{}", random_hex()));
        std::fs::create_dir_all(&dir).expect("create a directory for the cluster");
        if running_as_root() {
            let (uid, gid) = service_user_ids().expect("a postgres account");
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("hand the directory to postgres");
        }
        let mut process = PostgresProcess { port: free_port(), dir, bin, running: false };
        let data = process.data_dir();
        process.run(
            "initdb",
            &["-D", path_str(&data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions"],
        );
        process.restart();
        process
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) on the same port with the same data, and
    /// waits until it accepts connections.
    pub fn restart(&mut self) {
        let data = self.data_dir();
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -k {}", self.port, path_str(&self.dir));
        let log = self.dir.join("server.log");
        self.run("pg_ctl", &["-D", path_str(&data), "-o", &options, "-l", path_str(&log), "-w", "start"]);
        self.running = true;
    }

    /// Stops the server the way an administrator does (`pg_ctl stop -m
    /// fast`): open sessions are ended, committed work is kept.
    pub fn stop(&mut self) {
        self.stop_with("fast");
    }

    /// Stops the server at once, as a crash would (`-m immediate`);
    /// committed work is recovered from the write-ahead log on restart.
    pub fn kill(&mut self) {
        self.stop_with("immediate");
    }

    fn stop_with(&mut self, mode: &str) {
        if self.running {
            let data = self.data_dir();
            self.run("pg_ctl", &["-D", path_str(&data), "-m", mode, "-w", "stop"]);
            self.running = false;
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A PostgreSQL tool, run as the `postgres` account when we are root.
    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let program = self.bin.join(tool);
        let mut command = if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", SERVICE_USER, "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        command.args(args).stdin(Stdio::null());
        command
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool, args).output().unwrap_or_else(|e| panic!("run {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

impl Drop for PostgresProcess {
    fn drop(&mut self) {
        if self.running {
            let data = self.data_dir();
            // No panic here: a drop may run while a failed test unwinds.
            let stop = ["-D", data.to_str().unwrap_or_default(), "-m", "immediate", "-w", "stop"];
            let _ = self.command("pg_ctl", &stop).stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
