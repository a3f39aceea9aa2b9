//! `/api/crises`: create (admin, monitor), list and read (admin, monitor), approve or reject (admin).

use super::expiry::DeadlineWake;
use super::machine::CrisisStatus;
use super::model::{ApprovalCall, Crisis, NewCrisis};
use super::repo;
use super::service::{self, Decision, Outcome, Verdict};
use crate::audit::{Actor, AuditEvent};
use crate::auth::scope::tenant_tx;
use crate::auth::{Operator, Role};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::idempotency::{Created, IdempotencyKey, Scope, create_once};
use crate::pagination::{Keyset, Page, PageQuery};
use crate::state::AppState;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /api/crises`.
#[utoipa::path(post, path = "/api/crises", tag = "crises", operation_id = "create_crisis",
    summary = "Report a crisis", description = "Roles: admin, monitor. Permission: `crises:create`. At or above the tenant's `approval.risk_threshold` it waits for a duty officer (`pending_approval`); below it is dispatched at once.",
    request_body = NewCrisis,
    responses((status = 201, description = "Created", body = Crisis, headers(("Location" = String, description = "The crisis's URL")))))]
pub async fn create(
    State(state): State<AppState>,
    Extension(wake): Extension<DeadlineWake>,
    operator: Operator,
    key: Option<IdempotencyKey>,
    ApiJson(body): ApiJson<NewCrisis>,
) -> ApiResult<Response> {
    let tenant = operator.own_tenant_as(&[Role::Admin, Role::Monitor])?;
    let new = body.validate()?;
    let request = serde_json::to_vec(&new).unwrap_or_default();
    let now = state.clock.now();
    let actor = Actor::Operator(operator.key_id);
    let response = create_once(&state, &operator, Scope::Tenant(tenant), key, &request, move |conn| {
        async move {
            let crisis = service::create(conn, tenant, actor, &new, now).await?;
            Ok(Created::new(format!("/api/crises/{}", crisis.id), &crisis))
        }
        .boxed()
    })
    .await?;
    crate::outbox::wake(&state);
    super::expiry::announce_deadline(&state, &wake).await;
    Ok(response)
}

/// `?status=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only crises in this state.
    status: Option<CrisisStatus>,
    /// Page size: 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// `GET /api/crises?status=`.
#[utoipa::path(get, path = "/api/crises", tag = "crises", operation_id = "list_crises",
    summary = "List crises", description = "Roles: admin, monitor. Permission: `crises:read`.",
    params(ListQuery), responses((status = 200, description = "A page of crises", body = Page<Crisis>)))]
pub async fn list(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<ApiJson<Page<Crisis>>> {
    let tenant = operator.own_tenant_as(&[Role::Admin, Role::Monitor])?;
    let keys = Keyset::from_query(&PageQuery { limit: q.limit, cursor: q.cursor })?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let rows = repo::list(&mut tx, tenant, q.status.map(CrisisStatus::as_str), &keys).await?;
    tx.commit().await?;
    Ok(ApiJson(keys.page(rows)))
}

/// A crisis with its officer calls and audit trail.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CrisisDetail {
    #[serde(flatten)]
    pub(super) crisis: Crisis,
    /// Its duty officer calls.
    pub(super) approval_calls: Vec<ApprovalCall>,
    /// Its audit trail.
    pub(super) audit: Vec<AuditEvent>,
}

/// `GET /api/crises/{id}`.
#[utoipa::path(get, path = "/api/crises/{id}", tag = "crises", operation_id = "get_crisis",
    summary = "Read a crisis", description = "Roles: admin, monitor. Permission: `crises:read`. With its officer calls and audit trail.",
    params(("id" = Uuid, Path)), responses((status = 200, description = "The crisis", body = CrisisDetail)))]
pub async fn get(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiJson<CrisisDetail>> {
    let tenant = operator.own_tenant_as(&[Role::Admin, Role::Monitor])?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let crisis = repo::find(&mut tx, tenant, id).await?.ok_or(ApiError::NotFound)?;
    let approval_calls = repo::calls_of(&mut tx, id).await?;
    let audit = crate::audit::repo::of_entity(&mut tx, tenant, "crisis", &id.to_string()).await?;
    tx.commit().await?;
    Ok(ApiJson(CrisisDetail { crisis, approval_calls, audit }))
}

/// `{"reason": "…"}`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct DecisionBody {
    /// Why (kept up to 1000 characters).
    #[serde(default)]
    #[schema(nullable)]
    pub(super) reason: Option<String>,
}

/// `POST /api/crises/{id}/approve`.
#[utoipa::path(post, path = "/api/crises/{id}/approve", tag = "crises", operation_id = "approve_crisis",
    summary = "Approve a crisis", description = "Roles: admin. Permission: `crises:decide`. 409 `invalid_transition` once decided or expired.",
    params(("id" = Uuid, Path)), request_body = DecisionBody,
    responses((status = 200, description = "The decided crisis", body = Crisis), (status = 409, response = inline(crate::openapi::ConflictResponse))))]
pub async fn approve(
    state: State<AppState>,
    operator: Operator,
    id: ApiPath<Uuid>,
    body: ApiJson<DecisionBody>,
) -> ApiResult<ApiJson<Crisis>> {
    decide(state, operator, id, body, Verdict::Approve).await
}

/// `POST /api/crises/{id}/reject`.
#[utoipa::path(post, path = "/api/crises/{id}/reject", tag = "crises", operation_id = "reject_crisis",
    summary = "Reject a crisis", description = "Roles: admin. Permission: `crises:decide`. 409 `invalid_transition` once decided or expired.",
    params(("id" = Uuid, Path)), request_body = DecisionBody,
    responses((status = 200, description = "The decided crisis", body = Crisis), (status = 409, response = inline(crate::openapi::ConflictResponse))))]
pub async fn reject(
    state: State<AppState>,
    operator: Operator,
    id: ApiPath<Uuid>,
    body: ApiJson<DecisionBody>,
) -> ApiResult<ApiJson<Crisis>> {
    decide(state, operator, id, body, Verdict::Reject).await
}

async fn decide(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<DecisionBody>,
    verdict: Verdict,
) -> ApiResult<ApiJson<Crisis>> {
    let tenant = operator.own_tenant_as(&[Role::Admin])?;
    let reason = body.reason.map(|r| r.trim().chars().take(1000).collect::<String>());
    let now = state.clock.now();
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let details = serde_json::json!({"crisis_id": id, "reason": reason, "via": "api"});
    let decision =
        Decision { verdict, actor: Actor::Operator(operator.key_id), details, reason: reason.as_deref() };
    let outcome = service::decide(&mut tx, tenant, id, decision, now).await?;
    tx.commit().await?;
    crate::outbox::wake(&state);
    match outcome {
        None => Err(ApiError::NotFound),
        Some(Outcome::Decided(crisis)) => Ok(ApiJson(crisis)),
        Some(Outcome::Expired(_)) => {
            Err(ApiError::InvalidTransition("the crisis decision has expired".into()))
        }
        Some(Outcome::AlreadyDecided(crisis)) => {
            Err(ApiError::InvalidTransition(format!("the crisis is already {}", crisis.status)))
        }
    }
}
