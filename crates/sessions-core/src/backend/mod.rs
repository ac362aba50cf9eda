//! Server-side storage of session records: the [`Backend`] trait and the
//! built-in backends.
//!
//! A backend is a key/value store of [`Fields`] with a time to live. It is
//! deliberately small and free of session logic (ids, cookies, timeouts),
//! so a backend written outside this repository keeps working across
//! releases of this crate. Run the conformance kit (module `testing`,
//! feature `testing`) against it.

use std::any::Any;
use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

pub use crate::error::BackendError;
pub use crate::id::StorageKey;
pub use record::{Fields, Patch};

mod breaker;
mod fields;
#[cfg(feature = "filesystem")]
mod filesystem;
mod limit;
#[cfg(feature = "memory")]
mod memory;
pub mod record;
mod sweep;

pub use breaker::{Breaker, BreakerConfig, BreakerOpen, BreakerState};
#[cfg(feature = "filesystem")]
pub use filesystem::{FilesystemBackend, FilesystemBackendBuilder};
pub use limit::RecordLimit;
#[cfg(feature = "memory")]
pub use memory::{MemoryBackend, MemoryBackendBuilder};
pub use sweep::{MIN_SWEEP_INTERVAL, Sweep, Sweeper};

/// A record as loaded from a backend. Made with [`Stored::new`] (and
/// [`Stored::at_revision`] for a backend that versions its records), so
/// that fields can be added without breaking backends written elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stored {
    /// The session's fields.
    pub fields: Fields,
    /// Time left before the record expires, when the backend knows it.
    /// Lets the store skip refreshing an idle timeout that is still fresh.
    pub ttl: Option<Duration>,
    /// The record's version, for a backend that keeps one: handed back in
    /// [`Seen`] so that a save can write the whole record in one step when
    /// nothing changed it since this load ([`Backend::update_seen`]).
    pub revision: Option<u64>,
}

impl Stored {
    /// A record with no version.
    pub fn new(fields: Fields, ttl: Option<Duration>) -> Stored {
        Stored { fields, ttl, revision: None }
    }

    /// The same record, loaded at `revision`.
    pub fn at_revision(self, revision: u64) -> Stored {
        Stored { revision: Some(revision), ..self }
    }
}

/// A record as this request loaded it at [`Stored::revision`], with the
/// request's [`Patch`] already applied: what storage should hold after the
/// save if no other request wrote the record meanwhile.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// The revision the record was loaded at.
    pub revision: u64,
    /// The loaded fields with the patch applied.
    pub fields: &'a Fields,
}

/// How a backend that evicts records to stay within a bound should treat
/// one: a hint the store gives with each write that decides it
/// ([`Backend::create_retained`], [`Backend::update_retained`]). Backends
/// that never evict ignore it.
///
/// ```
/// use sessions_core::backend::Retention;
///
/// assert_eq!(Retention::default(), Retention::Evictable);
/// assert!(Retention::Keep.is_kept() && Retention::Index.is_kept());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Retention {
    /// May be evicted when the backend is full (an anonymous session):
    /// losing it costs its visitor a fresh session.
    #[default]
    Evictable,
    /// Never evicted; it leaves when deleted or expired (a session bound
    /// to a user: evicting it would log someone out).
    Keep,
    /// A record whose field names are the storage keys of other records
    /// (the index of a user's sessions): kept like [`Keep`](Self::Keep)
    /// while any record it names lives, evictable once none does.
    Index,
}

impl Retention {
    /// Whether a record with this hint must not be evicted while it is
    /// needed ([`Keep`](Self::Keep) and [`Index`](Self::Index)).
    pub fn is_kept(self) -> bool {
        !matches!(self, Retention::Evictable)
    }
}

