//! The system path: work that skips the tenant scope. It runs as the schema owner (row-level
//! security is ENABLED, not FORCED, so it does not apply to the owner) and exists for work that
//! cannot know its tenant in advance or spans tenants: resolving a slug, superadmin listings, the
//! CLI, and workers. Everything else goes through `auth::scope::tenant_tx`.
//!
//! This module is a leaf of the tenancy layer (it imports only [`crate::ids`]); the unscoped
//! look-ups that return another module's rows live with that module's SQL, each marked
//! "Unscoped (system path)" in its doc, so `grep -rn "Unscoped (system path)" src` lists them all:
//! key authentication and CLI key management (`auth::keys`), number routing (`tenants::repo`),
//! idempotent answers and their sweep (`idempotency`), audit verification (`audit::chain`), and
//! the outbound dialer, its slot settlement and its voice webhook (`outbound`).

use crate::ids::TenantId;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// A transaction as the owner, for superadmin collection operations (creating, listing tenants).
pub async fn system_tx(db: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    db.begin().await
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

/// Every tenant (id, slug), for commands that span tenants.
pub async fn all_tenants(db: &PgPool) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, slug FROM tenant ORDER BY created_at, id").fetch_all(db).await
}
