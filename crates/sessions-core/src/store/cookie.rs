//! The store that keeps the whole session in the cookie.

use async_trait::async_trait;

use super::{Settings, Store, StoreConfig};
use crate::backend::record;
use crate::codec::Mode;
use crate::error::{Rejection, Result};
use crate::session::layout::{self, Meta};
use crate::session::{Facts, Loaded, Outcome, Session, Status, flashes};

/// Keeps the whole session in the cookie, sealed (or signed) by the codec.
///
/// Nothing is stored on the server, so nothing can be deleted there either:
/// [`Session::destroy`] removes the browser's cookie, but a copy taken
/// before stays valid until its authenticated expiry. Bound that window
/// with an absolute or idle timeout (see `docs/security.md`).
///
/// ```
/// use sessions_core::{CookieStore, Key, KeyRing, StoreConfig};
/// use sessions_core::store::Store;
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
    ///
    /// A renewal timeout is refused: a cookie store has no id to renew, and
    /// a setting that silently does nothing would read as protection.
    pub fn new(config: StoreConfig) -> Result<CookieStore> {
        if config.renews() {
            return Err(crate::Error::Config(
                "renewal_timeout renews a server store's session id; a cookie store has none, remove the setting"
                    .into(),
            ));
        }
        Ok(CookieStore { settings: config.build(Mode::Sealed)? })
    }

    fn open(&self, value: &str, now: u64) -> Result<Loaded, Rejection> {
        let s = &self.settings;
        let (fields, times, key_index) = s.codec.decode_with(s.name(), value, now, |payload, times, key_index| {
            (record::decode(payload), times, key_index)
        })?;
        let fields = fields.map_err(|_| Rejection::BadPayload)?;
        let fields = flashes::unfold(fields).ok_or(Rejection::BadPayload)?;
        let meta = Meta::of(&fields).ok_or(Rejection::BadPayload)?;
        if s.outlived(&meta, now) {
            return Err(Rejection::Expired);
        }
        let reissue = key_index > 0 || s.refresh_due(&meta, times.issued, now);
        Ok(Loaded { fields, meta, id: None, revision: None, reissue, touch_due: false, renew: false })
    }
}

#[async_trait]
impl Store for CookieStore {
    fn cookie_name(&self) -> &str {
        self.settings.name()
    }

    fn transport(&self) -> crate::transport::Transport {
        self.settings.transport()
    }

    async fn load(&self, values: &[&str]) -> Result<Session> {
        self.load_session(values).await
    }

    async fn save(&self, session: &Session) -> Result<Option<String>> {
        self.save_session(session).await
    }
}

impl CookieStore {
    pub(super) async fn load_session(&self, values: &[&str]) -> Result<Session> {
        let s = &self.settings;
        let now = s.now();
        for value in values {
            match self.open(value, now) {
                Ok(opened) => {
                    if s.revoked(layout::user_of(&opened.fields)).await? {
                        tracing::debug!(cookie = s.name(), "session revoked; starting a fresh session");
                        continue;
                    }
                    return Ok(Session::loaded(&s.shared_name, s.context(now), opened));
                }
                Err(reason) => tracing::debug!(cookie = s.name(), %reason, "session cookie refused"),
            }
        }
        Ok(s.fresh(now))
    }

    pub(super) async fn save_session(&self, session: &Session) -> Result<Option<String>> {
        let s = &self.settings;
        let changes = session.changes(Plan::of);
        let options = changes.options.as_ref();
        let (outcome, header) = match &changes.plan {
            Plan::Keep => return Ok(None),
            Plan::Write(record) => {
                if !changes.loaded {
                    tracing::debug!(cookie = s.name(), "session created");
                }
                let now = s.now();
                let times = s.times(&changes.meta, now);
                (Outcome::Saved, Some(s.cookie(options, &changes.meta, record, times)?))
            }
            // Nothing left to keep: drop the browser's copy if it has one.
            Plan::End => {
                if changes.loaded {
                    tracing::info!(cookie = s.name(), "session destroyed");
                }
                (Outcome::Ended, changes.loaded.then(|| s.removal(options)))
            }
        };
        session.commit(outcome);
        Ok(header)
    }
}

/// What a cookie store does with a session at save time: the whole record
/// goes into the cookie, or the cookie goes.
#[derive(Debug)]
enum Plan {
    /// Send nothing: the browser's cookie is still right.
    Keep,
    /// Send a cookie carrying this whole record, serialized under the
    /// session's lock with no copy of its fields.
    Write(Vec<u8>),
    /// Nothing left to keep: remove the browser's cookie, if it has one.
    End,
}

impl Plan {
    fn of(facts: &Facts<'_>) -> Plan {
        let cycled = facts.status() == Status::Cycle;
        match facts.status() {
            Status::Destroyed => Plan::End,
            Status::Reset if facts.empty() => Plan::End,
            Status::Reset => Plan::Write(facts.whole_record()),
            // A cookie with nothing in it is not worth sending; one the
            // browser holds is removed once this request emptied it.
            _ if facts.empty() => {
                if facts.loaded() && (facts.modified() || cycled) {
                    Plan::End
                } else {
                    Plan::Keep
                }
            }
            _ if facts.modified() || facts.reissue() || cycled || !facts.loaded() => Plan::Write(facts.whole_record()),
            _ => Plan::Keep,
        }
    }
}
