//! The store that keeps a random id in the cookie and the data in a backend.

#[cfg(feature = "memory")]
use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::handle::SessionHandle;
use super::user_index;
use super::{Settings, Store, StoreConfig};
use crate::backend::Fields;
#[cfg(feature = "memory")]
use crate::backend::MemoryBackend;
use crate::backend::{Backend, Patch, Retention, Seen, StorageKey, Stored};
use crate::codec::Mode;
use crate::error::{BackendError, Error, Result};
use crate::id::{SessionId, user_index_key};
use crate::options::CookieOptions;
use crate::session::layout::{self, ID_SINCE_FIELD, Meta, SEEN_FIELD};
use crate::session::{Changes, Facts, Loaded, Outcome, Session, Status};

/// A server-side session of one user, as listed by
/// [`ServerStore::user_sessions`]: one of the user's devices.
///
/// Show the user its [`handle`](UserSession::handle), never its
/// [`storage_key`](UserSession::storage_key), which names the record in
/// the backend and in the server's logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserSession {
    /// Where the backend stores it, which [`Session::storage_key`] also
    /// returns: for the server's own use (logs, tools), not for pages.
    pub storage_key: StorageKey,
    /// Its public name, which [`ServerStore::handle`] also returns for the
    /// session of a request (to mark "this device"), and which
    /// [`ServerStore::destroy_user_session_by_handle`] takes (a "sign out
    /// that device" button).
    pub handle: SessionHandle,
    /// When it was created (Unix seconds).
    pub created: u64,
    /// When it was last used (Unix seconds), to within an eighth of its
    /// sliding window: the last request that changed it, or that extended
    /// its idle timeout or remember-me lifetime (a request that only reads
    /// extends it once an eighth of the window has passed, so reads cost
    /// no writes). Without a sliding window, the last request that changed
    /// it.
    pub last_seen: u64,
}

/// How often `create` may meet an existing record before we give up: with
/// 256-bit ids a single collision already means a broken RNG or backend.
const CREATE_ATTEMPTS: usize = 3;

/// How long the forwarding record of a cycled id lives: longer than any
/// request that loaded the old id before the cycle may still be running.
const FORWARD_TTL: Duration = Duration::from_secs(600);

/// The field of a forwarding record that names the successor.
const FORWARD_FIELD: &str = ">";

/// How many forwards a logout follows: a session cycled more often than
/// this within [`FORWARD_TTL`] of one request is not a browser's.
const MAX_FORWARDS: usize = 8;

/// Keeps a random 256-bit id in the cookie and the data in a [`Backend`].
///
/// The cookie carries only the id, authenticated by the codec; the backend
/// stores the record under a one-way hash of the id. An id this server did
/// not issue (or whose record is gone) is never adopted: the request gets a
/// fresh session whose id is minted on its first save.
///
/// ```
/// use std::sync::Arc;
/// use sessions_core::backend::MemoryBackend;
/// use sessions_core::{Key, KeyRing, ServerStore, StoreConfig};
/// use sessions_core::store::Store;
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

/// The field that marks when a session bound to a user was last seen.
fn seen_field(now: u64) -> (String, Vec<u8>) {
    // A u64 always encodes.
    (SEEN_FIELD.to_owned(), crate::serial::to_bytes(&now).unwrap_or_default())
}

/// The first 12 hex digits of a storage key: a log handle for a session,
/// written without allocating.
struct LogHandle([u8; 12]);

impl LogHandle {
    fn of(key: &StorageKey) -> LogHandle {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 12];
        for (pair, byte) in out.chunks_exact_mut(2).zip(key.as_bytes()) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0xf)];
        }
        LogHandle(out)
    }

    fn as_str(&self) -> &str {
        // Hex digits are ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a backend that evicts should keep a session record: never while it
/// is bound to a user, since evicting it would log that user out.
fn retention_of(fields: &Fields) -> Retention {
    if layout::user_of(fields).is_some() { Retention::Keep } else { Retention::Evictable }
}

fn log_handle(key: &StorageKey) -> LogHandle {
    LogHandle::of(key)
}

/// What undoes a cycle that failed before its new record was in place.
struct Undo {
    backend: Arc<dyn Backend>,
    old: StorageKey,
    new: StorageKey,
    /// The record taken from `old`, and its time to live.
    taken: Option<(Fields, Duration)>,
    /// Still to be undone: dropped so, the undo runs in a task of its own.
    armed: bool,
}

/// The writes that undo a failed cycle, owned so a task can run them.
struct UndoSteps {
    backend: Arc<dyn Backend>,
    old: StorageKey,
    new: StorageKey,
    taken: Option<(Fields, Duration)>,
}

impl Undo {
    fn steps(&mut self) -> UndoSteps {
        UndoSteps {
            backend: Arc::clone(&self.backend),
            old: self.old.clone(),
            new: self.new.clone(),
            taken: self.taken.take(),
        }
    }
}

impl Drop for Undo {
    /// The request was dropped mid-cycle (a timeout while a call hung):
    /// undo in a task, when there is a runtime to run it.
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let steps = self.steps();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(steps.run());
        }
    }
}

