//! One file per session in a directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::{Backend, BackendError, Patch, StorageKey, Stored};
use crate::clock::{self, Clock};
use crate::record::{self, Fields};

const SUFFIX: &str = ".session";
const TEMP_SUFFIX: &str = ".tmp";
/// Operations on one session are serialized by one of these locks, chosen
/// by the key's first byte: enough to keep unrelated sessions apart.
const STRIPES: usize = 64;
/// Largest session file read; anything longer was not written by us.
const MAX_FILE: u64 = 16 << 20;

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
/// ```no_run
/// use sessions_core::backend::FilesystemBackend;
///
/// let backend = FilesystemBackend::new("/var/lib/myapp/sessions")?;
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
    clock: Arc<dyn Clock>,
    durable: bool,
}

impl FilesystemBackend {
    /// Uses `dir`, creating it (mode `0700` on Unix) if needed.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, BackendError> {
        let dir = dir.into();
        create_dir(&dir).map_err(BackendError::unavailable)?;
        Ok(FilesystemBackend {
            inner: Arc::new(Inner {
                dir,
                locks: (0..STRIPES).map(|_| Mutex::new(())).collect(),
                clock: clock::system(),
                durable: false,
            }),
        })
    }

    /// Replaces the clock that decides expiry (for tests).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        self.map_inner(|inner| inner.clock = clock)
    }

    /// Also `fsync` each file before renaming it, so a saved session
    /// survives a power loss, at the cost of a disk flush per save.
    pub fn durable(self, durable: bool) -> Self {
        self.map_inner(|inner| inner.durable = durable)
    }

    fn map_inner(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            dir: shared.dir.clone(),
            locks: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            clock: Arc::clone(&shared.clock),
            durable: shared.durable,
        });
        f(&mut inner);
        FilesystemBackend { inner: Arc::new(inner) }
    }

    /// The directory holding the sessions.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Deletes expired session files and temporary files left by a crash;
    /// returns how many files were removed. Run it periodically, e.g. with
    /// [`FilesystemBackend::spawn_sweeper`].
    pub async fn sweep(&self) -> Result<usize, BackendError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.sweep()).await
    }

    /// Runs [`FilesystemBackend::sweep`] every `every` on the current Tokio
    /// runtime until the returned handle is aborted.
    pub fn spawn_sweeper(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let backend = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(err) = backend.sweep().await {
                    tracing::warn!(%err, "session sweep failed");
                }
            }
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        key: &StorageKey,
        op: impl FnOnce(&Inner, &Path) -> io::Result<T> + Send + 'static,
    ) -> Result<T, BackendError> {
        let inner = Arc::clone(&self.inner);
        let key = key.clone();
        blocking(move || {
            let _guard = inner.locks[usize::from(key.as_bytes()[0]) % STRIPES]
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let path = inner.path(&key);
            op(&inner, &path).map_err(BackendError::unavailable)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BackendError> + Send + 'static,
) -> Result<T, BackendError> {
    tokio::task::spawn_blocking(f).await.map_err(BackendError::unavailable)?
}

impl Inner {
    fn path(&self, key: &StorageKey) -> PathBuf {
        self.dir.join(format!("{}{SUFFIX}", key.as_str()))
    }

    /// The live record at `path`, if any.
    fn read(&self, path: &Path) -> io::Result<Option<(u64, Fields)>> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let mut bytes = Vec::new();
        Read::by_ref(&mut file).take(MAX_FILE).read_to_end(&mut bytes)?;
        let Some((expires, record)) = bytes.split_first_chunk::<8>() else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "session file too short"));
        };
        let expires = u64::from_le_bytes(*expires);
        if self.clock.now() >= expires {
            return Ok(None);
        }
        let fields = record::decode(record).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(Some((expires, fields)))
    }

    /// Writes atomically: a temporary file in the same directory, renamed.
    fn write(&self, path: &Path, fields: &Fields, ttl: Duration) -> io::Result<()> {
        let expires = self.clock.now().saturating_add(ttl.as_secs());
        let mut bytes = expires.to_le_bytes().to_vec();
        bytes.extend_from_slice(&record::encode(fields));
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(io::Error::other)?;
        let temp = path.with_extension(format!("{}{TEMP_SUFFIX}", crate::hex::encode(&nonce)));
        let result = (|| {
            let mut file = new_file(&temp)?;
            file.write_all(&bytes)?;
            if self.durable {
                file.sync_all()?;
            }
            fs::rename(&temp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    fn sweep(&self) -> Result<usize, BackendError> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir).map_err(BackendError::unavailable)? {
            let entry = entry.map_err(BackendError::unavailable)?;
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
            let _guard = self.locks[usize::from(key.as_bytes()[0]) % STRIPES]
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let path = self.path(&key);
            match self.read(&path) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    if fs::remove_file(&path).is_ok() {
                        removed += 1;
                    }
                }
            }
        }
        Ok(removed)
    }
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

#[async_trait]
impl Backend for FilesystemBackend {
    async fn load(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let now = self.inner.clock.now();
        let found = self.run(key, |inner, path| inner.read(path)).await?;
        Ok(found
            .map(|(expires, fields)| Stored { fields, ttl: Some(Duration::from_secs(expires.saturating_sub(now))) }))
    }

    async fn create(&self, key: &StorageKey, fields: &Fields, ttl: Duration) -> Result<bool, BackendError> {
        let fields = fields.clone();
        self.run(key, move |inner, path| {
            if inner.read(path)?.is_some() {
                return Ok(false);
            }
            inner.write(path, &fields, ttl)?;
            Ok(true)
        })
        .await
    }

    async fn update(&self, key: &StorageKey, patch: &Patch, ttl: Duration) -> Result<bool, BackendError> {
        let patch = patch.clone();
        self.run(key, move |inner, path| {
            let Some((_, mut fields)) = inner.read(path)? else {
                return Ok(false);
            };
            patch.apply(&mut fields);
            inner.write(path, &fields, ttl)?;
            Ok(true)
        })
        .await
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), BackendError> {
        self.run(key, |_, path| match fs::remove_file(path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        })
        .await
    }

    async fn take(&self, key: &StorageKey) -> Result<Option<Stored>, BackendError> {
        let now = self.inner.clock.now();
        let found = self
            .run(key, |inner, path| {
                let found = inner.read(path)?;
                if found.is_some() {
                    fs::remove_file(path)?;
                }
                Ok(found)
            })
            .await?;
        Ok(found
            .map(|(expires, fields)| Stored { fields, ttl: Some(Duration::from_secs(expires.saturating_sub(now))) }))
    }

    async fn touch(&self, key: &StorageKey, ttl: Duration) -> Result<bool, BackendError> {
        self.run(key, move |inner, path| {
            let Some((_, fields)) = inner.read(path)? else {
                return Ok(false);
            };
            inner.write(path, &fields, ttl)?;
            Ok(true)
        })
        .await
    }
}
