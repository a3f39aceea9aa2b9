//! `GET /api/audit?entity_type=&entity_id=&action=&cursor=&limit=` (admin, monitor; a superadmin
//! names the tenant with `tenant=`).

use super::AuditEvent;
use crate::auth::scope::tenant_tx;
use crate::auth::tenant_in_path;
use crate::auth::{Operator, Role};
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::filters::FilterText;
use crate::ids::TenantId;
use crate::pagination::{Cursor, Page, PageQuery};
use crate::state::AppState;
use axum::extract::State;
use serde::Deserialize;

/// Filters. Entity types, ids and actions are open sets (each domain adds its own, and an
/// attempt token is an entity id as much as a UUID is), so they are bounded text, not enums.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    entity_type: Option<FilterText<64>>,
    entity_id: Option<FilterText<128>>,
    action: Option<FilterText<64>>,
    tenant: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The operator's tenant, or for a superadmin the one named by `tenant=`.
pub async fn query_tenant(state: &AppState, operator: &Operator, named: Option<&str>) -> ApiResult<TenantId> {
    match (operator.tenant, named) {
        (Some(own), None) => Ok(own),
        (_, Some(named)) => tenant_in_path(state, operator, named).await,
        (None, None) => Err(ApiError::invalid("tenant", "a superadmin must name the tenant")),
    }
}

/// Lists events oldest first.
pub async fn list(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<ApiJson<Page<AuditEvent>>> {
    let tenant = query_tenant(&state, &operator, q.tenant.as_deref()).await?;
    operator.require(&[Role::Admin, Role::Monitor])?;
    let page = PageQuery { limit: q.limit, cursor: q.cursor.clone() };
    let limit = page.limit()?;
    let after: Option<i64> = match page.cursor()? {
        Some(c) => {
            Some(c.id.parse().map_err(|_| ApiError::invalid("cursor", "is not a cursor from this API"))?)
        }
        None => None,
    };
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let rows: Vec<AuditEvent> = sqlx::query_as(
        "SELECT id, tenant_id, sequence, occurred_at, actor_kind, actor_id, action, entity_type, entity_id,
                request_id, data, prev_hash, hash
         FROM audit_event
         WHERE tenant_id = $1
           AND ($2::text IS NULL OR entity_type = $2) AND ($3::text IS NULL OR entity_id = $3)
           AND ($4::text IS NULL OR action = $4) AND ($5::bigint IS NULL OR sequence > $5)
         ORDER BY sequence LIMIT $6",
    )
    .bind(tenant.uuid())
    .bind(q.entity_type.as_ref().map(FilterText::as_str))
    .bind(q.entity_id.as_ref().map(FilterText::as_str))
    .bind(q.action.as_ref().map(FilterText::as_str))
    .bind(after)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ApiJson(Page::from_rows(rows, limit, |e| Cursor { at: e.occurred_at, id: e.sequence.to_string() })))
}
