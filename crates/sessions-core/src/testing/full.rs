//! A store filled by one client while another keeps reading: what a
//! really full backend (a Redis at `maxmemory`, a database on a full disk)
//! must still do.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Backend, Breaker, BreakerConfig, BreakerState};
use crate::store::Store;
use crate::{Key, KeyRing, ServerStore, StoreConfig};

/// What [`reader_outlasts_a_full_store`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FullStoreRun {
    /// The attacker's writes the store took before it was full.
    pub accepted: usize,
    /// The attacker's writes refused as `Full`.
    pub refused: usize,
    /// The reader's requests, every one served.
    pub reads: usize,
}

/// Writes the attacker goes on making once the store is full, each
/// followed by a read of the logged-in user.
const AFTER_FULL: usize = 20;

/// A logged-in user keeps loading (and refreshing) its session while
/// another client fills `backend` with new sessions of `value_bytes` each,
/// through a [`ServerStore`] on a [`Breaker`] (as the demos build it).
///
/// Panics unless: the store refuses an attacker's write as `Full` within
/// `max_writes` writes; every write is either taken or refused as `Full`
/// (never another error); the reader's every load finds its user and its
/// every save succeeds (its idle refresh is due on each read); and the
/// breaker stays closed throughout. After the store is full the attacker
/// writes 20 more times, with a read after each.
///
/// ```no_run
/// # async fn demo(backend: std::sync::Arc<dyn sessions_core::backend::Backend>) {
/// let run = sessions_core::testing::reader_outlasts_a_full_store(backend, 64 * 1024, 1000).await;
/// assert!(run.refused > 0);
/// # }
/// ```
pub async fn reader_outlasts_a_full_store(
    backend: Arc<dyn Backend>,
    value_bytes: usize,
    max_writes: usize,
) -> FullStoreRun {
    let breaker = Arc::new(Breaker::new(backend, BreakerConfig::default()));
    // An idle timeout of 4 s makes the refresh due on every read: a read
    // writes (a touch), as it does in an application.
    let config = StoreConfig::new("id", KeyRing::from(Key::generate()))
        .lifetime(crate::BrowserSession::new().idle_timeout(Some(Duration::from_secs(4))));
    let store = ServerStore::new(config, Arc::clone(&breaker) as Arc<dyn Backend>).expect("a valid configuration");

    let reader = store.load(&[]).await.expect("a fresh session");
    reader.insert("user", "ada").expect("a string encodes");
    let header = store.save(&reader).await.expect("the reader logs in").expect("a new session sets its cookie");
    let cookie = header.split(';').next().and_then(|pair| pair.split_once('=')).map(|(_, v)| v.to_owned()).unwrap();

    let value = "x".repeat(value_bytes);
    let mut run = FullStoreRun { accepted: 0, refused: 0, reads: 0 };
    while run.accepted + run.refused < max_writes && run.refused < AFTER_FULL {
        let attacker = store.load(&[]).await.expect("a fresh session loads without the store");
        attacker.insert("flash", &value).expect("a string encodes");
        match store.save(&attacker).await {
            Ok(_) => run.accepted += 1,
            Err(err) if err.is_full() => run.refused += 1,
            Err(err) => panic!("write {} failed as something other than Full: {err}", run.accepted + run.refused + 1),
        }
        let session = store.load(&[&cookie]).await.unwrap_or_else(|err| panic!("the reader's load failed: {err}"));
        assert_eq!(
            session.get::<String>("user").expect("the value decodes").as_deref(),
            Some("ada"),
            "the reader lost its session after {} refused writes",
            run.refused
        );
        store.save(&session).await.unwrap_or_else(|err| panic!("the reader's request failed: {err}"));
        run.reads += 1;
        assert_eq!(breaker.state(), BreakerState::Closed, "a full store opened the breaker");
    }
    assert!(run.refused > 0, "{max_writes} writes of {value_bytes} bytes never filled the store");
    run
}

/// A small tmpfs this test mounts in a temporary directory, to fill a disk
/// for real; unmounted and removed when dropped. Needs the right to mount
/// (root in a CI container).
///
/// ```no_run
/// use sessions_core::testing::SmallDisk;
///
/// let Some(disk) = SmallDisk::mount(4 << 20) else { return }; // skipped, with a message
/// let file = disk.path().join("sessions.db");
/// # let _ = file;
/// ```
#[derive(Debug)]
pub struct SmallDisk {
    dir: std::path::PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` (rounded up to whole pages by the
    /// kernel). When mounting is refused (no privilege, no `mount`), prints
    /// `skipped: ...` and returns `None`; under `CI=true` it panics instead,
    /// so CI never skips a full-disk test silently.
    pub fn mount(bytes: u64) -> Option<SmallDisk> {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).expect("OS RNG");
        let dir = std::env::temp_dir().join(format!("sessions-small-disk-{}", crate::hex::encode(&nonce)));
        std::fs::create_dir_all(&dir).expect("create a mount point");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes},mode=0700"), "tmpfs"])
            .arg(&dir)
            .stderr(std::process::Stdio::piped())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(SmallDisk { dir }),
            other => {
                let _ = std::fs::remove_dir(&dir);
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                    Err(err) => err.to_string(),
                };
                assert!(!super::ci_requires_services(), "cannot mount a tmpfs ({why}), and CI=true");
                eprintln!("skipped: cannot mount a tmpfs for a full-disk test: {why}");
                None
            }
        }
    }

    /// The mounted directory.
    pub fn path(&self) -> &std::path::Path {
        &self.dir
    }

    /// Writes a file of zeros until the disk is full; returns its path, so
    /// that removing it frees the room again.
    pub fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut file = std::fs::File::create(&path).expect("create the filler file");
        let chunk = [0u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily: a backend still holding a file open must not keep the
        // mount (and the test's memory) alive.
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}
