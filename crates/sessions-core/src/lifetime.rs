//! How long the sessions of a store live, as types: a browser session ends
//! with the browser and is bounded by idle and absolute timeouts; a
//! persistent session carries a Max-Age that slides with use. Each kind
//! takes only the settings that mean something for it, so a timeout that
//! would be silently ignored cannot be written.

use std::time::Duration;

/// The default "remember me" lifetime: 30 days.
pub const DEFAULT_REMEMBER_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long a server record of a browser-session cookie lives without a save.
pub const DEFAULT_SERVER_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// The default idle timeout of a browser-session session: 30 minutes.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// The default absolute timeout of a browser-session session: 12 hours.
pub const DEFAULT_ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * 3600);

/// How long the sessions of a store live; set with
/// [`StoreConfig::lifetime`](crate::StoreConfig::lifetime).
///
/// A store's sessions start as one kind; a handler switches one session
/// with [`Session::remember`](crate::Session::remember) (persistent for the
/// store's `remember_for`) or [`Session::set_max_age`](crate::Session::set_max_age).
///
/// ```
/// use std::time::Duration;
/// use sessions_core::{BrowserSession, Key, KeyRing, PersistentSession, StoreConfig};
///
/// let ring = KeyRing::from(Key::generate());
/// // The default: a browser session, 30 minutes idle, 12 hours at most.
/// let plain = StoreConfig::new("id", ring.clone())
///     .lifetime(BrowserSession::new().idle_timeout(Some(Duration::from_secs(15 * 60))));
/// // Preferences kept for half a year, refreshed as they are used.
/// let prefs = StoreConfig::new("prefs", ring)
///     .lifetime(PersistentSession::new(Duration::from_secs(180 * 24 * 3600)));
/// # let _ = (plain, prefs);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Cookies without Max-Age, which the browser drops when it closes;
    /// the server ends them after the idle and absolute timeouts.
    BrowserSession(BrowserSession),
    /// Cookies with a Max-Age that moves forward as the session is used.
    Persistent(PersistentSession),
}

impl Default for Lifetime {
    fn default() -> Self {
        Lifetime::BrowserSession(BrowserSession::default())
    }
}

impl From<BrowserSession> for Lifetime {
    fn from(lifetime: BrowserSession) -> Self {
        Lifetime::BrowserSession(lifetime)
    }
}

impl From<PersistentSession> for Lifetime {
    fn from(lifetime: PersistentSession) -> Self {
        Lifetime::Persistent(lifetime)
    }
}

impl Lifetime {
    /// The Max-Age of a new session: `None` for a browser session.
    pub(crate) fn max_age(&self) -> Option<Duration> {
        match self {
            Lifetime::BrowserSession(_) => None,
            Lifetime::Persistent(persistent) => Some(persistent.max_age),
        }
    }

    /// The bounds of the sessions that are browser sessions: all of a
    /// browser-session store's, and those a handler turned into one in a
    /// persistent store (which keeps the defaults).
    pub(crate) fn browser(&self) -> BrowserSession {
        match self {
            Lifetime::BrowserSession(browser) => *browser,
            Lifetime::Persistent(_) => BrowserSession::default(),
        }
    }
}

/// A session that ends with the browser, and on the server after an idle
/// or absolute timeout, whichever comes first: the default
/// [`Lifetime`].
///
/// Both timeouts are enforced from the authenticated times inside the
/// cookie or record, never from what the browser says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrowserSession {
    idle: Option<Duration>,
    absolute: Option<Duration>,
    server_ttl: Duration,
}

impl Default for BrowserSession {
    fn default() -> Self {
        BrowserSession::new()
    }
}

impl BrowserSession {
    /// The defaults: [`DEFAULT_IDLE_TIMEOUT`](crate::store::DEFAULT_IDLE_TIMEOUT)
    /// (30 minutes) and [`DEFAULT_ABSOLUTE_TIMEOUT`](crate::store::DEFAULT_ABSOLUTE_TIMEOUT)
    /// (12 hours).
    pub const fn new() -> Self {
        BrowserSession {
            idle: Some(DEFAULT_IDLE_TIMEOUT),
            absolute: Some(DEFAULT_ABSOLUTE_TIMEOUT),
            server_ttl: DEFAULT_SERVER_TTL,
        }
    }

    /// Ends a session after this long without a request that loads it;
    /// `None` turns it off. Rounded up to whole seconds.
    pub const fn idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.idle = idle;
        self
    }

    /// Ends a session this long after its creation, however active;
    /// `None` turns it off.
    pub const fn absolute_timeout(mut self, absolute: Option<Duration>) -> Self {
        self.absolute = absolute;
        self
    }

    /// How long a server store keeps the record of a session that neither
    /// timeout bounds, counted from its last save (default 30 days): the
    /// browser may stay open for weeks, but a record nobody loads must not
    /// stay for ever.
    pub const fn server_ttl(mut self, ttl: Duration) -> Self {
        self.server_ttl = ttl;
        self
    }

    /// The idle timeout in whole seconds (at least one).
    pub(crate) fn idle_secs(&self) -> Option<u64> {
        self.idle.map(|d| d.as_secs().max(1))
    }

    /// The absolute timeout in whole seconds (at least one).
    pub(crate) fn absolute_secs(&self) -> Option<u64> {
        self.absolute.map(|d| d.as_secs().max(1))
    }

    /// The server TTL in whole seconds (at least one).
    pub(crate) fn server_ttl_secs(&self) -> u64 {
        self.server_ttl.as_secs().max(1)
    }
}

/// A session whose cookie carries a Max-Age, moved forward as the session
/// is used: preferences, or a store where every session is "remembered".
///
/// A Max-Age under one second is refused when the store is built: it
/// would expire every cookie at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersistentSession {
    max_age: Duration,
}

impl PersistentSession {
    /// Sessions that live `max_age` after their last save.
    pub const fn new(max_age: Duration) -> Self {
        PersistentSession { max_age }
    }
}
