//! `/api/calls…`: schedule, read, list, cancel, start, end and drop. Each handler checks the
//! role (403), finds the session the key may see (404 otherwise) in a tenant transaction, and
//! hands the transition to the service.

use super::access::{self, Action};
use super::machine::{Dropper, SessionStatus};
use super::model::{NewSession, Session, SessionRow};
use super::repo::{self, Filter};
use super::service::{self, Outcome};
use super::worker::DeadlineWake;
use crate::audit::{Actor, query_tenant};
use crate::auth::scope::operator_tx;
use crate::auth::{Operator, Role};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::idempotency::{Created, IdempotencyKey, Scope, create_once};
use crate::ids::TenantId;
use crate::pagination::{Keyset, Page, PageQuery};
use crate::state::AppState;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// `?tenant=` (superadmin).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// Superadmin: the tenant (id or slug).
    tenant: Option<String>,
}

async fn tenant_of(state: &AppState, operator: &Operator, named: Option<&str>) -> ApiResult<TenantId> {
    query_tenant(state, operator, named).await
}

/// The session with its legs and whether a siren was raised.
async fn view(conn: &mut PgConnection, row: SessionRow) -> Result<Session, sqlx::Error> {
    let legs = repo::legs(conn, row.id).await?;
    let triggered = repo::siren_triggered(conn, row.id).await?;
    Ok(Session { siren_triggered: triggered, ..Session::new(row, legs) })
}

/// The session `id`, locked, if the operator may see it.
async fn visible(
    conn: &mut PgConnection,
    operator: &Operator,
    tenant: TenantId,
    id: Uuid,
) -> ApiResult<SessionRow> {
    let row = repo::lock(conn, tenant, id).await?;
    row.filter(|s| access::sees(operator, s)).ok_or(ApiError::NotFound)
}

fn actor(operator: &Operator) -> Actor {
    Actor::Operator(operator.key_id)
}

fn operator_label(operator: &Operator) -> String {
    format!("operator:{}", operator.key_id)
}

/// `POST /api/calls/schedule`.
#[utoipa::path(post, path = "/api/calls/schedule", tag = "calls", operation_id = "schedule_call",
    summary = "Book a call session", description = "Roles: admin (superadmin naming `tenant`). Permission: `sessions:schedule`. Numbers are normalized to E.164 (or a `sip:` URI); `scheduled_at` with an offset, or a local time with an IANA `timezone` (a time in a daylight-saving gap or fold is a 422 saying which). One active session per order (409).",
    params(TenantQuery), request_body = NewSession,
    responses((status = 201, description = "Scheduled", body = Session, headers(("Location" = String, description = "The session's URL"))),
        (status = 409, response = inline(crate::openapi::ConflictResponse))))]
pub async fn schedule(
    State(state): State<AppState>,
    Extension(wake): Extension<DeadlineWake>,
    operator: Operator,
    ApiQuery(q): ApiQuery<TenantQuery>,
    key: Option<IdempotencyKey>,
    ApiJson(body): ApiJson<NewSession>,
) -> ApiResult<Response> {
    Action::Schedule.allow(&operator)?;
    let tenant = tenant_of(&state, &operator, q.tenant.as_deref()).await?;
    let now = state.clock.now();
    let booking = body.validate(now)?;
    let request = serde_json::to_vec(&booking).unwrap_or_default();
    let actor = actor(&operator);
    let response = create_once(&state, &operator, Scope::Tenant(tenant), key, &request, move |conn| {
        async move {
            let Some(row) = service::schedule(conn, tenant, actor, &booking, now).await? else {
                return Err(ApiError::Conflict("the order already has an active session".into()));
            };
            let session = view(conn, row).await?;
            Ok(Created::new(format!("/api/calls/{}", session.id), &session))
        }
        .boxed()
    })
    .await?;
    super::worker::announce_deadline(&state, &wake).await;
    Ok(response)
}

/// `?status=&scheduled_from=&scheduled_to=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only sessions in this state.
    status: Option<SessionStatus>,
    /// Scheduled at or after this instant (RFC 3339).
    scheduled_from: Option<DateTime<Utc>>,
    /// Scheduled before this instant (RFC 3339).
    scheduled_to: Option<DateTime<Utc>>,
    /// Superadmin: the tenant (id or slug).
    tenant: Option<String>,
    /// Page size: 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// `GET /api/calls`.
