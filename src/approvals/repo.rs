//! Crisis and approval-call rows.

use super::machine::{CrisisEvent, CrisisStatus, OfficerCallStatus};
use super::model::{ApprovalCall, Crisis, NewCrisis};
use crate::ids::TenantId;
use crate::pagination::Keyset;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

macro_rules! crisis_columns {
    () => {
        "id, tenant_id, type AS kind, description, location, risk_score, decision, status, approval_deadline, \
         decided_at, decided_by, decision_reason, officer_index, escalation_exhausted, created_at, updated_at"
    };
}

/// Inserts a crisis in `status`.
pub async fn insert(
    conn: &mut PgConnection,
    tenant: TenantId,
    new: &NewCrisis,
    status: &str,
    deadline: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Crisis, sqlx::Error> {
    sqlx::query_as(concat!(
        "INSERT INTO crisis (id, tenant_id, type, description, location, risk_score, decision, status,
           approval_deadline, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING ",
        crisis_columns!()
    ))
    .bind(Uuid::new_v4())
    .bind(tenant.uuid())
    .bind(&new.kind)
    .bind(&new.description)
    .bind(&new.location)
    .bind(new.risk_score)
    .bind(&new.decision)
    .bind(status)
    .bind(deadline)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// A crisis, locked: every decision about it is taken under this lock.
pub async fn lock(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Crisis>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        crisis_columns!(),
        " FROM crisis WHERE id = $1 AND tenant_id = $2 FOR UPDATE"
    ))
    .bind(id)
    .bind(tenant.uuid())
    .fetch_optional(conn)
    .await
}

/// A crisis.
pub async fn find(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Crisis>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", crisis_columns!(), " FROM crisis WHERE id = $1 AND tenant_id = $2"))
        .bind(id)
        .bind(tenant.uuid())
        .fetch_optional(conn)
        .await
}

/// A crisis by id alone (webhooks, before the tenant is known: system path).
pub async fn find_any(conn: &mut PgConnection, id: Uuid) -> Result<Option<Crisis>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", crisis_columns!(), " FROM crisis WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// A tenant's crises, filtered by status, after the cursor.
pub async fn list(
    conn: &mut PgConnection,
    tenant: TenantId,
    status: Option<&str>,
    keys: &Keyset<Uuid>,
) -> Result<Vec<Crisis>, sqlx::Error> {
    let (at, id) = keys.after.unzip();
    sqlx::query_as(concat!(
        "SELECT ",
        crisis_columns!(),
        " FROM crisis WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4))
         ORDER BY created_at, id LIMIT $5"
    ))
    .bind(tenant.uuid())
    .bind(status)
    .bind(at)
    .bind(id)
    .bind(keys.fetch())
    .fetch_all(conn)
    .await
}

/// Records a decision (the caller holds the lock); moves the row only from the statuses the
/// machine allows for `event`.
pub async fn decide(
    conn: &mut PgConnection,
    id: Uuid,
    event: CrisisEvent,
    by: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let Some(status) = CrisisStatus::PendingApproval.after(event) else { return Ok(()) };
    sqlx::query(
        "UPDATE crisis SET status = $2, decided_at = $5, decided_by = $3, decision_reason = $4, updated_at = $5
         WHERE id = $1 AND status = ANY($6)",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(by)
    .bind(reason)
    .bind(now)
    .bind(CrisisStatus::sources(event))
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves the escalation to officer `index` (or marks it exhausted).
pub async fn set_escalation(
    conn: &mut PgConnection,
    id: Uuid,
    index: i32,
    exhausted: bool,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE crisis SET officer_index = $2, escalation_exhausted = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(index)
    .bind(exhausted)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Pending crises past their deadline, locked and skipped by other replicas' workers.
pub async fn overdue(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Crisis>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        crisis_columns!(),
        " FROM crisis WHERE status = 'pending_approval' AND approval_deadline <= $1
         ORDER BY approval_deadline LIMIT $2 FOR UPDATE SKIP LOCKED"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The nearest pending deadline.
pub async fn next_deadline(conn: &mut PgConnection) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT min(approval_deadline) FROM crisis WHERE status = 'pending_approval'")
        .fetch_one(conn)
        .await
}

/// Records an officer call.
pub async fn insert_call(
    conn: &mut PgConnection,
    token: &str,
    crisis: &Crisis,
    number: &str,
    index: i32,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO approval_call (attempt_token, crisis_id, tenant_id, officer_number, officer_index, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(token)
    .bind(crisis.id)
    .bind(crisis.tenant_id)
    .bind(number)
    .bind(index)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

macro_rules! call_columns {
    () => {
        "attempt_token, crisis_id, officer_number, officer_index, call_sid, status, created_at"
    };
}

/// The officer call of an attempt token.
pub async fn find_call(conn: &mut PgConnection, token: &str) -> Result<Option<ApprovalCall>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", call_columns!(), " FROM approval_call WHERE attempt_token = $1"))
        .bind(token)
        .fetch_optional(conn)
        .await
}

/// A crisis's officer calls, in order.
pub async fn calls_of(conn: &mut PgConnection, crisis: Uuid) -> Result<Vec<ApprovalCall>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        call_columns!(),
        " FROM approval_call WHERE crisis_id = $1 ORDER BY officer_index"
    ))
    .bind(crisis)
    .fetch_all(conn)
    .await
}

/// Binds the call's SID (from the voice fetch or the ledger) if not yet known.
pub async fn bind_call(
    conn: &mut PgConnection,
    token: &str,
    sid: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE approval_call SET call_sid = $2, updated_at = $3 WHERE attempt_token = $1 AND call_sid IS NULL")
        .bind(token)
        .bind(sid)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the call's latest status (the caller checked it is a step forward).
pub async fn set_call_status(
    conn: &mut PgConnection,
    token: &str,
    status: &OfficerCallStatus,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE approval_call SET status = $2, updated_at = $3 WHERE attempt_token = $1")
        .bind(token)
        .bind(status.as_str())
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}
