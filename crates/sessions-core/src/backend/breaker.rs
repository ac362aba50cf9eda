//! A circuit breaker around a backend: once the storage is seen down,
//! requests fail in milliseconds instead of each waiting out a timeout.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Backend, BackendError, Patch, Retention, Seen, StorageKey, Stored};
use crate::backend::record::Fields;

/// The shortest call timeout and probe interval a [`BreakerConfig`] keeps:
/// zero would fail every call, or probe on every call.
const MIN_DURATION: Duration = Duration::from_millis(1);

/// The settings of a [`Breaker`]: how long one call may take, and how often
/// a store seen down is tried again.
///
/// ```
/// use std::time::Duration;
/// use sessions_core::backend::BreakerConfig;
///
/// let config = BreakerConfig::default()
///     .with_call_timeout(Duration::from_millis(500))
///     .with_probe_interval(Duration::from_millis(100));
/// assert_eq!(config.call_timeout(), Duration::from_millis(500));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    call_timeout: Duration,
    probe_interval: Duration,
}

impl Default for BreakerConfig {
    /// A 10-second call timeout and a probe every 250 ms: a store that is
    /// back serves again within a quarter of a second. The timeout is a
    /// backstop, as long as the SQL backend's own request timeout: a store
    /// that refuses connections fails the first calls at once, and the
    /// networked backends bound a silent store themselves (Redis: 2 s).
    /// A healthy store can be slow: saves of 16 requests on one session,
    /// serialized by a row lock on a loaded machine, took up to 5 s in
    /// the demos' test suite, and a 1 s timeout failed them.
    fn default() -> Self {
        BreakerConfig { call_timeout: Duration::from_secs(10), probe_interval: Duration::from_millis(250) }
    }
}

impl BreakerConfig {
    /// The longest one backend call may take before it fails with
    /// [`BackendError::Unavailable`] and opens the breaker (default 10 s,
    /// at least 1 ms). Only the calls made before the breaker opens wait
    /// this long. Keep it above the slowest answer of a healthy store (a
    /// save under contention, a sweep holding a lock): a call it cuts
    /// short fails its request and opens the breaker for everyone.
    pub fn with_call_timeout(self, timeout: Duration) -> Self {
        BreakerConfig { call_timeout: timeout.max(MIN_DURATION), ..self }
    }

    /// While the breaker is open, one call in this interval goes through
    /// to the store as a probe; the others fail at once (default 250 ms, at
    /// least 1 ms). It bounds how long after the store is back the
    /// requests start succeeding again.
    pub fn with_probe_interval(self, interval: Duration) -> Self {
        BreakerConfig { probe_interval: interval.max(MIN_DURATION), ..self }
    }

    /// The call timeout.
    pub fn call_timeout(&self) -> Duration {
        self.call_timeout
    }

    /// The probe interval.
    pub fn probe_interval(&self) -> Duration {
        self.probe_interval
    }
}

/// Where a [`Breaker`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls go through to the store.
    Closed,
    /// The store was seen down: calls fail at once until the next probe.
    Open,
    /// One call is trying the store; the others fail at once until it ends.
    Probing,
}

/// The source of the [`BackendError::Unavailable`] a [`Breaker`] answers
/// without calling the store, so logs and tests can tell a call refused
/// by the breaker from one the store failed.
///
/// ```
/// use std::error::Error as _;
/// use sessions_core::backend::BreakerOpen;
/// use sessions_core::BackendError;
///
/// fn refused_by_the_breaker(err: &BackendError) -> bool {
///     err.source().is_some_and(|source| source.is::<BreakerOpen>())
/// }
/// # let _ = refused_by_the_breaker;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerOpen;

impl fmt::Display for BreakerOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the store failed moments ago; calls fail at once until a probe finds it answering")
    }
}

impl std::error::Error for BreakerOpen {}

