//! Settling slots nobody reported on. A job whose slot lease ran out (its terminal callback was
//! lost, or its create is still in doubt), or whose create Twilio refused or an operator must
//! decide, is looked at here: its lease is first extended (so one replica handles it at a time,
//! and no lock is held across the request to Twilio), then
//! - a call with a known SID is fetched: ended → the job ends with the call's status; live → it
//!   keeps its slot for another lease (and is hung up if a stop asked for it);
//! - a refused, withdrawn, parked or undeliverable create ends the job `failed` (its slot freed);
//! - a create still queued, sending or being reconciled stays with the effects machinery, which
//!   binds it or proves it absent; the job keeps its slot meanwhile.

use super::{dnc, slots};
use crate::effects::ledger;
use crate::ids::TenantId;
use crate::state::AppState;
use crate::twilio::{CallSid, TwilioError};
use uuid::Uuid;

/// How many jobs one round settles.
const BATCH: i64 = 50;

#[derive(Debug, sqlx::FromRow)]
struct Stale {
    id: Uuid,
    tenant_id: Uuid,
    attempt_token: Option<String>,
    sid: Option<String>,
    attempt_state: Option<String>,
    outbox_status: Option<String>,
}

/// What to do with a stale job.
enum Verdict {
    /// Ended at Twilio with this status.
    Ended(String, crate::twilio::CallStatus),
    /// The create will never happen (or must wait for an operator): fail with this reason.
    Fail(&'static str),
    /// Still live at Twilio: keep the slot (and hang it up if a stop asked for it).
    Live(String),
    /// Still being reconciled, or Twilio could not be asked: keep the slot.
    Keep,
}

/// Settles up to [`BATCH`] jobs; how many ended. Unscoped (system path): spans tenants.
pub async fn settle(state: &AppState, lease: chrono::Duration) -> anyhow::Result<u64> {
    let now = state.clock.now();
    // Claim by extending the lease: another replica's settle skips these until it runs out again.
    let stale: Vec<Stale> = sqlx::query_as(
        "WITH picked AS (
           SELECT j.id FROM outbound_job j LEFT JOIN twilio_attempt a ON a.token = j.attempt_token
           LEFT JOIN outbox_message o ON o.id = a.outbox_id
           WHERE j.status = 'in_progress'
             AND (j.slot_expires_at <= $1 OR a.state IN ('failed', 'cancelled', 'parked')
                  OR o.status IN ('dead', 'cancelled'))
           ORDER BY j.slot_expires_at LIMIT $3 FOR UPDATE OF j SKIP LOCKED)
         UPDATE outbound_job j SET slot_expires_at = $2 FROM picked WHERE j.id = picked.id
         RETURNING j.id, j.tenant_id, j.attempt_token,
           COALESCE(j.call_sid, (SELECT sid FROM twilio_attempt WHERE token = j.attempt_token)) AS sid,
           (SELECT state FROM twilio_attempt WHERE token = j.attempt_token) AS attempt_state,
           (SELECT o.status FROM twilio_attempt a JOIN outbox_message o ON o.id = a.outbox_id
             WHERE a.token = j.attempt_token) AS outbox_status",
    )
    .bind(now)
    .bind(now + lease)
    .bind(BATCH)
    .fetch_all(&state.db)
    .await?;
    let mut ended = 0;
    for job in stale {
        let verdict = judge(state, &job).await;
        if apply(state, &job, verdict).await? {
            ended += 1;
        }
    }
    Ok(ended)
}

async fn judge(state: &AppState, job: &Stale) -> Verdict {
    if let Some(sid) = &job.sid {
        let Ok(parsed) = CallSid::parse(sid) else { return Verdict::Fail("call_sid_invalid") };
        return match state.twilio.fetch_call(&parsed).await {
            Ok(call) if call.status.is_terminal() => Verdict::Ended(sid.clone(), call.status),
            Ok(_) => Verdict::Live(sid.clone()),
            Err(TwilioError::Api { status: 404, .. }) => Verdict::Fail("call_not_found_at_twilio"),
            Err(e) => {
                tracing::warn!(error = %e, "fetching a stale outbound call failed; retried after the lease");
                Verdict::Keep
            }
        };
    }
    match (job.attempt_state.as_deref(), job.outbox_status.as_deref()) {
        (Some("failed"), _) => Verdict::Fail("create_refused"),
        (Some("cancelled"), _) => Verdict::Fail("create_cancelled"),
        (Some("parked"), _) => Verdict::Fail("create_parked_outcome_unknown"),
        (Some("queued"), Some("dead" | "cancelled")) => Verdict::Fail("create_not_delivered"),
        (None, _) => Verdict::Fail("no_attempt"),
        _ => Verdict::Keep,
    }
}

/// A create the outbox dropped because the number was put on the do-not-call list (or opted out)
/// while it waited: the job is skipped for that reason, not failed.
async fn blocked_at_delivery(
    conn: &mut sqlx::PgConnection,
    job: &Stale,
    reason: &str,
) -> Result<Option<dnc::Block>, sqlx::Error> {
    if reason != "create_not_delivered" {
        return Ok(None);
    }
    let number: String = sqlx::query_scalar("SELECT number FROM outbound_job WHERE id = $1")
        .bind(job.id)
        .fetch_one(&mut *conn)
        .await?;
    dnc::blocked(conn, job.tenant_id, &number).await
}

async fn apply(state: &AppState, job: &Stale, verdict: Verdict) -> Result<bool, sqlx::Error> {
    let now = state.clock.now();
    let tenant = TenantId(job.tenant_id);
    let mut tx = state.db.begin().await?;
    let Some(held) = slots::lock(&mut tx, tenant, job.id).await? else { return Ok(false) };
    if held.status != "in_progress" || held.attempt_token != job.attempt_token {
        return Ok(false);
    }
    let ended = match verdict {
        Verdict::Keep => false,
        Verdict::Live(sid) => {
            // A stop whose hang-up waited for the SID, bound since without a callback.
            if held.hangup_requested {
                slots::hang_up_call(&mut tx, &held, &sid, now).await?;
            }
            false
        }
        Verdict::Fail(reason) => match blocked_at_delivery(&mut tx, job, reason).await? {
            Some(block) => {
                slots::end(&mut tx, job.id, "skipped", block.outcome(), Some(block.reason()), now).await?
            }
            None => slots::end(&mut tx, job.id, "failed", "failed", Some(reason), now).await?,
        },
        Verdict::Ended(sid, status) => {
            // The ledger learns the status the callback would have brought.
            let row = ledger::CallRow {
                sid: &sid,
                tenant,
                parent_sid: None,
                direction: Some("outbound-api"),
                from: None,
                to: None,
                status: &status,
                sequence_number: None,
                answered_by: None,
                duration_secs: None,
                owner: Some((super::DOMAIN, &job.id.to_string())),
                attempt_token: job.attempt_token.as_deref(),
            };
            ledger::upsert_call(&mut tx, &row, now).await?;
            slots::bind_sid(&mut tx, job.id, &sid, now).await?;
            slots::end_with_call(&mut tx, &held, &sid, &status, None, now).await?
        }
    };
    if ended {
        tracing::info!(tenant.id = %tenant, "an outbound job's slot was settled after its lease");
    }
    tx.commit().await?;
    Ok(ended)
}
