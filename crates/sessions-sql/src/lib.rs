//! Server-side sessions on PostgreSQL, MySQL/MariaDB and SQLite, through
//! sqlx.
//!
//! [`SqlBackend`] implements [`sessions_core::Backend`] on one table:
//!
//! | column    | holds                                                        |
//! |-----------|--------------------------------------------------------------|
//! | `id`      | the 32-byte storage key (a keyed hash of the session id)     |
//! | `data`    | the record, in [`sessions_core::backend::record`]'s versioned format  |
//! | `version` | random at insert, bumped by every write, for compare-and-set |
//! | `expires` | expiry in Unix milliseconds, indexed for the sweep           |
//!
//! A load and a changed save are one round trip each: the save writes the
//! record the request loaded, with its changes, under a compare-and-set on
//! the `version` it was loaded at. Saves never lose a concurrent request's
//! writes to other keys: when that `version` moved on, the save reads the
//! row, applies its [`Patch`], and writes back only if `version` is
//! unchanged; on a conflict it re-applies the patch to the newer row,
//! and if that conflicts again it takes a row lock (`SELECT ... FOR UPDATE`,
//! or `BEGIN IMMEDIATE` on SQLite) so heavy contention is served in turn
//! rather than retried. A save only ever updates an existing, unexpired
//! row, so a save in flight during a logout cannot bring the session back.
//!
//! Records are bounded as a whole: a save applies its patch to the row's
//! record and refuses the result with [`BackendError::TooLarge`] if it is
//! over [`SqlBackendBuilder::max_record_bytes`] (1 MiB of
//! [`record::encoded_len`] by default), writing nothing.
//!
//! Pick the engines with the cargo features `postgres`, `mysql` and
//! `sqlite` (all on by default).
//!
//! ```
//! use std::sync::Arc;
//! use sessions_core::{Key, KeyRing, ServerStore, StoreConfig};
//! use sessions_sql::SqlBackend;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // An embedded store: no service to run. Use `postgres://...`,
//! // `mysql://...` or `sqlite:sessions.db` the same way.
//! let backend = SqlBackend::connect("sqlite::memory:").await?;
//! let config = StoreConfig::new("id", KeyRing::from(Key::generate()));
//! let store = ServerStore::new(config, Arc::new(backend))?;
//! # let _ = store;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs)]

#[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
compile_error!("sessions-sql needs at least one of the features `postgres`, `mysql`, `sqlite`");

#[cfg(feature = "testing")]
pub mod testing;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
pub use sessions_core::backend::Sweeper;
use sessions_core::backend::record::{self, DEFAULT_MAX_RECORD_BYTES, Fields};
use sessions_core::backend::{Backend, BackendError, Patch, RecordLimit, Seen, StorageKey, Stored, Sweep};
use sqlx::Row;

#[cfg(feature = "mysql")]
use sqlx::mysql::MySqlPool;
#[cfg(feature = "postgres")]
use sqlx::postgres::PgPool;
#[cfg(feature = "sqlite")]
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// Compare-and-set attempts before a save falls back to a row lock.
const OPTIMISTIC_ATTEMPTS: usize = 2;

/// Attempts under a row lock before a save gives up. They are only repeated
/// when the database aborts one to break a deadlock, which InnoDB does now
/// and then when locking reads meet updates of an indexed column.
const LOCKED_ATTEMPTS: usize = 20;

/// A pooled connection idle for longer than this is pinged before use.
/// sqlx pings before *every* use by default, which doubles the round trips
/// of a session load; a connection used moments ago is almost surely alive,
/// and if it is not, the request fails as `Unavailable` and the pool drops it.
const PING_AFTER_IDLE: Duration = Duration::from_secs(30);
/// How often a migration statement is retried after a failure, for apps
/// racing to create the same table on a fresh database.
const MIGRATE_RETRIES: u32 = 3;

/// Pool options shared by the networked engines.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn pool_options<DB: sqlx::Database>(builder: &SqlBackendBuilder) -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::<DB>::new()
        .max_connections(builder.max_connections)
        .acquire_timeout(builder.acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_AFTER_IDLE {
                    sqlx::Connection::ping(connection).await?;
                }
                Ok(true)
            })
        })
}

