//! The markdown page of a run: the machine, the targets with their
//! verdicts, then each benchmark's table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::results::{ADAPTERS, Estimate, Results};
use super::run::{Service, Step};

/// What the page says about the run itself.
pub(super) struct RunInfo {
    pub(super) quick: bool,
    pub(super) report_only: bool,
    pub(super) load_before: Option<String>,
    pub(super) load_after: Option<String>,
    pub(super) steps: Vec<Step>,
    pub(super) services: Vec<Service>,
}

/// A duration in nanoseconds, written in µs or ns.
pub(super) fn time(ns: f64) -> String {
    if ns >= 1000.0 { format!("{:.2} µs", ns / 1000.0) } else { format!("{ns:.0} ns") }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

/// The bound on our added cost over each peer's: a step on the way to
/// half of it, the goal.
const ADDED_COST_BOUND: f64 = 0.75;

/// Rows with a first step of their own before [`ADDED_COST_BOUND`]: where
/// the profile shows a cost the peer does not pay (see the gaps section).
const FIRST_STEPS: [(&str, &str, &str, f64); 2] = [
    ("rocket", "sessions_cookie_store", "rocket_private_cookie", 1.0),
    ("actix", "sessions_redis_store", "actix_session_redis_store", 1.0),
];

/// The most allocations a request may make: (what the allocation counts
/// call it, where, the bound).
const ALLOCATION_BOUNDS: [(&str, &str, f64); 3] = [
    ("memory store, read and write a counter", "core", 8.0),
    ("cookie store, read and write a counter", "core", 8.0),
    ("memory", "axum", 25.0),
];

/// The matching peer of each of our rows: (group, ours, peer).
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

pub(super) fn report(root: &Path, results: &Results, run: &RunInfo) -> String {
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
    profiles(&mut md);
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
    let _ = writeln!(md, "## Performance targets\n");
    let _ = writeln!(md, "| target | measured | ratio | |\n|---|---|---|---|");
    for (group, ours, peer) in MATCHING_PEERS {
        if let Some((o, p, ratio)) = added_ratio(results, group, ours, peer) {
            let _ = writeln!(
                md,
                "| added cost per request, {group} `{ours}` ≤ {ADDED_COST_BOUND}× `{peer}` (goal 0.5×) | {} vs {} | {ratio:.2}× | {}{} |",
                time(o),
                time(p),
                verdict(ratio <= ADDED_COST_BOUND),
                if ratio <= 0.5 { ", goal met" } else { "" }
            );
        }
    }
    for (group, ours, peer, bound) in FIRST_STEPS {
        if let Some((o, p, ratio)) = added_ratio(results, group, ours, peer) {
            let _ = writeln!(
                md,
                "| first step: added cost per request, {group} `{ours}` ≤ {bound:.1}× `{peer}` | {} vs {} | {ratio:.2}× | {} |",
                time(o),
                time(p),
                verdict(ratio <= bound)
            );
        }
    }
    if let (Some(ours), Some(peer)) = (
        results.get("redis_request_load_and_save", "sessions_redis"),
        results.get("redis_request_load_and_save", "actix_session_redis"),
    ) {
        let ratio = ours.median / peer.median;
        let _ = writeln!(
            md,
            "| Redis, a load and a save of one change ≤ 1.0× actix-session's `RedisSessionStore` | {} vs {} | {ratio:.2}× | {} |",
            time(ours.median),
            time(peer.median),
            verdict(ratio <= 1.0)
        );
    }
    for (what, place, bound) in ALLOCATION_BOUNDS {
        let got = match place {
            "core" => results.allocations.iter().find(|(w, _, _)| w == what).map(|(_, got, _)| *got as f64),
            _ => results.axum_allocations.as_ref().and_then(Value::as_array).and_then(|rows| {
                rows.iter()
                    .find(|row| row["store"] == what && row["request"] == "rw")
                    .and_then(|row| row["allocations"].as_f64())
            }),
        };
        let Some(got) = got else { continue };
        let name = if place == "core" {
            format!("core, {what}")
        } else {
            format!("axum twin app, {what} store, read and write")
        };
        let _ =
            writeln!(md, "| allocations per request, {name} ≤ {bound:.0} | {got:.0} | | {} |", verdict(got <= bound));
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
            let request = row["request"].as_str().unwrap_or("?");
            // Reading only costs a load; a write adds the save and its cookie.
            let bound = if request == "rw" { 0.85 } else { 0.90 };
            let _ = writeln!(
                md,
                "| HTTP, {} {} `/{request}`: requests per second ≥ {bound:.2} of the app without sessions | {:.0} vs {:.0} req/s | {ratio:.2} | {} |",
                row["framework"].as_str().unwrap_or("?"),
                row["store"].as_str().unwrap_or("?"),
                row["median_with"].as_f64().unwrap_or(0.0),
                row["median_without"].as_f64().unwrap_or(0.0),
                verdict(ratio >= bound)
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
            "Core only, counted by a counting global allocator in `sessions-core/tests/per_request.rs`, which fails if one grows past its pin. Before the per-request work that pinned them: 42 for a memory-store request that reads and writes, 18 for one that only reads; before its second round (decision 38): 19, 12, 16, 11 and 21 for the five rows below; after it, before `Fields` became one buffer (decision 39): 12, 8, 10, 8 and 16.\n\n| request | allocations | pinned at |\n|---|---|---|"
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
        "## Redis and SQL\n\nRound trips per request are counted, not assumed: the client talks through a local TCP relay that counts each time it speaks after the server answered (`sessions_testkit::relay::store_round_trips`, through a `ServerStore`). *After the answer* counts what a client library sends once the request's answer is in, apart from the request's own round trips: sqlx tests each connection with a ping as it goes back to its pool (one per statement; it costs the database a little work, not the request its latency).\n\n| engine | load | changed save | unchanged save | after the answer | peer |\n|---|---|---|---|---|---|"
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

/// What the profiles say about the targets that wall-clock time alone
/// cannot explain. Instruction counts do not move with the machine's load,
/// so they are written here as measured, with the commands that measure
/// them again.
fn profiles(md: &mut String) {
    let _ = writeln!(
        md,
        "## Where a request's work goes

Instructions per request counted by `callgrind` (`valgrind --tool=callgrind`), which a busy machine does not blur: `target/release/profile <core|axum> <store> rw N` at two values of N, the difference divided by the extra requests; the adapter benchmark with `--profile-time 4 'rocket/<app>$'`, divided by the polls of its `one_request` (one per request). Measured before the second round of per-request work, after it (decision 38), and after `Fields` became one buffer (decision 39).

| request | before | decision 38 | decision 39 | floor | peer |
|---|---|---|---|---|---|
| core, memory store, read and write | 17,049 | 15,728 | 15,178 | | |
| core, cookie store, read and write | 19,054 | 18,371 | 17,698 | | |
| axum twin, memory store, read and write | 28,378 | 26,658 | 25,643 | 6,122 (no sessions) | 27,764 (tower-sessions) |
| axum twin, cookie store, read and write | 31,912 | 30,757 | 29,476 | 6,122 | |
| rocket, memory store | 42,044 | 40,149 | 39,591 | 20,147 (no sessions) | 44,011 (private cookie) |
| rocket, cookie store | 53,461 | 52,757 | 51,852 | 20,147 | 44,011 |

- **A memory-store request in core** (15.2 k): opening the signed id cookie (its keyed BLAKE3 MAC, 1.3 k, and the storage key derived from the id, 0.8 k); reading the `Cookie` header (1.5 k); decoding the stored record into `Fields` and merging the save's patch into a new stored record (about 3 k together, now one allocation each); the registry and the session's state (two allocations); the list of headers handed back (one). The six allocations left in core are those five and the new stored record.
- **Through the axum twin** a memory-store request that reads and writes makes 28 allocations to the app's 13 without sessions. Eight are ours (the six of core, the registry's box in the request's extensions and the layer's boxed future); four are axum's own per-request clone of a route wrapped in a layer (tower-sessions pays them too); two are the request's `Cookie` header, which the app without sessions does not receive, and one is the driver's copy of the cookie it sends. Reaching 25 takes three more of ours: the session's state kept inside the request's registry, the header list kept inline, and a layer future that is named rather than boxed. Each changes a type adapters see, and none was done in this round.
- **The 0.75× targets**, by instructions, which the wall-clock ratios above follow through the noise: our added cost over the floor is 0.90× tower-sessions' on axum's memory store (19.5 k instructions against 21.6 k), 0.81× Rocket's private cookie on Rocket's memory store (19.4 k against 23.9 k) and 1.33× it on Rocket's cookie store (31.7 k). 0.75× on axum needs 3.3 k fewer. Of what is left, 2.1 k is the id cookie's MAC and the storage key derived from the id, which tower-sessions, as the benchmark configures it (its default), does not compute: its id cookie is not signed and the id is its store's key. That work stays: it is why a forged cookie costs no store lookup and a stolen storage dump names no session (`docs/security.md`, decision 7). The rest is spread over the registry, the session's state and the record, where the three allocations named above and a backend interface without boxed futures are the next steps. The HTTP ratios follow from the same added cost: at 100 k requests a second on two cores shared with the load generator, 0.85 leaves room for about 1.5 µs of session work per request, and the in-process rows above measure 2.3 to 3.3 µs on axum and actix.
- **Rocket's cookie store** pays 7.8 k instructions more than Rocket's private cookie. XChaCha20-Poly1305 opens and seals (4.7 k, of which HChaCha20's subkey is 2.2 k; AES-GCM on AES-NI costs the peer about 1.2 k); Rocket percent-decodes and parses every cookie it receives, and ours is 108 characters to the peer's 40 (nonce, times, key id and tag: 1.6 k in percent-decoding alone); and the rest of the session's own work (the registry, the record, the headers), which the peer's jar does not have to the same extent. The wire format, which fixes the cipher and the frame, is not this round's to change. Tried: skipping the cross-origin header lookups for a `GET` (Rocket hashes header names with SipHash) and handing Rocket the `Set-Cookie` string without a copy.
- **Redis** (server time per call, `INFO commandstats`): our save's script took 22 µs before this round and 13 µs on its fast path now, actix-session's `SET` 1.9 µs; each step inside a Lua script costs Redis one to two microseconds here. Our load is `HGETALL` (2.5 to 3.6 µs) and `PTTL` (0.4 µs) to actix-session's `GET` (0.8 µs), and the client parses two replies per field (about 33 k instructions in the `redis` crate's parser for a ten-value session, against one string for actix-session). Tried and reverted: one script answering the load, the fields packed into one string, cost Redis 30 µs a call. What would close the gap is a record that Redis holds as one string, which gives up per-field patches or moves the merge into a script, whose steps are what costs.
"
    );
}

fn rerun(md: &mut String, run: &RunInfo) {
    let _ = writeln!(
        md,
        "## How to rerun\n\n```sh\ncargo xtask bench           # everything, full measurements (about half an hour)\ncargo xtask bench --quick   # a smoke run: every benchmark, short measurements\ncargo xtask bench --report-only   # rewrite this page from the results in target/\n```\n\nNeeds `wrk` for the HTTP benchmark (installed with apt when missing, as Debian's `wrk`) and, for the Redis and SQL rows, the services of `.ci/run` (or `SESSIONS_REDIS_URL`, `SESSIONS_POSTGRES_URL`, `SESSIONS_MYSQL_URL`); whatever is missing is skipped and said so above. One benchmark alone: `cargo bench -p sessions-bench --bench adapters -- axum/`, `cargo bench -p sessions-bench --bench http -- axum`. Profile a request by instructions, which a loaded machine does not blur: `valgrind --tool=callgrind target/release/profile core memory rw 20000` after `cargo build --release -p sessions-bench --bin profile`.{}",
        if run.quick { "\n\nThis page was written by a quick run: publish from a full one." } else { "" }
    );
}

#[cfg(test)]
mod tests {
    use super::{adapters, added_ratio, time};
    use crate::bench::results::Results;

    #[test]
    fn times_below_a_microsecond_are_written_in_nanoseconds() {
        assert_eq!(time(999.4), "999 ns");
        assert_eq!(time(1000.0), "1.00 µs");
        assert_eq!(time(12_340.0), "12.34 µs");
    }

    #[test]
    fn added_costs_are_compared_over_the_floor() {
        let results = Results::of_medians(&[
            ("axum", "no_sessions", 1000.0),
            ("axum", "sessions_memory_store", 1300.0),
            ("axum", "tower_sessions_memory_store", 1600.0),
        ]);
        let ratio = added_ratio(&results, "axum", "sessions_memory_store", "tower_sessions_memory_store");
        assert_eq!(ratio, Some((300.0, 600.0, 0.5)));
        assert_eq!(added_ratio(&results, "rocket", "sessions_memory_store", "rocket_private_cookie"), None);

        let mut md = String::new();
        adapters(&mut md, &results);
        let row =
            "| `sessions_memory_store` | 1.30 µs | 1.29 µs – 1.31 µs | 300 ns | 0.50× `tower_sessions_memory_store` |";
        assert!(md.contains(row), "{md}");
        assert!(!md.contains("### rocket"), "a group that was not run has no table");
    }
}
