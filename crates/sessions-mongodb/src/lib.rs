//! Server-side sessions on MongoDB, for the `sessions` library.
//!
//! [`MongoDbBackend`] implements [`Backend`] with one
//! document per session: the storage key is its `_id`, the record one
//! binary value beside a revision and an expiry date. A TTL index on the
//! expiry lets MongoDB remove ended sessions, and every read checks the
//! expiry itself, so a session never outlives its TTL while it waits for
//! the TTL monitor. A load returns the revision, and the save of a loaded
//! session writes the record with its changes in one `update` filtered on
//! that revision; when another request wrote the session in between, the
//! save reads it again, applies its patch and writes under the new
//! revision. A create is an upsert that may replace an expired document
//! but never a live one.
//!
//! ```no_run
//! use std::sync::Arc;
//! use sessions_core::{Key, KeyRing, ServerStore, StoreConfig};
//! use sessions_mongodb::MongoDbBackend;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = MongoDbBackend::connect("mongodb://127.0.0.1:27017/app").await?;
//! backend.create_indexes_if_missing().await?;
//! let config = StoreConfig::new("id", KeyRing::from(Key::generate()));
//! let store = ServerStore::new(config, Arc::new(backend))?;
//! # let _ = store;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod builder;
mod document;
mod error;

use std::fmt;
use std::future::IntoFuture;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use sessions_core::backend::record::Fields;
use sessions_core::backend::{Backend, BackendError, Patch, RecordLimit, Seen, StorageKey, Stored};
use sessions_core::clock::Clock;

pub use builder::MongoDbBackendBuilder;
pub use error::Error;

use document::{EXPIRES, Found, ID, REVISION};
use error::{is_duplicate_key, is_too_large, map_error};

/// The largest record a backend stores whatever it is configured with:
/// MongoDB's 16 MiB document, less room for the document's other fields.
pub const MAX_RECORD_BYTES: usize = (16 << 20) - 4096;

/// The name of the TTL index on the expiry that
/// [`MongoDbBackend::create_indexes_if_missing`] makes.
pub const TTL_INDEX: &str = "exp_ttl";

/// Read-modify-write saves of one session are queued in this process by
/// one of these locks, chosen by the storage key's first byte.
const STRIPES: usize = 256;

/// The latest expiry written, 9999-12-31T23:59:59Z: a longer TTL is
/// clamped to it (a date any tool prints).
const LATEST_EXPIRY_MS: i64 = 253_402_300_799_000;

/// A [`Backend`] on a MongoDB collection: one document per session,
/// revision-checked saves, expiry by a TTL index and on every read.
///
/// Build it with [`MongoDbBackend::connect`], configure it with
/// [`MongoDbBackend::builder`], or build it on a
/// [`mongodb::Database`] the application already has
/// ([`MongoDbBackendBuilder::build`]). Then make its TTL index once with
/// [`create_indexes_if_missing`](Self::create_indexes_if_missing). It is
/// cheap to clone; clones share the client's connections.
///
/// Round trips: a load is one `find`; the save of a changed session is one
/// `update` when no other request wrote it since the load (two more, a
/// `find` and an `update`, when one did); a session the request only read
/// is not written. `touch` is one `update`, `create` one upserting
/// `update`, `take` a `find` and a `findAndModify` (see its note).
///
/// Bounds:
/// - Every call is bounded by the request timeout: a server that is down
///   or does not answer is [`BackendError::Unavailable`], never a hang.
/// - Records: at most
///   [`max_record_bytes`](MongoDbBackendBuilder::max_record_bytes) of
///   [`record::encoded_len`](sessions_core::backend::record::encoded_len)
///   (default 1 MiB, never more than [`MAX_RECORD_BYTES`]). A larger
///   `create`, or an `update` whose result would be larger, fails with
///   [`BackendError::TooLarge`] and writes nothing. A document over the
///   limit (written under a higher one), or one this backend cannot read,
///   is removed when read, with a warning, and its session starts afresh.
/// - A server out of disk or over its quota refuses writes:
///   [`BackendError::Full`], while reads and deletes go on.
///
/// ```no_run
/// use std::time::Duration;
/// use sessions_mongodb::MongoDbBackend;
///
/// # async fn run() -> Result<(), sessions_mongodb::Error> {
/// let backend = MongoDbBackend::builder()
///     .collection("sessions")
///     .request_timeout(Duration::from_secs(1))
///     .connect("mongodb+srv://app:secret@cluster0.example.net/app")
///     .await?;
/// backend.create_indexes_if_missing().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MongoDbBackend {
    inner: Arc<Inner>,
}

