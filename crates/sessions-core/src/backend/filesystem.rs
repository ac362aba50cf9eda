//! One file per session in a directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::{Backend, BackendError, Patch, RecordLimit, StorageKey, Stored, Sweep, Sweeper};
use crate::backend::record::{self, DEFAULT_MAX_RECORD_BYTES, Fields};
use crate::clock::{self, Clock};

const SUFFIX: &str = ".session";
const TEMP_SUFFIX: &str = ".tmp";
/// Operations on one session are serialized by one of these locks, chosen
/// by the key's first byte: enough to keep unrelated sessions apart.
const STRIPES: usize = 64;
/// First byte of every session file: the layout of the rest, so a later
/// layout can be told apart instead of misread.
const FILE_V1: u8 = 1;
/// The version byte and the expiry in front of the record.
const HEADER: usize = 1 + 8;

/// Sessions as files in one directory: `<storage key>.session`, written to a
/// temporary file and renamed into place, so a crash at any moment leaves
/// each session either as it was or as it was saved, never torn.
///
/// File names come only from [`StorageKey`]s (64 hex digits), never from
/// client input, so no request can name a path outside the directory.
/// Files are created with mode `0600` on Unix. Concurrent saves of one
/// session are serialized within this process; several processes sharing a
/// directory may lose each other's concurrent writes to one session.
///
/// Bounds:
/// - Records: at most
///   [`max_record_bytes`](FilesystemBackendBuilder::max_record_bytes) of
///   [`record::encoded_len`] (default 1 MiB). A larger `create`, or an
///   `update` whose result would be larger, fails with
///   [`BackendError::TooLarge`] and writes nothing.
/// - Reads stop at the same bound: a file longer than a record under the
///   limit can be, or one that does not parse (truncated, foreign, an older
///   file layout), is not a session. It is removed and reported with a
///   `tracing` warning, and the key loads as absent, so the request gets a
///   fresh session instead of failing until the file expires. Lowering the
///   limit therefore discards larger records as they are next read.
/// - Optionally the whole directory:
///   [`max_entries`](FilesystemBackendBuilder::max_entries) session files
///   and [`max_bytes`](FilesystemBackendBuilder::max_bytes) bytes of them. When
///   a `create` (or an `update` that grows a file) would go over, it fails
///   with [`BackendError::Full`] and writes nothing: this backend never
///   evicts a live session to make room. Expired files count until a
///   sweep ([`Sweep::sweep_expired`], or the [`Sweeper`] that
///   [`spawn_sweeper`](Self::spawn_sweeper) starts) removes them.
///
/// ```no_run
/// use sessions_core::backend::FilesystemBackend;
///
/// let backend = FilesystemBackend::builder()
///     .max_record_bytes(256 * 1024)
///     .max_entries(100_000)
///     .max_bytes(1 << 30)
///     .open("/var/lib/myapp/sessions")?;
/// # Ok::<(), sessions_core::BackendError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FilesystemBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    locks: Vec<Mutex<()>>,
    settings: Settings,
    /// Files and bytes in the directory, counted on first need and then
    /// kept by this process's own writes; `None` until counted. Only kept
    /// when a cap is configured.
    usage: Mutex<Option<Usage>>,
}

#[derive(Debug, Clone)]
struct Settings {
    clock: Arc<dyn Clock>,
    durable: bool,
    max_record_bytes: usize,
    max_entries: Option<u64>,
    max_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    files: u64,
    bytes: u64,
}

/// What a key's file holds.
enum Found {
    /// No file.
    Absent,
    /// A file whose expiry has passed, `len` bytes long.
    Expired { len: u64 },
    /// A live record.
    Live { expires: u64, fields: Fields, len: u64 },
    /// A file that is not a record this backend would write.
    Unreadable { len: u64, error: BackendError },
}

/// Configures a [`FilesystemBackend`]; [`open`](Self::open) builds it.
///
/// ```no_run
/// use sessions_core::backend::FilesystemBackend;
///
/// let backend = FilesystemBackend::builder()
///     .durable(true)
///     .max_record_bytes(256 * 1024)
///     .open("/var/lib/myapp/sessions")?;
/// # Ok::<(), sessions_core::BackendError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FilesystemBackendBuilder {
    settings: Settings,
}

