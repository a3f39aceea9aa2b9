//! The business's notifications (to the call service, through the outbox): `outbound.call.completed`
//! when a job's call ends, `outbound.run.finished` when a run ends. Each has a stable key, so a
//! repeated callback or a second replica never notifies twice.

use super::slots::Held;
use crate::ids::TenantId;
use crate::outbox::{self, NewMessage};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

/// Where the notifications go.
pub const DESTINATION: &str = "call_service";

async fn send(
    conn: &mut PgConnection,
    tenant: TenantId,
    now: DateTime<Utc>,
    kind: &str,
    key: String,
    payload: Value,
) -> Result<(), sqlx::Error> {
    let message = NewMessage {
        kind,
        destination: DESTINATION,
        payload,
        idempotency_key: key,
        owner: None,
        priority: crate::effects::priority::NORMAL,
    };
    outbox::enqueue(conn, tenant, now, message).await.map(|_| ())
}

/// `outbound.call.completed`: a job's call ended.
pub async fn call_completed(
    conn: &mut PgConnection,
    tenant: TenantId,
    job: &Held,
    sid: &str,
    status: &str,
    outcome: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let lead: Option<(String, String)> =
        sqlx::query_as("SELECT lead_id, number FROM outbound_job WHERE id = $1")
            .bind(job.id)
            .fetch_optional(&mut *conn)
            .await?;
    let (lead_id, number) = lead.unwrap_or_default();
    let payload = json!({"tenant_id": tenant, "run_id": job.run_id, "job_id": job.id, "lead_id": lead_id,
        "number": number, "call_sid": sid, "status": status, "outcome": outcome, "attempt": job.attempts,
        "at": now.to_rfc3339_opts(SecondsFormat::Millis, true)});
    let key = format!("outbound.call.completed:{}:{}", job.id, job.attempts);
    send(conn, tenant, now, "outbound.call.completed", key, payload).await
}

/// `outbound.run.finished`: a run ended (`completed`, `cancelled`, `stopped`, `failed`).
pub async fn run_finished(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: Uuid,
    status: &str,
    counts: &super::model::Counts,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let payload = json!({"tenant_id": tenant, "run_id": run, "status": status, "counts": counts,
        "at": now.to_rfc3339_opts(SecondsFormat::Millis, true)});
    send(conn, tenant, now, "outbound.run.finished", format!("outbound.run.finished:{run}"), payload).await
}
