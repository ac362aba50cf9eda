//! Process harnesses for this workspace's tests: servers a test owns and
//! can kill, freeze, stop and restart, apart from the shared services.
//!
//! - [`redis`]: private `redis-server` processes (a password, ACL users,
//!   TLS with certificates made for the test, a three-node cluster).
//! - [`postgres`]: a private PostgreSQL cluster made with `initdb`.
//! - [`relay`]: a TCP relay that counts a backend's round trips, for the
//!   benchmarks' "one round trip per load".
//! - [`sentinel`]: a Redis primary with replicas and three sentinels, to
//!   kill the primary and watch a replica take over.
//! - [`failover`]: clients writing through a store while its storage fails
//!   over, and what that cost them.
//!
//! Test support, not production code, and not published: every harness
//! panics when the machine cannot run its server; each module has a check
//! to call first. What a backend written elsewhere needs to test itself,
//! the conformance kit, is `sessions_core::testing`.
//!
//! ```no_run
//! use sessions_testkit::redis::{RedisProcess, redis_tools_installed};
//!
//! if redis_tools_installed() {
//!     let server = RedisProcess::start(false);
//!     let url = server.url(); // connect a backend here
//!     # let _ = url;
//! }
//! ```
#![deny(missing_docs)]

pub mod failover;
pub mod postgres;
pub mod redis;
pub mod relay;
pub mod sentinel;
