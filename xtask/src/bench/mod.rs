//! `cargo xtask bench [--quick] [--report-only]`: runs every benchmark and
//! writes `docs/benchmarks.md` and `docs/benchmarks.svg`.
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
//!
//! `run.rs` runs the benchmarks, `results.rs` reads what they left,
//! `report.rs` writes the page and `chart.rs` its picture.

use std::time::SystemTime;

mod chart;
mod report;
mod results;
mod run;

use report::RunInfo;
use results::Results;

pub fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let report_only = args.iter().any(|a| a == "--report-only");
    if let Some(unknown) = args.iter().find(|a| !["--quick", "--report-only"].contains(&a.as_str())) {
        return Err(format!("unknown option {unknown}; usage: cargo xtask bench [--quick] [--report-only]"));
    }
    let root = run::workspace_root();
    let target = run::target_dir(&root);
    let started = SystemTime::now();
    let load_before = run::load_average();
    let (steps, services) = if report_only { (Vec::new(), Vec::new()) } else { run::benchmarks(&root, &target, quick) };
    let load_after = run::load_average();
    let since = if report_only { SystemTime::UNIX_EPOCH } else { started };
    let results = Results::read(&target, since);
    let run = RunInfo { quick, report_only, load_before, load_after, steps, services };
    let markdown = report::report(&root, &results, &run);
    let svg = chart::chart(&results);
    std::fs::write(root.join("docs/benchmarks.md"), markdown).map_err(|e| format!("write docs/benchmarks.md: {e}"))?;
    std::fs::write(root.join("docs/benchmarks.svg"), svg).map_err(|e| format!("write docs/benchmarks.svg: {e}"))?;
    eprintln!("xtask bench: wrote docs/benchmarks.md and docs/benchmarks.svg");
    Ok(())
}
