//! Server-side sessions on Amazon DynamoDB, for the `sessions` library.
//!
//! [`DynamoDbBackend`] implements [`sessions_core::Backend`] on one table
//! with a string hash key: a session is one item holding its record, a
//! random revision and its expiry. A load reads the item (strongly
//! consistent) and returns the revision; the save of a loaded session is
//! one `PutItem` conditioned on that revision, so a changed session costs
//! one round trip and an unchanged one none. When another request wrote
//! the item in between, the save reads it again (DynamoDB hands the item
//! back with the refusal), applies its patch and writes under the new
//! revision, so two requests writing distinct values both keep theirs.
//!
//! DynamoDB removes an item only some time after its TTL attribute has
//! passed, often days later, so the backend checks expiry itself, against
//! its own clock, on every read and in the condition of every write: an
//! expired item never loads, is never updated or touched back to life, and
//! a new session may take its key.
//!
//! ```no_run
//! use std::sync::Arc;
//! use sessions_core::{Key, KeyRing, ServerStore, StoreConfig};
//! use sessions_dynamodb::DynamoDbBackend;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The table `sessions` in the account and region of the AWS
//! // configuration chain (environment, profile, instance role).
//! let backend = DynamoDbBackend::builder().table("sessions").build().await?;
//! backend.create_table_if_missing().await?;
//! let config = StoreConfig::new("id", KeyRing::from(Key::generate()));
//! let store = ServerStore::new(config, Arc::new(backend))?;
//! # let _ = store;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod builder;
mod error;
mod failure;
mod item;
mod table;

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use sessions_core::backend::record::Fields;
use sessions_core::backend::{Backend, BackendError, Patch, RecordLimit, Seen, StorageKey, Stored};
use sessions_core::clock::Clock;

pub use builder::DynamoDbBackendBuilder;
pub use error::Error;

use failure::{Failure, classify, plain};
use item::{Attributes, EXPIRES, Found, KEY, REVISION};

/// Read-modify-write saves of one session are queued in this process by
/// one of these locks, chosen by the storage key's first byte.
const STRIPES: usize = 256;
/// A patch that lost this many conditional writes in a row gives up as
/// unavailable rather than spin: only a storm of writers to one session,
/// from many processes, gets there.
const MAX_WRITE_ATTEMPTS: u32 = 64;

/// A [`Backend`] on one DynamoDB table: an item per session, conditional
/// writes on a revision, expiry checked on every read.
///
/// Build it with [`DynamoDbBackend::builder`] (the AWS configuration
/// chain, an [`SdkConfig`](aws_config::SdkConfig) or a
/// [`Client`] of your own) or, for DynamoDB Local and other local
/// servers, [`DynamoDbBackend::connect_local`]. Make the table with
/// [`create_table_if_missing`](DynamoDbBackend::create_table_if_missing)
/// or by hand (see the README). The backend is cheap to clone; clones share
/// the client and its connections.
///
/// Bounds and failures:
/// - A record is at most [`max_record_bytes`](DynamoDbBackendBuilder::max_record_bytes)
///   of [`record::encoded_len`](sessions_core::backend::record::encoded_len),
///   and never more than fits DynamoDB's 400 KB item (399 KiB, the
///   default). A larger `create`, or an `update` whose result would be
///   larger, fails with [`BackendError::TooLarge`] and writes nothing. An
///   item that does not read as a record of this backend (another layout,
///   a missing attribute, over the limit) loads as absent, with a warning,
///   and is deleted.
/// - Every call is bounded by the request timeout, retries included.
///   Throttling, timeouts, connection failures and every other refusal are
///   [`BackendError::Unavailable`], whose source is an [`Error::Request`].
///
/// ```no_run
/// use std::time::Duration;
/// use sessions_dynamodb::DynamoDbBackend;
///
/// # async fn run() -> Result<(), sessions_dynamodb::Error> {
/// let backend = DynamoDbBackend::builder()
///     .table("myapp-sessions")
///     .region("eu-west-1")
///     .request_timeout(Duration::from_secs(2))
///     .build()
///     .await?;
/// # let _ = backend;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct DynamoDbBackend {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
    limit: RecordLimit,
    /// Conditional writes keep saves of one session correct between
    /// processes; within one, concurrent saves of a session would mostly
    /// lose their condition and read again. Queued here, each one takes at
    /// most two requests while only this process writes the session.
    locks: Vec<tokio::sync::Mutex<()>>,
    request_timeout: Duration,
}

