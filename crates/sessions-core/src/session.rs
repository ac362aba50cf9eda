//! The session handle that request handlers read and write.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::options::CookieOptions;
use crate::record::{FLASH_PREFIX, Fields, META_FIELD, Meta, USER_FIELD, VALUE_PREFIX};
use crate::serial;

/// The flash queue used by [`Session::add_flash`] and [`Session::flashes`].
pub const DEFAULT_FLASH_QUEUE: &str = "_flash";

/// One session of one request: typed values, flash messages and lifecycle.
///
/// A `Session` is a cheap handle; clones share the same data, so a handler
/// and the middleware that saves it see the same state. Values are kept
/// encoded and decoded on demand, and each change is tracked per key: an
/// untouched session costs no storage write and sends no cookie, and a save
/// writes only the keys this request changed.
///
/// ```
/// use sessions_core::Session;
///
/// let session = Session::new_detached();
/// session.insert("count", &1u32)?;
/// assert_eq!(session.get::<u32>("count")?, Some(1));
/// session.add_flash(&"saved")?;
/// assert_eq!(session.flashes::<String>()?, vec!["saved".to_string()]);
/// assert!(session.flashes::<String>()?.is_empty()); // read once
/// # Ok::<(), sessions_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Session {
    name: Arc<str>,
    state: Arc<Mutex<State>>,
}

/// Shows the keys, never the values: sessions hold tokens and personal data
/// that must not reach logs.
impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Session")
            .field("name", &self.name)
            .field("keys", &state.fields.keys().filter_map(|k| k.strip_prefix(VALUE_PREFIX)).collect::<Vec<_>>())
            .field("status", &state.status)
            .field("modified", &state.is_modified())
            .finish_non_exhaustive()
    }
}

/// Where the session stands in its life within this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Keep the session (and its id, for server stores).
    Active,
    /// Keep the data under a new id: set by `cycle_id`.
    Cycle,
    /// Delete the session: set by `destroy`.
    Destroyed,
}

pub(crate) struct State {
    pub(crate) fields: Fields,
    /// Fields changed by this request.
    pub(crate) dirty: BTreeSet<String>,
    /// `clear` was called: fields not written by this request are gone.
    pub(crate) cleared: bool,
    pub(crate) meta: Meta,
    pub(crate) status: Status,
    /// The request brought a valid cookie for this session.
    pub(crate) loaded: bool,
    /// The cookie must be sent again even if nothing changed (a stale key,
    /// a sliding expiry, a changed lifetime).
    pub(crate) reissue: bool,
    /// The server record's TTL should be extended without a write.
    pub(crate) touch_due: bool,
    /// The server-side id and the index of the key that authenticated it.
    pub(crate) id: Option<(SessionId, usize)>,
    pub(crate) options: Option<CookieOptions>,
    pub(crate) remember_for: u64,
    /// When the store loaded or created the session (Unix seconds).
    pub(crate) now: u64,
    /// The user binding as loaded, to move the session out of that user's
    /// index if the binding changes.
    pub(crate) loaded_user: Option<String>,
}

impl State {
    pub(crate) fn fresh(meta: Meta, remember_for: u64, now: u64) -> State {
        let mut fields = Fields::new();
        fields.insert(META_FIELD.into(), encode_meta(&meta));
        State::with_fields(fields, meta, remember_for, now)
    }

    /// A session read from a cookie or a backend: `fields` already hold
    /// `meta`, so nothing is encoded again.
    pub(crate) fn loaded(fields: Fields, meta: Meta, remember_for: u64, now: u64) -> State {
        State { loaded: true, ..State::with_fields(fields, meta, remember_for, now) }
    }

    fn with_fields(fields: Fields, meta: Meta, remember_for: u64, now: u64) -> State {
        State {
            fields,
            dirty: BTreeSet::new(),
            cleared: false,
            meta,
            status: Status::Active,
            loaded: false,
            reissue: false,
            touch_due: false,
            id: None,
            options: None,
            remember_for,
            now,
            loaded_user: None,
        }
    }

