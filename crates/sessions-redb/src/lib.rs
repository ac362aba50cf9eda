//! Durable server-side sessions in one file, on [redb](https://www.redb.org),
//! with nothing to install or run beside the application.
//!
//! [`RedbBackend`] implements [`sessions_core::Backend`]: plug it into a
//! [`ServerStore`](sessions_core::ServerStore). Every save is a redb
//! transaction, on disk (`fsync`ed) before it is acknowledged, so a crash or
//! a killed process keeps every session it saved. Saves that arrive while a
//! commit is running are committed together in the next one, so concurrent
//! requests share the cost of the disk flush.
//!
//! One process owns the file at a time (redb locks it). Several app
//! processes that must share sessions need a network store (Redis, SQL) or
//! the filesystem backend on a shared directory.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use sessions_core::{Key, KeyRing, ServerStore, StoreConfig};
//! use sessions_redb::RedbBackend;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! # let dir = std::env::temp_dir().join(format!("sessions-redb-doc-crate-{}", std::process::id()));
//! let backend = RedbBackend::open(dir.join("sessions.redb"))?;
//! let _sweeper = backend.spawn_sweeper(Duration::from_secs(300));
//! let config = StoreConfig::new("id", KeyRing::from(Key::generate()));
//! let store = ServerStore::new(config, Arc::new(backend))?;
//! # drop((store, _sweeper));
//! # std::fs::remove_dir_all(dir).unwrap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs)]

mod error;
mod layout;
mod sweep;
mod writer;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTableMetadata};
use sessions_core::backend::record::{DEFAULT_MAX_RECORD_BYTES, Fields};
use sessions_core::backend::{Backend, BackendError, Patch, RecordLimit, StorageKey, Stored};
use sessions_core::clock::{Clock, SystemClock};

pub use error::Error;
pub use sessions_core::backend::Sweeper;

use layout::{Bounds, EXPIRY, Found, SESSIONS};
use writer::{Shared, Writer};

/// A [`Backend`] on one redb file: durable sessions with no service to run.
///
/// Use it for a single application process that must keep its sessions
/// across restarts and crashes: an acknowledged save is on disk. Build it
/// with [`RedbBackend::open`] or configure it with [`RedbBackend::builder`].
/// It is cheap to clone; clones share the file, which is closed when the
/// last clone (and its [`Sweeper`]) is dropped.
///
/// How it stores sessions (see `docs/wire-format.md`):
/// - a table from storage key to `version || expiry || record`, and an
///   index of (expiry, storage key), so a sweep reads only what expired;
/// - expiry is checked on every read, against the backend's clock: an
///   expired session never loads, whether swept yet or not;
/// - reads run on tokio's blocking pool, each in its own read transaction,
///   in parallel with each other and with writes; writes go to one writer
///   thread that commits whatever is queued in one transaction.
///
/// Bounds:
/// - Records: at most [`max_record_bytes`](RedbBackendBuilder::max_record_bytes)
///   of [`record::encoded_len`](sessions_core::backend::record::encoded_len)
///   (default 1 MiB). A larger `create`, or an `update` whose result would
///   be larger, fails with
///   [`BackendError::TooLarge`] and writes nothing. An entry that is larger
///   (written under a higher limit) or does not parse is removed when read,
///   with a warning, and its session starts afresh.
/// - Optionally the whole file: [`max_entries`](RedbBackendBuilder::max_entries)
///   sessions and [`max_bytes`](RedbBackendBuilder::max_bytes) bytes of
///   them. A `create`, or an `update` that grows a session, beyond either
///   fails with [`BackendError::Full`] and writes nothing; it never evicts
///   a live session. Expired sessions count until a sweep removes them.
///
/// A full disk: a commit that fails for lack of room (`ENOSPC`, `EDQUOT`)
/// fails its own saves with [`BackendError::Full`]. redb then refuses
/// every later write on that handle, so the backend reopens the file in
/// place once the disk has room again (checked at most every 100 ms, when
/// a save comes or a read fails), which returns it to its last commit; no
/// restart is needed. Until then redb may refuse reads on the failed
/// handle as well (measured: it does); they fail as `Unavailable`.
///
/// ```
/// use std::time::Duration;
/// use sessions_redb::RedbBackend;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("sessions-redb-doc-type-{}", std::process::id()));
/// let backend = RedbBackend::builder()
///     .max_record_bytes(256 * 1024)
///     .cache_bytes(32 << 20)
///     .open(dir.join("sessions.redb"))?;
/// let sweeper = backend.spawn_sweeper(Duration::from_secs(300));
/// # drop((sweeper, backend));
/// # std::fs::remove_dir_all(dir).unwrap();
/// # Ok::<(), sessions_redb::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct RedbBackend {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    shared: Arc<Shared>,
    writer: Writer,
    clock: Arc<dyn Clock>,
    limit: RecordLimit,
}

