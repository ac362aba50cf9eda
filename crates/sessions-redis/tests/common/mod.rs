//! Helpers shared by the Redis integration tests: unique key prefixes.
//! Service URLs come from `sessions_core::testing`, private servers from
//! `sessions_testkit::redis`.

#![allow(dead_code)]

/// A key prefix no other test uses.
pub fn unique_prefix(tag: &str) -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("test:{tag}:{hex}:")
}
