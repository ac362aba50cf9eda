//! The backend itself: one hash per session, each save one script.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redis::{RedisError, Script, Value};
use sessions_core::backend::record::Fields;
use sessions_core::backend::record::encoded_len;
use sessions_core::backend::{Backend, BackendError, Patch, RecordLimit, Seen, StorageKey, Stored};

use crate::RedisBackendBuilder;
use crate::builder::Replicas;
use crate::connection::Connection;
use crate::error::{Error, map_error};
use crate::scripts::{LUA_SLICE, MARKER_FIELD};

/// A [`Backend`] on Redis: one hash per session with a server-side TTL.
///
/// Use it when several app processes must share sessions and Redis is at
/// hand. Build it with [`RedisBackend::connect`] (one server) or
/// [`RedisBackend::connect_cluster`] (a Redis Cluster), or configure it
/// with [`RedisBackend::builder`]. It is cheap to clone; clones share the
/// connection.
///
/// The empty field name is reserved (it marks the hash as a session);
/// records from `sessions-core` never use it.
///
/// # Timeouts and outages
///
/// Every failure to reach Redis is [`BackendError::Unavailable`] (map it to
/// `503`), and no call waits longer than the
/// [response timeout](RedisBackendBuilder::response_timeout) (2 s by
/// default):
/// - Redis refuses connections (stopped, crashed, restarting): a call
///   fails at once, after at most two connection attempts and no back-off
///   delay a request would wait out; the first call after the server is
///   back is served.
/// - Redis accepts connections but does not answer (hung, overloaded, a
///   network that drops packets): every call waits out the response
///   timeout (a new connection, the
///   [connect timeout](RedisBackendBuilder::connect_timeout)).
///
/// For the second case, wrap the backend in a
/// [`Breaker`](sessions_core::backend::Breaker): after the first calls
/// time out, requests fail in milliseconds until a probe finds Redis
/// answering.
///
/// ```no_run
/// use std::time::Duration;
/// use sessions_redis::RedisBackend;
///
/// # async fn run() -> Result<(), sessions_redis::Error> {
/// let backend = RedisBackend::builder()
///     .key_prefix("myapp:session:")
///     .response_timeout(Duration::from_millis(500))
///     .connect("redis://127.0.0.1:6379")
///     .await?;
/// # let _ = backend;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisBackend {
    pub(crate) connection: Connection,
    pub(crate) prefix: String,
    pub(crate) timeout: Duration,
    pub(crate) limit: RecordLimit,
    pub(crate) replicas: Option<Replicas>,
    pub(crate) create: Script,
    pub(crate) update: Script,
    pub(crate) discard: Script,
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.connection {
            Connection::Single(_) => "single",
            Connection::Cluster(_) => "cluster",
            Connection::Sentinel(_) => "sentinel",
        };
        f.debug_struct("RedisBackend")
            .field("mode", &mode)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("max_record_bytes", &self.limit.max_bytes())
            .field("replicas", &self.replicas)
            .finish()
    }
}

impl RedisBackend {
    /// Configures a backend (key prefix, timeouts, size limit).
    pub fn builder() -> RedisBackendBuilder {
        RedisBackendBuilder::default()
    }

    /// Connects to one Redis server with the default settings, e.g.
    /// `RedisBackend::connect("redis://127.0.0.1:6379").await`.
    pub async fn connect(url: &str) -> Result<RedisBackend, Error> {
        Self::builder().connect(url).await
    }

