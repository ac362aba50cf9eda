//! Server-side sessions on Redis: a single server, a primary that Redis
//! Sentinel names (following its failovers), or a Redis Cluster.
//!
//! [`RedisBackend`] implements [`sessions_core::Backend`]: plug it into a
//! [`ServerStore`](sessions_core::ServerStore) and every app server that
//! talks to the same Redis shares the same sessions.
//!
//! How a session is stored:
//! - one Redis hash per session, under `<prefix>{<storage key>}`, whose
//!   fields are the record's fields, so a save writes only the fields the
//!   request changed and concurrent requests keep each other's writes;
//! - the time to live is the key's own expiry (`PEXPIRE`), so Redis drops
//!   idle sessions without any sweep;
//! - a load is one round trip (`HGETALL` and `PTTL` pipelined), a save is
//!   one atomic Lua script that refuses to touch a key that no longer
//!   exists, so a save still in flight after a logout cannot bring the
//!   session back, and refuses a patch that would take the whole record
//!   over the size limit; a save of a record no one wrote since its
//!   request loaded it (the revision in its marker field says so) skips
//!   the script's recount.
//!
//! The storage key sits inside a hash tag (`{...}`), so everything about
//! one session lands on one cluster slot.
//!
//! ```no_run
//! use std::sync::Arc;
//! use sessions_core::{Key, KeyRing, ServerStore, StoreConfig};
//! use sessions_redis::RedisBackend;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = RedisBackend::connect("redis://127.0.0.1:6379").await?;
//! let config = StoreConfig::new("id", KeyRing::from(Key::generate()));
//! let store = ServerStore::new(config, Arc::new(backend))?;
//! # let _ = store;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod backend;
mod builder;
mod connection;
mod error;
mod scripts;
mod sentinel;
mod sentinel_url;
#[cfg(feature = "tls")]
mod tls;

pub use backend::RedisBackend;
pub use builder::RedisBackendBuilder;
pub use error::Error;

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
