//! Sessions named by type: a second session (preferences, a cart) declared
//! once, so that a handler asks for it by a type and a typo in its name is
//! a compile error instead of [`Error::UnknownStore`](crate::Error::UnknownStore)
//! at run time.
//!
//! ```
//! use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig, session_name};
//! use sessions_core::name::NamedSession;
//!
//! session_name! {
//!     /// The visitor's display preferences, kept in their own cookie.
//!     pub struct Prefs = "prefs";
//! }
//!
//! let ring = KeyRing::from(Key::generate());
//! let registry = Registry::builder()
//!     .store(CookieStore::new(StoreConfig::new("id", ring.clone()))?)
//!     .store(CookieStore::new(StoreConfig::new(Prefs::NAME, ring))?)
//!     .build()?;
//! assert!(registry.has_store(Prefs));
//! # Ok::<(), sessions_core::Error>(())
//! ```
//!
//! A handler then writes `sessions.get(Prefs)` where it wrote
//! `sessions.get("prefs")` (both work), or takes the adapter's
//! `Named<Prefs>` extractor.

/// What names a session: its cookie name as a string, or a type declared
/// with [`session_name!`](crate::session_name).
pub trait SessionName {
    /// The cookie name of the session's store.
    fn session_name(&self) -> &str;
}

impl SessionName for str {
    fn session_name(&self) -> &str {
        self
    }
}

impl SessionName for String {
    fn session_name(&self) -> &str {
        self
    }
}

impl<T: SessionName + ?Sized> SessionName for &T {
    fn session_name(&self) -> &str {
        (**self).session_name()
    }
}

/// A session declared by type with [`session_name!`](crate::session_name):
/// what an adapter's `Named<N>` extractor asks for.
pub trait NamedSession: SessionName + Send + Sync + 'static {
    /// The cookie name of the session's store.
    const NAME: &'static str;
}

/// Declares a type that names a session: a unit struct implementing
/// [`NamedSession`] and [`SessionName`].
///
/// ```
/// use sessions_core::name::{NamedSession, SessionName};
///
/// sessions_core::session_name! {
///     /// The shopping cart.
///     pub struct Cart = "cart";
/// }
/// assert_eq!(Cart::NAME, "cart");
/// assert_eq!(Cart.session_name(), "cart");
/// ```
#[macro_export]
macro_rules! session_name {
    ($(#[$meta:meta])* $vis:vis struct $name:ident = $cookie:literal;) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        $vis struct $name;

        impl $crate::name::SessionName for $name {
            fn session_name(&self) -> &str {
                $cookie
            }
        }

        impl $crate::name::NamedSession for $name {
            const NAME: &'static str = $cookie;
        }
    };
}
