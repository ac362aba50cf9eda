//! Configuration of a [`RedisBackend`], and connecting it.

use std::time::Duration;

#[cfg(feature = "tls")]
use redis::ErrorKind;
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use sessions_core::backend::RecordLimit;
use sessions_core::backend::record::DEFAULT_MAX_RECORD_BYTES;

use crate::RedisBackend;
use crate::connection::{Connection, diagnose, plain_tcp_address};
use crate::error::Error;
use crate::scripts::{CREATE_SCRIPT, DISCARD_SCRIPT, UPDATE_SCRIPT};
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
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<tls::TlsSettings>,
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
