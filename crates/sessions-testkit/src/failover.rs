//! Clients writing through a store while its storage fails over, and what
//! the failover cost them: how long requests failed, how they were
//! answered meanwhile, and which acknowledged writes are gone afterwards.
//!
//! Each client is one browser. Each of its requests loads its session from
//! its cookie, writes one new key (`k<n>` = `n`, the request's number) and
//! saves, as a handler and an adapter would; a request is answered with
//! the status an adapter gives it ([`Policy::default`]): 200 when the save
//! succeeded, the failure's status otherwise. A write answered 200 is
//! acknowledged. Every key is written once, so no later write can hide the
//! loss of an earlier one; to keep sessions small, a client starts a new
//! session (drops its cookie) every 50 writes. At the end every session
//! of every client is loaded again and each acknowledged key is looked
//! for.
//!
//! ```no_run
//! # async fn demo(backend: std::sync::Arc<dyn sessions_core::backend::Backend>) {
//! use std::time::Duration;
//! use sessions_testkit::failover::{FailoverLoad, run};
//!
//! let load = FailoverLoad { clients: 32, before: Duration::from_secs(1), settled: Duration::from_secs(2) };
//! let kill = async { /* kill the primary here */ std::time::Instant::now() };
//! let report = run(backend, load, kill).await;
//! assert!(report.other_statuses.is_empty());
//! # }
//! ```

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sessions_core::adapter::{FailureKind, Policy};
use sessions_core::backend::Backend;
use sessions_core::store::Store;
use sessions_core::{Key, KeyRing, ServerStore, StoreConfig};

/// Writes a client makes in one session before it starts another: the
/// sessions stay small however long the run.
const WRITES_PER_SESSION: usize = 50;

/// The longest a run waits for requests to succeed again after the kill.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// The load of a [`run`].
#[derive(Debug, Clone, Copy)]
pub struct FailoverLoad {
    /// Clients writing at once, each with its own session.
    pub clients: usize,
    /// How long they write before the kill.
    pub before: Duration,
    /// How long they go on writing once every client was served again.
    pub settled: Duration,
}

/// What a [`run`] measured.
#[derive(Debug, Clone)]
pub struct FailoverReport {
    /// Requests answered 200.
    pub served: usize,
    /// Requests answered with the outage status (503).
    pub unavailable: usize,
    /// Requests answered anything else, with the error: there must be
    /// none.
    pub other_statuses: Vec<(u16, String)>,
    /// From the kill to the end of the last request that failed: how long
    /// the failover kept requests from being served.
    pub outage: Duration,
    /// Writes answered 200 that the sessions no longer hold afterwards.
    pub acknowledged_lost: usize,
    /// Writes answered 200 in all.
    pub acknowledged: usize,
}

#[derive(Default)]
struct Client {
    /// Every session the client had, the current one last.
    sessions: Vec<Tracked>,
}

/// One session of a client: its cookie and the keys it acknowledged.
#[derive(Default)]
struct Tracked {
    cookie: Option<String>,
    acknowledged: Vec<u64>,
}

#[derive(Default)]
struct Tally {
    served: usize,
    unavailable: usize,
    other: Vec<(u16, String)>,
    last_failure: Option<Instant>,
}

impl Tally {
    fn record(&mut self, outcome: Result<(), (u16, String)>) {
        match outcome {
            Ok(()) => self.served += 1,
            Err((status, error)) => {
                if status == Policy::default().status(FailureKind::Unavailable) {
                    self.unavailable += 1;
                } else {
                    self.other.push((status, error));
                }
                self.last_failure = Some(Instant::now());
            }
        }
    }
}