impl UndoSteps {
    /// Best effort: each failure here is logged, and what it leaves is what
    /// the failed cycle left.
    async fn run(self) {
        if let Some((fields, ttl)) = &self.taken {
            // Only while nothing is at the new id: a tombstone there means
            // a logout ended the session meanwhile, and a record means the
            // move did land (its answer was lost).
            match self.backend.load(&self.new).await {
                Ok(None) => {
                    let retention = retention_of(fields);
                    if let Err(err) = self.backend.create_retained(&self.old, fields, *ttl, retention).await {
                        tracing::warn!(session = %log_handle(&self.old), error = %err, "a failed id cycle could not put the session back");
                        return;
                    }
                }
                Ok(Some(_)) => return,
                Err(err) => {
                    tracing::warn!(session = %log_handle(&self.old), error = %err, "a failed id cycle could not put the session back");
                    return;
                }
            }
        }
        if let Err(err) = self.backend.delete(&self.old.forward()).await {
            tracing::warn!(session = %log_handle(&self.old), error = %err, "a failed id cycle left its forward; retries of it are dropped until it expires");
        }
    }
}

/// What a server store does with a session at save time; each step on a
/// stored record carries that record's key.
#[derive(Debug)]
enum Plan {
    /// Nothing to write.
    Keep,
    /// Extend the stored record's life (a sliding idle timeout).
    Touch(StorageKey),
    /// Apply this request's changes to the stored record as it is now. For
    /// a record loaded at a revision: that revision and the record it
    /// should become, so that a versioned backend writes it in one step.
    Patch { key: StorageKey, patch: Patch, seen: Option<Box<(u64, Fields)>> },
    /// Store this whole record under a new id: a session seen for the
    /// first time.
    Create(Fields),
    /// Move the stored record under a new id, applying this patch.
    Cycle { key: StorageKey, patch: Patch },
    /// End the stored session, if there is one (`destroy`), and any
    /// successor a concurrent cycle is moving it to.
    End(Option<StorageKey>),
    /// Delete the stored record, which `clear` emptied; a record another
    /// request has since moved is left alone.
    Empty(StorageKey),
    /// End the stored session, if any, then store this record as a fresh one.
    Replace { old: Option<StorageKey>, fields: Fields },
}

impl Plan {
    fn of(facts: &Facts<'_>) -> Plan {
        let key = facts.id().map(|id| id.storage_key().clone());
        match (facts.status(), key) {
            (Status::Destroyed, key) => Plan::End(key),
            (Status::Reset, key) if facts.empty() => Plan::End(key),
            (Status::Reset, old) => Plan::Replace { old, fields: facts.fields().clone() },
            (_, None) if facts.empty() => Plan::Keep,
            (_, None) => Plan::Create(facts.fields().clone()),
            // Applied to the record as it is now, which may hold what
            // other requests saved since this one loaded it.
            (Status::Cycle, Some(key)) => Plan::Cycle { key, patch: facts.patch() },
            // `clear` empties the record whatever it holds now.
            (_, Some(key)) if facts.empty() && facts.cleared() => Plan::Empty(key),
            (_, Some(key)) if facts.modified() => {
                let seen = facts.revision().map(|revision| Box::new((revision, facts.fields().clone())));
                Plan::Patch { key, patch: facts.patch(), seen }
            }
            (_, Some(key)) if facts.touch_due() => Plan::Touch(key),
            (_, Some(_)) => Plan::Keep,
        }
    }
}

/// What the backend did with a plan: the session's [`Outcome`] and the
/// cookie to send are decided from it.
enum Applied {
    /// Stored under the id the cookie already names.
    Kept,
    /// Stored under a new id.
    Moved(SessionId),
    /// Over: tell the browser to drop its cookie.
    Ended,
    /// Another request gave the session a new id first; this request's
    /// changes are dropped and its cookie left alone, so a late response
    /// cannot overwrite the browser's new cookie.
    Superseded,
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

    /// The backend, when it is the built-in [`MemoryBackend`]: its calls
    /// answer at once, and are made on it directly rather than through
    /// `dyn Backend`, which boxes the future of every call (two of a
    /// request's allocations).
    #[cfg(feature = "memory")]
    fn memory(&self) -> Option<&MemoryBackend> {
        let backend: &dyn Any = &*self.backend;
        backend.downcast_ref()
    }

    /// [`Backend::load`], on the backend directly when it can be.
    async fn load_record(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory() {
            return memory.load_now(key);
        }
        self.backend.load(key).await
    }

