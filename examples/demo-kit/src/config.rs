//! The environment every demo reads, parsed in one place so that all
//! demos behave the same, and the stores it describes.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sessions_core::backend::{Backend, FilesystemBackend, MemoryBackend};
use sessions_core::store::Store;
use sessions_core::{
    BrowserSession, CookieOptions, CookieStore, Key, KeyRing, PersistentSession, Registry, ServerStore, StoreConfig,
    Transport,
};

use crate::devices::Devices;

/// The cookie name of the main session.
pub const MAIN_SESSION: &str = "id";
/// The cookie name of the preferences session (always a cookie store).
pub const PREFS_SESSION: &str = "prefs";
/// Where a demo listens when `DEMO_ADDR` is unset.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// Why the environment does not describe a runnable demo.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable holds a value that does not parse.
    #[error("{name}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// `SESSION_STORE` names a scheme no demo knows.
    #[error(
        "SESSION_STORE: unknown store `{0}` (expected `cookie`, `memory`, `fs:<dir>`, `redis://...`, \
         `postgres://...`, `mysql://...`, `mariadb://...`, `sqlite:...`, `redb:<file>`, `memcache://...`, \
         `dynamodb://host:port/<table>` or `dynamodb:<table>`)"
    )]
    UnknownStore(String),
    /// `SESSION_STORE` names a store this build of the demo leaves out.
    #[error("SESSION_STORE: `{scheme}` needs the demo built with `--features {feature}`")]
    NotBuiltIn {
        /// The scheme asked for.
        scheme: String,
        /// The cargo feature that brings it in.
        feature: &'static str,
    },
    /// A network backend could not be reached or set up.
    #[error("cannot connect the `{scheme}` session backend: {reason}")]
    Connect {
        /// The scheme of `SESSION_STORE` (the URL itself may hold a password).
        scheme: String,
        /// What went wrong.
        reason: String,
    },
    /// Building the stores failed.
    #[error("cannot build the session stores: {0}")]
    Sessions(#[from] sessions_core::Error),
    /// The session backend could not be opened.
    #[error("cannot open the session backend: {0}")]
    Backend(#[from] sessions_core::BackendError),
}

/// Where the main session lives, from `SESSION_STORE`.
///
/// Parsing matches on the scheme before the first `:`; a new backend is a
/// new variant, one arm in [`StoreSpec::from_str`] and one in
/// [`Config::backend`]. Every scheme parses in every build; opening a
/// network store the build left out (features `redis`, `sql`) is an error
/// that names the feature.
///
/// ```
/// use demo_kit::StoreSpec;
///
/// assert_eq!("cookie".parse::<StoreSpec>()?, StoreSpec::Cookie);
/// assert_eq!("fs:/tmp/s".parse::<StoreSpec>()?, StoreSpec::Filesystem("/tmp/s".into()));
/// assert!("gopher://x".parse::<StoreSpec>().is_err());
/// # Ok::<(), demo_kit::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreSpec {
    /// All data in the cookie.
    Cookie,
    /// A server store on the in-process memory backend.
    Memory,
    /// A server store on one file per session in a directory.
    Filesystem(PathBuf),
    /// A server store on Redis; the URL as given (`redis://`, `rediss://`,
    /// or `redis+sentinel://host:port[,host:port...]/service`).
    Redis(String),
    /// A server store on SQL; the URL as given (`postgres://`,
    /// `postgresql://`, `mysql://`, `mariadb://`, `sqlite:`).
    Sql(String),
    /// A server store on one redb file (`redb:<file>`).
    Redb(PathBuf),
    /// A server store on memcached; the URL as given (`memcache://`,
    /// `memcached://`).
    Memcached(String),
    /// A server store on a DynamoDB table: `dynamodb://host:port/<table>`
    /// for a local server at `http://host:port` (dummy credentials), or
    /// `dynamodb:<table>` for AWS with the default configuration chain.
    DynamoDb {
        /// `http://host:port` of a local server; `None` for AWS.
        endpoint: Option<String>,
        /// The table, made on start-up if missing.
        table: String,
    },
    /// A server store on MongoDB, collection `sessions` of the database
    /// the connection string's path names; the URL as given
    /// (`mongodb://`, `mongodb+srv://`).
    MongoDb(String),
}

impl StoreSpec {
    /// True for stores that keep data on the server.
    pub fn is_server(&self) -> bool {
        !matches!(self, StoreSpec::Cookie)
    }
}

