//! Siren rows. Transitions are conditional updates from the statuses the machine allows; the
//! caller holds the siren's row lock.

use super::machine::{AlertType, SirenEvent, SirenStatus};
use super::model::Siren;
use crate::ids::TenantId;
use crate::pagination::Keyset;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

macro_rules! columns {
    () => {
        "id, tenant_id, session_id, alert_type, reason, status, triggered_by, triggered_role, acknowledged_by, \
         acknowledged_at, resolved_by, resolved_at, resolution_note, escalate_at, escalated_at, created_at, updated_at"
    };
}

/// What a new siren says.
#[derive(Debug)]
pub struct NewRow<'a> {
    /// The tenant.
    pub tenant: TenantId,
    /// The session.
    pub session: Uuid,
    /// The kind.
    pub alert_type: AlertType,
    /// Why.
    pub reason: &'a str,
    /// `operator:{key id}`.
    pub by: &'a str,
    /// The key's role.
    pub role: &'a str,
    /// When an emergency escalates.
    pub escalate_at: Option<DateTime<Utc>>,
}

/// Inserts an active siren and marks its session `siren_triggered`.
pub async fn insert(
    conn: &mut PgConnection,
    new: &NewRow<'_>,
    now: DateTime<Utc>,
) -> Result<Siren, sqlx::Error> {
    let siren = sqlx::query_as(concat!(
        "INSERT INTO siren (id, tenant_id, session_id, alert_type, reason, status, triggered_by, triggered_role,
           escalate_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $9, $9) RETURNING ",
        columns!()
    ))
    .bind(Uuid::new_v4())
    .bind(new.tenant.uuid())
    .bind(new.session)
    .bind(new.alert_type.as_str())
    .bind(new.reason)
    .bind(new.by)
    .bind(new.role)
    .bind(new.escalate_at)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    crate::sessions::repo::mark_siren_triggered(conn, new.session, now).await?;
    Ok(siren)
}

/// A siren of the tenant, locked.
pub async fn lock(conn: &mut PgConnection, tenant: TenantId, id: Uuid) -> Result<Option<Siren>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", columns!(), " FROM siren WHERE id = $1 AND tenant_id = $2 FOR UPDATE"))
        .bind(id)
        .bind(tenant.uuid())
        .fetch_optional(conn)
        .await
}

/// A siren as it is now.
pub async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<Siren>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", columns!(), " FROM siren WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// A session's sirens, oldest first.
pub async fn of_session(conn: &mut PgConnection, session: Uuid) -> Result<Vec<Siren>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM siren WHERE session_id = $1 ORDER BY created_at, id"
    ))
    .bind(session)
    .fetch_all(conn)
    .await
}

/// A tenant's sirens by creation, filtered, after the cursor.
pub async fn list(
    conn: &mut PgConnection,
    tenant: TenantId,
    status: Option<&str>,
    session: Option<Uuid>,
    keys: &Keyset<Uuid>,
) -> Result<Vec<Siren>, sqlx::Error> {
    let (at, id) = keys.after.unzip();
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM siren WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)
           AND ($3::uuid IS NULL OR session_id = $3) AND ($4::timestamptz IS NULL OR (created_at, id) > ($4, $5))
         ORDER BY created_at, id LIMIT $6"
    ))
    .bind(tenant.uuid())
    .bind(status)
    .bind(session)
    .bind(at)
    .bind(id)
    .bind(keys.fetch())
    .fetch_all(conn)
    .await
}

/// Applies `event` by `by` (the caller holds the lock); the siren as moved (from the update
/// itself), or `None` when refused.
pub async fn transition(
    conn: &mut PgConnection,
    siren: &Siren,
    event: SirenEvent,
    by: &str,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Siren>, sqlx::Error> {
    let Some(status) = siren.status.after(event) else { return Ok(None) };
    let acknowledging = event == SirenEvent::Acknowledge;
    // Taken or closed in time: no escalation any more.
    sqlx::query_as(concat!(
        "UPDATE siren SET status = $2, updated_at = $3, escalate_at = NULL,
           acknowledged_by = CASE WHEN $4 THEN $5 ELSE acknowledged_by END,
           acknowledged_at = CASE WHEN $4 THEN $3 ELSE acknowledged_at END,
           resolved_by = CASE WHEN $4 THEN resolved_by ELSE $5 END,
           resolved_at = CASE WHEN $4 THEN resolved_at ELSE $3 END,
           resolution_note = CASE WHEN $4 THEN resolution_note ELSE $6 END
         WHERE id = $1 AND status = ANY($7) RETURNING ",
        columns!()
    ))
    .bind(siren.id)
    .bind(status.as_str())
    .bind(now)
    .bind(acknowledging)
    .bind(by)
    .bind(note)
    .bind(SirenStatus::sources(event))
    .fetch_optional(conn)
    .await
}

/// Active emergencies whose escalation time passed, locked and skipped by other replicas.
pub async fn due(conn: &mut PgConnection, now: DateTime<Utc>, limit: i64) -> Result<Vec<Siren>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM siren WHERE escalate_at <= $1 ORDER BY escalate_at LIMIT $2 FOR UPDATE SKIP LOCKED"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Marks a siren escalated (its escalation time cleared); the siren as it is now, or `None` if
/// the update found no row.
pub async fn set_escalated(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Siren>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE siren SET escalate_at = NULL, escalated_at = $2, updated_at = $2 WHERE id = $1 RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// The tenant's escalation delay in seconds.
pub async fn escalate_after(conn: &mut PgConnection, tenant: TenantId) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT siren_escalate_after_secs FROM tenant WHERE id = $1")
        .bind(tenant.uuid())
        .fetch_one(conn)
        .await
}
