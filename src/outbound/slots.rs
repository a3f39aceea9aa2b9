//! Slots and the end of a job. A job holds one of its business's slots while `in_progress`: from
//! the moment its create is queued until its call's terminal status. Ending a job (a terminal
//! callback, a settled lease, a withdrawn create) is one conditional update from `in_progress`,
//! so a late or duplicated callback cannot end it twice or free a slot twice.

use super::notify;
use super::policy::{AfterAttempt, Policy, after_attempt};
use crate::effects::attempts::AttemptEvent;
use crate::effects::request_hangup;
use crate::ids::TenantId;
use crate::twilio::CallStatus;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

macro_rules! held_columns {
    () => {
        "id, tenant_id, run_id, status, attempt_token, call_sid, attempts, hangup_requested, answered_by, retries"
    };
}

/// A job's slot-holding facts, read under its row lock.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Held {
    /// The job.
    pub id: Uuid,
    /// The tenant.
    pub tenant_id: Uuid,
    /// The run.
    pub run_id: Uuid,
    /// `queued`, `in_progress`, …
    pub status: String,
    /// The current attempt's token.
    pub attempt_token: Option<String>,
    /// The call, once known.
    pub call_sid: Option<String>,
    /// Attempts made.
    pub attempts: i32,
    /// Stop-queue or a job cancel asked for a hang-up.
    pub hangup_requested: bool,
    /// Answering machine detection's verdict for the current attempt, from its TwiML fetch.
    pub answered_by: Option<String>,
    /// Retries made per outcome.
    pub retries: serde_json::Value,
}

/// Locks a job by id within its tenant (system path: callbacks and workers).
pub async fn lock(conn: &mut PgConnection, tenant: TenantId, job: Uuid) -> Result<Option<Held>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        held_columns!(),
        " FROM outbound_job WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant.uuid())
    .bind(job)
    .fetch_optional(conn)
    .await
}

/// The job's outcome for a terminal call status, and the status it ends in. An answered call's
/// outcome is answering machine detection's verdict (`unknown` counts as a person); without
/// detection it is `answered`.
pub fn outcome_of(
    status: &CallStatus,
    answered_by: Option<&str>,
    hung_up_by_us: bool,
) -> (&'static str, &'static str) {
    let outcome = match status {
        CallStatus::Completed => match answered_by {
            Some(a) if a.starts_with("machine") => "machine",
            Some("fax") => "fax",
            Some(_) => "human",
            None => "answered",
        },
        CallStatus::Busy => "busy",
        CallStatus::NoAnswer => "no_answer",
        CallStatus::Canceled => "canceled",
        _ => "failed",
    };
    let job_status = if hung_up_by_us {
        "cancelled"
    } else if matches!(status, CallStatus::Completed) {
        "completed"
    } else {
        "failed"
    };
    (outcome, job_status)
}

/// Ends an `in_progress` job (frees its slot) with `status`, `outcome` and `reason`; `false` if it
/// had already ended.
pub async fn end(
    conn: &mut PgConnection,
    job: Uuid,
    status: &str,
    outcome: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE outbound_job SET status = $2, outcome = $3, last_outcome = $3, reason = COALESCE($4, reason),
           slot_expires_at = NULL, next_attempt_at = NULL, ended_at = $5, updated_at = $5
         WHERE id = $1 AND status = 'in_progress'",
    )
    .bind(job)
    .bind(status)
    .bind(outcome)
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A terminal call status ends the attempt: the job is deferred for a retry when the run's
/// policy retries that outcome and its retries are not used up (the slot is freed, the next
/// attempt is its own effect), else it ends and the business is told (`outbound.call.completed`).
/// `answered_by` is the callback's verdict, used when the TwiML fetch brought none.
pub async fn end_with_call(
    conn: &mut PgConnection,
    held: &Held,
    sid: &str,
    status: &CallStatus,
    answered_by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let verdict = held.answered_by.as_deref().or(answered_by);
    let (outcome, job_status) = outcome_of(status, verdict, held.hangup_requested);
    if job_status == "failed" && retry(conn, held, outcome, now).await? {
        return Ok(true);
    }
    if !end(conn, held.id, job_status, outcome, None, now).await? {
        return Ok(false);
    }
    notify::call_completed(conn, TenantId(held.tenant_id), held, sid, job_status, outcome, now).await?;
    Ok(true)
}

