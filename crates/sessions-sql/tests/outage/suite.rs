//! The outage tests of one sqlx version's `SqlBackend`; `outage.rs`
//! compiles them once for each version, and `driver!()` names the version
//! this copy is for.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use sessions_core::backend::record::Fields;
use sessions_core::backend::{Backend, BackendError, Breaker, BreakerConfig, BreakerOpen, BreakerState, Patch};
use sessions_core::testing;
use sessions_testkit::postgres::{PostgresProcess, postgres_tools_installed};

driver!();
use driver::SqlBackend;

const TTL: Duration = Duration::from_secs(600);

/// Generous bound on any single call: a hang fails the test.
const HANG_GUARD: Duration = Duration::from_secs(30);

fn one_field(name: &str, value: &[u8]) -> Fields {
    Fields::from([(name.to_owned(), value.to_vec())])
}

fn refused_by_breaker<T: std::fmt::Debug>(result: &Result<T, BackendError>) -> bool {
    matches!(result, Err(err @ BackendError::Unavailable(_)) if err.source().is_some_and(|s| s.is::<BreakerOpen>()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_waits_out_the_acquire_timeout_once_behind_a_breaker_and_recovers() {
    if !postgres_tools_installed() {
        return;
    }
    let mut server = PostgresProcess::start();
    let sql = SqlBackend::builder().acquire_timeout(Duration::from_millis(500)).connect(&server.url()).await.unwrap();
    let config = BreakerConfig::default()
        .with_call_timeout(Duration::from_secs(5))
        .with_probe_interval(Duration::from_millis(100));
    let breaker = Breaker::new(Arc::new(sql), config);
    let mut written = Vec::new();
    for _ in 0..20 {
        let key = testing::random_key();
        assert!(breaker.create(&key, &one_field("va", b"1"), TTL).await.unwrap());
        written.push(key);
    }

    tokio::task::block_in_place(|| server.stop());
    // The first call meets the outage (a pooled connection the shutdown
    // ended) and opens the breaker.
    let first = tokio::time::timeout(HANG_GUARD, breaker.load(&written[0])).await.expect("no hang");
    assert!(matches!(first, Err(BackendError::Unavailable(_))) && !refused_by_breaker(&first), "{first:?}");
    assert_eq!(breaker.state(), BreakerState::Open);
    // The others do not wait: at most one probe per interval reaches the
    // pool (and waits), the rest are refused at once.
    let mut refused = 0;
    for key in &written {
        let patch = Patch { set: one_field("vb", b"2"), ..Patch::default() };
        if refused_by_breaker(&breaker.update(key, &patch, TTL).await) {
            refused += 1;
        }
    }
    assert!(refused >= written.len() - 2, "only {refused} of {} calls failed at once", written.len());
    // A probe that needs a new connection shows the wait the breaker
    // spares the others: sqlx retries the refused connection until the
    // acquire timeout.
    let mut waited = false;
    for _ in 0..20 {
        tokio::time::sleep(config.probe_interval()).await;
        let probe = tokio::time::timeout(HANG_GUARD, breaker.load(&written[0])).await.expect("no hang");
        if let Err(BackendError::Unavailable(err)) = &probe
            && !refused_by_breaker(&probe)
            && err.to_string().contains("timed out")
        {
            waited = true;
            break;
        }
    }
    assert!(waited, "no probe waited for a connection");

    tokio::task::block_in_place(|| server.restart());
    let mut served = false;
    for _ in 0..100 {
        if tokio::time::timeout(HANG_GUARD, breaker.load(&written[0])).await.expect("no hang").is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "the backend never served again after the restart");
    assert_eq!(breaker.state(), BreakerState::Closed);
    for key in &written {
        let stored = breaker.load(key).await.unwrap().expect("an acknowledged create survives the restart");
        assert_eq!(stored.fields, one_field("va", b"1"), "no refused update landed");
    }
}

/// SQLite on a disk that fills: once the database cannot grow, every new
/// session is refused as `Full` while the logged-in reader's requests go
/// on; room made on the disk lets writes in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk_refuses_writes_as_full_and_a_logged_in_reader_keeps_its_session() {
    let Some(disk) = testing::SmallDisk::mount(2 << 20) else { return };
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![0u8; 512 * 1024]).unwrap();
    let url = format!("sqlite:{}", disk.path().join("sessions.db").display());
    let sql = SqlBackend::connect(&url).await.unwrap();
    let run = testing::reader_outlasts_a_full_store(Arc::new(sql.clone()), 64 * 1024, 200).await;
    assert!(run.accepted > 0, "the disk took writes before it was full: {run:?}");
    let refused = sql.create(&testing::random_key(), &one_field("v", &[b'x'; 65536]), TTL).await;
    assert!(matches!(refused, Err(BackendError::Full(_))), "{refused:?}");

    std::fs::remove_file(&filler).unwrap();
    let key = testing::random_key();
    assert!(sql.create(&key, &one_field("v", &[b'x'; 65536]), TTL).await.unwrap(), "room again");
    assert!(sql.load(&key).await.unwrap().is_some());
}