/// The errors of setting up a [`SqlBackend`]. Errors while serving
/// requests are [`BackendError`]s.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be reached, or the migration failed.
    #[error("session database: {0}")]
    Database(#[from] sqlx::Error),
    /// The URL names an engine this build does not support.
    #[error("unsupported session database URL `{0}` (expected postgres://, mysql://, mariadb:// or sqlite:)")]
    UnsupportedUrl(String),
    /// The configuration is inconsistent.
    #[error("invalid SQL backend configuration: {0}")]
    Config(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    #[cfg(feature = "postgres")]
    Postgres,
    #[cfg(feature = "mysql")]
    MySql,
    #[cfg(feature = "sqlite")]
    Sqlite,
}

#[derive(Clone)]
enum Pool {
    #[cfg(feature = "postgres")]
    Postgres(PgPool),
    #[cfg(feature = "mysql")]
    MySql(MySqlPool),
    #[cfg(feature = "sqlite")]
    Sqlite(SqlitePool),
}

impl Pool {
    fn dialect(&self) -> Dialect {
        match self {
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => Dialect::Postgres,
            #[cfg(feature = "mysql")]
            Pool::MySql(_) => Dialect::MySql,
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => Dialect::Sqlite,
        }
    }
}

/// Runs `$body` with `$pool` bound to the concrete sqlx pool, so one piece
/// of code serves every engine.
macro_rules! with_pool {
    ($self:expr, $pool:ident => $body:expr) => {
        match &$self.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres($pool) => $body,
            #[cfg(feature = "mysql")]
            Pool::MySql($pool) => $body,
            #[cfg(feature = "sqlite")]
            Pool::Sqlite($pool) => $body,
        }
    };
}

/// The statements for one table in one dialect, built once.
#[derive(Debug)]
struct Statements {
    migrate: Vec<String>,
    load: String,
    insert: String,
    purge_expired_one: String,
    compare_and_set: String,
    begin: &'static str,
    load_locked: String,
    delete: String,
    discard: String,
    touch: String,
    sweep: String,
}

impl Statements {
    fn new(dialect: Dialect, table: &str) -> Statements {
        let t = table;
        let (migrate, lock_suffix, begin) = match dialect {
            #[cfg(feature = "postgres")]
            Dialect::Postgres => (
                vec![
                    format!(
                        "CREATE TABLE IF NOT EXISTS {t} (id BYTEA PRIMARY KEY, data BYTEA NOT NULL, \
                         version BIGINT NOT NULL, expires BIGINT NOT NULL)"
                    ),
                    format!("CREATE INDEX IF NOT EXISTS {t}_expires_idx ON {t} (expires)"),
                ],
                " FOR UPDATE",
                "BEGIN",
            ),
            #[cfg(feature = "mysql")]
            Dialect::MySql => (
                vec![format!(
                    "CREATE TABLE IF NOT EXISTS {t} (id VARBINARY(32) NOT NULL PRIMARY KEY, data LONGBLOB NOT NULL, \
                     version BIGINT NOT NULL, expires BIGINT NOT NULL, INDEX {t}_expires_idx (expires))"
                )],
                " FOR UPDATE",
                "BEGIN",
            ),
            // SQLite has no row locks; BEGIN IMMEDIATE takes the database's
            // write lock before the read, which serializes writers the same way.
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => (
                vec![
                    format!(
                        "CREATE TABLE IF NOT EXISTS {t} (id BLOB PRIMARY KEY NOT NULL, data BLOB NOT NULL, \
                         version INTEGER NOT NULL, expires INTEGER NOT NULL)"
                    ),
                    format!("CREATE INDEX IF NOT EXISTS {t}_expires_idx ON {t} (expires)"),
                ],
                "",
                "BEGIN IMMEDIATE",
            ),
        };
        // MariaDB's optimizer may scan the `expires` index for
        // `id = ? AND expires > ?` when the table is small, locking a range
        // of rows instead of one: writers of one session then deadlock each
        // other. Statements that lock a row by id name the primary key.
        let by_id = match dialect {
            #[cfg(feature = "mysql")]
            Dialect::MySql => format!("{t} FORCE INDEX (PRIMARY)"),
            #[allow(unreachable_patterns)]
            _ => t.to_owned(),
        };
        let p = |sql: String| placeholders(dialect, &sql);
        Statements {
            migrate,
            load: p(format!("SELECT data, version, expires FROM {t} WHERE id = ? AND expires > ?")),
            insert: p(format!("INSERT INTO {t} (id, data, version, expires) VALUES (?, ?, ?, ?)")),
            purge_expired_one: p(format!("DELETE FROM {t} WHERE id = ? AND expires <= ?")),
            compare_and_set: p(format!(
                "UPDATE {by_id} SET data = ?, version = version + 1, expires = ? \
                 WHERE id = ? AND version = ? AND expires > ?"
            )),
            begin,
            load_locked: p(format!(
                "SELECT data, version, expires FROM {by_id} WHERE id = ? AND expires > ?{lock_suffix}"
            )),
            delete: p(format!("DELETE FROM {t} WHERE id = ?")),
            discard: p(format!("DELETE FROM {t} WHERE id = ? AND version = ?")),
            touch: p(format!("UPDATE {by_id} SET expires = ? WHERE id = ? AND expires > ?")),
            sweep: p(format!("DELETE FROM {t} WHERE expires <= ?")),
        }
    }
}

