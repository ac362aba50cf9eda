//! Server-side sessions on PostgreSQL, MySQL/MariaDB and SQLite, through
//! sqlx.
//!
//! [`SqlBackend`] implements [`sessions_core::backend::Backend`] on one table:
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
//! row, applies its [`Patch`](sessions_core::backend::Patch), and writes back only if `version` is
//! unchanged; on a conflict it re-applies the patch to the newer row,
//! and if that conflicts again it takes a row lock (`SELECT ... FOR UPDATE`,
//! or `BEGIN IMMEDIATE` on SQLite) so heavy contention is served in turn
//! rather than retried. A save only ever updates an existing, unexpired
//! row, so a save in flight during a logout cannot bring the session back.
//!
//! Records are bounded as a whole: a save applies its patch to the row's
//! record and refuses the result with
//! [`BackendError::TooLarge`](sessions_core::BackendError::TooLarge) if it is
//! over [`SqlBackendBuilder::max_record_bytes`] (1 MiB of
//! [`record::encoded_len`](sessions_core::backend::record::encoded_len) by
//! default), writing nothing.
//!
//! Pick the engines with the cargo features `postgres`, `mysql` and
//! `sqlite` (all on by default).
//!
//! # sqlx 0.8 and 0.9
//!
//! The backend works on either sqlx major, or both at once, so an
//! application keeps the sqlx it has and hands the backend its own pool:
//!
//! | feature | sqlx | types | Rust |
//! |---|---|---|---|
//! | `sqlx-0_8` (default) | 0.8.6 and later 0.8 | [`SqlBackend`], [`SqlBackendBuilder`], [`Error`] at the root, also in [`sqlx08`] | 1.89 |
//! | `sqlx-0_9` | 0.9.1 and later 0.9 | `sqlx09::SqlBackend`, `sqlx09::SqlBackendBuilder`, `sqlx09::Error` | 1.94, sqlx 0.9's own minimum |
//!
//! Each module re-exports the sqlx it is built on as `sqlx`. The engine is
//! one piece of code compiled for each version enabled: the same table,
//! statements and behaviour. The root names sqlx 0.8's backend whenever
//! `sqlx-0_8` is on, and nothing when it is off: turning on a feature never
//! changes what a name means. An application on sqlx 0.9 alone depends on
//! `sessions-sql` with `default-features = false` and the features
//! `sqlx-0_9` and its engines, and uses `sessions_sql::sqlx09`.
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
#[cfg(not(any(feature = "sqlx-0_8", feature = "sqlx-0_9")))]
compile_error!("sessions-sql needs at least one of the features `sqlx-0_8`, `sqlx-0_9`");

mod codes;
mod dialect;
mod row;
#[cfg(feature = "sqlx-0_8")]
pub mod sqlx08;
// The engine's files are loaded once per sqlx version (decision 36).
#[cfg(feature = "sqlx-0_9")]
#[allow(clippy::duplicate_mod)]
pub mod sqlx09;

#[cfg(feature = "sqlx-0_8")]
pub use self::sqlx08::{Error, SqlBackend, SqlBackendBuilder};
pub use sessions_core::backend::Sweeper;

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