    /// [`Backend::create_retained`], on the backend directly when it can be.
    async fn create_record(
        &self,
        key: &StorageKey,
        fields: &Fields,
        ttl: Duration,
        retention: Retention,
    ) -> Result<bool, BackendError> {
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory() {
            return memory.create_now(key, fields, ttl, retention);
        }
        self.backend.create_retained(key, fields, ttl, retention).await
    }

    /// [`Backend::touch`], on the backend directly when it can be.
    async fn touch_record(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory() {
            return memory.touch_now(key, ttl);
        }
        self.backend.touch(key, ttl).await
    }

    /// The time to live of a record written now.
    fn ttl(&self, meta: &Meta, now: u64) -> Duration {
        let secs = match self.settings.expiry(meta, now) {
            Some(expires) => expires.saturating_sub(now).max(1),
            None => self.settings.config.lifetime.browser().server_ttl_secs(),
        };
        Duration::from_secs(secs)
    }

    /// Loads the session named by one cookie value; `Ok(None)` when the
    /// value is refused or names no live record.
    async fn open(&self, value: &str, now: u64) -> Result<Option<Session>> {
        let s = &self.settings;
        let opened = s.codec.decode_with(s.name(), value, now, |payload, times, key_index| {
            (SessionId::from_payload(payload), times.issued, key_index)
        });
        let (id, issued, key_index) = match opened {
            Ok(opened) => opened,
            Err(reason) => {
                tracing::debug!(cookie = s.name(), %reason, "session cookie refused");
                return Ok(None);
            }
        };
        let Some(id) = id else {
            tracing::debug!(cookie = s.name(), "session cookie holds no id");
            return Ok(None);
        };
        let storage_key = id.storage_key();
        let Some(stored) = self.load_record(storage_key).await? else {
            tracing::debug!(cookie = s.name(), "session id unknown or expired; starting a fresh session");
            return Ok(None);
        };
        let Some(meta) = Meta::of(&stored.fields) else {
            tracing::debug!(cookie = s.name(), "stored record is not a live session; starting a fresh session");
            return Ok(None);
        };
        // The user binding is decoded only when something reads it: a
        // revocation hook, or the end of an outlived session.
        let outlived = s.outlived(&meta, now);
        if outlived || s.config.revocation.is_some() {
            let binding = layout::user_of(&stored.fields);
            let user = binding.as_ref().map(|(user, _)| user.clone());
            // Rare steps, each in a future of its own: inline, they would
            // double the size of every load's.
            if outlived || Box::pin(s.revoked(binding)).await? {
                tracing::debug!(cookie = s.name(), "session expired or revoked; starting a fresh session");
                Box::pin(self.end(storage_key, user.as_deref())).await?;
                return Ok(None);
            }
        }
        let refresh = s.refresh_due(&meta, issued, now);
        // Sliding idle timeout: extend the record once an eighth of the idle
        // window has gone, rather than on every request.
        let idle_due = match (s.window(&meta), stored.ttl) {
            (Some(idle), Some(left)) => left.as_secs() + (idle / 8).max(1) <= idle,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let minted = stored.fields.get(ID_SINCE_FIELD).and_then(|v| crate::serial::from_bytes::<u64>(v).ok());
        let renew = s.config.renewal.is_some_and(|after| now.saturating_sub(minted.unwrap_or(meta.created)) >= after);
        let opened = Loaded {
            renew,
            revision: stored.revision,
            fields: stored.fields,
            meta,
            id: Some(id),
            // A cookie signed by an older key is signed again by the newest;
            // the record stays where it is.
            reissue: refresh || key_index > 0,
            touch_due: refresh || idle_due,
        };
        Ok(Some(Session::loaded(&s.shared_name, s.context(now), opened)))
    }

    /// Writes a new record of `user` under a freshly minted id; returns the
    /// id. The id is in the user's index before the record exists.
    async fn create(&self, user: Option<&str>, fields: &Fields, ttl: Duration) -> Result<SessionId> {
        for _ in 0..CREATE_ATTEMPTS {
            let id = SessionId::generate()?;
            self.index(user, id.storage_key()).await?;
            let retention = if user.is_some() { Retention::Keep } else { Retention::Evictable };
            if self.create_record(id.storage_key(), fields, ttl, retention).await? {
                return Ok(id);
            }
            tracing::error!(cookie = self.settings.name(), "session id collision: check the RNG and the backend");
        }
        Err(Error::Backend(BackendError::Corrupt("could not create a session under a fresh id".into())))
    }

    /// Ends the session stored under `key`, and any successor a concurrent
    /// cycle is moving it to.
    ///
    /// A cycle writes the forwarding record before it takes the old record,
    /// and a logout reads it after deleting the old record: whichever comes
    /// second sees the other, so a logout racing a cycle always ends the
    /// successor too. A successor not yet created is blocked with a
    /// tombstone, which makes the cycle's `create` fail.
    ///
    /// The session leaves its user's index only once its record is gone: a
    /// delete that fails leaves it listed, so "log out everywhere", or the
    /// logout retried, still finds and ends it.
    async fn end(&self, key: &StorageKey, user: Option<&str>) -> Result<()> {
        let mut at = key.clone();
        let mut followed = 0;
        loop {
            self.backend.delete(&at).await?;
            let Some(successor) = self.successor(&at).await? else { break };
            let tombstone = Fields::from([(FORWARD_FIELD.to_owned(), Vec::new())]);
            if self.backend.create(&successor, &tombstone, FORWARD_TTL).await? {
                break;
            }
            followed += 1;
            if followed == MAX_FORWARDS {
                tracing::warn!(cookie = self.settings.name(), "session cycled too often to follow; logout stopped");
                break;
            }
            at = successor;
        }
        self.forget(user, key).await;
        Ok(())
    }

    /// The record a cycle moved `key` to, if one did.
    async fn successor(&self, key: &StorageKey) -> Result<Option<StorageKey>> {
        let Some(forward) = self.backend.load(&key.forward()).await? else { return Ok(None) };
        let target = forward.fields.get(FORWARD_FIELD).and_then(|v| std::str::from_utf8(v).ok());
        Ok(target.and_then(StorageKey::parse))
    }

    /// Moves the record under `old` to a new id, applying `patch` to the
    /// record as it is now (so writes other requests saved before the move
    /// are kept).
    ///
    /// A call that fails (or a request dropped while one hangs) after the
    /// forwarding record is written and before the new record is in place
    /// is undone: the old record is put back if it was taken and the
    /// forward removed, so the request can be sent again. Left as they
    /// were, the forward would make every retry for ten minutes a no-op
    /// ("cycled by another request"), and the session would be gone.
    async fn cycle(&self, old: &StorageKey, patch: &Patch, ttl: Duration) -> Result<Applied> {
        let id = SessionId::generate()?;
        let new = id.storage_key().clone();
        let forward = Fields::from([(FORWARD_FIELD.to_owned(), new.as_str().into_bytes())]);
        if !self.backend.create(&old.forward(), &forward, FORWARD_TTL).await? {
            return Ok(Applied::Superseded);
        }
        let mut undo =
            Undo { backend: Arc::clone(&self.backend), old: old.clone(), new: new.clone(), taken: None, armed: true };
        match self.move_record(old, id, patch, ttl, &mut undo).await {
            Ok(applied) => {
                undo.armed = false;
                Ok(applied)
            }
            Err(err) => {
                undo.armed = false;
                undo.steps().run().await;
                Err(err)
            }
        }
    }

    /// The part of [`cycle`](Self::cycle) after the forward is written.
    async fn move_record(
        &self,
        old: &StorageKey,
        id: SessionId,
        patch: &Patch,
        ttl: Duration,
        undo: &mut Undo,
    ) -> Result<Applied> {
        let new = id.storage_key();
        let Some(stored) = self.backend.take(old).await? else {
            undo.armed = false;
            return Ok(Applied::Ended);
        };
        undo.taken = Some((stored.fields.clone(), stored.ttl.unwrap_or(ttl)));
        let old_user = layout::user_of(&stored.fields).map(|(user, _)| user);
        let mut fields = stored.fields;
        patch.apply(&mut fields);
        if !layout::holds_data(&fields) {
            undo.armed = false;
            self.forget(old_user.as_deref(), old).await;
            return Ok(Applied::Ended);
        }
        self.stamp_id_minted(&mut fields);
        self.stamp_seen(&mut fields);
        // Listed before the record says whose it is.
        self.index(layout::user_of(&fields).map(|(user, _)| user).as_deref(), new).await?;
        let created = self.backend.create_retained(new, &fields, ttl, retention_of(&fields)).await?;
        undo.armed = false;
        self.forget(old_user.as_deref(), old).await;
        if !created {
            // A logout followed the forward and blocked the new id.
            return Ok(Applied::Ended);
        }
        Ok(Applied::Moved(id))
    }

    /// What to answer when the record vanished while this request ran:
    /// ended by a logout or expiry (drop the cookie), or moved by a cycle
    /// (leave the browser's new cookie alone).
    async fn vanished(&self, key: &StorageKey) -> Result<Applied> {
        if self.successor(key).await?.is_some() {
            tracing::debug!(cookie = self.settings.name(), "session cycled during the request; changes dropped");
            Ok(Applied::Superseded)
        } else {
            tracing::debug!(cookie = self.settings.name(), "session ended during the request; changes dropped");
            Ok(Applied::Ended)
        }
    }

    /// Applies `patch`; in one round trip on a backend that versions its
    /// records, when the request loaded the record at a revision. When the
    /// request decided whose the record is (it wrote the binding, or
    /// cleared the record), the record's retention follows; otherwise it is
    /// left as it is, since a concurrent request may have bound it.
    async fn patch_record(
        &self,
        key: &StorageKey,
        changes: &Changes<Plan>,
        seen: Option<&(u64, Fields)>,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        let seen = seen.map(|(revision, fields)| Seen { revision: *revision, fields });
        if changes.user_written || patch.clear {
            let retention = if changes.user.is_some() { Retention::Keep } else { Retention::Evictable };
            #[cfg(feature = "memory")]
            if let Some(memory) = self.memory() {
                return memory.patch(key, patch, ttl, Some(retention));
            }
            return self.backend.update_retained(key, seen, patch, ttl, retention).await;
        }
        #[cfg(feature = "memory")]
        if let Some(memory) = self.memory() {
            return memory.patch(key, patch, ttl, None);
        }
        match seen {
            Some(seen) => self.backend.update_seen(key, seen, patch, ttl).await,
            None => self.backend.update(key, patch, ttl).await,
        }
    }

    /// Applies the plan. The saves of most requests (nothing, a touch, a
    /// patch) run in this future itself; the others each in a boxed one:
    /// their steps would otherwise make every save's future two kilobytes,
    /// past what glibc's allocator serves from its per-thread cache, and
    /// the adapter's future holding it cost more to allocate than the box.
    async fn apply(&self, changes: &Changes<Plan>, ttl: Duration) -> Result<Applied> {
        let applied = match &changes.plan {
            Plan::Keep => Applied::Kept,
            Plan::Touch(old) => match self.touch_record(old, ttl).await {
                Ok(true) => Applied::Kept,
                Ok(false) => Box::pin(self.vanished(old)).await?,
                // Extending the lifetime is the store's bookkeeping, not a
                // change the request made: a store too full to write it
                // still serves the read, and the session keeps the time it
                // had. Failing it would turn one client's flood into every
                // reader's 503.
                Err(BackendError::Full(reason)) => {
                    tracing::warn!(cookie = self.settings.name(), %reason, "session storage full; idle refresh skipped");
                    Applied::Kept
                }
                Err(err) => return Err(err.into()),
            },
            Plan::Patch { key: old, patch, seen } => {
                if changes.user_written {
                    // Before the record says whose it is; and even when
                    // unchanged for this request: a concurrent request may
                    // have re-bound the record meanwhile.
                    Box::pin(self.index(changes.user.as_deref(), old)).await?;
                }
                // A session of a user also says when it was last seen; an
                // anonymous one saves as it is, with no copy.
                let stamped = changes.user.is_some().then(|| {
                    let (name, value) = seen_field(self.settings.now());
                    let mut patch = patch.clone();
                    patch.set.insert(name.clone(), value.clone());
                    let seen = seen.as_deref().map(|(revision, fields)| {
                        let mut fields = fields.clone();
                        fields.insert(name, value);
                        (*revision, fields)
                    });
                    (patch, seen)
                });
                let (patch, seen) = match &stamped {
                    Some((patch, seen)) => (patch, seen.as_ref()),
                    None => (patch, seen.as_deref()),
                };
                match self.patch_record(old, changes, seen, patch, ttl).await? {
                    true => {
                        if changes.user_written && changes.user != changes.loaded_user {
                            Box::pin(self.forget(changes.loaded_user.as_deref(), old)).await;
                        }
                        Applied::Kept
                    }
                    false => Box::pin(self.vanished(old)).await?,
                }
            }
            Plan::Cycle { key: old, patch } => Box::pin(self.cycle(old, patch, ttl)).await?,
            Plan::End(old) => {
                if let Some(old) = old {
                    Box::pin(self.end(old, changes.loaded_user.as_deref())).await?;
                }
                Applied::Ended
            }
            Plan::Empty(old) => {
                Box::pin(async {
                    match self.backend.take(old).await? {
                        Some(stored) => {
                            self.forget(layout::user_of(&stored.fields).map(|(user, _)| user).as_deref(), old).await;
                            Ok(Applied::Ended)
                        }
                        None => self.vanished(old).await,
                    }
                })
                .await?
            }
            Plan::Replace { old, fields } => {
                Box::pin(async {
                    if let Some(old) = old {
                        self.end(old, changes.loaded_user.as_deref()).await?;
                    }
                    self.create_fresh(fields, changes, ttl).await
                })
                .await?
            }
            Plan::Create(fields) => Box::pin(self.create_fresh(fields, changes, ttl)).await?,
        };
        Ok(applied)
    }

    /// Stores a record under a new id, indexed first.
    async fn create_fresh(&self, fields: &Fields, changes: &Changes<Plan>, ttl: Duration) -> Result<Applied> {
        let user = changes.user.as_deref();
        let id = if self.settings.config.renewal.is_some() || user.is_some() {
            let mut fields = fields.clone();
            self.stamp_id_minted(&mut fields);
            self.stamp_seen(&mut fields);
            self.create(user, &fields, ttl).await?
        } else {
            self.create(user, fields, ttl).await?
        };
        Ok(Applied::Moved(id))
    }

    /// Records when a session bound to a user was last seen, in the record
    /// about to be written; an anonymous one is left as it is.
    fn stamp_seen(&self, fields: &mut Fields) {
        if layout::user_of(fields).is_some() {
            let (name, value) = seen_field(self.settings.now());
            fields.insert(name, value);
        }
    }

    /// Records when the id a record is about to get was minted, for the
    /// renewal timeout.
    fn stamp_id_minted(&self, fields: &mut Fields) {
        if self.settings.config.renewal.is_some() {
            // A u64 always encodes.
            let now = crate::serial::to_bytes(&self.settings.now()).unwrap_or_default();
            fields.insert(ID_SINCE_FIELD, now);
        }
    }

    fn id_cookie(&self, options: Option<&CookieOptions>, meta: &Meta, id: &SessionId, now: u64) -> Result<String> {
        let s = &self.settings;
        let times = s.times(meta, now);
        s.cookie(options, meta, id.as_bytes(), times)
    }
}

#[async_trait]
impl Store for ServerStore {
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

impl ServerStore {
    pub(super) async fn load_session(&self, values: &[&str]) -> Result<Session> {
        let now = self.settings.now();
        for value in values {
            if let Some(session) = self.open(value, now).await? {
                return Ok(session);
            }
        }
        Ok(self.settings.fresh(now))
    }

