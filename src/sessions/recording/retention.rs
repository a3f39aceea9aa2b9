//! The `recording-retention` worker: deletes the recordings older than their tenant's
//! `recording_retention_days` — marked deleted (links stop working) and deleted at Twilio once,
//! like a deletion by hand. Claimed with `FOR UPDATE SKIP LOCKED`, so replicas share the work.

use super::delivery;
use crate::audit::{self, Actor, NewEvent};
use crate::ids::TenantId;
use crate::state::AppState;
use crate::worker::Worker;
use std::time::Duration;
use uuid::Uuid;

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
        // Across tenants (the worker's role sees every tenant); a recording still in progress
        // is left alone until it completes.
        let due: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
            "SELECT r.id, r.tenant_id, r.sid FROM session_recording r JOIN tenant t ON t.id = r.tenant_id
             WHERE r.deleted_at IS NULL AND r.status <> 'in_progress' AND t.recording_retention_days IS NOT NULL
               AND r.created_at < $1 - make_interval(days => t.recording_retention_days)
             ORDER BY r.created_at LIMIT $2 FOR UPDATE OF r SKIP LOCKED",
        )
        .bind(now)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        for (id, tenant, sid) in &due {
            sqlx::query("UPDATE session_recording SET deleted_at = $2, updated_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
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
