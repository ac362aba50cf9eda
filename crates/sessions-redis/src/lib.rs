//! Server-side sessions on Redis, a single server or a Redis Cluster.
//!
//! [`RedisBackend`] implements [`sessions_core::Backend`]: plug it into a
//! [`ServerStore`](sessions_core::ServerStore) and every app server that
//! talks to the same Redis shares the same sessions.
//!
//! How a session is stored:
//! - one Redis hash per session, under `<prefix>{<storage key>}`, whose
//!   fields are the record's fields, so a save writes only the fields the
//!   request changed and concurrent requests keep each other's writes;
//! - the time to live is the key's own expiry (`PEXPIRE`), so Redis drops
//!   idle sessions without any sweep;
//! - a load is one round trip (`HGETALL` and `PTTL` pipelined), a save is
//!   one atomic Lua script that refuses to touch a key that no longer
//!   exists, so a save still in flight after a logout cannot bring the
//!   session back, and refuses a patch that would take the whole record
//!   over the size limit.
//!
//! The storage key sits inside a hash tag (`{...}`), so everything about
//! one session lands on one cluster slot.
//!
//! ```no_run
//! use std::sync::Arc;
//! use sessions_core::{Key, KeyRing, ServerStore, StoreConfig};
//! use sessions_redis::RedisBackend;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = RedisBackend::connect("redis://127.0.0.1:6379").await?;
//! let config = StoreConfig::new("id", KeyRing::from(Key::generate()));
//! let store = ServerStore::new(config, Arc::new(backend))?;
//! # let _ = store;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "tls")]
mod tls;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{ErrorKind, RedisError, Script, Value};
use sessions_core::backend::record::{DEFAULT_MAX_RECORD_BYTES, Fields};
use sessions_core::backend::{Backend, BackendError, Patch, RecordLimit, StorageKey, Stored};

/// The field that keeps an otherwise empty hash alive (Redis deletes empty
/// hashes) and marks it as a session. Its value is the record's size in
/// bytes of [`record::encoded_len`](sessions_core::backend::record::encoded_len), kept up to date by every write, so a
/// save can check the whole record against the limit without reading it.
/// The session model never uses an empty field name.
const MARKER_FIELD: &str = "";

/// Lua's `unpack` is limited by the C stack (about 8000 values), so long
/// argument lists are applied in slices of this many.
const LUA_SLICE: usize = 512;

