//! The system path: the only functions allowed to skip the tenant scope. They run as the schema
//! owner (row-level security is ENABLED, not FORCED, so it does not apply to the owner) and exist
//! for work that cannot know its tenant in advance or spans tenants: resolving a called number or
//! a slug, authenticating a key by its hash, superadmin listings, the CLI, and workers.
//! Everything else goes through `auth::scope::tenant_tx`.

use crate::auth::keys::ApiKey;
use crate::tenants::TenantId;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// A transaction as the owner, for superadmin collection operations (creating, listing tenants).
pub async fn system_tx(db: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    db.begin().await
}

/// The key with this token hash (authentication).
pub async fn find_key_by_hash(db: &PgPool, hash: &[u8]) -> Result<Option<ApiKey>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, tenant_id, role, subject, name, created_at, last_used_at, revoked_at
         FROM api_key WHERE token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(db)
    .await
}

/// Records that a key was used (coarse: the caller limits this to once a minute).
pub async fn touch_key(db: &PgPool, id: Uuid, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_key SET last_used_at = $2 WHERE id = $1").bind(id).bind(now).execute(db).await?;
    Ok(())
}

/// The tenant a path names, by UUID or slug. Authorization comes after: the caller checks the
/// operator may act on it and answers 404 otherwise.
pub async fn resolve_tenant(db: &PgPool, id_or_slug: &str) -> Result<Option<TenantId>, sqlx::Error> {
    let id: Option<Uuid> = match Uuid::parse_str(id_or_slug) {
        Ok(id) => {
            sqlx::query_scalar("SELECT id FROM tenant WHERE id = $1").bind(id).fetch_optional(db).await?
        }
        Err(_) => {
            sqlx::query_scalar("SELECT id FROM tenant WHERE slug = $1")
                .bind(id_or_slug)
                .fetch_optional(db)
                .await?
        }
    };
    Ok(id.map(TenantId))
}

/// Keys of one tenant, or of all tenants (CLI listing).
pub async fn list_keys(db: &PgPool, tenant: Option<TenantId>) -> Result<Vec<ApiKey>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, tenant_id, role, subject, name, created_at, last_used_at, revoked_at FROM api_key
         WHERE $1::uuid IS NULL OR tenant_id = $1 ORDER BY created_at, id",
    )
    .bind(tenant.map(TenantId::uuid))
    .fetch_all(db)
    .await
}

/// Revokes any key by id (CLI); `false` if there is none.
pub async fn revoke_key(db: &PgPool, id: Uuid, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE api_key SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A stored idempotent answer of this caller (keyed by the caller's own key id).
pub async fn find_idempotent_answer(
    db: &PgPool,
    key_id: Uuid,
    key: &str,
) -> Result<Option<(Vec<u8>, i16, Option<String>, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as("SELECT fingerprint, status, location, body FROM idempotent_request WHERE api_key_id = $1 AND key = $2")
        .bind(key_id)
        .bind(key)
        .fetch_optional(db)
        .await
}

/// Deletes idempotent answers older than `cutoff` (all tenants: a worker).
pub async fn sweep_idempotent_requests(db: &PgPool, cutoff: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM idempotent_request WHERE created_at < $1").bind(cutoff).execute(db).await?;
    Ok(done.rows_affected())
}

/// How a called number routes, read across tenants (webhooks do not know the tenant yet).
pub async fn route_number(
    db: &PgPool,
    number: &crate::twilio::E164,
) -> Result<Option<crate::tenants::NumberRoute>, sqlx::Error> {
    let mut conn = db.acquire().await?;
    crate::tenants::repo::find_by_number(&mut conn, number).await
}

/// Every tenant (id, slug), for commands that span tenants.
pub async fn all_tenants(db: &PgPool) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, slug FROM tenant ORDER BY created_at, id").fetch_all(db).await
}

/// A tenant's audit events after `sequence`, in order (verification).
pub async fn audit_events_after(
    db: &PgPool,
    tenant: Uuid,
    sequence: i64,
    limit: i64,
) -> Result<Vec<crate::audit::AuditEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, tenant_id, sequence, occurred_at, actor_kind, actor_id, action, entity_type, entity_id,
                request_id, data, prev_hash, hash
         FROM audit_event WHERE tenant_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3",
    )
    .bind(tenant)
    .bind(sequence)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// A tenant's chain head (sequence, hash), if it has events.
pub async fn audit_head(db: &PgPool, tenant: Uuid) -> Result<Option<(i64, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as("SELECT sequence, hash FROM audit_head WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_optional(db)
        .await
}
