//! Stores: from a request's cookie to a [`Session`], and from a
//! [`Session`] back to a `Set-Cookie` header value.
//!
//! This is what gorilla/sessions calls a Store. [`CookieStore`] keeps the
//! whole session in the cookie; [`ServerStore`] keeps a random id in the
//! cookie and the data in a [`Backend`](crate::backend::Backend). Both are
//! configured with one [`StoreConfig`] and both implement [`Store`], so a
//! [`Registry`](crate::registry::Registry) can hold either kind.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::{self, Clock};
use crate::codec::{Codec, Mode, Times};
use crate::error::{Error, Result};
use crate::key::KeyRing;
use crate::lifetime::Lifetime;
use crate::options::CookieOptions;
use crate::revocation::Revocation;
use crate::session::layout::Meta;
use crate::session::{Session, StoreContext};
use crate::transport::Transport;

mod cookie;
mod handle;
mod server;
mod user_index;

pub use crate::lifetime::{DEFAULT_ABSOLUTE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_REMEMBER_FOR, DEFAULT_SERVER_TTL};
pub use cookie::CookieStore;
pub use handle::{InvalidHandle, SessionHandle};
pub use server::{ServerStore, UserSession};

/// Keeps [`Store`] to this crate's two stores, and lets the registry call
/// them without a boxed future per load and save.
mod sealed {
    use super::{CookieStore, ServerStore};

    /// Which of the two stores a `dyn Store` is.
    #[derive(Debug)]
    pub enum Kind<'a> {
        Cookie(&'a CookieStore),
        Server(&'a ServerStore),
    }

    pub trait Sealed {
        fn kind(&self) -> Kind<'_>;
    }

    impl Sealed for CookieStore {
        fn kind(&self) -> Kind<'_> {
            Kind::Cookie(self)
        }
    }

    impl Sealed for ServerStore {
        fn kind(&self) -> Kind<'_> {
            Kind::Server(self)
        }
    }
}

/// [`Store::load`] of `store`, called on the store itself: a registry holds
/// its stores as `dyn Store`, whose trait methods each box their future,
/// and a request's load and save are two of the allocations it makes.
pub(crate) async fn load(store: &dyn Store, values: &[&str]) -> Result<Session> {
    match store.kind() {
        sealed::Kind::Cookie(store) => store.load_session(values).await,
        sealed::Kind::Server(store) => store.load_session(values).await,
    }
}

/// [`Store::save`] of `store`, without a boxed future (see [`load`]).
pub(crate) async fn save(store: &dyn Store, session: &Session) -> Result<Option<String>> {
    match store.kind() {
        sealed::Kind::Cookie(store) => store.save_session(session).await,
        sealed::Kind::Server(store) => store.save_session(session).await,
    }
}

/// Turns cookie values into sessions and sessions into `Set-Cookie` values:
/// [`CookieStore`] and [`ServerStore`], and no other.
///
/// Object safe: registries hold `Arc<dyn Store>`. The trait is sealed. A
/// store keeps the session's save protocol: patch saves under a revision
/// compare-and-set, a cycled id moved only while the old record exists,
/// the user index written before the record names its user. Each of those
/// guards a promise (no lost write, nothing a logout ended comes back), and
/// none of them is checked by the compiler. Storage engines plug in below
/// it, as a [`Backend`](crate::backend::Backend), whose contract the
/// conformance kit checks.
#[async_trait]
pub trait Store: sealed::Sealed + Send + Sync + Debug + 'static {
    /// The cookie name this store reads and writes; the name of its
    /// sessions whatever their [`Transport`].
    fn cookie_name(&self) -> &str;

    /// How this store's value travels: in its cookie, or in a header.
    fn transport(&self) -> Transport;

    /// The session for a request that sent `values` for this store's cookie
    /// (several when the browser holds duplicates), in header order, or in
    /// its [`Transport`]'s header (one).
    ///
    /// An invalid, tampered, expired or unknown cookie yields a fresh
    /// session; only a failing backend is an error.
    async fn load(&self, values: &[&str]) -> Result<Session>;

    /// Persists the session's changes and returns the `Set-Cookie` value to
    /// send, if the browser's cookie must change; for a store whose
    /// [`Transport`] is a header, that header's value (empty when the
    /// session ended).
    async fn save(&self, session: &Session) -> Result<Option<String>>;
}