/// PostgreSQL numbers its placeholders; the others take `?`.
fn placeholders(dialect: Dialect, sql: &str) -> String {
    match dialect {
        #[cfg(feature = "postgres")]
        Dialect::Postgres => {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(c);
                }
            }
            out
        }
        #[allow(unreachable_patterns)]
        _ => sql.to_owned(),
    }
}

/// Table names are spliced into statements (identifiers cannot be bound as
/// parameters), so only plain identifiers are accepted.
fn valid_table_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 48
}

fn now_millis() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// A new row's version, drawn at random: a save checks the version its
/// request loaded, and a row deleted and made again under the same key
/// must not match a version loaded from the row before. Below 2^62, so
/// counting up from it never overflows.
fn first_version() -> Result<i64, BackendError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|err| BackendError::unavailable(format!("OS RNG: {err}")))?;
    Ok(i64::from_le_bytes(bytes) & ((1 << 62) - 1))
}

fn expiry(now: i64, ttl: Duration) -> i64 {
    now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1))
}

fn map_error(err: sqlx::Error) -> BackendError {
    match err {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            BackendError::Corrupt(err.to_string())
        }
        other if is_full(&other) => BackendError::Full(format!("the session database has no room: {other}")),
        other => BackendError::unavailable(other),
    }
}

/// A database that refused a statement for want of disk, memory or a
/// configured quota: it still answers, and reads and deletes (which make
/// room) go on, so this is `Full`, not an outage that opens the breaker.
fn is_full(err: &sqlx::Error) -> bool {
    let Some(db) = err.as_database_error() else { return false };
    #[cfg(feature = "postgres")]
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return postgres_full(pg.code());
    }
    #[cfg(feature = "mysql")]
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return mysql_full(my.number(), my.message());
    }
    #[cfg(feature = "sqlite")]
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return db.code().and_then(|code| code.parse().ok()).is_some_and(sqlite_full);
    }
    false
}

/// SQLSTATE class 53, insufficient resources: `53100` disk full, `53200`
/// out of memory, `53400` a configured limit such as `temp_file_limit`.
/// (`53300`, too many connections, is an outage: no statement ran.)
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
fn postgres_full(sqlstate: &str) -> bool {
    matches!(sqlstate, "53100" | "53200" | "53400")
}

/// MySQL and MariaDB error numbers of a full table, disk or memory, and
/// the file errors that carry the operating system's `ENOSPC` (28) or
/// `EDQUOT` (122) in their text.
#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
fn mysql_full(number: u16, message: &str) -> bool {
    const FULL: [u16; 5] = [
        1114, // ER_RECORD_FILE_FULL: the table is full
        1021, // ER_DISK_FULL: disk full, waiting for room
        1037, // ER_OUTOFMEMORY
        1038, // ER_OUT_OF_SORTMEMORY
        1041, // ER_OUT_OF_RESOURCES
    ];
    // EE_WRITE, ER_ERROR_ON_WRITE, ER_GET_ERRNO, ER_TEMP_FILE_WRITE_FAILURE:
    // full only when the operating system said so.
    const WITH_ERRNO: [u16; 4] = [3, 1026, 1030, 1878];
    if FULL.contains(&number) {
        return true;
    }
    let message = message.to_ascii_lowercase();
    WITH_ERRNO.contains(&number)
        && [
            "errno: 28",
            "errcode: 28",
            "error 28",
            "errno: 122",
            "errcode: 122",
            "error 122",
            "no space left",
            "quota exceeded",
        ]
        .iter()
        .any(|said| message.contains(said))
}

