//! The services some tests need (Redis, PostgreSQL, ...): where to find
//! them, and whether a missing one may skip a test.

/// True under `CI=true`, where a test must not skip for want of a service.
pub fn ci_requires_services() -> bool {
    std::env::var("CI").is_ok_and(|ci| ci == "true")
}

/// The URL of a service from the environment variable `var` (for example
/// `SESSIONS_REDIS_URL`). Unset: prints `skipped: ...` and returns `None`,
/// so the test passes without the service; under `CI=true` it panics
/// instead, so a CI run can never skip silently.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(!ci_requires_services(), "{var} is not set, and CI=true requires every service");
            eprintln!("skipped: {var} is not set");
            None
        }
    }
}