    /// True when this request changed data or metadata.
    pub(crate) fn is_modified(&self) -> bool {
        self.cleared || !self.dirty.is_empty()
    }

    /// True when the session holds any value, flash or user binding.
    pub(crate) fn has_data(&self) -> bool {
        self.fields.keys().any(|k| k != META_FIELD)
    }

    /// The user this session belongs to, if bound.
    pub(crate) fn user(&self) -> Option<String> {
        decode_user(&self.fields).map(|(user, _)| user)
    }

    /// Marks everything as written, after a successful save.
    pub(crate) fn saved(&mut self) {
        self.loaded_user = self.user();
        self.dirty.clear();
        self.cleared = false;
        self.reissue = false;
        self.touch_due = false;
        self.loaded = true;
        if self.status == Status::Cycle {
            self.status = Status::Active;
        }
    }

    /// After a save that ended the session: later saves send nothing.
    pub(crate) fn forget(&mut self) {
        self.saved();
        self.loaded = false;
        self.id = None;
    }

    fn set_field(&mut self, name: String, value: Option<Vec<u8>>) -> bool {
        let existed = match value {
            Some(v) => self.fields.insert(name.clone(), v).is_some(),
            None => self.fields.remove(&name).is_some(),
        };
        self.dirty.insert(name);
        existed
    }

    fn set_meta(&mut self, meta: Meta) {
        if meta != self.meta {
            self.meta = meta;
            self.set_field(META_FIELD.into(), Some(encode_meta(&meta)));
            self.reissue = true;
        }
    }
}

pub(crate) fn encode_meta(meta: &Meta) -> Vec<u8> {
    // A two-field struct of integers cannot fail to encode.
    serial::to_bytes(meta).unwrap_or_default()
}

pub(crate) fn decode_meta(fields: &Fields) -> Option<Meta> {
    serial::from_bytes(fields.get(META_FIELD)?).ok()
}

/// The user binding: the user id and when it was bound (Unix seconds).
pub(crate) fn decode_user(fields: &Fields) -> Option<(String, u64)> {
    serial::from_bytes(fields.get(USER_FIELD)?).ok()
}

fn value_field(key: &str) -> String {
    let mut name = String::with_capacity(key.len() + 1);
    name.push(VALUE_PREFIX);
    name.push_str(key);
    name
}

fn flash_field(queue: &str) -> String {
    let mut name = String::with_capacity(queue.len() + 1);
    name.push(FLASH_PREFIX);
    name.push_str(queue);
    name
}

impl Session {
    pub(crate) fn from_state(name: &str, state: State) -> Session {
        Session { name: Arc::from(name), state: Arc::new(Mutex::new(state)) }
    }

    /// A session that belongs to no store, for unit tests of code that takes
    /// a `Session`. Saving it is up to the caller.
    pub fn new_detached() -> Session {
        Session::from_state("session", State::fresh(Meta { created: 0, max_age: None }, 0, 0))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock is held cannot leave the maps half-updated
        // (every mutation is a single insert or remove), so the data is
        // still consistent and the poison can be ignored.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cookie name of the store this session belongs to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads the value stored under `key`, decoding it as `T`.
    ///
    /// `Ok(None)` when the key is absent; [`Error::Value`] when the stored
    /// bytes are not a `T` (the value is kept, nothing is lost).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let state = self.lock();
        match state.fields.get(&value_field(key)) {
            None => Ok(None),
            Some(bytes) => serial::from_bytes(bytes).map(Some).map_err(|source| Error::Value {
                key: key.into(),
                action: "decoded",
                source,
            }),
        }
    }