impl FilesystemBackendBuilder {
    /// The clock that decides expiry (tests use a manual one).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.settings.clock = clock;
        self
    }

    /// Also `fsync` each file before renaming it, so a saved session
    /// survives a power loss, at the cost of a disk flush per save
    /// (default off).
    pub fn durable(mut self, durable: bool) -> Self {
        self.settings.durable = durable;
        self
    }

    /// The largest record stored, in bytes of [`record::encoded_len`]
    /// (default [`DEFAULT_MAX_RECORD_BYTES`], 1 MiB). Larger saves fail
    /// with [`BackendError::TooLarge`]; files larger than such a record are
    /// removed when read.
    pub fn max_record_bytes(mut self, limit: usize) -> Self {
        self.settings.max_record_bytes = limit;
        self
    }

    /// The most session files in the directory (default: no cap). A
    /// `create` beyond it fails with [`BackendError::Full`].
    pub fn max_entries(mut self, files: u64) -> Self {
        self.settings.max_entries = Some(files);
        self
    }

    /// The most bytes of session files in the directory (default: no cap).
    /// A `create`, or an `update` that grows a file, beyond it fails with
    /// [`BackendError::Full`].
    ///
    /// The directory is counted once, on the first write that needs the
    /// count, and then kept by this process's writes and sweeps; with
    /// several processes sharing a directory each one's cap also counts
    /// what the others had written when it looked, not what they write
    /// after.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.settings.max_bytes = Some(bytes);
        self
    }

    /// Builds the backend on `dir`, creating it (mode `0700` on Unix) if
    /// needed.
    pub fn open(self, dir: impl Into<PathBuf>) -> Result<FilesystemBackend, BackendError> {
        let dir = dir.into();
        create_dir(&dir).map_err(BackendError::unavailable)?;
        Ok(FilesystemBackend { inner: Arc::new(Inner::new(dir, self.settings)) })
    }
}

impl FilesystemBackend {
    /// Uses `dir` with the default settings, creating it (mode `0700` on
    /// Unix) if needed; [`builder`](Self::builder) configures more.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, BackendError> {
        Self::builder().open(dir)
    }

    /// Configures a backend.
    pub fn builder() -> FilesystemBackendBuilder {
        FilesystemBackendBuilder {
            settings: Settings {
                clock: clock::system(),
                durable: false,
                max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
                max_entries: None,
                max_bytes: None,
            },
        }
    }

    /// The directory holding the sessions.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Starts a [`Sweeper`] that runs [`Sweep::sweep_expired`] at once and
    /// then every `every` on the current tokio runtime. Sweeping stops when
    /// the returned handle is dropped (or never, after
    /// [`Sweeper::detach`]).
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime, like `tokio::spawn`.
    pub fn spawn_sweeper(&self, every: Duration) -> Sweeper {
        Sweeper::spawn(self.clone(), every)
    }

    async fn run<T: Send + 'static>(
        &self,
        key: &StorageKey,
        op: impl FnOnce(&Inner, &Path) -> Result<T, BackendError> + Send + 'static,
    ) -> Result<T, BackendError> {
        let inner = Arc::clone(&self.inner);
        let key = key.clone();
        blocking(move || {
            let _guard = inner.lock(&key);
            let path = inner.path(&key);
            op(&inner, &path)
        })
        .await
    }

    fn check_size(&self, fields: &Fields) -> Result<usize, BackendError> {
        self.inner.check_size(fields)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BackendError> + Send + 'static,
) -> Result<T, BackendError> {
    tokio::task::spawn_blocking(f).await.map_err(BackendError::unavailable)?
}

/// An I/O failure as a backend error: a disk or quota with no room left
/// refused the write ([`BackendError::Full`]: reads go on, and the room
/// comes back as sessions end), anything else is an outage.
fn unavailable(err: io::Error) -> BackendError {
    match err.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            BackendError::Full(format!("no room left for the session directory: {err}"))
        }
        _ => BackendError::unavailable(err),
    }
}

impl Inner {
    fn new(dir: PathBuf, settings: Settings) -> Inner {
        Inner { dir, locks: (0..STRIPES).map(|_| Mutex::new(())).collect(), settings, usage: Mutex::new(None) }
    }

    fn lock(&self, key: &StorageKey) -> std::sync::MutexGuard<'_, ()> {
        self.locks[usize::from(key.as_bytes()[0]) % STRIPES].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn path(&self, key: &StorageKey) -> PathBuf {
        self.dir.join(format!("{}{SUFFIX}", key.as_str()))
    }

    fn now(&self) -> u64 {
        self.settings.clock.now()
    }

    /// The record's encoded size, or `TooLarge` when over the limit.
    fn check_size(&self, fields: &Fields) -> Result<usize, BackendError> {
        RecordLimit::new(self.settings.max_record_bytes).check(fields)
    }