#[utoipa::path(get, path = "/api/calls", tag = "calls", operation_id = "list_calls",
    summary = "List call sessions", description = "Roles: admin, monitor (their tenant), superadmin (naming `tenant`), reader (sessions assigned to its subject), client (its own). Permission: `sessions:read`. By `scheduled_at`.",
    params(ListQuery), responses((status = 200, description = "A page of sessions", body = Page<Session>)))]
pub async fn list(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<ApiJson<Page<Session>>> {
    Action::Read.allow(&operator)?;
    let tenant = tenant_of(&state, &operator, q.tenant.as_deref()).await?;
    let keys = Keyset::from_query(&PageQuery { limit: q.limit, cursor: q.cursor })?;
    let (client, reader) = access::list_scope(&operator);
    let filter = Filter {
        status: q.status.map(SessionStatus::as_str),
        from: q.scheduled_from,
        to: q.scheduled_to,
        client,
        reader,
    };
    let mut tx = operator_tx(&state.db, tenant, &operator).await?;
    let rows = repo::list(&mut tx, tenant, &filter, &keys).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        items.push(view(&mut tx, row).await?);
    }
    tx.commit().await?;
    Ok(ApiJson(keys.page(items)))
}

/// `GET /api/calls/{id}`.
#[utoipa::path(get, path = "/api/calls/{id}", tag = "calls", operation_id = "get_call",
    summary = "Read a call session", description = "Roles: as for the list. Permission: `sessions:read`. With `status`, `ended_reason`, `duration_sec`, `initiated_by`, `conference_sid` and each party's `sip_or_pstn` and leg.",
    params(("id" = Uuid, Path), TenantQuery), responses((status = 200, description = "The session", body = Session)))]
pub async fn get(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<ApiJson<Session>> {
    Action::Read.allow(&operator)?;
    let tenant = tenant_of(&state, &operator, q.tenant.as_deref()).await?;
    let mut tx = operator_tx(&state.db, tenant, &operator).await?;
    let row = repo::find(&mut tx, tenant, id)
        .await?
        .filter(|s| access::sees(&operator, s))
        .ok_or(ApiError::NotFound)?;
    let mut session = view(&mut tx, row).await?;
    session.sirens = crate::sessions::sirens::repo::of_session(&mut tx, session.id).await?;
    tx.commit().await?;
    Ok(ApiJson(session))
}

/// `{"reason": "…"}`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ReasonBody {
    /// Why (1–1000 characters; required to drop).
    #[serde(default)]
    #[schema(nullable)]
    reason: Option<String>,
}

impl ReasonBody {
    fn reason(&self, required: bool) -> ApiResult<Option<String>> {
        let reason = self.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
        match reason {
            None if required => Err(ApiError::invalid("reason", "is required")),
            Some(r) if r.chars().count() > 1000 => {
                Err(ApiError::invalid("reason", "must be at most 1000 characters"))
            }
            r => Ok(r.map(str::to_owned)),
        }
    }
}

/// `POST /api/calls/{id}/cancel`.
#[utoipa::path(post, path = "/api/calls/{id}/cancel", tag = "calls", operation_id = "cancel_call",
    summary = "Cancel a call session", description = "Roles: admin (superadmin naming `tenant`). Permission: `sessions:cancel`. Only before it starts (409 `invalid_transition` after).",
    params(("id" = Uuid, Path), TenantQuery), request_body = ReasonBody,
    responses((status = 200, description = "The cancelled session", body = Session), (status = 409, response = inline(crate::openapi::ConflictResponse))))]
pub async fn cancel(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<TenantQuery>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<ApiJson<Session>> {
    Action::Cancel.allow(&operator)?;
    let reason = body.reason(false)?;
    let tenant = tenant_of(&state, &operator, q.tenant.as_deref()).await?;
    let now = state.clock.now();
    let mut tx = operator_tx(&state.db, tenant, &operator).await?;
    let row = visible(&mut tx, &operator, tenant, id).await?;
    let row = service::cancel(&mut tx, &row, actor(&operator), reason.as_deref(), now).await?;
    let session = view(&mut tx, row).await?;
    tx.commit().await?;
    Ok(ApiJson(session))
}

/// `POST /api/calls/{order_id}/start`.
#[utoipa::path(post, path = "/api/calls/{order_id}/start", tag = "calls", operation_id = "start_call",
    summary = "Start an order's call session", description = "Roles: reader (its own sessions), admin (superadmin naming `tenant`). Permission: `sessions:start`. From 10 minutes before `scheduled_at` (409 before). Both parties are dialled from the tenant's primary number, each exactly once: starting again answers the session as it is. A session that ended (cancelled, dropped, …) is never restarted (409 `invalid_transition`).",
    params(("order_id" = String, Path), TenantQuery),
    responses((status = 200, description = "The session", body = Session), (status = 409, response = inline(crate::openapi::ConflictResponse))))]
