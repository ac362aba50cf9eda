//! The session handle that request handlers read and write.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::Fields;
use crate::backend::StorageKey;
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::options::CookieOptions;
use crate::serial;
use layout::{FLASH_PREFIX, META_FIELD, Meta, USER_FIELD, VALUE_PREFIX};

mod changes;
mod dirty;
pub(crate) mod flashes;
pub(crate) mod layout;

pub(crate) use changes::{Changes, Facts, Outcome};
use dirty::Dirty;

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
    /// End the session: set by `destroy`.
    Destroyed,
    /// Destroyed, then written again: the loaded session ends and a fresh
    /// one carries this request's later writes (Rails' `reset_session`).
    Reset,
}

/// What a store knows about a session when it hands it to a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoreContext {
    /// The metadata a new session of this store starts with.
    pub(crate) fresh: Meta,
    /// The Max-Age of "remember me", in seconds.
    pub(crate) remember_for: u64,
    /// When the request started (Unix seconds).
    pub(crate) now: u64,
}

/// A session a store read back from a cookie or a backend.
pub(crate) struct Loaded {
    pub(crate) fields: Fields,
    pub(crate) meta: Meta,
    /// The server-side id; `None` in a cookie store.
    pub(crate) id: Option<SessionId>,
    /// The cookie must be sent again (issued under an older key, or its
    /// sliding expiry is due to move).
    pub(crate) reissue: bool,
    /// The server record's lifetime should be extended.
    pub(crate) touch_due: bool,
    /// The id is due for renewal: save under a new one, as `cycle_id`.
    pub(crate) renew: bool,
    /// The backend's version of the record as loaded ([`Stored::revision`](crate::backend::Stored::revision)).
    pub(crate) revision: Option<u64>,
}

/// The session's data and what this request did to it. Only this module
/// and `changes` read or write it; stores see [`Changes`] and [`Outcome`].
struct State {
    fields: Fields,
    /// Fields changed by this request.
    dirty: Dirty,
    /// `clear` was called: fields not written by this request are gone.
    cleared: bool,
    meta: Meta,
    status: Status,
    /// The request brought a valid cookie for this session.
    loaded: bool,
    reissue: bool,
    touch_due: bool,
    id: Option<SessionId>,
    options: Option<CookieOptions>,
    context: StoreContext,
    /// The user binding as loaded, to move the session out of that user's
    /// index if the binding changes.
    loaded_user: Option<String>,
    /// The backend's version of the record as loaded, until it is saved.
    revision: Option<u64>,
}

impl State {
    fn new(context: StoreContext, fields: Fields, meta: Meta) -> State {
        State {
            loaded_user: layout::user_of(&fields).map(|(user, _)| user),
            fields,
            dirty: Dirty::default(),
            cleared: false,
            meta,
            status: Status::Active,
            loaded: false,
            reissue: false,
            touch_due: false,
            id: None,
            options: None,
            context,
            revision: None,
        }
    }

    /// True when this request changed data or metadata.
    fn is_modified(&self) -> bool {
        self.cleared || !self.dirty.is_empty()
    }

    fn has_data(&self) -> bool {
        layout::holds_data(&self.fields)
    }

    fn user(&self) -> Option<String> {
        layout::user_of(&self.fields).map(|(user, _)| user)
    }

    /// Called before every write: after `destroy`, the first write starts
    /// a fresh session, so a logout handler can still leave a flash.
    fn begin_write(&mut self) {
        if self.status == Status::Destroyed {
            self.status = Status::Reset;
            self.meta = self.context.fresh;
            self.fields.insert(META_FIELD, self.meta.encode());
            self.dirty.insert(META_FIELD);
        }
    }

    /// Writes (or, with `None`, removes) field `name` and marks it changed;
    /// returns whether it was there. Overwriting a marked field with a value
    /// no longer than its last costs no allocation.
    fn set_field(&mut self, name: &str, value: Option<&[u8]>) -> bool {
        self.begin_write();
        let existed = match value {
            Some(value) => self.fields.insert(name, value),
            None => self.fields.remove(name),
        };
        self.dirty.insert(name);
        existed
    }

    /// Writes field `name` from `bytes` and marks it changed.
    fn write_field(&mut self, name: &str, bytes: &[u8]) {
        self.set_field(name, Some(bytes));
    }

    fn set_meta(&mut self, meta: Meta) {
        self.begin_write();
        let meta = Meta { created: self.meta.created, ..meta };
        if meta != self.meta {
            self.meta = meta;
            self.set_field(META_FIELD, Some(&meta.encode()));
            self.reissue = true;
        }
    }
}

