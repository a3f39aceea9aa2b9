//! Session and leg rows. Status changes are conditional updates that move a row only from the
//! statuses the machine allows ([`SessionStatus::sources`]); callers hold the session's row lock.

use super::machine::{LegStatus, Party, SessionEvent, SessionStatus};
use super::model::{Booking, Leg, SessionRow};
use crate::ids::TenantId;
use crate::pagination::Keyset;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

macro_rules! columns {
    () => {
        "id, tenant_id, order_id, client_subject, client_address, reader_subject, reader_address, scheduled_at, \
         timezone, duration_minutes, record, auto_start, status, ended_reason, initiated_by, conference_sid, \
         deadline_at, started_at, connected_at, warned_at, ended_at, duration_sec, created_at, updated_at"
    };
}

/// Inserts a scheduled session; `None` when the order already has an active one.
pub async fn insert(
    conn: &mut PgConnection,
    tenant: TenantId,
    booking: &Booking,
    now: DateTime<Utc>,
) -> Result<Option<SessionRow>, sqlx::Error> {
    let deadline = booking.auto_start.then_some(booking.scheduled_at);
    sqlx::query_as(concat!(
        "INSERT INTO call_session (id, tenant_id, order_id, client_subject, client_address, reader_subject,
           reader_address, scheduled_at, timezone, duration_minutes, record, auto_start, status, deadline_at,
           created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'scheduled', $13, $14, $14)
         ON CONFLICT (tenant_id, order_id)
           WHERE status IN ('scheduled', 'initiating', 'ringing', 'in_progress') DO NOTHING
         RETURNING ",
        columns!()
    ))
    .bind(Uuid::new_v4())
    .bind(tenant.uuid())
    .bind(&booking.order_id)
    .bind(&booking.client.0)
    .bind(&booking.client.1)
    .bind(&booking.reader.0)
    .bind(&booking.reader.1)
    .bind(booking.scheduled_at)
    .bind(&booking.timezone)
    .bind(booking.duration_minutes)
    .bind(booking.record)
    .bind(booking.auto_start)
    .bind(deadline)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// A session of the tenant.
pub async fn find(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", columns!(), " FROM call_session WHERE id = $1 AND tenant_id = $2"))
        .bind(id)
        .bind(tenant.uuid())
        .fetch_optional(conn)
        .await
}

/// A session, locked: every transition of it happens under this lock.
pub async fn lock(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM call_session WHERE id = $1 AND tenant_id = $2 FOR UPDATE"
    ))
    .bind(id)
    .bind(tenant.uuid())
    .fetch_optional(conn)
    .await
}

/// A session by id alone, locked (webhooks, before the tenant is known: system path).
pub async fn lock_any(conn: &mut PgConnection, id: Uuid) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", columns!(), " FROM call_session WHERE id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The newest session of an order (the one `start` means).
pub async fn latest_of_order(
    conn: &mut PgConnection,
    tenant: TenantId,
    order_id: &str,
) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM call_session WHERE tenant_id = $1 AND order_id = $2 ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .bind(tenant.uuid())
    .bind(order_id)
    .fetch_optional(conn)
    .await
}

/// A list filter.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    /// Only this status.
    pub status: Option<&'a str>,
    /// Scheduled at or after.
    pub from: Option<DateTime<Utc>>,
    /// Scheduled before.
    pub to: Option<DateTime<Utc>>,
    /// Only this client's sessions.
    pub client: Option<&'a str>,
    /// Only this reader's sessions.
    pub reader: Option<&'a str>,
}

/// A tenant's sessions by `scheduled_at`, filtered, after the cursor.
pub async fn list(
    conn: &mut PgConnection,
    tenant: TenantId,
    filter: &Filter<'_>,
    keys: &Keyset<Uuid>,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    let (at, id) = keys.after.unzip();
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM call_session WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)
           AND ($3::timestamptz IS NULL OR scheduled_at >= $3) AND ($4::timestamptz IS NULL OR scheduled_at < $4)
           AND ($5::text IS NULL OR client_subject = $5) AND ($6::text IS NULL OR reader_subject = $6)
           AND ($7::timestamptz IS NULL OR (scheduled_at, id) > ($7, $8))
         ORDER BY scheduled_at, id LIMIT $9"
    ))
    .bind(tenant.uuid())
    .bind(filter.status)
    .bind(filter.from)
    .bind(filter.to)
    .bind(filter.client)
    .bind(filter.reader)
    .bind(at)
    .bind(id)
    .bind(keys.fetch())
    .fetch_all(conn)
    .await
}

/// What a transition writes besides the status.
#[derive(Debug, Default, Clone)]
pub struct Changes<'a> {
    /// `ended_reason`, if not yet set.
    pub ended_reason: Option<&'a str>,
    /// `initiated_by`.
    pub initiated_by: Option<&'a str>,
    /// Sets `started_at`.
    pub started: bool,
    /// Sets `connected_at`.
    pub connected: bool,
    /// Sets `ended_at` and `duration_sec`.
    pub ended: bool,
}

