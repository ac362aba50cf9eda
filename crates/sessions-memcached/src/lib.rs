//! Server-side sessions on memcached, for the `sessions` library.
//!
//! [`MemcachedBackend`] implements [`sessions_core::Backend`] with
//! memcached's meta commands: a session is one item, created with an add
//! (never over an existing one), changed by compare-and-swap, and expired
//! by memcached itself. A load returns the item's CAS token as the
//! record's revision, and the save of a loaded session writes the record
//! with its changes under that token, in one round trip; when another
//! request wrote the item in between, the save reads the item and its
//! token, applies its patch, and writes back only if no one wrote in
//! between, else reads again. No hashes and no scripts are needed; what memcached cannot
//! promise (eviction, log out everywhere under eviction) is in the README.
//!
//! ```no_run
//! use std::sync::Arc;
//! use sessions_core::{Key, KeyRing, ServerStore, StoreConfig};
//! use sessions_memcached::MemcachedBackend;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = MemcachedBackend::connect("memcache://127.0.0.1:11211").await?;
//! let config = StoreConfig::new("id", KeyRing::from(Key::generate()));
//! let store = ServerStore::new(config, Arc::new(backend))?;
//! # let _ = store;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod command;
mod error;
mod pool;

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sessions_core::backend::record::{self, DEFAULT_MAX_RECORD_BYTES, Fields};
use sessions_core::backend::{Backend, BackendError, Patch, RecordLimit, Seen, StorageKey, Stored};
use sessions_core::clock::{Clock, SystemClock};

pub use error::Error;

use command::{Item, Refused, ServerSaid};
use pool::Pool;

/// First byte of every item: the layout of the rest (the record), so a
/// later layout can be told apart instead of misread.
const ITEM_V1: u8 = 1;
/// memcached reads an expiry above 30 days as a Unix time, not a TTL.
const LONGEST_RELATIVE_TTL: u64 = 30 * 24 * 3600;
/// The latest Unix time memcached reads as an expiry (2038-01-19): it
/// parses the number as a signed 32-bit integer.
const LATEST_EXPIRY: u64 = i32::MAX as u64;
/// memcached's default largest item is 1 MiB, its own header and the key
/// included; the default record limit leaves room for them.
const DEFAULT_LIMIT: usize = DEFAULT_MAX_RECORD_BYTES - 4096;
/// The longest key memcached takes.
const MAX_KEY: usize = 250;
/// Read-modify-write saves of one session are queued in this process by
/// one of these locks, chosen by the storage key's first byte.
const STRIPES: usize = 256;

/// A [`Backend`] on memcached: one item per session, compare-and-swap
/// saves, server-side TTL.
///
/// Use it where memcached is already run and sessions may end early: an
/// item can be evicted under memory pressure (see the README, and start
/// memcached with `-M` to refuse new sessions instead). Build it with
/// [`MemcachedBackend::connect`] or configure it with
/// [`MemcachedBackend::builder`]. It is cheap to clone; clones share the
/// connections.
///
/// Every call is bounded: connecting by the connect timeout, each request
/// by the request timeout; a server that is down or does not answer is
/// [`BackendError::Unavailable`], never a hang. Connections that failed
/// are dropped, and new ones made on the next call, so the backend
/// recovers by itself when the server is back.
///
/// ```no_run
/// use std::time::Duration;
/// use sessions_memcached::MemcachedBackend;
///
/// # async fn run() -> Result<(), sessions_memcached::Error> {
/// let backend = MemcachedBackend::builder()
///     .key_prefix("myapp:session:")
///     .request_timeout(Duration::from_millis(500))
///     .max_connections(32)
///     .connect("memcache://127.0.0.1:11211")
///     .await?;
/// # let _ = backend;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MemcachedBackend {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    address: String,
    prefix: String,
    limit: RecordLimit,
    /// Compare-and-swap keeps saves of one session correct between
    /// processes; within one, concurrent saves of a session would mostly
    /// lose their swap and read again. Queued here, each one takes at most
    /// three round trips while only this process writes the session (the
    /// swap under the token of its load, then a read and a swap). A wait is bounded by the request timeout, after
    /// which the save goes on without the lock (the swap still guards it).
    locks: Vec<tokio::sync::Mutex<()>>,
    request_timeout: Duration,
}

impl fmt::Debug for MemcachedBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemcachedBackend")
            .field("address", &self.inner.address)
            .field("prefix", &self.inner.prefix)
            .field("max_record_bytes", &self.inner.limit.max_bytes())
            .finish_non_exhaustive()
    }
}

