//! Configuration of a [`RedisBackend`], and connecting it.

use std::time::Duration;

#[cfg(feature = "tls")]
use redis::ErrorKind;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{RedisConnectionInfo, Script};
use sessions_core::backend::RecordLimit;
use sessions_core::backend::record::DEFAULT_MAX_RECORD_BYTES;

use crate::RedisBackend;
use crate::connection::{Connection, diagnose, plain_tcp_address};
use crate::error::Error;
use crate::scripts::{CREATE_SCRIPT, DISCARD_SCRIPT, UPDATE_SCRIPT};
use crate::sentinel::SentinelConnection;
use crate::sentinel_url::{self, SentinelUrl};
#[cfg(feature = "tls")]
use crate::tls;

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
    replicas: Option<Replicas>,
    primary_login: Option<Login>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<tls::TlsSettings>,
}

/// A login; its `Debug` leaves the password out.
#[derive(Clone)]
struct Login {
    username: Option<String>,
    password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("username", &self.username).finish_non_exhaustive()
    }
}

/// How many replicas must hold a write before it is acknowledged, and how
/// long to wait for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Replicas {
    pub(crate) count: usize,
    pub(crate) timeout: Duration,
}

impl Default for RedisBackendBuilder {
    fn default() -> Self {
        RedisBackendBuilder {
            prefix: "session:".to_owned(),
            response_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            replicas: None,
            primary_login: None,
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
    /// [`BackendError::Unavailable`](sessions_core::BackendError::Unavailable) (default 2 s). A call waits this long
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
    /// fails with [`BackendError::TooLarge`](sessions_core::BackendError::TooLarge) and changes nothing: the
    /// update's check runs inside its script, on the whole record as it is
    /// in Redis, so many small saves cannot add up past the limit. A
    /// stored record over the limit (written under a higher one) loads as
    /// absent and is deleted.
    pub fn max_record_bytes(mut self, limit: usize) -> Self {
        self.max_record_bytes = limit;
        self
    }

    /// A write is acknowledged only once at least `count` replicas hold it
    /// (Redis `WAIT` after each write, on the same connection), so that a
    /// failover that promotes one of them loses no session or logout the
    /// application was told was saved. A write that reaches fewer replicas
    /// within `timeout` fails with
    /// [`BackendError::Unavailable`](sessions_core::BackendError::Unavailable)
    /// (a 503): it may still be on the primary, but nobody was told it is
    /// saved.
    ///
    /// Each write then takes one more round trip, and as long as the
    /// slowest of those replicas takes to copy it. Without this option a
    /// write is acknowledged when the primary has it, and a failover loses
    /// what the promoted replica had not copied yet (the crate's README
    /// gives the loss measured under a primary kill). Reads are not
    /// affected.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use sessions_redis::RedisBackend;
    ///
    /// # async fn run() -> Result<(), sessions_redis::Error> {
    /// let backend = RedisBackend::builder()
    ///     .wait_for_replicas(1, Duration::from_millis(500))
    ///     .connect_sentinel(["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"], "sessions")
    ///     .await?;
    /// # let _ = backend;
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait_for_replicas(mut self, count: usize, timeout: Duration) -> Self {
        self.replicas = Some(Replicas { count, timeout });
        self
    }

    /// The login for the primary (and replicas) that sentinels name, for
    /// [`connect_sentinel`](Self::connect_sentinel): `requirepass`'s
    /// password alone, or an ACL user and its password. The sentinels'
    /// own login, if any, is in their URLs.
    pub fn primary_login(mut self, username: Option<&str>, password: &str) -> Self {
        self.primary_login = Some(Login { username: username.map(str::to_owned), password: password.to_owned() });
        self
    }

    fn check(&self) -> Result<(), Error> {
        if let Some(replicas) = self.replicas
            && (replicas.count == 0 || replicas.timeout.is_zero())
        {
            return Err(Error::Config("waiting for replicas needs at least one replica and a timeout".into()));
        }
        if self.response_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::Config("timeouts must be longer than zero".into()));
        }
        if self.prefix.contains(['{', '}']) {
            return Err(Error::Config("the key prefix must not contain `{` or `}` (they form the hash tag)".into()));
        }
        Ok(())
    }

