//! Configuration of a [`SqlBackend`]: table, migration, limits, pool.

use std::time::Duration;

use sessions_core::backend::RecordLimit;
use sessions_core::backend::record::DEFAULT_MAX_RECORD_BYTES;

use super::SqlBackend;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use super::driver::sqlx;
#[cfg(feature = "mysql")]
use super::driver::sqlx::mysql::MySqlPool;
#[cfg(feature = "postgres")]
use super::driver::sqlx::postgres::PgPool;
#[cfg(feature = "sqlite")]
use super::driver::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use super::error::Error;
use super::pool::Pool;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use super::pool::pool_options;
use crate::dialect::{Statements, valid_table_name};

/// Configures a [`SqlBackend`]: table name, migration on start-up, record
/// size limit, pool size.
///
/// It builds the backend on a pool of its own from a URL
/// ([`connect`](Self::connect)), or on the application's own pool
#[doc = concat!("([`postgres`](Self::postgres), [`mysql`](Self::mysql), [`sqlite`](Self::sqlite)): a pool of sqlx ", driver_docs!(version), ", the version [`sqlx`](super::sqlx) names.")]
///
/// ```no_run
#[doc = concat!("use ", driver_docs!(module), "::{Error, SqlBackend, sqlx};")]
///
/// # async fn run() -> Result<(), Error> {
/// let pool = sqlx::PgPool::connect("postgres://postgres@127.0.0.1/app").await?;
/// let backend = SqlBackend::builder().table("sessions").postgres(pool).await?;
/// # let _ = backend;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SqlBackendBuilder {
    pub(crate) table: String,
    pub(crate) migrate: bool,
    pub(crate) max_record_bytes: usize,
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) request_timeout: Duration,
}

impl Default for SqlBackendBuilder {
    fn default() -> Self {
        SqlBackendBuilder {
            table: "sessions".to_owned(),
            migrate: true,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl SqlBackendBuilder {
    /// The table sessions live in (default `sessions`): letters, digits
    /// and `_`, at most 48 characters.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// Whether building the backend creates the table and its index if they
    /// are missing (default `true`). Turn it off where the schema is
    /// managed separately, and call [`SqlBackend::migrate`] from there.
    pub fn migrate_on_start(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// The largest stored record, in bytes of
    /// [`sessions_core::backend::record::encoded_len`] (default 1 MiB). A `create`
    /// of a larger record, or an `update` whose result (the row's record
    /// with the patch applied) would be larger, fails with
    /// [`BackendError::TooLarge`](sessions_core::BackendError::TooLarge) before the write reaches the database. A
    /// row over the limit (written under a higher one), like a row whose
    /// data does not parse, loads as absent and is deleted.
    pub fn max_record_bytes(mut self, limit: usize) -> Self {
        self.max_record_bytes = limit;
        self
    }

    /// Connections in the pool [`connect`](Self::connect) opens (default
    /// 10; an in-memory SQLite database always uses one).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// The longest a request waits for a pooled connection before failing
    /// with [`BackendError::Unavailable`](sessions_core::BackendError::Unavailable) (default 5 s). While the database
    /// refuses connections, sqlx retries connecting for this long, so
    /// every call during such an outage takes this long to fail (see
    /// [`SqlBackend`], "Timeouts and outages").
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The longest one backend call (load, save, delete, touch) may take,
    /// waiting for a connection included, before it fails with
    /// [`BackendError::Unavailable`](sessions_core::BackendError::Unavailable) (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Opens a pool for `url` and builds the backend. The scheme picks the
    /// engine: `postgres://` or `postgresql://`, `mysql://` or
    /// `mariadb://`, `sqlite:` (`sqlite::memory:` for an in-memory
    /// database, `sqlite:path/to/file.db` for a file, created if missing).
    pub async fn connect(self, url: &str) -> Result<SqlBackend, Error> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                let pool = pool_options::<sqlx::Postgres>(&self).connect(url).await?;
                self.postgres(pool).await
            }
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => {
                // sqlx speaks the MySQL protocol under one scheme only.
                let url = match url.strip_prefix("mariadb") {
                    Some(rest) => format!("mysql{rest}"),
                    None => url.to_owned(),
                };
                let pool = pool_options::<sqlx::MySql>(&self).connect(&url).await?;
                self.mysql(pool).await
            }
            #[cfg(feature = "sqlite")]
            "sqlite" => {
                use std::str::FromStr;
                let options = SqliteConnectOptions::from_str(url)?.create_if_missing(true);
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                let pool = if in_memory {
                    // Every connection to `:memory:` is a separate database:
                    // keep exactly one, for the life of the pool.
                    SqlitePoolOptions::new()
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None)
                        .acquire_timeout(self.acquire_timeout)
                        .connect_with(options)
                        .await?
                } else {
                    SqlitePoolOptions::new()
                        .max_connections(self.max_connections)
                        .acquire_timeout(self.acquire_timeout)
                        // A local file: a ping costs as much as the query.
                        .test_before_acquire(false)
                        .connect_with(options.journal_mode(SqliteJournalMode::Wal))
                        .await?
                };
                self.sqlite(pool).await
            }
            _ => Err(Error::UnsupportedUrl(url.to_owned())),
        }
    }

    /// Builds the backend on an existing PostgreSQL pool.
    #[cfg(feature = "postgres")]
    pub async fn postgres(self, pool: PgPool) -> Result<SqlBackend, Error> {
        self.build(Pool::Postgres(pool)).await
    }

    /// Builds the backend on an existing MySQL or MariaDB pool.
    #[cfg(feature = "mysql")]
    pub async fn mysql(self, pool: MySqlPool) -> Result<SqlBackend, Error> {
        self.build(Pool::MySql(pool)).await
    }

    /// Builds the backend on an existing SQLite pool. For an in-memory
    /// database the pool must keep a single connection open.
    #[cfg(feature = "sqlite")]
    pub async fn sqlite(self, pool: SqlitePool) -> Result<SqlBackend, Error> {
        self.build(Pool::Sqlite(pool)).await
    }

    async fn build(self, pool: Pool) -> Result<SqlBackend, Error> {
        if !valid_table_name(&self.table) {
            return Err(Error::Config(format!(
                "table name `{}` must be letters, digits and `_`, at most 48 characters",
                self.table
            )));
        }
        if self.request_timeout.is_zero() {
            return Err(Error::Config("the request timeout must be longer than zero".into()));
        }
        let sql = Statements::new(pool.dialect(), &self.table);
        let backend = SqlBackend {
            pool,
            table: self.table,
            sql: std::sync::Arc::new(sql),
            limit: RecordLimit::new(self.max_record_bytes),
            request_timeout: self.request_timeout,
        };
        if self.migrate {
            backend.migrate().await?;
        }
        Ok(backend)
    }
}
