//! Helpers shared by the integration tests: a browser's view of cookies.

#![allow(dead_code)]

use std::sync::Arc;

use sessions_core::clock::ManualClock;
use sessions_core::{CookieOptions, Key, KeyRing, StoreConfig};

pub const START: u64 = 1_800_000_000;

/// The `name=value` pair of a `Set-Cookie` header value.
pub fn pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap().trim()
}

/// The value of a `Set-Cookie` header value.
pub fn value(set_cookie: &str) -> &str {
    pair(set_cookie).split_once('=').unwrap().1
}

/// The `Max-Age` attribute, if any.
pub fn max_age(set_cookie: &str) -> Option<u64> {
    set_cookie.split(';').map(str::trim).find_map(|a| a.strip_prefix("Max-Age=")).map(|v| v.parse().unwrap())
}

pub fn key(seed: u8) -> Key {
    let bytes: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(31).wrapping_add(seed)).collect();
    Key::from_bytes(&bytes).unwrap()
}

pub fn config(name: &str, clock: &ManualClock) -> StoreConfig {
    StoreConfig::new(name, KeyRing::from(key(1)))
        .cookie_options(CookieOptions::new().secure(false))
        .clock(Arc::new(clock.clone()))
}

pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::env::temp_dir().join(format!("sessions-test-{tag}-{name}"))
}
