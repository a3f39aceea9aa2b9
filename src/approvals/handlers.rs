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
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<CrisisStatus>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /api/crises?status=`.
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
#[derive(Debug, Serialize)]
pub struct CrisisDetail {
    #[serde(flatten)]
    crisis: Crisis,
    approval_calls: Vec<ApprovalCall>,
    audit: Vec<AuditEvent>,
}

/// `GET /api/crises/{id}`.
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
#[derive(Debug, Default, Deserialize)]
pub struct DecisionBody {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/crises/{id}/approve`.
pub async fn approve(
    state: State<AppState>,
    operator: Operator,
    id: ApiPath<Uuid>,
    body: ApiJson<DecisionBody>,
) -> ApiResult<ApiJson<Crisis>> {
    decide(state, operator, id, body, Verdict::Approve).await
}

/// `POST /api/crises/{id}/reject`.
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