/// SQLite's (extended) result codes of a full database or disk
/// (`SQLITE_FULL`, 13) and of memory running out (`SQLITE_NOMEM`, 7, and
/// `SQLITE_IOERR_NOMEM`, 3082).
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
fn sqlite_full(code: i32) -> bool {
    matches!(code & 0xff, 13 | 7) || code == 3082
}

/// A transaction the database aborted to break a deadlock or a
/// serialization conflict (SQLSTATE 40001, or PostgreSQL's 40P01): running
/// it again is the documented remedy.
fn is_retryable(err: &sqlx::Error) -> bool {
    err.as_database_error().and_then(|e| e.code()).is_some_and(|code| code == "40001" || code == "40P01")
}

/// `Ok(None)` (try again) for a retryable failure, the mapped error otherwise.
fn retry_or_fail(err: sqlx::Error) -> Result<Option<bool>, BackendError> {
    if is_retryable(&err) { Ok(None) } else { Err(map_error(err)) }
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|e| e.is_unique_violation())
}

/// One row as read back.
struct Loaded {
    data: Vec<u8>,
    version: i64,
    expires: i64,
}

/// A [`Backend`] on an SQL database: PostgreSQL, MySQL/MariaDB or SQLite.
///
/// Use it when sessions must outlive the process and a database is already
/// part of the deployment, or with SQLite as an embedded store that needs
/// no service. Build it from a URL with [`SqlBackend::connect`], or from a
/// pool the application already has with [`SqlBackendBuilder`].
///
/// Expired rows are never returned; to reclaim their space, run
/// [`Sweep::sweep_expired`] now and then, or start
/// [`SqlBackend::spawn_sweeper`].
///
/// # Timeouts and outages
///
/// Every failure to reach the database is [`BackendError::Unavailable`]
/// (map it to `503`), and no call takes longer than the
/// [request timeout](SqlBackendBuilder::request_timeout) (10 s by default).
/// How long a call waits before failing depends on the outage:
/// - The database refuses connections (stopped, restarting): sqlx keeps
///   trying to connect until the
///   [acquire timeout](SqlBackendBuilder::acquire_timeout) (5 s by
///   default), taking the refusal for a server still starting, so *every*
///   call during the outage waits that long before it fails.
/// - The database accepts connections but does not answer, or a lock is
///   held: the call waits out the request timeout.
///
/// Both are the right waits for one call and the wrong ones for every
/// request of an outage: wrap the backend in a
/// [`Breaker`](sessions_core::backend::Breaker), so that after the first
/// calls fail, requests fail in milliseconds until a probe finds the
/// database answering. The pool reconnects by itself once the database is
/// back; connections the outage broke are dropped as they fail.
///
/// ```
/// use std::time::Duration;
/// use sessions_sql::SqlBackend;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let backend = SqlBackend::builder()
///     .table("app_sessions")
///     .max_record_bytes(64 * 1024)
///     .connect("sqlite::memory:")
///     .await?;
/// let sweeper = backend.spawn_sweeper(Duration::from_secs(300));
/// # drop(sweeper);
/// # Ok::<(), sessions_sql::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct SqlBackend {
    pool: Pool,
    table: String,
    sql: std::sync::Arc<Statements>,
    limit: RecordLimit,
    request_timeout: Duration,
}

impl fmt::Debug for SqlBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlBackend")
            .field("dialect", &self.pool.dialect())
            .field("table", &self.table)
            .field("max_record_bytes", &self.limit.max_bytes())
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// Configures a [`SqlBackend`]: table name, migration on start-up, record
/// size limit, pool size.
///
/// ```no_run
/// use sessions_sql::SqlBackend;
///
/// # async fn run() -> Result<(), sessions_sql::Error> {
/// let pool = sqlx::PgPool::connect("postgres://postgres@127.0.0.1/app").await?;
/// let backend = SqlBackend::builder().table("sessions").postgres(pool).await?;
/// # let _ = backend;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SqlBackendBuilder {
    table: String,
    migrate: bool,
    max_record_bytes: usize,
    max_connections: u32,
    acquire_timeout: Duration,
    request_timeout: Duration,
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
    /// [`BackendError::TooLarge`] before the write reaches the database. A
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
    /// with [`BackendError::Unavailable`] (default 5 s). While the database
    /// refuses connections, sqlx retries connecting for this long, so
    /// every call during such an outage takes this long to fail (see
    /// [`SqlBackend`], "Timeouts and outages").
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The longest one backend call (load, save, delete, touch) may take,
    /// waiting for a connection included, before it fails with
    /// [`BackendError::Unavailable`] (default 10 s).
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

