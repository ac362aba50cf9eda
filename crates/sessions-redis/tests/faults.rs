//! Redis as deployments run it, and as it fails: a password, an ACL user
//! confined to the key prefix, TLS with a private CA and client
//! certificates, a plain URL pointed at a TLS-only server, and a server
//! that is killed or hangs. Every server here is a private `redis-server`
//! the test starts on a free loopback port and removes afterwards.

mod common;

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use common::unique_prefix;
use sessions_core::backend::record::Fields;
use sessions_core::backend::{Backend, BackendError, Breaker, BreakerConfig, BreakerOpen, BreakerState, Patch};
use sessions_core::testing;
use sessions_redis::{Error, RedisBackend};
use sessions_testkit::redis::{RedisProcess, TestCertificates, openssl_installed, redis_tools_installed};

const TTL: Duration = Duration::from_secs(600);

/// Generous bound on any single call: a hang fails the test instead of
/// blocking it forever.
const HANG_GUARD: Duration = Duration::from_secs(10);

fn one_field(name: &str, value: &[u8]) -> Fields {
    Fields::from([(name.to_owned(), value.to_vec())])
}

/// A record written, read back, patched and deleted through `backend`.
async fn round_trip(backend: &RedisBackend) {
    let key = testing::random_key();
    assert!(backend.create(&key, &one_field("va", b"1"), TTL).await.unwrap());
    let patch = Patch { set: one_field("vb", b"2"), ..Patch::default() };
    assert!(backend.update(&key, &patch, TTL).await.unwrap());
    let loaded = backend.load(&key).await.unwrap().expect("the record just written");
    assert_eq!(loaded.fields.len(), 2);
    backend.delete(&key).await.unwrap();
    assert!(backend.load(&key).await.unwrap().is_none());
}

fn is_unavailable<T: std::fmt::Debug>(result: &Result<T, BackendError>) -> bool {
    matches!(result, Err(BackendError::Unavailable(_)))
}

