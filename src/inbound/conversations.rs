//! Conversations, their messages, and opt-outs.

use crate::ids::TenantId;
use crate::pagination::Keyset;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// A conversation with a customer.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, utoipa::ToSchema)]
pub struct Conversation {
    /// Its id.
    pub id: Uuid,
    /// The customer's address.
    pub customer: String,
    /// The business number replies go from.
    pub business_number: String,
    /// The latest message.
    pub last_message_at: DateTime<Utc>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// The tenant (not shown).
    #[serde(skip)]
    pub tenant_id: Uuid,
}

/// A message of a conversation.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, utoipa::ToSchema)]
pub struct Message {
    /// Its id.
    pub id: Uuid,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Twilio's SID (inbound).
    pub message_sid: Option<String>,
    /// The text.
    pub body: String,
    /// `[{"url", "content_type"}]`.
    #[schema(value_type = Vec<Object>)]
    pub media: serde_json::Value,
    /// `received`, or for replies `queued`, then the ledger's status.
    pub status: String,
    /// Twilio's error code.
    pub error_code: Option<i32>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Reuses or creates the (tenant, customer) conversation; replies will go from `business_number`.
pub async fn upsert(
    conn: &mut PgConnection,
    tenant: TenantId,
    customer: &str,
    business_number: &str,
    now: DateTime<Utc>,
) -> Result<Conversation, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO conversation (id, tenant_id, customer, business_number, last_message_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5, $5)
         ON CONFLICT (tenant_id, customer) DO UPDATE SET business_number = EXCLUDED.business_number,
           last_message_at = GREATEST(conversation.last_message_at, EXCLUDED.last_message_at), updated_at = EXCLUDED.updated_at
         RETURNING id, customer, business_number, last_message_at, created_at, tenant_id",
    )
    .bind(Uuid::new_v4())
    .bind(tenant.uuid())
    .bind(customer)
    .bind(business_number)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Stores an inbound message once per MessageSid; its id if new.
pub async fn insert_inbound(
    conn: &mut PgConnection,
    conversation: &Conversation,
    sid: &str,
    body: &str,
    media: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO conversation_message (id, conversation_id, tenant_id, direction, message_sid, body, media, status, created_at, updated_at)
         VALUES ($1, $2, $3, 'inbound', $4, $5, $6, 'received', $7, $7) ON CONFLICT (message_sid) DO NOTHING RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(conversation.id)
    .bind(conversation.tenant_id)
    .bind(sid)
    .bind(body)
    .bind(media)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Stores an outbound message (a text-back or a reply), queued.
pub async fn insert_outbound(
    conn: &mut PgConnection,
    conversation: &Conversation,
    body: &str,
    now: DateTime<Utc>,
) -> Result<Message, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO conversation_message (id, conversation_id, tenant_id, direction, body, status, created_at, updated_at)
         VALUES ($1, $2, $3, 'outbound', $4, 'queued', $5, $5)
         RETURNING id, direction, message_sid, body, media, status, error_code, created_at",
    )
    .bind(Uuid::new_v4())
    .bind(conversation.id)
    .bind(conversation.tenant_id)
    .bind(body)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Shows an outbound message's latest status.
pub async fn set_status(
    conn: &mut PgConnection,
    id: Uuid,
    status: &str,
    error_code: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE conversation_message SET status = $2, error_code = COALESCE($3, error_code), updated_at = $4 WHERE id = $1")
        .bind(id)
        .bind(status)
        .bind(error_code.and_then(|c| i32::try_from(c).ok()))
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// The latest `limit` messages, oldest first.
pub async fn recent(
    conn: &mut PgConnection,
    conversation: Uuid,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    let mut rows: Vec<Message> = sqlx::query_as(
        "SELECT id, direction, message_sid, body, media, status, error_code, created_at FROM conversation_message
         WHERE conversation_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(conversation)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.reverse();
    Ok(rows)
}

/// One of a tenant's conversations.
pub async fn find(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<Conversation>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, customer, business_number, last_message_at, created_at, tenant_id FROM conversation WHERE id = $1 AND tenant_id = $2",
    )
    .bind(id)
    .bind(tenant.uuid())
    .fetch_optional(conn)
    .await
}

/// A tenant's conversations, most recent first.
pub async fn list(
    conn: &mut PgConnection,
    tenant: TenantId,
    keys: &Keyset<Uuid>,
) -> Result<Vec<Conversation>, sqlx::Error> {
    let (at, id) = keys.after.unzip();
    sqlx::query_as(
        "SELECT id, customer, business_number, last_message_at, created_at, tenant_id FROM conversation
         WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (last_message_at, id) < ($2, $3))
         ORDER BY last_message_at DESC, id DESC LIMIT $4",
    )
    .bind(tenant.uuid())
    .bind(at)
    .bind(id)
    .bind(keys.fetch())
    .fetch_all(conn)
    .await
}

/// Opts a customer out (keyword STOP, or Twilio's 21610).
pub async fn opt_out(
    conn: &mut PgConnection,
    tenant: TenantId,
    number: &str,
    source: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO opt_out (tenant_id, number, source, opted_out_at) VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, number) DO NOTHING",
    )
    .bind(tenant.uuid())
    .bind(number)
    .bind(source)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Opts a customer back in; `true` if they were opted out.
pub async fn opt_in(conn: &mut PgConnection, tenant: TenantId, number: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM opt_out WHERE tenant_id = $1 AND number = $2")
        .bind(tenant.uuid())
        .bind(number)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether a customer opted out.
pub async fn is_opted_out(
    conn: &mut PgConnection,
    tenant: TenantId,
    number: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM opt_out WHERE tenant_id = $1 AND number = $2)")
        .bind(tenant.uuid())
        .bind(number)
        .fetch_one(conn)
        .await
}

/// An opt-out as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, utoipa::ToSchema)]
pub struct OptOut {
    /// The customer.
    pub number: String,
    /// `keyword` or `twilio_21610`.
    pub source: String,
    /// When.
    pub opted_out_at: DateTime<Utc>,
}

/// A tenant's opt-outs.
pub async fn list_opt_outs(
    conn: &mut PgConnection,
    tenant: TenantId,
    keys: &Keyset<String>,
) -> Result<Vec<OptOut>, sqlx::Error> {
    let (at, number) = keys.after.clone().unzip();
    sqlx::query_as(
        "SELECT number, source, opted_out_at FROM opt_out WHERE tenant_id = $1
           AND ($2::timestamptz IS NULL OR (opted_out_at, number) > ($2, $3)) ORDER BY opted_out_at, number LIMIT $4",
    )
    .bind(tenant.uuid())
    .bind(at)
    .bind(number)
    .bind(keys.fetch())
    .fetch_all(conn)
    .await
}

impl crate::pagination::Keyed for Conversation {
    fn sort_key(&self) -> crate::pagination::Cursor {
        crate::pagination::Cursor { at: self.last_message_at, id: self.id.to_string() }
    }
}

impl crate::pagination::Keyed for OptOut {
    fn sort_key(&self) -> crate::pagination::Cursor {
        crate::pagination::Cursor { at: self.opted_out_at, id: self.number.clone() }
    }
}