/// A [`Backend`] that stops calling a store it has seen down.
///
/// Use it around every networked backend (Redis, SQL): without it, each
/// request during an outage waits for the backend's own timeouts (a pool
/// that retries connecting, a reconnect with back-off) before its `503`,
/// and a hung store holds every request for the full timeout.
///
/// - **Closed**: every call goes through, bounded by the
///   [call timeout](BreakerConfig::with_call_timeout). A call that fails
///   with [`BackendError::Unavailable`] (a timeout included) opens the
///   breaker. Any other answer, errors such as
///   [`TooLarge`](BackendError::TooLarge) or [`Full`](BackendError::Full)
///   included, shows the store is up.
/// - **Open**: calls fail at once with `Unavailable` (its source is
///   [`BreakerOpen`]) without reaching the store, until the
///   [probe interval](BreakerConfig::with_probe_interval) has passed.
/// - **Probing**: the first call after that goes through as the probe;
///   the others still fail at once. If the store answers, the breaker
///   closes; if not, it opens for another interval. A probe whose request
///   is dropped before it ends leaves the next call to probe.
///
/// A failure of a call that started before the breaker last closed does
/// not open it again: that call met the outage the probe saw end.
///
/// A call that times out is dropped; what it had already sent may still
/// reach the store. It was never acknowledged, and the backend invariants
/// (`update` never creates) keep such a late write from bringing back a
/// session that was logged out meanwhile.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use sessions_core::backend::{Backend, Breaker, BreakerConfig, BreakerState, MemoryBackend};
///
/// let config = BreakerConfig::default().with_call_timeout(Duration::from_millis(500));
/// let breaker = Breaker::new(Arc::new(MemoryBackend::new()), config);
/// assert_eq!(breaker.state(), BreakerState::Closed);
/// let backend: Arc<dyn Backend> = Arc::new(breaker);
/// # let _ = backend;
/// ```
pub struct Breaker {
    inner: Arc<dyn Backend>,
    config: BreakerConfig,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// How many times the breaker has closed after being open: a call
    /// remembers it on entry, so a failure that started before the last
    /// close is recognised as stale.
    closings: u64,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed,
    Open { next_probe: Instant },
    Probing,
}

/// What a call may do, decided when it starts.
enum Admission {
    /// Go through; `closings` as seen on entry.
    Call { closings: u64 },
    /// Go through as the probe.
    Probe,
    /// Fail at once.
    Refuse,
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .field("state", &self.state())
            .finish()
    }
}

impl Breaker {
    /// Guards `inner` with the breaker `config` describes; starts closed.
    pub fn new(inner: Arc<dyn Backend>, config: BreakerConfig) -> Breaker {
        Breaker { inner, config, state: Mutex::new(State { phase: Phase::Closed, closings: 0 }) }
    }

    /// The guarded backend.
    pub fn inner(&self) -> &Arc<dyn Backend> {
        &self.inner
    }

    /// The settings.
    pub fn config(&self) -> BreakerConfig {
        self.config
    }

    /// Where the breaker stands now. An open breaker whose probe interval
    /// has passed reads [`BreakerState::Open`] until a call probes.
    pub fn state(&self) -> BreakerState {
        match self.lock().phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::Probing => BreakerState::Probing,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a few plain values, consistent after every
        // statement: a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn admit(&self) -> Admission {
        let mut state = self.lock();
        match state.phase {
            Phase::Closed => Admission::Call { closings: state.closings },
            Phase::Open { next_probe } if Instant::now() >= next_probe => {
                state.phase = Phase::Probing;
                Admission::Probe
            }
            Phase::Open { .. } | Phase::Probing => Admission::Refuse,
        }
    }