impl FromStr for StoreSpec {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        match text.split_once(':') {
            None => match text {
                "cookie" => Ok(StoreSpec::Cookie),
                "memory" => Ok(StoreSpec::Memory),
                _ => Err(ConfigError::UnknownStore(text.to_owned())),
            },
            Some(("fs", dir)) if !dir.is_empty() => Ok(StoreSpec::Filesystem(dir.into())),
            Some(("fs", _)) => {
                Err(ConfigError::Invalid { name: "SESSION_STORE", reason: "`fs:` needs a directory".into() })
            }
            Some(("redis" | "rediss" | "redis+sentinel", _)) => Ok(StoreSpec::Redis(text.to_owned())),
            Some(("postgres" | "postgresql" | "mysql" | "mariadb" | "sqlite", _)) => {
                Ok(StoreSpec::Sql(text.to_owned()))
            }
            Some(("redb", file)) if !file.is_empty() => Ok(StoreSpec::Redb(file.into())),
            Some(("redb", _)) => {
                Err(ConfigError::Invalid { name: "SESSION_STORE", reason: "`redb:` needs a file".into() })
            }
            Some(("memcache" | "memcached", _)) => Ok(StoreSpec::Memcached(text.to_owned())),
            Some(("dynamodb", rest)) => dynamodb_spec(rest),
            Some(("mongodb" | "mongodb+srv", _)) => Ok(StoreSpec::MongoDb(text.to_owned())),
            Some((scheme, _)) => Err(ConfigError::UnknownStore(format!("{scheme}:"))),
        }
    }
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreSpec::Cookie => f.write_str("cookie"),
            StoreSpec::Memory => f.write_str("memory"),
            StoreSpec::Filesystem(dir) => write!(f, "fs:{}", dir.display()),
            // Only the scheme: the rest of a URL may carry a password.
            StoreSpec::Redb(file) => write!(f, "redb:{}", file.display()),
            StoreSpec::Redis(url) | StoreSpec::Sql(url) | StoreSpec::Memcached(url) | StoreSpec::MongoDb(url) => {
                write!(f, "{}:...", scheme(url))
            }
            StoreSpec::DynamoDb { .. } => f.write_str("dynamodb:..."),
        }
    }
}

/// `rest` of `dynamodb:rest`: `//host:port/<table>` or `<table>`.
fn dynamodb_spec(rest: &str) -> Result<StoreSpec, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid { name: "SESSION_STORE", reason: reason.to_owned() };
    let table_ok = |table: &str| {
        (3..=255).contains(&table.len()) && table.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
    };
    let Some(local) = rest.strip_prefix("//") else {
        if !table_ok(rest) {
            return Err(invalid("`dynamodb:` needs a table name (3 to 255 of A-Z, a-z, 0-9, `_`, `-`, `.`)"));
        }
        return Ok(StoreSpec::DynamoDb { endpoint: None, table: rest.to_owned() });
    };
    match local.split_once('/') {
        Some((host, table)) if !host.is_empty() && !host.contains('@') && table_ok(table) => {
            Ok(StoreSpec::DynamoDb { endpoint: Some(format!("http://{host}")), table: table.to_owned() })
        }
        _ => Err(invalid("expected `dynamodb://host:port/<table>` or `dynamodb:<table>`")),
    }
}

/// How the main session travels, from `SESSION_TRANSPORT`: `cookie` (the
/// default) or `header:NAME`, the header a client without cookies sends
/// it in and the demo answers it in (the name in any letter case; it is
/// sent lowercase). The `prefs` session stays a cookie either way.
///
/// A header name is leaked, once per parse, to give the store the
/// `'static` name it takes: a few bytes, at start-up.
///
/// ```
/// use demo_kit::transport;
/// use sessions_core::Transport;
///
/// assert_eq!(transport("cookie")?, Transport::Cookie);
/// assert_eq!(transport("header:X-Session")?, Transport::Header("x-session"));
/// assert!(transport("header:set-cookie").is_err());
/// # Ok::<(), demo_kit::ConfigError>(())
/// ```
pub fn transport(text: &str) -> Result<Transport, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { name: "SESSION_TRANSPORT", reason };
    match text.trim().split_once(':') {
        None if text.trim() == "cookie" => Ok(Transport::Cookie),
        Some(("header", name)) => {
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() {
                return Err(invalid("`header:` needs a header name, as in `header:x-session`".into()));
            }
            let transport = Transport::Header(name.leak());
            transport.validate().map_err(|e| invalid(e.to_string()))?;
            Ok(transport)
        }
        _ => Err(invalid(format!("`{}` is not `cookie` or `header:NAME`", text.trim()))),
    }
}