impl SqlBackend {
    /// Configures a backend.
    pub fn builder() -> SqlBackendBuilder {
        SqlBackendBuilder::default()
    }

    /// Connects to the database at `url` with the default settings (table
    /// `sessions`, created if missing), e.g.
    /// `SqlBackend::connect("postgres://postgres@127.0.0.1/app").await`.
    /// See [`SqlBackendBuilder::connect`] for the accepted URLs.
    pub async fn connect(url: &str) -> Result<SqlBackend, Error> {
        Self::builder().connect(url).await
    }

    /// The table this backend uses.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table and its expiry index if they do not exist. Safe to
    /// run on every start.
    pub async fn migrate(&self) -> Result<(), Error> {
        for statement in &self.sql.migrate {
            // `CREATE ... IF NOT EXISTS` is not atomic on PostgreSQL: apps
            // starting together on a fresh database can both try to create
            // the table, and the loser fails on a catalog constraint. A
            // retry then finds the table made and succeeds.
            let mut attempt = 0;
            loop {
                let done = with_pool!(self, pool => sqlx::query(statement).execute(pool).await.map(drop));
                match done {
                    Ok(()) => break,
                    Err(_) if attempt < MIGRATE_RETRIES => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                    }
                    Err(err) => return Err(err.into()),
                }
            }
        }
        Ok(())
    }

    /// Starts a [`Sweeper`] that deletes expired rows
    /// ([`Sweep::sweep_expired`]) at once and then every `interval` on the
    /// current tokio runtime. Sweeping stops when the returned handle is
    /// dropped (or never, after [`Sweeper::detach`]); failures are logged
    /// and retried at the next tick.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let backend = sessions_sql::SqlBackend::connect("sqlite::memory:").await?;
    /// let sweeper = backend.spawn_sweeper(std::time::Duration::from_secs(60));
    /// drop(sweeper); // stops sweeping
    /// # Ok::<(), sessions_sql::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime, like `tokio::spawn`.
    pub fn spawn_sweeper(&self, interval: Duration) -> Sweeper {
        Sweeper::spawn(self.clone(), interval)
    }

    /// The row's data for `fields`, refused before it is built when the
    /// record is over the limit.
    fn encode(&self, fields: &Fields) -> Result<Vec<u8>, BackendError> {
        self.limit.check(fields)?;
        Ok(record::encode(fields))
    }

    /// The record a row holds, or why it is not one to serve: over the
    /// limit, or not in the record format.
    fn read_record(&self, data: &[u8]) -> Result<Fields, BackendError> {
        self.limit.check_len(data.len())?;
        record::decode(data)
    }

    /// Deletes a row `read_record` refused, unless a write replaced it in
    /// the meantime. Served, it would fail every request naming the
    /// session until it expires; deleted, the request starts afresh.
    async fn discard(&self, key: &StorageKey, version: i64, error: &BackendError) -> Result<(), BackendError> {
        tracing::warn!(%error, table = %self.table, "unreadable session row deleted; its session starts afresh");
        let id = &key.as_bytes()[..];
        let done = with_pool!(self, pool => sqlx::query(&self.sql.discard).bind(id).bind(version).execute(pool).await.map(drop));
        done.map_err(map_error)
    }

    async fn fetch(&self, key: &StorageKey, now: i64) -> Result<Option<Loaded>, BackendError> {
        let id = &key.as_bytes()[..];
        let row = with_pool!(self, pool => {
            let row = sqlx::query(&self.sql.load).bind(id).bind(now).fetch_optional(pool).await.map_err(map_error)?;
            row.map(|r| Ok::<_, sqlx::Error>(Loaded { data: r.try_get(0)?, version: r.try_get(1)?, expires: r.try_get(2)? }))
                .transpose()
        });
        row.map_err(map_error)
    }

    /// One optimistic attempt: `Some(done)` when it settled (written, or no
    /// live row), `None` on a version conflict.
    async fn try_update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<Option<bool>, BackendError> {
        let now = now_millis();
        let Some(row) = self.fetch(key, now).await? else { return Ok(Some(false)) };
        let mut fields = match self.read_record(&row.data) {
            Ok(fields) => fields,
            Err(error) => {
                self.discard(key, row.version, &error).await?;
                return Ok(Some(false));
            }
        };
        patch.apply(&mut fields);
        let data = self.encode(&fields)?;
        let id = &key.as_bytes()[..];
        let expires = expiry(now, ttl);
        let written = with_pool!(self, pool => sqlx::query(&self.sql.compare_and_set)
            .bind(data).bind(expires).bind(id).bind(row.version).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()));
        match written {
            Ok(n) => Ok((n == 1).then_some(true)),
            Err(err) => retry_or_fail(err),
        }
    }

    /// The pessimistic path: the row is locked from read to write.
    /// `Ok(None)` when the database aborted the transaction to break a
    /// deadlock.
    async fn update_locked(
        &self,
        key: &StorageKey,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<Option<bool>, BackendError> {
        let id = &key.as_bytes()[..];
        with_pool!(self, pool => {
            let mut tx = match pool.begin_with(self.sql.begin).await {
                Ok(tx) => tx,
                Err(err) => return retry_or_fail(err),
            };
            let now = now_millis();
            let row = match sqlx::query(&self.sql.load_locked).bind(id).bind(now).fetch_optional(&mut *tx).await {
                Ok(row) => row,
                Err(err) => return retry_or_fail(err),
            };
            let Some(row) = row else {
                tx.rollback().await.map_err(map_error)?;
                return Ok(Some(false));
            };
            let data: Vec<u8> = row.try_get(0).map_err(map_error)?;
            let version: i64 = row.try_get(1).map_err(map_error)?;
            let mut fields = match self.read_record(&data) {
                Ok(fields) => fields,
                Err(error) => {
                    tracing::warn!(%error, table = %self.table, "unreadable session row deleted; its session starts afresh");
                    let discarded = sqlx::query(&self.sql.discard).bind(id).bind(version).execute(&mut *tx).await;
                    if let Err(err) = discarded {
                        return retry_or_fail(err);
                    }
                    return match tx.commit().await {
                        Ok(()) => Ok(Some(false)),
                        Err(err) => retry_or_fail(err),
                    };
                }
            };
            patch.apply(&mut fields);
            let data = self.encode(&fields)?;
            let written = sqlx::query(&self.sql.compare_and_set)
                .bind(data).bind(expiry(now, ttl)).bind(id).bind(version).bind(now)
                .execute(&mut *tx).await;
            let written = match written {
                Ok(result) => result.rows_affected(),
                Err(err) => return retry_or_fail(err),
            };
            match tx.commit().await {
                Ok(()) => Ok(Some(written == 1)),
                Err(err) => retry_or_fail(err),
            }
        })
    }
}