/// Runs `load.clients` clients against a [`ServerStore`] on `backend`,
/// runs `fault` after `load.before` (it returns when it killed the
/// primary), and goes on until every client was served again, then for
/// `load.settled` more. Panics if requests still fail a minute after the
/// kill.
pub async fn run(
    backend: Arc<dyn Backend>,
    load: FailoverLoad,
    fault: impl Future<Output = Instant>,
) -> FailoverReport {
    let config = StoreConfig::new("id", KeyRing::from(Key::generate()));
    let store = Arc::new(ServerStore::new(config, backend).expect("a valid configuration"));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let tasks: Vec<_> = (0..load.clients)
        .map(|_| {
            let (store, tally, stopping) = (Arc::clone(&store), Arc::clone(&tally), Arc::clone(&stopping));
            tokio::spawn(async move {
                let mut client = Client::default();
                let mut n = 0u64;
                while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let outcome = request(&store, &mut client, n).await;
                    tally.lock().unwrap_or_else(PoisonError::into_inner).record(outcome);
                    // A browser does not send its next request the same
                    // instant; this also leaves the machine room to fail over.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                client
            })
        })
        .collect();

    tokio::time::sleep(load.before).await;
    let kill_time = fault.await;

    // Served again: no failure for a whole second after the last one.
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let last = tally.lock().unwrap_or_else(PoisonError::into_inner).last_failure;
        let quiet_since = last.map_or(kill_time, |last| last.max(kill_time));
        if quiet_since.elapsed() >= Duration::from_secs(1) && last.is_some() {
            break;
        }
        assert!(kill_time.elapsed() < GIVE_UP_AFTER, "requests still fail {GIVE_UP_AFTER:?} after the kill");
        // A kill that no request noticed (none failed) counts as healed
        // after a few seconds.
        if last.is_none() && kill_time.elapsed() >= Duration::from_secs(5) {
            break;
        }
    }
    tokio::time::sleep(load.settled).await;
    stopping.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await.expect("a client task"));
    }

    let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(PoisonError::into_inner));
    let mut acknowledged = 0;
    let mut lost = 0;
    for client in &clients {
        for tracked in &client.sessions {
            let cookies: Vec<&str> = tracked.cookie.iter().map(String::as_str).collect();
            let session = store.load(&cookies).await.expect("every session loads once the storage is back");
            acknowledged += tracked.acknowledged.len();
            lost += tracked
                .acknowledged
                .iter()
                .filter(|&&n| session.get::<u64>(&format!("k{n}")).ok().flatten() != Some(n))
                .count();
        }
    }
    let outage = tally.last_failure.map_or(Duration::ZERO, |last| last.saturating_duration_since(kill_time));
    FailoverReport {
        served: tally.served,
        unavailable: tally.unavailable,
        other_statuses: tally.other,
        outage,
        acknowledged_lost: lost,
        acknowledged,
    }
}

/// One request: load, write `n`, save. The error is the status an adapter
/// answers, and why.
async fn request(store: &ServerStore, client: &mut Client, n: u64) -> Result<(), (u16, String)> {
    let status = |err: &sessions_core::Error| (Policy::default().status(FailureKind::of(err)), err.to_string());
    if client.sessions.last().is_none_or(|s| s.acknowledged.len() >= WRITES_PER_SESSION) {
        client.sessions.push(Tracked::default());
    }
    let current = client.sessions.last_mut().expect("a session was just pushed");
    let cookies: Vec<&str> = current.cookie.iter().map(String::as_str).collect();
    let session = store.load(&cookies).await.map_err(|err| status(&err))?;
    session.insert(&format!("k{n}"), &n).map_err(|err| status(&err))?;
    let header = store.save(&session).await.map_err(|err| status(&err))?;
    let cookie = header.as_deref().and_then(|h| h.split(';').next()).and_then(|pair| pair.split_once('='));
    let new_cookie = cookie.is_some_and(|(_, value)| !value.is_empty());
    // A new cookie for a session that had one: the old session was lost
    // and this is a new one, tracked apart.
    if new_cookie && current.cookie.is_some() {
        client.sessions.push(Tracked::default());
    }
    let current = client.sessions.last_mut().expect("at least one session");
    if let Some((_, value)) = cookie.filter(|(_, value)| !value.is_empty()) {
        current.cookie = Some(value.to_owned());
    }
    current.acknowledged.push(n);
    Ok(())
}
