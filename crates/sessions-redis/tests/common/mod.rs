//! Helpers shared by the Redis integration tests: service URLs from the
//! environment and unique key prefixes; private servers come from
//! `sessions_redis::testing`.

#![allow(dead_code)]

/// The URL in `var`, or `None` after printing why the test is skipped.
/// Under `CI=true` a missing URL fails the test instead.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{var} is not set, and CI=true requires every service"
            );
            eprintln!("skipped: {var} is not set");
            None
        }
    }
}

/// A key prefix no other test uses.
pub fn unique_prefix(tag: &str) -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("test:{tag}:{hex}:")
}
