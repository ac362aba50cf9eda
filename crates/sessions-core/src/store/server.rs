//! The store that keeps a random id in the cookie and the data in a backend.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::user_index;
use super::{Settings, Store, StoreConfig};
use crate::backend::{Backend, Patch, StorageKey};
use crate::codec::Mode;
use crate::error::{BackendError, Error, Result};
use crate::id::{SessionId, user_index_key};
use crate::options::CookieOptions;
use crate::record::{Fields, META_FIELD, Meta};
use crate::session::{Session, State, Status, decode_meta, decode_user};

/// A server-side session of one user, as listed by
/// [`ServerStore::user_sessions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSession {
    /// Where the backend stores it.
    pub storage_key: StorageKey,
    /// When it was created (Unix seconds).
    pub created: u64,
}

/// How often `create` may meet an existing record before we give up: with
/// 256-bit ids a single collision already means a broken RNG or backend.
const CREATE_ATTEMPTS: usize = 3;

/// Keeps a random 256-bit id in the cookie and the data in a [`Backend`].
///
/// The cookie carries only the id, authenticated by the codec; the backend
/// stores the record under a keyed hash of the id. An id this server did
/// not issue (or whose record is gone) is never adopted: the request gets a
/// fresh session whose id is minted on its first save.
///
/// ```
/// use std::sync::Arc;
/// use sessions_core::backend::MemoryBackend;
/// use sessions_core::{Key, KeyRing, ServerStore, Store, StoreConfig};
///
/// # tokio_test_block_on(async {
/// let config = StoreConfig::new("id", KeyRing::from(Key::generate()));
/// let store = ServerStore::new(config, Arc::new(MemoryBackend::new()))?;
/// let session = store.load(&[]).await?;
/// session.insert("count", &1u32)?;
/// let set_cookie = store.save(&session).await?.expect("a new session sets its id cookie");
/// let value = set_cookie.split(';').next().unwrap().trim_start_matches("id=");
/// assert_eq!(store.load(&[value]).await?.get::<u32>("count")?, Some(1));
/// # Ok::<(), sessions_core::Error>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct ServerStore {
    settings: Settings,
    backend: Arc<dyn Backend>,
}

impl ServerStore {
    /// Builds the store over `backend`, checking the configuration.
    pub fn new(config: StoreConfig, backend: Arc<dyn Backend>) -> Result<ServerStore> {
        Ok(ServerStore { settings: config.build(Mode::Signed)?, backend })
    }

    /// The backend this store writes to.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The time to live of a record written now.
    fn ttl(&self, meta: &Meta, now: u64) -> Duration {
        let secs = match self.settings.expiry(meta, now) {
            Some(expires) => expires.saturating_sub(now).max(1),
            None => self.settings.config.server_ttl,
        };
        Duration::from_secs(secs)
    }