    /// Stores `value` under `key`, replacing any previous value.
    pub fn insert<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        let bytes =
            serial::to_bytes(value).map_err(|source| Error::Value { key: key.into(), action: "encoded", source })?;
        let mut state = self.lock();
        let field = value_field(key);
        if state.fields.get(&field) != Some(&bytes) {
            state.set_field(field, Some(bytes));
        }
        Ok(())
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&self, key: &str) -> bool {
        let mut state = self.lock();
        let field = value_field(key);
        state.fields.contains_key(&field) && state.set_field(field, None)
    }

    /// Binds the session to a user id (`None` unbinds it).
    ///
    /// A bound session can be revoked with the user's other sessions: by a
    /// [`Revocation`](crate::revocation::Revocation) hook on any store, and
    /// with [`ServerStore::destroy_user_sessions`](crate::ServerStore::destroy_user_sessions) on
    /// a server store ("log out everywhere"). Bind after
    /// [`Session::cycle_id`] at login.
    pub fn set_user(&self, user: Option<&str>) -> Result<()> {
        let mut state = self.lock();
        let value = match user {
            Some(user) => Some(serial::to_bytes(&(user, state.now)).map_err(|source| Error::Value {
                key: USER_FIELD.into(),
                action: "encoded",
                source,
            })?),
            None => None,
        };
        if value.is_some() || state.fields.contains_key(USER_FIELD) {
            state.set_field(USER_FIELD.into(), value);
        }
        Ok(())
    }

    /// The user id bound with [`Session::set_user`].
    pub fn user(&self) -> Option<String> {
        self.lock().user()
    }

    /// Removes every value and flash, keeping the session itself.
    pub fn clear(&self) {
        let mut state = self.lock();
        let meta = state.fields.remove(META_FIELD);
        state.fields.clear();
        if let Some(meta) = meta {
            state.fields.insert(META_FIELD.into(), meta);
        }
        state.dirty.retain(|k| k == META_FIELD);
        state.cleared = true;
    }

    /// The keys of all stored values, in order.
    pub fn keys(&self) -> Vec<String> {
        let state = self.lock();
        state.fields.keys().filter_map(|k| k.strip_prefix(VALUE_PREFIX)).map(str::to_owned).collect()
    }

    /// True when `key` holds a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.lock().fields.contains_key(&value_field(key))
    }

    /// True when the session holds no value and no flash.
    pub fn is_empty(&self) -> bool {
        !self.lock().has_data()
    }

    /// True when the request brought no valid cookie for this session.
    pub fn is_new(&self) -> bool {
        !self.lock().loaded
    }

    /// Queues a flash message in the default queue.
    pub fn add_flash<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.add_flash_to(DEFAULT_FLASH_QUEUE, value)
    }

    /// Queues a flash message in the named queue.
    pub fn add_flash_to<T: Serialize + ?Sized>(&self, queue: &str, value: &T) -> Result<()> {
        let item =
            serial::to_bytes(value).map_err(|source| Error::Value { key: queue.into(), action: "encoded", source })?;
        let mut state = self.lock();
        let field = flash_field(queue);
        let mut items: Vec<Vec<u8>> = match state.fields.get(&field) {
            Some(bytes) => serial::from_bytes(bytes).map_err(|source| Error::Value {
                key: queue.into(),
                action: "decoded",
                source,
            })?,
            None => Vec::new(),
        };
        items.push(item);
        let bytes =
            serial::to_bytes(&items).map_err(|source| Error::Value { key: queue.into(), action: "encoded", source })?;
        state.set_field(field, Some(bytes));
        Ok(())
    }

    /// Returns and removes the flash messages of the default queue.
    pub fn flashes<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        self.flashes_from(DEFAULT_FLASH_QUEUE)
    }

    /// Returns and removes the flash messages of the named queue.
    ///
    /// If a message does not decode as `T`, the queue is left untouched and
    /// the error returned, so nothing is lost.
    pub fn flashes_from<T: DeserializeOwned>(&self, queue: &str) -> Result<Vec<T>> {
        let mut state = self.lock();
        let field = flash_field(queue);
        let Some(bytes) = state.fields.get(&field) else {
            return Ok(Vec::new());
        };
        let decode_err = |source| Error::Value { key: queue.into(), action: "decoded", source };
        let items: Vec<Vec<u8>> = serial::from_bytes(bytes).map_err(decode_err)?;
        let values = items.iter().map(|b| serial::from_bytes(b)).collect::<Result<Vec<T>, _>>().map_err(decode_err)?;
        state.set_field(field, None);
        Ok(values)
    }

    /// Gives the session a new id at the next save, keeping its data.
    ///
    /// Call it when privileges change (a login) so an id planted before the
    /// login is worthless after it. The record under the old id is deleted.
    pub fn cycle_id(&self) {
        let mut state = self.lock();
        if state.status == Status::Active {
            state.status = Status::Cycle;
        }
    }

    /// Ends the session: its stored record is deleted and the browser told
    /// to drop the cookie. Later reads see an empty session; later writes
    /// are not saved.
    pub fn destroy(&self) {
        let mut state = self.lock();
        state.status = Status::Destroyed;
        state.fields.retain(|k, _| k == META_FIELD);
        state.dirty.clear();
    }

    /// True after [`Session::destroy`].
    pub fn is_destroyed(&self) -> bool {
        self.lock().status == Status::Destroyed
    }

    /// "Remember me": `true` makes the cookie persistent for the store's
    /// remember-me duration; `false` makes it a browser-session cookie.
    /// The authenticated expiry moves with it.
    pub fn remember(&self, on: bool) {
        let mut state = self.lock();
        let max_age = on.then_some(state.remember_for);
        let meta = Meta { max_age, ..state.meta };
        state.set_meta(meta);
    }

    /// Sets this session's cookie lifetime: `None` for a browser-session
    /// cookie, `Some(d)` for a persistent one.
    pub fn set_max_age(&self, max_age: Option<Duration>) {
        let mut state = self.lock();
        let meta = Meta { max_age: max_age.map(|d| d.as_secs()), ..state.meta };
        state.set_meta(meta);
    }

    /// The cookie lifetime: `None` for a browser-session cookie.
    pub fn max_age(&self) -> Option<Duration> {
        self.lock().meta.max_age.map(Duration::from_secs)
    }

    /// Overrides the store's cookie attributes for this session only.
    /// The lifetime is set with [`Session::remember`] or
    /// [`Session::set_max_age`]; the `max_age` of `options` is ignored.
    pub fn set_cookie_options(&self, options: CookieOptions) {
        let mut state = self.lock();
        state.options = Some(options);
        state.reissue = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_keys_but_never_values() {
        let session = Session::new_detached();
        session.insert("token", "s3cr3t-value").unwrap();
        let shown = format!("{session:?}");
        assert!(shown.contains("token"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn a_value_of_another_type_is_an_error_and_is_kept() {
        let session = Session::new_detached();
        session.insert("n", "not a number").unwrap();
        assert!(matches!(session.get::<u32>("n"), Err(Error::Value { .. })));
        assert_eq!(session.get::<String>("n").unwrap().as_deref(), Some("not a number"));
    }

    #[test]
    fn destroyed_session_reads_empty() {
        let session = Session::new_detached();
        session.insert("n", &1).unwrap();
        session.destroy();
        assert!(session.is_destroyed());
        assert_eq!(session.get::<i32>("n").unwrap(), None);
    }

    #[test]
    fn remove_and_clear_report_and_track_changes() {
        let session = Session::new_detached();
        session.insert("a", &1).unwrap();
        session.insert("b", &2).unwrap();
        assert!(session.remove("a"));
        assert!(!session.remove("a"));
        assert_eq!(session.keys(), vec!["b".to_string()]);
        session.clear();
        assert!(session.is_empty());
        assert!(session.lock().is_modified());
    }
}
