//! The control row and the recordings of a session.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A session's control row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ControlRow {
    /// `stopped`, `recording`, `paused`.
    pub status: String,
    /// The state asked for and not yet confirmed.
    pub requested: Option<String>,
    /// The recording being controlled (private).
    pub current_sid: Option<String>,
    /// Controls asked so far (each request's key).
    pub seq: i32,
    /// When the consent notice was asked for.
    pub notice_requested_at: Option<DateTime<Utc>>,
    /// When Twilio said it played.
    pub notice_played_at: Option<DateTime<Utc>>,
    /// Twilio's code of the last refused control.
    pub error_code: Option<i64>,
}

/// The session's control row, created if missing, locked until the caller commits.
pub async fn lock(
    conn: &mut PgConnection,
    tenant: Uuid,
    session: Uuid,
    now: DateTime<Utc>,
) -> Result<ControlRow, sqlx::Error> {
    sqlx::query(
        "INSERT INTO session_recording_control (session_id, tenant_id, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (session_id) DO NOTHING",
    )
    .bind(session)
    .bind(tenant)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query_as(
        "SELECT status, requested, current_sid, seq, notice_requested_at, notice_played_at, error_code
         FROM session_recording_control WHERE session_id = $1 FOR UPDATE",
    )
    .bind(session)
    .fetch_one(conn)
    .await
}

/// The session's control row, if a control was ever asked.
pub async fn find(conn: &mut PgConnection, session: Uuid) -> Result<Option<ControlRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT status, requested, current_sid, seq, notice_requested_at, notice_played_at, error_code
         FROM session_recording_control WHERE session_id = $1",
    )
    .bind(session)
    .fetch_optional(conn)
    .await
}

/// Writes the control row back.
pub async fn save(
    conn: &mut PgConnection,
    session: Uuid,
    row: &ControlRow,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE session_recording_control SET status = $2, requested = $3, current_sid = $4, seq = $5,
             notice_requested_at = $6, notice_played_at = $7, error_code = $8, updated_at = $9
         WHERE session_id = $1",
    )
    .bind(session)
    .bind(&row.status)
    .bind(&row.requested)
    .bind(&row.current_sid)
    .bind(row.seq)
    .bind(row.notice_requested_at)
    .bind(row.notice_played_at)
    .bind(row.error_code)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

/// A recording as the API shows it: never its SID or Twilio's URL.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Recording {
    /// Switchboard's id of the recording.
    pub id: Uuid,
    /// The leg recorded (`reader`, or `client` if the reader's leg was gone).
    pub party: String,
    /// `in_progress`, `completed`, `absent`, `failed`.
    pub status: String,
    /// Seconds recorded (pauses cut out).
    pub duration_sec: Option<i32>,
    /// 2: each party on its own channel.
    pub channels: Option<i32>,
    /// When Twilio started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it completed.
    pub ended_at: Option<DateTime<Utc>>,
    /// When the consent notice played before it.
    pub notice_played_at: Option<DateTime<Utc>>,
    /// A link to the audio valid one hour, no key needed (completed recordings only).
    #[sqlx(skip)]
    pub download_url: Option<String>,
}

/// Records a recording Twilio started (or reported first), once per SID; whether it was new.
#[allow(clippy::too_many_arguments)]
pub async fn upsert(
    conn: &mut PgConnection,
    tenant: Uuid,
    session: Uuid,
    sid: &str,
    party: &str,
    notice_played_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // `xmax = 0` only for a row this statement inserted.
    sqlx::query_scalar(
        "INSERT INTO session_recording (id, tenant_id, session_id, sid, party, status, started_at, notice_played_at,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'in_progress', $6, $7, $6, $6)
         ON CONFLICT (sid) DO UPDATE SET notice_played_at = COALESCE(session_recording.notice_played_at, EXCLUDED.notice_played_at)
         RETURNING xmax = 0",
    )
    .bind(Uuid::new_v4())
    .bind(tenant)
    .bind(session)
    .bind(sid)
    .bind(party)
    .bind(now)
    .bind(notice_played_at)
    .fetch_one(conn)
    .await
}

/// A recording's final status (`completed`, `absent`, `failed`), with what Twilio reported.
pub async fn finish(
    conn: &mut PgConnection,
    sid: &str,
    status: &str,
    duration: Option<i32>,
    channels: Option<i32>,
    url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE session_recording SET status = $2, duration_sec = COALESCE($3, duration_sec),
             channels = COALESCE($4, channels), media_url = COALESCE($5, media_url), ended_at = COALESCE(ended_at, $6),
             updated_at = $6
         WHERE sid = $1 AND status = 'in_progress'",
    )
    .bind(sid)
    .bind(status)
    .bind(duration)
    .bind(channels)
    .bind(url)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

/// The session's recordings, oldest first (deleted ones left out).
pub async fn list(conn: &mut PgConnection, session: Uuid) -> Result<Vec<Recording>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, party, status, duration_sec, channels, started_at, ended_at, notice_played_at
         FROM session_recording WHERE session_id = $1 AND deleted_at IS NULL ORDER BY created_at, id",
    )
    .bind(session)
    .fetch_all(conn)
    .await
}

/// Marks recording `id` of `session` deleted; its SID (to delete at Twilio), or `None` if there is
/// no such undeleted recording.
pub async fn mark_deleted(
    conn: &mut PgConnection,
    session: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE session_recording SET deleted_at = $3, updated_at = $3
         WHERE id = $2 AND session_id = $1 AND deleted_at IS NULL RETURNING sid",
    )
    .bind(session)
    .bind(id)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// The media URL of a completed, undeleted recording, read across tenants: the signed link
/// names the recording and is what authorizes (`GET /media/recordings/{id}`).
pub async fn media_url(db: &PgPool, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT media_url FROM session_recording
         WHERE id = $1 AND deleted_at IS NULL AND status = 'completed' AND media_url IS NOT NULL",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Recordings past their tenant's `recording_retention_days`, across tenants (the worker's role
/// sees every tenant), locked and skipped by other replicas: (id, tenant, SID). A recording still
/// in progress is left alone until it completes.
pub async fn past_retention(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(Uuid, Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.id, r.tenant_id, r.sid FROM session_recording r JOIN tenant t ON t.id = r.tenant_id
         WHERE r.deleted_at IS NULL AND r.status <> 'in_progress' AND t.recording_retention_days IS NOT NULL
           AND r.created_at < $1 - make_interval(days => t.recording_retention_days)
         ORDER BY r.created_at LIMIT $2 FOR UPDATE OF r SKIP LOCKED",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Marks recording `id` deleted by the retention (whatever its session).
pub async fn mark_expired(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE session_recording SET deleted_at = $2, updated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}