    pub(super) async fn save_session(&self, session: &Session) -> Result<Option<String>> {
        let changes = session.changes(Plan::of);
        if matches!(changes.plan, Plan::Keep) && !changes.reissue {
            return Ok(None);
        }
        let now = self.settings.now();
        let ttl = self.ttl(&changes.meta, now);
        let options = changes.options.as_ref();
        let applied = self.apply(&changes, ttl).await?;
        self.trace(&changes, &applied);
        let (outcome, header) = match applied {
            Applied::Kept if changes.emptied => {
                (Outcome::Ended, changes.loaded.then(|| self.settings.removal(options)))
            }
            Applied::Kept => {
                let header = match (&changes.id, changes.reissue) {
                    (Some(id), true) => Some(self.id_cookie(options, &changes.meta, id, now)?),
                    _ => None,
                };
                (Outcome::Saved, header)
            }
            Applied::Moved(id) => {
                let header = self.id_cookie(options, &changes.meta, &id, now)?;
                (Outcome::Renamed(id), Some(header))
            }
            Applied::Ended => (Outcome::Ended, changes.loaded.then(|| self.settings.removal(options))),
            Applied::Superseded => (Outcome::Ended, None),
        };
        session.commit(outcome);
        Ok(header)
    }
}

impl ServerStore {
    /// One lifecycle event per save that changed what the session is, with
    /// a short prefix of the storage key as its handle: enough to follow a
    /// session through the logs, never enough to use it.
    fn trace(&self, changes: &Changes<Plan>, applied: &Applied) {
        // The common save logs nothing: no handle is written for it.
        if matches!(applied, Applied::Kept) && !changes.emptied {
            return;
        }
        let cookie = self.settings.name();
        let old = changes.id.as_ref().map(|id| log_handle(id.storage_key()));
        let old = old.as_ref().map(LogHandle::as_str);
        match (applied, &changes.plan) {
            (Applied::Moved(id), Plan::Cycle { .. }) => {
                tracing::info!(cookie, from = old, to = %log_handle(id.storage_key()), "session id cycled");
            }
            (Applied::Moved(id), Plan::Replace { .. }) => {
                tracing::info!(cookie, ended = old, to = %log_handle(id.storage_key()), "session destroyed, a fresh one started");
            }
            (Applied::Moved(id), _) => {
                tracing::debug!(cookie, session = %log_handle(id.storage_key()), "session created")
            }
            (Applied::Ended, Plan::End(_)) => tracing::info!(cookie, session = old, "session destroyed"),
            (Applied::Ended, _) => {
                tracing::debug!(cookie, session = old, "session emptied or ended elsewhere")
            }
            (Applied::Kept, _) if changes.emptied => {
                tracing::debug!(cookie, session = old, "session emptied")
            }
            (Applied::Superseded, _) => {
                tracing::debug!(cookie, session = old, "session cycled by another request; changes dropped");
            }
            (Applied::Kept, _) => {}
        }
    }