    /// Runs one backend call under the breaker.
    async fn call<T, F>(&self, operation: impl FnOnce() -> F) -> Result<T, BackendError>
    where
        F: Future<Output = Result<T, BackendError>>,
    {
        match self.admit() {
            Admission::Refuse => Err(BackendError::unavailable(BreakerOpen)),
            Admission::Call { closings } => {
                let result = self.bounded(operation()).await;
                if let Err(err @ BackendError::Unavailable(_)) = &result {
                    self.failed(closings, err);
                }
                result
            }
            Admission::Probe => {
                let mut probe = Probe { breaker: self, settled: false };
                let result = self.bounded(operation()).await;
                probe.settle(matches!(result, Err(BackendError::Unavailable(_))));
                result
            }
        }
    }

    async fn bounded<T>(&self, operation: impl Future<Output = Result<T, BackendError>>) -> Result<T, BackendError> {
        match tokio::time::timeout(self.config.call_timeout, operation).await {
            Ok(result) => result,
            Err(_) => Err(BackendError::unavailable(format!(
                "session storage did not answer within {:?}",
                self.config.call_timeout
            ))),
        }
    }

    /// A call admitted while closed failed: open, unless the breaker has
    /// opened already or closed again since the call started.
    fn failed(&self, closings: u64, err: &BackendError) {
        let mut state = self.lock();
        if matches!(state.phase, Phase::Closed) && state.closings == closings {
            state.phase = Phase::Open { next_probe: Instant::now() + self.config.probe_interval };
            tracing::warn!(
                error = %err,
                probe_interval = ?self.config.probe_interval,
                "session storage unavailable; failing fast until a probe finds it answering"
            );
        }
    }
}

/// The probe in flight; settles the breaker when it ends, and when it is
/// dropped unfinished (its request was cancelled) lets the next call probe.
struct Probe<'a> {
    breaker: &'a Breaker,
    settled: bool,
}

impl Probe<'_> {
    fn settle(&mut self, down: bool) {
        self.settled = true;
        let config = self.breaker.config;
        let mut state = self.breaker.lock();
        if down {
            state.phase = Phase::Open { next_probe: Instant::now() + config.probe_interval };
            tracing::debug!("session storage probe failed; the breaker stays open");
        } else {
            state.phase = Phase::Closed;
            state.closings += 1;
            tracing::info!("session storage answers again; the breaker is closed");
        }
    }
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.lock().phase = Phase::Open { next_probe: Instant::now() };
        }
    }
}