/// A demo's whole configuration.
///
/// Read it with [`Config::from_env`] in `main`, or with
/// [`Config::from_vars`] in tests, then build the sessions with
/// [`Config::registry`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The master keys, newest first.
    pub keys: KeyRing,
    /// True when `SESSION_KEYS` was unset and a random key was made:
    /// sessions will not survive a restart.
    pub keys_generated: bool,
    /// Where the main session lives.
    pub store: StoreSpec,
    /// How the main session travels (`SESSION_TRANSPORT`, see
    /// [`transport`]).
    pub transport: Transport,
    /// Whether cookies carry `Secure`.
    pub secure: bool,
    /// Whether cookies carry `Partitioned` (`SESSION_PARTITIONED=1`): a
    /// browser keeps them apart per top-level site when the demo is
    /// embedded in another site's page (CHIPS). Needs `secure`.
    pub partitioned: bool,
    /// Idle timeout of the main session.
    pub idle: Option<Duration>,
    /// Absolute timeout of the main session.
    pub max: Option<Duration>,
    /// The most bytes of sessions the memory, filesystem and redb stores
    /// hold (`SESSION_MAX_BYTES`, [`Config::DEFAULT_MAX_BYTES`] unless
    /// set); past it a new session answers `503` "session storage full".
    pub max_bytes: u64,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(std::env::vars())
    }

    /// Reads the variables `vars` as if they were the environment; unknown
    /// names are ignored.
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Result<Config, ConfigError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let vars: HashMap<String, String> = vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());

        let addr = get("DEMO_ADDR")
            .unwrap_or(DEFAULT_ADDR)
            .parse()
            .map_err(|e| ConfigError::Invalid { name: "DEMO_ADDR", reason: format!("{e}") })?;
        let (keys, keys_generated) = match get("SESSION_KEYS") {
            Some(list) => (
                KeyRing::parse_list(list)
                    .map_err(|e| ConfigError::Invalid { name: "SESSION_KEYS", reason: e.to_string() })?,
                false,
            ),
            None => (KeyRing::from(Key::try_generate()?), true),
        };
        let store = get("SESSION_STORE").map(str::parse).transpose()?.unwrap_or(StoreSpec::Cookie);
        let transport = get("SESSION_TRANSPORT").map(transport).transpose()?.unwrap_or_default();
        let secure = match get("SESSION_SECURE") {
            None | Some("1") => true,
            Some("0") => false,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "SESSION_SECURE",
                    reason: format!("`{other}` is not 0 or 1"),
                });
            }
        };
        let partitioned = match get("SESSION_PARTITIONED") {
            None | Some("0") => false,
            Some("1") if !secure => {
                return Err(ConfigError::Invalid {
                    name: "SESSION_PARTITIONED",
                    reason: "`1` needs Secure cookies, and SESSION_SECURE=0 turns Secure off: browsers refuse a                              Partitioned cookie without Secure, so no session would persist. Drop SESSION_SECURE=0                              (Chromium sends Secure cookies over plain http to localhost and 127.0.0.1), or drop                              SESSION_PARTITIONED"
                        .into(),
                });
            }
            Some("1") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "SESSION_PARTITIONED",
                    reason: format!("`{other}` is not 0 or 1"),
                });
            }
        };
        Ok(Config {
            addr,
            keys,
            keys_generated,
            store,
            transport,
            secure,
            partitioned,
            idle: seconds(get("SESSION_IDLE_SECS"), "SESSION_IDLE_SECS")?,
            max: seconds(get("SESSION_MAX_SECS"), "SESSION_MAX_SECS")?,
            max_bytes: match get("SESSION_MAX_BYTES") {
                None => Self::DEFAULT_MAX_BYTES,
                Some(bytes) => bytes.parse().ok().filter(|&bytes| bytes > 0).ok_or_else(|| ConfigError::Invalid {
                    name: "SESSION_MAX_BYTES",
                    reason: format!("`{bytes}` is not a positive number of bytes"),
                })?,
            },
        })
    }

    /// The bound on the stores' bytes unless `SESSION_MAX_BYTES` sets
    /// another: 64 MiB, room for thousands of sessions and still small
    /// beside a disk or a server's memory, so an anonymous flood meets
    /// `Full` long before the machine runs out.
    pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;

    /// Opens the backend of a server store; `None` for the cookie store.
    ///
    /// Async because the network backends connect here.
    ///
    /// A backend on a service (Redis, SQL) is wrapped in a [`Breaker`]
    /// with its default settings (a probe every 250 ms): once the service
    /// is seen down, requests answer `503` at once instead of each waiting
    /// out a timeout; only the first ones wait, for the backend's own
    /// timeout (Redis: 2 s when it stops answering; PostgreSQL: 5 s for a
    /// connection it refuses, 10 s when it stops answering). The
    /// filesystem and SQL
    /// stores get a sweeper that deletes expired records every
    /// [`Config::SWEEP_EVERY`] for as long as the runtime this runs on, so
    /// anonymous traffic does not fill them. The memory, filesystem and
    /// redb stores hold at most [`Config::max_bytes`] of sessions and
    /// refuse more with `Full` (503 "session storage full"); Redis, SQL,
    /// memcached, DynamoDB and MongoDB are bounded by their own servers' settings.
    ///
    /// [`Breaker`]: sessions_core::backend::Breaker
    pub async fn backend(&self) -> Result<Option<Arc<dyn Backend>>, ConfigError> {
        use sessions_core::backend::{Breaker, BreakerConfig};
        let guarded = |backend| -> Arc<dyn Backend> { Arc::new(Breaker::new(backend, BreakerConfig::default())) };
        Ok(match &self.store {
            StoreSpec::Cookie => None,
            StoreSpec::Redb(file) => Some(redb_backend(file, self.max_bytes)?),
            StoreSpec::Memcached(url) => Some(memcached_backend(url).await?),
            StoreSpec::DynamoDb { endpoint, table } => Some(dynamodb_backend(endpoint.as_deref(), table).await?),
            StoreSpec::MongoDb(url) => Some(guarded(mongodb_backend(url).await?)),
            StoreSpec::Memory => Some(Arc::new(MemoryBackend::builder().max_bytes(self.max_bytes).build())),
            StoreSpec::Filesystem(dir) => {
                let backend = FilesystemBackend::builder().max_bytes(self.max_bytes).open(dir)?;
                backend.spawn_sweeper(Self::SWEEP_EVERY).detach();
                Some(Arc::new(backend))
            }
            StoreSpec::Redis(url) => Some(guarded(redis_backend(url).await?)),
            StoreSpec::Sql(url) => Some(guarded(sql_backend(url).await?)),
        })
    }

    /// How often the demos delete expired sessions from the filesystem
    /// and SQL stores.
    pub const SWEEP_EVERY: Duration = Duration::from_secs(300);

    /// The sessions of the demo: `id` on the configured store, `prefs` in
    /// its own cookie.
    pub async fn registry(&self) -> Result<Registry, ConfigError> {
        Ok(self.sessions().await?.0)
    }

    /// The sessions of the demo, as [`Config::registry`] builds them, and
    /// the [`Devices`] of its main store (none on the cookie store).
    pub async fn sessions(&self) -> Result<(Registry, Devices), ConfigError> {
        let backend = self.backend().await?;
        self.sessions_on(backend)
    }

    /// Like [`Config::registry`], with the main session on `backend` when
    /// the store is a server store; tests use it to keep one memory backend
    /// across restarts of an app.
    pub fn registry_on(&self, backend: Option<Arc<dyn Backend>>) -> Result<Registry, ConfigError> {
        Ok(self.sessions_on(backend)?.0)
    }

    /// Like [`Config::sessions`], with the main session on `backend` as
    /// [`Config::registry_on`] puts it.
    ///
    /// The server store is shared: the registry saves the requests'
    /// sessions through it, and the [`Devices`] list and end the user's
    /// sessions through it, as an application keeps an `Arc` of its store.
    pub fn sessions_on(&self, backend: Option<Arc<dyn Backend>>) -> Result<(Registry, Devices), ConfigError> {
        let options = CookieOptions::new().secure(self.secure).partitioned(self.partitioned);
        // Unset: the library's defaults; `0`: off.
        let mut lifetime = BrowserSession::new();
        if let Some(idle) = self.idle {
            lifetime = lifetime.idle_timeout(Some(idle).filter(|d| !d.is_zero()));
        }
        if let Some(max) = self.max {
            lifetime = lifetime.absolute_timeout(Some(max).filter(|d| !d.is_zero()));
        }
        let main = StoreConfig::new(MAIN_SESSION, self.keys.clone())
            .cookie_options(options.clone())
            .lifetime(lifetime)
            .transport(self.transport);
        // A preference outlives a login: the theme is kept for 180 days
        // after its last use, not dropped with the main session's timeouts.
        let prefs = StoreConfig::new(PREFS_SESSION, self.keys.clone())
            .cookie_options(options)
            .lifetime(PersistentSession::new(Duration::from_secs(180 * 24 * 60 * 60)));
        let (builder, devices) = match backend {
            Some(backend) if self.store.is_server() => {
                let store = Arc::new(ServerStore::new(main, backend)?);
                (Registry::builder().shared_store(Arc::clone(&store) as Arc<dyn Store>), Devices::on(store))
            }
            _ => (Registry::builder().store(CookieStore::new(main)?), Devices::default()),
        };
        Ok((builder.store(CookieStore::new(prefs)?).build()?, devices))
    }

    /// A line for the start-up log describing the configuration (no secrets).
    pub fn describe(&self) -> String {
        format!(
            "listening on http://{} with session store `{}`{}{}{}",
            self.addr,
            self.store,
            match self.transport.header_name() {
                Some(name) => format!(" carried in the `{name}` header"),
                None => String::new(),
            },
            if self.secure { "" } else { " (Secure attribute off)" },
            if self.partitioned { " (cookies Partitioned)" } else { "" }
        )
    }
}

