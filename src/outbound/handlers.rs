//! `/api/outbound/…`: create, list and read runs (and their jobs), start, pause, resume, cancel,
//! stop-queue and one-job cancel. Roles: admin does everything; monitor reads and may stop-queue
//! (an emergency brake); others 403; another tenant's ids are 404. Every change is audited with
//! the acting key, in the transaction that makes it.

use super::machine::RunStatus;
use super::model::{Job, JobStatus, Run, Script};
use super::policy::{CallingWindow, Machine, Policy, Retry};
use super::{repo, service};
use crate::audit::Actor;
use crate::auth::scope::tenant_tx;
use crate::auth::{Operator, Role};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, FieldError};
use crate::idempotency::{Created, IdempotencyKey, Scope, create_once};
use crate::pagination::{Keyset, Page, PageQuery};
use crate::state::AppState;
use crate::twilio::E164;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub(super) const ADMIN: &[Role] = &[Role::Admin];
pub(super) const READERS: &[Role] = &[Role::Admin, Role::Monitor];

/// `POST /api/outbound/runs`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "November renewals", "from_number": "+12025550100", "script": {"say": "Hello from Acme."}, "max_concurrent": 3}))]
pub struct NewRun {
    /// 1–200 characters.
    name: String,
    /// One of the business's active numbers (the caller id).
    from_number: String,
    /// `{"say": "…"}`, `{"connect": "+1…"}` or `{"twiml_url": "https://…"}`.
    script: Script,
    /// This run's own cap (1–1000); the business's `outbound_max_concurrent` still applies.
    /// Default: the business's cap.
    #[schema(minimum = 1, maximum = 1000)]
    max_concurrent: Option<i32>,
    /// `{"start": "09:00", "end": "20:00", "days": ["mon", …]}` in each lead's timezone (else the
    /// business's). Default: the business's hours and holidays (none set = any time).
    calling_window: Option<CallingWindow>,
    /// Retries by outcome, e.g. `{"busy": {"after_mins": 10, "max": 2}}`. Default: none.
    retry: Option<Retry>,
    /// `"hangup"` or `{"leave_message": "…"}`. Default: no machine detection. Not with `twiml_url` (422).
    machine: Option<Machine>,
}

impl NewRun {
    /// The policies it asks for.
    fn policy(&self) -> Policy {
        Policy {
            calling_window: self.calling_window.clone(),
            retry: self.retry.clone(),
            machine: self.machine.clone(),
        }
    }

    fn validate(&self) -> ApiResult<E164> {
        let mut errors = Vec::new();
        let name = self.name.trim().chars().count();
        if name == 0 || name > 200 || self.name.chars().any(char::is_control) {
            errors.push(FieldError::new("name", "must be 1 to 200 characters"));
        }
        let from = E164::parse(&self.from_number);
        if from.is_err() {
            errors.push(FieldError::new("from_number", "must be an E.164 number"));
        }
        if let Some((field, message)) = self.script.problem() {
            errors.push(FieldError::new(field, message));
        }
        if self.max_concurrent.is_some_and(|n| !(1..=1000).contains(&n)) {
            errors.push(FieldError::new("max_concurrent", "must be a whole number from 1 to 1000"));
        }
        errors.extend(self.policy().problems(matches!(self.script, Script::TwimlUrl(_))));
        match from {
            Ok(from) if errors.is_empty() => Ok(from),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

#[utoipa::path(post, path = "/api/outbound/runs", tag = "outbound", operation_id = "create_outbound_run",
    summary = "Create a run", description = "Roles: admin. Permission: `outbound:write`. The run is `pending`: upload its leads, then start it.",
    request_body = NewRun,
    responses((status = 201, description = "Created", body = Run, headers(("Location" = String, description = "The run's URL")))))]
/// `POST /api/outbound/runs` (admin).
pub async fn create(
    State(state): State<AppState>,
    operator: Operator,
    key: Option<IdempotencyKey>,
    ApiJson(body): ApiJson<NewRun>,
) -> ApiResult<Response> {
    let tenant = operator.own_tenant_as(ADMIN)?;
    let from = body.validate()?;
    let request = serde_json::to_vec(&body).unwrap_or_default();
    let now = state.clock.now();
    let actor = operator.key_id;
    create_once(&state, &operator, Scope::Tenant(tenant), key, &request, move |conn| {
        async move {
            let run = service::create(
                conn,
                tenant,
                actor,
                &body.name,
                &from,
                &body.script,
                body.max_concurrent,
                &body.policy(),
                now,
            )
            .await?;
            Ok(Created::new(format!("/api/outbound/runs/{}", run.id), &run))
        }
        .boxed()
    })
    .await
}

/// `?status=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// Only runs in this state.
    #[param(value_type = Option<RunStatus>)]
    status: Option<String>,
    /// Page size: 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/outbound/runs", tag = "outbound", operation_id = "list_outbound_runs",
    summary = "List runs", description = "Roles: admin, monitor. Permission: `outbound:read`. Oldest first, with their counts.",
    params(RunQuery), responses((status = 200, description = "A page of runs", body = Page<Run>)))]