struct Inner {
    database: Database,
    collection: Collection<Document>,
    clock: Arc<dyn Clock>,
    limit: RecordLimit,
    request_timeout: Duration,
    /// A revision check keeps saves of one session correct between
    /// processes; within one, concurrent saves of a session would mostly
    /// lose it and read again. Queued here, a save takes at most three
    /// round trips while only this process writes the session. A wait is
    /// bounded by the request timeout, after which the save goes on
    /// without the lock (the revision check still guards it).
    locks: Vec<tokio::sync::Mutex<()>>,
}

impl fmt::Debug for MongoDbBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoDbBackend")
            .field("database", &self.inner.database.name())
            .field("collection", &self.inner.collection.name())
            .field("max_record_bytes", &self.inner.limit.max_bytes())
            .finish_non_exhaustive()
    }
}

impl MongoDbBackend {
    /// Configures a backend (collection, timeout, record limit, clock).
    pub fn builder() -> MongoDbBackendBuilder {
        MongoDbBackendBuilder::default()
    }

    /// Connects with the default settings to the database a connection
    /// string names, e.g.
    /// `MongoDbBackend::connect("mongodb://127.0.0.1:27017/app").await`;
    /// see [`MongoDbBackendBuilder::connect`].
    pub async fn connect(url: &str) -> Result<MongoDbBackend, Error> {
        Self::builder().connect(url).await
    }

    /// The collection holding the sessions.
    pub fn collection(&self) -> &Collection<Document> {
        &self.inner.collection
    }

    /// Makes the collection's indexes if they are missing: the TTL index
    /// [`TTL_INDEX`] on the expiry (`expireAfterSeconds: 0`), by which
    /// MongoDB removes ended sessions. Idempotent: run it at every start.
    /// It fails if an index of that name exists with other options.
    ///
    /// Without it, nothing removes ended sessions (reads still never
    /// return one).
    pub async fn create_indexes_if_missing(&self) -> Result<(), Error> {
        let ttl = IndexModel::builder()
            .keys(doc! { EXPIRES: 1 })
            .options(IndexOptions::builder().name(TTL_INDEX.to_owned()).expire_after(Duration::ZERO).build())
            .build();
        self.call(self.inner.collection.create_index(ttl)).await.map_err(Error::Indexes)?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), BackendError> {
        self.call(self.inner.database.run_command(doc! { "ping": 1 })).await.map(drop)
    }

    /// The backend's time in Unix milliseconds (whole seconds).
    fn now_ms(&self) -> i64 {
        i64::try_from(self.inner.clock.now().saturating_mul(1000)).unwrap_or(LATEST_EXPIRY_MS).min(LATEST_EXPIRY_MS)
    }

    /// `op`, bounded by the request timeout.
    async fn bounded<T>(
        &self,
        op: impl IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> Result<mongodb::error::Result<T>, BackendError> {
        let timeout = self.inner.request_timeout;
        tokio::time::timeout(timeout, op).await.map_err(|_| {
            BackendError::unavailable(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("MongoDB did not answer within {timeout:?}"),
            ))
        })
    }

    /// `op`, bounded by the request timeout, its error mapped.
    async fn call<T>(&self, op: impl IntoFuture<Output = mongodb::error::Result<T>>) -> Result<T, BackendError> {
        self.bounded(op).await?.map_err(map_error)
    }

    /// Reads the document under `id` and judges it at `now_ms`.
    async fn find(&self, id: &str, now_ms: i64) -> Result<Found, BackendError> {
        let document = self.call(self.inner.collection.find_one(doc! { ID: id })).await?;
        Ok(document::read(document, now_ms, self.inner.limit))
    }

    /// Removes a document that is not a session, if no one rewrote it
    /// since it was read, so it cannot fail every request naming it; the
    /// key is then absent.
    async fn discard(&self, id: &str, revision: Option<Bson>, error: &BackendError) -> Result<(), BackendError> {
        tracing::warn!(%error, "unreadable session document removed; its session starts afresh");
        let revision = revision.unwrap_or_else(|| Bson::Document(doc! { "$exists": false }));
        self.call(self.inner.collection.delete_one(doc! { ID: id, REVISION: revision })).await.map(drop)
    }