/// The operations without a time bound; [`Backend`] wraps each in one.
impl SqlBackend {
    async fn load_now(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let now = now_millis();
        let Some(row) = self.fetch(key, now).await? else { return Ok(None) };
        let fields = match self.read_record(&row.data) {
            Ok(fields) => fields,
            Err(error) => {
                self.discard(key, row.version, &error).await?;
                return Ok(None);
            }
        };
        let ttl = Duration::from_millis(u64::try_from(row.expires.saturating_sub(now)).unwrap_or(0));
        let stored = Stored::new(fields, Some(ttl));
        Ok(Some(match u64::try_from(row.version) {
            Ok(revision) => stored.at_revision(revision),
            Err(_) => stored,
        }))
    }

    async fn create_now(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        let data = self.encode(fields)?;
        let id = &key.as_bytes()[..];
        let now = now_millis();
        let expires = expiry(now, ttl);
        for first in [true, false] {
            let inserted = with_pool!(self, pool => sqlx::query(&self.sql.insert)
                .bind(id).bind(&data).bind(first_version()?).bind(expires).execute(pool).await.map(|_| ()));
            match inserted {
                Ok(()) => return Ok(true),
                Err(err) if is_unique_violation(&err) => {
                    if !first {
                        return Ok(false);
                    }
                    // The key is taken; if only by an expired row, clear it
                    // and try once more.
                    let purged = with_pool!(self, pool => sqlx::query(&self.sql.purge_expired_one)
                        .bind(id).bind(now).execute(pool).await.map(|r| r.rows_affected()));
                    if purged.map_err(map_error)? == 0 {
                        return Ok(false);
                    }
                }
                Err(err) => return Err(map_error(err)),
            }
        }
        Ok(false)
    }