    /// Loads the session named by one cookie value; `Ok(None)` when the
    /// value is refused or names no live record.
    async fn open(&self, value: &str, now: u64) -> Result<Option<Session>> {
        let s = &self.settings;
        let opened = match s.codec.decode(s.name(), value, now) {
            Ok(opened) => opened,
            Err(reason) => {
                tracing::debug!(cookie = s.name(), %reason, "session cookie refused");
                return Ok(None);
            }
        };
        let Some(id) = SessionId::from_payload(&opened.payload) else {
            tracing::debug!(cookie = s.name(), "session cookie holds no id");
            return Ok(None);
        };
        let Some(key) = s.codec.ring().get(opened.key_index) else {
            return Ok(None);
        };
        let storage_key = id.storage_key(key);
        let Some(stored) = self.backend.load(&storage_key).await? else {
            tracing::debug!(cookie = s.name(), "session id unknown or expired; starting a fresh session");
            return Ok(None);
        };
        let Some(meta) = decode_meta(&stored.fields) else {
            tracing::warn!(cookie = s.name(), "stored session has no readable metadata; starting a fresh session");
            return Ok(None);
        };
        let binding = decode_user(&stored.fields);
        if s.outlived(&meta, now) || s.revoked(binding.clone()).await? {
            tracing::debug!(cookie = s.name(), "session expired or revoked; starting a fresh session");
            self.backend.delete(&storage_key).await?;
            if let Some((user, _)) = &binding {
                user_index::remove(&*self.backend, &user_index_key(key, user), &storage_key).await?;
            }
            return Ok(None);
        }
        let mut state = State::loaded(stored.fields, meta, s.config.remember_for, now);
        state.loaded_user = binding.map(|(user, _)| user);
        state.id = Some((id, opened.key_index));
        state.reissue = s.refresh_due(&meta, opened.times.issued, now);
        // Sliding idle timeout: extend the record once an eighth of the idle
        // window has gone, rather than on every request.
        state.touch_due = match (s.config.idle, stored.ttl) {
            (Some(idle), Some(left)) => left.as_secs() + (idle / 8).max(1) <= idle,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if opened.key_index > 0 {
            // The storage key is derived from the key that opened the
            // cookie: move the record under the newest key.
            state.status = Status::Cycle;
        }
        Ok(Some(Session::from_state(s.name(), state)))
    }

    /// Writes `state` under a freshly minted id; returns the id.
    async fn create(&self, fields: &Fields, ttl: Duration) -> Result<SessionId> {
        let key = self.settings.codec.ring().newest();
        for _ in 0..CREATE_ATTEMPTS {
            let id = SessionId::generate()?;
            if self.backend.create(&id.storage_key(key), fields, ttl).await? {
                return Ok(id);
            }
            tracing::error!(cookie = self.settings.name(), "session id collision: check the RNG and the backend");
        }
        Err(Error::Backend(BackendError::Corrupt("could not create a session under a fresh id".into())))
    }

    fn patch(state: &State) -> Patch {
        let mut patch = Patch { clear: state.cleared, ..Patch::default() };
        for name in &state.dirty {
            match state.fields.get(name) {
                Some(value) => {
                    patch.set.insert(name.clone(), value.clone());
                }
                None => patch.remove.push(name.clone()),
            }
        }
        if patch.clear {
            // Clearing must not drop the metadata.
            if let Some(meta) = state.fields.get(META_FIELD) {
                patch.set.insert(META_FIELD.into(), meta.clone());
            }
        }
        patch
    }

    fn id_cookie(&self, pending: &Pending, id: &SessionId, now: u64) -> Result<String> {
        let s = &self.settings;
        let times = s.times(&pending.meta, now);
        let value = s.codec.encode(s.name(), id.as_bytes(), times)?;
        Ok(s.set_cookie(pending.options.as_ref(), &pending.meta, &value, times))
    }
}

#[async_trait]
impl Store for ServerStore {
    fn cookie_name(&self) -> &str {
        self.settings.name()
    }

    async fn load(&self, values: &[&str]) -> Result<Session> {
        let now = self.settings.now();
        for value in values {
            if let Some(session) = self.open(value, now).await? {
                return Ok(session);
            }
        }
        Ok(self.settings.fresh(now))
    }

    async fn save(&self, session: &Session) -> Result<Option<String>> {
        let s = &self.settings;
        let pending = Pending::take(session, s);
        let now = s.now();
        let ttl = self.ttl(&pending.meta, now);

        if pending.status == Status::Destroyed {
            if let Some(old) = &pending.storage_key {
                self.backend.delete(old).await?;
                self.unindex(pending.loaded_user.as_deref(), old).await?;
            }
            session.lock().forget();
            return Ok(pending.loaded.then(|| s.removal(pending.options.as_ref())));
        }

        let Some(old) = &pending.storage_key else {
            // A new session: nothing to store until it holds something.
            let Some(fields) = &pending.fields else {
                return Ok(None);
            };
            let id = self.create(fields, ttl).await?;
            self.index(pending.user.as_deref(), &self.newest_storage_key(&id)).await?;
            return self.issue(session, &pending, id, now).map(Some);
        };

        if let Some(fields) = &pending.fields {
            // A new id for the same data (login, key rotation); the old
            // record goes so the old cookie is worthless.
            let id = self.create(fields, ttl).await?;
            self.backend.delete(old).await?;
            self.unindex(pending.loaded_user.as_deref(), old).await?;
            self.index(pending.user.as_deref(), &self.newest_storage_key(&id)).await?;
            return self.issue(session, &pending, id, now).map(Some);
        }

        let alive = match &pending.patch {
            Some(patch) => self.backend.update(old, patch, ttl).await?,
            None if pending.reissue || pending.touch_due => self.backend.touch(old, ttl).await?,
            None => return Ok(None),
        };
        if !alive {
            // Deleted while this request ran (a logout elsewhere): the
            // changes are dropped rather than resurrecting the session.
            tracing::debug!(cookie = s.name(), "session deleted during the request; changes dropped");
            session.lock().forget();
            return Ok(Some(s.removal(pending.options.as_ref())));
        }
        if pending.user != pending.loaded_user {
            self.unindex(pending.loaded_user.as_deref(), old).await?;
            self.index(pending.user.as_deref(), old).await?;
        }
        let mut state = session.lock();
        let header = match (pending.reissue, &state.id) {
            (true, Some((id, _))) => Some(self.id_cookie(&pending, id, now)?),
            _ => None,
        };
        state.saved();
        Ok(header)
    }
}

impl ServerStore {
    fn newest_storage_key(&self, id: &SessionId) -> StorageKey {
        id.storage_key(self.settings.codec.ring().newest())
    }

