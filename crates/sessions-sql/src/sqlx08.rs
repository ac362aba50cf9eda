//! The backend on sqlx 0.8 (feature `sqlx-0_8`, on by default), the one
//! the crate root re-exports: [`SqlBackend`] here is
//! [`sessions_sql::SqlBackend`](crate::SqlBackend). Its builder takes the
//! pools of the sqlx 0.8 an application already has.
//!
//! The same engine is compiled for sqlx 0.9 in
//! `sessions_sql::sqlx09` (feature `sqlx-0_9`).

/// The sqlx this module is built on: 0.8, whose pools
/// [`SqlBackendBuilder`] takes and whose errors [`Error`] carries.
#[doc(no_inline)]
pub use ::sqlx08 as sqlx;

/// This module's path and sqlx version, for the examples the shared engine
/// files write once for every driver.
macro_rules! driver_docs {
    (module) => {
        "sessions_sql::sqlx08"
    };
    (version) => {
        "0.8"
    };
}

/// What the engine calls differently on each sqlx version, for 0.8.
mod driver {
    pub(super) use ::sqlx08 as sqlx;

    use crate::dialect::Sql;

    /// A statement; sqlx 0.8 borrows its text for as long as the query lives.
    pub(super) fn query<DB: sqlx::Database>(
        sql: &Sql,
    ) -> sqlx::query::Query<'_, DB, <DB as sqlx::Database>::Arguments<'_>> {
        sqlx::query(sql)
    }
}

#[path = "engine/backend.rs"]
mod backend;
#[path = "engine/builder.rs"]
mod builder;
#[path = "engine/cas.rs"]
mod cas;
#[path = "engine/error.rs"]
mod error;
#[path = "engine/migrate.rs"]
mod migrate;
#[path = "engine/pool.rs"]
mod pool;
#[path = "engine/sweep.rs"]
mod sweep;

pub use backend::SqlBackend;
pub use builder::SqlBackendBuilder;
pub use error::Error;