    /// What the file at `path` holds. Never reads more than the longest
    /// file a record under the limit makes.
    fn read(&self, path: &Path) -> io::Result<Found> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Found::Absent),
            Err(err) => return Err(err),
        };
        let len = file.metadata()?.len();
        let corrupt = |what: String| Ok(Found::Unreadable { len, error: BackendError::Corrupt(what) });
        let longest = HEADER.saturating_add(self.settings.max_record_bytes);
        if len > longest as u64 {
            return corrupt(format!(
                "session file of {len} bytes is longer than a record under the limit can be ({longest} bytes)"
            ));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        // Files are only ever replaced by a rename, never grown in place;
        // the bound is for a file that is not ours.
        Read::by_ref(&mut file).take(longest as u64).read_to_end(&mut bytes)?;
        let Some((&version, rest)) = bytes.split_first() else { return corrupt("empty session file".into()) };
        if version != FILE_V1 {
            return corrupt(format!("session file layout {version} is not one this version writes"));
        }
        let Some((expires, record)) = rest.split_first_chunk::<8>() else {
            return corrupt("session file shorter than its header".into());
        };
        let expires = u64::from_le_bytes(*expires);
        if self.now() >= expires {
            return Ok(Found::Expired { len });
        }
        match record::decode(record) {
            Ok(fields) => Ok(Found::Live { expires, fields, len }),
            Err(error) => Ok(Found::Unreadable { len, error }),
        }
    }

    /// Removes a file that is not a record, so it cannot fail every request
    /// naming it until it would have expired; the key is then absent.
    fn discard(&self, path: &Path, len: u64, error: &BackendError) -> Result<(), BackendError> {
        tracing::warn!(%error, "unreadable session file removed; its session starts afresh");
        self.remove(path, len)
    }

    fn remove(&self, path: &Path, len: u64) -> Result<(), BackendError> {
        match fs::remove_file(path) {
            Ok(()) => {
                self.account(-1, -i128::from(len));
                Ok(())
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(unavailable(err)),
        }
    }

    fn capped(&self) -> bool {
        self.settings.max_entries.is_some() || self.settings.max_bytes.is_some()
    }

    /// Reserves room for `files` more files and `bytes` more bytes, or
    /// fails with `Full`. Shrinking always succeeds.
    fn reserve(&self, files: i64, bytes: i128) -> Result<(), BackendError> {
        if !self.capped() {
            return Ok(());
        }
        let mut usage = self.usage.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let counted = match *usage {
            Some(counted) => counted,
            None => *usage.insert(self.count()?),
        };
        let next = apply(counted, files, bytes);
        if let Some(max) = self.settings.max_entries.filter(|&max| files > 0 && next.files > max) {
            return Err(BackendError::Full(format!("the session directory holds its maximum of {max} files")));
        }
        if let Some(max) = self.settings.max_bytes.filter(|&max| bytes > 0 && next.bytes > max) {
            return Err(BackendError::Full(format!(
                "the session directory would hold {} bytes, over its maximum of {max}",
                next.bytes
            )));
        }
        *usage = Some(next);
        Ok(())
    }

    /// Adjusts the counts after a change that needs no room.
    fn account(&self, files: i64, bytes: i128) {
        if !self.capped() {
            return;
        }
        let mut usage = self.usage.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(counted) = usage.as_mut() {
            *counted = apply(*counted, files, bytes);
        }
    }

    /// Counts the session files in the directory and their bytes.
    fn count(&self) -> Result<Usage, BackendError> {
        let mut usage = Usage::default();
        for entry in fs::read_dir(&self.dir).map_err(unavailable)? {
            let entry = entry.map_err(unavailable)?;
            let name = entry.file_name();
            if name.to_str().is_some_and(|name| name.ends_with(SUFFIX)) {
                let len = entry.metadata().map_or(0, |m| m.len());
                usage = apply(usage, 1, i128::from(len));
            }
        }
        Ok(usage)
    }

    /// Writes `fields` over whatever the file at `path` holds (`old_len`
    /// bytes, if there is a file) within the caps.
    fn store(&self, path: &Path, fields: &Fields, ttl: Duration, old: Option<u64>) -> Result<(), BackendError> {
        let new_len = (HEADER + self.check_size(fields)?) as u64;
        let files = if old.is_some() { 0 } else { 1 };
        let grown = i128::from(new_len) - i128::from(old.unwrap_or(0));
        self.reserve(files, grown)?;
        if let Err(err) = self.write(path, fields, ttl) {
            self.account(-files, -grown);
            return Err(unavailable(err));
        }
        Ok(())
    }

    /// Writes atomically: a temporary file in the same directory, renamed.
    fn write(&self, path: &Path, fields: &Fields, ttl: Duration) -> io::Result<()> {
        let expires = self.now().saturating_add(ttl.as_secs());
        let mut bytes = Vec::with_capacity(HEADER + record::encoded_len(fields));
        bytes.push(FILE_V1);
        bytes.extend_from_slice(&expires.to_le_bytes());
        bytes.extend_from_slice(&record::encode(fields));
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(io::Error::other)?;
        let temp = path.with_extension(format!("{}{TEMP_SUFFIX}", crate::hex::encode(&nonce)));
        let result = (|| {
            let mut file = new_file(&temp)?;
            file.write_all(&bytes)?;
            if self.settings.durable {
                file.sync_all()?;
            }
            fs::rename(&temp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// The live record at `path`, if any; a file that is not one is removed.
    fn live(&self, path: &Path) -> Result<Option<(u64, Fields, u64)>, BackendError> {
        match self.read(path).map_err(unavailable)? {
            Found::Live { expires, fields, len } => Ok(Some((expires, fields, len))),
            Found::Absent | Found::Expired { .. } => Ok(None),
            Found::Unreadable { len, error } => {
                self.discard(path, len, &error)?;
                Ok(None)
            }
        }
    }

    fn sweep(&self) -> Result<u64, BackendError> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir).map_err(unavailable)? {
            let entry = entry.map_err(unavailable)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(TEMP_SUFFIX) {
                // Temporary files live for microseconds; an old one is debris.
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > Duration::from_secs(3600)));
                if old && fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
                continue;
            }
            let Some(key) = name.strip_suffix(SUFFIX).and_then(StorageKey::parse) else { continue };
            let _guard = self.lock(&key);
            let path = self.path(&key);
            let len = match self.read(&path) {
                Ok(Found::Live { .. } | Found::Absent) => continue,
                Ok(Found::Expired { len } | Found::Unreadable { len, .. }) => len,
                Err(_) => entry.metadata().map_or(0, |m| m.len()),
            };
            if fs::remove_file(&path).is_ok() {
                self.account(-1, -i128::from(len));
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn apply(usage: Usage, files: i64, bytes: i128) -> Usage {
    let files = (i128::from(usage.files) + i128::from(files)).clamp(0, i128::from(u64::MAX));
    let bytes = (i128::from(usage.bytes) + bytes).clamp(0, i128::from(u64::MAX));
    Usage { files: u64::try_from(files).unwrap_or(u64::MAX), bytes: u64::try_from(bytes).unwrap_or(u64::MAX) }
}

#[cfg(unix)]
fn new_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn new_file(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
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

/// Deletes expired session files and temporary files left by a crash;
/// counts every file removed.
#[async_trait]
impl Sweep for FilesystemBackend {
    async fn sweep_expired(&self) -> Result<u64, BackendError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.sweep()).await
    }
}

#[async_trait]
impl Backend for FilesystemBackend {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let found = self.run(key, |inner, path| inner.live(path)).await?;
        let now = self.inner.now();
        Ok(found
            .map(|(expires, fields, _)| Stored::new(fields, Some(Duration::from_secs(expires.saturating_sub(now))))))
    }

    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        self.check_size(fields)?;
        let fields = fields.clone();
        self.run(key, move |inner, path| {
            let old = match inner.read(path).map_err(unavailable)? {
                Found::Live { .. } => return Ok(false),
                Found::Absent => None,
                Found::Expired { len } => Some(len),
                Found::Unreadable { len, error } => {
                    inner.discard(path, len, &error)?;
                    None
                }
            };
            inner.store(path, &fields, ttl, old)?;
            Ok(true)
        })
        .await
    }

    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        let patch = patch.clone();
        self.run(key, move |inner, path| {
            let Some((_, mut fields, len)) = inner.live(path)? else {
                return Ok(false);
            };
            patch.apply(&mut fields);
            inner.store(path, &fields, ttl, Some(len))?;
            Ok(true)
        })
        .await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        self.run(key, |inner, path| match fs::metadata(path) {
            Ok(meta) => inner.remove(path, meta.len()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(unavailable(err)),
        })
        .await
    }

    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let found = self
            .run(key, |inner, path| {
                let found = inner.live(path)?;
                if let Some((_, _, len)) = &found {
                    inner.remove(path, *len)?;
                }
                Ok(found)
            })
            .await?;
        let now = self.inner.now();
        Ok(found
            .map(|(expires, fields, _)| Stored::new(fields, Some(Duration::from_secs(expires.saturating_sub(now))))))
    }

    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        self.run(key, move |inner, path| {
            let Some((_, fields, len)) = inner.live(path)? else {
                return Ok(false);
            };
            inner.store(path, &fields, ttl, Some(len))?;
            Ok(true)
        })
        .await
    }
}
