//! The siren escalation worker: every few seconds, claims the active emergencies whose escalation
//! time passed (`FOR UPDATE SKIP LOCKED`, so replicas split them) and escalates each once. The
//! texts are effects keyed by siren and officer: even a round replayed after a crash sends each
//! officer one text.

use super::{repo, service};
use crate::state::AppState;
use crate::worker::Worker;
use std::time::Duration;

/// How often it looks for due escalations (well under the shortest escalation delay, 10 s).
const INTERVAL: Duration = Duration::from_secs(2);

/// Escalates emergencies left active.
pub struct EscalationWorker {
    state: AppState,
}

impl EscalationWorker {
    /// A worker over the application's state.
    pub fn new(state: &AppState) -> Self {
        EscalationWorker { state: state.clone() }
    }
}

#[async_trait::async_trait]
impl Worker for EscalationWorker {
    fn name(&self) -> &'static str {
        "siren-escalation"
    }

    fn interval(&self) -> Duration {
        INTERVAL
    }

    async fn run_once(&self) -> anyhow::Result<u64> {
        let now = self.state.clock.now();
        let mut tx = crate::system::system_tx(&self.state.db).await?;
        let due = repo::due(&mut tx, now, 50).await?;
        let escalated = due.len() as u64;
        for siren in &due {
            service::escalate(&mut tx, siren, now).await?;
        }
        tx.commit().await?;
        if escalated > 0 {
            crate::outbox::wake(&self.state);
        }
        Ok(escalated)
    }
}