/// Defers the job for another attempt if its run retries `outcome` and retries remain; whether
/// it did.
async fn retry(
    conn: &mut PgConnection,
    held: &Held,
    outcome: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let stored: serde_json::Value = sqlx::query_scalar("SELECT policy FROM outbound_run WHERE id = $1")
        .bind(held.run_id)
        .fetch_one(&mut *conn)
        .await?;
    let policy = Policy::from_stored(&stored);
    let made = held.retries.get(outcome).and_then(serde_json::Value::as_i64).unwrap_or(0);
    let made = i32::try_from(made).unwrap_or(i32::MAX);
    let AfterAttempt::RetryAt(at) = after_attempt(policy.retry.as_ref(), outcome, made, now) else {
        return Ok(false);
    };
    let done = sqlx::query(
        "UPDATE outbound_job SET status = 'deferred', next_attempt_at = $2, last_outcome = $3,
           retries = jsonb_set(retries, ARRAY[$3], to_jsonb($4::int)), slot_expires_at = NULL, updated_at = $5
         WHERE id = $1 AND status = 'in_progress'",
    )
    .bind(held.id)
    .bind(at)
    .bind(outcome)
    .bind(made + 1)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the call's SID on the job the first time it is known.
pub async fn bind_sid(
    conn: &mut PgConnection,
    job: Uuid,
    sid: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbound_job SET call_sid = $2, updated_at = $3 WHERE id = $1 AND call_sid IS NULL")
        .bind(job)
        .bind(sid)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// What stopping a live job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Its create had not left: withdrawn, the job cancelled, its slot free.
    Withdrawn,
    /// Its call may exist: hung up now (SID known) or as soon as its SID binds.
    HangingUp,
    /// Left to finish (graceful cancel of a create already sent).
    Left,
}

/// Stops an `in_progress` job: a create that has not left is withdrawn (the attempt moves to
/// `cancelled`, which the sender's own conditional `queued → sending` can no longer win); one that
/// has left is hung up when `hang_up`, now or when its SID binds.
pub async fn stop(
    conn: &mut PgConnection,
    held: &Held,
    hang_up: bool,
    now: DateTime<Utc>,
) -> Result<Stopped, sqlx::Error> {
    // Only a `queued` attempt is surely unsent (a parked one may exist at Twilio).
    let veto = AttemptEvent::Veto;
    let withdrawn =
        match &held.attempt_token {
            Some(token) => sqlx::query(
                "UPDATE twilio_attempt SET state = $2, last_error = 'outbound job cancelled', updated_at = $3
                 WHERE token = $1 AND state = 'queued'",
            )
            .bind(token)
            .bind(veto.target().as_str())
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
                == 1,
            None => true,
        };
    if withdrawn {
        end(conn, held.id, "cancelled", "cancelled", Some("withdrawn before dialling"), now).await?;
        return Ok(Stopped::Withdrawn);
    }
    if !hang_up {
        return Ok(Stopped::Left);
    }
    sqlx::query("UPDATE outbound_job SET hangup_requested = true, updated_at = $2 WHERE id = $1")
        .bind(held.id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let sid = match &held.call_sid {
        Some(sid) => Some(sid.clone()),
        None => attempt_sid(conn, held.attempt_token.as_deref()).await?,
    };
    if let Some(sid) = sid {
        hang_up_call(conn, held, &sid, now).await?;
    }
    Ok(Stopped::HangingUp)
}

/// Queues the hang-up of the job's call (once per attempt).
pub async fn hang_up_call(
    conn: &mut PgConnection,
    held: &Held,
    sid: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let key = format!("outbound-hangup:{}:{}", held.id, held.attempts);
    request_hangup(conn, TenantId(held.tenant_id), now, sid, key).await?;
    Ok(())
}

/// The SID bound to an attempt, if any.
pub async fn attempt_sid(
    conn: &mut PgConnection,
    token: Option<&str>,
) -> Result<Option<String>, sqlx::Error> {
    let Some(token) = token else { return Ok(None) };
    let sid: Option<Option<String>> = sqlx::query_scalar("SELECT sid FROM twilio_attempt WHERE token = $1")
        .bind(token)
        .fetch_optional(conn)
        .await?;
    Ok(sid.flatten())
}

/// Locks the attempts of a run's live jobs (or of one job) before the jobs themselves: a status
/// callback locks an attempt, then its job, so taking them in the same order here means a stop
/// racing a callback waits instead of deadlocking.
pub async fn lock_attempts(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: Uuid,
    job: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT 1 FROM twilio_attempt WHERE token IN (
           SELECT attempt_token FROM outbound_job
           WHERE tenant_id = $1 AND run_id = $2 AND status = 'in_progress' AND ($3::uuid IS NULL OR id = $3))
         ORDER BY token FOR UPDATE",
    )
    .bind(tenant.uuid())
    .bind(run)
    .bind(job)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stops every `in_progress` job of a run (locked one by one); how many were withdrawn.
pub async fn stop_live(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: Uuid,
    hang_up: bool,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    lock_attempts(conn, tenant, run, None).await?;
    let held: Vec<Held> = sqlx::query_as(
        concat!(
            "SELECT ",
            held_columns!(),
            " FROM outbound_job WHERE tenant_id = $1 AND run_id = $2 AND status = 'in_progress' ORDER BY id FOR UPDATE"
        ),
    )
    .bind(tenant.uuid())
    .bind(run)
    .fetch_all(&mut *conn)
    .await?;
    let mut withdrawn = 0;
    for job in &held {
        if stop(conn, job, hang_up, now).await? == Stopped::Withdrawn {
            withdrawn += 1;
        }
    }
    Ok(withdrawn)
}
