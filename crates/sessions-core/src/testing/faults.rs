//! Failure injection: a backend wrapper that fails the calls a test picks.
//!
//! A session save is several backend calls (a cycle writes a forwarding
//! record, takes the old record, indexes and creates the new one; a logout
//! deletes and unindexes), and a real backend can fail any one of them: a
//! dropped connection, a full store, a call that never answers. The
//! defects that matter sit between two calls of one save, where a failure
//! leaves a state no single call would. [`FaultyBackend`] makes such a
//! failure happen on purpose, at a chosen call:
//!
//! - which call: the Nth call from now ([`Fault::nth_call`]), the Nth call
//!   of one [`Call`] kind ([`Fault::nth_of`]), or every call of one kind
//!   ([`Fault::every`]);
//! - how it fails ([`Failure`]): refused before reaching storage
//!   (`Unavailable`, `Full`), carried out and then reported as failed
//!   (`LostReply`, a reply lost on the way back), or never answering
//!   (`Hang`, before or after reaching storage) until the caller gives up
//!   and drops the call, as a request timeout does.
//!
//! [`FaultyBackend::stalled`] resolves when a call hangs, so a test can
//! race the request against it and drop the request at once instead of
//! waiting out a real timeout.
//!
//! [`lifecycle_model_with_failures`](super::lifecycle_model_with_failures)
//! runs the lifecycle model through this wrapper with a failure injected at
//! a random call of a random save, and checks after each failure that the
//! store is still consistent and that a retry repairs it.
//!
//! ```
//! use std::sync::Arc;
//! use sessions_core::backend::{Backend, MemoryBackend};
//! use sessions_core::testing::{Call, Failure, Fault, FaultyBackend, random_key};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let backend = FaultyBackend::new(Arc::new(MemoryBackend::new()));
//! backend.inject(Fault::nth_of(Call::Delete, 1, Failure::Unavailable));
//! let key = random_key();
//! assert!(backend.delete(&key).await.is_err(), "the first delete fails");
//! assert!(backend.delete(&key).await.is_ok(), "the next one is served");
//! assert_eq!(backend.injected(), 1);
//! # });
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::backend::Fields;
use crate::backend::{Backend, Patch, Retention, Seen, StorageKey, Stored};
use crate::error::BackendError;
use crate::id::user_index_key;
use crate::session::layout::{self, Meta};

/// A kind of backend call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// [`Backend::load`].
    Load,
    /// [`Backend::create`].
    Create,
    /// [`Backend::update`].
    Update,
    /// [`Backend::update_seen`].
    UpdateSeen,
    /// [`Backend::delete`].
    Delete,
    /// [`Backend::touch`].
    Touch,
    /// [`Backend::take`].
    Take,
}

impl Call {
    /// Every kind, for tests that sweep them.
    pub const ALL: [Call; 7] =
        [Call::Load, Call::Create, Call::Update, Call::UpdateSeen, Call::Delete, Call::Touch, Call::Take];

    /// True for the kinds that change storage.
    pub fn writes(self) -> bool {
        !matches!(self, Call::Load)
    }
}

/// How an injected failure shows itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// Refused before reaching storage: [`BackendError::Unavailable`].
    Unavailable,
    /// Refused for lack of room: [`BackendError::Full`]; nothing written.
    Full,
    /// Carried out, then reported as [`BackendError::Unavailable`]: the
    /// reply was lost on the way back, so the caller cannot tell whether
    /// its write landed.
    LostReply,
    /// Never answers, and never reaches storage: the caller sees it only by
    /// giving up (a timeout) and dropping the call.
    Hang,
    /// Carried out, then never answers.
    HangAfterWrite,
}

impl Failure {
    /// Every way to fail, for tests that sweep them.
    pub const ALL: [Failure; 5] =
        [Failure::Unavailable, Failure::Full, Failure::LostReply, Failure::Hang, Failure::HangAfterWrite];

    /// True when the call reaches storage before it fails.
    pub fn applies(self) -> bool {
        matches!(self, Failure::LostReply | Failure::HangAfterWrite)
    }
}

/// Which calls fail, and how: see the constructors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// Only calls of this kind count; `None`: every call.
    pub kind: Option<Call>,
    /// Matching calls to let through first.
    pub skip: u64,
    /// Matching calls to fail after those; `None`: every one.
    pub times: Option<u64>,
    /// How they fail.
    pub failure: Failure,
}

impl Fault {
    /// The `n`th call from now (1: the next one), of any kind, fails once.
    pub fn nth_call(n: u64, failure: Failure) -> Fault {
        Fault { kind: None, skip: n.saturating_sub(1), times: Some(1), failure }
    }

    /// The `n`th call of `kind` from now (1: the next one) fails once.
    pub fn nth_of(kind: Call, n: u64, failure: Failure) -> Fault {
        Fault { kind: Some(kind), skip: n.saturating_sub(1), times: Some(1), failure }
    }

    /// Every call of `kind` fails until the fault is cleared.
    pub fn every(kind: Call, failure: Failure) -> Fault {
        Fault { kind: Some(kind), skip: 0, times: None, failure }
    }
}

/// An armed fault and how far it has got.
#[derive(Debug)]
struct Armed {
    fault: Fault,
    seen: u64,
    failed: u64,
}

impl Armed {
    /// Counts `call`; the failure to inject, if this call is one to fail.
    fn strike(&mut self, call: Call) -> Option<Failure> {
        if self.fault.kind.is_some_and(|kind| kind != call) {
            return None;
        }
        self.seen += 1;
        if self.seen <= self.fault.skip || self.fault.times.is_some_and(|times| self.failed >= times) {
            return None;
        }
        self.failed += 1;
        Some(self.fault.failure)
    }
}

