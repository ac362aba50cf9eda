//! The store that keeps the whole session in the cookie.

use async_trait::async_trait;

use super::{Settings, Store, StoreConfig};
use crate::codec::Mode;
use crate::error::{Rejection, Result};
use crate::record;
use crate::session::{Session, State, Status, decode_meta, decode_user};

/// Keeps the whole session in the cookie, sealed (or signed) by the codec.
///
/// Nothing is stored on the server, so nothing can be deleted there either:
/// [`Session::destroy`] removes the browser's cookie, but a copy taken
/// before stays valid until its authenticated expiry. Bound that window
/// with an absolute or idle timeout (see `docs/security.md`).
///
/// ```
/// use sessions_core::{CookieStore, Key, KeyRing, Store, StoreConfig};
///
/// # tokio_test_block_on(async {
/// let store = CookieStore::new(StoreConfig::new("session", KeyRing::from(Key::generate())))?;
/// let session = store.load(&[]).await?;
/// session.insert("user", "ada")?;
/// let set_cookie = store.save(&session).await?.expect("a changed session sets its cookie");
/// assert!(set_cookie.starts_with("session="));
///
/// // The next request sends the cookie back.
/// let value = set_cookie.split(';').next().unwrap().trim_start_matches("session=");
/// let again = store.load(&[value]).await?;
/// assert_eq!(again.get::<String>("user")?.as_deref(), Some("ada"));
/// # Ok::<(), sessions_core::Error>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct CookieStore {
    settings: Settings,
}

impl CookieStore {
    /// Builds the store, checking the configuration.
    pub fn new(config: StoreConfig) -> Result<CookieStore> {
        Ok(CookieStore { settings: config.build(Mode::Sealed)? })
    }

    fn open(&self, value: &str, now: u64) -> Result<Session, Rejection> {
        let s = &self.settings;
        let opened = s.codec.decode(s.name(), value, now)?;
        let fields = record::decode(&opened.payload).map_err(|_| Rejection::BadPayload)?;
        let meta = decode_meta(&fields).ok_or(Rejection::BadPayload)?;
        if s.outlived(&meta, now) {
            return Err(Rejection::Expired);
        }
        let mut state = State::loaded(fields, meta, s.config.remember_for, now);
        state.reissue = opened.key_index > 0 || s.refresh_due(&meta, opened.times.issued, now);
        Ok(Session::from_state(s.name(), state))
    }
}

#[async_trait]
impl Store for CookieStore {
    fn cookie_name(&self) -> &str {
        self.settings.name()
    }

    async fn load(&self, values: &[&str]) -> Result<Session> {
        let now = self.settings.now();
        for value in values {
            match self.open(value, now) {
                Ok(session) => {
                    let binding = decode_user(&session.lock().fields);
                    if self.settings.revoked(binding).await? {
                        tracing::debug!(cookie = self.settings.name(), "session revoked; starting a fresh session");
                        continue;
                    }
                    return Ok(session);
                }
                Err(reason) => tracing::debug!(cookie = self.settings.name(), %reason, "session cookie refused"),
            }
        }
        Ok(self.settings.fresh(now))
    }

    async fn save(&self, session: &Session) -> Result<Option<String>> {
        let s = &self.settings;
        let mut state = session.lock();
        if state.status == Status::Destroyed || (!state.has_data() && state.is_modified()) {
            // Nothing left to keep: drop the browser's copy if it has one.
            let header = state.loaded.then(|| s.removal(state.options.as_ref()));
            state.forget();
            return Ok(header);
        }
        let changed = state.is_modified() || state.reissue || state.status == Status::Cycle;
        if !changed || !state.has_data() {
            return Ok(None);
        }
        let now = s.now();
        let times = s.times(&state.meta, now);
        let value = s.codec.encode(s.name(), &record::encode(&state.fields), times)?;
        let header = s.set_cookie(state.options.as_ref(), &state.meta, &value, times);
        state.saved();
        Ok(Some(header))
    }
}
