//! The framework-neutral kit every demo app is built from: the
//! configuration it reads from the environment, the stores it opens, its
//! one HTML page, the bodies of its handlers and the way it starts. Each
//! demo (`axum-demo`, `actix-demo`, `rocket-demo`, `warp-demo`) is then
//! only its framework's routes and wiring, so all four behave alike and a
//! session written by one is read by the others.
//!
//! | variable | meaning |
//! |---|---|
//! | `DEMO_ADDR` | listen address (default `127.0.0.1:3000`) |
//! | `SESSION_KEYS` | comma-separated base64url master keys, newest first; a random key if unset |
//! | `SESSION_STORE` | `cookie` (default), `memory`, `fs:<dir>`; with the `redis` feature `redis://...`; with the `sql` feature `postgres://...`, `mysql://...`, `mariadb://...`, `sqlite:...` |
//! | `SESSION_SECURE` | `0` drops the `Secure` attribute for plain-http local use |
//! | `SESSION_IDLE_SECS`, `SESSION_MAX_SECS` | idle and absolute timeouts of the main session (unset: the library's 30 minutes and 12 hours; `0`: off) |
//!
//! The main session is the cookie `id` on the chosen store; a second
//! session, `prefs`, always lives in its own cookie.
//!
//! ```
//! use demo_kit::{Config, StoreSpec};
//!
//! let config = Config::from_vars([("SESSION_STORE", "memory"), ("SESSION_SECURE", "0")])?;
//! assert_eq!(config.store, StoreSpec::Memory);
//! assert!(!config.secure);
//! # Ok::<(), demo_kit::ConfigError>(())
//! ```
#![deny(missing_docs)]

mod config;
mod page;
pub mod routes;
mod run;

pub use config::{Config, ConfigError, DEFAULT_ADDR, MAIN_SESSION, PREFS_SESSION, StoreSpec};
pub use page::{HomeView, home_page};
pub use routes::Answer;
pub use run::{
    Background, Shutdown, Spawn, Task, init_logging, launch, main, spawn, tokio_runtime, wait_until_serving,
};
