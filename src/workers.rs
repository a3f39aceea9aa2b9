//! Background loops. Each runs inside the server process, does its work in `run_once()` (public,
//! so tests drive it without sleeping), waits between rounds, stops between jobs when the
//! shutdown token is cancelled, and logs its exit.

use crate::state::AppState;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A periodic background job.
#[async_trait::async_trait]
pub trait Worker: Send + Sync + 'static {
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// How long to wait between rounds.
    fn interval(&self) -> Duration;
    /// Does one round of work; returns how many items it handled.
    async fn run_once(&self) -> anyhow::Result<u64>;
    /// Something that wakes the worker before its interval is up (work was committed locally).
    fn waker(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }
    /// How long to wait after a wake-up before the round, so a burst of wake-ups is one round.
    fn coalesce(&self) -> Duration {
        Duration::ZERO
    }
}

/// Spawns every worker of the application on `tasks`.
pub fn spawn_all(state: &AppState, tasks: &TaskTracker, token: &CancellationToken) {
    let workers: Vec<Arc<dyn Worker>> = vec![
        Arc::new(crate::outbox::OutboxWorker::new(state)),
        Arc::new(crate::twilio::ReceiptSweeper::new(state)),
        Arc::new(IdempotencySweeper::new(state)),
        Arc::new(crate::approvals::ExpiryWorker::new(state)),
        Arc::new(crate::inbound::PendingCallsWorker::new(state)),
    ];
    for worker in workers {
        tasks.spawn(run_loop(worker, token.clone()));
    }
    tasks.spawn(crate::approvals::expiry::listen(state.clone(), token.clone()));
}

async fn run_loop(worker: Arc<dyn Worker>, token: CancellationToken) {
    let name = worker.name();
    tracing::info!(worker = name, "worker started");
    let waker = worker.waker();
    loop {
        let more = match worker.run_once().await {
            Ok(0) => false,
            Ok(handled) => {
                tracing::debug!(worker = name, handled, "worker round done");
                true
            }
            // Logged here, where it is handled: the next round retries.
            Err(e) => {
                tracing::warn!(worker = name, error = %format!("{e:#}"), "worker round failed");
                false
            }
        };
        if token.is_cancelled() {
            break;
        }
        if more {
            // Work was found: look again at once (draining a backlog), between jobs.
            continue;
        }
        let woken = async {
            match &waker {
                Some(notify) => notify.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = token.cancelled() => break,
            () = tokio::time::sleep(worker.interval()) => {}
            () = woken => tokio::time::sleep(worker.coalesce()).await,
        }
    }
    tracing::info!(worker = name, "worker stopped");
}

/// Deletes idempotent-create answers past their 24 h replay window.
pub struct IdempotencySweeper {
    state: AppState,
}

impl IdempotencySweeper {
    /// A sweeper over the application's database.
    pub fn new(state: &AppState) -> Self {
        IdempotencySweeper { state: state.clone() }
    }
}

#[async_trait::async_trait]
impl Worker for IdempotencySweeper {
    fn name(&self) -> &'static str {
        "idempotency-sweeper"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(3600)
    }

    async fn run_once(&self) -> anyhow::Result<u64> {
        let cutoff = self.state.clock.now() - crate::idempotency::REPLAY_WINDOW;
        Ok(crate::system::sweep_idempotent_requests(&self.state.db, cutoff).await?)
    }
}
