//! The session store failing under load: 32 clients on loopback keep using
//! the demo (as `demo_kit` opens it: its backend behind a breaker) while
//! its store is killed (Redis), frozen (Redis) or stopped (PostgreSQL),
//! then brought back on the same port. The stores are private servers the
//! tests start on free ports; the shared services are not touched.
//!
//! What must hold, whatever the store:
//! - every answer is a `200`/`204` or the one outage answer, `503 session
//!   storage unavailable`, whether the load (a client with a session) or
//!   the save (a client without one, whose handler already ran) failed,
//!   and no `503` hands out a session cookie;
//! - after the first failures, `503`s come back at once: nine in ten of
//!   them (all but the breaker's probes) take less than a timeout (the
//!   shortest of which, Redis's, is 2 s);
//! - the app serves again after the store returns, without a restart;
//! - every write acknowledged with a `2xx` is there afterwards.
//!
//! Each test prints what it measured (time to the first `503`, the latency
//! of the `503`s after it, recovery after the store returned).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use demo_kit::Config;
use sessions_conformance::Client;
use sessions_core::backend::BreakerConfig;
use sessions_testkit::postgres::{PostgresProcess, postgres_tools_installed};
use sessions_testkit::redis::{RedisProcess, redis_tools_installed};

/// Clients that keep their session and write a new key on every request:
/// when the store is down, their load fails.
const MEMBERS: usize = 24;
/// Clients without a cookie: every request starts a session, so when the
/// store is down the save fails, after the handler ran.
const VISITORS: usize = 8;
const CLIENTS: usize = MEMBERS + VISITORS;

/// The shortest timeout a request could wait for: the Redis backend's
/// response timeout (PostgreSQL's pool waits longer).
const SHORTEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest any phase may take before the test gives up: a hang fails
/// the test instead of blocking it. Generous, never a measurement.
const HANG_GUARD: Duration = Duration::from_secs(60);

const UP: u8 = 0;
const DOWN: u8 = 1;
const BACK: u8 = 2;

#[derive(Debug, Clone)]
struct Sample {
    client: usize,
    member: bool,
    /// The phase when the request started.
    phase: u8,
    /// Since the test's start.
    start: Duration,
    end: Duration,
    status: u16,
    set_cookie: bool,
    body: String,
}

impl Sample {
    fn took(&self) -> Duration {
        self.end - self.start
    }
}

/// What the clients saw, shared with the test.
#[derive(Debug, Default)]
struct Log {
    samples: Vec<Sample>,
    /// Per member: the keys a `2xx` acknowledged.
    acknowledged: Vec<Vec<String>>,
}

struct Load {
    epoch: Instant,
    phase: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
    tasks: Vec<tokio::task::JoinHandle<Client>>,
}

