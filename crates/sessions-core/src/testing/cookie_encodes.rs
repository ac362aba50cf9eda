//! Counting the cookie values the stores encode, so a test can prove that
//! a request encoded none.

thread_local! {
    static COOKIE_ENCODES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

pub(crate) fn count_cookie_encode() {
    COOKIE_ENCODES.with(|n| n.set(n.get() + 1));
}

/// How many cookie values the stores have encoded (sealed or signed) on
/// the calling thread, so a test on a current-thread runtime can prove
/// that a request encoded none.
///
/// ```
/// use sessions_core::testing::cookie_encodes_on_this_thread;
/// use sessions_core::{CookieStore, Key, KeyRing, Registry, StoreConfig};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let registry = Registry::single(CookieStore::new(StoreConfig::new("s", KeyRing::from(Key::generate())))?);
/// let before = cookie_encodes_on_this_thread();
/// let sessions = registry.request([]);
/// sessions.default_session().await?.insert("n", &1)?;
/// sessions.save().await;
/// assert_eq!(cookie_encodes_on_this_thread(), before + 1);
/// # Ok::<(), sessions_core::Error>(())
/// # }).unwrap();
/// ```
pub fn cookie_encodes_on_this_thread() -> u64 {
    COOKIE_ENCODES.with(std::cell::Cell::get)
}