    async fn update_now(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            if let Some(done) = self.try_update(key, patch, ttl).await? {
                return Ok(done);
            }
        }
        for attempt in 0..LOCKED_ATTEMPTS {
            if let Some(done) = self.update_locked(key, patch, ttl).await? {
                return Ok(done);
            }
            tracing::debug!(attempt, table = %self.table, "session update aborted to break a deadlock; retrying");
            // Let the transaction that won the deadlock finish first.
            tokio::time::sleep(Duration::from_millis(1 + attempt as u64)).await;
        }
        Err(BackendError::unavailable(format!(
            "session update still deadlocked after {LOCKED_ATTEMPTS} attempts under a row lock"
        )))
    }

    /// The save of a row this request loaded: one compare-and-set on the
    /// version it was loaded at, which lands when no other request wrote
    /// the row since. Otherwise (or when the loaded record with the patch
    /// is over the limit, which the row as it is now may not be) the patch
    /// goes through `update`.
    async fn update_seen_now(
        &self,
        key: &StorageKey,
        seen: Seen<'_>,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        if let (Ok(version), Ok(data)) = (i64::try_from(seen.revision), self.encode(seen.fields)) {
            let id = &key.as_bytes()[..];
            let now = now_millis();
            let written = with_pool!(self, pool => sqlx::query(&self.sql.compare_and_set)
                .bind(data).bind(expiry(now, ttl)).bind(id).bind(version).bind(now)
                .execute(pool).await.map(|r| r.rows_affected()));
            match written {
                Ok(1) => return Ok(true),
                // Written since, or gone: the full path tells which.
                Ok(_) => {}
                Err(err) if is_retryable(&err) => {}
                Err(err) => return Err(map_error(err)),
            }
        }
        self.update_now(key, patch, ttl).await
    }

    async fn delete_now(&self, key: &StorageKey) -> Result<(), BackendError> {
        let id = &key.as_bytes()[..];
        let done = with_pool!(self, pool => sqlx::query(&self.sql.delete).bind(id).execute(pool).await.map(|_| ()));
        done.map_err(map_error)
    }

    /// Reads and deletes the row under its row lock, so no update lands
    /// between the two; retried when the database breaks a deadlock.
    async fn take_now(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        for attempt in 0..LOCKED_ATTEMPTS {
            if let Some(taken) = self.take_locked(key).await? {
                return Ok(taken);
            }
            tokio::time::sleep(Duration::from_millis(1 + attempt as u64)).await;
        }
        Err(BackendError::unavailable(format!(
            "session take still deadlocked after {LOCKED_ATTEMPTS} attempts under a row lock"
        )))
    }

    /// One locked attempt: `Ok(None)` when the database aborted it to break
    /// a deadlock.
    async fn take_locked(&self, key: &StorageKey) -> Result<Option<Option<Stored>>, BackendError> {
        let id = &key.as_bytes()[..];
        let retry = |err: sqlx::Error| if is_retryable(&err) { Ok(None) } else { Err(map_error(err)) };
        with_pool!(self, pool => {
            let mut tx = match pool.begin_with(self.sql.begin).await {
                Ok(tx) => tx,
                Err(err) => return retry(err),
            };
            let now = now_millis();
            let row = match sqlx::query(&self.sql.load_locked).bind(id).bind(now).fetch_optional(&mut *tx).await {
                Ok(row) => row,
                Err(err) => return retry(err),
            };
            let Some(row) = row else {
                tx.rollback().await.map_err(map_error)?;
                return Ok(Some(None));
            };
            let data: Vec<u8> = row.try_get(0).map_err(map_error)?;
            let expires: i64 = row.try_get(2).map_err(map_error)?;
            if let Err(err) = sqlx::query(&self.sql.delete).bind(id).execute(&mut *tx).await {
                return retry(err);
            }
            if let Err(err) = tx.commit().await {
                return retry(err);
            }
            let ttl = Duration::from_millis(u64::try_from(expires.saturating_sub(now)).unwrap_or(0));
            Ok(Some(Some(Stored::new(record::decode(&data)?, Some(ttl)))))
        })
    }

    async fn touch_now(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        let id = &key.as_bytes()[..];
        let now = now_millis();
        let touched = with_pool!(self, pool => sqlx::query(&self.sql.touch)
            .bind(expiry(now, ttl)).bind(id).bind(now).execute(pool).await.map(|r| r.rows_affected()));
        Ok(touched.map_err(map_error)? == 1)
    }

    /// Bounds one operation by the request timeout: a database that
    /// stopped answering (a dead peer without a reset, a stuck lock) yields
    /// `Unavailable` rather than a request that never finishes. A dropped
    /// transaction is rolled back by the pool.
    async fn bounded<T>(&self, operation: impl Future<Output = Result<T, BackendError>>) -> Result<T, BackendError> {
        match tokio::time::timeout(self.request_timeout, operation).await {
            Ok(result) => result,
            Err(_) => Err(BackendError::unavailable(format!(
                "session database did not answer within {:?}",
                self.request_timeout
            ))),
        }
    }
}