#[async_trait]
impl Backend for Breaker {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        self.call(|| self.inner.load(key)).await
    }

    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        self.call(|| self.inner.create(key, fields, ttl)).await
    }

    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        self.call(|| self.inner.update(key, patch, ttl)).await
    }

    async fn update_seen(
        &self,
        key: &StorageKey,
        seen: Seen<'_>,
        patch: &Patch,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        self.call(|| self.inner.update_seen(key, seen, patch, ttl)).await
    }

    async fn create_retained(
        &self,
        key: &StorageKey,
        fields: &Fields,
        ttl: Duration,
        retention: Retention,
    ) -> Result<bool, BackendError> {
        self.call(|| self.inner.create_retained(key, fields, ttl, retention)).await
    }

    async fn update_retained(
        &self,
        key: &StorageKey,
        seen: Option<Seen<'_>>,
        patch: &Patch,
        ttl: Duration,
        retention: Retention,
    ) -> Result<bool, BackendError> {
        self.call(|| self.inner.update_retained(key, seen, patch, ttl, retention)).await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        self.call(|| self.inner.delete(key)).await
    }

    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        self.call(|| self.inner.touch(key, ttl)).await
    }

    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        self.call(|| self.inner.take(key)).await
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(1);
    const INTERVAL: Duration = Duration::from_millis(250);

    /// How the fake store answers the next call.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Mode {
        Up,
        Down,
        Hung,
        Corrupt,
        Full,
    }

    /// A store whose answers the test sets, counting the calls that
    /// reach it, by operation.
    #[derive(Debug)]
    struct Fake {
        mode: Mutex<Mode>,
        calls: AtomicUsize,
        takes: AtomicUsize,
    }

    impl Fake {
        fn new(mode: Mode) -> Arc<Fake> {
            Arc::new(Fake { mode: Mutex::new(mode), calls: AtomicUsize::new(0), takes: AtomicUsize::new(0) })
        }

        fn set(&self, mode: Mode) {
            *self.mode.lock().unwrap() = mode;
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }

        async fn answer<T: Default>(&self) -> Result<T, BackendError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mode = *self.mode.lock().unwrap();
            match mode {
                Mode::Up => Ok(T::default()),
                Mode::Down => Err(BackendError::unavailable("connection refused")),
                Mode::Hung => std::future::pending().await,
                Mode::Corrupt => Err(BackendError::Corrupt("not a session".into())),
                Mode::Full => Err(BackendError::Full("no room".into())),
            }
        }
    }

    #[async_trait]
    impl Backend for Fake {
        async fn load(&self, _: &StorageKey) -> Result<Option<Stored>, BackendError> {
            self.answer().await
        }
        async fn create(&self, _: &StorageKey, _: &Fields, _: Duration) -> Result<bool, BackendError> {
            self.answer().await
        }
        async fn update(&self, _: &StorageKey, _: &Patch, _: Duration) -> Result<bool, BackendError> {
            self.answer().await
        }
        async fn delete(&self, _: &StorageKey) -> Result<(), BackendError> {
            self.answer().await
        }
        async fn touch(&self, _: &StorageKey, _: Duration) -> Result<bool, BackendError> {
            self.answer().await
        }
        async fn take(&self, _: &StorageKey) -> Result<Option<Stored>, BackendError> {
            self.takes.fetch_add(1, Ordering::SeqCst);
            self.answer().await
        }
    }

    fn breaker(fake: &Arc<Fake>) -> Arc<Breaker> {
        let config = BreakerConfig::default().with_call_timeout(TIMEOUT).with_probe_interval(INTERVAL);
        Arc::new(Breaker::new(Arc::clone(fake) as Arc<dyn Backend>, config))
    }

    fn key() -> StorageKey {
        StorageKey::from_bytes([7; 32])
    }

    fn refused_by_breaker(result: &Result<Option<Stored>, BackendError>) -> bool {
        matches!(result, Err(err @ BackendError::Unavailable(_)) if err.source().is_some_and(|s| s.is::<BreakerOpen>()))
    }

    /// Opens the breaker with one failed call.
    async fn open(fake: &Fake, breaker: &Breaker) {
        fake.set(Mode::Down);
        assert!(matches!(breaker.load(&key()).await, Err(BackendError::Unavailable(_))));
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_outlasts_the_timeout_fails_as_unavailable_and_opens_the_breaker() {
        let fake = Fake::new(Mode::Hung);
        let breaker = breaker(&fake);
        let start = Instant::now();
        let result = breaker.load(&key()).await;
        assert!(matches!(result, Err(BackendError::Unavailable(_))), "{result:?}");
        assert!(!refused_by_breaker(&result), "the store was called, and timed out");
        assert_eq!(start.elapsed(), TIMEOUT, "bounded by the call timeout, on the paused clock");
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn while_open_calls_fail_at_once_without_reaching_the_store() {
        let fake = Fake::new(Mode::Hung);
        let breaker = breaker(&fake);
        let _ = breaker.load(&key()).await;
        let start = Instant::now();
        for _ in 0..1000 {
            assert!(refused_by_breaker(&breaker.load(&key()).await));
        }
        assert_eq!(fake.calls(), 1, "only the first call reached the store");
        assert_eq!(start.elapsed(), Duration::ZERO, "no refused call waited for anything");
    }

    #[tokio::test(start_paused = true)]
    async fn one_probe_per_interval_reaches_a_store_that_stays_down() {
        let fake = Fake::new(Mode::Up);
        let breaker = breaker(&fake);
        open(&fake, &breaker).await;
        for round in 1..=3 {
            tokio::time::advance(INTERVAL - Duration::from_millis(1)).await;
            assert!(refused_by_breaker(&breaker.load(&key()).await), "round {round}: before the interval");
            assert_eq!(fake.calls(), round);
            tokio::time::advance(Duration::from_millis(1)).await;
            let probe = breaker.load(&key()).await;
            assert!(matches!(probe, Err(BackendError::Unavailable(_))) && !refused_by_breaker(&probe));
            assert_eq!(fake.calls(), round + 1, "round {round}: the probe reached the store");
            assert_eq!(breaker.state(), BreakerState::Open);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_finds_the_store_answering_closes_the_breaker() {
        let fake = Fake::new(Mode::Up);
        let breaker = breaker(&fake);
        open(&fake, &breaker).await;
        fake.set(Mode::Up);
        tokio::time::advance(INTERVAL).await;
        assert!(breaker.load(&key()).await.is_ok(), "the probe is a real call, and its answer is served");
        assert_eq!(breaker.state(), BreakerState::Closed);
        for _ in 0..10 {
            assert!(breaker.load(&key()).await.is_ok());
        }
        assert_eq!(fake.calls(), 12);
    }

    #[tokio::test(start_paused = true)]
    async fn while_a_probe_is_in_flight_other_calls_fail_at_once() {
        let fake = Fake::new(Mode::Up);
        let breaker = breaker(&fake);
        open(&fake, &breaker).await;
        fake.set(Mode::Hung);
        tokio::time::advance(INTERVAL).await;
        let probe = tokio::spawn({
            let breaker = Arc::clone(&breaker);
            async move { breaker.load(&key()).await.map(drop) }
        });
        tokio::task::yield_now().await;
        assert_eq!(breaker.state(), BreakerState::Probing);
        for _ in 0..10 {
            assert!(refused_by_breaker(&breaker.load(&key()).await));
        }
        assert_eq!(fake.calls(), 2, "the first failure and the probe");
        assert!(matches!(probe.await.unwrap(), Err(BackendError::Unavailable(_))), "the probe timed out");
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_dropped_unfinished_leaves_the_next_call_to_probe() {
        let fake = Fake::new(Mode::Up);
        let breaker = breaker(&fake);
        open(&fake, &breaker).await;
        fake.set(Mode::Hung);
        tokio::time::advance(INTERVAL).await;
        let probe = tokio::spawn({
            let breaker = Arc::clone(&breaker);
            async move { breaker.load(&key()).await.map(drop) }
        });
        tokio::task::yield_now().await;
        assert_eq!(breaker.state(), BreakerState::Probing);
        probe.abort();
        assert!(probe.await.unwrap_err().is_cancelled());
        fake.set(Mode::Up);
        assert!(breaker.load(&key()).await.is_ok(), "the next call probed at once");
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn answers_that_are_not_outages_keep_the_breaker_closed() {
        let fake = Fake::new(Mode::Corrupt);
        let breaker = breaker(&fake);
        for _ in 0..3 {
            assert!(matches!(breaker.load(&key()).await, Err(BackendError::Corrupt(_))));
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(fake.calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_store_never_opens_the_breaker() {
        let fake = Fake::new(Mode::Full);
        let breaker = breaker(&fake);
        let ttl = Duration::from_secs(60);
        for _ in 0..100 {
            assert!(matches!(breaker.create(&key(), &Fields::new(), ttl).await, Err(BackendError::Full(_))));
            assert!(matches!(breaker.update(&key(), &Patch::default(), ttl).await, Err(BackendError::Full(_))));
        }
        assert_eq!(breaker.state(), BreakerState::Closed, "refusing a write for lack of room is not an outage");
        assert_eq!(fake.calls(), 200, "every write reached the store");
        fake.set(Mode::Up);
        assert!(breaker.load(&key()).await.is_ok(), "the next read goes through at once");
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_answered_full_closes_the_breaker() {
        let fake = Fake::new(Mode::Up);
        let breaker = breaker(&fake);
        open(&fake, &breaker).await;
        fake.set(Mode::Full);
        tokio::time::advance(INTERVAL).await;
        assert!(matches!(
            breaker.create(&key(), &Fields::new(), Duration::from_secs(1)).await,
            Err(BackendError::Full(_))
        ));
        assert_eq!(breaker.state(), BreakerState::Closed, "a full store answers: it is up");
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_gets_an_answer_other_than_an_outage_closes_the_breaker() {
        let fake = Fake::new(Mode::Up);
        let breaker = breaker(&fake);
        open(&fake, &breaker).await;
        fake.set(Mode::Corrupt);
        tokio::time::advance(INTERVAL).await;
        assert!(matches!(breaker.load(&key()).await, Err(BackendError::Corrupt(_))));
        assert_eq!(breaker.state(), BreakerState::Closed, "the store answered");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_that_started_before_the_store_came_back_does_not_reopen_the_breaker() {
        let fake = Fake::new(Mode::Hung);
        let breaker = breaker(&fake);
        // A call that will time out, started while closed.
        let slow = tokio::spawn({
            let breaker = Arc::clone(&breaker);
            async move { breaker.load(&key()).await.map(drop) }
        });
        tokio::task::yield_now().await;
        // Meanwhile another call opens the breaker, and a probe closes it.
        open(&fake, &breaker).await;
        fake.set(Mode::Up);
        tokio::time::advance(INTERVAL).await;
        assert!(breaker.load(&key()).await.is_ok());
        assert_eq!(breaker.state(), BreakerState::Closed);
        // The slow call now times out: a stale failure.
        assert!(matches!(slow.await.unwrap(), Err(BackendError::Unavailable(_))));
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_while_closed_after_a_recovery_opens_it_again() {
        let fake = Fake::new(Mode::Up);
        let breaker = breaker(&fake);
        open(&fake, &breaker).await;
        fake.set(Mode::Up);
        tokio::time::advance(INTERVAL).await;
        assert!(breaker.load(&key()).await.is_ok());
        open(&fake, &breaker).await;
    }

    #[tokio::test(start_paused = true)]
    async fn every_operation_goes_through_the_breaker_and_take_stays_atomic() {
        let fake = Fake::new(Mode::Up);
        let breaker = breaker(&fake);
        let ttl = Duration::from_secs(60);
        assert!(breaker.load(&key()).await.is_ok());
        assert!(breaker.create(&key(), &Fields::new(), ttl).await.is_ok());
        assert!(breaker.update(&key(), &Patch::default(), ttl).await.is_ok());
        assert!(breaker.touch(&key(), ttl).await.is_ok());
        assert!(breaker.delete(&key()).await.is_ok());
        assert!(breaker.take(&key()).await.is_ok());
        assert_eq!(fake.calls(), 6);
        assert_eq!(fake.takes.load(Ordering::SeqCst), 1, "take is the store's own, not a load and a delete");

        open(&fake, &breaker).await;
        let before = fake.calls();
        let down = |r: Result<bool, BackendError>| matches!(r, Err(BackendError::Unavailable(_)));
        assert!(down(breaker.create(&key(), &Fields::new(), ttl).await));
        assert!(down(breaker.update(&key(), &Patch::default(), ttl).await));
        assert!(down(breaker.touch(&key(), ttl).await));
        assert!(breaker.delete(&key()).await.is_err());
        assert!(refused_by_breaker(&breaker.take(&key()).await));
        assert_eq!(fake.calls(), before, "no operation reached a store seen down");
    }

    #[test]
    fn zero_durations_are_raised_to_a_millisecond() {
        let config = BreakerConfig::default().with_call_timeout(Duration::ZERO).with_probe_interval(Duration::ZERO);
        assert_eq!((config.call_timeout(), config.probe_interval()), (MIN_DURATION, MIN_DURATION));
    }
}
