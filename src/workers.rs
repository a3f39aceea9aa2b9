//! Background loops. Each [`Worker`] runs inside the server process, does its work in
//! `run_once()` (public, so tests drive it without sleeping), waits between rounds, stops between
//! jobs when the shutdown token is cancelled, and logs its exit. Which workers run is decided by
//! `startup` (the core's and each domain's); this module names none of them.

use crate::worker::Worker;
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Spawns the given workers, and long-running tasks (listeners) that stop on `token`.
pub fn spawn_all(
    workers: &[Arc<dyn Worker>],
    background: Vec<BoxFuture<'static, ()>>,
    tasks: &TaskTracker,
    token: &CancellationToken,
) {
    for worker in workers {
        tasks.spawn(run_loop(worker.clone(), token.clone()));
    }
    for task in background {
        tasks.spawn(task);
    }
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