/// Lua functions the scripts share: the record format's sizes.
macro_rules! lua_sizes {
    () => {
        r"
local function varint_len(n)
  local len = 1
  while n >= 128 do
    n = math.floor(n / 128)
    len = len + 1
  end
  return len
end
local function field_len(name, value_len)
  return varint_len(#name) + #name + varint_len(value_len) + value_len
end
-- A record takes at least two bytes, so a smaller or missing size is a
-- hash whose marker did not hold it yet: count it field by field once.
local function stored_size(key)
  local size = tonumber(redis.call('HGET', key, ''))
  if size and size >= 2 then return size end
  local all = redis.call('HGETALL', key)
  local body, count = 0, 0
  for i = 1, #all, 2 do
    if all[i] ~= '' then
      body = body + field_len(all[i], #all[i + 1])
      count = count + 1
    end
  end
  return 1 + varint_len(count) + body
end
"
    };
}

/// Writes a new hash only if the key is free.
/// KEYS[1]: the key. ARGV[1]: TTL in ms. ARGV[2]: slice size. ARGV[3..]:
/// name, value pairs (the marker and the record's size first).
const CREATE_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local slice = tonumber(ARGV[2])
for i = 3, #ARGV, slice do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + slice - 1, #ARGV)))
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
";

/// Applies a patch to an existing hash, never creating one, and never
/// taking the record over the limit: the size after the patch is worked
/// out from the stored size and the lengths of the fields the patch
/// replaces (`HSTRLEN`, constant time each) before anything is written.
/// Returns 1 when applied, 0 when there is no hash, and minus the size the
/// record would have had when it would be over the limit.
/// KEYS[1]: the key. ARGV[1]: TTL in ms. ARGV[2]: slice size.
/// ARGV[3]: '1' to clear. ARGV[4]: the limit. ARGV[5]: number of removed
/// names `n`. ARGV[6..6+n-1]: removed names. Then name, value pairs to set.
const UPDATE_SCRIPT: &str = concat!(
    lua_sizes!(),
    r"
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return 0 end
local slice = tonumber(ARGV[2])
local clear = ARGV[3] == '1'
local limit = tonumber(ARGV[4])
local first_set = 6 + tonumber(ARGV[5])
local count = redis.call('HLEN', key) - 1
local body = stored_size(key) - 1 - varint_len(count)
if clear then
  count = 0
  body = 0
end
local gone = {}
local function drop(name)
  if clear or gone[name] then return end
  gone[name] = true
  if redis.call('HEXISTS', key, name) == 1 then
    body = body - field_len(name, redis.call('HSTRLEN', key, name))
    count = count - 1
  end
end
for i = 6, first_set - 1 do drop(ARGV[i]) end
for i = first_set, #ARGV, 2 do
  drop(ARGV[i])
  body = body + field_len(ARGV[i], #ARGV[i + 1])
  count = count + 1
end
local size = 1 + varint_len(count) + body
if size > limit then return -size end
if clear then redis.call('DEL', key) end
for i = 6, first_set - 1, slice do
  redis.call('HDEL', key, unpack(ARGV, i, math.min(i + slice - 1, first_set - 1)))
end
for i = first_set, #ARGV, slice * 2 do
  redis.call('HSET', key, unpack(ARGV, i, math.min(i + slice * 2 - 1, #ARGV)))
end
redis.call('HSET', key, '', tostring(size))
redis.call('PEXPIRE', key, ARGV[1])
return 1
"
);

/// Deletes a hash whose record is over the limit (written while the limit
/// was higher), unless a save has brought it back under in the meantime.
/// KEYS[1]: the key. ARGV[1]: the limit.
const DISCARD_SCRIPT: &str = concat!(
    lua_sizes!(),
    r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if stored_size(KEYS[1]) <= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
return 1
"
);

/// The errors of setting up a [`RedisBackend`]. Errors while serving
/// requests are [`BackendError`]s.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL does not parse, or the first connection failed.
    #[error("cannot connect to Redis: {0}")]
    Connect(#[from] RedisError),
    /// The first connection did not complete within the response timeout.
    #[error("cannot connect to Redis: no answer within {0:?}")]
    Timeout(Duration),
    /// A `redis://` URL names a server that closed the plain-text
    /// connection without a Redis reply, as a server that accepts only TLS
    /// does.
    #[error(
        "cannot connect to Redis at {address}: it closed the plain-text connection without a Redis reply, as a \
         server that accepts only TLS does; connect with a `rediss://` URL"
    )]
    TlsRequired {
        /// The server's `host:port`.
        address: String,
    },
    /// The configuration is inconsistent.
    #[error("invalid Redis backend configuration: {0}")]
    Config(String),
}

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(cmd, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

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
    connection: Connection,
    prefix: String,
    timeout: Duration,
    limit: RecordLimit,
    create: Script,
    update: Script,
    discard: Script,
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.connection {
            Connection::Single(_) => "single",
            Connection::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisBackend")
            .field("mode", &mode)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("max_record_bytes", &self.limit.max_bytes())
            .finish()
    }
}

/// Configures a [`RedisBackend`] before connecting.
///
/// ```no_run
/// use std::time::Duration;
/// use sessions_redis::RedisBackend;
///
/// # async fn run() -> Result<(), sessions_redis::Error> {
/// let backend = RedisBackend::builder()
///     .key_prefix("shop:")
///     .connect_timeout(Duration::from_secs(1))
///     .connect_cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])
///     .await?;
/// # let _ = backend;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RedisBackendBuilder {
    prefix: String,
    response_timeout: Duration,
    connect_timeout: Duration,
    max_record_bytes: usize,
    #[cfg(feature = "tls")]
    tls: Option<tls::TlsSettings>,
}

impl Default for RedisBackendBuilder {
    fn default() -> Self {
        RedisBackendBuilder {
            prefix: "session:".to_owned(),
            response_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl RedisBackendBuilder {
    /// The prefix of every key this backend writes (default `session:`).
    /// Give each application its own when they share a Redis.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest a call waits for Redis before failing with
    /// [`BackendError::Unavailable`] (default 2 s). A call waits this long
    /// only when Redis accepts the connection but does not answer; a
    /// refused connection fails the call at once.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// The longest one connection attempt may take (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The largest record stored, in bytes of
    /// [`sessions_core::backend::record::encoded_len`] (default 1 MiB). A `create`
    /// of a larger record, or an `update` whose result would be larger,
    /// fails with [`BackendError::TooLarge`] and changes nothing: the
    /// update's check runs inside its script, on the whole record as it is
    /// in Redis, so many small saves cannot add up past the limit. A
    /// stored record over the limit (written under a higher one) loads as
    /// absent and is deleted.
    pub fn max_record_bytes(mut self, limit: usize) -> Self {
        self.max_record_bytes = limit;
        self
    }

    fn check(&self) -> Result<(), Error> {
        if self.response_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::Config("timeouts must be longer than zero".into()));
        }
        if self.prefix.contains(['{', '}']) {
            return Err(Error::Config("the key prefix must not contain `{` or `}` (they form the hash tag)".into()));
        }
        Ok(())
    }

    /// Connects to one Redis server and checks that it answers.
    ///
    /// The URL is `redis://[user[:password]@]host[:port][/db]`, the same
    /// with `rediss://` for TLS, or `redis+unix:///path/to/socket`. A
    /// password alone (`redis://:secret@host`) logs in with `requirepass`,
    /// a user and password as an ACL user. A `rediss://` server's
    /// certificate is checked against the system's certificate
    /// authorities, or the ones given to
    /// [`tls_root_certificates`](Self::tls_root_certificates) (feature
    /// `tls`, on by default).
    ///
    /// Fails with [`Error::TlsRequired`] when a `redis://` URL names a
    /// server that accepts only TLS, and with [`Error::Connect`] when the
    /// login is refused or the server cannot be reached.
    pub async fn connect(self, url: &str) -> Result<RedisBackend, Error> {
        self.check()?;
        let client = self.client(url)?;
        let address = plain_tcp_address(&client);
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(self.response_timeout)
            .set_connection_timeout(self.connect_timeout)
            // One attempt per reconnection, no back-off: a request that
            // finds the connection down fails at once instead of waiting
            // out the delays between attempts (`run` starts the next one).
            .set_number_of_retries(0);
        let limit = self.first_connect_limit();
        let connected = tokio::time::timeout(limit, ConnectionManager::new_with_config(client, config)).await;
        let backend = match connected {
            Err(_) => return Err(Error::Timeout(limit)),
            Ok(Err(err)) => return Err(diagnose(err, address.as_deref(), self.connect_timeout).await),
            Ok(Ok(manager)) => self.finish(Connection::Single(manager)),
        };
        // The connection may be made before the server has said anything:
        // a server that wants TLS or a login is found out here, at start-up,
        // not on the first request.
        let mut connection = backend.connection.clone();
        let ping = redis::cmd("PING");
        match tokio::time::timeout(limit, ping.query_async::<()>(&mut connection)).await {
            Err(_) => Err(Error::Timeout(limit)),
            Ok(Err(err)) => Err(diagnose(err, address.as_deref(), backend.timeout).await),
            Ok(Ok(())) => Ok(backend),
        }
    }

    fn client(&self, url: &str) -> Result<redis::Client, Error> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            tls::install_crypto_provider();
            return redis::Client::build_with_tls(url, tls.certificates()).map_err(|err| {
                if err.kind() == ErrorKind::InvalidClientConfig {
                    Error::Config(err.to_string())
                } else {
                    Error::Connect(err)
                }
            });
        }
        #[cfg(feature = "tls")]
        if url.starts_with("rediss:") {
            tls::install_crypto_provider();
        }
        Ok(redis::Client::open(url)?)
    }

    /// Connects to a Redis Cluster through any of its nodes.
    pub async fn connect_cluster<I, S>(self, nodes: I) -> Result<RedisBackend, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.check()?;
        let nodes: Vec<String> = nodes.into_iter().map(|n| n.as_ref().to_owned()).collect();
        if nodes.is_empty() {
            return Err(Error::Config("a cluster needs at least one node URL".into()));
        }
        let builder = ClusterClient::builder(nodes)
            .response_timeout(self.response_timeout)
            .connection_timeout(self.connect_timeout)
            .retries(2);
        #[cfg(feature = "tls")]
        let builder = match &self.tls {
            Some(tls) => {
                tls::install_crypto_provider();
                builder.certs(tls.certificates())
            }
            None => builder,
        };
        let client = builder.build()?;
        let connection = tokio::time::timeout(self.first_connect_limit(), client.get_async_connection())
            .await
            .map_err(|_| Error::Timeout(self.first_connect_limit()))??;
        Ok(self.finish(Connection::Cluster(connection)))
    }

    fn first_connect_limit(&self) -> Duration {
        self.connect_timeout.saturating_mul(2).saturating_add(self.response_timeout)
    }

    fn finish(self, connection: Connection) -> RedisBackend {
        RedisBackend {
            connection,
            prefix: self.prefix,
            timeout: self.response_timeout,
            limit: RecordLimit::new(self.max_record_bytes),
            create: Script::new(CREATE_SCRIPT),
            update: Script::new(UPDATE_SCRIPT),
            discard: Script::new(DISCARD_SCRIPT),
        }
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
    async fn run<T, F, R>(&self, request: F) -> Result<T, BackendError>
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
        match tokio::time::timeout(self.timeout, attempts).await {
            Ok(result) => result.map_err(map_error),
            Err(_) => Err(BackendError::unavailable(format!("Redis did not answer within {:?}", self.timeout))),
        }
    }
}

/// `host:port` of a plain-text TCP connection (not TLS, not a socket).
fn plain_tcp_address(client: &redis::Client) -> Option<String> {
    match &client.get_connection_info().addr {
        redis::ConnectionAddr::Tcp(host, port) => Some(format!("{host}:{port}")),
        _ => None,
    }
}

/// The error of a failed start-up. A plain-text connection the server
/// dropped (rather than refused) is probed: a Redis server answers a
/// plain-text `PING`, even one that wants a login; a TLS-only port closes
/// the connection or answers with a TLS alert.
async fn diagnose(err: RedisError, address: Option<&str>, wait: Duration) -> Error {
    let Some(address) = address else { return Error::Connect(err) };
    if err.is_connection_refusal() || err.is_timeout() || !err.is_io_error() {
        return Error::Connect(err);
    }
    if speaks_plain_text(address, wait).await {
        Error::Connect(err)
    } else {
        Error::TlsRequired { address: address.to_owned() }
    }
}

/// Whether the server at `address` answers `PING` in plain text with a
/// Redis reply (`+PONG`, or an error such as `-NOAUTH`). A server that
/// cannot be reached or stays silent counts as plain text: nothing shows
/// it wants TLS.
async fn speaks_plain_text(address: &str, wait: Duration) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
        stream.write_all(b"PING\r\n").await.ok()?;
        let mut first = [0u8; 1];
        Some(matches!(stream.read(&mut first).await, Ok(1) if matches!(first[0], b'+' | b'-')))
    };
    tokio::time::timeout(wait, probe).await.ok().flatten().unwrap_or(true)
}

