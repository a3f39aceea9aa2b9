//! Tenant-scoped transactions: the request path to a tenant's data.
//!
//! The transaction switches to `switchboard_app` (no BYPASSRLS) and sets `switchboard.tenant_id`,
//! both transaction-local, so a query that forgets its tenant filter sees nothing of anyone else —
//! and the settings vanish at COMMIT/ROLLBACK, before the connection returns to the pool.

use crate::ids::TenantId;
use sqlx::{PgPool, Postgres, Transaction};

/// Begins a transaction as `switchboard_app` scoped to `tenant`.
pub async fn tenant_tx(db: &PgPool, tenant: TenantId) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = db.begin().await?;
    // One round trip: set_config('role', …, true) is SET LOCAL ROLE.
    sqlx::query(
        "SELECT set_config('role', 'switchboard_app', true), set_config('switchboard.tenant_id', $1, true)",
    )
    .bind(tenant.to_string())
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}