    /// Connects to a Redis Cluster with the default settings, given the
    /// URLs of some of its nodes.
    pub async fn connect_cluster<I, S>(nodes: I) -> Result<RedisBackend, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::builder().connect_cluster(nodes).await
    }

    /// The Redis key a session is stored under: the prefix, then the
    /// storage key inside a hash tag.
    pub fn redis_key(&self, key: &StorageKey) -> String {
        format!("{}{{{}}}", self.prefix, key.as_str())
    }

    /// Sends one request, bounded by the response timeout whatever state
    /// the connection is in (connecting, reconnecting, or a server that
    /// accepted the connection but stopped answering).
    ///
    /// A refused connection is the one failure after which the request is
    /// sent again: only connecting is refused, so nothing was sent, and
    /// the refusal may be that of the attempt before this call (the
    /// connection manager hands it to the next caller and starts a new
    /// attempt). Trying once more makes the first request after the
    /// server is back succeed instead of failing on the old news.
    pub(crate) async fn run<T, F, R>(&self, request: F) -> Result<T, BackendError>
    where
        F: Fn(Connection) -> R + Send,
        R: Future<Output = Result<T, RedisError>> + Send,
        T: Send,
    {
        self.run_within(self.timeout, request).await
    }

    async fn run_within<T, F, R>(&self, limit: Duration, request: F) -> Result<T, BackendError>
    where
        F: Fn(Connection) -> R + Send,
        R: Future<Output = Result<T, RedisError>> + Send,
        T: Send,
    {
        let attempts = async {
            match request(self.connection.clone()).await {
                Err(err) if err.is_connection_refusal() => request(self.connection.clone()).await,
                done => done,
            }
        };
        match tokio::time::timeout(limit, attempts).await {
            Ok(result) => result.map_err(map_error),
            Err(_) => Err(BackendError::unavailable(format!("Redis did not answer within {limit:?}"))),
        }
    }

    /// With [`wait_for_replicas`](RedisBackendBuilder::wait_for_replicas),
    /// waits until enough replicas hold every write this connection sent
    /// so far, the one just made among them; a write that did not reach
    /// them in time is not acknowledged.
    async fn replicated(&self) -> Result<(), BackendError> {
        let Some(Replicas { count, timeout }) = self.replicas else { return Ok(()) };
        let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX).max(1);
        let command = &redis::cmd("WAIT").arg(count).arg(millis).clone();
        let reached: i64 =
            self.run_within(self.timeout + timeout, |mut c| async move { command.query_async(&mut c).await }).await?;
        if usize::try_from(reached).is_ok_and(|reached| reached >= count) {
            Ok(())
        } else {
            Err(BackendError::unavailable(format!(
                "the write reached {reached} of the {count} replicas it must reach within {timeout:?}"
            )))
        }
    }
}

pub(crate) fn reserved(name: &str) -> Result<(), BackendError> {
    if name == MARKER_FIELD {
        return Err(BackendError::Corrupt("the empty field name is reserved by the Redis backend".into()));
    }
    Ok(())
}

pub(crate) fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

pub(crate) fn parse_hash(value: Value) -> Result<Option<Marked>, BackendError> {
    match value {
        Value::Nil => Ok(None),
        Value::Array(items) => parse_pairs(items),
        Value::Map(pairs) => parse_pairs(pairs.into_iter().flat_map(|(name, value)| [name, value]).collect()),
        other => Err(BackendError::Corrupt(format!("a hash read back as {other:?}"))),
    }
}

/// A session's fields as read from its hash, with the revision its marker
/// holds (none in a marker written before revisions).
pub(crate) struct Marked {
    pub(crate) fields: Fields,
    pub(crate) revision: Option<u64>,
}

impl Marked {
    fn stored(self, pttl: i64) -> Stored {
        // PTTL: -1 no expiry (never written by us), -2 gone in between.
        let stored = Stored::new(self.fields, u64::try_from(pttl).ok().map(Duration::from_millis));
        match self.revision {
            Some(revision) => stored.at_revision(revision),
            None => stored,
        }
    }
}

/// Names and values, in turn; none at all is no hash.
fn parse_pairs(items: Vec<Value>) -> Result<Option<Marked>, BackendError> {
    if items.is_empty() {
        return Ok(None);
    }
    if !items.len().is_multiple_of(2) {
        return Err(BackendError::Corrupt("a hash read back with a name and no value".into()));
    }
    let mut fields = Fields::new();
    let mut marker = None;
    let mut items = items.into_iter();
    while let (Some(name), Some(value)) = (items.next(), items.next()) {
        let (Value::BulkString(name), Value::BulkString(value)) = (name, value) else {
            return Err(BackendError::Corrupt("a hash field read back as something else than bytes".into()));
        };
        let name = String::from_utf8(name).map_err(|_| BackendError::Corrupt("field name is not UTF-8".into()))?;
        if name == MARKER_FIELD {
            marker = Some(value);
            continue;
        }
        fields.insert(name, value);
    }
    let Some(marker) = marker else {
        return Err(BackendError::Corrupt("hash without the session marker field".into()));
    };
    Ok(Some(Marked { fields, revision: revision_of(&marker) }))
}

/// The revision a marker holds after its size, if any.
fn revision_of(marker: &[u8]) -> Option<u64> {
    std::str::from_utf8(marker).ok()?.split_once(' ')?.1.parse().ok()
}