fn scheme(url: &str) -> &str {
    url.split(':').next().unwrap_or_default()
}

#[cfg(feature = "redis")]
async fn redis_backend(url: &str) -> Result<Arc<dyn Backend>, ConfigError> {
    let backend = sessions_redis::RedisBackend::connect(url)
        .await
        .map_err(|e| ConfigError::Connect { scheme: scheme(url).to_owned(), reason: e.to_string() })?;
    Ok(Arc::new(backend))
}

#[cfg(not(feature = "redis"))]
async fn redis_backend(url: &str) -> Result<Arc<dyn Backend>, ConfigError> {
    Err(ConfigError::NotBuiltIn { scheme: scheme(url).to_owned(), feature: "redis" })
}

#[cfg(feature = "sql")]
async fn sql_backend(url: &str) -> Result<Arc<dyn Backend>, ConfigError> {
    let backend = sessions_sql::SqlBackend::connect(url)
        .await
        .map_err(|e| ConfigError::Connect { scheme: scheme(url).to_owned(), reason: e.to_string() })?;
    backend.spawn_sweeper(Config::SWEEP_EVERY).detach();
    Ok(Arc::new(backend))
}

#[cfg(not(feature = "sql"))]
async fn sql_backend(url: &str) -> Result<Arc<dyn Backend>, ConfigError> {
    Err(ConfigError::NotBuiltIn { scheme: scheme(url).to_owned(), feature: "sql" })
}

