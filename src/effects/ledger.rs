//! The ledger of calls, messages and recordings, keyed by SID. Status callbacks arrive
//! duplicated and out of order, so every write is conditional: voice by the one ordering rule
//! ([`crate::twilio::order`]), messages by status rank; a terminal state never regresses.
//! Each function returns the row's owner when it changed, `None` when nothing moved.

use crate::ids::TenantId;
use crate::twilio::{CallStatus, MessageStatus};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// A call's observed state.
#[derive(Debug, Clone)]
pub struct CallRow<'a> {
    /// The call.
    pub sid: &'a str,
    /// The tenant.
    pub tenant: TenantId,
    /// Its parent, for a child leg.
    pub parent_sid: Option<&'a str>,
    /// `outbound-api`, `outbound-dial`, `inbound`.
    pub direction: Option<&'a str>,
    /// Caller.
    pub from: Option<&'a str>,
    /// Callee.
    pub to: Option<&'a str>,
    /// Status.
    pub status: &'a CallStatus,
    /// Callback order, if given.
    pub sequence_number: Option<i32>,
    /// AMD's verdict.
    pub answered_by: Option<&'a str>,
    /// Seconds.
    pub duration_secs: Option<i32>,
    /// Owner domain and id.
    pub owner: Option<(&'a str, &'a str)>,
    /// The attempt that created it.
    pub attempt_token: Option<&'a str>,
}

/// Inserts or advances a call; the (owner domain, owner id) if the row changed.
pub async fn upsert_call(
    conn: &mut PgConnection,
    row: &CallRow<'_>,
    now: DateTime<Utc>,
) -> Result<Option<(Option<String>, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO twilio_call (sid, tenant_id, parent_sid, direction, from_address, to_address, status, status_rank,
           sequence_number, answered_by, duration_secs, owner_domain, owner_id, attempt_token, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)
         ON CONFLICT (sid) DO UPDATE SET
           status = EXCLUDED.status, status_rank = EXCLUDED.status_rank,
           sequence_number = COALESCE(EXCLUDED.sequence_number, twilio_call.sequence_number),
           answered_by = COALESCE(EXCLUDED.answered_by, twilio_call.answered_by),
           duration_secs = COALESCE(EXCLUDED.duration_secs, twilio_call.duration_secs),
           parent_sid = COALESCE(twilio_call.parent_sid, EXCLUDED.parent_sid),
           owner_domain = COALESCE(twilio_call.owner_domain, EXCLUDED.owner_domain),
           owner_id = COALESCE(twilio_call.owner_id, EXCLUDED.owner_id),
           attempt_token = COALESCE(twilio_call.attempt_token, EXCLUDED.attempt_token),
           updated_at = EXCLUDED.updated_at
         WHERE call_status_supersedes(twilio_call.status_rank, twilio_call.sequence_number,
                                      EXCLUDED.status_rank, EXCLUDED.sequence_number)
         RETURNING owner_domain, owner_id",
    )
    .bind(row.sid)
    .bind(row.tenant.uuid())
    .bind(row.parent_sid)
    .bind(row.direction)
    .bind(row.from)
    .bind(row.to)
    .bind(row.status.as_str())
    .bind(row.status.rank())
    .bind(row.sequence_number)
    .bind(row.answered_by)
    .bind(row.duration_secs)
    .bind(row.owner.map(|o| o.0))
    .bind(row.owner.map(|o| o.1))
    .bind(row.attempt_token)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// A known call's tenant and owner (for callbacks without an attempt token: child legs).
pub async fn call_owner(
    conn: &mut PgConnection,
    sid: &str,
) -> Result<Option<(uuid::Uuid, Option<String>, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT tenant_id, owner_domain, owner_id FROM twilio_call WHERE sid = $1")
        .bind(sid)
        .fetch_optional(conn)
        .await
}

/// Inserts or advances a message by status rank; the owner if the row changed.
#[allow(clippy::too_many_arguments)]
pub async fn upsert_message(
    conn: &mut PgConnection,
    sid: &str,
    tenant: TenantId,
    status: &MessageStatus,
    error_code: Option<i64>,
    owner: Option<(&str, &str)>,
    attempt_token: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<(Option<String>, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO twilio_message (sid, tenant_id, status, status_rank, error_code, owner_domain, owner_id,
           attempt_token, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
         ON CONFLICT (sid) DO UPDATE SET status = EXCLUDED.status, status_rank = EXCLUDED.status_rank,
           error_code = COALESCE(EXCLUDED.error_code, twilio_message.error_code),
           owner_domain = COALESCE(twilio_message.owner_domain, EXCLUDED.owner_domain),
           owner_id = COALESCE(twilio_message.owner_id, EXCLUDED.owner_id),
           attempt_token = COALESCE(twilio_message.attempt_token, EXCLUDED.attempt_token),
           updated_at = EXCLUDED.updated_at
         WHERE EXCLUDED.status_rank > twilio_message.status_rank
         RETURNING owner_domain, owner_id",
    )
    .bind(sid)
    .bind(tenant.uuid())
    .bind(status.as_str())
    .bind(i16::from(status.rank()))
    .bind(error_code.and_then(|c| i32::try_from(c).ok()))
    .bind(owner.map(|o| o.0))
    .bind(owner.map(|o| o.1))
    .bind(attempt_token)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// A known message's tenant and owner.
pub async fn message_owner(
    conn: &mut PgConnection,
    sid: &str,
) -> Result<Option<(uuid::Uuid, Option<String>, Option<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT tenant_id, owner_domain, owner_id FROM twilio_message WHERE sid = $1")
        .bind(sid)
        .fetch_optional(conn)
        .await
}

/// Inserts or advances a recording (terminal states never regress); whether it changed.
pub async fn upsert_recording(
    conn: &mut PgConnection,
    sid: &str,
    tenant: TenantId,
    call_sid: Option<&str>,
    status: &str,
    duration_secs: Option<i32>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO twilio_recording (sid, tenant_id, call_sid, status, duration_secs, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (sid) DO UPDATE SET status = EXCLUDED.status,
           duration_secs = COALESCE(EXCLUDED.duration_secs, twilio_recording.duration_secs), updated_at = EXCLUDED.updated_at
         WHERE twilio_recording.status NOT IN ('completed', 'absent', 'failed', 'stopped')
           AND twilio_recording.status <> EXCLUDED.status",
    )
    .bind(sid)
    .bind(tenant.uuid())
    .bind(call_sid)
    .bind(status)
    .bind(duration_secs)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