/// Applies `event` (the caller holds the lock) with `changes` and the new `deadline`; the row as
/// it was moved, or `None` when the machine refused (the row is unchanged). The moved row comes
/// back from the update itself: nothing is read again that could have gone in between.
pub async fn transition(
    conn: &mut PgConnection,
    session: &SessionRow,
    event: SessionEvent,
    changes: &Changes<'_>,
    deadline: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<SessionRow>, sqlx::Error> {
    let Some(status) = session.status.after(event) else { return Ok(None) };
    sqlx::query_as(concat!(
        "UPDATE call_session SET status = $2, deadline_at = $3, updated_at = $4,
           ended_reason = COALESCE(ended_reason, $5), initiated_by = COALESCE(initiated_by, $6),
           started_at = CASE WHEN $7 THEN $4 ELSE started_at END,
           connected_at = CASE WHEN $8 THEN $4 ELSE connected_at END,
           ended_at = CASE WHEN $9 THEN $4 ELSE ended_at END,
           duration_sec = CASE WHEN $9 THEN
               COALESCE(GREATEST(0, floor(extract(epoch FROM ($4 - connected_at))))::int, 0) ELSE duration_sec END
         WHERE id = $1 AND status = ANY($10) RETURNING ",
        columns!()
    ))
    .bind(session.id)
    .bind(status.as_str())
    .bind(deadline)
    .bind(now)
    .bind(changes.ended_reason)
    .bind(changes.initiated_by)
    .bind(changes.started)
    .bind(changes.connected)
    .bind(changes.ended)
    .bind(SessionStatus::sources(event))
    .fetch_optional(conn)
    .await
}

/// The order a session was booked for (a siren's escalation text names it, nothing personal).
pub async fn order_id(conn: &mut PgConnection, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT order_id FROM call_session WHERE id = $1").bind(id).fetch_optional(conn).await
}

/// Marks the session `siren_triggered` (a siren was raised on it).
pub async fn mark_siren_triggered(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE call_session SET siren_triggered = true, updated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Whether a siren was ever raised on the session.
pub async fn siren_triggered(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT coalesce((SELECT siren_triggered FROM call_session WHERE id = $1), false)")
        .bind(id)
        .fetch_one(conn)
        .await
}

/// Binds the conference SID learned from its events (once: a SID never changes).
pub async fn bind_conference(
    conn: &mut PgConnection,
    id: Uuid,
    sid: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE call_session SET conference_sid = $2, updated_at = $3 WHERE id = $1 AND conference_sid IS NULL",
    )
    .bind(id)
    .bind(sid)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that the time-limit warning was asked, and the time limit as the next deadline.
pub async fn set_warned(
    conn: &mut PgConnection,
    id: Uuid,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE call_session SET warned_at = $3, deadline_at = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(deadline)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Clears a deadline that no longer applies.
pub async fn clear_deadline(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE call_session SET deadline_at = NULL, updated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sessions whose deadline passed, locked and skipped by other replicas' workers.
pub async fn due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM call_session WHERE deadline_at <= $1 ORDER BY deadline_at LIMIT $2 FOR UPDATE SKIP LOCKED"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The nearest deadline of any session.
pub async fn next_deadline(conn: &mut PgConnection) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT min(deadline_at) FROM call_session WHERE deadline_at IS NOT NULL")
        .fetch_one(conn)
        .await
}

/// Inserts a leg (once per session and party).
pub async fn insert_leg(
    conn: &mut PgConnection,
    session: &SessionRow,
    party: Party,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO call_session_leg (session_id, party, tenant_id, attempt_token, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING",
    )
    .bind(session.id)
    .bind(party.as_str())
    .bind(session.tenant_id)
    .bind(token)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

macro_rules! leg_columns {
    () => {
        "session_id, party, attempt_token, call_sid, status, joined_at, left_at"
    };
}

/// A session's legs.
pub async fn legs(conn: &mut PgConnection, session: Uuid) -> Result<Vec<Leg>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        leg_columns!(),
        " FROM call_session_leg WHERE session_id = $1 ORDER BY party"
    ))
    .bind(session)
    .fetch_all(conn)
    .await
}

/// The leg dialled by an attempt.
pub async fn leg_by_token(conn: &mut PgConnection, token: &str) -> Result<Option<Leg>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", leg_columns!(), " FROM call_session_leg WHERE attempt_token = $1"))
        .bind(token)
        .fetch_optional(conn)
        .await
}

/// Binds a leg's CallSid (from its TwiML fetch or a status callback); once.
pub async fn bind_leg(
    conn: &mut PgConnection,
    token: &str,
    sid: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE call_session_leg SET call_sid = $2, updated_at = $3 WHERE attempt_token = $1 AND call_sid IS NULL",
    )
    .bind(token)
    .bind(sid)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets a leg's status (the caller checked it is a step forward).
pub async fn set_leg_status(
    conn: &mut PgConnection,
    token: &str,
    status: &LegStatus,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE call_session_leg SET status = $2, updated_at = $3 WHERE attempt_token = $1")
        .bind(token)
        .bind(status.as_str())
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a party joining (first join only) or leaving (first leave only); whether it changed.
pub async fn mark_presence(
    conn: &mut PgConnection,
    session: Uuid,
    party: Party,
    joined: bool,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = if joined {
        "UPDATE call_session_leg SET joined_at = $3, updated_at = $3
         WHERE session_id = $1 AND party = $2 AND joined_at IS NULL"
    } else {
        "UPDATE call_session_leg SET left_at = $3, updated_at = $3
         WHERE session_id = $1 AND party = $2 AND left_at IS NULL"
    };
    let done = sqlx::query(sql).bind(session).bind(party.as_str()).bind(now).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

/// Closes the presence of every party still in the conference when it ends.
pub async fn close_presence(
    conn: &mut PgConnection,
    session: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE call_session_leg SET left_at = $2, updated_at = $2
         WHERE session_id = $1 AND joined_at IS NOT NULL AND left_at IS NULL",
    )
    .bind(session)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
