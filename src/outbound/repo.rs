//! Run and job rows for the operator API. Every function takes the caller's connection (a
//! tenant-scoped transaction) and filters by tenant explicitly; row-level security backs it up.

use super::machine::{RunEvent, RunStatus};
use super::model::{Counts, Job, JobStatus, RunRow};
use crate::ids::TenantId;
use crate::pagination::Keyset;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

macro_rules! run_columns {
    () => {
        "id, tenant_id, name, from_number, script, max_concurrent, status, cancel_requested, failure_reason,
         start_at, started_at, ended_at, created_by, policy, created_at, updated_at"
    };
}

macro_rules! job_columns {
    () => {
        "id, run_id, seq, lead_id, number, name, timezone, data, status, outcome, reason, attempts, last_outcome, next_attempt_at,
         COALESCE(call_sid, (SELECT a.sid FROM twilio_attempt a WHERE a.token = outbound_job.attempt_token)) AS call_sid,
         dialled_at, ended_at, created_at"
    };
}

/// A run to create.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: &'a str,
    /// The caller id.
    pub from_number: &'a str,
    /// The script.
    pub script: serde_json::Value,
    /// Its own cap.
    pub max_concurrent: i32,
    /// Its policies.
    pub policy: serde_json::Value,
    /// The creating key.
    pub created_by: Uuid,
}

/// Inserts a `pending` run.
pub async fn insert_run(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: &NewRun<'_>,
    now: DateTime<Utc>,
) -> Result<RunRow, sqlx::Error> {
    sqlx::query_as(concat!(
        "INSERT INTO outbound_run (id, tenant_id, name, from_number, script, max_concurrent, status, created_by,
           policy, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $9, $8, $8) RETURNING ",
        run_columns!()
    ))
    .bind(run.id)
    .bind(tenant.uuid())
    .bind(run.name)
    .bind(run.from_number)
    .bind(&run.script)
    .bind(run.max_concurrent)
    .bind(run.created_by)
    .bind(now)
    .bind(&run.policy)
    .fetch_one(conn)
    .await
}

/// Whether `number` is one of the tenant's active numbers.
pub async fn is_own_number(
    conn: &mut PgConnection,
    tenant: TenantId,
    number: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM tenant_number WHERE tenant_id = $1 AND number = $2 AND status = 'active')",
    )
    .bind(tenant.uuid())
    .bind(number)
    .fetch_one(conn)
    .await
}

