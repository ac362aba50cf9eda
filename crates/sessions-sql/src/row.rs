//! What a row holds beside its record, the same for every sqlx version:
//! the version a save compares, the expiry, and a row as read back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sessions_core::backend::BackendError;

pub(crate) fn now_millis() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// A new row's version, drawn at random: a save checks the version its
/// request loaded, and a row deleted and made again under the same key
/// must not match a version loaded from the row before. Below 2^62, so
/// counting up from it never overflows.
pub(crate) fn first_version() -> Result<i64, BackendError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|err| BackendError::unavailable(format!("OS RNG: {err}")))?;
    Ok(i64::from_le_bytes(bytes) & ((1 << 62) - 1))
}

pub(crate) fn expiry(now: i64, ttl: Duration) -> i64 {
    now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1))
}

/// The time a row has left, from its expiry.
pub(crate) fn remaining(expires: i64, now: i64) -> Duration {
    Duration::from_millis(u64::try_from(expires.saturating_sub(now)).unwrap_or(0))
}

/// One row as read back.
pub(crate) struct Loaded {
    pub(crate) data: Vec<u8>,
    pub(crate) version: i64,
    pub(crate) expires: i64,
}
