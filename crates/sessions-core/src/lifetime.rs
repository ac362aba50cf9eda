//! How long sessions live when the store's configuration does not say:
//! read by the stores and by a session made outside any store, and
//! published as `sessions_core::store::DEFAULT_*`.

use std::time::Duration;

/// The default "remember me" lifetime: 30 days.
pub const DEFAULT_REMEMBER_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long a server record of a browser-session cookie lives without a save.
pub const DEFAULT_SERVER_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// The default idle timeout of a browser-session session: 30 minutes.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// The default absolute timeout of a browser-session session: 12 hours.
pub const DEFAULT_ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * 3600);
