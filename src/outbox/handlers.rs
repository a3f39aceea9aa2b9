//! `/api/notifications`: list by status and destination; redeliver or cancel one (admin).

use super::repo::{self, OutboxMessage, Status};
use crate::audit::{self, Actor, NewEvent};
use crate::auth::scope::tenant_tx;
use crate::auth::{Operator, Role};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::filters::{FilterText, must_be_one_of};
use crate::pagination::{Keyset, Page, PageQuery};
use crate::state::AppState;
use axum::Extension;
use axum::extract::State;
use serde::Deserialize;
use std::sync::Arc;
use uuid::Uuid;

/// The destinations this binary delivers to (the registry's names, sorted): the `destination`
/// filter accepts exactly these, so a domain adding one changes nothing here.
#[derive(Debug, Clone)]
pub struct KnownDestinations(pub Arc<Vec<String>>);

impl KnownDestinations {
    /// Checks a `destination` filter.
    fn check<'a>(&self, value: &'a FilterText<64>) -> ApiResult<&'a str> {
        let known = self.0.iter().any(|d| d == value.as_str());
        if known {
            return Ok(value.as_str());
        }
        let names: Vec<&str> = self.0.iter().map(String::as_str).collect();
        Err(ApiError::invalid("destination", must_be_one_of(&names)))
    }
}

/// Filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only messages in this state.
    status: Option<Status>,
    /// Only messages to this destination (one this binary delivers to: `call_service`, `bot`, `dispatch`, `twilio`, …).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64)]
    destination: Option<FilterText<64>>,
    /// Superadmin: the tenant (id or slug); an unknown one is 404.
    tenant: Option<String>,
    /// Page size: 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// `GET /api/notifications?status=&destination=`.
#[utoipa::path(get, path = "/api/notifications", tag = "notifications", operation_id = "list_notifications",
    summary = "List outbox messages", description = "Roles: admin, monitor (their tenant), superadmin (naming `tenant`). Permission: `notifications:read`. Payloads are not shown.",
    params(ListQuery), responses((status = 200, description = "A page of messages", body = Page<OutboxMessage>)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(known): Extension<KnownDestinations>,
    operator: Operator,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<ApiJson<Page<OutboxMessage>>> {
    let tenant = crate::audit::query_tenant(&state, &operator, q.tenant.as_deref()).await?;
    operator.require(&[Role::Admin, Role::Monitor])?;
    let keys = Keyset::from_query(&PageQuery { limit: q.limit, cursor: q.cursor.clone() })?;
    let destination = q.destination.as_ref().map(|d| known.check(d)).transpose()?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let rows = repo::list(&mut tx, tenant, q.status.map(Status::as_str), destination, &keys).await?;
    tx.commit().await?;
    Ok(ApiJson(keys.page(rows)))
}

/// `POST /api/notifications/{id}/redeliver`: a finished message (parked, dead, cancelled or
/// delivered) is due again now, with the same id.
#[utoipa::path(post, path = "/api/notifications/{id}/redeliver", tag = "notifications", operation_id = "redeliver_notification",
    summary = "Deliver a message again", description = "Roles: admin. Permission: `notifications:manage`. A parked, dead, cancelled or delivered message is due again now, with the same id (409 `invalid_transition` otherwise).",
    params(("id" = Uuid, Path)), responses((status = 200, description = "Its new state", body = Transitioned),
        (status = 409, response = inline(crate::openapi::ConflictResponse))))]
pub async fn redeliver(
    state: State<AppState>,
    operator: Operator,
    id: ApiPath<Uuid>,
) -> ApiResult<ApiJson<serde_json::Value>> {
    let from = [Status::Parked, Status::Dead, Status::Cancelled, Status::Delivered];
    transition(state, operator, id, &from, Status::Pending, "NOTIFICATION_REDELIVERED").await
}

/// `POST /api/notifications/{id}/cancel`: a message not yet delivered is dropped for good.
#[utoipa::path(post, path = "/api/notifications/{id}/cancel", tag = "notifications", operation_id = "cancel_notification",
    summary = "Drop a message", description = "Roles: admin. Permission: `notifications:manage`. A pending, parked or dead message is dropped for good (409 `invalid_transition` otherwise).",
    params(("id" = Uuid, Path)), responses((status = 200, description = "Its new state", body = Transitioned),
        (status = 409, response = inline(crate::openapi::ConflictResponse))))]
pub async fn cancel(
    state: State<AppState>,
    operator: Operator,
    id: ApiPath<Uuid>,
) -> ApiResult<ApiJson<serde_json::Value>> {
    let from = [Status::Pending, Status::Parked, Status::Dead];
    transition(state, operator, id, &from, Status::Cancelled, "NOTIFICATION_CANCELLED").await
}

/// The answer of a redelivery or a cancellation.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Transitioned {
    /// The message.
    id: Uuid,
    /// Its new state.
    status: Status,
}

async fn transition(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<Uuid>,
    from: &[Status],
    to: Status,
    action: &str,
) -> ApiResult<ApiJson<serde_json::Value>> {
    let tenant = operator.own_tenant_as(&[Role::Admin])?;
    let now = state.clock.now();
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let before = match repo::transition(&mut tx, tenant, id, from, to, now).await? {
        None => return Err(ApiError::NotFound),
        Some(Err(status)) => return Err(ApiError::InvalidTransition(format!("the message is {status}"))),
        Some(Ok(before)) => before,
    };
    let data = serde_json::json!({"from": before.status, "to": to.as_str(), "kind": before.kind, "destination": before.destination});
    let event = NewEvent {
        actor: Actor::Operator(operator.key_id),
        action,
        entity_type: "outbox_message",
        entity_id: id.to_string(),
        request_id: None,
        data,
    };
    audit::record(&mut tx, tenant, now, event).await?;
    tx.commit().await?;
    if to == Status::Pending {
        super::wake(&state);
    }
    Ok(ApiJson(serde_json::json!({"id": id, "status": to.as_str()})))
}