impl fmt::Debug for DynamoDbBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoDbBackend")
            .field("table", &self.inner.table)
            .field("max_record_bytes", &self.inner.limit.max_bytes())
            .finish_non_exhaustive()
    }
}

/// What a conditional write asks of the item there.
#[derive(Debug, Clone, Copy)]
enum Condition {
    /// No item, or an expired one: a create.
    Free,
    /// A live item at this revision: a save.
    At(u64),
}

/// A conditional write that did not apply: the item as it was, when
/// DynamoDB returned it (`None` when there was none, or it returned none).
type Refused = Option<Attributes>;

impl DynamoDbBackend {
    /// A builder with the defaults.
    pub fn builder() -> DynamoDbBackendBuilder {
        DynamoDbBackendBuilder::default()
    }

    /// A backend on `table` of a local DynamoDB-compatible server at
    /// `endpoint` (`http://127.0.0.1:8000`), such as DynamoDB Local, with
    /// fixed dummy credentials and region `us-east-1`; nothing is read from
    /// the environment. Builds no connection yet.
    ///
    /// ```
    /// use sessions_dynamodb::DynamoDbBackend;
    ///
    /// let backend = DynamoDbBackend::connect_local("http://127.0.0.1:8000", "sessions")?;
    /// assert_eq!(backend.table(), "sessions");
    /// # Ok::<(), sessions_dynamodb::Error>(())
    /// ```
    pub fn connect_local(endpoint: &str, table: &str) -> Result<DynamoDbBackend, Error> {
        DynamoDbBackend::builder().table(table).endpoint_url(endpoint).dummy_credentials().build_local()
    }

    /// A backend from a URL: `dynamodb://host[:port]/table` is
    /// [`connect_local`](DynamoDbBackend::connect_local) to
    /// `http://host:port` (port 8000 by default, DynamoDB Local's), and
    /// `dynamodb:table` is the table in the account and region of the AWS
    /// configuration chain.
    ///
    /// ```no_run
    /// use sessions_dynamodb::DynamoDbBackend;
    ///
    /// # async fn run() -> Result<(), sessions_dynamodb::Error> {
    /// let local = DynamoDbBackend::connect("dynamodb://127.0.0.1:8000/sessions").await?;
    /// let aws = DynamoDbBackend::connect("dynamodb:myapp-sessions").await?;
    /// # let _ = (local, aws);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<DynamoDbBackend, Error> {
        DynamoDbBackend::builder().connect(url).await
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// The SDK client the backend sends its requests with.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The largest record stored, in bytes.
    pub fn max_record_bytes(&self) -> usize {
        self.inner.limit.max_bytes()
    }

    fn now(&self) -> u64 {
        self.inner.clock.now()
    }