    /// Adds a session to its user's index, if it has a user. An index that
    /// has grown past a few entries is pruned of ended sessions on the way,
    /// so logins of one account cannot grow it without bound (on SQL it
    /// counts against the record limit).
    async fn index(&self, user: Option<&str>, session: &StorageKey) -> Result<()> {
        let Some(user) = user else { return Ok(()) };
        let index = user_index_key(user);
        user_index::add(&*self.backend, &index, session, self.settings.now()).await?;
        if user_index::members(&*self.backend, &index).await?.len() > user_index::PRUNE_ABOVE {
            self.indexed(user).await?;
        }
        Ok(())
    }

    /// Removes a session whose record is gone from its user's index, if it
    /// has a user. The work of the request is done by then: a failure here
    /// leaves an entry naming no record, which the next listing prunes, so
    /// it is logged and not passed on.
    async fn forget(&self, user: Option<&str>, session: &StorageKey) {
        let Some(user) = user else { return };
        if let Err(err) = user_index::remove(&*self.backend, &user_index_key(user), session).await {
            tracing::warn!(cookie = self.settings.name(), session = %log_handle(session), error = %err, "could not remove an ended session from its user's index; the next listing prunes it");
        }
    }

    /// The live sessions listed in `user`'s index, with their records.
    /// Entries whose session has ended are pruned on the way, unless added
    /// so recently that their record may not be written yet.
    async fn indexed(&self, user: &str) -> Result<Vec<(StorageKey, Fields, Option<Duration>)>> {
        let now = self.settings.now();
        let live = |fields: &Fields| {
            layout::user_of(fields).is_some_and(|(u, _)| u == user)
                && Meta::of(fields).is_some_and(|meta| !self.settings.outlived(&meta, now))
        };
        let index = user_index_key(user);
        let mut sessions = Vec::new();
        let mut dead = Vec::new();
        for (storage_key, added) in user_index::members(&*self.backend, &index).await? {
            match self.backend.load(&storage_key).await?.map(|stored| (stored.fields, stored.ttl)) {
                Some((fields, ttl)) if live(&fields) => sessions.push((storage_key, fields, ttl)),
                // Being written by a save still running (or one that
                // failed): its record may yet say it is this user's.
                _ if now.saturating_sub(added) < user_index::PENDING_GRACE => {}
                // Gone, past its absolute timeout, or re-bound to someone
                // else since.
                _ => dead.push(storage_key),
            }
        }
        user_index::remove_all(&*self.backend, &index, &dead).await?;
        Ok(sessions)
    }

