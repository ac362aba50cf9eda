//! The one thread that writes. redb runs one write transaction at a time
//! and each durable commit waits for the disk (an `fsync`, milliseconds),
//! so saves queued while a commit runs are applied together in the next
//! transaction and acknowledged together when it is on disk: a group
//! commit. Sixty-four concurrent saves cost one flush, not sixty-four.
//!
//! It also brings the file back after a failed write. redb refuses every
//! later transaction once one I/O call failed ("Previous I/O error
//! occurred"), even when the cause (a full disk) has passed; only a new
//! `Database` clears it. So a failed commit fails its own saves (as
//! `Full` when the disk had no room) and marks the file poisoned; the next
//! save first checks that the disk has room again and then closes and
//! reopens the file in place, which repairs it to its last commit.
//! Readers keep the old handle meanwhile; redb refuses most reads on it
//! until then, so a failing read nudges the writer to try.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::Database;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, StorageError};
use sessions_core::BackendError;
use tokio::sync::oneshot;

use crate::layout::{Bounds, EXPIRY, SESSIONS, Tables, Usage, footprint};

/// The most saves one transaction takes: bounds how long a save waits
/// behind others in one commit.
const MAX_BATCH: usize = 256;

/// While the file is poisoned, how often the writer tries to bring it
/// back; saves in between are refused at once with the last reason.
const RECOVERY_INTERVAL: Duration = Duration::from_millis(100);

/// The room a recovery first checks the disk has, by writing a file of
/// this size beside the session file: reopening repairs the file and the
/// next commit needs room, so there is no point in closing a handle that
/// still serves reads before there is some.
const ROOM_PROBE: usize = 256 * 1024;

/// How long a recovery waits for reads in flight on the old handle.
const READERS_GRACE: Duration = Duration::from_secs(5);