/// Configures a [`MemcachedBackend`] before connecting.
///
/// ```no_run
/// use std::time::Duration;
/// use sessions_memcached::MemcachedBackend;
///
/// # async fn run() -> Result<(), sessions_memcached::Error> {
/// let backend = MemcachedBackend::builder()
///     .connect_timeout(Duration::from_millis(300))
///     .max_record_bytes(256 * 1024)
///     .connect("memcache://10.0.0.5:11211")
///     .await?;
/// # let _ = backend;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MemcachedBackendBuilder {
    prefix: String,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_connections: usize,
    max_record_bytes: usize,
}

impl Default for MemcachedBackendBuilder {
    fn default() -> Self {
        MemcachedBackendBuilder {
            prefix: "session:".to_owned(),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            max_connections: 16,
            max_record_bytes: DEFAULT_LIMIT,
        }
    }
}

impl MemcachedBackendBuilder {
    /// The prefix of every key this backend writes (default `session:`).
    /// Give each application its own when they share a server. Printable
    /// ASCII without spaces, at most 186 bytes (memcached keys end at 250).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest a new connection may take (default 1 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest one request may take, from waiting for a connection to
    /// reading the answer, before the call fails with
    /// [`BackendError::Unavailable`] (default 2 s). The save of a loaded
    /// session is one request when no one wrote it since the load, else
    /// two more (a read and a swap; more when concurrent saves of one
    /// session conflict).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The most connections open at once (default 16); more concurrent
    /// requests wait for one, within the request timeout.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }

    /// The largest record stored, in bytes of
    /// [`sessions_core::backend::record::encoded_len`] (default 1 MiB less 4 KiB,
    /// which fits memcached's default 1 MiB item with its header). A
    /// `create` of a larger record, or an `update` whose result would be
    /// larger, fails with [`BackendError::TooLarge`] and changes nothing.
    /// Keep it below the server's item size (`-I`).
    pub fn max_record_bytes(mut self, limit: usize) -> Self {
        self.max_record_bytes = limit;
        self
    }

    fn check(&self) -> Result<(), Error> {
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err(Error::Config("timeouts must be longer than zero".into()));
        }
        if self.max_connections == 0 {
            return Err(Error::Config("at least one connection is needed".into()));
        }
        if !self.prefix.bytes().all(|b| b.is_ascii_graphic()) || self.prefix.len() + 64 > MAX_KEY {
            return Err(Error::Config(format!(
                "the key prefix must be printable ASCII without spaces and at most {} bytes",
                MAX_KEY - 64
            )));
        }
        Ok(())
    }

    /// Connects to the server at `url` (`memcache://host[:port]`, port
    /// 11211 by default; `memcached://` is read the same) and checks that
    /// it answers.
    pub async fn connect(self, url: &str) -> Result<MemcachedBackend, Error> {
        self.check()?;
        let address = address(url)?;
        let pool = Pool::new(address.clone(), self.max_connections, self.connect_timeout, self.request_timeout);
        let backend = MemcachedBackend {
            inner: Arc::new(Inner {
                pool,
                address,
                prefix: self.prefix,
                limit: RecordLimit::new(self.max_record_bytes),
                locks: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
                request_timeout: self.request_timeout,
            }),
        };
        // A miss is an answer: the server is there and speaks meta commands.
        command::get(&backend.inner.pool, &backend.item_key(&StorageKey::from_bytes([0; 32])))
            .await
            .map_err(Error::Connect)?;
        backend.check_compare_and_swap().await?;
        Ok(backend)
    }
}

/// `host:port` from `memcache://host[:port][/]`.
fn address(url: &str) -> Result<String, Error> {
    let rest = url
        .strip_prefix("memcache://")
        .or_else(|| url.strip_prefix("memcached://"))
        .ok_or_else(|| Error::Url(format!("`{url}` does not start with memcache://")))?;
    let host = rest.strip_suffix('/').unwrap_or(rest);
    if host.is_empty() || host.contains(['/', '@', '?', '#']) {
        return Err(Error::Url(format!("`{url}` is not memcache://host[:port] (no user, path or options)")));
    }
    // A bare IPv6 address is in brackets; a port follows the last colon.
    let has_port = match host.rsplit_once(':') {
        Some((name, port)) => {
            !name.ends_with(':') && port.parse::<u16>().is_ok() && (!name.contains(':') || name.ends_with(']'))
        }
        None => false,
    };
    Ok(if has_port { host.to_owned() } else { format!("{host}:11211") })
}

