//! The one thread that writes. redb runs one write transaction at a time
//! and each durable commit waits for the disk (an `fsync`, milliseconds),
//! so saves queued while a commit runs are applied together in the next
//! transaction and acknowledged together when it is on disk: a group
//! commit. Sixty-four concurrent saves cost one flush, not sixty-four.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use redb::{Database, StorageError};
use sessions_core::BackendError;
use tokio::sync::oneshot;

use crate::layout::{EXPIRY, SESSIONS, Tables};

/// The most saves one transaction takes: bounds how long a save waits
/// behind others in one commit.
const MAX_BATCH: usize = 256;

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
    fn finish(self: Box<Self>, committed: Result<(), &str>);
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

    fn finish(self: Box<Self>, committed: Result<(), &str>) {
        let result = match (committed, self.outcome) {
            (Ok(()), Some(outcome)) => outcome,
            (Ok(()), None) => Err(BackendError::unavailable("the save was not applied")),
            (Err(why), _) => Err(BackendError::unavailable(format!("the session file did not commit: {why}"))),
        };
        // The caller may have gone (a cancelled request); the save stands.
        let _ = self.reply.send(result);
    }
}

/// The writer thread and the queue to it. Dropping it lets the thread
/// finish what is queued and waits for it, so the file is closed when the
/// last handle of the backend is gone.
pub(crate) struct Writer {
    jobs: Option<Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(crate) fn start(db: Arc<Database>) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel();
        let thread = std::thread::Builder::new().name("sessions-redb-writer".into()).spawn(move || run(&db, &queue))?;
        Ok(Writer { jobs: Some(jobs), thread: Some(thread) })
    }

    /// Runs `op` in the next transaction; answers once it is durable.
    pub(crate) async fn write<T: Send + 'static>(&self, op: impl Op<T>) -> Result<T, BackendError> {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Pending { op: Some(op), outcome: None, reply });
        self.jobs.as_ref().and_then(|jobs| jobs.send(job).ok()).ok_or_else(stopped)?;
        answer.await.map_err(|_| stopped())?
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

fn run(db: &Database, queue: &Receiver<Box<dyn Job>>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = commit(db, &mut batch);
        if let Err(error) = &committed {
            tracing::error!(%error, saves = batch.len(), "session file commit failed; its saves are refused");
        }
        for job in batch {
            job.finish(committed.as_ref().map(|_| ()).map_err(String::as_str));
        }
    }
}

/// Applies `batch` in one durable transaction (redb's default durability,
/// `Immediate`: on disk when `commit` returns), or none of it.
fn commit(db: &Database, batch: &mut [Box<dyn Job>]) -> Result<(), String> {
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    let applied = (|| {
        let mut tables = Tables { sessions: txn.open_table(SESSIONS)?, expiry: txn.open_table(EXPIRY)? };
        for job in batch.iter_mut() {
            job.apply(&mut tables)?;
        }
        Ok::<(), redb::Error>(())
    })();
    match applied {
        Ok(()) => txn.commit().map_err(|e| e.to_string()),
        Err(error) => {
            let _ = txn.abort();
            Err(error.to_string())
        }
    }
}