    /// The queue of saves of `key` in this process. A wait is bounded by
    /// the request timeout, after which the save goes on without the lock
    /// (its condition still guards it).
    async fn queue(&self, key: &StorageKey) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        let lock = &self.inner.locks[usize::from(key.as_bytes()[0]) % STRIPES];
        tokio::time::timeout(self.inner.request_timeout, lock.lock()).await.ok()
    }

    /// `GetItem`, strongly consistent: what a write just acknowledged.
    async fn get(&self, key: &str) -> Result<Option<Attributes>, BackendError> {
        let output = self
            .inner
            .client
            .get_item()
            .table_name(&self.inner.table)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| plain("GetItem", e))?;
        Ok(output.item)
    }

    /// `PutItem` of `fields` under `condition`. On a refusal, the item as
    /// it was when `want_old` (to save the read that would follow).
    async fn put(
        &self,
        key: &str,
        fields: &Fields,
        expires: u64,
        condition: Condition,
        want_old: bool,
    ) -> Result<Result<(), Refused>, BackendError> {
        let size = sessions_core::backend::record::encoded_len(fields);
        let now = self.now();
        let request = self
            .inner
            .client
            .put_item()
            .table_name(&self.inner.table)
            .set_item(Some(item::item(key, fields, item::new_revision()?, expires)))
            .expression_attribute_names("#e", EXPIRES)
            .expression_attribute_values(":now", item::number(now));
        let request = match condition {
            Condition::Free => request
                .condition_expression("attribute_not_exists(#k) OR #e <= :now")
                .expression_attribute_names("#k", KEY),
            Condition::At(revision) => request
                .condition_expression("#r = :rev AND #e > :now")
                .expression_attribute_names("#r", REVISION)
                .expression_attribute_values(":rev", item::number(revision)),
        };
        let request = if want_old {
            request.return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        } else {
            request
        };
        match request.send().await {
            Ok(_) => Ok(Ok(())),
            Err(error) => {
                let old = match error.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(refusal)) => refusal.item.clone(),
                    _ => None,
                };
                match classify("PutItem", error, Some((size, self.inner.limit.max_bytes()))) {
                    Failure::Condition => Ok(Err(old)),
                    Failure::Backend(error) => Err(error),
                }
            }
        }
    }

    /// Deletes an item that does not read as a record, only if it is still
    /// the item that was read.
    async fn discard(&self, key: &str, revision: Option<u64>, error: &BackendError) -> Result<(), BackendError> {
        tracing::warn!(%error, "unreadable session item deleted; its session starts afresh");
        let request = self
            .inner
            .client
            .delete_item()
            .table_name(&self.inner.table)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .expression_attribute_names("#r", REVISION);
        let request = match revision {
            Some(revision) => {
                request.condition_expression("#r = :rev").expression_attribute_values(":rev", item::number(revision))
            }
            None => request.condition_expression("attribute_not_exists(#r)"),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(error) => match classify("DeleteItem", error, None) {
                Failure::Condition => Ok(()),
                Failure::Backend(error) => Err(error),
            },
        }
    }

    /// `update` of the item under `key`, once queued: reads the item (or
    /// starts from `known`, the item a refused write handed back), applies
    /// `patch` to the record as it is now and writes it back only if its
    /// revision is unchanged, else goes again. `Ok(false)` if there is no
    /// live item.
    async fn read_patch_write(
        &self,
        key: &str,
        patch: &Patch,
        ttl: Duration,
        mut known: Option<Attributes>,
    ) -> Result<bool, BackendError> {
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            let attributes = match known.take() {
                Some(attributes) => Some(attributes),
                None => self.get(key).await?,
            };
            let now = self.now();
            match item::read(attributes.as_ref(), now, self.inner.limit) {
                Found::Absent | Found::Expired => return Ok(false),
                Found::Unreadable { revision, error } => {
                    self.discard(key, revision, &error).await?;
                    return Ok(false);
                }
                Found::Live { mut fields, revision, .. } => {
                    patch.apply(&mut fields);
                    self.inner.limit.check(&fields)?;
                    let expires = item::expiry(now, ttl);
                    match self.put(key, &fields, expires, Condition::At(revision), true).await? {
                        Ok(()) => return Ok(true),
                        Err(old) => known = old,
                    }
                }
            }
            back_off(attempt).await;
        }
        Err(BackendError::unavailable(format!(
            "DynamoDB: a save lost {MAX_WRITE_ATTEMPTS} conditional writes in a row to other writers of the session"
        )))
    }
}

/// Waits a little after a lost conditional write, longer after each, with
/// jitter, so concurrent saves of one session take turns.
async fn back_off(attempt: u32) {
    if attempt < 2 {
        tokio::task::yield_now().await;
        return;
    }
    let ceiling = 500u64 << attempt.min(6);
    let jitter = std::collections::hash_map::RandomState::new().hash_one(attempt) % ceiling;
    tokio::time::sleep(Duration::from_micros(jitter)).await;
}