impl MemcachedBackend {
    /// Configures a backend (key prefix, timeouts, connections, size limit).
    pub fn builder() -> MemcachedBackendBuilder {
        MemcachedBackendBuilder::default()
    }

    /// Connects to `url` with the default settings, e.g.
    /// `MemcachedBackend::connect("memcache://127.0.0.1:11211").await`.
    pub async fn connect(url: &str) -> Result<MemcachedBackend, Error> {
        Self::builder().connect(url).await
    }

    /// Refuses a server started with `-C`: with compare-and-swap off, every
    /// item's token is 0 and every conditional write is refused, so saves
    /// could never land. Checked on a probe item under the prefix that
    /// lives ten seconds (another process probing at the same moment can
    /// only make the check pass, never fail).
    async fn check_compare_and_swap(&self) -> Result<(), Error> {
        let key = format!("{}cas-probe", self.inner.prefix);
        // Refused or not, the `mg` below tells.
        let _answer = command::set(self.pool(), &key, b"probe", &["T10"]).await.map_err(Error::Connect)?;
        let item = command::get(self.pool(), &key).await.map_err(Error::Connect)?;
        let _ = command::delete(self.pool(), &key, None).await;
        match item {
            Some(item) if item.cas == 0 => Err(Error::Config(
                "memcached runs with compare-and-swap turned off (-C); sessions need it so that concurrent saves \
                 of one session keep each other's writes"
                    .into(),
            )),
            _ => Ok(()),
        }
    }

    /// The memcached key a session is stored under: the prefix, then the
    /// storage key in hex.
    pub fn item_key(&self, key: &StorageKey) -> String {
        format!("{}{}", self.inner.prefix, key.as_str())
    }

    fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// Queues behind other saves of `key` in this process, for at most the
    /// request timeout; `None` when the wait ran out.
    async fn queue(&self, key: &StorageKey) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        let lock = &self.inner.locks[usize::from(key.as_bytes()[0]) % STRIPES];
        tokio::time::timeout(self.inner.request_timeout, lock.lock()).await.ok()
    }

    fn limit(&self) -> usize {
        self.inner.limit.max_bytes()
    }

    /// The record in an item, or why it is not one.
    fn read(&self, item: &Item) -> Result<Fields, BackendError> {
        match item.data.split_first() {
            Some((&ITEM_V1, record)) if self.inner.limit.admits(record.len()) => record::decode(record),
            Some((&ITEM_V1, record)) => Err(BackendError::Corrupt(format!(
                "session record of {} bytes is over the limit of {}",
                record.len(),
                self.limit()
            ))),
            _ => Err(BackendError::Corrupt("memcached item of an unknown layout under a session key".into())),
        }
    }

    /// Deletes an item that is not a record, if it is still the same one,
    /// so it cannot fail every request naming it; the key is then absent.
    async fn discard(&self, key: &str, item: &Item, error: &BackendError) -> Result<(), BackendError> {
        tracing::warn!(%error, "unreadable session item deleted; its session starts afresh");
        command::delete(self.pool(), key, Some(item.cas)).await.map(drop)
    }

    /// What a server error on a store means for the caller.
    fn server_said(&self, said: ServerSaid, size: usize) -> BackendError {
        match said {
            ServerSaid::OutOfMemory(message) => BackendError::Full(format!("memcached: {message}")),
            ServerSaid::TooLarge(message) => {
                tracing::warn!(
                    size,
                    limit = self.limit(),
                    "memcached refused a record under the backend's limit ({message}): \
                     raise the server's item size (-I) or lower max_record_bytes"
                );
                BackendError::TooLarge { size, limit: size.saturating_sub(1).min(self.limit()) }
            }
        }
    }

    /// `update` of the item under `key` (the memcached key), once queued:
    /// reads the item and its CAS token, applies `patch` to the record as
    /// it is now, and writes it back with `ttl` (`T<exptime>`) only if the
    /// token still matches, else reads again. `Ok(false)` if there is no
    /// item.
    async fn read_patch_swap(&self, key: &str, patch: &Patch, ttl: &str) -> Result<bool, BackendError> {
        let mut attempt = 0;
        loop {
            let Some(item) = command::get(self.pool(), key).await? else { return Ok(false) };
            let mut fields = match self.read(&item) {
                Ok(fields) => fields,
                Err(error) => {
                    self.discard(key, &item, &error).await?;
                    return Ok(false);
                }
            };
            patch.apply(&mut fields);
            let size = self.inner.limit.check(&fields)?;
            let cas = format!("C{}", item.cas);
            // With `C`, `ms` never creates: `NF` when the item is gone.
            match command::set(self.pool(), key, &item_bytes(&fields), &[ttl, cas.as_str()]).await? {
                Ok(Ok(())) => return Ok(true),
                Ok(Err(Refused::Changed)) => back_off(attempt).await,
                Ok(Err(Refused::Gone | Refused::NotStored)) => return Ok(false),
                Err(said) => return Err(self.server_said(said, size)),
            }
            attempt += 1;
        }
    }
}

