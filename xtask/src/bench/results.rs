//! Reading what the benchmarks left in `target/`: criterion's estimates
//! and the JSON and logs of the others.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use serde_json::Value;

/// A criterion median with its 95% confidence interval, in nanoseconds.
#[derive(Clone, Copy)]
pub(super) struct Estimate {
    pub(super) median: f64,
    pub(super) low: f64,
    pub(super) high: f64,
}

/// Everything a run left in `target/`.
pub(super) struct Results {
    /// By group, then by `function/value`.
    pub(super) criterion: BTreeMap<String, BTreeMap<String, Estimate>>,
    pub(super) footprint: Option<Value>,
    pub(super) http: Option<Value>,
    pub(super) round_trips: BTreeMap<String, Value>,
    pub(super) allocations: Vec<(String, usize, usize)>,
    pub(super) axum_allocations: Option<Value>,
}

impl Results {
    /// What the benchmarks left in `target`, without results written
    /// before `since`.
    pub(super) fn read(target: &Path, since: SystemTime) -> Results {
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
            .map(|log| pinned_allocations(&log))
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

    /// One criterion estimate, by group and `function/value`.
    pub(super) fn get(&self, group: &str, id: &str) -> Option<Estimate> {
        self.criterion.get(group)?.get(id).copied()
    }
}

/// The lines `<request>: <allocations> (pinned <pin>)` that
/// `sessions-core`'s `tests/per_request.rs` prints, as (request,
/// allocations, pin); other lines are skipped.
fn pinned_allocations(log: &str) -> Vec<(String, usize, usize)> {
    log.lines()
        .filter_map(|line| {
            let (what, rest) = line.trim().split_once(": ")?;
            let got = rest.split(' ').next()?.parse().ok()?;
            let pin = rest.split("pinned ").nth(1)?.trim_end_matches(')').parse().ok()?;
            Some((what.to_owned(), got, pin))
        })
        .collect()
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The frameworks of the adapter bench: group, floor, our rows, peers.
pub(super) const ADAPTERS: [(&str, &str, &[&str], &[&str]); 5] = [
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

#[cfg(test)]
impl Results {
    /// Results of criterion medians alone, each with a confidence interval
    /// of ten nanoseconds either side: (group, id, median).
    pub(super) fn of_medians(rows: &[(&str, &str, f64)]) -> Results {
        let mut criterion: BTreeMap<String, BTreeMap<String, Estimate>> = BTreeMap::new();
        for &(group, id, median) in rows {
            let estimate = Estimate { median, low: median - 10.0, high: median + 10.0 };
            criterion.entry(group.to_owned()).or_default().insert(id.to_owned(), estimate);
        }
        Results {
            criterion,
            footprint: None,
            http: None,
            round_trips: BTreeMap::new(),
            allocations: Vec::new(),
            axum_allocations: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::{Duration, SystemTime};

    use super::{Results, pinned_allocations};

    /// An empty directory of this test's own.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    }

    /// What criterion writes for one benchmark under `target/criterion/<dir>`.
    fn criterion_result(target: &Path, dir: &str, benchmark: &str, median: f64) {
        let new = target.join("criterion").join(dir).join("new");
        std::fs::create_dir_all(&new).expect("result directory");
        std::fs::write(new.join("benchmark.json"), benchmark).expect("benchmark.json");
        let estimates = format!(
            r#"{{"median": {{"point_estimate": {median}, "confidence_interval": {{"lower_bound": {}, "upper_bound": {}}}}}}}"#,
            median - 1.0,
            median + 1.0
        );
        std::fs::write(new.join("estimates.json"), estimates).expect("estimates.json");
    }

    #[test]
    fn criterion_estimates_are_read_by_group_and_id() {
        let target = scratch("criterion");
        let floor = r#"{"group_id": "axum", "function_id": "no_sessions", "value_str": null}"#;
        criterion_result(&target, "axum/no_sessions", floor, 1500.0);
        let sized = r#"{"group_id": "round_trip", "function_id": "codec/sealed", "value_str": "small"}"#;
        criterion_result(&target, "round_trip/codec_sealed/small", sized, 800.0);
        criterion_result(&target, "report/axum", floor, 1.0);

        let results = Results::read(&target, SystemTime::UNIX_EPOCH);
        let floor = results.get("axum", "no_sessions").map(|e| (e.median, e.low, e.high));
        assert_eq!(floor, Some((1500.0, 1499.0, 1501.0)));
        assert_eq!(results.get("round_trip", "codec/sealed/small").map(|e| e.median), Some(800.0));
        assert_eq!(results.criterion.len(), 2, "criterion's own report directory holds no results");

        let later = SystemTime::now() + Duration::from_secs(3600);
        assert!(Results::read(&target, later).criterion.is_empty(), "results older than the run are left out");
        std::fs::remove_dir_all(target).expect("remove the scratch directory");
    }

    #[test]
    fn pinned_allocations_are_read_from_the_test_output() {
        let log = "running 1 test\nallocations per request:\n  memory store, read only: 11 (pinned 11)\n  cookie store, read and write a counter: 15 (pinned 16)\ntest common_requests ... ok\n";
        assert_eq!(
            pinned_allocations(log),
            [
                ("memory store, read only".to_owned(), 11, 11),
                ("cookie store, read and write a counter".to_owned(), 15, 16)
            ]
        );
    }
}