/// Wraps a backend and fails the calls that armed [`Fault`]s pick; every
/// other call goes through unchanged (`take` as one call, so the wrapped
/// backend's atomic `take` is kept). A test arms a [`Fault`] for the call
/// it wants to fail, runs a request, and checks what the failure left.
#[derive(Debug)]
pub struct FaultyBackend {
    inner: Arc<dyn Backend>,
    armed: Mutex<Vec<Armed>>,
    calls: AtomicU64,
    injected: AtomicU64,
    stalls: Notify,
    created: Mutex<Vec<StorageKey>>,
}

impl FaultyBackend {
    /// Passes every call to `inner` until a fault is injected.
    pub fn new(inner: Arc<dyn Backend>) -> FaultyBackend {
        FaultyBackend {
            inner,
            armed: Mutex::new(Vec::new()),
            calls: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            stalls: Notify::new(),
            created: Mutex::new(Vec::new()),
        }
    }

    /// Arms `fault`, counting calls from now. Several faults may be armed;
    /// a call fails with the first one that picks it.
    pub fn inject(&self, fault: Fault) {
        self.lock().push(Armed { fault, seen: 0, failed: 0 });
    }

    /// Disarms every fault.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Calls made so far, failed ones included.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Failures injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    /// Resolves when a call starts to hang ([`Failure::Hang`],
    /// [`Failure::HangAfterWrite`]): race a request against it to drop the
    /// request at once, as a timeout would.
    pub async fn stalled(&self) {
        self.stalls.notified().await;
    }

    /// The keys of every record a `create` through this wrapper stored, in
    /// order (failed creates that still landed included): lets a test look
    /// at records no cookie names, such as one a failed cycle left behind.
    pub fn created_keys(&self) -> Vec<StorageKey> {
        self.created.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Armed>> {
        // A panicking test thread leaves the plan as it was: still usable.
        self.armed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts `call` and picks the failure to inject, if any.
    fn strike(&self, call: Call) -> Option<Failure> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let failure = self.lock().iter_mut().find_map(|armed| armed.strike(call));
        if failure.is_some() {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        failure
    }

    /// Runs `call` through the injected failure, if one picked it.
    async fn run<T>(
        &self,
        call: Call,
        work: impl std::future::Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        let Some(failure) = self.strike(call) else { return work.await };
        if failure.applies() {
            // Carried out whatever it answers: the write has landed.
            let _ = work.await;
        }
        match failure {
            Failure::Unavailable | Failure::LostReply => {
                Err(BackendError::unavailable(format!("injected failure of a {call:?} call")))
            }
            Failure::Full => Err(BackendError::Full(format!("injected: no room for a {call:?} call"))),
            Failure::Hang | Failure::HangAfterWrite => {
                self.stalls.notify_one();
                std::future::pending().await
            }
        }
    }
}

#[async_trait]
impl Backend for FaultyBackend {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        self.run(Call::Load, self.inner.load(key)).await
    }

    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        self.create_retained(key, fields, ttl, Retention::Evictable).await
    }

    async fn create_retained(
        &self,
        key: &StorageKey,
        fields: &Fields,
        ttl: Duration,
        retention: Retention,
    ) -> Result<bool, BackendError> {
        let created = self.inner.create_retained(key, fields, ttl, retention);
        let note = async {
            let created = created.await;
            if matches!(created, Ok(true)) {
                self.created.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(key.clone());
            }
            created
        };
        self.run(Call::Create, note).await
    }

    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        self.run(Call::Update, self.inner.update(key, patch, ttl)).await
    }

    async fn update_seen(
        &self,
        key: &StorageKey,
        seen: Seen<'_>,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        self.run(Call::UpdateSeen, self.inner.update_seen(key, seen, patch, ttl)).await
    }

    async fn update_retained(
        &self,
        key: &StorageKey,
        seen: Option<Seen<'_>>,
        patch: &Patch,
        ttl: Duration,
        retention: Retention,
    ) -> Result<bool, BackendError> {
        let call = if seen.is_some() { Call::UpdateSeen } else { Call::Update };
        self.run(call, self.inner.update_retained(key, seen, patch, ttl, retention)).await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        self.run(Call::Delete, self.inner.delete(key)).await
    }

    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        self.run(Call::Touch, self.inner.touch(key, ttl)).await
    }

    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        self.run(Call::Take, self.inner.take(key)).await
    }
}

/// The sessions among `keys` whose record is live and bound to a user
/// whose index does not list them, with that user: each one is a session
/// "log out everywhere" cannot end. A record past the absolute timeout
/// `absolute` (at `now`, Unix seconds) no longer counts as live: the store
/// ends it when it is next loaded, and prunes it from the index. Give it
/// [`FaultyBackend::created_keys`] to look at every record a test made,
/// including those no cookie names.
pub async fn unlisted_bound_sessions(
    backend: &dyn Backend,
    keys: &[StorageKey],
    absolute: Option<Duration>,
    now: u64,
) -> Vec<(StorageKey, String)> {
    let mut unlisted = Vec::new();
    for key in keys {
        let Some(stored) = backend.load(key).await.expect("load a record") else { continue };
        let (Some(meta), Some((user, _))) = (Meta::of(&stored.fields), layout::user_of(&stored.fields)) else {
            continue;
        };
        if meta.max_age.is_none() && absolute.is_some_and(|abs| now >= meta.created.saturating_add(abs.as_secs())) {
            continue;
        }
        let index = backend.load(&user_index_key(&user)).await.expect("load an index");
        if !index.is_some_and(|index| index.fields.contains_key(&key.as_str())) {
            unlisted.push((key.clone(), user));
        }
    }
    unlisted
}
