//! What one claim of the dialer reads and writes: the next job of a business whose row it holds,
//! and the two ways a job leaves the queue without a call (skipped, deferred).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// The next job to dial for a business whose row the caller holds.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct NextJob {
    /// The job.
    pub(super) id: Uuid,
    /// The lead's number.
    pub(super) number: String,
    /// Attempts made so far.
    pub(super) attempts: i32,
    /// The lead's timezone.
    pub(super) timezone: Option<String>,
    /// The run's caller id.
    pub(super) from_number: String,
    /// The run's policies, as stored.
    pub(super) policy: serde_json::Value,
    /// The business's timezone.
    pub(super) tenant_timezone: String,
    /// The business's hours, as stored.
    pub(super) business_hours: Option<serde_json::Value>,
    /// The business's holidays.
    pub(super) holidays: Vec<chrono::NaiveDate>,
}

/// The next queued job of a running run of `tenant` with room under its own cap, locked
/// (`SKIP LOCKED`), oldest run first, in upload order.
pub(super) async fn next_job(conn: &mut PgConnection, tenant: Uuid) -> Result<Option<NextJob>, sqlx::Error> {
    sqlx::query_as(
        "SELECT j.id, j.number, j.attempts, j.timezone, r.from_number, r.policy,
           t.timezone AS tenant_timezone, t.business_hours, t.holidays
         FROM outbound_run r JOIN tenant t ON t.id = r.tenant_id
         CROSS JOIN LATERAL (
           SELECT id, number, attempts, timezone FROM outbound_job
           WHERE run_id = r.id AND status = 'queued' ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED
         ) j
         WHERE r.tenant_id = $1 AND r.status = 'running' AND NOT r.cancel_requested
           AND (SELECT count(*) FROM outbound_job l WHERE l.run_id = r.id AND l.status = 'in_progress') < r.max_concurrent
         ORDER BY r.created_at, r.id LIMIT 1",
    )
    .bind(tenant)
    .fetch_optional(conn)
    .await
}

/// Skips a job that may not be called (`outcome` and `reason` say why).
pub(super) async fn skip(
    conn: &mut PgConnection,
    job: Uuid,
    outcome: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbound_job SET status = 'skipped', outcome = $2, reason = $3, next_attempt_at = NULL,
           ended_at = $4, updated_at = $4
         WHERE id = $1",
    )
    .bind(job)
    .bind(outcome)
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Defers a queued job to `until` (outside its calling window).
pub(super) async fn defer(
    conn: &mut PgConnection,
    job: Uuid,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbound_job SET status = 'deferred', next_attempt_at = $2, updated_at = $3 WHERE id = $1",
    )
    .bind(job)
    .bind(until)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
