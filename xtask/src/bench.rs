//! `cargo xtask bench [--quick] [--report-only]`: runs every benchmark of
//! issue 12 and writes `docs/benchmarks.md` and `docs/benchmarks.svg`.
//!
//! The benchmarks, in order:
//! - `sessions-core`'s `codec` (sealed and signed round trips beside
//!   cookie's `PrivateJar` and `SignedJar`);
//! - `sessions-core`'s `values` (one value inserted and read back, beside
//!   bincode alone);
//! - `sessions-bench`'s `adapters` (one in-process request through each
//!   adapter, floors and peers in one run);
//! - the allocations per request pinned by `sessions-core`'s
//!   `tests/per_request.rs`, and those of the axum twin beside
//!   tower-sessions (`sessions-bench`'s `profile`);
//! - `sessions-bench`'s `footprint` (memory per session);
//! - `sessions-bench`'s `redis` and `sql` (timings, and
//!   round trips per request counted through a relay), on the services
//!   named by `SESSIONS_REDIS_URL`, `SESSIONS_POSTGRES_URL` and
//!   `SESSIONS_MYSQL_URL` (the local defaults of `.ci/run` when unset;
//!   skipped, and said so, when nothing answers);
//! - `sessions-bench`'s `http` (requests per second with `wrk`).
//!
//! `--quick` shortens every measurement for a smoke run; the default full
//! mode is what `docs/benchmarks.md` should be published from.
//! `--report-only` writes the report from the results already in `target/`.
//!
//! Criterion's numbers are read from `target/criterion/**/new/estimates.json`
//! (median and its 95% confidence interval); the others from
//! `target/sessions-bench/*.json`. Only results written by this run are
//! reported (unless `--report-only`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// The services of `.ci/run`, used when the environment names none.
const SERVICES: [(&str, &str); 3] = [
    ("SESSIONS_REDIS_URL", "redis://127.0.0.1:6379"),
    ("SESSIONS_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
    ("SESSIONS_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
];

/// One step of the run and how it went.
struct Step {
    name: &'static str,
    outcome: Result<(), String>,
    took: Duration,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let report_only = args.iter().any(|a| a == "--report-only");
    if let Some(unknown) = args.iter().find(|a| !["--quick", "--report-only"].contains(&a.as_str())) {
        return Err(format!("unknown option {unknown}; usage: cargo xtask bench [--quick] [--report-only]"));
    }
    let root = workspace_root();
    let target = target_dir(&root);
    let started = SystemTime::now();
    let load_before = load_average();
    let mut steps = Vec::new();
    let mut services = Vec::new();
    if !report_only {
        services = service_urls();
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
                ["test", "-p", "sessions-core", "--test", "per_request", "--", "--nocapture"]
                    .map(String::from)
                    .to_vec(),
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
            let outcome = cargo_logged(&root, &args, &env, &[("SESSIONS_BENCH", mode)], &log);
            if let Err(err) = &outcome {
                eprintln!("xtask bench: {name} failed: {err} (log: {})", log.display());
            }
            steps.push(Step { name, outcome, took: begun.elapsed() });
        }
        eprintln!("xtask bench: allocations of the axum twin beside tower-sessions (sessions-bench profile)");
        let begun = std::time::Instant::now();
        let outcome = profile_allocations(&root, &target);
        steps.push(Step {
            name: "allocations per request through axum (sessions-bench profile)",
            outcome,
            took: begun.elapsed(),
        });
    }
    let load_after = load_average();
    let since = if report_only { SystemTime::UNIX_EPOCH } else { started };
    let results = Results::read(&target, since);
    let run = RunInfo { quick, report_only, load_before, load_after, steps, services };
    let markdown = report(&root, &results, &run);
    let svg = chart(&results);
    std::fs::write(root.join("docs/benchmarks.md"), markdown).map_err(|e| format!("write docs/benchmarks.md: {e}"))?;
    std::fs::write(root.join("docs/benchmarks.svg"), svg).map_err(|e| format!("write docs/benchmarks.svg: {e}"))?;
    eprintln!("xtask bench: wrote docs/benchmarks.md and docs/benchmarks.svg");
    Ok(())
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

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn target_dir(root: &Path) -> PathBuf {
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
fn service_urls() -> Vec<(&'static str, String, bool)> {
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

fn load_average() -> Option<String> {
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

struct RunInfo {
    quick: bool,
    report_only: bool,
    load_before: Option<String>,
    load_after: Option<String>,
    steps: Vec<Step>,
    services: Vec<(&'static str, String, bool)>,
}

/// A criterion median with its 95% confidence interval, in nanoseconds.
#[derive(Clone, Copy)]
struct Estimate {
    median: f64,
    low: f64,
    high: f64,
}

/// Everything a run left in `target/`.
struct Results {
    /// By group, then by `function/value`.
    criterion: BTreeMap<String, BTreeMap<String, Estimate>>,
    footprint: Option<Value>,
    http: Option<Value>,
    round_trips: BTreeMap<String, Value>,
    allocations: Vec<(String, usize, usize)>,
    axum_allocations: Option<Value>,
}

impl Results {
    fn read(target: &Path, since: SystemTime) -> Results {
        let mut criterion = BTreeMap::new();
        let fresh =
            |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).is_ok_and(|modified| modified >= since);
        let mut dirs = vec![target.join("criterion")];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() && path.file_name().is_some_and(|n| n != "report" && n != "base" && n != "change") {
                    dirs.push(path);
                }
            }
            let (estimates, benchmark) = (dir.join("new/estimates.json"), dir.join("new/benchmark.json"));
            if !estimates.is_file() || !fresh(&estimates) {
                continue;
            }
            let (Some(e), Some(b)) = (read_json(&estimates), read_json(&benchmark)) else { continue };
            let median = &e["median"];
            let (Some(m), Some(low), Some(high)) = (
                median["point_estimate"].as_f64(),
                median["confidence_interval"]["lower_bound"].as_f64(),
                median["confidence_interval"]["upper_bound"].as_f64(),
            ) else {
                continue;
            };
            let group = b["group_id"].as_str().unwrap_or_default().to_owned();
            let mut id = b["function_id"].as_str().unwrap_or_default().to_owned();
            if let Some(value) = b["value_str"].as_str() {
                id = format!("{id}/{value}");
            }
            criterion.entry(group).or_insert_with(BTreeMap::new).insert(id, Estimate { median: m, low, high });
        }
        let ours = target.join("sessions-bench");
        let fresh_json = |name: &str| {
            let path = ours.join(name);
            if fresh(&path) { read_json(&path) } else { None }
        };
        let mut round_trips = BTreeMap::new();
        for engine in ["redis", "postgres", "mysql"] {
            if let Some(v) = fresh_json(&format!("roundtrips-{engine}.json")) {
                round_trips.insert(engine.to_owned(), v);
            }
        }
        let allocations = std::fs::read_to_string(ours.join("allocations.log"))
            .ok()
            .filter(|_| fresh(&ours.join("allocations.log")))
            .map(|log| {
                log.lines()
                    .filter_map(|line| {
                        let (what, rest) = line.trim().split_once(": ")?;
                        let got = rest.split(' ').next()?.parse().ok()?;
                        let pin = rest.split("pinned ").nth(1)?.trim_end_matches(')').parse().ok()?;
                        Some((what.to_owned(), got, pin))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Results {
            criterion,
            footprint: fresh_json("footprint.json"),
            http: fresh_json("http.json"),
            round_trips,
            allocations,
            axum_allocations: fresh_json("axum-allocations.json"),
        }
    }

    fn get(&self, group: &str, id: &str) -> Option<Estimate> {
        self.criterion.get(group)?.get(id).copied()
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// A duration in nanoseconds, written in µs or ns.
fn time(ns: f64) -> String {
    if ns >= 1000.0 { format!("{:.2} µs", ns / 1000.0) } else { format!("{ns:.0} ns") }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

/// The frameworks of the adapter bench: group, floor, our rows, peers.
const ADAPTERS: [(&str, &str, &[&str], &[&str]); 5] = [
    ("core", "", &["cookie_store", "memory_store", "cookie_store_read_only", "memory_store_read_only"], &[]),
    (
        "axum",
        "no_sessions",
        &["sessions_cookie_store", "sessions_memory_store"],
        &["tower_sessions_memory_store", "axum_extra_private_cookie_jar"],
    ),
    (
        "actix",
        "no_sessions",
        &["sessions_cookie_store", "sessions_memory_store", "sessions_redis_store"],
        &["actix_session_cookie_store", "actix_session_redis_store"],
    ),
    ("rocket", "no_sessions", &["sessions_cookie_store", "sessions_memory_store"], &["rocket_private_cookie"]),
    ("warp", "no_sessions", &["sessions_cookie_store", "sessions_memory_store"], &[]),
];

/// The issue's matching peer of each of our rows: (group, ours, peer).
const MATCHING_PEERS: [(&str, &str, &str); 7] = [
    ("axum", "sessions_memory_store", "tower_sessions_memory_store"),
    ("axum", "sessions_cookie_store", "axum_extra_private_cookie_jar"),
    ("actix", "sessions_cookie_store", "actix_session_cookie_store"),
    ("actix", "sessions_memory_store", "actix_session_cookie_store"),
    ("actix", "sessions_redis_store", "actix_session_redis_store"),
    ("rocket", "sessions_cookie_store", "rocket_private_cookie"),
    ("rocket", "sessions_memory_store", "rocket_private_cookie"),
];

/// Our added cost over the floor, divided by the peer's.
fn added_ratio(results: &Results, group: &str, ours: &str, peer: &str) -> Option<(f64, f64, f64)> {
    let floor = results.get(group, "no_sessions")?.median;
    let ours = results.get(group, ours)?.median - floor;
    let peer = results.get(group, peer)?.median - floor;
    Some((ours, peer, ours / peer))
}

fn report(root: &Path, results: &Results, run: &RunInfo) -> String {
    let mut md = String::new();
    let mode = if run.quick { "quick (a smoke run: short measurements)" } else { "full" };
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Written by `cargo xtask bench` ({}mode: {mode}); do not edit by hand. Every number below comes from one run on one machine; ratios compare rows of the same run.\n",
        if run.report_only { "report only, from earlier results; " } else { "" }
    );
    machine(&mut md, root, run);
    targets(&mut md, results);
    adapters(&mut md, results);
    allocations(&mut md, results);
    codec(&mut md, results);
    values(&mut md, results);
    footprint(&mut md, results);
    round_trips(&mut md, results);
    http(&mut md, results);
    rerun(&mut md, run);
    md
}

fn machine(md: &mut String, root: &Path, run: &RunInfo) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("PRETTY_NAME=")).map(|l| l[12..].trim_matches('"').to_owned()));
    let _ = writeln!(md, "## Machine and versions\n");
    let _ = writeln!(md, "- CPU: {cpu}, {cores} cores visible");
    let _ = writeln!(md, "- OS: {}", os.unwrap_or_else(|| "unknown".into()));
    let _ =
        writeln!(md, "- {}, default release profile, no `RUSTFLAGS`", rustc.unwrap_or_else(|| "rustc unknown".into()));
    let _ = writeln!(
        md,
        "- Load average (1, 5, 15 min) before the run: {}; after: {}. A load above the core count means other work shared the CPUs: wall-clock medians are then higher and noisier than on an idle machine, and the ratios, taken within one run, are what to read.",
        run.load_before.as_deref().unwrap_or("unknown"),
        run.load_after.as_deref().unwrap_or("unknown")
    );
    let versions = crate_versions(root);
    if !versions.is_empty() {
        let _ = writeln!(md, "- Crates: {}", versions.join(", "));
    }
    if !run.steps.is_empty() {
        let _ = writeln!(md, "\nSteps of this run:\n\n| step | took | outcome |\n|---|---|---|");
        for step in &run.steps {
            let outcome = match &step.outcome {
                Ok(()) => "ok".to_owned(),
                Err(err) => format!("failed: {err} (its log is in `target/sessions-bench/`)"),
            };
            let _ = writeln!(md, "| {} | {:.0} s | {outcome} |", step.name, step.took.as_secs_f64());
        }
        for (var, url, up) in &run.services {
            if !up {
                let _ = writeln!(md, "\n`{var}` ({url}): nothing answered, so its benchmarks were skipped.");
            }
        }
    }
    let _ = writeln!(md);
}

fn crate_versions(root: &Path) -> Vec<String> {
    let Ok(lock) = std::fs::read_to_string(root.join("Cargo.lock")) else { return Vec::new() };
    let wanted = [
        "axum",
        "axum-extra",
        "actix-web",
        "actix-session",
        "rocket",
        "warp",
        "tower-sessions",
        "cookie",
        "chacha20poly1305",
        "blake3",
        "bincode",
        "redis",
        "sqlx",
        "hashbrown",
    ];
    let mut found = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_owned());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take())
            && wanted.contains(&n.as_str())
        {
            found.push(format!("{n} {}", v.trim_matches('"')));
        }
    }
    found.sort();
    found.dedup();
    found
}

fn targets(md: &mut String, results: &Results) {
    let _ = writeln!(md, "## Targets of issue 12\n");
    let _ = writeln!(md, "| target | measured | ratio | |\n|---|---|---|---|");
    for (group, ours, peer) in MATCHING_PEERS {
        if let Some((o, p, ratio)) = added_ratio(results, group, ours, peer) {
            let _ = writeln!(
                md,
                "| added cost per request, {group} `{ours}` ≤ 1.0× `{peer}` (goal 0.5×) | {} vs {} | {ratio:.2}× | {}{} |",
                time(o),
                time(p),
                verdict(ratio <= 1.0),
                if ratio <= 0.5 { ", goal met" } else { "" }
            );
        }
    }
    for size in ["small", "typical", "large"] {
        if let (Some(ours), Some(peer)) = (
            results.get("round_trip", &format!("codec/sealed/{size}")),
            results.get("round_trip", &format!("peer/private_jar/{size}")),
        ) {
            let ratio = ours.median / peer.median;
            let _ = writeln!(
                md,
                "| sealed round trip, {size} ≤ `PrivateJar` | {} vs {} | {ratio:.2}× | {} |",
                time(ours.median),
                time(peer.median),
                verdict(ratio <= 1.0)
            );
        }
        if let (Some(ours), Some(peer)) = (
            results.get("round_trip", &format!("codec/signed/{size}")),
            results.get("round_trip", &format!("peer/signed_jar/{size}")),
        ) {
            let ratio = ours.median / peer.median;
            let _ = writeln!(
                md,
                "| signed round trip, {size} ≤ 0.7× `SignedJar` | {} vs {} | {ratio:.2}× | {} |",
                time(ours.median),
                time(peer.median),
                verdict(ratio <= 0.7)
            );
        }
    }
    if let Some(rows) = results.footprint.as_ref().and_then(Value::as_array) {
        for row in rows {
            let (Some(ours), Some(target), Some(peer)) =
                (row["ours_bytes"].as_f64(), row["target_bytes"].as_f64(), row["peer_bytes"].as_f64())
            else {
                continue;
            };
            let _ = writeln!(
                md,
                "| memory per session, {} session, ≤ 1.5 × record + 200 B | {ours:.0} B (target {target:.0} B; tower-sessions {peer:.0} B) | {:.2}× of the target, {:.2}× tower-sessions | {} |",
                row["shape"].as_str().unwrap_or("?"),
                ours / target,
                ours / peer,
                verdict(ours <= target)
            );
        }
    }
    for (engine, row) in &results.round_trips {
        let (Some(load), Some(changed), Some(unchanged)) =
            (row["load"].as_f64(), row["changed_save"].as_f64(), row["unchanged_save"].as_f64())
        else {
            continue;
        };
        let met = load <= 1.05 && changed <= 1.05 && unchanged == 0.0;
        let _ = writeln!(
            md,
            "| {engine}: 1 round trip per load, 1 per changed save, 0 unchanged | {load:.2} / {changed:.2} / {unchanged:.2} | | {} |",
            verdict(met)
        );
    }
    if let Some(rows) = results.http.as_ref().and_then(Value::as_array) {
        for row in rows {
            let Some(ratio) = row["ratio"].as_f64() else { continue };
            let _ = writeln!(
                md,
                "| HTTP, {} {} `/{}`: requests per second ≥ 0.90 of the app without sessions | {:.0} vs {:.0} req/s | {ratio:.2} | {} |",
                row["framework"].as_str().unwrap_or("?"),
                row["store"].as_str().unwrap_or("?"),
                row["request"].as_str().unwrap_or("?"),
                row["median_with"].as_f64().unwrap_or(0.0),
                row["median_without"].as_f64().unwrap_or(0.0),
                verdict(ratio >= 0.90)
            );
        }
    }
    let _ = writeln!(
        md,
        "| a request that only reads writes nothing to the store and encodes no cookie | checked by `sessions-core/tests/per_request.rs` (a counting backend and the stores' encode counter) | | {} |\n",
        if results.allocations.is_empty() { "not run" } else { "met" }
    );
}

fn adapters(md: &mut String, results: &Results) {
    let _ = writeln!(md, "## Per request, in process\n");
    let _ = writeln!(
        md,
        "`sessions-bench/benches/adapters.rs`: one request through each framework's app, no sockets, reading and writing a counter in an existing session (the cookie of an earlier response). The floor is the same handler on a process-wide atomic with no sessions; *added* is the median minus the floor; the ratio divides our added cost by the peer's. `core` is the session work alone, no framework.\n"
    );
    let _ = writeln!(md, "![Per-request cost by adapter and store](benchmarks.svg)\n");
    for (group, floor, ours, peers) in ADAPTERS {
        let Some(rows) = results.criterion.get(group) else { continue };
        let _ = writeln!(md, "### {group}\n\n| app | median | 95% CI | added | |\n|---|---|---|---|---|");
        let floor_ns = (!floor.is_empty()).then(|| rows.get(floor).map(|e| e.median)).flatten();
        let names: Vec<&str> = std::iter::once(floor)
            .chain(ours.iter().copied())
            .chain(peers.iter().copied())
            .filter(|n| !n.is_empty())
            .collect();
        for name in names {
            let Some(e) = rows.get(name) else { continue };
            let role = if name == floor {
                "floor".to_owned()
            } else if peers.contains(&name) {
                "peer".to_owned()
            } else {
                MATCHING_PEERS
                    .iter()
                    .filter(|(g, o, _)| *g == group && *o == name)
                    .filter_map(|(_, o, p)| added_ratio(results, group, o, p).map(|(_, _, r)| format!("{r:.2}× `{p}`")))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let added = floor_ns.map_or("".to_owned(), |f| if name == floor { "".into() } else { time(e.median - f) });
            let _ = writeln!(
                md,
                "| `{name}` | {} | {} – {} | {added} | {role} |",
                time(e.median),
                time(e.low),
                time(e.high)
            );
        }
        let _ = writeln!(md);
    }
}

fn allocations(md: &mut String, results: &Results) {
    let _ = writeln!(md, "## Allocations per request\n");
    if !results.allocations.is_empty() {
        let _ = writeln!(
            md,
            "Core only, counted by a counting global allocator in `sessions-core/tests/per_request.rs`, which fails if one grows past its pin. Before issue 12: 42 for a memory-store request that reads and writes, 18 for one that only reads.\n\n| request | allocations | pinned at |\n|---|---|---|"
        );
        for (what, got, pin) in &results.allocations {
            let _ = writeln!(md, "| {what} | {got} | {pin} |");
        }
        let _ = writeln!(md);
    }
    if let Some(rows) = results.axum_allocations.as_ref().and_then(Value::as_array) {
        let _ = writeln!(
            md,
            "Through the axum twin app in process (`sessions-bench` `profile axum <store> <request>`), the driver's own allocations included alike in every row:\n\n| store | request | allocations | reallocations |\n|---|---|---|---|"
        );
        for row in rows {
            let name = match row["store"].as_str().unwrap_or("?") {
                "none" => "no sessions (floor)",
                "memory" => "sessions memory store",
                "cookie" => "sessions cookie store",
                "tower" => "tower-sessions MemoryStore (peer)",
                other => other,
            };
            let _ = writeln!(
                md,
                "| {name} | {} | {:.1} | {:.1} |",
                row["request"].as_str().unwrap_or("?"),
                row["allocations"].as_f64().unwrap_or(f64::NAN),
                row["reallocations"].as_f64().unwrap_or(f64::NAN)
            );
        }
        let _ = writeln!(md);
    }
}

fn codec(md: &mut String, results: &Results) {
    let Some(rows) = results.criterion.get("round_trip") else { return };
    let _ = writeln!(
        md,
        "## Codec round trip\n\n`sessions-core/benches/codec.rs`: encode and decode of one cookie, payloads of 3, 10 and 20 values (about 60 B, 400 B, 2.5 KB). Floors are the bare primitives; peers are cookie 0.18's `PrivateJar` (AES-256-GCM) and `SignedJar` (HMAC-SHA256), with serde_json.\n\n| benchmark | median | 95% CI |\n|---|---|---|"
    );
    for (id, e) in rows {
        let _ = writeln!(md, "| `{id}` | {} | {} – {} |", time(e.median), time(e.low), time(e.high));
    }
    let _ = writeln!(md);
}

fn values(md: &mut String, results: &Results) {
    let Some(rows) = results.criterion.get("values") else { return };
    let _ = writeln!(
        md,
        "## One session value\n\n`sessions-core/benches/values.rs`: `Session::insert` then `Session::get` of one value of the same type (a `u64`, a struct of four fields, ten one-byte flashes added and taken), beside the floor of bincode alone on the same value. The session rows include the shape fingerprint written at insert and checked at get, which makes a value read as another type an error.\n\n| benchmark | median | 95% CI | over the floor |\n|---|---|---|---|"
    );
    for (id, e) in rows {
        let over = id
            .strip_prefix("session/")
            .and_then(|shape| rows.get(&format!("floor/{shape}")))
            .map_or(String::from("–"), |floor| format!("+{}", time(e.median - floor.median)));
        let _ = writeln!(md, "| `{id}` | {} | {} – {} | {over} |", time(e.median), time(e.low), time(e.high));
    }
    let _ = writeln!(md);
}

fn footprint(md: &mut String, results: &Results) {
    let Some(rows) = results.footprint.as_ref().and_then(Value::as_array) else { return };
    let _ = writeln!(
        md,
        "## Memory per session\n\n`sessions-bench/benches/footprint.rs`: 100 000 new sessions through an axum app into each store; the bytes still allocated afterwards, per session, counted by a counting global allocator (bytes asked of the allocator; glibc adds 8 to 16 bytes to each live allocation).\n\n| session | encoded record | target | sessions `MemoryBackend` | allocations | tower-sessions `MemoryStore` | allocations |\n|---|---|---|---|---|---|---|"
    );
    for row in rows {
        let _ = writeln!(
            md,
            "| {} | {:.0} B | {:.0} B | {:.0} B | {:.2} | {:.0} B | {:.2} |",
            row["shape"].as_str().unwrap_or("?"),
            row["encoded_record_bytes"].as_f64().unwrap_or(0.0),
            row["target_bytes"].as_f64().unwrap_or(0.0),
            row["ours_bytes"].as_f64().unwrap_or(0.0),
            row["ours_allocations"].as_f64().unwrap_or(0.0),
            row["peer_bytes"].as_f64().unwrap_or(0.0),
            row["peer_allocations"].as_f64().unwrap_or(0.0),
        );
    }
    let _ = writeln!(md);
}

fn round_trips(md: &mut String, results: &Results) {
    let groups: Vec<(&String, &BTreeMap<String, Estimate>)> =
        results.criterion.iter().filter(|(g, _)| g.starts_with("redis_") || g.starts_with("sql_")).collect();
    if results.round_trips.is_empty() && groups.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Redis and SQL\n\nRound trips per request are counted, not assumed: the client talks through a local TCP relay that counts each time it speaks after the server answered (`sessions_core::testing::store_round_trips`, through a `ServerStore`). *After the answer* counts what a client library sends once the request's answer is in, apart from the request's own round trips: sqlx tests each connection with a ping as it goes back to its pool (one per statement; it costs the database a little work, not the request its latency).\n\n| engine | load | changed save | unchanged save | after the answer | peer |\n|---|---|---|---|---|---|"
    );
    for (engine, row) in &results.round_trips {
        let peer = match (row["peer"].as_str(), row["peer_load"].as_f64(), row["peer_save"].as_f64()) {
            (Some(name), Some(load), Some(save)) => format!("{name}: load {load:.2}, save {save:.2}"),
            _ => String::new(),
        };
        let _ = writeln!(
            md,
            "| {engine} | {:.2} | {:.2} | {:.2} | {:.2} | {peer} |",
            row["load"].as_f64().unwrap_or(f64::NAN),
            row["changed_save"].as_f64().unwrap_or(f64::NAN),
            row["unchanged_save"].as_f64().unwrap_or(f64::NAN),
            row["after_the_request"].as_f64().unwrap_or(f64::NAN)
        );
    }
    let _ = writeln!(md);
    if !groups.is_empty() {
        let _ = writeln!(md, "| benchmark | median | 95% CI |\n|---|---|---|");
        for (group, rows) in groups {
            for (id, e) in rows {
                let _ = writeln!(md, "| `{group}/{id}` | {} | {} – {} |", time(e.median), time(e.low), time(e.high));
            }
        }
        let _ = writeln!(md);
    }
}

fn http(md: &mut String, results: &Results) {
    let Some(rows) = results.http.as_ref().and_then(Value::as_array) else { return };
    let _ = writeln!(
        md,
        "## HTTP over loopback\n\n`sessions-bench/benches/http.rs`: each framework's app served on one worker thread, driven by `wrk` (one thread, 16 connections, 256 session cookies in turn), with sessions and without them, alternately, and the medians of the rounds compared. `/ro` reads the counter, `/rw` reads and writes it.\n\n| framework | store | request | without sessions | with sessions | ratio | runs |\n|---|---|---|---|---|---|---|"
    );
    for row in rows {
        let runs = |key: &str| {
            row[key].as_array().map_or(String::new(), |v| {
                v.iter().filter_map(Value::as_f64).map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(" ")
            })
        };
        let _ = writeln!(
            md,
            "| {} | {} | `/{}` | {:.0} req/s | {:.0} req/s | {:.3} | without: {}; with: {} |",
            row["framework"].as_str().unwrap_or("?"),
            row["store"].as_str().unwrap_or("?"),
            row["request"].as_str().unwrap_or("?"),
            row["median_without"].as_f64().unwrap_or(0.0),
            row["median_with"].as_f64().unwrap_or(0.0),
            row["ratio"].as_f64().unwrap_or(0.0),
            runs("rps_without"),
            runs("rps_with"),
        );
    }
    let _ = writeln!(md);
}

fn rerun(md: &mut String, run: &RunInfo) {
    let _ = writeln!(
        md,
        "## How to rerun\n\n```sh\ncargo xtask bench           # everything, full measurements (about half an hour)\ncargo xtask bench --quick   # a smoke run: every benchmark, short measurements\ncargo xtask bench --report-only   # rewrite this page from the results in target/\n```\n\nNeeds `wrk` for the HTTP benchmark (installed with apt when missing, as Debian's `wrk`) and, for the Redis and SQL rows, the services of `.ci/run` (or `SESSIONS_REDIS_URL`, `SESSIONS_POSTGRES_URL`, `SESSIONS_MYSQL_URL`); whatever is missing is skipped and said so above. One benchmark alone: `cargo bench -p sessions-bench --bench adapters -- axum/`, `cargo bench -p sessions-bench --bench http -- axum`. Profile a request by instructions, which a loaded machine does not blur: `valgrind --tool=callgrind target/release/profile core memory rw 20000` after `cargo build --release -p sessions-bench --bin profile`.{}",
        if run.quick { "\n\nThis page was written by a quick run: publish from a full one." } else { "" }
    );
}

/// A bar chart of the per-request medians, by framework and store.
fn chart(results: &Results) -> String {
    struct Bar {
        label: String,
        estimate: Estimate,
        color: &'static str,
    }
    let mut groups: Vec<(String, Vec<Bar>)> = Vec::new();
    for (group, floor, ours, peers) in ADAPTERS {
        let Some(rows) = results.criterion.get(group) else { continue };
        let mut bars = Vec::new();
        let names = std::iter::once(floor).chain(ours.iter().copied()).chain(peers.iter().copied());
        for name in names.filter(|n| !n.is_empty()) {
            let Some(&estimate) = rows.get(name) else { continue };
            let color = if name == floor {
                "#9e9e9e"
            } else if peers.contains(&name) {
                "#e67e22"
            } else if name.contains("cookie") {
                "#2e86c1"
            } else if name.contains("redis") {
                "#8e44ad"
            } else {
                "#27ae60"
            };
            let label = name.replace('_', " ");
            bars.push(Bar { label, estimate, color });
        }
        if !bars.is_empty() {
            groups.push((group.to_owned(), bars));
        }
    }
    // The scale fits the in-process stores; a store behind a network (Redis,
    // a hundred times slower) would flatten every other bar, so its bars
    // are cut at the edge and marked off scale, with their value.
    let in_process = |bar: &Bar| !bar.label.contains("redis");
    let max = groups
        .iter()
        .flat_map(|(_, b)| b.iter().filter(|b| in_process(b)).map(|b| b.estimate.high))
        .fold(1.0f64, f64::max);
    let (left, bar_width, row, gap, top) = (300.0, 520.0, 20.0, 18.0, 64.0);
    let rows: usize = groups.iter().map(|(_, b)| b.len()).sum();
    let height = top + rows as f64 * row + groups.len() as f64 * (gap + 16.0) + 60.0;
    let width = left + bar_width + 190.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        svg,
        r##"<text x="16" y="24" font-size="16" font-weight="bold" fill="#222">Per-request cost, in process: median with its 95% confidence interval</text>"##
    );
    let _ = writeln!(
        svg,
        r##"<text x="16" y="44" fill="#555">One request that reads and writes a counter (core: also read only). Shorter is cheaper. Written by cargo xtask bench.</text>"##
    );
    let scale = bar_width / max;
    let mut y = top;
    for (group, bars) in &groups {
        y += gap;
        let _ = writeln!(svg, r##"<text x="16" y="{:.1}" font-weight="bold" fill="#222">{group}</text>"##, y);
        y += 4.0;
        for bar in bars {
            let off_scale = bar.estimate.median > max;
            let w = (bar.estimate.median * scale).clamp(1.0, bar_width);
            let (lo, hi) =
                (left + (bar.estimate.low * scale).min(bar_width), left + (bar.estimate.high * scale).min(bar_width));
            let cy = y + row / 2.0;
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#333">{}</text>"##,
                left - 8.0,
                cy + 4.0,
                bar.label
            );
            let _ = writeln!(
                svg,
                r#"<rect x="{left:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{}"/>"#,
                y + 3.0,
                row - 6.0,
                bar.color
            );
            let _ = writeln!(
                svg,
                r##"<line x1="{lo:.1}" y1="{cy:.1}" x2="{hi:.1}" y2="{cy:.1}" stroke="#222" stroke-width="1"/>"##
            );
            if off_scale {
                let x = left + bar_width - 14.0;
                let _ = writeln!(
                    svg,
                    r##"<path d="M{x:.1} {:.1} l6 {:.1} M{:.1} {:.1} l6 {:.1}" stroke="#ffffff" stroke-width="2"/>"##,
                    y + 2.0,
                    row - 4.0,
                    x + 5.0,
                    y + 2.0,
                    row - 4.0
                );
            }
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" fill="#333">{}{}</text>"##,
                left + w.max(hi - left) + 6.0,
                cy + 4.0,
                time(bar.estimate.median),
                if off_scale { " (off scale)" } else { "" }
            );
            y += row;
        }
    }
    // Axis: ticks every nice step.
    let step = nice_step(max / 1000.0) * 1000.0;
    let axis_y = y + 10.0;
    let _ = writeln!(
        svg,
        r##"<line x1="{left}" y1="{axis_y:.1}" x2="{:.1}" y2="{axis_y:.1}" stroke="#888"/>"##,
        left + bar_width
    );
    let mut tick = 0.0;
    while tick <= max + 1e-9 {
        let x = left + tick * scale;
        let _ = writeln!(svg, r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/>"##, top, axis_y);
        let _ = writeln!(
            svg,
            r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555">{} µs</text>"##,
            axis_y + 16.0,
            tick / 1000.0
        );
        tick += step;
    }
    let legend = [
        ("#9e9e9e", "no sessions (floor)"),
        ("#2e86c1", "sessions, cookie store"),
        ("#27ae60", "sessions, memory store"),
        ("#8e44ad", "sessions, Redis store"),
        ("#e67e22", "peer"),
    ];
    let mut x = 16.0;
    let ly = axis_y + 38.0;
    for (color, name) in legend {
        let _ = writeln!(svg, r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{color}"/>"#, ly - 10.0);
        let _ = writeln!(svg, r##"<text x="{:.1}" y="{ly:.1}" fill="#333">{name}</text>"##, x + 16.0);
        x += 16.0 + name.len() as f64 * 7.0 + 18.0;
    }
    svg.push_str("</svg>\n");
    svg
}

/// 1, 2 or 5 times a power of ten, about a fifth of `span`.
fn nice_step(span: f64) -> f64 {
    let raw = (span / 5.0).max(1e-9);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|s| *s >= raw).unwrap_or(10.0 * power)
}