/// Server-side storage of session records, keyed by [`StorageKey`].
///
/// Invariants every implementation keeps (the conformance kit in module
/// `testing`, feature `testing`, checks each one):
/// - `create` never overwrites: it returns `Ok(false)` if the key exists.
/// - `update` and `touch` never create: they return `Ok(false)` if the key
///   does not exist (deleted or expired), so a request still running when
///   its session was deleted cannot bring it back.
/// - `update` is atomic per key and applies only the patch: two concurrent
///   updates of distinct fields both survive.
/// - `take` is atomic per key, like `update`.
/// - A record is never returned after its TTL has passed.
/// - Records are bounded by size, the length of their serialized form
///   ([`record::encoded_len`](record::encoded_len)), against a
///   configurable limit ([`RecordLimit`] checks it;
///   [`DEFAULT_MAX_RECORD_BYTES`](record::DEFAULT_MAX_RECORD_BYTES)
///   by default): a `create` over it, or an `update` whose result would be
///   over it, fails with [`BackendError::TooLarge`] and leaves storage as it
///   was, and a stored record over it is never returned.
/// - A record `create` acknowledged is not dropped silently: it loads until
///   it is deleted, expires, or is evicted by the policy the backend
///   documents. A bounded backend that must not evict refuses with
///   [`BackendError::Full`].
/// - Every failure to reach the storage is [`BackendError::Unavailable`].
///
/// ```
/// use std::sync::Arc;
/// use sessions_core::backend::{Backend, MemoryBackend};
///
/// let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
/// # let _ = backend;
/// ```
#[async_trait]
pub trait Backend: Any + Send + Sync + Debug + 'static {
    /// The record stored under `key`, or `None` if absent or expired.
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError>;

    /// Stores a new record; `Ok(false)` (and nothing written) if `key` exists.
    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError>;

    /// Applies `patch` to the existing record and sets its TTL; `Ok(false)`
    /// (and nothing written) if there is no record.
    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError>;

    /// [`update`](Backend::update) of a record this request loaded at
    /// `seen.revision`. A backend that versions its records writes
    /// `seen.fields` whole, in one round trip, when the record is still at
    /// that revision, and otherwise applies `patch` as `update` does; the
    /// outcome must be the same as `update`'s. The provided implementation
    /// is `update`.
    async fn update_seen(
        &self,
        key: &StorageKey,
        seen: Seen<'_>,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        let _ = seen;
        self.update(key, patch, ttl).await
    }

    /// [`create`](Backend::create), telling the backend how to treat the
    /// record should it have to evict ([`Retention`]); a plain `create`
    /// writes an [`Evictable`](Retention::Evictable) record. The provided
    /// implementation ignores the hint and calls `create`: only a backend
    /// that evicts needs to override it.
    async fn create_retained(
        &self,
        key: &StorageKey,
        fields: &Fields,
        ttl: Duration,
        retention: Retention,
    ) -> Result<bool, BackendError> {
        let _ = retention;
        self.create(key, fields, ttl).await
    }

    /// [`update_seen`](Backend::update_seen) when `seen` is given,
    /// [`update`](Backend::update) otherwise, and the record's
    /// [`Retention`] becomes `retention`; a plain update leaves the
    /// record's retention as it was. The provided implementation ignores
    /// the hint: only a backend that evicts needs to override it.
    async fn update_retained(
        &self,
        key: &StorageKey,
        seen: Option<Seen<'_>>,
        patch: &Patch,
        ttl: Duration,
        retention: Retention,
    ) -> Result<bool, BackendError> {
        let _ = retention;
        match seen {
            Some(seen) => self.update_seen(key, seen, patch, ttl).await,
            None => self.update(key, patch, ttl).await,
        }
    }

    /// Deletes the record; deleting an absent record is not an error.
    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError>;

    /// Sets the TTL of an existing record; `Ok(false)` if there is none.
    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError>;

    /// Deletes the record and returns it as it was, in one step: an
    /// `update` either lands before the `take` (and is in what it returns)
    /// or after it (and returns `Ok(false)`). Cycling a session's id moves
    /// its record with `take`, so no write of a concurrent request is lost
    /// in the move.
    ///
    /// The provided implementation is a `load` followed by a `delete`: an
    /// update landing between the two is lost. Backends override it with an
    /// atomic operation (the conformance kit checks it).
    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let stored = self.load(key).await?;
        if stored.is_some() {
            self.delete(key).await?;
        }
        Ok(stored)
    }
}
