//! The framework-neutral kit every demo app is built from: the
//! configuration it reads from the environment, the stores it opens, its
//! one HTML page, the bodies of its handlers and the way it starts. Each
//! demo (`axum-demo`, `actix-demo`, `rocket-demo`, `warp-demo`) is then
//! only its framework's routes and wiring, so all four behave alike and a
//! session written by one is read by the others.
//!
//! What a demo passes to the kit: the request's sessions, its [`Visit`]
//! (the `Accept` and `Cookie` headers: a browser gets pages and
//! Post/Redirect/Get, a program the plain contract), its form or query,
//! and for the home page the [`About`] of the running demo. What the kit
//! hands back: an [`Answer`] (status, headers, body) that the demo turns
//! into its framework's response. Requests no route takes go to
//! [`routes::unmatched`], so a wrong address or method answers alike
//! everywhere. Every response carries [`SECURITY_HEADERS`], every form
//! body is bounded by [`routes::BODY_LIMIT`], and no `GET` writes a value.
//!
//! | variable | meaning |
//! |---|---|
//! | `DEMO_ADDR` | listen address (default `127.0.0.1:3000`) |
//! | `SESSION_KEYS` | comma-separated base64url master keys, newest first; a random key if unset |
//! | `SESSION_STORE` | `cookie` (default), `memory`, `fs:<dir>`; with the `redis` feature `redis://...`; with the `sql` feature `postgres://...`, `mysql://...`, `mariadb://...`, `sqlite:...`; with the `redb` feature `redb:<file>`; with the `memcached` feature `memcache://...`; with the `dynamodb` feature `dynamodb://host:port/<table>` (a local server) or `dynamodb:<table>` (AWS); with the `mongodb` feature `mongodb://...`, `mongodb+srv://...` (database from the path, collection `sessions`) |
//! | `SESSION_TRANSPORT` | `cookie` (default), or `header:NAME`: the main session travels in request header `NAME` and comes back in the response header of that name (empty when it ends), for clients that keep no cookies; `prefs` stays a cookie |
//! | `SESSION_SECURE` | `0` drops the `Secure` attribute for plain-http local use |
//! | `SESSION_PARTITIONED` | `1` adds the `Partitioned` attribute (CHIPS), for a demo embedded in another site; refused with `SESSION_SECURE=0`, since browsers need `Secure` for it |
//! | `SESSION_IDLE_SECS`, `SESSION_MAX_SECS` | idle and absolute timeouts of the main session (unset: the library's 30 minutes and 12 hours; `0`: off) |
//! | `SESSION_MAX_BYTES` | the most bytes of sessions the `memory`, `fs:` and `redb:` stores hold (64 MiB unless set); past it a new session answers 503 "session storage full" |
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

mod about;
mod answer;
mod config;
mod devices;
mod page;
pub mod routes;
mod run;
mod stores;
mod visit;

pub use about::About;
pub use answer::Answer;
pub use config::{Config, ConfigError, DEFAULT_ADDR, MAIN_SESSION, PREFS_SESSION, StoreSpec, transport};
pub use devices::{Device, Devices};
pub use page::{
    CONTENT_SECURITY_POLICY, DevicesView, FAVICON_SVG, HomeView, Notice, SECURITY_HEADERS, Unreadable, error_page,
    home_page,
};
pub use run::{
    Background, Demo, Shutdown, Spawn, Task, init_logging, launch, main, spawn, tokio_runtime, wait_until_serving,
};
pub use stores::{STORES, Store};
pub use visit::Visit;