pub async fn start(
    State(state): State<AppState>,
    Extension(wake): Extension<DeadlineWake>,
    operator: Operator,
    ApiPath(order_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<ApiJson<Session>> {
    Action::Start.allow(&operator)?;
    let tenant = tenant_of(&state, &operator, q.tenant.as_deref()).await?;
    let now = state.clock.now();
    let mut tx = operator_tx(&state.db, tenant, &operator).await?;
    let latest = repo::latest_of_order(&mut tx, tenant, &order_id).await?.ok_or(ApiError::NotFound)?;
    let row = visible(&mut tx, &operator, tenant, latest.id).await?;
    let (Outcome::Moved(row) | Outcome::Already(row)) =
        service::start(&mut tx, row, actor(&operator), &operator_label(&operator), now).await?;
    let session = view(&mut tx, row).await?;
    tx.commit().await?;
    crate::outbox::wake(&state);
    super::worker::announce_deadline(&state, &wake).await;
    Ok(ApiJson(session))
}

/// `POST /api/calls/{id}/end`.
#[utoipa::path(post, path = "/api/calls/{id}/end", tag = "calls", operation_id = "end_call",
    summary = "End a call session as a party", description = "Roles: client, reader (their own sessions). Permission: `sessions:end`. `dropped_by_client` or `dropped_by_reader`: the conference is ended by its SID (before it exists, the legs are hung up), once. A session that already ended is answered as it is; one not started is 409.",
    params(("id" = Uuid, Path)), request_body = ReasonBody,
    responses((status = 200, description = "The ended session", body = Session), (status = 409, response = inline(crate::openapi::ConflictResponse))))]
pub async fn end(
    state: State<AppState>,
    operator: Operator,
    id: ApiPath<Uuid>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<ApiJson<Session>> {
    Action::End.allow(&operator)?;
    let by = if operator.role == Role::Client { Dropper::Client } else { Dropper::Reader };
    let reason = body.reason(false)?;
    finish(state, operator, id, None, by, reason).await
}

/// `POST /api/calls/{id}/drop`.
#[utoipa::path(post, path = "/api/calls/{id}/drop", tag = "calls", operation_id = "drop_call",
    summary = "Drop a call session", description = "Roles: monitor, admin (superadmin naming `tenant`). Permission: `sessions:drop`. `reason` required. `dropped_by_monitor`: the conference is ended by its SID (before it exists, the legs are hung up), once; racing an end, one final state, each request answered with it. Audited with the actor and reason.",
    params(("id" = Uuid, Path), TenantQuery), request_body = ReasonBody,
    responses((status = 200, description = "The dropped session", body = Session), (status = 409, response = inline(crate::openapi::ConflictResponse))))]
pub async fn drop_call(
    state: State<AppState>,
    operator: Operator,
    id: ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<TenantQuery>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<ApiJson<Session>> {
    Action::Drop.allow(&operator)?;
    let reason = body.reason(true)?;
    finish(state, operator, id, q.tenant, Dropper::Monitor, reason).await
}

async fn finish(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<Uuid>,
    tenant: Option<String>,
    by: Dropper,
    reason: Option<String>,
) -> ApiResult<ApiJson<Session>> {
    let tenant = tenant_of(&state, &operator, tenant.as_deref()).await?;
    let now = state.clock.now();
    let mut tx = operator_tx(&state.db, tenant, &operator).await?;
    let row = visible(&mut tx, &operator, tenant, id).await?;
    let status = row.status;
    let Some(Outcome::Moved(row) | Outcome::Already(row)) =
        service::drop_session(&mut tx, row, by, actor(&operator), reason.as_deref(), now).await?
    else {
        return Err(ApiError::InvalidTransition(format!(
            "the session is {status}: it has not started (cancel it instead)"
        )));
    };
    let session = view(&mut tx, row).await?;
    tx.commit().await?;
    crate::outbox::wake(&state);
    Ok(ApiJson(session))
}
