//! Removal of expired sessions on a schedule.

use std::time::Duration;

use crate::RedbBackend;

/// The periodic sweep started by [`RedbBackend::spawn_sweeper`]; dropping
/// it stops the task.
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
#[derive(Debug)]
pub struct Sweeper {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Sweeper {
    /// Lets the sweeper run for as long as its runtime does, instead of
    /// stopping when this handle is dropped: for an application that
    /// sweeps for its whole life and has nowhere to keep the handle. The
    /// task holds a clone of the backend, so the file stays open until
    /// the runtime shuts down.
    pub fn detach(mut self) {
        self.task = None;
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

pub(crate) fn spawn(backend: &RedbBackend, every: Duration) -> Sweeper {
    let backend = backend.clone();
    let every = every.max(Duration::from_millis(10));
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: sessions that expired while the
        // application was down go at start-up.
        loop {
            ticks.tick().await;
            match backend.sweep().await {
                Ok(removed) => tracing::debug!(removed, "expired sessions removed from the session file"),
                Err(err) => tracing::warn!(%err, "sweeping the session file failed"),
            }
        }
    });
    Sweeper { task: Some(task) }
}