/// One save's work inside a write transaction: the outer error is the
/// storage failing (the whole transaction is abandoned), the inner one a
/// refusal of this save alone, which must have written nothing.
pub(crate) trait Op<T>:
    FnOnce(&mut Tables<'_>) -> Result<Result<T, BackendError>, StorageError> + Send + 'static
{
}

impl<T, F> Op<T> for F where F: FnOnce(&mut Tables<'_>) -> Result<Result<T, BackendError>, StorageError> + Send + 'static
{}

trait Job: Send {
    /// Runs the save in the open transaction.
    fn apply(&mut self, tables: &mut Tables<'_>) -> Result<(), StorageError>;
    /// Answers the caller once the transaction is on disk, or failed.
    fn finish(self: Box<Self>, committed: Result<(), &Failure>);
    /// Only asks the writer to look at the file's health; writes nothing.
    fn is_nudge(&self) -> bool {
        false
    }
}

struct Pending<T, F> {
    op: Option<F>,
    outcome: Option<Result<T, BackendError>>,
    reply: oneshot::Sender<Result<T, BackendError>>,
}

impl<T: Send, F: Op<T>> Job for Pending<T, F> {
    fn apply(&mut self, tables: &mut Tables<'_>) -> Result<(), StorageError> {
        if let Some(op) = self.op.take() {
            self.outcome = Some(op(tables)?);
        }
        Ok(())
    }

    fn finish(self: Box<Self>, committed: Result<(), &Failure>) {
        let result = match (committed, self.outcome) {
            (Ok(()), Some(outcome)) => outcome,
            (Ok(()), None) => Err(BackendError::unavailable("the save was not applied")),
            (Err(failure), _) => Err(failure.error()),
        };
        // The caller may have gone (a cancelled request); the save stands.
        let _ = self.reply.send(result);
    }
}

struct Nudge;

impl Job for Nudge {
    fn apply(&mut self, _: &mut Tables<'_>) -> Result<(), StorageError> {
        Ok(())
    }

    fn finish(self: Box<Self>, _: Result<(), &Failure>) {}

    fn is_nudge(&self) -> bool {
        true
    }
}

/// Why a transaction, or bringing the file back, failed.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// The disk (or the user's quota) had no room.
    full: bool,
    /// redb refuses every later transaction on this handle.
    poisons: bool,
    message: String,
}

impl Failure {
    fn of(err: &redb::Error, full_before: bool) -> Failure {
        let (full, poisons) = match err {
            redb::Error::Io(io) => (is_no_room(io), true),
            // A failure this handle met earlier: it had the cause it had.
            redb::Error::PreviousIo => (full_before, true),
            _ => (false, false),
        };
        Failure { full, poisons, message: err.to_string() }
    }

    fn io(err: &std::io::Error) -> Failure {
        Failure { full: is_no_room(err), poisons: false, message: err.to_string() }
    }

    /// The error each refused save answers with.
    pub(crate) fn error(&self) -> BackendError {
        if self.full {
            BackendError::Full(format!("the disk holding the session file has no room: {}", self.message))
        } else {
            BackendError::unavailable(format!("the session file did not commit: {}", self.message))
        }
    }
}

/// `ENOSPC` or `EDQUOT`: a write refused for lack of room.
pub(crate) fn is_no_room(err: &std::io::Error) -> bool {
    matches!(err.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

/// Opens the session file (the same way every time: first open and
/// reopening after a failure).
pub(crate) type Opener = Box<dyn Fn() -> Result<Database, crate::Error> + Send + Sync>;

/// The open file, shared by the writer and the readers.
pub(crate) struct Shared {
    /// The handle readers use; `None` only after a reopen failed.
    db: RwLock<Option<Arc<Database>>>,
    /// Set when a transaction met an I/O failure: redb will refuse every
    /// write on this handle, so the writer must reopen the file.
    poisoned: AtomicBool,
    /// Whether the failure that poisoned the handle was a full disk.
    full: AtomicBool,
    open: Opener,
    path: std::path::PathBuf,
}

impl Shared {
    pub(crate) fn new(db: Database, open: Opener, path: std::path::PathBuf) -> Shared {
        Shared {
            db: RwLock::new(Some(Arc::new(db))),
            poisoned: AtomicBool::new(false),
            full: AtomicBool::new(false),
            open,
            path,
        }
    }

    /// The handle to read from, or the error to answer while there is none.
    pub(crate) fn current(&self) -> Result<Arc<Database>, BackendError> {
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner).clone();
        db.ok_or_else(|| self.failure().error())
    }

    /// Whether the handle needs reopening.
    pub(crate) fn poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// A read met `err`: note whether the handle is poisoned.
    pub(crate) fn saw(&self, err: &redb::Error) {
        if Failure::of(err, false).poisons {
            self.poisoned.store(true, Ordering::Release);
        }
    }

    fn failure(&self) -> Failure {
        Failure {
            full: self.full.load(Ordering::Acquire),
            poisons: true,
            message: "a write failed and the session file is not open again yet".into(),
        }
    }

    fn poison(&self, failure: &Failure) {
        self.full.store(failure.full, Ordering::Release);
        self.poisoned.store(true, Ordering::Release);
    }
}

/// Counts what the sessions table holds.
pub(crate) fn count(db: &Database) -> Result<Usage, redb::Error> {
    let txn = db.begin_read()?;
    let table = txn.open_table(SESSIONS)?;
    let mut usage = Usage { entries: table.len()?, bytes: 0 };
    for item in table.iter()? {
        let (_, entry) = item?;
        usage.bytes += footprint(entry.value().len());
    }
    Ok(usage)
}

/// The writer thread and the queue to it. Dropping it lets the thread
/// finish what is queued and waits for it, so the file is closed when the
/// last handle of the backend is gone.
pub(crate) struct Writer {
    jobs: Option<Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(crate) fn start(shared: Arc<Shared>, usage: Usage, bounds: Bounds) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel();
        let mut state = State { shared, usage, bounds, last_recovery: None };
        let thread =
            std::thread::Builder::new().name("sessions-redb-writer".into()).spawn(move || state.run(&queue))?;
        Ok(Writer { jobs: Some(jobs), thread: Some(thread) })
    }

    /// Runs `op` in the next transaction; answers once it is durable.
    pub(crate) async fn write<T: Send + 'static>(&self, op: impl Op<T>) -> Result<T, BackendError> {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Pending { op: Some(op), outcome: None, reply });
        self.jobs.as_ref().and_then(|jobs| jobs.send(job).ok()).ok_or_else(stopped)?;
        answer.await.map_err(|_| stopped())?
    }

    /// Asks the writer to bring a poisoned file back even if no save
    /// comes: a read found it failing.
    pub(crate) fn nudge(&self) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Box::new(Nudge));
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn stopped() -> BackendError {
    BackendError::unavailable("the session file's writer thread has stopped")
}

struct State {
    shared: Arc<Shared>,
    /// What the file holds as of the last commit.
    usage: Usage,
    bounds: Bounds,
    /// When the writer last tried to bring a poisoned file back, and why
    /// it could not.
    last_recovery: Option<(Instant, Failure)>,
}

impl State {
    fn run(&mut self, queue: &Receiver<Box<dyn Job>>) {
        while let Ok(first) = queue.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let committed = self.recover().and_then(|db| {
                if batch.iter().all(|job| job.is_nudge()) { Ok(()) } else { self.commit(&db, &mut batch) }
            });
            if let Err(failure) = &committed {
                if failure.poisons {
                    self.shared.poison(failure);
                }
                let saves = batch.iter().filter(|job| !job.is_nudge()).count();
                if saves > 0 {
                    tracing::error!(error = %failure.message, full = failure.full, saves, "session file write failed; its saves are refused");
                }
            }
            for job in batch {
                job.finish(committed.as_ref().map(|_| ()));
            }
        }
    }

    /// The handle to write with: the current one, or, when it is poisoned,
    /// a new one on the same file once the disk has room again.
    fn recover(&mut self) -> Result<Arc<Database>, Failure> {
        if !self.shared.poisoned()
            && let Ok(db) = self.shared.current()
        {
            return Ok(db);
        }
        if let Some((at, failure)) = &self.last_recovery
            && at.elapsed() < RECOVERY_INTERVAL
        {
            return Err(failure.clone());
        }
        let result = self.reopen();
        match &result {
            Ok(_) => {
                self.last_recovery = None;
                tracing::info!(path = %self.shared.path.display(), "session file reopened after a failed write; saving again");
            }
            Err(failure) => self.last_recovery = Some((Instant::now(), failure.clone())),
        }
        result
    }

    fn reopen(&mut self) -> Result<Arc<Database>, Failure> {
        probe_room(&self.shared.path).map_err(|err| Failure { poisons: true, ..Failure::io(&err) })?;
        let mut slot = self.shared.db.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = slot.take() {
            // Reads in flight finish on the old handle; new ones wait for
            // the new handle behind the lock. redb locks the file for one
            // handle at a time, so the old one must be gone first.
            let deadline = Instant::now() + READERS_GRACE;
            while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if Arc::strong_count(&old) > 1 {
                *slot = Some(old);
                return Err(Failure {
                    full: false,
                    poisons: true,
                    message: "reads on the session file did not finish; reopening later".into(),
                });
            }
            drop(old);
        }
        let db = (self.shared.open)().map_err(|err| Failure {
            full: err_has_no_room(&err),
            poisons: true,
            message: err.to_string(),
        })?;
        self.usage = count(&db).map_err(|err| Failure::of(&err, false))?;
        let db = Arc::new(db);
        *slot = Some(Arc::clone(&db));
        self.shared.poisoned.store(false, Ordering::Release);
        self.shared.full.store(false, Ordering::Release);
        Ok(db)
    }

    /// Applies `batch` in one durable transaction (redb's default
    /// durability, `Immediate`: on disk when `commit` returns), or none of
    /// it.
    fn commit(&mut self, db: &Database, batch: &mut [Box<dyn Job>]) -> Result<(), Failure> {
        let full_before = self.shared.full.load(Ordering::Acquire);
        let fail = |err: redb::Error| Failure::of(&err, full_before);
        let txn = db.begin_write().map_err(|e| fail(e.into()))?;
        let applied = (|| {
            let mut tables = Tables {
                sessions: txn.open_table(SESSIONS)?,
                expiry: txn.open_table(EXPIRY)?,
                usage: self.usage,
                bounds: self.bounds,
            };
            for job in batch.iter_mut() {
                job.apply(&mut tables)?;
            }
            Ok::<Usage, redb::Error>(tables.usage)
        })();
        match applied {
            Ok(usage) => {
                txn.commit().map_err(|e| fail(e.into()))?;
                self.usage = usage;
                Ok(())
            }
            Err(error) => {
                let _ = txn.abort();
                Err(fail(error))
            }
        }
    }
}

/// Writes and removes a file of [`ROOM_PROBE`] bytes beside `path`: fails
/// with the disk's error while there is no room.
fn probe_room(path: &std::path::Path) -> std::io::Result<()> {
    use std::io::Write;
    let probe = path.with_extension("room-probe");
    let written = std::fs::File::create(&probe).and_then(|mut file| file.write_all(&[0; ROOM_PROBE]));
    let _ = std::fs::remove_file(&probe);
    written
}

fn err_has_no_room(err: &crate::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return is_no_room(io);
        }
        if let Some(redb::StorageError::Io(io)) = err.downcast_ref::<redb::StorageError>() {
            return is_no_room(io);
        }
        if let Some(redb::DatabaseError::Storage(redb::StorageError::Io(io))) =
            err.downcast_ref::<redb::DatabaseError>()
        {
            return is_no_room(io);
        }
        source = err.source();
    }
    false
}
