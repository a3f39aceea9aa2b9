//! The `recording-retention` worker: deletes the recordings older than their tenant's
//! `recording_retention_days` — marked deleted (links stop working) and deleted at Twilio once,
//! like a deletion by hand. Claimed with `FOR UPDATE SKIP LOCKED`, so replicas share the work.

use super::{delivery, repo};
use crate::audit::{self, Actor, NewEvent};
use crate::ids::TenantId;
use crate::state::AppState;
use crate::worker::Worker;
use std::time::Duration;

/// How many recordings one round deletes at most.
const BATCH: i64 = 100;

/// Deletes recordings past their tenant's retention.
pub struct RetentionWorker {
    state: AppState,
}

impl RetentionWorker {
    /// The worker for the application.
    pub fn new(state: &AppState) -> Self {
        RetentionWorker { state: state.clone() }
    }
}

#[async_trait::async_trait]
impl Worker for RetentionWorker {
    fn name(&self) -> &'static str {
        "recording-retention"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(600)
    }

    async fn run_once(&self) -> anyhow::Result<u64> {
        let now = self.state.clock.now();
        let mut tx = self.state.db.begin().await?;
        let due = repo::past_retention(&mut tx, now, BATCH).await?;
        for (id, tenant, sid) in &due {
            repo::mark_expired(&mut tx, *id, now).await?;
            delivery::request_delete(&mut tx, TenantId(*tenant), *id, sid, now).await?;
            let event = NewEvent {
                actor: Actor::System("recording-retention"),
                action: "RECORDING_DELETED",
                entity_type: "recording",
                entity_id: id.to_string(),
                request_id: None,
                data: serde_json::json!({"reason": "retention"}),
            };
            audit::record(&mut tx, TenantId(*tenant), now, event).await?;
        }
        tx.commit().await?;
        if !due.is_empty() {
            crate::outbox::wake(&self.state);
        }
        Ok(due.len() as u64)
    }
}
