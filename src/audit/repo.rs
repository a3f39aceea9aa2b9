//! Reading the audit log back (the chain is written by [`super::record`]).

use super::AuditEvent;
use crate::ids::TenantId;
use crate::pagination::{Cursor, Keyed, Keyset};
use sqlx::PgConnection;

macro_rules! event_columns {
    () => {
        "id, tenant_id, sequence, occurred_at, actor_kind, actor_id, action, entity_type, entity_id, \
         request_id, data, prev_hash, hash"
    };
}

/// What `GET /api/audit` filters on.
#[derive(Debug, Default)]
pub struct EventFilter<'a> {
    /// `crisis`, `twilio_attempt`, …
    pub entity_type: Option<&'a str>,
    /// The entity's id.
    pub entity_id: Option<&'a str>,
    /// `CRISIS_RECEIVED`, …
    pub action: Option<&'a str>,
}

/// A tenant's events matching `filter`, oldest first, after the cursor's sequence.
pub async fn list(
    conn: &mut PgConnection,
    tenant: TenantId,
    filter: &EventFilter<'_>,
    keys: &Keyset<i64>,
) -> Result<Vec<AuditEvent>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        event_columns!(),
        " FROM audit_event
         WHERE tenant_id = $1
           AND ($2::text IS NULL OR entity_type = $2) AND ($3::text IS NULL OR entity_id = $3)
           AND ($4::text IS NULL OR action = $4) AND ($5::bigint IS NULL OR sequence > $5)
         ORDER BY sequence LIMIT $6"
    ))
    .bind(tenant.uuid())
    .bind(filter.entity_type)
    .bind(filter.entity_id)
    .bind(filter.action)
    .bind(keys.after.map(|(_, sequence)| sequence))
    .bind(keys.fetch())
    .fetch_all(conn)
    .await
}

/// Every event of one entity, in order (a crisis's trail).
pub async fn of_entity(
    conn: &mut PgConnection,
    tenant: TenantId,
    entity_type: &str,
    entity_id: &str,
) -> Result<Vec<AuditEvent>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        event_columns!(),
        " FROM audit_event WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3 ORDER BY sequence"
    ))
    .bind(tenant.uuid())
    .bind(entity_type)
    .bind(entity_id)
    .fetch_all(conn)
    .await
}

impl Keyed for AuditEvent {
    fn sort_key(&self) -> Cursor {
        Cursor { at: self.occurred_at, id: self.sequence.to_string() }
    }
}
