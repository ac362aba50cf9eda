//! The framework-neutral core of `sessions`: signed and encrypted cookie
//! sessions, server-side sessions on pluggable backends, flash messages,
//! "remember me", key rotation and several sessions per request.
//!
//! Applications do not depend on this crate directly: each web framework
//! adapter (`sessions-axum`, `sessions-actix`, `sessions-rocket`,
//! `sessions-warp`) re-exports what they need, so an application names one
//! adapter crate, and a backend crate (`sessions-redis`, `sessions-sql`,
//! ...) when its sessions live there. This crate serves three readers, each
//! in one place:
//!
//! - **Applications**: the root. A [`Registry`] of stores
//!   ([`CookieStore`], [`ServerStore`] on a backend such as
//!   [`MemoryBackend`]), each configured with a [`StoreConfig`] (keys in a
//!   [`KeyRing`], cookie attributes in [`CookieOptions`], how long sessions
//!   live as a [`Lifetime`]), and the [`Session`] a handler reads and
//!   writes.
//! - **Adapter authors**: [`adapter`], the contract between the core and a
//!   web framework: the request's sessions, the after-handler decision and
//!   the failure replies.
//! - **Backend authors**: [`backend`], the [`Backend`](backend::Backend)
//!   trait, the record format and a toolkit, and `testing` (feature
//!   `testing`), the conformance kit a backend runs against itself.
//!
//! The layers, from the bottom: [`codec`] (bytes in, authenticated cookie
//! value out), the session model ([`Session`]: values, flashes,
//! lifecycle), [`backend`] (server-side records), [`store`] (a cookie to a
//! [`Session`] and back), the [`Registry`] (the sessions of one request,
//! saved together) and [`adapter`]. `docs/architecture.md` draws the map.
//!
//! ```
//! use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
//!
//! # tokio_test_block_on(async {
//! let ring = KeyRing::from(Key::generate());
//! let registry = Registry::single(CookieStore::new(StoreConfig::new("session", ring))?);
//!
//! // One request, as an adapter runs it: read the cookies, let the handler
//! // use the session, save and send the headers.
//! let sessions = registry.request([]);
//! let session = sessions.default_session().await?;
//! session.insert("count", &1u32)?;
//! let finished = sessions.finish(200, None, |name, value| Some((name, value.to_owned()))).await;
//! let (_, set_cookie) = &finished.headers[0];
//!
//! // The next request brings the cookie back.
//! let cookie = set_cookie.split(';').next().unwrap();
//! let sessions = registry.request([cookie]);
//! assert_eq!(sessions.default_session().await?.get::<u32>("count")?, Some(1));
//! # Ok::<(), sessions_core::Error>(())
//! # }).unwrap();
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```
#![deny(missing_docs)]

pub mod adapter;
pub mod backend;
pub mod clock;
pub mod codec;
mod cross_origin;
mod error;
mod hex;
mod id;
mod key;
mod lifetime;
pub mod name;
mod options;
mod registry;
pub mod revocation;
mod serial;
mod session;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod transport;

pub use backend::{FilesystemBackend, MemoryBackend};
pub use codec::Mode;
pub use cross_origin::CrossOrigin;
pub use error::{BackendError, Error, Rejection, Result};
pub use key::{Key, KeyRing, MIN_KEY_LEN};
pub use lifetime::{BrowserSession, Lifetime, PersistentSession};
pub use options::{CookieOptions, SameSite};
pub use registry::{Registry, RegistryBuilder};
pub use serial::SerialError;
pub use session::{DEFAULT_FLASH_QUEUE, Session};
pub use store::{CookieStore, ServerStore, StoreConfig};
pub use transport::Transport;

/// The adapter and peer comparison, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/frameworks/comparison.md")]
pub struct ComparisonGuide;
