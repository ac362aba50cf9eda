//! Redis beyond one server, as it fails over: a primary with replicas
//! behind three sentinels, and a cluster with a replica per primary. Each
//! test kills a primary (SIGKILL) while 32 clients write, and reports the
//! three numbers the README quotes: how long requests failed, how they
//! were answered meanwhile (503, never anything else), and how many
//! writes answered 200 are gone afterwards. Every server is a private
//! process on a free loopback port.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::unique_prefix;
use sessions_core::backend::Backend;
use sessions_core::testing;
use sessions_redis::RedisBackend;
use sessions_testkit::failover::{self, FailoverLoad, FailoverReport};
use sessions_testkit::redis::{RedisCluster, redis_tools_installed};
use sessions_testkit::sentinel::SentinelGroup;

const LOAD: FailoverLoad =
    FailoverLoad { clients: 32, before: Duration::from_secs(2), settled: Duration::from_secs(2) };

/// How long the replicas copy nothing before the kill, in the tests of a
/// replica cut off.
const LAG: Duration = Duration::from_secs(1);

/// The longest the sentinels may take to promote a replica here: they
/// hold a primary down after 1.5 s without an answer.
const PROMOTION: Duration = Duration::from_secs(30);

fn print(what: &str, report: &FailoverReport) {
    println!(
        "{what}: requests failed for {:.1} s after the kill; {} answered 503, {} served; \
         {} of {} acknowledged writes lost",
        report.outage.as_secs_f64(),
        report.unavailable,
        report.served,
        report.acknowledged_lost,
        report.acknowledged
    );
}

