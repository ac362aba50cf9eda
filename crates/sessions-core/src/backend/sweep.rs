//! Removal of expired records on a schedule, for backends whose storage
//! does not drop them by itself.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::BackendError;

/// The shortest interval a [`Sweeper`] runs at: a shorter one would keep
/// a storage busy deleting without anything to gain.
pub const MIN_SWEEP_INTERVAL: Duration = Duration::from_millis(10);

/// Deletion of expired records, for a backend whose storage keeps them
/// until told otherwise (files, SQL rows, an embedded database). Expired
/// records never load whether swept or not: a sweep only gives their room
/// back.
///
/// Run it now and then, or let a [`Sweeper`] run it on an interval.
///
/// ```
/// use async_trait::async_trait;
/// use sessions_core::BackendError;
/// use sessions_core::backend::Sweep;
///
/// #[derive(Debug, Clone)]
/// struct Files;
///
/// #[async_trait]
/// impl Sweep for Files {
///     async fn sweep_expired(&self) -> Result<u64, BackendError> {
///         // Delete what expired; say how many went.
///         Ok(0)
///     }
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert_eq!(Files.sweep_expired().await?, 0);
/// # Ok::<(), BackendError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait Sweep: Send + Sync + 'static {
    /// Deletes every record that has expired; returns how many went.
    async fn sweep_expired(&self) -> Result<u64, BackendError>;
}

/// A [`Sweep`] run on the tokio runtime every interval, the first time at
/// once (so what expired while the application was down goes at start-up).
/// Failures are logged and retried at the next tick.
///
/// The sweeping **stops when this handle is dropped**: keep it for as long
/// as the backend serves, or call [`detach`](Self::detach) to sweep for the
/// rest of the runtime's life.
///
/// ```
/// use std::time::Duration;
/// use sessions_core::backend::{Sweeper, Sweep};
/// # use sessions_core::BackendError;
/// # #[derive(Debug)]
/// # struct Files;
/// # #[async_trait::async_trait]
/// # impl Sweep for Files {
/// #     async fn sweep_expired(&self) -> Result<u64, BackendError> { Ok(0) }
/// # }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let sweeper = Sweeper::spawn(Files, Duration::from_secs(300));
/// drop(sweeper); // sweeping stops
/// Sweeper::spawn(Files, Duration::from_secs(300)).detach(); // sweeps until the runtime ends
/// # });
/// ```
#[derive(Debug)]
#[must_use = "sweeping stops when the Sweeper is dropped: keep it, or call `detach`"]
pub struct Sweeper {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Sweeper {
    /// Starts running `sweep` every `every` (at least
    /// [`MIN_SWEEP_INTERVAL`]) on the current tokio runtime. A sweep that
    /// takes longer than the interval delays the next one rather than
    /// being followed by a burst.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime, like `tokio::spawn`.
    pub fn spawn(sweep: impl Sweep, every: Duration) -> Sweeper {
        let every = every.max(MIN_SWEEP_INTERVAL);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match sweep.sweep_expired().await {
                    Ok(removed) => tracing::debug!(removed, "expired sessions swept"),
                    Err(err) => tracing::warn!(%err, "sweeping expired sessions failed"),
                }
            }
        });
        Sweeper { task: Some(task) }
    }

    /// Lets the sweeping go on for as long as the runtime runs, instead of
    /// stopping when this handle is dropped: for an application that sweeps
    /// for its whole life and has nowhere to keep the handle. The task
    /// holds the backend, so the backend lives as long.
    pub fn detach(mut self) {
        self.task = None;
    }

    /// Stops the sweeping now; the same as dropping the handle.
    pub fn stop(self) {}
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[derive(Debug, Clone, Default)]
    struct Counting(Arc<AtomicU64>);

    #[async_trait]
    impl Sweep for Counting {
        async fn sweep_expired(&self) -> Result<u64, BackendError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(0)
        }
    }

    impl Counting {
        fn runs(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// Lets the sweeper's task run whatever is due on the paused clock.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn it_sweeps_at_once_and_then_on_each_interval() {
        let sweep = Counting::default();
        let _sweeper = Sweeper::spawn(sweep.clone(), Duration::from_secs(60));
        settle().await;
        assert_eq!(sweep.runs(), 1, "the first sweep runs at once");
        tokio::time::advance(Duration::from_secs(59)).await;
        settle().await;
        assert_eq!(sweep.runs(), 1, "not before the interval");
        tokio::time::advance(Duration::from_secs(1)).await;
        settle().await;
        assert_eq!(sweep.runs(), 2);
        tokio::time::advance(Duration::from_secs(120)).await;
        settle().await;
        assert_eq!(sweep.runs(), 3, "missed ticks are not made up in a burst");
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_sweeper_stops_it() {
        let sweep = Counting::default();
        let sweeper = Sweeper::spawn(sweep.clone(), Duration::from_secs(60));
        settle().await;
        drop(sweeper);
        settle().await;
        let runs = sweep.runs();
        tokio::time::advance(Duration::from_secs(600)).await;
        settle().await;
        assert_eq!(sweep.runs(), runs);
        assert_eq!(Arc::strong_count(&sweep.0), 1, "the task and its backend are gone");
    }

    #[tokio::test(start_paused = true)]
    async fn a_detached_sweeper_keeps_sweeping() {
        let sweep = Counting::default();
        Sweeper::spawn(sweep.clone(), Duration::from_secs(60)).detach();
        settle().await;
        for _ in 0..2 {
            tokio::time::advance(Duration::from_secs(60)).await;
            settle().await;
        }
        assert_eq!(sweep.runs(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_interval_below_the_minimum_is_raised_to_it() {
        let sweep = Counting::default();
        let _sweeper = Sweeper::spawn(sweep.clone(), Duration::ZERO);
        settle().await;
        tokio::time::advance(MIN_SWEEP_INTERVAL).await;
        settle().await;
        assert_eq!(sweep.runs(), 2);
    }
}