impl fmt::Debug for RedbBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbBackend")
            .field("path", &self.inner.path)
            .field("max_record_bytes", &self.inner.limit.max_bytes())
            .finish_non_exhaustive()
    }
}

/// Configures a [`RedbBackend`] before opening its file.
///
/// ```
/// use std::sync::Arc;
/// use sessions_core::clock::ManualClock;
/// use sessions_redb::RedbBackend;
///
/// # let dir = std::env::temp_dir().join(format!("sessions-redb-doc-builder-{}", std::process::id()));
/// let clock = ManualClock::new(1_000_000);
/// let backend = RedbBackend::builder().clock(Arc::new(clock)).open(dir.join("test.redb"))?;
/// # drop(backend);
/// # std::fs::remove_dir_all(dir).unwrap();
/// # Ok::<(), sessions_redb::Error>(())
/// ```
#[derive(Debug)]
pub struct RedbBackendBuilder {
    max_record_bytes: usize,
    cache_bytes: usize,
    clock: Arc<dyn Clock>,
    lock_timeout: Duration,
    bounds: Bounds,
}

impl RedbBackendBuilder {
    /// The most sessions the file holds (default: no bound). A `create`
    /// beyond it fails with [`BackendError::Full`].
    pub fn max_entries(mut self, sessions: u64) -> Self {
        self.bounds.max_entries = Some(sessions);
        self
    }

    /// The most bytes of sessions the file holds, counting each session's
    /// key and stored entry (default: no bound). A `create`, or an
    /// `update` that grows a session, beyond it fails with
    /// [`BackendError::Full`].
    ///
    /// The file itself is larger than what it holds: redb keeps sessions
    /// in B-tree pages, allocates large values in power-of-two runs of
    /// pages and writes each commit beside the one before, and the file
    /// does not shrink when sessions go (their pages are reused). Leave
    /// the disk a good margin above this bound.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.bounds.max_bytes = Some(bytes);
        self
    }

    /// The largest record stored, in bytes of
    /// [`sessions_core::backend::record::encoded_len`] (default 1 MiB). Larger saves
    /// fail with [`BackendError::TooLarge`]; larger stored entries are
    /// removed when read.
    pub fn max_record_bytes(mut self, limit: usize) -> Self {
        self.max_record_bytes = limit;
        self
    }

    /// Memory redb may use to cache pages of the file (default 64 MiB;
    /// redb's own default is 1 GiB).
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// The clock that decides expiry (tests use a manual one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long [`open`](Self::open) waits for another owner of the file
    /// to close it, such as the previous instance of a server restarting
    /// in the same process, before failing with [`Error::AlreadyOpen`]
    /// (default 2 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Opens the file at `path`, creating it (mode `0600` on Unix, and its
    /// directory, `0700`) if it does not exist.
    ///
    /// Blocking: it reads the file's header and, after a crash, checks and
    /// repairs the file, which takes time in proportion to its size. Open
    /// before serving requests, or inside `spawn_blocking`.
    pub fn open(self, path: impl AsRef<Path>) -> Result<RedbBackend, Error> {
        let path = path.as_ref().to_owned();
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            create_dir(dir).map_err(|e| Error::open(&path, e))?;
        }
        let (cache_bytes, lock_timeout) = (self.cache_bytes, self.lock_timeout);
        let opener = {
            let path = path.clone();
            move || open_database(&path, cache_bytes, lock_timeout)
        };
        let db = opener()?;
        let usage = writer::count(&db).map_err(|e| Error::open(&path, e))?;
        let shared = Arc::new(Shared::new(db, Box::new(opener), path.clone()));
        let writer = Writer::start(Arc::clone(&shared), usage, self.bounds).map_err(|e| Error::open(&path, e))?;
        Ok(RedbBackend {
            inner: Arc::new(Inner {
                path,
                shared,
                writer,
                clock: self.clock,
                limit: RecordLimit::new(self.max_record_bytes),
            }),
        })
    }
}

