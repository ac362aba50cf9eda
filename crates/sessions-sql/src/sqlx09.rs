//! The backend on sqlx 0.9 (feature `sqlx-0_9`, which needs Rust 1.94,
//! sqlx 0.9's own minimum): for an application on sqlx 0.9, whose pools
//! this module's [`SqlBackendBuilder`] takes.
//!
//! It is the engine of [`sessions_sql::SqlBackend`](crate::SqlBackend)
//! (sqlx 0.8) compiled for sqlx 0.9: the same table, statements and
//! behaviour, so both can serve one table while an application moves from
//! one sqlx to the other.
//!
//! ```no_run
//! use sessions_sql::sqlx09::{Error, SqlBackend, sqlx};
//!
//! # async fn run() -> Result<(), Error> {
//! // The application's own pool, from its own sqlx 0.9.
//! let pool = sqlx::PgPool::connect("postgres://postgres@127.0.0.1/app").await?;
//! let backend = SqlBackend::builder().postgres(pool).await?;
//! # let _ = backend;
//! # Ok(())
//! # }
//! ```
//!
//! sqlx 0.9 leaves RSA out of its MySQL driver unless its feature
//! `mysql-rsa` is on: a MySQL account on `caching_sha2_password` or
//! `sha256_password` reached without TLS needs it. This crate does not
//! turn it on; an application that needs it enables it on its own sqlx
//! 0.9 dependency, and Cargo builds one sqlx with the features of both.

/// The sqlx this module is built on: 0.9, whose pools
/// [`SqlBackendBuilder`] takes and whose errors [`Error`] carries.
#[doc(no_inline)]
pub use ::sqlx09 as sqlx;

/// This module's path and sqlx version, for the examples the shared engine
/// files write once for every driver.
macro_rules! driver_docs {
    (module) => {
        "sessions_sql::sqlx09"
    };
    (version) => {
        "0.9"
    };
}

/// What the engine calls differently on each sqlx version, for 0.9.
mod driver {
    pub(super) use ::sqlx09 as sqlx;

    use crate::dialect::Sql;

    /// A statement. sqlx 0.9 takes its text by value and, for text not
    /// known at compile time, only as `AssertSqlSafe`: ours is built once
    /// per table from fixed text and a table name checked to be a plain
    /// identifier (`dialect::valid_table_name`), every value bound as a
    /// parameter. The text is shared, so the query costs a reference count.
    pub(super) fn query<'q, DB: sqlx::Database>(sql: &Sql) -> sqlx::query::Query<'q, DB, DB::Arguments> {
        sqlx::query(sqlx::AssertSqlSafe(Sql::clone(sql)))
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