/// The revision a record created now starts at: this client's clock in
/// microseconds (see [`MARKER_FIELD`]).
fn clock_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl RedisBackend {
    /// Applies `patch` in one script; with `seen`, the revision the record
    /// was loaded at and its size after the patch, which the script trusts
    /// when the record is still at that revision (its marker is then
    /// written as this client works it out).
    async fn patch(
        &self,
        key: &StorageKey,
        patch: &Patch,
        ttl: Duration,
        seen: Option<(u64, usize)>,
    ) -> Result<bool, BackendError> {
        // The record after the patch holds every field it sets: a patch
        // over the limit on its own is refused before it is sent.
        self.limit.check(&patch.set)?;
        let mut invocation = self.update.key(self.redis_key(key));
        invocation
            .arg(millis(ttl))
            .arg(LUA_SLICE)
            .arg(if patch.clear { "1" } else { "0" })
            .arg(self.limit.max_bytes())
            .arg(patch.remove.len());
        let now = clock_micros();
        match seen {
            Some((revision, size)) => {
                invocation.arg(revision).arg(format!("{size} {}", now.max(revision.saturating_add(1))))
            }
            None => invocation.arg("").arg(""),
        };
        invocation.arg(now);
        for name in &patch.remove {
            reserved(name)?;
            invocation.arg(name.as_bytes());
        }
        for (name, value) in &patch.set {
            reserved(name)?;
            invocation.arg(name.as_bytes()).arg(value);
        }
        let invocation = &invocation;
        match self.run(|mut c| async move { invocation.invoke_async::<i64>(&mut c).await }).await? {
            1 => self.replicated().await.map(|()| true),
            0 => Ok(false),
            refused => Err(BackendError::TooLarge {
                size: usize::try_from(refused.unsigned_abs()).unwrap_or(usize::MAX),
                limit: self.limit.max_bytes(),
            }),
        }
    }
}

#[async_trait]
impl Backend for RedisBackend {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let redis_key = self.redis_key(key);
        // Two commands in one round trip. A script answering both in one
        // reply, the fields packed into one string, was tried: it cost
        // Redis 30 µs a load, ten times what the two commands cost it.
        let pipe = &redis::pipe().hgetall(&redis_key).pttl(&redis_key).clone();
        let (hash, pttl): (Value, i64) = self.run(|mut c| async move { pipe.query_async(&mut c).await }).await?;
        let Some(marked) = parse_hash(hash)? else { return Ok(None) };
        if let Err(error) = self.limit.check(&marked.fields) {
            // Written while the limit was higher. Served, it would fail
            // every save of the session; refused, every load until it
            // expires. Dropped, the request starts afresh.
            tracing::warn!(%error, "session record over the limit deleted; its session starts afresh");
            let mut invocation = self.discard.key(&redis_key);
            invocation.arg(self.limit.max_bytes());
            let invocation = &invocation;
            let _: i64 = self.run(|mut c| async move { invocation.invoke_async(&mut c).await }).await?;
            return Ok(None);
        }
        Ok(Some(marked.stored(pttl)))
    }

    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        let size = self.limit.check(fields)?;
        let mut invocation = self.create.key(self.redis_key(key));
        invocation.arg(millis(ttl)).arg(LUA_SLICE * 2).arg(MARKER_FIELD).arg(format!("{size} {}", clock_micros()));
        for (name, value) in fields {
            reserved(name)?;
            invocation.arg(name.as_bytes()).arg(value);
        }
        let invocation = &invocation;
        let created: i64 = self.run(|mut c| async move { invocation.invoke_async(&mut c).await }).await?;
        if created == 1 {
            self.replicated().await?;
        }
        Ok(created == 1)
    }

    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        self.patch(key, patch, ttl, None).await
    }

    /// One script either way; when the record is still at `seen.revision`,
    /// the script writes the patch without working out the size again.
    async fn update_seen(
        &self,
        key: &StorageKey,
        seen: Seen<'_>,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        // A clear, or a record over the limit, takes the script's full
        // path: it deletes, or refuses, after working the size out itself.
        let size = encoded_len(seen.fields);
        let seen = (!patch.clear && size <= self.limit.max_bytes()).then_some((seen.revision, size));
        self.patch(key, patch, ttl, seen).await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        let redis_key = self.redis_key(key);
        let command = &redis::cmd("DEL").arg(&redis_key).clone();
        let deleted: i64 = self.run(|mut c| async move { command.query_async(&mut c).await }).await?;
        if deleted > 0 {
            // A logout a failover forgot would bring the session back.
            self.replicated().await?;
        }
        Ok(())
    }

    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        let redis_key = self.redis_key(key);
        let command = &redis::cmd("PEXPIRE").arg(&redis_key).arg(millis(ttl)).clone();
        let set: i64 = self.run(|mut c| async move { command.query_async(&mut c).await }).await?;
        if set == 1 {
            self.replicated().await?;
        }
        Ok(set == 1)
    }

    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let redis_key = self.redis_key(key);
        // MULTI/EXEC: no script or command of another client runs between
        // the read and the delete.
        let pipe = &redis::pipe().atomic().hgetall(&redis_key).pttl(&redis_key).del(&redis_key).clone();
        let (hash, pttl, _): (Value, i64, i64) =
            self.run(|mut c| async move { pipe.query_async(&mut c).await }).await?;
        let Some(marked) = parse_hash(hash)? else { return Ok(None) };
        self.replicated().await?;
        Ok(Some(marked.stored(pttl)))
    }
}