    /// Writes `fields` over the live document under `id` if it is still at
    /// `revision`; `Ok(false)` if it is not (written since, gone or
    /// expired).
    async fn write_at(
        &self,
        id: &str,
        revision: i64,
        now_ms: i64,
        ttl: Duration,
        fields: &Fields,
    ) -> Result<bool, BackendError> {
        let filter = doc! { ID: id, REVISION: revision, EXPIRES: { "$gt": DateTime::from_millis(now_ms) } };
        let update = document::save(revision, expiry_ms(now_ms, ttl), fields);
        match self.bounded(self.inner.collection.update_one(filter, update)).await? {
            Ok(result) => Ok(result.matched_count == 1),
            Err(err) => Err(self.refused(err, fields)),
        }
    }

    /// What a refused write of `fields` means: over the server's document
    /// size (a limit the backend's own check should have caught), or
    /// whatever [`map_error`] says.
    fn refused(&self, err: mongodb::error::Error, fields: &Fields) -> BackendError {
        if is_too_large(&err) {
            let size = sessions_core::backend::record::encoded_len(fields);
            tracing::warn!(
                size,
                limit = self.inner.limit.max_bytes(),
                "MongoDB refused a session document as too large"
            );
            return BackendError::TooLarge { size, limit: size.saturating_sub(1).min(self.inner.limit.max_bytes()) };
        }
        map_error(err)
    }

    /// `update`, once queued: reads the document, applies `patch` to the
    /// record as it is now, and writes it back only if it is still at the
    /// revision read, else reads again. `Ok(false)` if there is no live
    /// session.
    async fn read_patch_write(&self, id: &str, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        let mut attempt = 0;
        loop {
            let now = self.now_ms();
            let (revision, mut fields) = match self.find(id, now).await? {
                Found::Live { revision, fields, .. } => (revision, fields),
                Found::Absent | Found::Expired => return Ok(false),
                Found::Unreadable { revision, error } => {
                    self.discard(id, revision, &error).await?;
                    return Ok(false);
                }
            };
            patch.apply(&mut fields);
            self.inner.limit.check(&fields)?;
            if self.write_at(id, revision, now, ttl, &fields).await? {
                return Ok(true);
            }
            back_off(attempt).await;
            attempt += 1;
        }
    }

    /// Queues behind other saves of `key` in this process, for at most the
    /// request timeout; `None` when the wait ran out.
    async fn queue(&self, key: &StorageKey) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        let lock = &self.inner.locks[usize::from(key.as_bytes()[0]) % STRIPES];
        tokio::time::timeout(self.inner.request_timeout, lock.lock()).await.ok()
    }
}

/// The expiry of a document written at `now_ms` with `ttl`: whole seconds,
/// rounded up so that a short TTL is not zero.
fn expiry_ms(now_ms: i64, ttl: Duration) -> i64 {
    let secs = ttl.as_secs().saturating_add(u64::from(ttl.subsec_nanos() > 0));
    let ms = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    now_ms.saturating_add(ms).min(LATEST_EXPIRY_MS)
}

/// A live record, with the time it has left.
fn stored(fields: Fields, expires_ms: i64, now_ms: i64) -> Stored {
    let left = u64::try_from(expires_ms.saturating_sub(now_ms)).unwrap_or(0);
    Stored::new(fields, Some(Duration::from_millis(left)))
}

/// Waits a little after a lost revision check, longer after each, with
/// jitter, so concurrent saves of one session take turns.
async fn back_off(attempt: u32) {
    if attempt < 2 {
        tokio::task::yield_now().await;
        return;
    }
    let ceiling = 200u64 << attempt.min(6);
    let jitter = std::collections::hash_map::RandomState::new().hash_one(attempt) % ceiling;
    tokio::time::sleep(Duration::from_micros(jitter)).await;
}