fn check(report: &FailoverReport) {
    assert!(report.other_statuses.is_empty(), "only 200 or 503: {:?}", &report.other_statuses[..]);
    assert!(report.served > 0 && report.acknowledged > 0, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_found_through_sentinels_passes_the_conformance_kit() {
    if !redis_tools_installed() {
        return;
    }
    let group = SentinelGroup::start("kit", 1);
    // The URL form (`redis+sentinel://h:p,h:p/service`) a configuration holds.
    let backend = RedisBackend::builder()
        .key_prefix(unique_prefix("sentinel-kit"))
        .connect(&group.url())
        .await
        .expect("connect through the sentinels");
    let backend: Arc<dyn Backend> = Arc::new(backend);
    testing::run_all(Arc::clone(&backend)).await;
    testing::expired_records_are_not_loaded(&*backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_service_or_no_sentinel_is_refused_at_start_up() {
    if !redis_tools_installed() {
        return;
    }
    let group = SentinelGroup::start("known", 0);
    let unknown = RedisBackend::builder().connect_sentinel(group.sentinel_urls(), "unknown").await;
    assert!(unknown.is_err(), "a service the sentinels do not monitor: {unknown:?}");
    let none = RedisBackend::builder().connect_sentinel(Vec::<String>::new(), "known").await;
    assert!(matches!(none, Err(sessions_redis::Error::Config(_))), "{none:?}");
    let nobody = RedisBackend::builder()
        .connect_timeout(Duration::from_millis(200))
        .connect_sentinel(["redis://127.0.0.1:1"], "known")
        .await;
    assert!(nobody.is_err(), "no sentinel answers: {nobody:?}");
}

/// A primary, one replica, three sentinels; no wait for replicas: a write
/// is acknowledged once the primary has it, and a kill may lose what the
/// replica had not copied yet. The number is measured, not bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sentinel_failover_under_load_answers_503_until_the_replica_is_promoted() {
    if !redis_tools_installed() {
        return;
    }
    let mut group = SentinelGroup::start("sessions", 1);
    let backend = RedisBackend::builder()
        .key_prefix(unique_prefix("failover"))
        .response_timeout(Duration::from_millis(500))
        .connect_sentinel(group.sentinel_urls(), &group.service)
        .await
        .expect("connect through the sentinels");
    let old = group.primary_port();
    let kill = async {
        group.kill_primary();
        Instant::now()
    };
    let report = failover::run(Arc::new(backend), LOAD, kill).await;
    let new = group.wait_for_promotion(old, PROMOTION);
    assert_ne!(new, old);
    print("sentinel, acknowledged by the primary", &report);
    check(&report);
    assert!(report.unavailable > 0, "the kill failed no request: {report:?}");
}

/// A replica cut off from the primary for the last second before the kill
/// (a partition), then promoted. Without a wait for replicas, what the
/// primary acknowledged in that second is lost; this test shows the count
/// is measured for real.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_cut_off_then_promoted_loses_what_only_the_primary_acknowledged() {
    if !redis_tools_installed() {
        return;
    }
    let mut group = SentinelGroup::start("sessions", 1);
    let backend = RedisBackend::builder()
        .key_prefix(unique_prefix("failover-lag"))
        .response_timeout(Duration::from_millis(500))
        .connect_sentinel(group.sentinel_urls(), &group.service)
        .await
        .expect("connect through the sentinels");
    let old = group.primary_port();
    let report = failover::run(Arc::new(backend), LOAD, lag_then_kill(&mut group)).await;
    group.wait_for_promotion(old, PROMOTION);
    print("sentinel, the replica cut off a second before, acknowledged by the primary", &report);
    check(&report);
    assert!(report.acknowledged_lost > 0, "a replica a second behind was promoted, yet nothing was lost: {report:?}");
}

/// Cuts the replicas off the primary for a second, then kills the
/// primary; returns the time of the kill.
async fn lag_then_kill(group: &mut SentinelGroup) -> Instant {
    group.cut_replication();
    tokio::time::sleep(LAG).await;
    group.kill_primary();
    Instant::now()
}

/// The same kill, after the replicas were cut off for a second, with
/// `wait_for_replicas(1, ..)`: a write is acknowledged only once a replica
/// holds it, so the writes of that second answer 503, and none
/// acknowledged is lost. Two replicas here: once one is promoted, the
/// other is the replica the new primary's writes wait for (with one, every
/// write would wait in vain until the old primary came back).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sentinel_failover_loses_no_acknowledged_write_when_writes_wait_for_a_replica() {
    if !redis_tools_installed() {
        return;
    }
    let mut group = SentinelGroup::start("sessions", 2);
    let backend = RedisBackend::builder()
        .key_prefix(unique_prefix("failover-wait"))
        .response_timeout(Duration::from_millis(500))
        .wait_for_replicas(1, Duration::from_millis(500))
        .connect_sentinel(group.sentinel_urls(), &group.service)
        .await
        .expect("connect through the sentinels");
    let old = group.primary_port();
    let report = failover::run(Arc::new(backend), LOAD, lag_then_kill(&mut group)).await;
    group.wait_for_promotion(old, PROMOTION);
    print("sentinel, the replicas cut off a second before, acknowledged by a replica", &report);
    check(&report);
    assert_eq!(report.acknowledged_lost, 0, "{report:?}");
}

/// A cluster of three primaries with a replica each loses one primary:
/// its slots answer 503 until its replica takes over, the rest go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_failover_under_load_answers_503_until_the_replica_takes_over() {
    if !redis_tools_installed() {
        return;
    }
    let mut cluster = RedisCluster::start_with_replicas(1);
    let backend = RedisBackend::builder()
        .key_prefix(unique_prefix("cluster-failover"))
        .response_timeout(Duration::from_millis(500))
        .connect_cluster(cluster.urls())
        .await
        .expect("connect to the test cluster");
    let kill = async {
        cluster.a_primary().kill();
        Instant::now()
    };
    let report = failover::run(Arc::new(backend), LOAD, kill).await;
    print("cluster, acknowledged by the primary", &report);
    check(&report);
    assert!(report.unavailable > 0, "the kill failed no request: {report:?}");
}

/// The cluster kill with `wait_for_replicas(1, ..)`: the driver sends
/// `WAIT` to every primary, so each has two replicas here (one promoted,
/// one left for the new primary's writes to wait for).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_failover_loses_no_acknowledged_write_when_writes_wait_for_a_replica() {
    if !redis_tools_installed() {
        return;
    }
    let mut cluster = RedisCluster::start_with_replicas(2);
    let backend = RedisBackend::builder()
        .key_prefix(unique_prefix("cluster-failover-wait"))
        .response_timeout(Duration::from_millis(500))
        .wait_for_replicas(1, Duration::from_millis(500))
        .connect_cluster(cluster.urls())
        .await
        .expect("connect to the test cluster");
    let kill = async {
        cluster.a_primary().kill();
        Instant::now()
    };
    let report = failover::run(Arc::new(backend), LOAD, kill).await;
    print("cluster, acknowledged by a replica", &report);
    check(&report);
    assert_eq!(report.acknowledged_lost, 0, "{report:?}");
}