/// One run of the tenant, if it exists.
pub async fn find_run(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<RunRow>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", run_columns!(), " FROM outbound_run WHERE tenant_id = $1 AND id = $2"))
        .bind(tenant.uuid())
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// One run, locked until the caller commits (uploads and transitions serialize on it).
pub async fn lock_run(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<RunRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        run_columns!(),
        " FROM outbound_run WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant.uuid())
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Runs after the cursor, oldest first.
pub async fn list_runs(
    conn: &mut PgConnection,
    tenant: TenantId,
    status: Option<RunStatus>,
    keys: &Keyset<Uuid>,
) -> Result<Vec<RunRow>, sqlx::Error> {
    let (at, id) = keys.after.unzip();
    sqlx::query_as(concat!(
        "SELECT ",
        run_columns!(),
        " FROM outbound_run WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4))
         ORDER BY created_at, id LIMIT $5"
    ))
    .bind(tenant.uuid())
    .bind(status.map(RunStatus::as_str))
    .bind(at)
    .bind(id)
    .bind(keys.fetch())
    .fetch_all(conn)
    .await
}

/// Jobs per status and ended jobs per outcome.
pub async fn counts(conn: &mut PgConnection, run: Uuid) -> Result<Counts, sqlx::Error> {
    let rows: Vec<(String, Option<String>, i64)> = sqlx::query_as(
        "SELECT status, outcome, count(*) FROM outbound_job WHERE run_id = $1 GROUP BY status, outcome",
    )
    .bind(run)
    .fetch_all(conn)
    .await?;
    let mut counts = Counts::default();
    for (status, outcome, n) in rows {
        counts.total += n;
        match JobStatus::parse(&status) {
            Some(JobStatus::Queued) => counts.queued += n,
            Some(JobStatus::Deferred) => counts.deferred += n,
            Some(JobStatus::InProgress) => counts.in_progress += n,
            Some(JobStatus::Completed) => counts.completed += n,
            Some(JobStatus::Failed) => counts.failed += n,
            Some(JobStatus::Cancelled) => counts.cancelled += n,
            Some(JobStatus::Skipped) => counts.skipped += n,
            Some(JobStatus::Duplicate) => counts.duplicate += n,
            None => {}
        }
        if let Some(outcome) = outcome {
            *counts.outcomes.entry(outcome).or_default() += n;
        }
    }
    Ok(counts)
}

/// Moves a run by `event` when its status allows; `false` otherwise. Entering `running` the first
/// time stamps `started_at`; entering an end stamps `ended_at`.
pub async fn transition(
    conn: &mut PgConnection,
    run: Uuid,
    event: RunEvent,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let target = event.target();
    let done = sqlx::query(
        "UPDATE outbound_run SET status = $2, updated_at = $3,
           started_at = CASE WHEN $2 = 'running' THEN COALESCE(started_at, $3) ELSE started_at END,
           ended_at = CASE WHEN $4 THEN $3 ELSE ended_at END,
           failure_reason = COALESCE($5, failure_reason)
         WHERE id = $1 AND status = ANY($6)",
    )
    .bind(run)
    .bind(target.as_str())
    .bind(now)
    .bind(target.is_terminal())
    .bind(reason)
    .bind(event.sources())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets when a pending run begins dialling.
pub async fn set_start_at(
    conn: &mut PgConnection,
    run: Uuid,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbound_run SET start_at = $2, updated_at = $3 WHERE id = $1")
        .bind(run)
        .bind(at)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks a graceful cancel.
pub async fn request_cancel(
    conn: &mut PgConnection,
    run: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbound_run SET cancel_requested = true, updated_at = $2 WHERE id = $1")
        .bind(run)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// The run's jobs after the cursor in upload order (the cursor's id is the upload position),
/// optionally of one status.
pub async fn list_jobs(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: Uuid,
    status: Option<JobStatus>,
    keys: &Keyset<i64>,
) -> Result<Vec<Job>, sqlx::Error> {
    let after = keys.after.as_ref().map(|(_, seq)| *seq);
    sqlx::query_as(concat!(
        "SELECT ",
        job_columns!(),
        " FROM outbound_job WHERE tenant_id = $1 AND run_id = $2 AND ($3::text IS NULL OR status = $3)
           AND ($4::bigint IS NULL OR seq > $4)
         ORDER BY seq LIMIT $5"
    ))
    .bind(tenant.uuid())
    .bind(run)
    .bind(status.map(JobStatus::as_str))
    .bind(after)
    .bind(keys.fetch())
    .fetch_all(conn)
    .await
}

/// A job of the tenant's run, locked until the caller commits.
pub async fn lock_job(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: Uuid,
    job: Uuid,
) -> Result<Option<Job>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        job_columns!(),
        " FROM outbound_job WHERE tenant_id = $1 AND run_id = $2 AND id = $3 FOR UPDATE"
    ))
    .bind(tenant.uuid())
    .bind(run)
    .bind(job)
    .fetch_optional(conn)
    .await
}

/// Cancels every queued or deferred job of a run; how many.
pub async fn cancel_queued(
    conn: &mut PgConnection,
    run: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE outbound_job SET status = 'cancelled', outcome = 'cancelled', ended_at = $2, updated_at = $2
         WHERE run_id = $1 AND status IN ('queued', 'deferred')",
    )
    .bind(run)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// What a dialled lead's TwiML fetch needs: the job's current attempt and call, and its run's
/// number, script and policy.
#[derive(Debug, sqlx::FromRow)]
pub struct VoiceJob {
    /// The job's tenant.
    pub tenant_id: Uuid,
    /// The job's current attempt.
    pub attempt_token: Option<String>,
    /// The call bound to the job, if any yet.
    pub call_sid: Option<String>,
    /// A stop asked for the call to be hung up.
    pub hangup_requested: bool,
    /// The run's caller id.
    pub from_number: String,
    /// The run's script, as stored.
    pub script: serde_json::Value,
    /// The run's policies, as stored.
    pub policy: serde_json::Value,
}

/// Unscoped (system path): a webhook knows its tenant only from the job, whose token it carries.
pub async fn voice_job(conn: &mut PgConnection, job: Uuid) -> Result<Option<VoiceJob>, sqlx::Error> {
    sqlx::query_as(
        "SELECT j.tenant_id, j.attempt_token, j.call_sid, j.hangup_requested, r.from_number, r.script, r.policy
         FROM outbound_job j JOIN outbound_run r ON r.id = j.run_id WHERE j.id = $1",
    )
    .bind(job)
    .fetch_optional(conn)
    .await
}

/// Keeps the attempt's answering-machine verdict, read when its call ends (outcome `human`,
/// `machine`, `fax`); a verdict of an earlier attempt changes nothing.
pub async fn set_answered_by(
    conn: &mut PgConnection,
    job: Uuid,
    token: &str,
    verdict: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbound_job SET answered_by = $3 WHERE id = $1 AND attempt_token = $2")
        .bind(job)
        .bind(token)
        .bind(verdict)
        .execute(conn)
        .await
        .map(drop)
}