    /// Connects to one Redis server and checks that it answers, or to the
    /// primary that Redis Sentinel names.
    ///
    /// The URL is `redis://[user[:password]@]host[:port][/db]`, the same
    /// with `rediss://` for TLS, or `redis+unix:///path/to/socket`; or
    /// `redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service`,
    /// the sentinels (port 26379 unless given) and the service they
    /// monitor, with the primary's login if it wants one
    /// ([`connect_sentinel`](Self::connect_sentinel)). A
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
        if url.starts_with(sentinel_url::SCHEME) {
            let SentinelUrl { sentinels, service, login } = SentinelUrl::parse(url)?;
            let builder = match login {
                Some((user, password)) => self.primary_login(user.as_deref(), &password),
                None => self,
            };
            return builder.connect_sentinel(sentinels, &service).await;
        }
        self.check()?;
        let client = self.client(url)?;
        let address = plain_tcp_address(&client);
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.response_timeout))
            .set_connection_timeout(Some(self.connect_timeout))
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

    /// Connects to the primary that Redis Sentinel names for `service`,
    /// asking the sentinels at these URLs (`redis://host:port`, with the
    /// sentinels' login if they want one), and follows its failovers.
    ///
    /// A command that finds the primary gone (connection dropped or
    /// refused, no answer, or `READONLY` from a primary since demoted)
    /// fails with [`BackendError::Unavailable`](sessions_core::BackendError::Unavailable);
    /// the next asks the sentinels again and, once they have promoted a
    /// replica, goes to it. Requests during a failover answer 503 until
    /// then: the README gives the time measured with a primary killed
    /// under load. See [`wait_for_replicas`](Self::wait_for_replicas) for
    /// what a failover may lose and how to make it lose nothing
    /// acknowledged.
    ///
    /// ```no_run
    /// use sessions_redis::RedisBackend;
    ///
    /// # async fn run() -> Result<(), sessions_redis::Error> {
    /// let backend = RedisBackend::builder()
    ///     .connect_sentinel(["redis://10.0.0.1:26379", "redis://10.0.0.2:26379", "redis://10.0.0.3:26379"], "sessions")
    ///     .await?;
    /// # let _ = backend;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_sentinel<I, S>(self, sentinels: I, service: &str) -> Result<RedisBackend, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.check()?;
        let sentinels: Vec<String> = sentinels.into_iter().map(|n| n.as_ref().to_owned()).collect();
        if sentinels.is_empty() {
            return Err(Error::Config("Sentinel needs at least one sentinel URL".into()));
        }
        if service.is_empty() {
            return Err(Error::Config("Sentinel needs the name of the service it monitors".into()));
        }
        let mut primary = RedisConnectionInfo::default();
        if let Some(Login { username, password }) = &self.primary_login {
            primary = primary.set_password(password.clone());
            if let Some(username) = username {
                primary = primary.set_username(username.clone());
            }
        }
        let node = SentinelNodeConnectionInfo::default().set_redis_connection_info(primary);
        let client = SentinelClient::build(sentinels, String::from(service), Some(node), SentinelServerType::Master)?;
        let limit = self.first_connect_limit();
        let connected = SentinelConnection::connect(client, self.connect_timeout, self.response_timeout);
        let connection = tokio::time::timeout(limit, connected).await.map_err(|_| Error::Timeout(limit))??;
        Ok(self.finish(Connection::Sentinel(connection)))
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
            replicas: self.replicas,
            create: Script::new(CREATE_SCRIPT),
            update: Script::new(UPDATE_SCRIPT),
            discard: Script::new(DISCARD_SCRIPT),
        }
    }
}
