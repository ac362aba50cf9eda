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

mod backend;
mod builder;
mod cas;
mod dialect;
mod error;
mod migrate;
mod pool;
mod sweep;

pub use backend::SqlBackend;
pub use builder::SqlBackendBuilder;
pub use error::Error;
pub use sessions_core::backend::Sweeper;

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