/// Opens the database at `path`, waiting up to `lock_timeout` for another
/// owner to close it, and makes sure both tables exist.
fn open_database(path: &Path, cache_bytes: usize, lock_timeout: Duration) -> Result<Database, Error> {
    let deadline = std::time::Instant::now() + lock_timeout;
    let db = loop {
        let file = open_file(path).map_err(|e| Error::open(path, e))?;
        match redb::Builder::new().set_cache_size(cache_bytes).create_file(file) {
            Ok(db) => break db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(Error::AlreadyOpen { path: path.to_owned() }),
            Err(other) => return Err(Error::open(path, other)),
        }
    };
    // Both tables exist from the start, so a read never meets a missing
    // table; on an existing file this checks their types.
    let created = (|| {
        let txn = db.begin_write()?;
        txn.open_table(SESSIONS)?;
        txn.open_table(EXPIRY)?;
        txn.commit()?;
        Ok::<(), redb::Error>(())
    })();
    created.map_err(|e| Error::open(path, e))?;
    Ok(db)
}

#[cfg(unix)]
fn open_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn open_file(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)
}

#[cfg(unix)]
fn create_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

impl RedbBackend {
    /// Configures a backend (record limit, cache size, clock).
    pub fn builder() -> RedbBackendBuilder {
        RedbBackendBuilder {
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            cache_bytes: 64 << 20,
            clock: Arc::new(SystemClock),
            lock_timeout: Duration::from_secs(2),
            bounds: Bounds::default(),
        }
    }

    /// Opens (or creates) the file at `path` with the default settings; see
    /// [`RedbBackendBuilder::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<RedbBackend, Error> {
        Self::builder().open(path)
    }

    /// The file holding the sessions.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Entries in the file, expired ones included until a sweep removes
    /// them.
    pub async fn entries(&self) -> Result<u64, BackendError> {
        self.read(|table| Ok(table.len()?)).await
    }

    /// Starts a [`Sweeper`] that runs
    /// [`sweep_expired`](sessions_core::backend::Sweep::sweep_expired) at
    /// once and then every `every` on the current tokio runtime. Sweeping
    /// stops when the returned handle is dropped (or never, after
    /// [`Sweeper::detach`]); failures are logged and retried at the next
    /// tick.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = std::env::temp_dir().join(format!("sessions-redb-doc-sweeper-{}", std::process::id()));
    /// let backend = sessions_redb::RedbBackend::open(dir.join("sessions.redb"))?;
    /// let sweeper = backend.spawn_sweeper(std::time::Duration::from_secs(300));
    /// drop(sweeper); // stops sweeping
    /// # drop(backend);
    /// # std::fs::remove_dir_all(dir).unwrap();
    /// # Ok::<(), sessions_redb::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime, like `tokio::spawn`.
    pub fn spawn_sweeper(&self, every: Duration) -> Sweeper {
        Sweeper::spawn(self.clone(), every)
    }

    fn now(&self) -> u64 {
        self.inner.clock.now()
    }

    fn limit(&self) -> usize {
        self.inner.limit.max_bytes()
    }

    /// The expiry of a record written now with `ttl`, in whole seconds,
    /// rounded up so a short TTL is not zero.
    fn expiry(&self, now: u64, ttl: Duration) -> u64 {
        now.saturating_add(ttl.as_secs()).saturating_add(u64::from(ttl.subsec_nanos() > 0))
    }

    /// Runs `f` in a read transaction on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ReadOnlyTable<&'static [u8; 32], &'static [u8]>) -> Result<T, redb::Error> + Send + 'static,
    ) -> Result<T, BackendError> {
        let shared = Arc::clone(&self.inner.shared);
        let read = tokio::task::spawn_blocking(move || {
            let db = shared.current()?;
            let read = (|| {
                let txn = db.begin_read()?;
                let table = txn.open_table(SESSIONS)?;
                f(&table)
            })();
            read.map_err(|err| {
                shared.saw(&err);
                BackendError::unavailable(err)
            })
        });
        let result = read.await.map_err(BackendError::unavailable)?;
        if result.is_err() && self.inner.shared.poisoned() {
            // No save may come to bring the file back; ask for it.
            self.inner.writer.nudge();
        }
        result
    }

    /// Removes an entry that is not a record, if it is still the same one,
    /// so it cannot fail every request naming it; the key is then absent.
    async fn discard(&self, key: &StorageKey, error: BackendError) -> Result<(), BackendError> {
        tracing::warn!(%error, "unreadable session entry removed; its session starts afresh");
        let (key, limit) = (*key.as_bytes(), self.limit());
        let now = self.now();
        self.inner
            .writer
            .write(move |t| {
                if matches!(t.find(&key, now, limit)?, Found::Unreadable { .. }) {
                    t.remove(&key)?;
                }
                Ok(Ok(()))
            })
            .await
    }
}

