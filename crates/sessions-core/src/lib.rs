//! The framework-neutral core of `sessions`: signed and encrypted cookie
//! sessions, server-side sessions on pluggable backends, flash messages,
//! "remember me", key rotation and several sessions per request.
//!
//! The layers, from the bottom:
//! - [`codec`]: bytes in, authenticated cookie value out, and back.
//! - [`Session`]: typed values, flashes and lifecycle of one session.
//! - [`backend`]: server-side storage of records ([`Backend`]).
//! - [`store`]: cookie to [`Session`] and back ([`CookieStore`],
//!   [`ServerStore`]).
//! - [`registry`]: the sessions of one request, saved together.
//! - [`edge`]: what every web framework adapter shares: failures as
//!   answers, and what to send after the handler.
//! - [`cross_origin`]: which state-changing requests from other sites are
//!   refused before the handler ([`CrossOrigin`], on by default).
//!
//! Web framework adapters (`sessions-axum`, `sessions-actix`, ...) wire a
//! [`Registry`] into each request; applications rarely need more of this
//! crate than its configuration types and [`Session`].
//!
//! ```
//! use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
//!
//! # tokio_test_block_on(async {
//! let ring = KeyRing::from(Key::generate());
//! let registry = Registry::single(CookieStore::new(StoreConfig::new("session", ring))?);
//!
//! // One request: read the cookies, use the session, save.
//! let sessions = registry.request([]);
//! let session = sessions.default_session().await?;
//! session.insert("count", &1u32)?;
//! let set_cookie = sessions.save().await.set_cookies.remove(0);
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

pub mod backend;
pub mod clock;
pub mod codec;
pub mod cross_origin;
pub mod edge;
mod error;
mod hex;
mod id;
mod key;
mod options;
pub mod registry;
pub mod revocation;
mod serial;
mod session;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use backend::Backend;
pub use cross_origin::CrossOrigin;
pub use edge::{Failure, Finished, Policy};
pub use error::{BackendError, Error, Rejection, Result};
pub use key::{Key, KeyRing, MIN_KEY_LEN};
pub use options::{CookieOptions, SameSite};
pub use registry::{Registry, RegistryBuilder, RequestSessions, Saved};
pub use serial::SerialError;
pub use session::{DEFAULT_FLASH_QUEUE, Session};
pub use store::{CookieStore, ServerStore, Store, StoreConfig};

/// The README's examples, compiled as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The migration guide from Go's gorilla/sessions, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/migrate/from-gorilla.md")]
pub struct FromGorillaGuide;

/// The adapter and peer comparison, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/frameworks/comparison.md")]
pub struct ComparisonGuide;