#[async_trait]
impl Backend for MongoDbBackend {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let (id, now) = (key.as_str(), self.now_ms());
        match self.find(&id, now).await? {
            // Revisions are positive.
            Found::Live { revision, expires_ms, fields } => {
                Ok(Some(stored(fields, expires_ms, now).at_revision(revision as u64)))
            }
            Found::Absent | Found::Expired => Ok(None),
            Found::Unreadable { revision, error } => {
                self.discard(&id, revision, &error).await?;
                Ok(None)
            }
        }
    }

    /// One upsert filtered on the key and on the document not being live
    /// (expired, or not a session): it replaces such a document, inserts
    /// when there is none, and when a live one exists the insert meets it
    /// on the `_id` index, a duplicate key, which is `Ok(false)`.
    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        self.inner.limit.check(fields)?;
        let (id, now) = (key.as_str(), self.now_ms());
        let filter = doc! { ID: &id, "$nor": [{ EXPIRES: { "$gt": DateTime::from_millis(now) } }] };
        let document = document::document(&id, document::first_revision(), expiry_ms(now, ttl), fields);
        match self.bounded(self.inner.collection.replace_one(filter, document).upsert(true)).await? {
            Ok(_) => Ok(true),
            Err(err) if is_duplicate_key(&err) => Ok(false),
            Err(err) => Err(self.refused(err, fields)),
        }
    }

    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        // The record after the patch holds every field it sets.
        self.inner.limit.check(&patch.set)?;
        let _queued = self.queue(key).await;
        self.read_patch_write(&key.as_str(), patch, ttl).await
    }

    /// The save of a record this request loaded: one `update` of the
    /// loaded record with its patch, filtered on the loaded revision, which
    /// lands when no one wrote the session since. Otherwise, or when the
    /// loaded record with the patch is over the limit (the session as it
    /// is now may not be), the patch goes the way of `update`, which gives
    /// the same answer `update` would.
    async fn update_seen(
        &self,
        key: &StorageKey,
        seen: Seen<'_>,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        self.inner.limit.check(&patch.set)?;
        let _queued = self.queue(key).await;
        let id = key.as_str();
        if let Ok(revision) = i64::try_from(seen.revision)
            && self.inner.limit.check(seen.fields).is_ok()
            && self.write_at(&id, revision, self.now_ms(), ttl, seen.fields).await?
        {
            return Ok(true);
        }
        self.read_patch_write(&id, patch, ttl).await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        self.call(self.inner.collection.delete_one(doc! { ID: key.as_str() })).await.map(drop)
    }

    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        let now = self.now_ms();
        let filter = doc! { ID: key.as_str(), EXPIRES: { "$gt": DateTime::from_millis(now) } };
        let update = doc! { "$set": { EXPIRES: DateTime::from_millis(expiry_ms(now, ttl)) } };
        Ok(self.call(self.inner.collection.update_one(filter, update)).await?.matched_count == 1)
    }

    /// A `find`, then a `findAndModify` that removes the document only if
    /// it is still at the revision read, else reads again. One
    /// `findAndModify` on the key alone would do on MongoDB, where it is
    /// atomic; secantusdb, the server the tests run on, reads the document
    /// and then deletes by key, and returns what it read, so an update
    /// landing in between would be acknowledged and lost. Filtered on the
    /// revision, the delete misses such an update's document and the loop
    /// reads it again, on either server. An expired or unreadable document
    /// is absent (and left to the TTL index, or removed).
    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let id = key.as_str();
        let mut attempt = 0;
        loop {
            let now = self.now_ms();
            let revision = match self.find(&id, now).await? {
                Found::Live { revision, .. } => revision,
                Found::Absent | Found::Expired => return Ok(None),
                Found::Unreadable { revision, error } => {
                    self.discard(&id, revision, &error).await?;
                    return Ok(None);
                }
            };
            let filter = doc! { ID: &id, REVISION: revision };
            let taken = self.call(self.inner.collection.find_one_and_delete(filter)).await?;
            match document::read(taken, now, self.inner.limit) {
                Found::Live { expires_ms, fields, .. } => return Ok(Some(stored(fields, expires_ms, now))),
                // Written since the read: read again.
                Found::Absent => {}
                // Expired meanwhile, or rewritten by something else: gone.
                Found::Expired => return Ok(None),
                Found::Unreadable { error, .. } => {
                    tracing::warn!(%error, "unreadable session document removed; its session starts afresh");
                    return Ok(None);
                }
            }
            back_off(attempt).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_are_whole_seconds_rounded_up_and_clamped() {
        let now = 1_800_000_000_000;
        assert_eq!(expiry_ms(now, Duration::from_millis(1)), now + 1000);
        assert_eq!(expiry_ms(now, Duration::from_millis(1500)), now + 2000);
        assert_eq!(expiry_ms(now, Duration::from_secs(600)), now + 600_000);
        assert_eq!(expiry_ms(now, Duration::MAX), LATEST_EXPIRY_MS);
    }

    #[test]
    fn a_stored_record_reports_the_time_it_has_left() {
        let stored = stored(Fields::new(), 1_000_600_000, 1_000_000_000);
        assert_eq!(stored.ttl, Some(Duration::from_secs(600)));
    }
}

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
