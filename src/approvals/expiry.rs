//! Expiring undecided crises. The worker sleeps until the nearest deadline (at most 30 s), is woken
//! early in-process when a crisis is created here and by a `NOTIFY` (sent after the commit, never
//! inside it) when one is created on another replica; overdue crises are claimed with
//! `FOR UPDATE SKIP LOCKED`, so replicas never expire the same crisis twice.

use super::{repo, service};
use crate::state::AppState;
use crate::worker::Worker;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The channel announcing a new deadline.
pub const CHANNEL: &str = "switchboard_crisis_deadline";
/// Longest sleep between rounds.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Wakes this instance's expiry worker (a nearer deadline appeared). Kept by the approvals
/// domain and handed to its routes as an `Extension`.
#[derive(Clone, Default)]
pub struct DeadlineWake(pub Arc<tokio::sync::Notify>);

/// Tells every instance's expiry worker that a deadline appeared (after the commit).
pub async fn announce_deadline(state: &AppState, wake: &DeadlineWake) {
    wake.0.notify_one();
    if let Err(e) = sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(&state.db).await {
        tracing::warn!(error = %e, "could not notify other replicas of a crisis deadline");
    }
}

/// Expires overdue crises.
pub struct ExpiryWorker {
    state: AppState,
    wake: DeadlineWake,
    next: Mutex<Option<chrono::DateTime<chrono::Utc>>>,
}

impl ExpiryWorker {
    /// A worker over the application's state, woken by `wake`.
    pub fn new(state: &AppState, wake: DeadlineWake) -> Self {
        ExpiryWorker { state: state.clone(), wake, next: Mutex::new(None) }
    }
}

#[async_trait::async_trait]
impl Worker for ExpiryWorker {
    fn name(&self) -> &'static str {
        "crisis-expiry"
    }

    fn interval(&self) -> Duration {
        let next = *self.next.lock().unwrap_or_else(|p| p.into_inner());
        let until = next.map(|n| (n - self.state.clock.now()).to_std().unwrap_or(Duration::ZERO));
        until.map_or(MAX_SLEEP, |u| u.min(MAX_SLEEP))
    }

    fn waker(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.wake.0.clone())
    }

    async fn run_once(&self) -> anyhow::Result<u64> {
        let now = self.state.clock.now();
        let mut tx = crate::system::system_tx(&self.state.db).await?;
        let overdue = repo::overdue(&mut tx, now, 100).await?;
        let expired = overdue.len() as u64;
        for crisis in overdue {
            service::expire(&mut tx, crisis.tenant(), crisis, now).await?;
        }
        let next = repo::next_deadline(&mut tx).await?;
        tx.commit().await?;
        *self.next.lock().unwrap_or_else(|p| p.into_inner()) = next;
        if expired > 0 {
            crate::outbox::wake(&self.state);
        }
        Ok(expired)
    }
}

/// Forwards deadline notifications from other replicas to this instance's worker until shutdown.
pub async fn listen(state: AppState, wake: DeadlineWake, token: CancellationToken) {
    crate::worker::forward_notifications(state.listen_db, CHANNEL, wake.0, "crisis deadlines", token).await;
}
