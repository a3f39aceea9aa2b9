//! `POST /api/calls/{id}/siren`, `GET /api/sirens`, `POST /api/sirens/{id}/acknowledge` and
//! `…/resolve`. Each handler checks the role (403), finds what the key may see (404 otherwise) in
//! a transaction scoped to the key's tenant, role and subject — so the database's policies filter
//! the same rows again — and hands the transition to the service.

use super::machine::{SirenEvent, SirenStatus};
use super::model::{NewSiren, ResolveSiren, Siren};
use super::repo;
use super::service::{self, By};
use crate::audit::{Actor, query_tenant};
use crate::auth::scope::operator_tx;
use crate::auth::{Operator, Role};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::http::REQUEST_ID;
use crate::pagination::{Keyset, Page, PageQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

/// Who may raise a siren: anyone on the call, and the monitors (on a session they can see).
pub const RAISE: &[Role] = &[Role::Superadmin, Role::Admin, Role::Monitor, Role::Client, Role::Reader];
/// Who may read, acknowledge and resolve sirens: the monitor team.
pub const HANDLE: &[Role] = &[Role::Superadmin, Role::Admin, Role::Monitor];

fn allow(operator: &Operator, roles: &[Role]) -> ApiResult<()> {
    if roles.contains(&operator.role) { Ok(()) } else { Err(ApiError::Forbidden) }
}

fn by(operator: &Operator, headers: &HeaderMap) -> By {
    By {
        actor: Actor::Operator(operator.key_id),
        label: format!("operator:{}", operator.key_id),
        role: operator.role.as_str(),
        request_id: headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned),
    }
}

/// `?tenant=` (superadmin).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// Superadmin: the tenant (id or slug).
    tenant: Option<String>,
}

/// `POST /api/calls/{id}/siren`.
#[utoipa::path(post, path = "/api/calls/{id}/siren", tag = "sirens", operation_id = "trigger_siren",
    summary = "Raise a siren on a call session", description = "Roles: client, reader (their own sessions), monitor, admin (superadmin naming `tenant`). Permission: `sirens:trigger`. The siren is `active`, the session `siren_triggered`, and `siren.triggered` goes to the monitor team. An `emergency` not acknowledged within the tenant's `siren_escalate_after_secs` (default 120) texts each duty officer once.",
    params(("id" = Uuid, Path), TenantQuery), request_body = NewSiren,
    responses((status = 201, description = "Raised", body = Siren, headers(("Location" = String, description = "The siren's URL")))))]
pub async fn trigger(
    State(state): State<AppState>,
    operator: Operator,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<TenantQuery>,
    ApiJson(body): ApiJson<NewSiren>,
) -> ApiResult<Response> {
    allow(&operator, RAISE)?;
    let reason = body.reason()?;
    let tenant = query_tenant(&state, &operator, q.tenant.as_deref()).await?;
    let now = state.clock.now();
    let mut tx = operator_tx(&state.db, tenant, &operator).await?;
    let session = crate::sessions::repo::find(&mut tx, tenant, id).await?;
    let session = session.filter(|s| crate::sessions::sees(&operator, s)).ok_or(ApiError::NotFound)?;
    let by = by(&operator, &headers);
    let siren = service::trigger(&mut tx, tenant, session.id, body.alert_type, &reason, &by, now).await?;
    tx.commit().await?;
    crate::outbox::wake(&state);
    let location = format!("/api/sirens/{}", siren.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], ApiJson(siren)).into_response())
}

/// `?status=&call_id=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only sirens in this state.
    status: Option<SirenStatus>,
    /// Only the sirens of this call session.
    call_id: Option<Uuid>,
    /// Superadmin: the tenant (id or slug).
    tenant: Option<String>,
    /// Page size: 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// `GET /api/sirens`.
#[utoipa::path(get, path = "/api/sirens", tag = "sirens", operation_id = "list_sirens",
    summary = "List sirens", description = "Roles: monitor, admin (their tenant), superadmin (naming `tenant`). Permission: `sirens:read`. Oldest first.",
    params(ListQuery), responses((status = 200, description = "A page of sirens", body = Page<Siren>)))]
pub async fn list(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<ApiJson<Page<Siren>>> {
    allow(&operator, HANDLE)?;
    let tenant = query_tenant(&state, &operator, q.tenant.as_deref()).await?;
    let keys = Keyset::from_query(&PageQuery { limit: q.limit, cursor: q.cursor })?;
    let mut tx = operator_tx(&state.db, tenant, &operator).await?;
    let rows = repo::list(&mut tx, tenant, q.status.map(SirenStatus::as_str), q.call_id, &keys).await?;
    tx.commit().await?;
    Ok(ApiJson(keys.page(rows)))
}

/// `POST /api/sirens/{id}/acknowledge`.
#[utoipa::path(post, path = "/api/sirens/{id}/acknowledge", tag = "sirens", operation_id = "acknowledge_siren",
    summary = "Acknowledge a siren", description = "Roles: monitor, admin (superadmin naming `tenant`). Permission: `sirens:handle`. Only an `active` siren (409 `invalid_transition` otherwise); stops its escalation. Who and when are stored and audited; `siren.acknowledged` goes to the monitor team.",
    params(("id" = Uuid, Path), TenantQuery),
    responses((status = 200, description = "The acknowledged siren", body = Siren), (status = 409, response = inline(crate::openapi::ConflictResponse))))]
pub async fn acknowledge(
    state: State<AppState>,
    operator: Operator,
    headers: HeaderMap,
    id: ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<ApiJson<Siren>> {
    move_siren(state, operator, headers, id, q, SirenEvent::Acknowledge, None).await
}

/// `POST /api/sirens/{id}/resolve`.
#[utoipa::path(post, path = "/api/sirens/{id}/resolve", tag = "sirens", operation_id = "resolve_siren",
    summary = "Resolve a siren", description = "Roles: monitor, admin (superadmin naming `tenant`). Permission: `sirens:handle`. `resolution`: `resolved` or `false_alarm`, from `active` or `acknowledged` (409 `invalid_transition` once resolved). Who and when are stored and audited; `siren.resolved` goes to the monitor team.",
    params(("id" = Uuid, Path), TenantQuery), request_body = ResolveSiren,
    responses((status = 200, description = "The resolved siren", body = Siren), (status = 409, response = inline(crate::openapi::ConflictResponse))))]
pub async fn resolve(
    state: State<AppState>,
    operator: Operator,
    headers: HeaderMap,
    id: ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<TenantQuery>,
    ApiJson(body): ApiJson<ResolveSiren>,
) -> ApiResult<ApiJson<Siren>> {
    let note = body.note()?;
    move_siren(state, operator, headers, id, q, SirenEvent::Resolve(body.resolution), note).await
}

async fn move_siren(
    State(state): State<AppState>,
    operator: Operator,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
    q: TenantQuery,
    event: SirenEvent,
    note: Option<String>,
) -> ApiResult<ApiJson<Siren>> {
    allow(&operator, HANDLE)?;
    let tenant = query_tenant(&state, &operator, q.tenant.as_deref()).await?;
    let now = state.clock.now();
    let mut tx = operator_tx(&state.db, tenant, &operator).await?;
    let siren = repo::lock(&mut tx, tenant, id).await?.ok_or(ApiError::NotFound)?;
    let by = by(&operator, &headers);
    let moved = service::transition(&mut tx, &siren, event, note.as_deref(), &by, now).await?;
    tx.commit().await?;
    crate::outbox::wake(&state);
    Ok(ApiJson(moved))
}