fn map_error(err: RedisError) -> BackendError {
    // WRONGTYPE, or a reply of an unexpected shape: the key holds data this
    // backend did not write.
    if err.kind() == ErrorKind::TypeError || err.code() == Some("WRONGTYPE") {
        return BackendError::Corrupt(err.to_string());
    }
    if is_out_of_memory(&err) {
        return BackendError::Full(format!("Redis is at its maxmemory and evicts nothing: {err}"));
    }
    BackendError::unavailable(err)
}

/// Redis at `maxmemory` under the `noeviction` policy refuses writes with
/// `-OOM command not allowed when used memory > 'maxmemory'`, from a
/// script too (7.0 keeps the code; older servers wrap the text in `ERR`).
/// It still serves reads and deletes: a full store, not an outage.
fn is_out_of_memory(err: &RedisError) -> bool {
    err.code() == Some("OOM") || err.to_string().contains("OOM command not allowed")
}

fn reserved(name: &str) -> Result<(), BackendError> {
    if name == MARKER_FIELD {
        return Err(BackendError::Corrupt("the empty field name is reserved by the Redis backend".into()));
    }
    Ok(())
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn parse_hash(value: Value) -> Result<Option<Fields>, BackendError> {
    let pairs: Vec<(Vec<u8>, Vec<u8>)> =
        redis::from_redis_value(&value).map_err(|e| BackendError::Corrupt(e.to_string()))?;
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut fields = Fields::new();
    let mut marked = false;
    for (name, value) in pairs {
        let name = String::from_utf8(name).map_err(|_| BackendError::Corrupt("field name is not UTF-8".into()))?;
        if name == MARKER_FIELD {
            marked = true;
            continue;
        }
        fields.insert(name, value);
    }
    if !marked {
        return Err(BackendError::Corrupt("hash without the session marker field".into()));
    }
    Ok(Some(fields))
}

#[async_trait]
impl Backend for RedisBackend {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let redis_key = self.redis_key(key);
        let pipe = &redis::pipe().hgetall(&redis_key).pttl(&redis_key).clone();
        let (hash, pttl): (Value, i64) = self.run(|mut c| async move { pipe.query_async(&mut c).await }).await?;
        let Some(fields) = parse_hash(hash)? else { return Ok(None) };
        if let Err(error) = self.limit.check(&fields) {
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
        // PTTL: -1 no expiry (never written by us), -2 gone in between.
        let ttl = u64::try_from(pttl).ok().map(Duration::from_millis);
        Ok(Some(Stored::new(fields, ttl)))
    }

    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        let size = self.limit.check(fields)?;
        let mut invocation = self.create.key(self.redis_key(key));
        invocation.arg(millis(ttl)).arg(LUA_SLICE * 2).arg(MARKER_FIELD).arg(size);
        for (name, value) in fields {
            reserved(name)?;
            invocation.arg(name.as_bytes()).arg(value.as_slice());
        }
        let invocation = &invocation;
        let created: i64 = self.run(|mut c| async move { invocation.invoke_async(&mut c).await }).await?;
        Ok(created == 1)
    }

    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
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
        for name in &patch.remove {
            reserved(name)?;
            invocation.arg(name.as_bytes());
        }
        for (name, value) in &patch.set {
            reserved(name)?;
            invocation.arg(name.as_bytes()).arg(value.as_slice());
        }
        let invocation = &invocation;
        match self.run(|mut c| async move { invocation.invoke_async::<i64>(&mut c).await }).await? {
            1 => Ok(true),
            0 => Ok(false),
            refused => Err(BackendError::TooLarge {
                size: usize::try_from(refused.unsigned_abs()).unwrap_or(usize::MAX),
                limit: self.limit.max_bytes(),
            }),
        }
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        let redis_key = self.redis_key(key);
        let command = &redis::cmd("DEL").arg(&redis_key).clone();
        let _: i64 = self.run(|mut c| async move { command.query_async(&mut c).await }).await?;
        Ok(())
    }

    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        let redis_key = self.redis_key(key);
        let command = &redis::cmd("PEXPIRE").arg(&redis_key).arg(millis(ttl)).clone();
        let set: i64 = self.run(|mut c| async move { command.query_async(&mut c).await }).await?;
        Ok(set == 1)
    }

    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let redis_key = self.redis_key(key);
        // MULTI/EXEC: no script or command of another client runs between
        // the read and the delete.
        let pipe = &redis::pipe().atomic().hgetall(&redis_key).pttl(&redis_key).del(&redis_key).clone();
        let (hash, pttl, _): (Value, i64, i64) =
            self.run(|mut c| async move { pipe.query_async(&mut c).await }).await?;
        let Some(fields) = parse_hash(hash)? else { return Ok(None) };
        Ok(Some(Stored::new(fields, u64::try_from(pttl).ok().map(Duration::from_millis))))
    }
}

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
