//! Attempt rows: one per call or message we mean to create, and their state machine
//! (`queued → sending → created`, or `unknown`, `failed`, `parked`, `cancelled`).

use crate::ids::TenantId;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub use super::machine::{AttemptEvent, AttemptState};

/// A fresh, unguessable attempt token (URL-safe).
pub fn new_token() -> String {
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An attempt as stored.
#[derive(Debug, Clone, sqlx::FromRow, PartialEq)]
pub struct Attempt {
    /// The token in our callback URLs.
    pub token: String,
    /// The tenant.
    pub tenant_id: Uuid,
    /// `call` or `message`.
    pub kind: String,
    /// The owning domain.
    pub owner_domain: String,
    /// The owning entity.
    pub owner_id: String,
    /// The outbox message delivering it.
    pub outbox_id: Uuid,
    /// The call or message request.
    pub request: serde_json::Value,
    /// Its state.
    #[sqlx(try_from = "String")]
    pub state: AttemptState,
    /// Twilio's SID, once known.
    pub sid: Option<String>,
    /// When the create was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// When reconciliation may look in the account's list.
    pub reconcile_after: Option<DateTime<Utc>>,
    /// Whether it was already re-sent after reconciliation found nothing.
    pub retried: bool,
}

impl Attempt {
    /// The tenant id.
    pub fn tenant(&self) -> TenantId {
        TenantId(self.tenant_id)
    }
}

macro_rules! attempt_columns {
    () => {
        "token, tenant_id, kind, owner_domain, owner_id, outbox_id, request, state, sid, sent_at, reconcile_after, retried"
    };
}

/// Inserts a queued attempt.
#[allow(clippy::too_many_arguments)]
pub async fn insert(
    conn: &mut PgConnection,
    token: &str,
    tenant: TenantId,
    kind: &str,
    owner_domain: &str,
    owner_id: &str,
    outbox_id: Uuid,
    request: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO twilio_attempt (token, tenant_id, kind, owner_domain, owner_id, outbox_id, request, state, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $8)",
    )
    .bind(token)
    .bind(tenant.uuid())
    .bind(kind)
    .bind(owner_domain)
    .bind(owner_id)
    .bind(outbox_id)
    .bind(request)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// An attempt by token (system path: workers and webhooks do not know the tenant yet).
pub async fn find(db: &PgPool, token: &str) -> Result<Option<Attempt>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", attempt_columns!(), " FROM twilio_attempt WHERE token = $1"))
        .bind(token)
        .fetch_optional(db)
        .await
}

/// An attempt by token, locked for the caller's transaction.
pub async fn lock(conn: &mut PgConnection, token: &str) -> Result<Option<Attempt>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", attempt_columns!(), " FROM twilio_attempt WHERE token = $1 FOR UPDATE"))
        .bind(token)
        .fetch_optional(conn)
        .await
}

/// The attempt owning a SID, if any.
pub async fn find_by_sid(conn: &mut PgConnection, sid: &str) -> Result<Option<Attempt>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", attempt_columns!(), " FROM twilio_attempt WHERE sid = $1"))
        .bind(sid)
        .fetch_optional(conn)
        .await
}

/// [`AttemptEvent::Send`] from `queued` (or an operator-released `parked`), just before the
/// create leaves, so a crash after this point is read as "outcome unknown", never "not sent".
pub async fn mark_sending(
    db: &PgPool,
    token: &str,
    now: DateTime<Utc>,
    reconcile_after: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let event = AttemptEvent::Send;
    let done = sqlx::query(
        "UPDATE twilio_attempt SET state = $4, sent_at = $2, reconcile_after = $3, updated_at = $2
         WHERE token = $1 AND state = ANY($5)",
    )
    .bind(token)
    .bind(now)
    .bind(reconcile_after)
    .bind(event.target().as_str())
    .bind(event.sources())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Applies `event` (with an error to record), when the attempt's state allows it
/// ([`AttemptState::after`]); `false` when it did not (bound to a SID meanwhile, say).
pub async fn apply(
    db: &PgPool,
    token: &str,
    event: AttemptEvent,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE twilio_attempt SET state = $2, last_error = COALESCE($3, last_error), updated_at = $4
         WHERE token = $1 AND state = ANY($5)",
    )
    .bind(token)
    .bind(event.target().as_str())
    .bind(error)
    .bind(now)
    .bind(event.sources())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// [`AttemptEvent::Retry`]: requeues an attempt that reconciliation proved absent; it is re-sent
/// once, never twice.
pub async fn requeue_after_reconcile(
    db: &PgPool,
    token: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let event = AttemptEvent::Retry;
    let done = sqlx::query(
        "UPDATE twilio_attempt SET state = $3, retried = true, updated_at = $2
         WHERE token = $1 AND state = ANY($4) AND NOT retried",
    )
    .bind(token)
    .bind(now)
    .bind(event.target().as_str())
    .bind(event.sources())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Binds Twilio's SID to the attempt (from the create's answer, a callback, or reconciliation);
/// `false` if it was already bound (to this SID or another).
pub async fn bind(
    conn: &mut PgConnection,
    token: &str,
    sid: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let event = AttemptEvent::Bind;
    let done = sqlx::query(
        "UPDATE twilio_attempt SET state = $4, sid = $2, updated_at = $3
         WHERE token = $1 AND sid IS NULL AND state = ANY($5)",
    )
    .bind(token)
    .bind(sid)
    .bind(now)
    .bind(event.target().as_str())
    .bind(event.sources())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