/// The redb store sweeps expired sessions every [`Config::SWEEP_EVERY`]
/// for as long as the runtime it was opened on runs.
#[cfg(feature = "redb")]
fn redb_backend(file: &std::path::Path, max_bytes: u64) -> Result<Arc<dyn Backend>, ConfigError> {
    let backend = sessions_redb::RedbBackend::builder()
        .max_bytes(max_bytes)
        .open(file)
        .map_err(|e| ConfigError::Connect { scheme: "redb".to_owned(), reason: e.to_string() })?;
    backend.spawn_sweeper(Config::SWEEP_EVERY).detach();
    Ok(Arc::new(backend))
}

#[cfg(not(feature = "redb"))]
fn redb_backend(_: &std::path::Path, _: u64) -> Result<Arc<dyn Backend>, ConfigError> {
    Err(ConfigError::NotBuiltIn { scheme: "redb".to_owned(), feature: "redb" })
}

/// Memcached is a service: its backend is wrapped in a [`Breaker`] so an
/// outage answers `503` at once.
///
/// [`Breaker`]: sessions_core::backend::Breaker
#[cfg(feature = "memcached")]
async fn memcached_backend(url: &str) -> Result<Arc<dyn Backend>, ConfigError> {
    use sessions_core::backend::{Breaker, BreakerConfig};
    let backend = sessions_memcached::MemcachedBackend::connect(url)
        .await
        .map_err(|e| ConfigError::Connect { scheme: scheme(url).to_owned(), reason: e.to_string() })?;
    Ok(Arc::new(Breaker::new(Arc::new(backend), BreakerConfig::default())))
}

#[cfg(not(feature = "memcached"))]
async fn memcached_backend(url: &str) -> Result<Arc<dyn Backend>, ConfigError> {
    Err(ConfigError::NotBuiltIn { scheme: scheme(url).to_owned(), feature: "memcached" })
}

