//! `GET /api/audit?entity_type=&entity_id=&action=&cursor=&limit=` (admin, monitor; a superadmin
//! names the tenant with `tenant=`).

use super::AuditEvent;
use super::repo::{self, EventFilter};
use crate::auth::scope::tenant_tx;
use crate::auth::tenant_in_path;
use crate::auth::{Operator, Role};
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::filters::FilterText;
use crate::ids::TenantId;
use crate::pagination::{Keyset, Page, PageQuery};
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
    let keys = Keyset::from_query(&PageQuery { limit: q.limit, cursor: q.cursor.clone() })?;
    let filter = EventFilter {
        entity_type: q.entity_type.as_ref().map(FilterText::as_str),
        entity_id: q.entity_id.as_ref().map(FilterText::as_str),
        action: q.action.as_ref().map(FilterText::as_str),
    };
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let rows = repo::list(&mut tx, tenant, &filter, &keys).await?;
    tx.commit().await?;
    Ok(ApiJson(keys.page(rows)))
}
