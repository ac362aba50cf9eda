//! Running the benchmarks: one cargo command per step, its output logged.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The services of `.ci/run`, used when the environment names none.
const SERVICES: [(&str, &str); 3] = [
    ("SESSIONS_REDIS_URL", "redis://127.0.0.1:6379"),
    ("SESSIONS_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
    ("SESSIONS_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
];

/// A service's environment variable, its URL and whether anything answered
/// there.
pub(super) type Service = (&'static str, String, bool);

/// One step of the run and how it went.
pub(super) struct Step {
    pub(super) name: &'static str,
    pub(super) outcome: Result<(), String>,
    pub(super) took: Duration,
}

/// Runs every benchmark, in the order `mod.rs` lists them, each logged to
/// `target/sessions-bench/<step>.log`; returns how each step went and
/// which services answered.
pub(super) fn benchmarks(root: &Path, target: &Path, quick: bool) -> (Vec<Step>, Vec<Service>) {
    let mut steps = Vec::new();
    let services = service_urls();
    let criterion: &[&str] = if quick { &["--warm-up-time", "1", "--measurement-time", "2"] } else { &[] };
    let env: Vec<(String, String)> =
        services.iter().filter(|(_, _, up)| *up).map(|(var, url, _)| (var.to_string(), url.clone())).collect();
    let mode = if quick { "quick" } else { "full" };
    let bench = |package: &str, bench: &str, extra: &[&str]| {
        let mut args = vec!["bench", "-p", package, "--bench", bench, "--"];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let plan: Vec<(&'static str, Vec<String>)> = vec![
        ("codec round trip (sessions-core)", bench("sessions-core", "codec", criterion)),
        ("one session value (sessions-core values)", bench("sessions-core", "values", criterion)),
        ("per request in process (sessions-bench adapters)", bench("sessions-bench", "adapters", criterion)),
        (
            "allocations per request (sessions-core tests/per_request.rs)",
            ["test", "-p", "sessions-core", "--test", "per_request", "--", "--nocapture"].map(String::from).to_vec(),
        ),
        ("memory per session (sessions-bench footprint)", bench("sessions-bench", "footprint", &[])),
        ("Redis (sessions-bench redis)", bench("sessions-bench", "redis", criterion)),
        ("SQL (sessions-bench sql)", bench("sessions-bench", "sql", criterion)),
        ("HTTP over loopback (sessions-bench http)", bench("sessions-bench", "http", &[])),
    ];
    let begun = std::time::Instant::now();
    steps.push(Step { name: "load generator for HTTP (wrk)", outcome: ensure_wrk(), took: begun.elapsed() });
    for (name, args) in plan {
        let begun = std::time::Instant::now();
        eprintln!("xtask bench: {name}");
        let log = target.join("sessions-bench").join(format!("{}.log", slug(name)));
        let outcome = cargo_logged(root, &args, &env, &[("SESSIONS_BENCH", mode)], &log);
        if let Err(err) = &outcome {
            eprintln!("xtask bench: {name} failed: {err} (log: {})", log.display());
        }
        steps.push(Step { name, outcome, took: begun.elapsed() });
    }
    eprintln!("xtask bench: allocations of the axum twin beside tower-sessions (sessions-bench profile)");
    let begun = std::time::Instant::now();
    let outcome = profile_allocations(root, target);
    steps.push(Step {
        name: "allocations per request through axum (sessions-bench profile)",
        outcome,
        took: begun.elapsed(),
    });
    (steps, services)
}

/// `wrk` drives the HTTP benchmark. On a fresh Debian machine it is not
/// installed: install it with apt, as `.ci/run` installs the browser, so
/// that a clean checkout runs every benchmark.
fn ensure_wrk() -> Result<(), String> {
    let present = || Command::new("wrk").arg("--version").output().is_ok();
    if present() {
        return Ok(());
    }
    eprintln!("xtask bench: wrk is missing; installing it with apt-get");
    let install = |update: bool| {
        let mut script = String::from("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk");
        if update {
            script = format!("apt-get update -qq && {script}");
        }
        Command::new("sh").args(["-c", &script]).status().is_ok_and(|s| s.success())
    };
    if (install(false) || install(true)) && present() {
        Ok(())
    } else {
        Err("wrk is not installed and apt-get could not install it: the HTTP benchmark cannot run".into())
    }
}

fn slug(name: &str) -> String {
    name.split(' ').next().unwrap_or("step").to_lowercase().chars().filter(char::is_ascii_alphanumeric).collect()
}

pub(super) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

pub(super) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"))
}

/// Runs cargo with `args`, its output appended to `log`.
fn cargo_logged(
    root: &Path,
    args: &[String],
    env: &[(String, String)],
    extra_env: &[(&str, &str)],
    log: &Path,
) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let file = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let status = Command::new(cargo)
        .current_dir(root)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(extra_env.iter().copied())
        .stdout(file)
        .stderr(err)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`cargo {}` failed", args.join(" "))) }
}

/// Each service's URL (the environment's, or `.ci/run`'s default) and
/// whether anything answers at its address.
fn service_urls() -> Vec<Service> {
    SERVICES
        .iter()
        .map(|(var, default)| {
            let url = std::env::var(var).unwrap_or_else(|_| (*default).to_owned());
            let up = address_of(&url).is_some_and(|addr| {
                use std::net::ToSocketAddrs;
                addr.to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
            });
            (*var, url, up)
        })
        .collect()
}

/// `host:port` of a `scheme://[user@]host:port/...` URL.
fn address_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let host_port = rest.split('/').next()?;
    Some(host_port.to_owned())
}

pub(super) fn load_average() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg").ok().map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// The axum twin's allocations per request, ours beside tower-sessions.
fn profile_allocations(root: &Path, target: &Path) -> Result<(), String> {
    let log = target.join("sessions-bench").join("profile.log");
    cargo_logged(
        root,
        &["build", "--release", "-p", "sessions-bench", "--bin", "profile"].map(String::from),
        &[],
        &[],
        &log,
    )?;
    let binary = target.join("release").join("profile");
    let mut rows = Vec::new();
    for (store, kind) in [
        ("none", "rw"),
        ("memory", "rw"),
        ("memory", "ro"),
        ("cookie", "rw"),
        ("cookie", "ro"),
        ("tower", "rw"),
        ("tower", "ro"),
    ] {
        let output = Command::new(&binary).args(["axum", store, kind, "20000"]).output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&output.stderr);
        let allocations = text.split(": ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse::<f64>().ok());
        let reallocations =
            text.split(", ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse::<f64>().ok());
        rows.push(serde_json::json!({ "store": store, "request": kind, "allocations": allocations, "reallocations": reallocations }));
    }
    let path = target.join("sessions-bench").join("axum-allocations.json");
    std::fs::write(path, serde_json::to_string_pretty(&rows).unwrap_or_default()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::{address_of, slug};

    #[test]
    fn a_service_is_reached_at_the_host_and_port_of_its_url() {
        assert_eq!(address_of("redis://127.0.0.1:6379").as_deref(), Some("127.0.0.1:6379"));
        assert_eq!(address_of("postgres://postgres@127.0.0.1:5432/test").as_deref(), Some("127.0.0.1:5432"));
        assert_eq!(address_of("mysql://root:secret@db:3306/test").as_deref(), Some("db:3306"));
        assert_eq!(address_of("127.0.0.1:6379"), None);
    }

    #[test]
    fn a_step_is_logged_under_its_first_word() {
        // The results read the allocations from `allocations.log`.
        assert_eq!(slug("allocations per request (sessions-core tests/per_request.rs)"), "allocations");
        assert_eq!(slug("HTTP over loopback (sessions-bench http)"), "http");
    }
}