fn value_field(key: &str) -> String {
    let mut name = String::with_capacity(key.len() + 1);
    name.push(VALUE_PREFIX);
    name.push_str(key);
    name
}

/// Calls `f` with the field name of value `key` (`v<key>`), written on the
/// stack when the key is short, so that reading or overwriting a value
/// allocates no name.
fn with_value_field<R>(key: &str, f: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0u8; 64];
    if let Some(rest) = buf.get_mut(1..=key.len()) {
        rest.copy_from_slice(key.as_bytes());
        buf[0] = VALUE_PREFIX as u8;
        // A letter then a `str`: always UTF-8.
        if let Ok(name) = std::str::from_utf8(&buf[..=key.len()]) {
            return f(name);
        }
    }
    f(&value_field(key))
}

/// Hex digits after a flash field's separator: nanoseconds, then a counter.
const FLASH_SUFFIX: usize = 24;
const FLASH_SEPARATOR: char = '#';

/// A new field name for one message of `queue`: `f<queue>#<time><counter>`.
/// Names sort in the order messages were queued within a process, and two
/// requests never pick the same name, so concurrent saves keep both.
fn flash_field(queue: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{FLASH_PREFIX}{queue}{FLASH_SEPARATOR}{nanos:016x}{count:08x}")
}

/// True when field `name` holds a message of `queue`.
fn in_flash_queue(name: &str, queue: &str) -> bool {
    name.strip_prefix(FLASH_PREFIX)
        .and_then(|rest| rest.strip_prefix(queue))
        .and_then(|rest| rest.strip_prefix(FLASH_SEPARATOR))
        .is_some_and(|suffix| suffix.len() == FLASH_SUFFIX && suffix.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Session {
    /// A new session of a store: nothing stored yet.
    pub(crate) fn fresh(name: &Arc<str>, context: StoreContext) -> Session {
        let mut fields = Fields::new();
        fields.insert(META_FIELD, context.fresh.encode());
        Session::with_state(name, State::new(context, fields, context.fresh))
    }

    /// A session a store read back for this request.
    pub(crate) fn loaded(name: &Arc<str>, context: StoreContext, opened: Loaded) -> Session {
        let mut state = State::new(context, opened.fields, opened.meta);
        state.loaded = true;
        state.id = opened.id;
        state.reissue = opened.reissue;
        state.touch_due = opened.touch_due;
        state.revision = opened.revision;
        if opened.renew {
            state.status = Status::Cycle;
        }
        Session::with_state(name, state)
    }

    fn with_state(name: &Arc<str>, state: State) -> Session {
        Session { name: Arc::clone(name), state: Arc::new(Mutex::new(state)) }
    }

    /// A session that belongs to no store, for unit tests of code that takes
    /// a `Session`. Saving it is up to the caller.
    pub fn new_detached() -> Session {
        let now = crate::clock::system().now();
        let fresh = Meta { created: now, max_age: None };
        Session::fresh(
            &Arc::from("session"),
            StoreContext { fresh, remember_for: crate::lifetime::DEFAULT_REMEMBER_FOR.as_secs(), now },
        )
    }

    fn lock(&self) -> MutexGuard<'_, State> {
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
    /// `Ok(None)` when the key is absent. [`Error::Value`] when the value
    /// was stored as a type of another serde shape, or the stored bytes
    /// are not exactly one encoding of a `T` (the value is kept, nothing is
    /// lost): a value read as another type is an error, never another
    /// value.
    ///
    /// ```
    /// let session = sessions_core::Session::new_detached();
    /// session.insert("user_id", &42u64)?;
    /// assert!(session.get::<i64>("user_id").is_err());
    /// assert_eq!(session.get::<u64>("user_id")?, Some(42));
    /// # Ok::<(), sessions_core::Error>(())
    /// ```
    ///
    /// Every value stores the fingerprint of the serde calls its
    /// `Serialize` made, and a read compares it with the calls `T`'s
    /// `Deserialize` makes: integers of another width or sign, floats,
    /// strings and bytes, options, sequences, maps, tuples, and structs and
    /// enums of another name, field names or variant all differ. Types of
    /// the same serde shape read each other (`Vec<T>` and `VecDeque<T>`),
    /// and a `None` or an empty collection reads as one of any element
    /// type. Renaming a struct, enum, variant or field changes the shape
    /// (`#[serde(rename)]` keeps the old one). Every value
    /// [`Session::insert`] accepts reads back equal as its own type, at any
    /// size, except types whose `Deserialize` needs a self-describing
    /// format (`#[serde(untagged)]` or internally tagged enums,
    /// `#[serde(flatten)]`, `serde_json::Value`), whose `Serialize` skips
    /// fields, or that have `#[serde(alias)]` fields.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let state = self.lock();
        match with_value_field(key, |name| state.fields.get(name)) {
            None => Ok(None),
            Some(bytes) => serial::value_from_bytes(bytes).map(Some).map_err(|source| Error::Value {
                key: key.into(),
                action: "decoded",
                source,
            }),
        }
    }

    /// Reads the value stored under `key` and removes it, in one step.
    ///
    /// If the value does not decode as `T`, it is kept and the error
    /// returned.
    ///
    /// ```
    /// let session = sessions_core::Session::new_detached();
    /// session.insert("return_to", "/cart")?;
    /// assert_eq!(session.take::<String>("return_to")?.as_deref(), Some("/cart"));
    /// assert_eq!(session.take::<String>("return_to")?, None);
    /// # Ok::<(), sessions_core::Error>(())
    /// ```
    pub fn take<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let mut state = self.lock();
        with_value_field(key, |field| {
            let Some(bytes) = state.fields.get(field) else {
                return Ok(None);
            };
            let value = serial::value_from_bytes(bytes).map_err(|source| Error::Value {
                key: key.into(),
                action: "decoded",
                source,
            })?;
            state.set_field(field, None);
            Ok(Some(value))
        })
    }

    /// Stores `value` under `key`, replacing any previous value.
    ///
    /// After [`Session::destroy`] in the same request, the first write
    /// starts a fresh session that carries it.
    pub fn insert<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        serial::with_value_bytes(value, |bytes| {
            let mut state = self.lock();
            with_value_field(key, |field| {
                if state.fields.get(field) != Some(bytes) {
                    state.write_field(field, bytes);
                }
            });
        })
        .map_err(|source| Error::Value { key: key.into(), action: "encoded", source })
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&self, key: &str) -> bool {
        let mut state = self.lock();
        with_value_field(key, |field| state.fields.contains_key(field) && state.set_field(field, None))
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
            Some(user) => Some(serial::to_bytes(&(user, state.context.now)).map_err(|source| Error::Value {
                key: USER_FIELD.into(),
                action: "encoded",
                source,
            })?),
            None => None,
        };
        if value.is_some() || state.fields.contains_key(USER_FIELD) {
            state.set_field(USER_FIELD, value.as_deref());
        }
        Ok(())
    }

    /// The user id bound with [`Session::set_user`].
    pub fn user(&self) -> Option<String> {
        self.lock().user()
    }

    /// Removes every value, flash and user binding, keeping the session
    /// itself. A session left empty at the end of the request ends: its
    /// stored record is deleted and the browser told to drop the cookie.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.begin_write();
        state.fields.retain(|name, _| name == META_FIELD);
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
        let state = self.lock();
        with_value_field(key, |field| state.fields.contains_key(field))
    }

    /// True when the session holds no value, no flash and no user binding:
    /// such a session is not stored.
    pub fn is_empty(&self) -> bool {
        !self.lock().has_data()
    }

    /// True when the request brought no valid cookie for this session.
    pub fn is_new(&self) -> bool {
        !self.lock().loaded
    }

    /// Where a server store keeps this session: a non-secret handle (a
    /// hash of the id, never the id) that tells this device apart in
    /// [`ServerStore::user_sessions`](crate::ServerStore::user_sessions)
    /// and ends one device with
    /// [`ServerStore::destroy_user_session`](crate::ServerStore::destroy_user_session).
    /// `None` in a cookie store and before the session is first saved.
    pub fn storage_key(&self) -> Option<StorageKey> {
        self.lock().id.as_ref().map(|id| id.storage_key().clone())
    }

    /// Queues a flash message in the default queue.
    pub fn add_flash<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.add_flash_to(DEFAULT_FLASH_QUEUE, value)
    }

    /// Queues a flash message in the named queue.
    ///
    /// On a server store each message is a field of its own, so requests
    /// that queue messages at the same time keep each other's; a cookie
    /// store writes each queue as one field, a few bytes a message.
    pub fn add_flash_to<T: Serialize + ?Sized>(&self, queue: &str, value: &T) -> Result<()> {
        let item = serial::value_to_bytes(value).map_err(|source| Error::Value {
            key: queue.into(),
            action: "encoded",
            source,
        })?;
        self.lock().set_field(&flash_field(queue), Some(&item));
        Ok(())
    }

    /// Returns and removes the flash messages of the default queue.
    pub fn flashes<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        self.flashes_from(DEFAULT_FLASH_QUEUE)
    }

    /// Returns and removes the flash messages of the named queue, oldest
    /// first.
    ///
    /// Flashes are read once, whatever happens: if a message does not
    /// decode as `T`, the queue is still emptied and the error returned, so
    /// a bad message is reported once and cannot break every later page.
    pub fn flashes_from<T: DeserializeOwned>(&self, queue: &str) -> Result<Vec<T>> {
        let mut state = self.lock();
        let names: Vec<String> =
            state.fields.keys().filter(|name| in_flash_queue(name, queue)).map(str::to_owned).collect();
        let values = names
            .iter()
            .filter_map(|name| state.fields.get(name))
            .map(|bytes| serial::value_from_bytes(bytes))
            .collect::<Result<Vec<T>, _>>()
            .map_err(|source| Error::Value { key: queue.into(), action: "decoded", source });
        for name in names {
            state.set_field(&name, None);
        }
        values
    }

    /// Gives the session a new id at the next save, keeping its data.
    ///
    /// Call it when privileges change (a login) so an id planted before the
    /// login is worthless after it. The record under the old id is ended;
    /// a request still running under the old id cannot write to the new
    /// one. Values set before the call are kept: [`Session::clear`] first
    /// to drop them.
    pub fn cycle_id(&self) {
        let mut state = self.lock();
        if state.status == Status::Active {
            state.status = Status::Cycle;
        }
    }

    /// Ends the session: its stored record is deleted and the browser told
    /// to drop the cookie.
    ///
    /// Reads then see an empty session. A later write in the same request
    /// starts a fresh session (a new id, a new cookie) that carries it, so
    /// a logout handler can still leave a "logged out" flash.
    ///
    /// ```
    /// let session = sessions_core::Session::new_detached();
    /// session.set_user(Some("ada"))?;
    /// session.destroy();
    /// session.add_flash(&"You are logged out")?;
    /// assert_eq!(session.user(), None);
    /// assert!(session.is_destroyed());
    /// # Ok::<(), sessions_core::Error>(())
    /// ```
    pub fn destroy(&self) {
        let mut state = self.lock();
        state.status = Status::Destroyed;
        state.fields.retain(|k, _| k == META_FIELD);
        state.dirty.clear();
        state.cleared = false;
    }

    /// True after [`Session::destroy`] in this request, even if a write
    /// has since started a fresh session.
    pub fn is_destroyed(&self) -> bool {
        matches!(self.lock().status, Status::Destroyed | Status::Reset)
    }

    /// "Remember me": `true` makes the cookie persistent for the store's
    /// remember-me duration; `false` makes it a browser-session cookie.
    /// The authenticated expiry moves with it.
    pub fn remember(&self, on: bool) {
        let mut state = self.lock();
        let max_age = on.then_some(state.context.remember_for);
        let meta = Meta { max_age, ..state.meta };
        state.set_meta(meta);
    }

    /// Sets this session's cookie lifetime: `None` for a browser-session
    /// cookie, `Some(d)` for a persistent one. As in gorilla/sessions, a
    /// zero duration means a browser-session cookie, never "expire now":
    /// use [`Session::destroy`] to end a session.
    pub fn set_max_age(&self, max_age: Option<Duration>) {
        let mut state = self.lock();
        let max_age = max_age.map(|d| d.as_secs()).filter(|&secs| secs > 0);
        let meta = Meta { max_age, ..state.meta };
        state.set_meta(meta);
    }

    /// The cookie lifetime: `None` for a browser-session cookie.
    pub fn max_age(&self) -> Option<Duration> {
        self.lock().meta.max_age.map(Duration::from_secs)
    }

    /// Overrides the store's cookie attributes for this session only.
    /// The lifetime is set with [`Session::remember`] or
    /// [`Session::set_max_age`]; the `max_age` of `options` is ignored.
    ///
    /// The options are checked against the cookie name as the store's own
    /// are ([`CookieOptions::validate`]): a `__Host-` cookie keeps `Path=/`,
    /// no `Domain` and `Secure`, whatever a handler asks.
    ///
    /// ```
    /// use sessions_core::{CookieOptions, Session};
    ///
    /// let session = Session::new_detached();
    /// assert!(session.set_cookie_options(CookieOptions::new().path("/app")).is_ok());
    /// assert!(session.set_cookie_options(CookieOptions::new().path("/; Domain=evil")).is_err());
    /// ```
    pub fn set_cookie_options(&self, options: CookieOptions) -> Result<()> {
        options.validate(&self.name)?;
        let mut state = self.lock();
        state.options = Some(options);
        state.reissue = true;
        Ok(())
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