fn stored(fields: Fields, expires: u64, now: u64) -> Stored {
    Stored::new(fields, Some(Duration::from_secs(expires.saturating_sub(now))))
}

#[async_trait]
impl Backend for RedbBackend {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let (k, now, limit) = (*key.as_bytes(), self.now(), self.limit());
        let found = self
            .read(move |table| Ok(layout::read(table.get(&k)?.as_ref().map(|entry| entry.value()), now, limit)))
            .await?;
        match found {
            Found::Live { expires, fields } => Ok(Some(stored(fields, expires, now))),
            Found::Absent | Found::Expired { .. } => Ok(None),
            Found::Unreadable { error, .. } => {
                self.discard(key, error).await?;
                Ok(None)
            }
        }
    }

    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        self.inner.limit.check(fields)?;
        let (k, now, limit) = (*key.as_bytes(), self.now(), self.limit());
        let expires = self.expiry(now, ttl);
        let entry = layout::entry(fields, expires);
        self.inner
            .writer
            .write(move |t| {
                let old = match t.find(&k, now, limit)? {
                    Found::Live { .. } => return Ok(Ok(false)),
                    Found::Absent => None,
                    Found::Expired { expires } => Some(expires),
                    Found::Unreadable { expires, .. } => expires,
                };
                if let Err(full) = t.room(&k, entry.len())? {
                    return Ok(Err(full));
                }
                t.put(&k, &entry, expires, old)?;
                Ok(Ok(true))
            })
            .await
    }

    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        // The record after the patch holds every field it sets.
        self.inner.limit.check(&patch.set)?;
        let (k, now, limit) = (*key.as_bytes(), self.now(), self.limit());
        let expires = self.expiry(now, ttl);
        let patch = patch.clone();
        self.inner
            .writer
            .write(move |t| {
                let (old, mut fields) = match t.find(&k, now, limit)? {
                    Found::Live { expires, fields } => (expires, fields),
                    Found::Unreadable { error, .. } => {
                        tracing::warn!(%error, "unreadable session entry removed; its session starts afresh");
                        t.remove(&k)?;
                        return Ok(Ok(false));
                    }
                    Found::Absent | Found::Expired { .. } => return Ok(Ok(false)),
                };
                patch.apply(&mut fields);
                if let Err(too_large) = RecordLimit::new(limit).check(&fields) {
                    return Ok(Err(too_large));
                }
                let entry = layout::entry(&fields, expires);
                if let Err(full) = t.room(&k, entry.len())? {
                    return Ok(Err(full));
                }
                t.put(&k, &entry, expires, Some(old))?;
                Ok(Ok(true))
            })
            .await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        let k = *key.as_bytes();
        self.inner.writer.write(move |t| t.remove(&k).map(|_| Ok(()))).await
    }

    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        let (k, now) = (*key.as_bytes(), self.now());
        let expires = self.expiry(now, ttl);
        self.inner
            .writer
            .write(move |t| {
                // Only the header changes: the record is neither decoded
                // nor re-encoded.
                let Some(mut entry) = t.raw(&k)? else { return Ok(Ok(false)) };
                match layout::expiry_of(&entry) {
                    Some(old) if now < old => {
                        entry[1..layout::HEADER].copy_from_slice(&expires.to_le_bytes());
                        t.put(&k, &entry, expires, Some(old))?;
                        Ok(Ok(true))
                    }
                    _ => Ok(Ok(false)),
                }
            })
            .await
    }

    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let (k, now, limit) = (*key.as_bytes(), self.now(), self.limit());
        self.inner
            .writer
            .write(move |t| {
                let found = t.find(&k, now, limit)?;
                if matches!(found, Found::Live { .. } | Found::Unreadable { .. }) {
                    t.remove(&k)?;
                }
                Ok(Ok(match found {
                    Found::Live { expires, fields } => Some(stored(fields, expires, now)),
                    _ => None,
                }))
            })
            .await
    }
}

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
