//! The backend conformance kit and the failure behaviour of
//! `RedisBackend`, against real servers: the one in `SESSIONS_REDIS_URL`,
//! a three-node cluster and private servers that the tests start.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::unique_prefix;
use sessions_core::backend::record::{Fields, encoded_len};
use sessions_core::backend::{Backend, BackendError, Patch};
use sessions_core::testing;
use sessions_core::testing::service_url;
use sessions_redis::RedisBackend;
use sessions_testkit::redis::{RedisCluster, RedisProcess, redis_tools_installed};

const TTL: Duration = Duration::from_secs(600);

/// Generous bound on any single call while the server is down: a hang
/// fails the test instead of blocking it forever.
const HANG_GUARD: Duration = Duration::from_secs(10);

async fn single(tag: &str) -> Option<RedisBackend> {
    let url = service_url("SESSIONS_REDIS_URL")?;
    Some(RedisBackend::builder().key_prefix(unique_prefix(tag)).connect(&url).await.expect("connect to Redis"))
}

fn one_field(name: &str, value: &[u8]) -> Fields {
    Fields::from([(name.to_owned(), value.to_vec())])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_server_passes_the_conformance_kit() {
    let Some(backend) = single("kit").await else { return };
    testing::run_all(Arc::new(backend)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_server_expires_records() {
    let Some(backend) = single("expiry").await else { return };
    testing::expired_records_are_not_loaded(&backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_server_keeps_every_key_of_64_writers_saving_1000_times() {
    let Some(backend) = single("writers").await else { return };
    testing::concurrent_distinct_keys_are_kept(Arc::new(backend), 64, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_server_update_racing_logout_does_not_resurrect() {
    let Some(backend) = single("race").await else { return };
    testing::update_racing_delete_does_not_resurrect(Arc::new(backend)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_is_one_hash_under_the_prefix_and_a_hash_tag() {
    let Some(url) = service_url("SESSIONS_REDIS_URL") else { return };
    let prefix = unique_prefix("layout");
    let backend = RedisBackend::builder().key_prefix(&prefix).connect(&url).await.unwrap();
    let key = testing::random_key();
    assert!(backend.create(&key, &one_field("vname", b"ada"), TTL).await.unwrap());

    let expected = format!("{prefix}{{{}}}", key.as_str());
    assert_eq!(backend.redis_key(&key), expected);
    let mut raw = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let kind: String = redis::cmd("TYPE").arg(&expected).query_async(&mut raw).await.unwrap();
    assert_eq!(kind, "hash");
    let value: Vec<u8> = redis::cmd("HGET").arg(&expected).arg("vname").query_async(&mut raw).await.unwrap();
    assert_eq!(value, b"ada");
    backend.delete(&key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_foreign_value_under_a_session_key_is_corrupt_not_a_crash() {
    let Some(url) = service_url("SESSIONS_REDIS_URL") else { return };
    let backend = RedisBackend::builder().key_prefix(unique_prefix("foreign")).connect(&url).await.unwrap();
    let key = testing::random_key();
    let mut raw = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET").arg(backend.redis_key(&key)).arg("not a hash").query_async(&mut raw).await.unwrap();

    let load = backend.load(&key).await;
    assert!(matches!(load, Err(BackendError::Corrupt(_))), "{load:?}");
    let patch = Patch { set: one_field("va", b"1"), ..Patch::default() };
    let update = backend.update(&key, &patch, TTL).await;
    assert!(matches!(update, Err(BackendError::Corrupt(_))), "{update:?}");
    backend.delete(&key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_patch_over_the_size_limit_is_refused_before_sending() {
    let Some(url) = service_url("SESSIONS_REDIS_URL") else { return };
    let backend =
        RedisBackend::builder().key_prefix(unique_prefix("limit")).max_record_bytes(1024).connect(&url).await.unwrap();
    let key = testing::random_key();
    let err = backend.create(&key, &one_field("vbig", &[0; 2048]), TTL).await.unwrap_err();
    assert!(matches!(err, BackendError::TooLarge { limit: 1024, .. }), "{err:?}");
    assert!(backend.load(&key).await.unwrap().is_none());
}

/// Small enough that the kit's records stay quick to write.
const KIT_LIMIT: usize = 64 << 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_server_bounds_whole_records() {
    let Some(url) = service_url("SESSIONS_REDIS_URL") else { return };
    let backend = RedisBackend::builder()
        .key_prefix(unique_prefix("record-limit"))
        .max_record_bytes(KIT_LIMIT)
        .connect(&url)
        .await
        .unwrap();
    testing::record_limit_is_enforced(&backend, KIT_LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_marker_field_keeps_the_record_size_and_a_missing_one_is_recounted() {
    let Some(url) = service_url("SESSIONS_REDIS_URL") else { return };
    let backend = RedisBackend::builder()
        .key_prefix(unique_prefix("marker"))
        .max_record_bytes(KIT_LIMIT)
        .connect(&url)
        .await
        .unwrap();
    let mut raw = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let key = testing::random_key();
    let redis_key = backend.redis_key(&key);
    let mut expected = testing::record_of_size(1000);
    assert!(backend.create(&key, &expected, TTL).await.unwrap());
    let patches = [
        Patch { set: one_field("vb", &[1; 300]), ..Patch::default() },
        Patch { set: one_field("vb", &[2; 200]), remove: vec!["vb".into(), "m".into(), "vnone".into()], clear: false },
        Patch { clear: true, set: one_field("m", b"meta"), remove: vec![] },
    ];
    for patch in &patches {
        assert!(backend.update(&key, patch, TTL).await.unwrap());
        patch.apply(&mut expected);
        assert_eq!(marked_size(&mut raw, &redis_key).await, encoded_len(&expected), "after {patch:?}");
    }
    // A hash whose marker does not hold the size is counted field by field.
    let big = Patch { set: one_field("vbig", &vec![3; KIT_LIMIT - 100]), ..Patch::default() };
    assert!(backend.update(&key, &big, TTL).await.unwrap());
    big.apply(&mut expected);
    let _: () = redis::cmd("HSET").arg(&redis_key).arg("").arg("1").query_async(&mut raw).await.unwrap();
    let more = Patch { set: one_field("vmore", &[4; 200]), ..Patch::default() };
    let refused = backend.update(&key, &more, TTL).await;
    assert!(matches!(refused, Err(BackendError::TooLarge { .. })), "{refused:?}");
    assert!(backend.update(&key, &one_field_patch("vsmall", b"1"), TTL).await.unwrap());
    expected.insert("vsmall", b"1");
    assert_eq!(marked_size(&mut raw, &redis_key).await, encoded_len(&expected));
    assert_eq!(backend.load(&key).await.unwrap().map(|s| s.fields), Some(expected));
    backend.delete(&key).await.unwrap();
}

/// A save of a record still at the revision its request loaded trusts the
/// size the request sent; one that another write overtook works the size
/// out again, and keeps that write. A marker from before revisions loads
/// with none and gets one from the next write.
#[tokio::test]
async fn a_save_at_the_loaded_revision_skips_the_recount_and_a_later_one_does_not() {
    use sessions_core::backend::Seen;
    let Some(url) = service_url("SESSIONS_REDIS_URL") else { return };
    let backend = RedisBackend::builder().key_prefix(unique_prefix("revision")).connect(&url).await.unwrap();
    let mut raw = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let key = testing::random_key();
    let redis_key = backend.redis_key(&key);
    let mut fields = one_field("va", b"1");
    assert!(backend.create(&key, &fields, TTL).await.unwrap());
    let loaded = backend.load(&key).await.unwrap().unwrap();
    let revision = loaded.revision.expect("a record written now has a revision");

    // The marker's size made wrong behind the backend's back, its revision
    // kept: only a save that trusts the request's size puts it right.
    let marker: String = redis::cmd("HGET").arg(&redis_key).arg("").query_async(&mut raw).await.unwrap();
    let wrong = format!("999 {}", marker.split_once(' ').unwrap().1);
    let _: () = redis::cmd("HSET").arg(&redis_key).arg("").arg(&wrong).query_async(&mut raw).await.unwrap();
    let patch = one_field_patch("vb", b"22");
    patch.apply(&mut fields);
    let seen = Seen { revision, fields: &fields };
    assert!(backend.update_seen(&key, seen, &patch, TTL).await.unwrap());
    assert_eq!(marked_size(&mut raw, &redis_key).await, encoded_len(&fields), "the fast path wrote the size sent");
    let moved = backend.load(&key).await.unwrap().unwrap();
    assert!(moved.revision.is_some_and(|r| r > revision), "a write moves the revision on: {moved:?}");
    assert_eq!(moved.fields, fields);

    // Saved again from the first load: another write came in between, so
    // the size is worked out from what is stored, and that write stays.
    let mut stale = one_field("va", b"1");
    let patch = one_field_patch("vc", b"333");
    patch.apply(&mut stale);
    let seen = Seen { revision, fields: &stale };
    assert!(backend.update_seen(&key, seen, &patch, TTL).await.unwrap());
    patch.apply(&mut fields);
    assert_eq!(backend.load(&key).await.unwrap().unwrap().fields, fields, "the write in between is kept");
    assert_eq!(marked_size(&mut raw, &redis_key).await, encoded_len(&fields));

    // A marker holding only the size, as before revisions.
    let _: () = redis::cmd("HSET").arg(&redis_key).arg("").arg("1").query_async(&mut raw).await.unwrap();
    let legacy = backend.load(&key).await.unwrap().unwrap();
    assert_eq!((legacy.revision, &legacy.fields), (None, &fields));
    let patch = one_field_patch("vd", b"4");
    assert!(backend.update(&key, &patch, TTL).await.unwrap());
    patch.apply(&mut fields);
    let again = backend.load(&key).await.unwrap().unwrap();
    assert!(again.revision.is_some(), "the next write gives the record a revision");
    assert_eq!(again.fields, fields);
    assert_eq!(marked_size(&mut raw, &redis_key).await, encoded_len(&fields), "and recounts its size");
    backend.delete(&key).await.unwrap();
}

/// The size a session hash's marker holds (before its revision).
async fn marked_size(raw: &mut redis::aio::MultiplexedConnection, redis_key: &str) -> usize {
    let marker: String = redis::cmd("HGET").arg(redis_key).arg("").query_async(raw).await.unwrap();
    marker.split(' ').next().unwrap().parse().unwrap()
}

fn one_field_patch(name: &str, value: &[u8]) -> Patch {
    Patch { set: one_field(name, value), ..Patch::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hash_over_the_limit_is_never_loaded_and_is_removed() {
    let Some(url) = service_url("SESSIONS_REDIS_URL") else { return };
    let prefix = unique_prefix("lowered");
    let roomy = RedisBackend::builder().key_prefix(&prefix).connect(&url).await.unwrap();
    let strict = RedisBackend::builder().key_prefix(&prefix).max_record_bytes(KIT_LIMIT).connect(&url).await.unwrap();
    // Written while the limit was higher.
    let key = testing::random_key();
    assert!(roomy.create(&key, &testing::record_of_size(KIT_LIMIT + 1), TTL).await.unwrap());
    assert!(strict.load(&key).await.unwrap().is_none(), "a record over the limit must not load");
    assert!(roomy.load(&key).await.unwrap().is_none(), "and it is removed");
    // A record within the limit is untouched.
    let fits = testing::record_of_size(KIT_LIMIT);
    assert!(roomy.create(&key, &fits, TTL).await.unwrap());
    assert_eq!(strict.load(&key).await.unwrap().map(|s| s.fields), Some(fits));
    strict.delete(&key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_of_three_nodes_passes_the_conformance_kit() {
    if !redis_tools_installed() {
        return;
    }
    let cluster = RedisCluster::start();
    let backend = RedisBackend::builder()
        .key_prefix(unique_prefix("cluster"))
        .connect_cluster(cluster.urls())
        .await
        .expect("connect to the test cluster");
    let backend: Arc<dyn Backend> = Arc::new(backend);
    testing::run_all(Arc::clone(&backend)).await;
    testing::concurrent_distinct_keys_are_kept(Arc::clone(&backend), 64, 1000).await;
    testing::expired_records_are_not_loaded(&*backend).await;
    let limited = RedisBackend::builder()
        .key_prefix(unique_prefix("cluster-limit"))
        .max_record_bytes(KIT_LIMIT)
        .connect_cluster(cluster.urls())
        .await
        .expect("connect to the test cluster");
    testing::record_limit_is_enforced(&limited, KIT_LIMIT).await;
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_spreads_sessions_over_every_node() {
    if !redis_tools_installed() {
        return;
    }
    let cluster = RedisCluster::start();
    let backend = RedisBackend::connect_cluster(cluster.urls()).await.expect("connect to the test cluster");
    for _ in 0..60 {
        assert!(backend.create(&testing::random_key(), &one_field("va", b"1"), TTL).await.unwrap());
    }
    for node in &cluster.nodes {
        let keys: u64 = node.cli(&["dbsize"]).trim().parse().unwrap();
        assert!(keys > 0, "node on port {} holds no session out of 60", node.port);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_server_yields_unavailable_and_recovers_after_restart() {
    if !redis_tools_installed() {
        return;
    }
    let mut server = RedisProcess::start(false);
    let backend = RedisBackend::builder()
        .response_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(500))
        .connect(&server.url())
        .await
        .expect("connect to the private server");
    let key = testing::random_key();
    assert!(backend.create(&key, &one_field("va", b"1"), TTL).await.unwrap());

    server.kill();
    for _ in 0..5 {
        let load = tokio::time::timeout(HANG_GUARD, backend.load(&key)).await.expect("load hung on a dead server");
        assert!(matches!(load, Err(BackendError::Unavailable(_))), "load on a dead server: {load:?}");
        let patch = Patch { set: one_field("vb", b"2"), ..Patch::default() };
        let update = tokio::time::timeout(HANG_GUARD, backend.update(&key, &patch, TTL))
            .await
            .expect("update hung on a dead server");
        assert!(matches!(update, Err(BackendError::Unavailable(_))), "update on a dead server: {update:?}");
    }

    server.restart();
    let mut recovered = false;
    for _ in 0..100 {
        let fresh = testing::random_key();
        let create = tokio::time::timeout(HANG_GUARD, backend.create(&fresh, &one_field("va", b"1"), TTL))
            .await
            .expect("create hung after restart");
        if let Ok(true) = create {
            let loaded = backend.load(&fresh).await.expect("load after recovery");
            assert_eq!(loaded.map(|s| s.fields), Some(one_field("va", b"1")));
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the backend never reconnected to the restarted server");
}
