//! The audit log: an insert-only, hash-chained record of every decision, written with
//! [`record`] inside the acting transaction so the action and its event commit or fail together.
//!
//! Appends are serialized per tenant by locking the tenant's `audit_head` row; the sequence has
//! no gaps and `(sequence, occurred_at)` is strictly increasing. Each event's hash covers the
//! previous hash and a canonical encoding of the event as stored ([`chain`]), so
//! `switchboard audit verify` recomputes it from what it reads back. Keep `record` off per-webhook
//! hot paths: it serializes a tenant's audited actions.

pub mod chain;
mod console;
mod handlers;
pub mod repo;

pub use handlers::query_tenant;

use crate::ids::TenantId;
use crate::state::AppState;
use axum::Router;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An operator, by API key id.
    Operator(Uuid),
    /// Twilio, by the call or message SID of the webhook.
    Twilio(String),
    /// Switchboard itself, by worker name.
    System(&'static str),
}

impl Actor {
    fn parts(&self) -> (&'static str, String) {
        match self {
            Actor::Operator(id) => ("operator", id.to_string()),
            Actor::Twilio(sid) => ("twilio", sid.clone()),
            Actor::System(name) => ("system", (*name).to_owned()),
        }
    }
}

/// An event to record. `data` must hold no secrets and only masked phone numbers.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// Who acted.
    pub actor: Actor,
    /// `CRISIS_RECEIVED`-style.
    pub action: &'a str,
    /// `crisis`, `outbox_message`, …
    pub entity_type: &'a str,
    /// The entity's id.
    pub entity_id: String,
    /// The request that caused it, if any.
    pub request_id: Option<String>,
    /// Details.
    pub data: serde_json::Value,
}

/// A stored event.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Its id.
    pub id: Uuid,
    /// The tenant.
    pub tenant_id: Uuid,
    /// Position in the tenant's chain, from 1.
    pub sequence: i64,
    /// When (application clock, microseconds).
    pub occurred_at: DateTime<Utc>,
    /// `operator`, `twilio` or `system`.
    pub actor_kind: String,
    /// Key id, SID or worker name.
    pub actor_id: String,
    /// What happened.
    pub action: String,
    /// What it happened to.
    pub entity_type: String,
    /// Its id.
    pub entity_id: String,
    /// The request, if any.
    pub request_id: Option<String>,
    /// Details.
    pub data: serde_json::Value,
    /// The previous event's hash (zeros for the first).
    #[serde(serialize_with = "hex_bytes")]
    #[schema(value_type = String)]
    pub prev_hash: Vec<u8>,
    /// This event's hash.
    #[serde(serialize_with = "hex_bytes")]
    #[schema(value_type = String)]
    pub hash: Vec<u8>,
}

fn hex_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

/// Appends an event to the tenant's chain, in the caller's transaction.
pub async fn record(
    conn: &mut PgConnection,
    tenant: TenantId,
    now: DateTime<Utc>,
    event: NewEvent<'_>,
) -> Result<AuditEvent, sqlx::Error> {
    // Lock (or create) the head: this serializes the tenant's appends until the caller commits.
    // The data goes through PostgreSQL once here so the hash covers it exactly as jsonb stores it.
    let (sequence, prev_hash, last_at, data): (i64, Vec<u8>, DateTime<Utc>, serde_json::Value) = sqlx::query_as(
        "INSERT INTO audit_head (tenant_id, sequence, hash, occurred_at) VALUES ($1, 0, $2, '1970-01-01T00:00:00Z')
         ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id
         RETURNING sequence, hash, occurred_at, $3::jsonb",
    )
    .bind(tenant.uuid())
    .bind(chain::GENESIS.to_vec())
    .bind(&event.data)
    .fetch_one(&mut *conn)
    .await?;
    // Strictly after the previous event even if replicas' clocks disagree.
    let occurred_at = now.max(last_at + chrono::Duration::microseconds(1));
    let (actor_kind, actor_id) = event.actor.parts();
    let mut stored = AuditEvent {
        id: Uuid::new_v4(),
        tenant_id: tenant.uuid(),
        sequence: sequence + 1,
        occurred_at: crate::clock::truncate_micros(occurred_at),
        actor_kind: actor_kind.to_owned(),
        actor_id,
        action: event.action.to_owned(),
        entity_type: event.entity_type.to_owned(),
        entity_id: event.entity_id,
        request_id: event.request_id,
        data,
        prev_hash,
        hash: Vec::new(),
    };
    stored.hash = chain::hash(&stored);
    insert(conn, &stored).await?;
    sqlx::query("UPDATE audit_head SET sequence = $2, hash = $3, occurred_at = $4 WHERE tenant_id = $1")
        .bind(tenant.uuid())
        .bind(stored.sequence)
        .bind(&stored.hash)
        .bind(stored.occurred_at)
        .execute(conn)
        .await?;
    Ok(stored)
}

async fn insert(conn: &mut PgConnection, e: &AuditEvent) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_event (id, tenant_id, sequence, occurred_at, actor_kind, actor_id, action,
           entity_type, entity_id, request_id, data, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(e.id)
    .bind(e.tenant_id)
    .bind(e.sequence)
    .bind(e.occurred_at)
    .bind(&e.actor_kind)
    .bind(&e.actor_id)
    .bind(&e.action)
    .bind(&e.entity_type)
    .bind(&e.entity_id)
    .bind(&e.request_id)
    .bind(&e.data)
    .bind(&e.prev_hash)
    .bind(&e.hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// The routes [`router`] serves.
pub const ROUTES: &[crate::openapi::Route] = &[("GET", "/api/audit")];

/// The OpenAPI fragment of [`ROUTES`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(handlers::list))]
    struct Api;
    <Api as utoipa::OpenApi>::openapi()
}

/// The audit page of the operator console.
pub fn console_section() -> crate::console::Section {
    console::section()
}

/// `GET /api/audit`.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/audit", get(handlers::list))
}