/// The configuration shared by both kinds of store.
///
/// ```
/// use std::time::Duration;
/// use sessions_core::{BrowserSession, CookieOptions, CookieStore, Key, KeyRing, StoreConfig};
///
/// let config = StoreConfig::new("session", KeyRing::from(Key::generate()))
///     .cookie_options(CookieOptions::new().secure(false))
///     .lifetime(BrowserSession::new().idle_timeout(Some(Duration::from_secs(15 * 60))))
///     .remember_for(Duration::from_secs(14 * 24 * 3600));
/// let store = CookieStore::new(config)?;
/// # let _ = store;
/// # Ok::<(), sessions_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct StoreConfig {
    name: String,
    ring: KeyRing,
    mode: Option<Mode>,
    limit: usize,
    skew: u64,
    options: CookieOptions,
    lifetime: Lifetime,
    remember_for: u64,
    clock: Arc<dyn Clock>,
    revocation: Option<Arc<dyn Revocation>>,
    renewal: Option<u64>,
    transport: Transport,
}

impl StoreConfig {
    /// Configuration for cookie `name` under the keys of `ring`.
    pub fn new(name: impl Into<String>, ring: KeyRing) -> StoreConfig {
        StoreConfig {
            name: name.into(),
            ring,
            mode: None,
            limit: crate::codec::DEFAULT_COOKIE_LIMIT,
            skew: crate::codec::DEFAULT_CLOCK_SKEW_SECS,
            options: CookieOptions::default(),
            lifetime: Lifetime::default(),
            remember_for: DEFAULT_REMEMBER_FOR.as_secs(),
            clock: clock::system(),
            revocation: None,
            renewal: None,
            transport: Transport::Cookie,
        }
    }

    /// Sets the protection mode. Defaults: [`Mode::Sealed`] for
    /// [`CookieStore`] (the data is private), [`Mode::Signed`] for
    /// [`ServerStore`] (a random id needs integrity, not secrecy).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Sets the cookie attributes: path, domain, `Secure`, `HttpOnly`,
    /// `SameSite`, `Partitioned`. How long the cookie lives is the
    /// [`Lifetime`]'s.
    pub fn cookie_options(mut self, options: CookieOptions) -> Self {
        self.options = options;
        self
    }

    /// How long sessions live (default: a [`BrowserSession`](crate::BrowserSession) with a
    /// 30-minute idle and a 12-hour absolute timeout).
    pub fn lifetime(mut self, lifetime: impl Into<Lifetime>) -> Self {
        self.lifetime = lifetime.into();
        self
    }

    /// The Max-Age given by [`Session::remember`]`(true)` (default 30
    /// days): a deliberate, longer lifetime, which slides with its own
    /// Max-Age and is not cut short by a browser session's timeouts.
    pub fn remember_for(mut self, duration: Duration) -> Self {
        self.remember_for = duration.as_secs();
        self
    }

    /// Sets the largest `name=value` written or read (default 4096).
    pub fn size_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Sets the tolerated clock skew for issue times (default 60 s).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.skew = skew.as_secs();
        self
    }

    /// Replaces the clock (tests use [`ManualClock`](crate::clock::ManualClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A server store gives a session a new id once its id is this old,
    /// on the first request after that (ASVS's renewal of long-lived
    /// session tokens), as [`Session::cycle_id`] would. Off by default.
    /// A cookie store has no id to renew, and refuses a configuration
    /// that sets it.
    pub fn renewal_timeout(mut self, renewal: Option<Duration>) -> Self {
        self.renewal = renewal.map(|d| d.as_secs().max(1));
        self
    }

    /// How the store's value travels (default [`Transport::Cookie`]): a
    /// header instead serves API and mobile clients that keep no cookies.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sessions_core::{Key, KeyRing, MemoryBackend, ServerStore, StoreConfig, Transport};
    ///
    /// let config = StoreConfig::new("api", KeyRing::from(Key::generate())).transport(Transport::Bearer);
    /// let store = ServerStore::new(config, Arc::new(MemoryBackend::new()))?;
    /// # let _ = store;
    /// # Ok::<(), sessions_core::Error>(())
    /// ```
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Checks each loaded session bound to a user against `revocation`
    /// (see [`Revocation`]).
    pub fn revocation(mut self, revocation: Arc<dyn Revocation>) -> Self {
        self.revocation = Some(revocation);
        self
    }

    /// True when a renewal timeout is set.
    fn renews(&self) -> bool {
        self.renewal.is_some()
    }

    /// The cookie name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn build(self, default_mode: Mode) -> Result<Settings> {
        self.options.validate(&self.name)?;
        self.transport.validate()?;
        if self.lifetime.max_age().is_some_and(|age| age.as_secs() == 0) {
            return Err(Error::Config(
                "a persistent lifetime under one second would expire every cookie at once; use Lifetime::BrowserSession for cookies that end with the browser".into(),
            ));
        }
        if self.remember_for == 0 {
            return Err(Error::Config("remember_for must be at least one second".into()));
        }
        if self.limit < 64 {
            return Err(Error::Config(format!("a size limit of {} bytes cannot hold any session", self.limit)));
        }
        let codec = Codec::new(self.ring.clone(), self.mode.unwrap_or(default_mode))
            .with_limit(self.limit)
            .with_clock_skew(self.skew);
        Ok(Settings { codec, shared_name: Arc::from(self.name.as_str()), config: self })
    }
}