    /// The live server-side sessions bound to `user` with
    /// [`Session::set_user`]: when each was created and last used, and its
    /// public [`handle`](UserSession::handle). Mark the request's own with
    /// [`ServerStore::handle`]; end one with
    /// [`ServerStore::destroy_user_session_by_handle`], all but the
    /// request's own with [`ServerStore::destroy_other_user_sessions`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sessions_core::backend::MemoryBackend;
    /// use sessions_core::store::Store;
    /// use sessions_core::{Key, KeyRing, ServerStore, StoreConfig};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = ServerStore::new(StoreConfig::new("id", KeyRing::from(Key::generate())), Arc::new(MemoryBackend::new()))?;
    /// // Ada logs in on her laptop and on her phone.
    /// let mut cookies = Vec::new();
    /// for _ in 0..2 {
    ///     let session = store.load(&[]).await?;
    ///     session.set_user(Some("ada"))?;
    ///     let set_cookie = store.save(&session).await?.expect("a new session sets its cookie");
    ///     cookies.push(set_cookie.split(';').next().unwrap().trim_start_matches("id=").to_owned());
    /// }
    /// // On the laptop, she lists her devices and signs the phone out.
    /// let laptop = store.load(&[&cookies[0]]).await?;
    /// let this_device = store.handle(&laptop).expect("a stored session has a handle");
    /// let devices = store.user_sessions("ada").await?;
    /// assert_eq!(devices.len(), 2);
    /// let phone = devices.iter().find(|d| d.handle != this_device).unwrap();
    /// assert!(store.destroy_user_session_by_handle("ada", &phone.handle).await?);
    /// assert!(store.load(&[&cookies[1]]).await?.is_new(), "the phone's cookie now names nothing");
    /// assert_eq!(store.user_sessions("ada").await?.len(), 1);
    /// # Ok::<(), sessions_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn user_sessions(&self, user: &str) -> Result<Vec<UserSession>> {
        let now = self.settings.now();
        let sessions = self.indexed(user).await?.into_iter();
        Ok(sessions
            .filter_map(|(storage_key, fields, ttl)| Meta::of(&fields).map(|meta| (storage_key, meta, fields, ttl)))
            .map(|(storage_key, meta, fields, ttl)| UserSession {
                handle: self.handle_of(&storage_key),
                last_seen: [Some(meta.created), layout::seen_of(&fields), self.extended_at(&meta, ttl, now)]
                    .into_iter()
                    .flatten()
                    .max()
                    .unwrap_or(meta.created)
                    .min(now.max(meta.created)),
                created: meta.created,
                storage_key,
            })
            .collect())
    }