/// The item of `fields`, already checked against the limit.
fn item_bytes(fields: &Fields) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1 + record::encoded_len(fields));
    bytes.push(ITEM_V1);
    bytes.extend_from_slice(&record::encode(fields));
    bytes
}

/// memcached's expiry for `ttl`: whole seconds, rounded up and at least one
/// (zero would mean never), as a Unix time past 30 days.
fn exptime(ttl: Duration) -> u64 {
    exptime_at(SystemClock.now(), ttl)
}

/// [`exptime`] at `now` (Unix seconds).
///
/// memcached reads the expiry as a signed 32-bit number: a Unix time past
/// 2^31 - 1 (a TTL of more than about twelve years today) wraps negative,
/// and a negative expiry drops the item at once. Such a TTL is clamped to
/// [`LATEST_EXPIRY`]; once that moment is less than 30 days away (from
/// 2038 on), to the longest relative TTL instead. Either way the session
/// lives as long as memcached can keep it, never shorter than that.
fn exptime_at(now: u64, ttl: Duration) -> u64 {
    let secs = ttl.as_secs().saturating_add(u64::from(ttl.subsec_nanos() > 0)).max(1);
    if secs <= LONGEST_RELATIVE_TTL {
        return secs;
    }
    let at = now.saturating_add(secs);
    if at <= LATEST_EXPIRY {
        at
    } else if LATEST_EXPIRY > now.saturating_add(LONGEST_RELATIVE_TTL) {
        LATEST_EXPIRY
    } else {
        LONGEST_RELATIVE_TTL
    }
}

/// Waits a little after a lost compare-and-swap, longer after each, with
/// jitter, so concurrent saves of one session take turns.
async fn back_off(attempt: u32) {
    if attempt < 2 {
        tokio::task::yield_now().await;
        return;
    }
    let ceiling = 100u64 << attempt.min(6);
    let jitter = std::collections::hash_map::RandomState::new().hash_one(attempt) % ceiling;
    tokio::time::sleep(Duration::from_micros(jitter)).await;
}