#[async_trait]
impl Backend for DynamoDbBackend {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let key = key.as_str();
        let attributes = self.get(&key).await?;
        let now = self.now();
        match item::read(attributes.as_ref(), now, self.inner.limit) {
            Found::Live { fields, revision, expires } => {
                Ok(Some(Stored::new(fields, Some(item::ttl_left(expires, now))).at_revision(revision)))
            }
            Found::Absent | Found::Expired => Ok(None),
            Found::Unreadable { revision, error } => {
                self.discard(&key, revision, &error).await?;
                Ok(None)
            }
        }
    }

    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        self.inner.limit.check(fields)?;
        let expires = item::expiry(self.now(), ttl);
        Ok(self.put(&key.as_str(), fields, expires, Condition::Free, false).await?.is_ok())
    }

    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        // The record after the patch holds every field it sets.
        self.inner.limit.check(&patch.set)?;
        let _queued = self.queue(key).await;
        self.read_patch_write(&key.as_str(), patch, ttl, None).await
    }

    /// The save of a record this request loaded: one `PutItem` of the
    /// loaded record with its patch, conditioned on the loaded revision,
    /// which lands when no one wrote the item since. Otherwise (written
    /// since, or gone, or expired), or when the loaded record with the
    /// patch is over the limit (the item as it is now may not be), the
    /// patch goes the way of `update`, starting from the item the refusal
    /// handed back, and gives the answer `update` would.
    async fn update_seen(
        &self,
        key: &StorageKey,
        seen: Seen<'_>,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        self.inner.limit.check(&patch.set)?;
        let _queued = self.queue(key).await;
        let key = key.as_str();
        let mut known = None;
        if self.inner.limit.check(seen.fields).is_ok() {
            let expires = item::expiry(self.now(), ttl);
            match self.put(&key, seen.fields, expires, Condition::At(seen.revision), true).await? {
                Ok(()) => return Ok(true),
                // No item handed back: gone, or a server that does not
                // return it; the read tells.
                Err(old) => known = old,
            }
        }
        self.read_patch_write(&key, patch, ttl, known).await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        self.inner
            .client
            .delete_item()
            .table_name(&self.inner.table)
            .key(KEY, AttributeValue::S(key.as_str()))
            .send()
            .await
            .map_err(|e| plain("DeleteItem", e))?;
        Ok(())
    }

    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        let now = self.now();
        let result = self
            .inner
            .client
            .update_item()
            .table_name(&self.inner.table)
            .key(KEY, AttributeValue::S(key.as_str()))
            .update_expression("SET #e = :exp")
            .condition_expression("attribute_exists(#k) AND #e > :now")
            .expression_attribute_names("#k", KEY)
            .expression_attribute_names("#e", EXPIRES)
            .expression_attribute_values(":exp", item::number(item::expiry(now, ttl)))
            .expression_attribute_values(":now", item::number(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => match classify("UpdateItem", error, None) {
                Failure::Condition => Ok(false),
                Failure::Backend(error) => Err(error),
            },
        }
    }

    /// One `DeleteItem` that returns the item it deleted: atomic, so an
    /// update either is in what this returns or finds the item gone.
    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let output = self
            .inner
            .client
            .delete_item()
            .table_name(&self.inner.table)
            .key(KEY, AttributeValue::S(key.as_str()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| plain("DeleteItem", e))?;
        let now = self.now();
        match item::read(output.attributes.as_ref(), now, self.inner.limit) {
            Found::Live { fields, expires, .. } => Ok(Some(Stored::new(fields, Some(item::ttl_left(expires, now))))),
            Found::Absent | Found::Expired => Ok(None),
            Found::Unreadable { error, .. } => {
                tracing::warn!(%error, "unreadable session item deleted; its session starts afresh");
                Ok(None)
            }
        }
    }
}

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