/// Deletes every expired row in one statement; counts the rows deleted.
#[async_trait]
impl Sweep for SqlBackend {
    async fn sweep_expired(&self) -> Result<u64, BackendError> {
        let now = now_millis();
        let done = with_pool!(self, pool => sqlx::query(&self.sql.sweep).bind(now).execute(pool).await.map(|r| r.rows_affected()));
        let deleted = done.map_err(map_error)?;
        tracing::debug!(deleted, table = %self.table, "expired sessions deleted");
        Ok(deleted)
    }
}

#[async_trait]
impl Backend for SqlBackend {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        self.bounded(self.load_now(key)).await
    }

    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        self.bounded(self.create_now(key, fields, ttl)).await
    }

    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        self.bounded(self.update_now(key, patch, ttl)).await
    }

    async fn update_seen(
        &self,
        key: &StorageKey,
        seen: Seen<'_>,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        self.bounded(self.update_seen_now(key, seen, patch, ttl)).await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        self.bounded(self.delete_now(key)).await
    }

    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        self.bounded(self.touch_now(key, ttl)).await
    }

    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        self.bounded(self.take_now(key)).await
    }
}

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_insufficient_resources_but_not_too_many_connections_are_full() {
        for code in ["53100", "53200", "53400"] {
            assert!(postgres_full(code), "{code}");
        }
        for code in ["53300", "53000", "08006", "57P01", "40001"] {
            assert!(!postgres_full(code), "{code}");
        }
    }

    #[test]
    fn mysql_full_table_disk_and_memory_errors_are_full_and_other_file_errors_are_not() {
        assert!(mysql_full(1114, "The table 'sessions' is full"));
        assert!(mysql_full(1021, "Disk full (/tmp/#sql_1.MAI); waiting for someone to free some space..."));
        assert!(mysql_full(1041, "Out of memory."));
        assert!(mysql_full(3, "Error writing file './test/sessions.ibd' (Errcode: 28 \"No space left on device\")"));
        assert!(mysql_full(1030, "Got error 28 \"No space left on device\" from storage engine InnoDB"));
        assert!(mysql_full(1026, "Error writing file '/tmp/MYfd=42' (errno: 122 \"Disk quota exceeded\")"));
        assert!(!mysql_full(1030, "Got error 5 \"Input/output error\" from storage engine InnoDB"));
        assert!(!mysql_full(3, "Error writing file 'x' (Errcode: 13 \"Permission denied\")"));
        assert!(!mysql_full(1205, "Lock wait timeout exceeded; try restarting transaction"));
        assert!(!mysql_full(2013, "Lost connection to MySQL server during query"));
    }

    #[test]
    fn sqlite_full_and_out_of_memory_codes_are_full() {
        for code in [13, 7, 3082] {
            assert!(sqlite_full(code), "{code}");
        }
        // SQLITE_BUSY, SQLITE_IOERR_WRITE, SQLITE_CANTOPEN, SQLITE_READONLY.
        for code in [5, 778, 14, 8] {
            assert!(!sqlite_full(code), "{code}");
        }
    }
}
