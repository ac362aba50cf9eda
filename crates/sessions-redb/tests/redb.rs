//! The backend conformance kit and the file's own promises: durable saves
//! that survive a killed writer, expiry on read and by sweep, the record
//! limit, one owner at a time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sessions_core::backend::record::Fields;
use sessions_core::backend::{Backend, BackendError, Patch, StorageKey, Sweep};
use sessions_core::clock::{Clock, ManualClock, SystemClock};
use sessions_core::testing::{self, ModelRun};
use sessions_redb::{Error, RedbBackend};

const TTL: Duration = Duration::from_secs(600);
/// Small enough that the kit's records stay quick to write.
const KIT_LIMIT: usize = 64 << 10;

/// A directory of its own under the system's temporary directory, removed
/// when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        TempDir(std::env::temp_dir().join(format!("sessions-redb-{tag}-{hex}")))
    }

    fn file(&self) -> PathBuf {
        self.0.join("sessions.redb")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn one_field(name: &str, value: &[u8]) -> Fields {
    Fields::from([(name.to_owned(), value.to_vec())])
}

fn manual_clock() -> ManualClock {
    ManualClock::new(SystemClock.now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_conformance_kit() {
    let dir = TempDir::new("kit");
    testing::run_all(Arc::new(RedbBackend::open(dir.file()).unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_the_lifecycle_model_on_its_clock() {
    let dir = TempDir::new("model");
    let clock = manual_clock();
    let backend = RedbBackend::builder().clock(Arc::new(clock.clone())).open(dir.file()).unwrap();
    testing::lifecycle_model(Arc::new(backend), clock, ModelRun::from_env()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expires_records() {
    let dir = TempDir::new("expiry");
    testing::expired_records_are_not_loaded(&RedbBackend::open(dir.file()).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keeps_every_key_of_64_writers_saving_1000_times() {
    let dir = TempDir::new("writers");
    testing::concurrent_distinct_keys_are_kept(Arc::new(RedbBackend::open(dir.file()).unwrap()), 64, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bounds_whole_records() {
    let dir = TempDir::new("limit");
    let backend = RedbBackend::builder().max_record_bytes(KIT_LIMIT).open(dir.file()).unwrap();
    testing::record_limit_is_enforced(&backend, KIT_LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_record_over_the_default_limit_and_writes_nothing() {
    let dir = TempDir::new("default-limit");
    let backend = RedbBackend::open(dir.file()).unwrap();
    let key = testing::random_key();
    let big = testing::record_of_size(sessions_core::backend::record::DEFAULT_MAX_RECORD_BYTES + 1);
    let err = backend.create(&key, &big, TTL).await.unwrap_err();
    assert!(matches!(
        err,
        BackendError::TooLarge { limit: sessions_core::backend::record::DEFAULT_MAX_RECORD_BYTES, .. }
    ));
    assert_eq!(backend.entries().await.unwrap(), 0, "a refused create writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_over_a_lowered_limit_is_never_loaded_and_is_removed() {
    let dir = TempDir::new("lowered");
    let (over, fits) = (testing::random_key(), testing::random_key());
    {
        let roomy = RedbBackend::open(dir.file()).unwrap();
        assert!(roomy.create(&over, &testing::record_of_size(KIT_LIMIT + 1), TTL).await.unwrap());
        assert!(roomy.create(&fits, &testing::record_of_size(KIT_LIMIT), TTL).await.unwrap());
    }
    let strict = RedbBackend::builder().max_record_bytes(KIT_LIMIT).open(dir.file()).unwrap();
    assert!(strict.load(&over).await.unwrap().is_none(), "a record over the limit must not load");
    assert_eq!(strict.entries().await.unwrap(), 1, "and it is removed");
    assert_eq!(strict.load(&fits).await.unwrap().map(|s| s.fields), Some(testing::record_of_size(KIT_LIMIT)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_entry_is_removed_and_its_session_starts_afresh() {
    let dir = TempDir::new("unreadable");
    let key = testing::random_key();
    let table: redb::TableDefinition<'_, &[u8; 32], &[u8]> = redb::TableDefinition::new("sessions-v1");
    drop(RedbBackend::open(dir.file()).unwrap());
    {
        let db = redb::Database::create(dir.file()).unwrap();
        let txn = db.begin_write().unwrap();
        // Another layout version, then a torn record of this one.
        txn.open_table(table).unwrap().insert(key.as_bytes(), &[9u8, 1, 2, 3][..]).unwrap();
        txn.commit().unwrap();
    }
    let backend = RedbBackend::open(dir.file()).unwrap();
    assert!(backend.load(&key).await.unwrap().is_none(), "an unreadable entry loads as absent");
    assert_eq!(backend.entries().await.unwrap(), 0, "and is removed");
    assert!(backend.create(&key, &one_field("va", b"1"), TTL).await.unwrap(), "the key is free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_removes_expired_sessions_and_keeps_live_ones() {
    let dir = TempDir::new("sweep");
    let clock = manual_clock();
    let backend = RedbBackend::builder().clock(Arc::new(clock.clone())).open(dir.file()).unwrap();
    let short: Vec<StorageKey> = (0..5).map(|_| testing::random_key()).collect();
    let long: Vec<StorageKey> = (0..3).map(|_| testing::random_key()).collect();
    for key in &short {
        assert!(backend.create(key, &one_field("va", b"1"), Duration::from_secs(60)).await.unwrap());
    }
    for key in &long {
        assert!(backend.create(key, &one_field("va", b"1"), Duration::from_secs(3600)).await.unwrap());
    }
    // A touched session moves in the index: it is not swept at its old expiry.
    assert!(backend.touch(&short[0], Duration::from_secs(3600)).await.unwrap());
    clock.advance(Duration::from_secs(61));
    assert!(backend.load(&short[1]).await.unwrap().is_none(), "an expired session never loads, swept or not");
    assert_eq!(backend.entries().await.unwrap(), 8, "until swept, expired entries stay in the file");
    assert_eq!(backend.sweep_expired().await.unwrap(), 4);
    assert_eq!(backend.entries().await.unwrap(), 4);
    for key in long.iter().chain(&short[..1]) {
        assert!(backend.load(key).await.unwrap().is_some(), "a live session survives the sweep");
    }
    assert_eq!(backend.sweep_expired().await.unwrap(), 0, "a second sweep finds nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_in_chunks_removes_thousands() {
    let dir = TempDir::new("sweep-many");
    let clock = manual_clock();
    let backend = RedbBackend::builder().clock(Arc::new(clock.clone())).open(dir.file()).unwrap();
    let creates: Vec<_> = (0..2500)
        .map(|_| {
            let backend = backend.clone();
            tokio::spawn(async move {
                backend.create(&testing::random_key(), &one_field("va", b"1"), Duration::from_secs(10)).await.unwrap()
            })
        })
        .collect();
    for create in creates {
        assert!(create.await.unwrap());
    }
    clock.advance(Duration::from_secs(11));
    assert_eq!(backend.sweep_expired().await.unwrap(), 2500);
    assert_eq!(backend.entries().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_task_sweeps_on_its_schedule_and_stops_when_dropped() {
    let dir = TempDir::new("sweeper");
    let clock = manual_clock();
    let backend = RedbBackend::builder().clock(Arc::new(clock.clone())).open(dir.file()).unwrap();
    assert!(backend.create(&testing::random_key(), &one_field("va", b"1"), Duration::from_secs(10)).await.unwrap());
    let sweeper = backend.spawn_sweeper(Duration::from_millis(20));
    clock.advance(Duration::from_secs(11));
    let mut swept = false;
    for _ in 0..100 {
        if backend.entries().await.unwrap() == 0 {
            swept = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(swept, "the sweeper never removed the expired session");
    drop(sweeper);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(backend.create(&testing::random_key(), &one_field("va", b"1"), Duration::from_secs(10)).await.unwrap());
    clock.advance(Duration::from_secs(11));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(backend.entries().await.unwrap(), 1, "a dropped sweeper sweeps no more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_closing_and_reopening_the_file() {
    let dir = TempDir::new("reopen");
    let key = testing::random_key();
    let backend = RedbBackend::open(dir.file()).unwrap();
    assert!(backend.create(&key, &one_field("vname", b"ada"), TTL).await.unwrap());
    let patch = Patch { set: one_field("vcount", b"2"), ..Patch::default() };
    assert!(backend.update(&key, &patch, TTL).await.unwrap());
    drop(backend);
    let backend = RedbBackend::open(dir.file()).unwrap();
    let stored = backend.load(&key).await.unwrap().expect("the session outlives the process's handle");
    assert_eq!(stored.fields, Fields::from([("vcount", b"2".as_slice()), ("vname", b"ada")]));
    assert!(stored.ttl.is_some_and(|ttl| ttl <= TTL && ttl > TTL - Duration::from_secs(5)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_owner_of_the_file_is_refused_with_a_clear_error() {
    let dir = TempDir::new("owner");
    let first = RedbBackend::open(dir.file()).unwrap();
    let started = std::time::Instant::now();
    let err = RedbBackend::builder().lock_timeout(Duration::from_millis(200)).open(dir.file()).unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(200), "open waits for the other owner first");
    assert!(matches!(&err, Error::AlreadyOpen { path } if path == &dir.file()), "{err:?}");
    assert!(err.to_string().contains("already open"), "{err}");
    // A clone shares the file; the last one closes it.
    let clone = first.clone();
    drop(first);
    let open = RedbBackend::builder().lock_timeout(Duration::ZERO).open(dir.file());
    assert!(open.is_err(), "a clone keeps the file open");
    // The previous owner closing while a new one waits, as in a restart.
    let closing = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        drop(clone);
    });
    RedbBackend::open(dir.file()).expect("the file is free once every clone is gone");
    closing.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_database_is_an_error_not_a_panic() {
    let dir = TempDir::new("foreign");
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(dir.file(), b"certainly not a redb file, but long enough to look at".repeat(100)).unwrap();
    let err = RedbBackend::open(dir.file()).unwrap_err();
    assert!(matches!(err, Error::Open { .. }), "{err:?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_and_its_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("mode");
    drop(RedbBackend::open(dir.file()).unwrap());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.file()), 0o600);
    assert_eq!(mode(&dir.0), 0o700);
}

// A killed writer: the child process saves in a loop and prints each save
// once `update` acknowledged it; the parent kills it mid-stream and checks
// that the file opens and holds every acknowledged save, whole.

const CHILD_FILE: &str = "SESSIONS_REDB_TEST_WRITER_FILE";
const SESSIONS: u8 = 8;

fn fixed_key(n: u8) -> StorageKey {
    StorageKey::from_bytes([n; 32])
}

/// Round `n` of a session: a value whose every byte and length follow `n`,
/// so a torn record cannot pass for a whole one.
fn round(n: u64) -> Fields {
    let mut fields = Fields::new();
    fields.insert("vdata", vec![(n % 251) as u8; 1000 + (n % 7) as usize * 3000]);
    fields.insert("vround", n.to_le_bytes());
    fields
}

fn round_of(fields: &Fields) -> u64 {
    u64::from_le_bytes(fields["vround"].try_into().unwrap())
}

/// Not a test on its own: the writer process that
/// `a_killed_writer_loses_no_acknowledged_save` starts and kills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of a_killed_writer_loses_no_acknowledged_save"]
async fn child_writer() {
    let Ok(file) = std::env::var(CHILD_FILE) else { return };
    let backend = RedbBackend::open(file).unwrap();
    let (acks, mut acked) = tokio::sync::mpsc::unbounded_channel::<(u8, u64)>();
    // One writer per session, all at once, so commits are shared.
    for s in 0..SESSIONS {
        let (backend, acks) = (backend.clone(), acks.clone());
        tokio::spawn(async move {
            let key = fixed_key(s);
            let start = backend.load(&key).await.unwrap().map_or(0, |stored| round_of(&stored.fields) + 1);
            for n in start.. {
                let patch = Patch { clear: true, set: round(n), remove: vec![] };
                if !backend.update(&key, &patch, Duration::from_secs(3600)).await.unwrap() {
                    assert!(backend.create(&key, &round(n), Duration::from_secs(3600)).await.unwrap());
                }
                let _ = acks.send((s, n));
            }
        });
    }
    drop(acks);
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    while let Some((s, n)) = acked.recv().await {
        writeln!(out, "ack {s} {n}").unwrap();
        out.flush().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_writer_loses_no_acknowledged_save() {
    use std::io::BufRead;
    let dir = TempDir::new("killed");
    std::fs::create_dir_all(&dir.0).unwrap();
    for kill in 0..4 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_writer", "--ignored", "--test-threads", "1", "--nocapture"])
            .env(CHILD_FILE, dir.file())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Read acknowledgements; once enough have come, kill the writer
        // mid-stream, then read whatever it acknowledged before dying.
        let (enough, enough_seen) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut last = [None::<u64>; SESSIONS as usize];
            let mut count = 0u64;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Some((s, n)) = line.strip_prefix("ack ").and_then(|rest| rest.split_once(' ')) else { continue };
                let (s, n): (usize, u64) = (s.parse().unwrap(), n.parse().unwrap());
                last[s] = Some(last[s].map_or(n, |m| m.max(n)));
                count += 1;
                if count == 200 {
                    let _ = enough.send(());
                }
            }
            (last, count)
        });
        // A commit is a disk flush: 200 saves take well under 20 s.
        let started = std::time::Instant::now();
        while enough_seen.try_recv().is_err() && started.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let (last, count) = reader.join().unwrap();
        assert!(count >= 50, "kill {kill}: the writer process acknowledged only {count} saves");
        eprintln!("kill {kill}: {count} saves acknowledged before the writer was killed");
        let backend = RedbBackend::open(dir.file()).expect("the file opens after the writer was killed");
        for s in 0..SESSIONS {
            let Some(acked) = last[usize::from(s)] else { continue };
            let stored =
                backend.load(&fixed_key(s)).await.expect("every entry parses").expect("every session survives");
            let written = round_of(&stored.fields);
            assert!(
                written >= acked,
                "kill {kill}: session {s} holds round {written}, but round {acked} was acknowledged"
            );
            assert_eq!(stored.fields, round(written), "kill {kill}: session {s} holds exactly one whole round");
        }
    }
}

/// Writes 64 KiB sessions until the store refuses one; every refusal
/// must be `Full`. Returns the keys written.
async fn fill(backend: &RedbBackend, at_most: usize) -> Vec<StorageKey> {
    let mut written = Vec::new();
    for _ in 0..at_most {
        let key = testing::random_key();
        match backend.create(&key, &one_field("vflash", &[b'x'; 64 << 10]), TTL).await {
            Ok(true) => written.push(key),
            Err(BackendError::Full(_)) => return written,
            other => panic!("after {} writes: {other:?}", written.len()),
        }
    }
    panic!("{at_most} writes of 64 KiB never filled the store");
}

/// A full disk: one commit that failed with "No space left on device"
/// used to leave redb answering "Previous I/O error occurred" to every
/// later call until a restart. Now the failed commit fails only its own save, as `Full`,
/// and the same backend saves and loads again once the disk has room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_only_the_writes_and_the_same_backend_saves_again_once_there_is_room() {
    let Some(disk) = testing::SmallDisk::mount(4 << 20) else { return };
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![0u8; 1 << 20]).unwrap();
    let backend = RedbBackend::builder().cache_bytes(16 << 20).open(disk.path().join("sessions.redb")).unwrap();
    let reader = testing::random_key();
    assert!(backend.create(&reader, &one_field("vuser", b"ada"), TTL).await.unwrap());

    let written = fill(&backend, 200).await;
    assert!(!written.is_empty(), "the disk took writes before it was full");
    // Later writes are refused as Full too, at once, while the disk is full.
    for _ in 0..5 {
        let refused = backend.create(&testing::random_key(), &one_field("vflash", &[b'x'; 64 << 10]), TTL).await;
        assert!(matches!(refused, Err(BackendError::Full(_))), "{refused:?}");
    }
    // While the disk is full redb may refuse reads on the failed handle
    // too: an outage for that moment, never a lost or wrong session.
    let read = backend.load(&reader).await;
    assert!(matches!(&read, Ok(Some(_)) | Err(BackendError::Unavailable(_))), "{read:?}");

    // Room again: no restart, the same backend.
    std::fs::remove_file(&filler).unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let key = testing::random_key();
    assert!(backend.create(&key, &one_field("vname", b"bob"), TTL).await.unwrap(), "writes work again");
    assert_eq!(backend.load(&key).await.unwrap().map(|s| s.fields), Some(one_field("vname", b"bob")));
    assert_eq!(backend.load(&reader).await.unwrap().map(|s| s.fields), Some(one_field("vuser", b"ada")));
    for key in &written {
        assert!(backend.load(key).await.unwrap().is_some(), "a save acknowledged before the failure is kept");
    }
    // Deleting sessions (while there is room to commit the delete) makes
    // room for more.
    for key in &written {
        backend.delete(key).await.unwrap();
    }
    assert!(!fill(&backend, 200).await.is_empty(), "deleting made room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_of_a_poisoned_file_brings_it_back_without_any_save() {
    let Some(disk) = testing::SmallDisk::mount(4 << 20) else { return };
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![0u8; 1 << 20]).unwrap();
    // A cache too small to hold what was written: reads go to the file.
    let backend = RedbBackend::builder().cache_bytes(64 << 10).open(disk.path().join("sessions.redb")).unwrap();
    let written = fill(&backend, 200).await;
    std::fs::remove_file(&filler).unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    for key in &written {
        loop {
            match backend.load(key).await {
                Ok(found) => {
                    assert!(found.is_some());
                    break;
                }
                Err(err) => assert!(std::time::Instant::now() < deadline, "reads never came back: {err}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_bytes_and_max_entries_bound_the_file_with_full_and_write_nothing() {
    let dir = TempDir::new("bounds");
    let backend = RedbBackend::builder().max_bytes(1 << 20).open(dir.file()).unwrap();
    let written = fill(&backend, 100).await;
    assert_eq!(written.len(), 15, "16 sessions of 64 KiB and their keys are over 1 MiB");
    assert_eq!(backend.entries().await.unwrap(), 15, "the refused session wrote nothing");
    // A session that does not grow is still saved; one that grows is not.
    let same = Patch { set: one_field("vflash", &[b'y'; 64 << 10]), ..Patch::default() };
    assert!(backend.update(&written[0], &same, TTL).await.unwrap());
    let grow = Patch { set: one_field("vmore", &[b'y'; 64 << 10]), ..Patch::default() };
    assert!(matches!(backend.update(&written[0], &grow, TTL).await, Err(BackendError::Full(_))));
    assert!(backend.touch(&written[1], TTL).await.unwrap());
    backend.delete(&written[2]).await.unwrap();
    assert!(backend.create(&testing::random_key(), &one_field("vflash", &[b'x'; 64 << 10]), TTL).await.unwrap());
    // The count survives reopening the file.
    drop(backend);
    let backend = RedbBackend::builder().max_bytes(1 << 20).max_entries(20).open(dir.file()).unwrap();
    assert!(fill(&backend, 10).await.is_empty(), "still full after reopening");

    let dir = TempDir::new("entries");
    let backend = RedbBackend::builder().max_entries(3).open(dir.file()).unwrap();
    for _ in 0..3 {
        assert!(backend.create(&testing::random_key(), &one_field("v", b"1"), TTL).await.unwrap());
    }
    let refused = backend.create(&testing::random_key(), &one_field("v", b"1"), TTL).await;
    assert!(matches!(refused, Err(BackendError::Full(_))), "{refused:?}");
}
