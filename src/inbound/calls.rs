//! `inbound_call` rows and the text-back window.

use super::outcome::CallOutcome;
use crate::ids::TenantId;
use crate::pagination::Keyset;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

/// A call as the operator API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, utoipa::ToSchema)]
pub struct InboundCall {
    /// The call.
    pub call_sid: String,
    /// The caller.
    #[serde(rename = "from")]
    pub from_address: String,
    /// The business number.
    #[serde(rename = "to")]
    pub to_number: String,
    /// Twilio's last status.
    pub status: String,
    /// Outside business hours.
    pub after_hours: bool,
    /// Screened (the owner had to press 1).
    pub screened: bool,
    /// The owner pressed 1.
    pub accepted: bool,
    /// `answered` or `missed`.
    pub outcome: Option<String>,
    /// Why it was missed.
    pub missed_reason: Option<String>,
    /// Seconds the owner's leg lasted.
    pub dial_duration_secs: Option<i32>,
    /// Seconds the call lasted.
    pub duration_secs: Option<i32>,
    /// Voicemail recording, if one was left.
    pub voicemail_recording_sid: Option<String>,
    /// Voicemail length.
    pub voicemail_duration_secs: Option<i32>,
    /// When it rang.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// The tenant (not shown).
    #[serde(skip)]
    pub tenant_id: uuid::Uuid,
}

macro_rules! call_columns {
    () => {
        "call_sid, from_address, to_number, status, after_hours, screened, accepted, outcome, missed_reason, \
         dial_duration_secs, duration_secs, voicemail_recording_sid, voicemail_duration_secs, started_at, ended_at, tenant_id"
    };
}

/// A new call (a repeat of the same ringing webhook inserts nothing).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct NewCall {
    /// The call.
    pub sid: String,
    /// The tenant.
    pub tenant: TenantId,
    /// The caller.
    pub from: String,
    /// The business number.
    pub to: String,
    /// Twilio's status.
    pub status: String,
    /// Outside business hours.
    pub after_hours: bool,
    /// Screened.
    pub screened: bool,
    /// When it rang.
    pub at: DateTime<Utc>,
}

/// Inserts a call; `true` if it was new.
pub async fn insert(conn: &mut PgConnection, call: &NewCall) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO inbound_call (call_sid, tenant_id, from_address, to_number, status, status_rank, after_hours, screened,
           started_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $8, $8) ON CONFLICT (call_sid) DO NOTHING",
    )
    .bind(&call.sid)
    .bind(call.tenant.uuid())
    .bind(&call.from)
    .bind(&call.to)
    .bind(&call.status)
    .bind(call.after_hours)
    .bind(call.screened)
    .bind(call.at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A call by SID (webhooks: system path).
pub async fn find(conn: &mut PgConnection, sid: &str) -> Result<Option<InboundCall>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", call_columns!(), " FROM inbound_call WHERE call_sid = $1"))
        .bind(sid)
        .fetch_optional(conn)
        .await
}

/// Whether a call has a record (nothing of it is read: most callbacks find one).
pub async fn exists(conn: &mut PgConnection, sid: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM inbound_call WHERE call_sid = $1)")
        .bind(sid)
        .fetch_one(conn)
        .await
}

/// Advances a call's status by the one ordering rule ([`crate::twilio::order`]); the call if it
/// changed.
pub async fn advance(
    conn: &mut PgConnection,
    sid: &str,
    status: &str,
    rank: i16,
    sequence: Option<i32>,
    duration: Option<i32>,
    now: DateTime<Utc>,
) -> Result<Option<InboundCall>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE inbound_call SET status = $2, status_rank = $3, sequence_number = COALESCE($4, sequence_number),
           duration_secs = COALESCE($5, duration_secs), ended_at = CASE WHEN $3 >= 4 THEN $6 ELSE ended_at END, updated_at = $6
         WHERE call_sid = $1 AND call_status_supersedes(status_rank, sequence_number, $3, $4)
         RETURNING ",
        call_columns!()
    ))
    .bind(sid)
    .bind(status)
    .bind(rank)
    .bind(sequence)
    .bind(duration)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Records the dial result's outcome once ([`CallOutcome::settle`]: the first stays); the call if