    /// When a session's record last had its sliding window extended (by a
    /// save or a touch), read from the time it has left: each sets it to
    /// the whole window, so the window less what is left is how long ago
    /// that was. `None` when that cannot be told: no sliding window, an
    /// expiry capped by the absolute timeout, or a backend that does not
    /// report the time left.
    fn extended_at(&self, meta: &Meta, ttl: Option<Duration>, now: u64) -> Option<u64> {
        let window = self.settings.window(meta)?;
        let expires = now.saturating_add(ttl?.as_secs());
        let capped = meta.max_age.is_none()
            && self
                .settings
                .config
                .lifetime
                .browser()
                .absolute_secs()
                .is_some_and(|abs| expires.saturating_add(1) >= meta.created.saturating_add(abs));
        (!capped).then(|| expires.saturating_sub(window))
    }

    /// The public handle of the session stored under `key`.
    fn handle_of(&self, key: &StorageKey) -> SessionHandle {
        SessionHandle::of(&self.settings.config.ring.newest().handle, key)
    }

    /// The public handle of `session`, a session of this store: how the
    /// list of [`ServerStore::user_sessions`] tells "this device" apart.
    /// `None` before the session is first saved (and for a session of
    /// another store).
    pub fn handle(&self, session: &Session) -> Option<SessionHandle> {
        session.storage_key().map(|key| self.handle_of(&key))
    }