/// `GET /api/outbound/runs`.
pub async fn list(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(q): ApiQuery<RunQuery>,
) -> ApiResult<ApiJson<Page<Run>>> {
    let tenant = operator.own_tenant_as(READERS)?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
            ApiError::invalid(
                "status",
                "must be one of pending, running, paused, completed, cancelled, stopped, failed",
            )
        })?),
    };
    let keys = Keyset::from_query(&PageQuery { limit: q.limit, cursor: q.cursor })?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let rows = repo::list_runs(&mut tx, tenant, status, &keys).await?;
    let mut runs = Vec::with_capacity(rows.len());
    for row in rows {
        runs.push(service::view(&mut tx, &state, row).await?);
    }
    tx.commit().await?;
    Ok(ApiJson(keys.page(runs)))
}

#[utoipa::path(get, path = "/api/outbound/runs/{id}", tag = "outbound", operation_id = "get_outbound_run",
    summary = "Read a run", description = "Roles: admin, monitor. Permission: `outbound:read`. Its state, counts per status and outcome, and an ETA from the account's pace.",
    params(("id" = Uuid, Path)), responses((status = 200, description = "The run", body = Run)))]
/// `GET /api/outbound/runs/{id}`.
pub async fn get(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiJson<Run>> {
    let tenant = operator.own_tenant_as(READERS)?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let row = repo::find_run(&mut tx, tenant, id).await?.ok_or(ApiError::NotFound)?;
    let run = service::view(&mut tx, &state, row).await?;
    tx.commit().await?;
    Ok(ApiJson(run))
}

/// `{"at": "…"}`: when to begin dialling (default now).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartAt {
    /// RFC 3339; omitted or in the past: now.
    at: Option<DateTime<Utc>>,
}

#[utoipa::path(post, path = "/api/outbound/runs/{id}/start", tag = "outbound", operation_id = "start_outbound_run",
    summary = "Start a run", description = "Roles: admin. Permission: `outbound:write`. Now, or at `at` (the run stays `pending` until then). Only a `pending` run starts (409 otherwise). The body is optional.",
    params(("id" = Uuid, Path)), request_body(content = Option<StartAt>),
    responses((status = 200, description = "The run", body = Run), (status = 409, response = inline(crate::openapi::ConflictResponse))))]
/// `POST /api/outbound/runs/{id}/start`.
pub async fn start(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<Uuid>,
    body: Bytes,
) -> ApiResult<ApiJson<Run>> {
    let tenant = operator.own_tenant_as(ADMIN)?;
    let at = if body.iter().all(u8::is_ascii_whitespace) {
        StartAt::default()
    } else {
        serde_json::from_slice::<StartAt>(&body).map_err(|e| ApiError::invalid("at", e.to_string()))?
    };
    let actor = Actor::Operator(operator.key_id);
    let run = service::change(&state, tenant, id, actor, service::Change::Start(at.at)).await?;
    Ok(ApiJson(run))
}

macro_rules! transition_handler {
    ($name:ident, $path:literal, $op:literal, $summary:literal, $desc:literal, $change:expr) => {
        #[utoipa::path(post, path = $path, tag = "outbound", operation_id = $op, summary = $summary,
            description = $desc, params(("id" = Uuid, Path)),
            responses((status = 200, description = "The run", body = Run), (status = 409, response = inline(crate::openapi::ConflictResponse))))]
        #[doc = $summary]
        pub async fn $name(
            State(state): State<AppState>,
            operator: Operator,
            ApiPath(id): ApiPath<Uuid>,
        ) -> ApiResult<ApiJson<Run>> {
            let tenant = operator.own_tenant_as(ADMIN)?;
            let actor = Actor::Operator(operator.key_id);
            Ok(ApiJson(service::change(&state, tenant, id, actor, $change).await?))
        }
    };
}