/// this was the first result.
pub async fn set_outcome(
    conn: &mut PgConnection,
    sid: &str,
    outcome: &CallOutcome,
    dial_duration: Option<i32>,
    now: DateTime<Utc>,
) -> Result<Option<InboundCall>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE inbound_call SET outcome = $2, missed_reason = $3, dial_duration_secs = $4, updated_at = $5
         WHERE call_sid = $1 AND outcome IS NULL RETURNING ",
        call_columns!()
    ))
    .bind(sid)
    .bind(outcome.as_str())
    .bind(outcome.reason())
    .bind(dial_duration)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// The owner pressed 1 on the screening prompt.
pub async fn accept(conn: &mut PgConnection, sid: &str, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE inbound_call SET accepted = true, updated_at = $2 WHERE call_sid = $1")
        .bind(sid)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores a voicemail (the `<Record>` action or its status callback).
pub async fn set_voicemail(
    conn: &mut PgConnection,
    sid: &str,
    recording_sid: &str,
    url: Option<&str>,
    duration: Option<i32>,
    status: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE inbound_call SET voicemail_recording_sid = $2, voicemail_url = COALESCE($3, voicemail_url),
           voicemail_duration_secs = COALESCE($4, voicemail_duration_secs), voicemail_status = COALESCE($5, voicemail_status),
           updated_at = $6
         WHERE call_sid = $1",
    )
    .bind(sid)
    .bind(recording_sid)
    .bind(url)
    .bind(duration)
    .bind(status)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Claims the caller's text-back if none was sent within the window (sliding, from the last one).
/// The conditional upsert is atomic: two replicas handling two missed calls send one text.
pub async fn claim_text_back(
    conn: &mut PgConnection,
    tenant: TenantId,
    caller: &str,
    call_sid: &str,
    window: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let claimed: Option<i32> = sqlx::query_scalar(
        "INSERT INTO text_back_window (tenant_id, caller, last_sent_at, call_sid) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, caller) DO UPDATE SET last_sent_at = EXCLUDED.last_sent_at, call_sid = EXCLUDED.call_sid
           WHERE text_back_window.last_sent_at <= EXCLUDED.last_sent_at - $5::bigint * interval '1 second'
         RETURNING 1",
    )
    .bind(tenant.uuid())
    .bind(caller)
    .bind(now)
    .bind(call_sid)
    .bind(window.num_seconds())
    .fetch_optional(conn)
    .await?;
    Ok(claimed.is_some())
}

/// A tenant's calls, newest first, filtered.
pub async fn list(
    conn: &mut PgConnection,
    tenant: TenantId,
    status: Option<&str>,
    since: Option<DateTime<Utc>>,
    keys: &Keyset<String>,
) -> Result<Vec<InboundCall>, sqlx::Error> {
    let (at, sid) = keys.after.clone().unzip();
    sqlx::query_as(concat!(
        "SELECT ", call_columns!(), " FROM inbound_call WHERE tenant_id = $1
           AND ($2::text IS NULL OR status = $2 OR outcome = $2) AND ($3::timestamptz IS NULL OR started_at >= $3)
           AND ($4::timestamptz IS NULL OR (started_at, call_sid) < ($4, $5))
         ORDER BY started_at DESC, call_sid DESC LIMIT $6"
    ))
    .bind(tenant.uuid())
    .bind(status)
    .bind(since)
    .bind(at)
    .bind(sid)
    .bind(keys.fetch())
    .fetch_all(conn)
    .await
}

/// What Twilio reported when it used a number's fallback URL.
#[derive(Debug)]
pub struct Fallback<'a> {
    /// The tenant owning the number called, if it routes.
    pub tenant: Option<TenantId>,
    /// The call.
    pub call_sid: &'a str,
    /// Twilio's `ErrorCode`.
    pub error_code: Option<&'a str>,
    /// The URL that failed (`ErrorUrl`).
    pub error_url: Option<&'a str>,
}

/// Records a fallback (kept for operators; the caller still gets an apology if this fails).
pub async fn record_fallback(
    db: &sqlx::PgPool,
    f: &Fallback<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO call_fallback (id, tenant_id, call_sid, error_code, error_url, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(f.tenant.map(TenantId::uuid))
    .bind(f.call_sid)
    .bind(f.error_code)
    .bind(f.error_url)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

impl crate::pagination::Keyed for InboundCall {
    fn sort_key(&self) -> crate::pagination::Cursor {
        crate::pagination::Cursor { at: self.started_at, id: self.call_sid.clone() }
    }
}
