//! Requests per second over loopback, with `wrk`, of each framework's twin
//! app with a sessions store beside the same app without sessions.
//!
//! For each framework (axum, actix-web, Rocket, warp), each store (sealed
//! cookie, memory) and each request (`/ro` reads a counter, `/rw` reads and
//! writes it), the twin without sessions and the twin with them are run
//! alternately, a few rounds each, and the medians compared: the target
//! is that sessions take at most 10% off (a ratio of 0.90 or more).
//!
//! Every request carries one of 256 session cookies made beforehand, in
//! turn, so the memory store reads and writes many sessions rather than
//! one; the twin without sessions gets the same requests, byte for byte.
//! Each app serves on one worker thread and `wrk` drives it from one
//! thread with 16 connections.
//!
//! `SESSIONS_BENCH=quick` (2-second runs, 3 rounds) or `full` (default:
//! 5-second runs, 5 rounds). Needs `wrk` on the `PATH` (Debian: `apt-get
//! install wrk`); without it the benchmark says so and writes nothing.
//!
//! Writes `target/sessions-bench/http.json` for `cargo xtask bench`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sessions_bench::apps::{Framework, Sessions};

const COOKIES: usize = 256;
const CONNECTIONS: usize = 16;

/// A twin app running in a child process, killed when dropped.
struct Twin {
    child: Child,
    addr: SocketAddr,
}

impl Twin {
    fn start(framework: Framework, sessions: Sessions) -> Twin {
        let mut child = Command::new(env!("CARGO_BIN_EXE_twin"))
            .args([framework.name(), sessions.name()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the twin app");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("the twin's address");
        let addr: SocketAddr =
            line.trim().strip_prefix("listening on ").and_then(|a| a.parse().ok()).expect("listening on <address>");
        // Rocket binds its socket a moment after the address is chosen.
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "{} {} never listened", framework.name(), sessions.name());
            std::thread::sleep(Duration::from_millis(50));
        }
        Twin { child, addr }
    }
}

impl Drop for Twin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `GET path` on its own connection; returns the `name=value` of the
/// response's `Set-Cookie`, if any. A connection reset while an app is
/// still starting (Rocket binds its socket late) is tried again.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let exchange = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect(addr)?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    };
    let mut attempts = 0;
    let response = loop {
        match exchange() {
            Ok(response) if response.starts_with("HTTP/1.1 200") => break response,
            outcome if attempts < 10 => {
                attempts += 1;
                eprintln!("GET {path} on {addr}: {outcome:?}; trying again");
                std::thread::sleep(Duration::from_millis(100));
            }
            outcome => panic!("GET {path} on {addr}: {outcome:?}"),
        }
    };
    let head = response.split("\r\n\r\n").next().unwrap_or_default();
    head.lines()
        .find_map(|line| line.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie")))
        .map(|(_, value)| sessions_bench::cookie_pair(value.trim()))
}

/// A wrk script that sends `path` with each cookie in turn.
fn script(cookies: &[String], path: &str) -> std::path::PathBuf {
    let list: Vec<String> = cookies.iter().map(|c| format!("  {c:?},")).collect();
    let lua = format!(
        "local cookies = {{\n{}\n}}\nlocal i = 0\nrequest = function()\n  i = i % #cookies + 1\n  return wrk.format(\"GET\", {path:?}, {{ [\"Cookie\"] = cookies[i] }})\nend\n",
        list.join("\n")
    );
    let path = std::env::temp_dir().join(format!(
        "sessions-bench-{}-{}.lua",
        std::process::id(),
        path.trim_start_matches('/')
    ));
    std::fs::write(&path, lua).expect("write the wrk script");
    path
}

/// Requests per second of one wrk run.
fn wrk(addr: SocketAddr, script: &std::path::Path, seconds: u64) -> f64 {
    let output = Command::new("wrk")
        .args(["-t1", &format!("-c{CONNECTIONS}"), &format!("-d{seconds}s"), "-s"])
        .arg(script)
        .arg(format!("http://{addr}"))
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&output.stdout);
    let errors = text.lines().find(|l| l.contains("Non-2xx") || l.contains("Socket errors"));
    assert!(errors.is_none(), "wrk saw errors: {text}");
    text.lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output: {text}"))
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) { (sorted[mid - 1] + sorted[mid]) / 2.0 } else { sorted[mid] }
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("skipped: wrk is not installed (Debian: apt-get install wrk)");
        return;
    }
    let quick = std::env::var("SESSIONS_BENCH").is_ok_and(|mode| mode == "quick");
    let (seconds, rounds) = if quick { (2, 3) } else { (5, 5) };
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut rows = Vec::new();
    for framework in Framework::ALL {
        if filter.as_deref().is_some_and(|f| !framework.name().contains(f)) {
            continue;
        }
        let floor = Twin::start(framework, Sessions::None);
        for sessions in [Sessions::Cookie, Sessions::Memory] {
            let twin = Twin::start(framework, sessions);
            let cookies: Vec<String> =
                (0..COOKIES).map(|_| get(twin.addr, "/rw").expect("a first request sets a cookie")).collect();
            for path in ["/ro", "/rw"] {
                let script = script(&cookies, path);
                let (mut without, mut with) = (Vec::new(), Vec::new());
                for _ in 0..rounds {
                    without.push(wrk(floor.addr, &script, seconds));
                    with.push(wrk(twin.addr, &script, seconds));
                }
                let _ = std::fs::remove_file(&script);
                let (m_without, m_with) = (median(&without), median(&with));
                eprintln!(
                    "{:<6} {:<6} {}: without sessions {:>8.0} req/s, with {:>8.0} req/s: {:.3} of the requests per second",
                    framework.name(),
                    sessions.name(),
                    path,
                    m_without,
                    m_with,
                    m_with / m_without
                );
                rows.push(serde_json::json!({
                    "framework": framework.name(),
                    "store": sessions.name(),
                    "request": path.trim_start_matches('/'),
                    "seconds": seconds,
                    "connections": CONNECTIONS,
                    "rps_without": without,
                    "rps_with": with,
                    "median_without": m_without,
                    "median_with": m_with,
                    "ratio": m_with / m_without,
                }));
            }
        }
    }
    let dir = sessions_bench::results_dir();
    std::fs::create_dir_all(&dir).expect("results directory");
    let path = dir.join("http.json");
    std::fs::write(&path, serde_json::to_string_pretty(&rows).expect("json")).expect("write results");
    eprintln!("wrote {}", path.display());
}