    /// Adds a session to its user's index, if it has a user.
    async fn index(&self, user: Option<&str>, session: &StorageKey) -> Result<()> {
        match user {
            Some(user) => {
                let index = user_index_key(self.settings.codec.ring().newest(), user);
                user_index::add(&*self.backend, &index, session).await
            }
            None => Ok(()),
        }
    }

    /// Removes a session from its user's index under every key of the ring
    /// (the index may predate a rotation).
    async fn unindex(&self, user: Option<&str>, session: &StorageKey) -> Result<()> {
        let Some(user) = user else { return Ok(()) };
        for key in self.settings.codec.ring().iter() {
            user_index::remove(&*self.backend, &user_index_key(key, user), session).await?;
        }
        Ok(())
    }

    /// The live server-side sessions bound to `user` with
    /// [`Session::set_user`], with when each was created (Unix seconds).
    pub async fn user_sessions(&self, user: &str) -> Result<Vec<UserSession>> {
        let mut sessions = Vec::new();
        for key in self.settings.codec.ring().iter() {
            for storage_key in user_index::members(&*self.backend, &user_index_key(key, user)).await? {
                let Some(stored) = self.backend.load(&storage_key).await? else { continue };
                let bound_to_user = decode_user(&stored.fields).is_some_and(|(u, _)| u == user);
                if let (true, Some(meta)) = (bound_to_user, decode_meta(&stored.fields)) {
                    sessions.push(UserSession { storage_key, created: meta.created });
                }
            }
        }
        Ok(sessions)
    }

    /// "Log out everywhere": deletes every server-side session bound to
    /// `user` and its index; returns how many sessions were deleted. Their
    /// cookies, replayed, yield anonymous sessions.
    pub async fn destroy_user_sessions(&self, user: &str) -> Result<usize> {
        let mut deleted = 0;
        for key in self.settings.codec.ring().iter() {
            let index = user_index_key(key, user);
            for storage_key in user_index::members(&*self.backend, &index).await? {
                let Some(stored) = self.backend.load(&storage_key).await? else { continue };
                // The index may lag a re-binding; never delete another user's session.
                if decode_user(&stored.fields).is_some_and(|(u, _)| u == user) {
                    self.backend.delete(&storage_key).await?;
                    deleted += 1;
                }
            }
            self.backend.delete(&index).await?;
        }
        Ok(deleted)
    }

    /// Records the new id in the session and returns its cookie.
    fn issue(&self, session: &Session, pending: &Pending, id: SessionId, now: u64) -> Result<String> {
        let header = self.id_cookie(pending, &id, now)?;
        let mut state = session.lock();
        state.saved();
        state.id = Some((id, 0));
        Ok(header)
    }
}

/// What a save needs from the session, taken under its lock so that the
/// lock is never held across an await.
struct Pending {
    status: Status,
    loaded: bool,
    reissue: bool,
    touch_due: bool,
    meta: Meta,
    options: Option<CookieOptions>,
    /// The current record's storage key, if the session has one.
    storage_key: Option<StorageKey>,
    /// The user the session is bound to now, and as it was loaded.
    user: Option<String>,
    loaded_user: Option<String>,
    /// The whole record, when it must be written under a new id.
    fields: Option<Fields>,
    /// This request's changes, when the record is updated in place.
    patch: Option<Patch>,
}

impl Pending {
    fn take(session: &Session, s: &Settings) -> Pending {
        let state = session.lock();
        let storage_key =
            state.id.as_ref().and_then(|(id, index)| s.codec.ring().get(*index).map(|key| id.storage_key(key)));
        let new_id = state.status == Status::Cycle || storage_key.is_none();
        let fields = (new_id && state.status != Status::Destroyed && state.has_data()).then(|| state.fields.clone());
        let patch = (!new_id && state.is_modified()).then(|| ServerStore::patch(&state));
        Pending {
            status: state.status,
            loaded: state.loaded,
            reissue: state.reissue,
            touch_due: state.touch_due,
            meta: state.meta,
            options: state.options.clone(),
            user: state.user(),
            loaded_user: state.loaded_user.clone(),
            storage_key,
            fields,
            patch,
        }
    }
}
