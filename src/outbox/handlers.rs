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
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<Status>,
    destination: Option<FilterText<64>>,
    tenant: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /api/notifications?status=&destination=`.
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
pub async fn redeliver(
    state: State<AppState>,
    operator: Operator,
    id: ApiPath<Uuid>,
) -> ApiResult<ApiJson<serde_json::Value>> {
    let from = [Status::Parked, Status::Dead, Status::Cancelled, Status::Delivered];
    transition(state, operator, id, &from, Status::Pending, "NOTIFICATION_REDELIVERED").await
}

/// `POST /api/notifications/{id}/cancel`: a message not yet delivered is dropped for good.
pub async fn cancel(
    state: State<AppState>,
    operator: Operator,
    id: ApiPath<Uuid>,
) -> ApiResult<ApiJson<serde_json::Value>> {
    let from = [Status::Pending, Status::Parked, Status::Dead];
    transition(state, operator, id, &from, Status::Cancelled, "NOTIFICATION_CANCELLED").await
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
