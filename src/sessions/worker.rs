//! The session worker: acts on each session's deadline — the auto start at `scheduled_at`, the
//! dial timeout, the time limit's warning and the time limit. It sleeps until the nearest deadline
//! (at most 30 s), is woken in-process when a nearer one appears here and by a `NOTIFY` (sent after
//! the commit) from other replicas. Due sessions are claimed with `FOR UPDATE SKIP LOCKED`, and
//! every effect has a per-session key, so several replicas act on each deadline once.

use super::machine::SessionStatus;
use super::model::SessionRow;
use super::repo;
use super::service::{self, Outcome, StartError};
use crate::audit::Actor;
use crate::state::AppState;
use crate::worker::Worker;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The channel announcing a new deadline.
pub const CHANNEL: &str = "switchboard_session_deadline";
/// Longest sleep between rounds.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Wakes this instance's session worker. Kept by the domain, handed to its routes.
#[derive(Clone, Default)]
pub struct DeadlineWake(pub Arc<tokio::sync::Notify>);

/// Tells every instance's session worker that a deadline appeared (after the commit).
pub async fn announce_deadline(state: &AppState, wake: &DeadlineWake) {
    wake.0.notify_one();
    if let Err(e) = sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(&state.db).await {
        tracing::warn!(error = %e, "could not notify other replicas of a session deadline");
    }
}

/// Acts on due session deadlines.
pub struct SessionWorker {
    state: AppState,
    wake: DeadlineWake,
    next: Mutex<Option<DateTime<Utc>>>,
}

impl SessionWorker {
    /// A worker over the application's state, woken by `wake`.
    pub fn new(state: &AppState, wake: DeadlineWake) -> Self {
        SessionWorker { state: state.clone(), wake, next: Mutex::new(None) }
    }
}

/// Acts on one due session (the caller holds its lock).
async fn act(conn: &mut PgConnection, session: SessionRow, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let actor = Actor::System("sessions");
    match session.status {
        SessionStatus::Scheduled if session.auto_start => {
            match service::start(conn, session.clone(), actor.clone(), "system:auto_start", now).await {
                Ok(Outcome::Moved(_) | Outcome::Already(_)) => {}
                Err(StartError::Database(e)) => return Err(e),
                Err(e) => {
                    // Said once, in the audit; the session stays scheduled for a person to start.
                    repo::clear_deadline(conn, session.id, now).await?;
                    let data = serde_json::json!({"error": e.to_string()});
                    service::audit(conn, &session, actor, "SESSION_AUTO_START_FAILED", data, now).await?;
                }
            }
        }
        SessionStatus::Initiating | SessionStatus::Ringing => {
            service::no_answer(conn, &session, actor, "dial_timeout", now).await?;
        }
        SessionStatus::InProgress if session.warned_at.is_none() => {
            service::warn(conn, &session, now).await?
        }
        SessionStatus::InProgress => service::time_limit(conn, &session, now).await?,
        _ => repo::clear_deadline(conn, session.id, now).await?,
    }
    Ok(())
}

#[async_trait::async_trait]
impl Worker for SessionWorker {
    fn name(&self) -> &'static str {
        "session-deadlines"
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
        let due = repo::due(&mut tx, now, 50).await?;
        let acted = due.len() as u64;
        for session in due {
            act(&mut tx, session, now).await?;
        }
        let next = repo::next_deadline(&mut tx).await?;
        tx.commit().await?;
        *self.next.lock().unwrap_or_else(|p| p.into_inner()) = next;
        if acted > 0 {
            crate::outbox::wake(&self.state);
        }
        Ok(acted)
    }
}

/// Forwards deadline notifications from other replicas to this instance's worker until shutdown.
pub async fn listen(state: AppState, wake: DeadlineWake, token: CancellationToken) {
    crate::worker::forward_notifications(state.listen_db, CHANNEL, wake.0, "session deadlines", token).await;
}
