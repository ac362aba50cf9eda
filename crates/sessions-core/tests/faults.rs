//! Faults and load: crashes mid-write, a full disk, floods and write storms.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::temp_dir;
use sessions_core::backend::record::Fields;
use sessions_core::backend::{Backend, BackendError, FilesystemBackend, MemoryBackend, Patch, StorageKey};
use sessions_core::testing;

const CHILD_DIR: &str = "SESSIONS_TEST_WRITER_DIR";
const SESSIONS: u8 = 8;

fn key(n: u8) -> StorageKey {
    StorageKey::from_bytes([n; 32])
}

/// Round `n` of a session: one field whose every byte is `n`, of a length
/// that changes with `n`, so a torn file cannot pass for a whole one.
fn round(n: u64) -> Fields {
    let byte = (n % 251) as u8;
    let len = 1000 + (n % 7) as usize * 3000;
    let mut fields = Fields::new();
    fields.insert("vdata", vec![byte; len]);
    fields.insert("vround", n.to_le_bytes());
    fields
}

/// Not a test on its own: the writer process that `killed_writer_leaves_no_torn_file`
/// starts (with `--ignored`) and kills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of killed_writer_leaves_no_torn_file"]
async fn child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let backend = FilesystemBackend::new(dir).unwrap();
    for n in 0u64.. {
        let k = key((n % u64::from(SESSIONS)) as u8);
        let patch = Patch { clear: true, set: round(n), remove: vec![] };
        if !backend.update(&k, &patch, Duration::from_secs(3600)).await.unwrap() {
            backend.create(&k, &round(n), Duration::from_secs(3600)).await.unwrap();
        }
    }
}

/// The highest round any session holds now.
async fn latest_round(backend: &FilesystemBackend) -> u64 {
    let mut latest = 0;
    for n in 0..SESSIONS {
        if let Ok(Some(stored)) = backend.load(&key(n)).await {
            latest = latest.max(u64::from_le_bytes(stored.fields["vround"].try_into().unwrap()));
        }
    }
    latest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_writer_leaves_no_torn_file() {
    let dir = temp_dir("killed");
    let backend = FilesystemBackend::new(&dir).unwrap();
    for n in 0..SESSIONS {
        backend.create(&key(n), &round(u64::from(n)), Duration::from_secs(3600)).await.unwrap();
    }
    for _ in 0..5 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_writer", "--ignored", "--test-threads", "1"])
            .env(CHILD_DIR, &dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill it mid-stream, once it has demonstrably been writing (a round
        // numbered past the initial ones), so the check below is not vacuous.
        let mut writing = false;
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if latest_round(&backend).await >= u64::from(SESSIONS) * 2 {
                writing = true;
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(writing, "the writer process never wrote a session");
        for n in 0..SESSIONS {
            let stored = backend.load(&key(n)).await.expect("every file parses").expect("every session survives");
            let written = u64::from_le_bytes(stored.fields["vround"].try_into().unwrap());
            assert_eq!(stored.fields, round(written), "session {n} holds exactly one whole round");
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn full_disk_is_full_and_keeps_the_old_record() {
    let dir = temp_dir("full");
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root)");
        std::fs::remove_dir_all(dir).unwrap();
        return;
    }
    let mount_point = dir.clone();
    let result = async move {
        let backend = FilesystemBackend::new(&mount_point).unwrap();
        let k = key(1);
        assert!(backend.create(&k, &round(0), Duration::from_secs(60)).await.unwrap());
        let mut big = Fields::new();
        big.insert("vbig", vec![7u8; 200 * 1024]);
        let err = backend.update(&k, &Patch { set: big, ..Patch::default() }, Duration::from_secs(60)).await;
        // Full, not an outage: reads go on and no breaker opens.
        let Err(BackendError::Full(cause)) = err else { panic!("expected Full, got {err:?}") };
        assert!(cause.contains("space"), "the cause names the full disk: {cause}");
        let stored = backend.load(&k).await.unwrap().unwrap();
        assert_eq!(stored.fields, round(0), "a failed write leaves the old record intact");
    };
    // Unmount whatever the outcome, then report it.
    let outcome = tokio::spawn(result).await;
    let _ = std::process::Command::new("umount").arg(&dir).status();
    std::fs::remove_dir_all(&dir).unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}

/// The RSS bound is measured on the whole test process: the tests that
/// allocate heavily take turns, so one's memory is not counted in another's.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backend_holds_a_million_new_sessions_within_its_bound() {
    let _turn = HEAVY.lock().await;
    const BOUND: u64 = 16 << 20;
    let backend = MemoryBackend::builder().max_entries(50_000).max_bytes(BOUND).build();
    let before = rss_bytes();
    let mut fields = Fields::new();
    fields.insert("m", vec![0; 12]);
    fields.insert("vcount", vec![1]);
    for n in 0u32..1_000_000 {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&n.to_le_bytes());
        backend.create(&StorageKey::from_bytes(bytes), &fields, Duration::from_secs(3600)).await.unwrap();
    }
    assert!(backend.len() <= 50_000, "{} sessions held", backend.len());
    assert!(backend.weighted_size() <= BOUND);
    // Still serving: a new session is stored and loads back.
    let k = StorageKey::from_bytes([0xee; 32]);
    assert!(backend.create(&k, &fields, Duration::from_secs(60)).await.unwrap());
    assert!(backend.load(&k).await.unwrap().is_some());
    if let (Some(before), Some(after)) = (before, rss_bytes()) {
        let grown = after.saturating_sub(before);
        eprintln!("RSS grew by {} KiB for a {} KiB bound", grown / 1024, BOUND / 1024);
        // The bound counts a measured estimate of per-entry overhead; the
        // allocator and the cache's sketch add some on top.
        assert!(grown < 2 * BOUND, "RSS grew by {grown} bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_writers_lose_nothing_in_memory() {
    let _turn = HEAVY.lock().await;
    testing::concurrent_distinct_keys_are_kept(Arc::new(MemoryBackend::new()) as Arc<dyn Backend>, 64, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_writers_lose_nothing_on_disk() {
    let _turn = HEAVY.lock().await;
    let dir = temp_dir("storm");
    testing::concurrent_distinct_keys_are_kept(Arc::new(FilesystemBackend::new(&dir).unwrap()), 64, 1000).await;
    std::fs::remove_dir_all(dir).unwrap();
}