    /// Ends the session of `user` whose [`handle`](UserSession::handle) is
    /// `handle` (a "sign out that device" button); returns whether `user`
    /// had such a live session. The handle is looked for among `user`'s
    /// sessions only, so a handle of another user's session ends nothing.
    ///
    /// The cookie of the ended session, replayed, yields an anonymous
    /// session. To end the request's own session, prefer
    /// [`Session::destroy`]: its response then also removes the cookie.
    pub async fn destroy_user_session_by_handle(&self, user: &str, handle: &SessionHandle) -> Result<bool> {
        let sessions = self.indexed(user).await?;
        let Some((storage_key, ..)) = sessions.iter().find(|(key, ..)| self.handle_of(key) == *handle) else {
            return Ok(false);
        };
        self.end(storage_key, Some(user)).await?;
        Ok(true)
    }

    /// "Sign out every other device": ends every server-side session bound
    /// to `user` except `keep`, the request's own; returns how many were
    /// ended. A `keep` not yet saved keeps nothing, so every one of the
    /// user's stored sessions ends.
    pub async fn destroy_other_user_sessions(&self, user: &str, keep: &Session) -> Result<usize> {
        let keep = keep.storage_key();
        let sessions = self.indexed(user).await?;
        let mut ended = 0;
        for (storage_key, ..) in sessions.iter().filter(|(key, ..)| Some(key) != keep.as_ref()) {
            self.end(storage_key, Some(user)).await?;
            ended += 1;
        }
        Ok(ended)
    }

    /// "Log out everywhere": ends every server-side session bound to
    /// `user`; returns how many were ended. Their cookies, replayed, yield
    /// anonymous sessions.
    pub async fn destroy_user_sessions(&self, user: &str) -> Result<usize> {
        let sessions = self.indexed(user).await?;
        for (storage_key, ..) in &sessions {
            self.end(storage_key, Some(user)).await?;
        }
        Ok(sessions.len())
    }

    /// Ends one of `user`'s sessions, named by its
    /// [`storage_key`](Session::storage_key) (a "sign out that device"
    /// button); returns whether it was a live session of that user. A
    /// session of another user is left alone.
    pub async fn destroy_user_session(&self, user: &str, storage_key: &StorageKey) -> Result<bool> {
        let Some(stored) = self.backend.load(storage_key).await? else { return Ok(false) };
        if layout::user_of(&stored.fields).is_none_or(|(u, _)| u != user) {
            return Ok(false);
        }
        self.end(storage_key, Some(user)).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MemoryBackend;
    use crate::clock::ManualClock;
    use crate::store::Store;
    use crate::{CookieOptions, Key, KeyRing};

    #[tokio::test]
    async fn logins_prune_the_index_of_ended_sessions() {
        let clock = ManualClock::new(1_800_000_000);
        let backend = Arc::new(MemoryBackend::builder().clock(Arc::new(clock.clone())).build());
        let config = StoreConfig::new("id", KeyRing::from(Key::generate()))
            .cookie_options(CookieOptions::new().secure(false))
            .lifetime(crate::BrowserSession::new().idle_timeout(Some(Duration::from_secs(60))))
            .clock(Arc::new(clock.clone()));
        let store = ServerStore::new(config, backend.clone()).unwrap();
        let login = || async {
            let session = store.load(&[]).await.unwrap();
            session.set_user(Some("ada")).unwrap();
            store.save(&session).await.unwrap().unwrap();
        };
        for _ in 0..40 {
            login().await;
        }
        let index = user_index_key("ada");
        let size = || async { backend.load(&index).await.unwrap().map_or(0, |s| s.fields.len()) };
        assert_eq!(size().await, 40, "live sessions are all listed");
        clock.advance(Duration::from_secs(120));
        login().await;
        assert_eq!(size().await, 1, "the ended sessions are pruned at the next login");
    }
}