#[async_trait]
impl Backend for MemcachedBackend {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let key = self.item_key(key);
        let Some(item) = command::get(self.pool(), &key).await? else { return Ok(None) };
        match self.read(&item) {
            // The CAS token, read by the same `mg`, is the revision: every
            // write of an item gives it a new one from a server-wide
            // counter, so an item written, or deleted and made again, since
            // cannot match it. A server run with CAS off (`-C`) answers 0
            // for every item, which is no revision.
            Ok(fields) if item.cas != 0 => Ok(Some(Stored::new(fields, item.ttl).at_revision(item.cas))),
            Ok(fields) => Ok(Some(Stored::new(fields, item.ttl))),
            Err(error) => {
                self.discard(&key, &item, &error).await?;
                Ok(None)
            }
        }
    }

    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        let size = self.inner.limit.check(fields)?;
        let ttl = format!("T{}", exptime(ttl));
        // `ME`: add, only if the key is free.
        match command::set(self.pool(), &self.item_key(key), &item_bytes(fields), &[ttl.as_str(), "ME"]).await? {
            Ok(Ok(())) => Ok(true),
            Ok(Err(_)) => Ok(false),
            Err(said) => Err(self.server_said(said, size)),
        }
    }

    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        // The record after the patch holds every field it sets.
        self.inner.limit.check(&patch.set)?;
        let _queued = self.queue(key).await;
        self.read_patch_swap(&self.item_key(key), patch, &format!("T{}", exptime(ttl))).await
    }

    /// The save of a record this request loaded: one `ms` of the loaded
    /// record with its patch, under the CAS token it was loaded with, which
    /// lands when no one wrote the item since. Otherwise (`EX`: written
    /// since; `NF`: gone), or when the loaded record with the patch is over
    /// the limit (the item as it is now may not be), or when the server
    /// refuses the write, the patch goes the way of `update`, which tells
    /// these cases apart and gives the same answer `update` would.
    async fn update_seen(
        &self,
        key: &StorageKey,
        seen: Seen<'_>,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        self.inner.limit.check(&patch.set)?;
        let _queued = self.queue(key).await;
        let key = self.item_key(key);
        let ttl = format!("T{}", exptime(ttl));
        if seen.revision != 0 && self.inner.limit.check(seen.fields).is_ok() {
            let cas = format!("C{}", seen.revision);
            // With `C`, `ms` never creates.
            if let Ok(Ok(())) =
                command::set(self.pool(), &key, &item_bytes(seen.fields), &[ttl.as_str(), cas.as_str()]).await?
            {
                return Ok(true);
            }
        }
        self.read_patch_swap(&key, patch, &ttl).await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        command::delete(self.pool(), &self.item_key(key), None).await.map(drop)
    }

    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        command::touch(self.pool(), &self.item_key(key), exptime(ttl)).await
    }

    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let _queued = self.queue(key).await;
        let key = self.item_key(key);
        let mut attempt = 0;
        loop {
            let Some(item) = command::get(self.pool(), &key).await? else { return Ok(None) };
            // Deleted only if no save landed since the read: a save either
            // is in what this returns, or finds the item gone.
            match command::delete(self.pool(), &key, Some(item.cas)).await? {
                Ok(()) => {
                    return match self.read(&item) {
                        Ok(fields) => Ok(Some(Stored::new(fields, item.ttl))),
                        Err(error) => {
                            tracing::warn!(%error, "unreadable session item deleted; its session starts afresh");
                            Ok(None)
                        }
                    };
                }
                Err(Refused::Changed) => back_off(attempt).await,
                Err(Refused::Gone | Refused::NotStored) => return Ok(None),
            }
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_host_and_port() {
        assert_eq!(address("memcache://127.0.0.1:11211").unwrap(), "127.0.0.1:11211");
        assert_eq!(address("memcached://cache.internal").unwrap(), "cache.internal:11211");
        assert_eq!(address("memcache://cache:1234/").unwrap(), "cache:1234");
        assert_eq!(address("memcache://[::1]:11211").unwrap(), "[::1]:11211");
        assert_eq!(address("memcache://[::1]").unwrap(), "[::1]:11211");
        for bad in ["redis://h:1", "memcache://", "memcache://u:p@h:1", "memcache://h:1/db", "memcache://h?x=1"] {
            assert!(address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ttls_are_whole_seconds_and_long_ones_absolute() {
        assert_eq!(exptime(Duration::from_millis(1)), 1);
        assert_eq!(exptime(Duration::ZERO), 1);
        assert_eq!(exptime(Duration::from_millis(1500)), 2);
        assert_eq!(exptime(Duration::from_secs(LONGEST_RELATIVE_TTL)), LONGEST_RELATIVE_TTL);
        let now = SystemClock.now();
        let absolute = exptime(Duration::from_secs(LONGEST_RELATIVE_TTL + 1));
        assert!(absolute > now + LONGEST_RELATIVE_TTL && absolute <= now + LONGEST_RELATIVE_TTL + 3);
    }

    #[test]
    fn a_ttl_memcached_cannot_express_is_clamped_never_wrapped() {
        let now = 1_800_000_000;
        // About 16 years: past 2^31 as a Unix time.
        let long = Duration::from_secs(500_000_000);
        assert_eq!(exptime_at(now, long), LATEST_EXPIRY);
        assert_eq!(exptime_at(now, Duration::MAX), LATEST_EXPIRY);
        assert_eq!(exptime_at(now, Duration::from_secs(LATEST_EXPIRY - now)), LATEST_EXPIRY);
        // Within 30 days of the limit, the longest relative TTL is longer.
        let late = LATEST_EXPIRY - 3600;
        assert_eq!(exptime_at(late, long), LONGEST_RELATIVE_TTL);
        assert_eq!(exptime_at(u64::MAX, long), LONGEST_RELATIVE_TTL);
        // Every answer is a relative TTL or a Unix time in the future.
        for now in [0, now, late, LATEST_EXPIRY, u64::MAX] {
            let at = exptime_at(now, long);
            assert!(at <= LONGEST_RELATIVE_TTL || (at > now && at <= LATEST_EXPIRY), "{now}: {at}");
        }
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(MemcachedBackend::builder().key_prefix("a b").check().is_err());
        assert!(MemcachedBackend::builder().key_prefix("x".repeat(187)).check().is_err());
        assert!(MemcachedBackend::builder().key_prefix("x".repeat(186)).check().is_ok());
    }
}

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