/// DynamoDB is a service: its backend is wrapped in a [`Breaker`] so an
/// outage answers `503` at once. The table is made on start-up if missing.
///
/// [`Breaker`]: sessions_core::backend::Breaker
#[cfg(feature = "dynamodb")]
async fn dynamodb_backend(endpoint: Option<&str>, table: &str) -> Result<Arc<dyn Backend>, ConfigError> {
    use sessions_core::backend::{Breaker, BreakerConfig};
    use sessions_dynamodb::DynamoDbBackend;
    let connect =
        |e: sessions_dynamodb::Error| ConfigError::Connect { scheme: "dynamodb".to_owned(), reason: e.to_string() };
    let backend = match endpoint {
        Some(endpoint) => DynamoDbBackend::connect_local(endpoint, table).map_err(connect)?,
        None => DynamoDbBackend::builder().table(table).build().await.map_err(connect)?,
    };
    backend.create_table_if_missing().await.map_err(connect)?;
    Ok(Arc::new(Breaker::new(Arc::new(backend), BreakerConfig::default())))
}

#[cfg(not(feature = "dynamodb"))]
async fn dynamodb_backend(_: Option<&str>, _: &str) -> Result<Arc<dyn Backend>, ConfigError> {
    Err(ConfigError::NotBuiltIn { scheme: "dynamodb".to_owned(), feature: "dynamodb" })
}

/// The MongoDB store makes its collection's TTL index at start, if it is
/// missing; MongoDB then removes ended sessions itself.
#[cfg(feature = "mongodb")]
async fn mongodb_backend(url: &str) -> Result<Arc<dyn Backend>, ConfigError> {
    let connect =
        |e: sessions_mongodb::Error| ConfigError::Connect { scheme: scheme(url).to_owned(), reason: e.to_string() };
    let backend = sessions_mongodb::MongoDbBackend::connect(url).await.map_err(connect)?;
    backend.create_indexes_if_missing().await.map_err(connect)?;
    Ok(Arc::new(backend))
}

#[cfg(not(feature = "mongodb"))]
async fn mongodb_backend(url: &str) -> Result<Arc<dyn Backend>, ConfigError> {
    Err(ConfigError::NotBuiltIn { scheme: scheme(url).to_owned(), feature: "mongodb" })
}

