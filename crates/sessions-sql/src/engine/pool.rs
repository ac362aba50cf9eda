//! The connection pool of each engine, and one macro that runs the same
//! code on whichever it is.

#[cfg(any(feature = "postgres", feature = "mysql"))]
use std::time::Duration;

#[cfg(any(feature = "postgres", feature = "mysql"))]
use super::SqlBackendBuilder;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use super::driver::sqlx;
#[cfg(feature = "mysql")]
use super::driver::sqlx::mysql::MySqlPool;
#[cfg(feature = "postgres")]
use super::driver::sqlx::postgres::PgPool;
#[cfg(feature = "sqlite")]
use super::driver::sqlx::sqlite::SqlitePool;
use crate::dialect::Dialect;

/// A pooled connection idle for longer than this is pinged before use.
/// sqlx pings before *every* use by default, which doubles the round trips
/// of a session load; a connection used moments ago is almost surely alive,
/// and if it is not, the request fails as `Unavailable` and the pool drops it.
#[cfg(any(feature = "postgres", feature = "mysql"))]
const PING_AFTER_IDLE: Duration = Duration::from_secs(30);

/// Pool options shared by the networked engines.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn pool_options<DB: sqlx::Database>(builder: &SqlBackendBuilder) -> sqlx::pool::PoolOptions<DB> {
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

#[derive(Clone)]
pub(crate) enum Pool {
    #[cfg(feature = "postgres")]
    Postgres(PgPool),
    #[cfg(feature = "mysql")]
    MySql(MySqlPool),
    #[cfg(feature = "sqlite")]
    Sqlite(SqlitePool),
}

impl Pool {
    pub(crate) fn dialect(&self) -> Dialect {
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
pub(crate) use with_pool;
