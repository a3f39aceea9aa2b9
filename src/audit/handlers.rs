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
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `crisis`, `outbox_message`, … (1–64 characters, no control characters).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64)]
    entity_type: Option<FilterText<64>>,
    /// A UUID or an attempt token (1–128 characters).
    #[param(value_type = Option<String>, min_length = 1, max_length = 128)]
    entity_id: Option<FilterText<128>>,
    /// `CRISIS_RECEIVED`, … (1–64 characters).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64)]
    action: Option<FilterText<64>>,
    /// Superadmin: the tenant (id or slug); an unknown one is 404.
    tenant: Option<String>,
    /// Page size: 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The previous page's `next_cursor`.
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
#[utoipa::path(get, path = "/api/audit", tag = "audit", operation_id = "list_audit",
    summary = "List audit events", description = "Roles: admin, monitor (their tenant), superadmin (naming `tenant`). Permission: `audit:read`. Oldest first.",
    params(AuditQuery), responses((status = 200, description = "A page of events", body = Page<AuditEvent>)))]
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
