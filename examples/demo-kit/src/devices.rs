//! "Your devices": the user's live sessions on the main store, listed and
//! ended through the library's public per-user index, as an application
//! would do it.

use std::sync::Arc;

use sessions_core::store::{SessionHandle, UserSession};
use sessions_core::{Result, ServerStore, Session};

/// The user's sessions on the demo's main store: the `Arc` of the
/// [`ServerStore`] the registry also saves through, or nothing on the
/// cookie store, where the server keeps no list of sessions.
///
/// ```
/// let devices = demo_kit::Devices::default();
/// assert!(!devices.is_available(), "the cookie store has no list of sessions");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Devices {
    store: Option<Arc<ServerStore>>,
}

/// One of the user's sessions, as the page and `GET /devices` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Its public handle: what `POST /devices/end` takes.
    pub handle: String,
    /// When it started (Unix seconds).
    pub created: u64,
    /// When it was last used (Unix seconds).
    pub last_seen: u64,
    /// It is the session of the request that asked.
    pub current: bool,
}

impl Devices {
    /// The devices of `store`.
    pub fn on(store: Arc<ServerStore>) -> Devices {
        Devices { store: Some(store) }
    }

    /// True on a server store: the user's sessions can be listed.
    pub fn is_available(&self) -> bool {
        self.store.is_some()
    }

    /// The live sessions of `user`, `session`'s marked current, most
    /// recently used first; empty on the cookie store.
    pub async fn list(&self, user: &str, session: &Session) -> Result<Vec<Device>> {
        let Some(store) = &self.store else { return Ok(Vec::new()) };
        let this = store.handle(session);
        let mut devices: Vec<Device> = store
            .user_sessions(user)
            .await?
            .into_iter()
            .map(|UserSession { handle, created, last_seen, .. }: UserSession| Device {
                current: Some(handle) == this,
                handle: handle.to_string(),
                created,
                last_seen,
            })
            .collect();
        devices.sort_by_key(|d| std::cmp::Reverse((d.current, d.last_seen, d.created)));
        Ok(devices)
    }

    /// Whether `handle` names `session` itself.
    pub fn is_current(&self, session: &Session, handle: &SessionHandle) -> bool {
        self.store.as_ref().and_then(|store| store.handle(session)).is_some_and(|this| this == *handle)
    }

    /// Ends `user`'s session named `handle`; false when `user` has none
    /// (another user's handle included) or on the cookie store.
    pub async fn end(&self, user: &str, handle: &SessionHandle) -> Result<bool> {
        match &self.store {
            Some(store) => store.destroy_user_session_by_handle(user, handle).await,
            None => Ok(false),
        }
    }

    /// Ends every session of `user` but `session`; how many ended.
    pub async fn end_others(&self, user: &str, session: &Session) -> Result<usize> {
        match &self.store {
            Some(store) => store.destroy_other_user_sessions(user, session).await,
            None => Ok(0),
        }
    }
}

/// `at` (Unix seconds) as a UTC date and time to the minute, such as
/// `2026-12-07 06:32 UTC`.
pub(crate) fn utc(at: u64) -> String {
    let (days, secs) = (at / 86_400, at % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

/// How long before `now` `at` was, in words: `just now`, `5 min ago`.
pub(crate) fn ago(at: u64, now: u64) -> String {
    match now.saturating_sub(at) {
        0..60 => "just now".to_owned(),
        secs @ 60..3600 => format!("{} min ago", secs / 60),
        secs @ 3600..86_400 => format!("{} h ago", secs / 3600),
        secs => format!("{} days ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_dates_and_ages() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_800_000_000), "2027-01-15 08:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(ago(100, 130), "just now");
        assert_eq!(ago(100, 400), "5 min ago");
        assert_eq!(ago(0, 7200), "2 h ago");
        assert_eq!(ago(0, 3 * 86_400), "3 days ago");
    }
}
