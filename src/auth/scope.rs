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

/// Begins a transaction as `switchboard_app` scoped to `tenant` and to the operator's role and
/// subject (`switchboard.role`, `switchboard.subject`, transaction-local): the subject-aware
/// policies (sessions, legs, sirens) then let a client key see only its subject's rows and a
/// reader key only the rows assigned to it, even to a query that forgets the filter. A key
/// without a subject sets an empty one, which matches nothing.
pub async fn operator_tx(
    db: &PgPool,
    tenant: TenantId,
    operator: &super::Operator,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "SELECT set_config('role', 'switchboard_app', true), set_config('switchboard.tenant_id', $1, true),
                set_config('switchboard.role', $2, true), set_config('switchboard.subject', $3, true)",
    )
    .bind(tenant.to_string())
    .bind(operator.role.as_str())
    .bind(operator.subject.as_deref().unwrap_or(""))
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}