impl Load {
    fn start(addr: std::net::SocketAddr) -> Load {
        let epoch = Instant::now();
        let phase = Arc::new(AtomicU8::new(UP));
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Log { samples: Vec::new(), acknowledged: vec![Vec::new(); MEMBERS] }));
        let tasks = (0..CLIENTS)
            .map(|client| {
                let (phase, stop, log) = (Arc::clone(&phase), Arc::clone(&stop), Arc::clone(&log));
                tokio::spawn(async move {
                    let member = client < MEMBERS;
                    let mut jar = Client::new(addr);
                    let mut n = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        n += 1;
                        let key = format!("c{client}n{n}");
                        let at = phase.load(Ordering::SeqCst);
                        let start = epoch.elapsed();
                        let reply = if member {
                            jar.post_form("/kv", &[("k", &key), ("v", "1")]).await
                        } else {
                            Client::new(addr).post_form("/counter", &[]).await
                        };
                        let end = epoch.elapsed();
                        let sample = Sample {
                            client,
                            member,
                            phase: at,
                            start,
                            end,
                            status: reply.status,
                            set_cookie: !reply.set_cookies().is_empty(),
                            body: reply.body.clone(),
                        };
                        let mut log = log.lock().unwrap();
                        if member && (200..300).contains(&reply.status) {
                            log.acknowledged[client].push(key);
                        }
                        log.samples.push(sample);
                    }
                    jar
                })
            })
            .collect();
        Load { epoch, phase, stop, log, tasks }
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Waits until `done` holds for the samples so far.
    async fn until(&self, what: &str, done: impl Fn(&[Sample]) -> bool) {
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            if done(&self.log.lock().unwrap().samples) {
                return;
            }
            assert!(Instant::now() < deadline, "gave up waiting: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn finish(self) -> (Vec<Client>, Log) {
        self.stop.store(true, Ordering::SeqCst);
        let mut jars = Vec::new();
        for task in self.tasks {
            jars.push(task.await.expect("a client task panicked"));
        }
        let log = std::mem::take(&mut *self.log.lock().unwrap());
        (jars, log)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Drives the demo on `store` through an outage: `fail` takes the store
/// away, `revive` brings it back; checks everything the module promises
/// and prints the measurements.
async fn outage_under_load(name: &str, store: &str, fail: impl FnOnce(), revive: impl FnOnce()) {
    let interval = BreakerConfig::default().probe_interval();
    let vars = [("SESSION_STORE", store), ("SESSION_SECURE", "0"), ("DEMO_ADDR", "127.0.0.1:0")];
    let config = Config::from_vars(vars).expect("config");
    let app = axum_demo::spawn(&config, None).expect("start the demo");
    let load = Load::start(app.addr);

    // Up: every member holds a session with a few acknowledged writes.
    load.until("every client served while the store is up", |samples| {
        (0..CLIENTS).all(|c| samples.iter().filter(|s| s.client == c && s.status < 300).count() >= 3)
    })
    .await;

    let down_at = load.now();
    load.phase.store(DOWN, Ordering::SeqCst);
    tokio::task::block_in_place(fail);
    // Enough 503s after the first one, from both steps, over a few probe
    // intervals.
    load.until("503s from both steps while the store is down", |samples| {
        let failed: Vec<&Sample> = samples.iter().filter(|s| s.phase == DOWN && s.status == 503).collect();
        let Some(first) = failed.iter().map(|s| s.end).min() else { return false };
        failed.iter().any(|s| s.member)
            && failed.iter().any(|s| !s.member)
            && failed.iter().filter(|s| s.start >= first).count() >= 8 * CLIENTS
            && failed.iter().any(|s| s.start >= first + 4 * interval)
    })
    .await;

    let back_at = load.now();
    load.phase.store(BACK, Ordering::SeqCst);
    tokio::task::block_in_place(revive);
    // The restart returns once the store answers: recovery counts from here.
    let ready_at = load.now();
    load.until("every client served again after the store returned", |samples| {
        (0..CLIENTS).all(|c| samples.iter().any(|s| s.client == c && s.start >= back_at && s.status < 300))
    })
    .await;
    let (mut jars, log) = load.finish().await;

    let outage: Vec<&Sample> = log.samples.iter().filter(|s| s.status == 503).collect();
    let first_503 = outage.iter().filter(|s| s.phase == DOWN).map(|s| s.end).min().expect("a 503 while down");
    let window = outage.iter().filter(|s| s.end >= first_503 && s.end <= first_503 + interval).count();
    let mut fast: Vec<Duration> =
        outage.iter().filter(|s| s.start >= first_503 && s.start < back_at).map(|s| s.took()).collect();
    fast.sort();
    let recovered_first = log.samples.iter().filter(|s| s.start >= back_at && s.status < 300).map(|s| s.end).min();
    let after_ready = |t: Option<Duration>| t.map_or(Duration::ZERO, |t| t.saturating_sub(ready_at));
    let recovered_all = (0..CLIENTS)
        .filter_map(|c| {
            log.samples.iter().filter(|s| s.client == c && s.start >= back_at && s.status < 300).map(|s| s.end).min()
        })
        .max();
    let acknowledged: usize = log.acknowledged.iter().map(Vec::len).sum();
    eprintln!(
        "{name}: first 503 {} after the store went down; {} 503s after it: p50 {}, p99 {}, max {}; \
         {window} within one probe interval; the restart took {}, served again {} after the store answered \
         (every client: {}); {acknowledged} acknowledged writes; {} requests",
        ms(first_503 - down_at),
        fast.len(),
        ms(percentile(&fast, 0.50)),
        ms(percentile(&fast, 0.99)),
        ms(fast.last().copied().unwrap_or_default()),
        ms(ready_at - back_at),
        ms(after_ready(recovered_first)),
        ms(after_ready(recovered_all)),
        log.samples.len(),
    );

    // Every answer is a success or the one outage answer, which hands out
    // no session.
    for s in &log.samples {
        assert!(s.status < 300 || s.status == 503, "{name}: unexpected {} {:?}", s.status, s.body);
        if s.status == 503 {
            assert_eq!(s.body, "session storage unavailable", "{name}: one answer whatever step failed");
            assert!(!s.set_cookie, "{name}: a 503 handed out a session cookie");
        }
    }
    assert!(outage.iter().any(|s| s.member), "{name}: no load step failed");
    assert!(outage.iter().any(|s| !s.member), "{name}: no save step failed");
    assert!(
        log.samples.iter().all(|s| s.end >= down_at || s.status < 300),
        "{name}: a request failed before the store went down"
    );

    // Fail fast: the 503s after the first do not wait for a timeout. The
    // shortest (Redis's response timeout) is 2 s; a request that waited
    // for one takes at least that long, one that failed at once takes
    // milliseconds (more on a loaded machine, but nowhere near 2 s). The
    // breaker lets one probe through each interval, and against a frozen
    // store a probe does wait; so nine in ten, not all. (How many 503s
    // finish within one probe interval, printed above, shows it too, but
    // counts throughput, which a busy machine lowers.)
    let waited = fast.iter().filter(|took| **took >= SHORTEST_TIMEOUT).count();
    assert!(
        waited * 10 <= fast.len(),
        "{name}: {waited} of the {} 503s after the first took as long as a timeout ({SHORTEST_TIMEOUT:?}): \
         requests are waiting",
        fast.len()
    );

    // Recovery without a restart, and nothing acknowledged lost.
    for (client, jar) in jars.iter_mut().enumerate().take(MEMBERS) {
        let listing = jar.get("/kv").await;
        assert_eq!(listing.status, 200, "{name}: listing of client {client}");
        for key in &log.acknowledged[client] {
            assert!(
                listing.body.contains(&format!("\"{key}\":\"1\"")),
                "{name}: client {client} lost the acknowledged write {key}"
            );
        }
    }

    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_load_fails_fast_and_recovers_with_every_acknowledged_write() {
    if !redis_tools_installed() {
        return;
    }
    // Durable, so that what Redis acknowledged is there after the restart.
    let redis = Arc::new(Mutex::new(RedisProcess::builder().durable().start()));
    let url = redis.lock().unwrap().url();
    let (a, b) = (Arc::clone(&redis), Arc::clone(&redis));
    outage_under_load("redis killed", &url, move || a.lock().unwrap().kill(), move || b.lock().unwrap().restart())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_frozen_under_load_fails_fast_after_one_timeout_and_recovers() {
    if !redis_tools_installed() {
        return;
    }
    // A server that hangs: connections stay open, requests go unanswered.
    let redis = Arc::new(Mutex::new(RedisProcess::builder().durable().start()));
    let url = redis.lock().unwrap().url();
    let (a, b) = (Arc::clone(&redis), Arc::clone(&redis));
    outage_under_load("redis frozen", &url, move || a.lock().unwrap().freeze(), move || b.lock().unwrap().thaw()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_load_fails_fast_and_recovers_with_every_acknowledged_write() {
    if !postgres_tools_installed() {
        return;
    }
    let postgres = Arc::new(Mutex::new(PostgresProcess::start()));
    let url = postgres.lock().unwrap().url();
    let (a, b) = (Arc::clone(&postgres), Arc::clone(&postgres));
    outage_under_load("postgres stopped", &url, move || a.lock().unwrap().stop(), move || b.lock().unwrap().restart())
        .await;
}