/// A validated configuration with its codec: what a store runs on.
#[derive(Debug)]
struct Settings {
    codec: Codec,
    /// The cookie name, shared with every session of the store.
    shared_name: Arc<str>,
    config: StoreConfig,
}

impl Settings {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn now(&self) -> u64 {
        self.config.clock.now()
    }

    /// What a session of this store, handed to a request at `now`, starts
    /// from.
    fn context(&self, now: u64) -> StoreContext {
        let max_age = self.config.lifetime.max_age().map(|d| d.as_secs());
        StoreContext { fresh: Meta { created: now, max_age }, remember_for: self.config.remember_for, now }
    }

    /// A fresh session of this store.
    fn fresh(&self, now: u64) -> Session {
        Session::fresh(&self.shared_name, self.context(now))
    }

    /// True when the absolute timeout of a session created at `meta.created`
    /// has passed.
    fn outlived(&self, meta: &Meta, now: u64) -> bool {
        meta.max_age.is_none()
            && self.config.lifetime.browser().absolute_secs().is_some_and(|abs| now >= meta.created.saturating_add(abs))
    }

    /// True when the session's user binding was revoked after it was made.
    async fn revoked(&self, binding: Option<(String, u64)>) -> Result<bool> {
        let (Some(revocation), Some((user, bound_at))) = (&self.config.revocation, binding) else {
            return Ok(false);
        };
        Ok(revocation.not_before(&user).await?.is_some_and(|not_before| bound_at < not_before))
    }

    /// When a session written now stops being valid. A persistent session:
    /// its Max-Age from now. A browser-session one: the earlier of its
    /// absolute and idle deadlines. `None`: valid until the browser drops
    /// the cookie.
    fn expiry(&self, meta: &Meta, now: u64) -> Option<u64> {
        let browser = self.config.lifetime.browser();
        match meta.max_age {
            Some(age) => Some(now.saturating_add(age)),
            None => [
                browser.absolute_secs().map(|abs| meta.created.saturating_add(abs)),
                browser.idle_secs().map(|idle| now.saturating_add(idle)),
            ]
            .into_iter()
            .flatten()
            .min(),
        }
    }

    /// The sliding window of a session: a persistent cookie's Max-Age, or
    /// the idle timeout of a browser-session one.
    fn window(&self, meta: &Meta) -> Option<u64> {
        meta.max_age.or(self.config.lifetime.browser().idle_secs())
    }

    /// True when a cookie issued at `issued` should be re-sent so that its
    /// sliding expiry moves: once an eighth of the window has passed, which
    /// bounds the writes to eight per window however busy the session is.
    fn refresh_due(&self, meta: &Meta, issued: u64, now: u64) -> bool {
        self.window(meta).is_some_and(|w| now.saturating_sub(issued) >= (w / 8).max(1))
    }

    /// The frame times of a cookie issued now.
    fn times(&self, meta: &Meta, now: u64) -> Times {
        Times { issued: now, expires: self.expiry(meta, now) }
    }

    fn transport(&self) -> Transport {
        self.config.transport
    }

    /// The `Set-Cookie` value carrying `payload`, encoded straight into it:
    /// every cookie a store writes is encoded here. A persistent cookie's
    /// Max-Age never outlives the session's authenticated expiry. For a
    /// header transport, the header's value: its expiry is the frame's.
    /// Sealing or signing is the costly part of a save, so a trace log
    /// shows each one.
    fn cookie(&self, options: Option<&CookieOptions>, meta: &Meta, payload: &[u8], times: Times) -> Result<String> {
        tracing::trace!(cookie = self.name(), "cookie encoded");
        if !self.config.transport.is_cookie() {
            let value = self.codec.encode(self.name(), payload, times)?;
            return Ok(self.config.transport.response_value(value));
        }
        let options = options.unwrap_or(&self.config.options);
        let max_age = meta.max_age.map(|age| match times.expires {
            Some(expires) => age.min(expires.saturating_sub(times.issued)),
            None => age,
        });
        let value_len = self.codec.encoded_len(payload.len());
        options.set_cookie_with(
            self.name(),
            value_len,
            |out| self.codec.encode_append(self.name(), payload, times, out),
            max_age,
        )
    }

    /// What ends the client's copy: a removal cookie, or an empty header.
    fn removal(&self, options: Option<&CookieOptions>) -> String {
        if !self.config.transport.is_cookie() {
            return String::new();
        }
        options.unwrap_or(&self.config.options).removal(self.name())
    }
}