transition_handler!(
    pause,
    "/api/outbound/runs/{id}/pause",
    "pause_outbound_run",
    "Pause a run",
    "Roles: admin. Permission: `outbound:write`. No new calls until resumed; live calls finish.",
    service::Change::Pause
);
transition_handler!(
    resume,
    "/api/outbound/runs/{id}/resume",
    "resume_outbound_run",
    "Resume a paused run",
    "Roles: admin. Permission: `outbound:write`.",
    service::Change::Resume
);
transition_handler!(
    cancel,
    "/api/outbound/runs/{id}/cancel",
    "cancel_outbound_run",
    "Cancel a run gracefully",
    "Roles: admin. Permission: `outbound:write`. Queued jobs and creates not yet sent are cancelled; live calls finish; then the run is `cancelled`.",
    service::Change::Cancel
);

/// `{"run_id"}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopQueue {
    /// The run to stop.
    run_id: Uuid,
}

#[utoipa::path(post, path = "/api/outbound/stop-queue", tag = "outbound", operation_id = "stop_outbound_queue",
    summary = "Stop a run at once", description = "Roles: admin, monitor (an emergency brake). Permission: `outbound:stop`. Queued jobs are cancelled, live calls hung up through Twilio (a create still in doubt is hung up when its SID binds); the run is `stopped`.",
    request_body = StopQueue,
    responses((status = 200, description = "The run", body = Run),
        (status = 404, description = "`not_found`: no such run (also another business's)", body = crate::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, response = inline(crate::openapi::ConflictResponse))))]
/// `POST /api/outbound/stop-queue`.
pub async fn stop_queue(
    State(state): State<AppState>,
    operator: Operator,
    ApiJson(body): ApiJson<StopQueue>,
) -> ApiResult<ApiJson<Run>> {
    let tenant = operator.own_tenant_as(READERS)?;
    let actor = Actor::Operator(operator.key_id);
    Ok(ApiJson(service::change(&state, tenant, body.run_id, actor, service::Change::Stop).await?))
}

/// `?status=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// Only jobs in this state.
    status: Option<JobStatus>,
    /// Page size: 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/outbound/runs/{id}/jobs", tag = "outbound", operation_id = "list_outbound_jobs",
    summary = "List a run's jobs", description = "Roles: admin, monitor. Permission: `outbound:read`.",
    params(("id" = Uuid, Path), JobQuery), responses((status = 200, description = "A page of jobs", body = Page<Job>)))]
/// `GET /api/outbound/runs/{id}/jobs?status=`.
pub async fn jobs(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<JobQuery>,
) -> ApiResult<ApiJson<Page<Job>>> {
    let tenant = operator.own_tenant_as(READERS)?;
    let keys = Keyset::from_query(&PageQuery { limit: q.limit, cursor: q.cursor })?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    repo::find_run(&mut tx, tenant, id).await?.ok_or(ApiError::NotFound)?;
    let rows = repo::list_jobs(&mut tx, tenant, id, q.status, &keys).await?;
    tx.commit().await?;
    Ok(ApiJson(keys.page(rows)))
}

#[utoipa::path(post, path = "/api/outbound/runs/{id}/jobs/{job_id}/cancel", tag = "outbound",
    operation_id = "cancel_outbound_job", summary = "Cancel one job",
    description = "Roles: admin. Permission: `outbound:write`. A queued job is cancelled; a live one is hung up (its create withdrawn if not yet sent). 409 for a job that already ended.",
    params(("id" = Uuid, Path), ("job_id" = Uuid, Path)),
    responses((status = 200, description = "The job", body = Job), (status = 409, response = inline(crate::openapi::ConflictResponse))))]
/// `POST /api/outbound/runs/{id}/jobs/{job_id}/cancel`.
pub async fn cancel_job(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath((id, job)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<ApiJson<Job>> {
    let tenant = operator.own_tenant_as(ADMIN)?;
    let actor = Actor::Operator(operator.key_id);
    Ok(ApiJson(service::cancel_job(&state, tenant, id, job, actor).await?))
}