fn refused_by_breaker<T: std::fmt::Debug>(result: &Result<T, BackendError>) -> bool {
    matches!(result, Err(err @ BackendError::Unavailable(_)) if err.source().is_some_and(|s| s.is::<BreakerOpen>()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_requirepass_is_reached_with_the_password_in_the_url() {
    if !redis_tools_installed() {
        return;
    }
    let server = RedisProcess::builder().password("s3cret pass").start();
    let url = format!("redis://:s3cret%20pass@127.0.0.1:{}", server.port);
    let backend = RedisBackend::builder().key_prefix(unique_prefix("auth")).connect(&url).await.expect("log in");
    round_trip(&backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_password_is_refused_at_start_up_with_the_servers_reason() {
    if !redis_tools_installed() {
        return;
    }
    let server = RedisProcess::builder().password("s3cret").start();
    let missing = RedisBackend::connect(&server.url()).await.expect_err("no password given");
    assert!(matches!(missing, Error::Connect(_)), "{missing:?}");
    assert!(missing.to_string().contains("NOAUTH") || missing.to_string().contains("uthentication"), "{missing}");

    let url = format!("redis://:wrong@127.0.0.1:{}", server.port);
    let wrong = RedisBackend::connect(&url).await.expect_err("a wrong password");
    assert!(matches!(wrong, Error::Connect(_)), "{wrong:?}");
    assert!(wrong.to_string().to_lowercase().contains("authentication failed"), "{wrong}");
    assert!(!wrong.to_string().contains("wrong@"), "the URL, which holds the password, is not in the error");
}

/// The commands the backend needs, and nothing else: hashes, expiry,
/// scripts (and what they call), transactions, and the connection's own
/// handshake.
const LEAST_PRIVILEGE: &[&str] = &[
    "+hgetall",
    "+hget",
    "+hset",
    "+hdel",
    "+hlen",
    "+hexists",
    "+hstrlen",
    "+exists",
    "+pttl",
    "+del",
    "+pexpire",
    "+evalsha",
    "+eval",
    "+script|load",
    "+multi",
    "+exec",
    "+ping",
    "+hello",
    "+client|setname",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_confined_to_the_key_prefix_passes_the_conformance_kit() {
    if !redis_tools_installed() {
        return;
    }
    let mut rules = vec!["app", "on", ">app-pass", "resetkeys", "~acl:*", "-@all"];
    rules.extend_from_slice(LEAST_PRIVILEGE);
    // The default user is off: only the application's login gets in.
    let server = RedisProcess::builder().acl_user(&["default", "off"]).acl_user(&rules).start();
    let url = format!("redis://app:app-pass@127.0.0.1:{}", server.port);
    let backend = RedisBackend::builder().key_prefix("acl:kit:").connect(&url).await.expect("log in as app");
    testing::run_all(Arc::new(backend)).await;

    // Outside its prefix the same login may not write.
    let outside = RedisBackend::builder().key_prefix("other:").connect(&url).await.expect("log in as app");
    let denied = outside.create(&testing::random_key(), &one_field("va", b"1"), TTL).await;
    assert!(denied.is_err(), "a key outside ~acl:* was written: {denied:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_server_is_reached_over_rediss_with_a_private_ca_and_a_client_certificate() {
    if !redis_tools_installed() || !openssl_installed() {
        return;
    }
    let certs = TestCertificates::generate();
    let server = RedisProcess::builder().tls(&certs).password("tls-pass").start();
    let url = format!("rediss://:tls-pass@127.0.0.1:{}", server.port);
    let backend = RedisBackend::builder()
        .key_prefix(unique_prefix("tls"))
        .tls_root_certificates(std::fs::read(certs.ca_cert()).unwrap())
        .tls_client_certificate(std::fs::read(certs.client_cert()).unwrap(), std::fs::read(certs.client_key()).unwrap())
        .connect(&url)
        .await
        .expect("connect over TLS");
    round_trip(&backend).await;
    testing::concurrent_distinct_keys_are_kept(Arc::new(backend), 16, 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_url_to_a_tls_only_server_is_refused_with_an_error_that_says_so() {
    if !redis_tools_installed() || !openssl_installed() {
        return;
    }
    let certs = TestCertificates::generate();
    let server = RedisProcess::builder().tls(&certs).start();
    let url = format!("redis://127.0.0.1:{}", server.port);
    let refused = tokio::time::timeout(HANG_GUARD, RedisBackend::connect(&url)).await.expect("no hang");
    let err = refused.expect_err("a plain connection to a TLS-only port must not start");
    assert!(matches!(err, Error::TlsRequired { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("rediss://") && text.contains(&server.port.to_string()), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_server_whose_certificate_no_trusted_authority_signed_is_refused() {
    if !redis_tools_installed() || !openssl_installed() {
        return;
    }
    let certs = TestCertificates::generate();
    let server = RedisProcess::builder().tls(&certs).start();
    // The client certificate is offered, but the server's CA is not trusted.
    let other = TestCertificates::generate();
    let result = RedisBackend::builder()
        .tls_root_certificates(std::fs::read(other.ca_cert()).unwrap())
        .tls_client_certificate(std::fs::read(certs.client_cert()).unwrap(), std::fs::read(certs.client_key()).unwrap())
        .connect(&server.url())
        .await;
    let err = result.expect_err("an untrusted server certificate");
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_fails_a_call_without_waiting_for_the_response_timeout() {
    if !redis_tools_installed() {
        return;
    }
    let mut server = RedisProcess::start(false);
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    round_trip(&backend).await;
    server.kill();
    for _ in 0..20 {
        let load = tokio::time::timeout(HANG_GUARD, backend.load(&testing::random_key())).await.expect("no hang");
        let Err(BackendError::Unavailable(err)) = load else { panic!("a load on a dead server: {load:?}") };
        // Not "did not answer within 2s": the refusal itself is the answer.
        assert!(!err.to_string().contains("did not answer"), "the call waited out its timeout: {err}");
    }
    server.restart();
    let mut served = false;
    for _ in 0..50 {
        if backend.load(&testing::random_key()).await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "the backend never reconnected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_costs_one_timeout_behind_a_breaker_and_then_fails_at_once() {
    if !redis_tools_installed() {
        return;
    }
    let server = RedisProcess::start(false);
    let redis = RedisBackend::builder().response_timeout(Duration::from_secs(5)).connect(&server.url()).await.unwrap();
    let config = BreakerConfig::default()
        .with_call_timeout(Duration::from_millis(300))
        .with_probe_interval(Duration::from_millis(100));
    let breaker = Breaker::new(Arc::new(redis), config);
    let key = testing::random_key();
    assert!(breaker.create(&key, &one_field("va", b"1"), TTL).await.unwrap());

    server.freeze();
    let first = tokio::time::timeout(HANG_GUARD, breaker.load(&key)).await.expect("no hang");
    assert!(is_unavailable(&first) && !refused_by_breaker(&first), "the first call met the hung server: {first:?}");
    assert_eq!(breaker.state(), BreakerState::Open);
    let mut refused = 0;
    for _ in 0..200 {
        if refused_by_breaker(&breaker.load(&key).await) {
            refused += 1;
        }
    }
    // Some calls may fall after a probe interval and probe (and time out):
    // one per interval at most, against 200 calls that are not held up.
    assert!(refused >= 150, "only {refused} of 200 calls failed at once");

    server.thaw();
    let mut served = None;
    for _ in 0..100 {
        match tokio::time::timeout(HANG_GUARD, breaker.load(&key)).await.expect("no hang") {
            Ok(stored) => {
                served = stored;
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert_eq!(served.map(|s| s.fields), Some(one_field("va", b"1")), "served again after the server resumed");
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redis_refuses_writes_as_full_and_a_logged_in_reader_keeps_its_session() {
    if !redis_tools_installed() {
        return;
    }
    // An empty server uses about 1 MiB: 4 MiB leaves room for a few dozen
    // 64 KiB sessions before `noeviction` refuses writes.
    let server = RedisProcess::builder().maxmemory(4 << 20).start();
    let backend = RedisBackend::builder().key_prefix(unique_prefix("full")).connect(&server.url()).await.unwrap();
    let run = testing::reader_outlasts_a_full_store(Arc::new(backend.clone()), 64 * 1024, 500).await;
    assert!(run.accepted > 0, "the server took writes before it was full: {run:?}");
    assert!(server.cli(&["info", "memory"]).contains("maxmemory_policy:noeviction"));

    // Each refused write is Full at the backend, too, and a delete still
    // goes through: it is what makes room again.
    let refused = backend.create(&testing::random_key(), &one_field("v", &[b'x'; 65536]), TTL).await;
    assert!(matches!(refused, Err(BackendError::Full(_))), "{refused:?}");
    server.cli(&["flushall"]);
    round_trip(&backend).await;
}
