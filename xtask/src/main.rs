//! Project chores: `cargo xtask <command>`.
//!
//! - `ci`: what CI runs (format check, clippy, the whole test suite).
//! - `keygen`: print a fresh master key for `SESSION_KEYS`.
//! - `fuzz <target> --seconds N`: run one decoder's fuzz target (see `fuzz.rs`).
//! - `bench [--quick] [--report-only]`: run every benchmark and write
//!   `docs/benchmarks.md` and `docs/benchmarks.svg` (see `bench/mod.rs`).

mod bench;
mod fuzz;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("keygen") => keygen(),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <ci | keygen | fuzz | bench>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a fresh 256-bit key, base64url, for `SESSION_KEYS`.
fn keygen() -> Result<(), String> {
    let key = sessions_core::Key::try_generate().map_err(|e| e.to_string())?;
    println!("{}", key.to_base64());
    Ok(())
}

/// Runs the same steps as `.ci/run`, minus starting services.
fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    cargo(&["test", "--workspace"])
}

fn cargo(args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo).args(args).status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`cargo {}` failed", args.join(" "))) }
}