fn seconds(value: Option<&str>, name: &'static str) -> Result<Option<Duration>, ConfigError> {
    value
        .map(|v| {
            v.parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|e| ConfigError::Invalid { name, reason: format!("`{v}`: {e}") })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessions_core::Key;

    #[test]
    fn defaults_are_cookie_store_secure_and_a_generated_key() {
        let config = Config::from_vars(std::iter::empty::<(String, String)>()).unwrap();
        assert_eq!(config.store, StoreSpec::Cookie);
        assert!(config.secure);
        assert!(config.keys_generated);
        assert_eq!(config.addr.to_string(), DEFAULT_ADDR);
    }

    #[test]
    fn transport_is_a_cookie_unless_a_header_is_named() {
        let config = Config::from_vars(std::iter::empty::<(String, String)>()).unwrap();
        assert_eq!(config.transport, Transport::Cookie);
        let config = Config::from_vars([("SESSION_TRANSPORT", "header:x-session")]).unwrap();
        assert_eq!(config.transport, Transport::Header("x-session"));
        assert!(config.describe().contains("`x-session` header"), "{}", config.describe());
        let config = Config::from_vars([("SESSION_TRANSPORT", " header: X-Api-Session ")]).unwrap();
        assert_eq!(config.transport, Transport::Header("x-api-session"), "trimmed and lowercased");
        assert_eq!(Config::from_vars([("SESSION_TRANSPORT", "cookie")]).unwrap().transport, Transport::Cookie);
    }

    #[test]
    fn bad_transport_is_refused_naming_the_variable() {
        for bad in ["header", "header:", "header:x session", "header:cookie", "header:vary", "bearer", "query:id"] {
            let err = Config::from_vars([("SESSION_TRANSPORT", bad)]).unwrap_err();
            assert!(err.to_string().starts_with("SESSION_TRANSPORT"), "{bad}: {err}");
        }
    }

    #[test]
    fn header_transport_carries_the_main_session_and_leaves_prefs_a_cookie() {
        let config = Config::from_vars([("SESSION_TRANSPORT", "header:x-session")]).unwrap();
        let registry = config.registry_on(None).unwrap();
        let sessions = registry.request_with([], |_| std::iter::empty());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            sessions.default_session().await.unwrap().insert("count", &1).unwrap();
            sessions.get(PREFS_SESSION).await.unwrap().insert("theme", "dark").unwrap();
            let finished = sessions.finish(200, None, |name, value| Some((name, value.to_owned()))).await;
            assert_eq!(finished.values("x-session").count(), 1);
            let cookies: Vec<&str> = finished.values("set-cookie").collect();
            assert!(cookies.len() == 1 && cookies[0].starts_with("prefs="), "{cookies:?}");
        });
    }

    #[test]
    fn keys_are_read_newest_first() {
        let (a, b) = (Key::generate(), Key::generate());
        let list = format!("{},{}", a.to_base64(), b.to_base64());
        let config = Config::from_vars([("SESSION_KEYS", list)]).unwrap();
        assert_eq!(config.keys.len(), 2);
        assert!(!config.keys_generated);
    }

    #[test]
    fn unknown_store_scheme_is_an_error_naming_it() {
        let err = Config::from_vars([("SESSION_STORE", "gopher://host")]).unwrap_err();
        assert!(err.to_string().contains("gopher:"), "{err}");
    }

    #[test]
    fn network_store_urls_parse_by_scheme() {
        assert_eq!(
            "redis://127.0.0.1:6379".parse::<StoreSpec>().unwrap(),
            StoreSpec::Redis("redis://127.0.0.1:6379".into())
        );
        let sentinel = "redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2/sessions";
        assert_eq!(sentinel.parse::<StoreSpec>().unwrap(), StoreSpec::Redis(sentinel.into()));
        assert_eq!(sentinel.parse::<StoreSpec>().unwrap().to_string(), "redis+sentinel:...", "no password shown");
        for url in ["postgres://u@h/db", "postgresql://h/db", "mysql://root@h/test", "mariadb://h/t", "sqlite::memory:"]
        {
            assert_eq!(url.parse::<StoreSpec>().unwrap(), StoreSpec::Sql(url.into()), "{url}");
        }
    }

    #[test]
    fn network_store_is_described_without_its_credentials() {
        let spec: StoreSpec = "postgres://app:hunter2@db/sessions".parse().unwrap();
        assert_eq!(spec.to_string(), "postgres:...");
    }

    #[test]
    fn redb_and_memcache_stores_parse() {
        assert_eq!("redb:/tmp/s.redb".parse::<StoreSpec>().unwrap(), StoreSpec::Redb("/tmp/s.redb".into()));
        assert!("redb:".parse::<StoreSpec>().is_err());
        for url in ["memcache://127.0.0.1:11211", "memcached://cache"] {
            assert_eq!(url.parse::<StoreSpec>().unwrap(), StoreSpec::Memcached(url.into()), "{url}");
        }
        assert_eq!("memcache://h:1".parse::<StoreSpec>().unwrap().to_string(), "memcache:...");
    }

    #[test]
    fn dynamodb_stores_parse_a_local_server_or_an_aws_table() {
        let local = |endpoint: &str, table: &str| StoreSpec::DynamoDb {
            endpoint: Some(endpoint.to_owned()),
            table: table.to_owned(),
        };
        assert_eq!(
            "dynamodb://127.0.0.1:5000/sessions-1".parse::<StoreSpec>().unwrap(),
            local("http://127.0.0.1:5000", "sessions-1")
        );
        assert_eq!("dynamodb://db:8000/a.b_c".parse::<StoreSpec>().unwrap(), local("http://db:8000", "a.b_c"));
        assert_eq!(
            "dynamodb:myapp-sessions".parse::<StoreSpec>().unwrap(),
            StoreSpec::DynamoDb { endpoint: None, table: "myapp-sessions".into() }
        );
        for bad in [
            "dynamodb:",
            "dynamodb:ab",
            "dynamodb:a/b",
            "dynamodb://127.0.0.1:5000",
            "dynamodb://127.0.0.1:5000/",
            "dynamodb:///sessions",
            "dynamodb://key:secret@h:1/sessions",
            "dynamodb://h:1/t/u",
        ] {
            assert!(bad.parse::<StoreSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_dynamodb_store_displays_neither_host_nor_table() {
        for spec in ["dynamodb://10.0.0.5:8000/secret-table", "dynamodb:secret-table"] {
            let shown = spec.parse::<StoreSpec>().unwrap().to_string();
            assert_eq!(shown, "dynamodb:...", "{spec}");
        }
    }

    #[cfg(not(feature = "dynamodb"))]
    #[test]
    fn dynamodb_store_without_the_feature_names_the_feature() {
        let config = Config::from_vars([("SESSION_STORE", "dynamodb://127.0.0.1:8000/sessions")]).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let err = runtime.block_on(config.registry()).unwrap_err();
        assert!(matches!(err, ConfigError::NotBuiltIn { feature: "dynamodb", .. }), "{err}");
    }

    #[test]
    fn mongodb_connection_strings_parse_and_are_described_without_their_credentials() {
        for url in [
            "mongodb://127.0.0.1:27017/test?directConnection=true",
            "mongodb://app:hunter2@db1:27017,db2:27017/app?replicaSet=rs0",
            "mongodb+srv://app:hunter2@cluster0.example.net/app",
        ] {
            let spec = url.parse::<StoreSpec>().unwrap();
            assert_eq!(spec, StoreSpec::MongoDb(url.into()), "{url}");
            assert!(spec.is_server());
            assert!(!spec.to_string().contains("hunter2"), "{spec}");
        }
        assert_eq!("mongodb://app:hunter2@h/app".parse::<StoreSpec>().unwrap().to_string(), "mongodb:...");
        assert_eq!("mongodb+srv://app:hunter2@h/app".parse::<StoreSpec>().unwrap().to_string(), "mongodb+srv:...");
    }

    #[cfg(not(feature = "mongodb"))]
    #[test]
    fn mongodb_store_without_the_feature_names_the_feature() {
        let config = Config::from_vars([("SESSION_STORE", "mongodb://127.0.0.1:27017/test")]).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let err = runtime.block_on(config.registry()).unwrap_err();
        assert!(err.to_string().contains("--features mongodb"), "{err}");
    }

    #[cfg(not(feature = "redis"))]
    #[test]
    fn redis_store_without_the_feature_names_the_feature() {
        let config = Config::from_vars([("SESSION_STORE", "redis://127.0.0.1:6379")]).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let err = runtime.block_on(config.registry()).unwrap_err();
        assert!(err.to_string().contains("--features redis"), "{err}");
    }

    #[test]
    fn bad_timeout_is_an_error_naming_the_variable() {
        let err = Config::from_vars([("SESSION_IDLE_SECS", "soon")]).unwrap_err();
        assert!(err.to_string().starts_with("SESSION_IDLE_SECS"), "{err}");
    }

    #[test]
    fn partitioned_cookies_are_refused_without_secure_saying_why() {
        let err = Config::from_vars([("SESSION_PARTITIONED", "1"), ("SESSION_SECURE", "0")]).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("SESSION_PARTITIONED") && text.contains("needs Secure"), "{text}");
        assert!(Config::from_vars([("SESSION_PARTITIONED", "yes")]).is_err());
        assert!(Config::from_vars([("SESSION_PARTITIONED", "1")]).unwrap().partitioned);
        assert!(!Config::from_vars([("SESSION_PARTITIONED", "0"), ("SESSION_SECURE", "0")]).unwrap().partitioned);
    }

    #[test]
    fn partitioned_cookies_are_sent_with_the_attribute() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        for (partitioned, store) in [("1", "cookie"), ("1", "memory"), ("0", "memory")] {
            let config = Config::from_vars([("SESSION_PARTITIONED", partitioned), ("SESSION_STORE", store)]).unwrap();
            let registry = runtime.block_on(config.registry()).unwrap();
            let cookies: Vec<String> = runtime.block_on(async {
                let sessions = registry.request(None);
                sessions.default_session().await.unwrap().insert("count", &1u64).unwrap();
                sessions.get(PREFS_SESSION).await.unwrap().insert("theme", "dark").unwrap();
                let finished = sessions.finish(200, None, |name, value| Some((name, value.to_owned()))).await;
                finished.headers.into_iter().filter(|(name, _)| *name == "set-cookie").map(|(_, v)| v).collect()
            });
            assert_eq!(cookies.len(), 2, "{cookies:?}");
            for cookie in cookies {
                let attributes: Vec<&str> = cookie.split("; ").collect();
                assert_eq!(attributes.contains(&"Partitioned"), partitioned == "1", "{store}: {cookie}");
                assert!(attributes.contains(&"Secure"), "{cookie}");
            }
        }
    }

    #[test]
    fn bad_key_is_an_error() {
        assert!(Config::from_vars([("SESSION_KEYS", "short")]).is_err());
    }
}
