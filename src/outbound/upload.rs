//! `POST /api/outbound/runs/{id}/leads`: one chunk of a run's leads, JSON or CSV, under its own
//! body limit (`SWITCHBOARD_OUTBOUND__UPLOAD_LIMIT_BYTES`; the API's general limit is too small
//! for lists). Bad rows → 422 listing each, nothing added — or, with `?skip_invalid=true`, the
//! good rows added and the bad ones reported. The run is locked for the upload, so concurrent
//! chunks serialize and duplicates are decided exactly.

use super::handlers::ADMIN;
use super::leads::{self, MAX_LEADS_PER_RUN, Parsed, UploadError};
use super::{intake, repo};
use crate::audit::{self, Actor, NewEvent};
use crate::auth::Operator;
use crate::auth::scope::tenant_tx;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, FieldError};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `?skip_invalid=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Add the valid rows and report the invalid ones instead of refusing the upload.
    #[serde(default)]
    skip_invalid: bool,
}

/// A row left out, and why.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RowNote {
    /// Its position in the upload (0-based).
    pub row: usize,
    /// The lead's id, when it had one.
    pub lead_id: Option<String>,
    /// Why.
    pub reason: String,
}

/// What an upload did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadReport {
    /// Rows read.
    pub received: usize,
    /// Leads added to be dialled.
    pub added: usize,
    /// Leads added as `duplicate` (their number is another lead's: dialled once).
    pub duplicates: Vec<RowNote>,
    /// Rows whose `lead_id` the run already had: nothing added for them.
    pub existing: Vec<RowNote>,
    /// Invalid rows left out (`skip_invalid=true`): `{"field": "leads[3].number", "message"}`.
    #[schema(value_type = Vec<Object>)]
    pub invalid: Vec<FieldError>,
    /// The run's leads now.
    pub total: i64,
}

fn parse(headers: &HeaderMap, body: &[u8]) -> ApiResult<Parsed> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let parsed = match essence.as_str() {
        "application/json" => leads::from_json(body),
        "text/csv" => leads::from_csv(body),
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "leads are uploaded as application/json or text/csv".into(),
            ));
        }
    };
    parsed.map_err(|e| match e {
        UploadError::Json(_) => ApiError::MalformedBody(e.to_string()),
        UploadError::Csv(_) => ApiError::invalid("body", e.to_string()),
    })
}

#[utoipa::path(post, path = "/api/outbound/runs/{id}/leads", tag = "outbound", operation_id = "upload_outbound_leads",
    summary = "Upload leads", description = "Roles: admin. Permission: `outbound:write`. `application/json` `{\"leads\": [{\"lead_id\", \"number\", \"name\", \"timezone\", \"data\"}]}` or `text/csv` with the header `lead_id,number,name,timezone` (other columns go into `data`). Repeatable, up to 100 000 leads per run, body up to `SWITCHBOARD_OUTBOUND__UPLOAD_LIMIT_BYTES` (16 MiB). Numbers are normalized to E.164. Bad rows: 422 naming each (`leads[i].field`), nothing added — or with `skip_invalid=true` the rest is added and they are reported. A `lead_id` the run already has is left alone; a number it already has is added as `duplicate` (dialled once).",
    params(("id" = Uuid, Path), UploadQuery),
    request_body(content((Object = "application/json"), (String = "text/csv"))),
    responses((status = 200, description = "What was added", body = UploadReport),
        (status = 409, response = inline(crate::openapi::ConflictResponse))))]
/// `POST /api/outbound/runs/{id}/leads?skip_invalid=`.
pub async fn upload(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<ApiJson<UploadReport>> {
    let tenant = operator.own_tenant_as(ADMIN)?;
    let limit = state.config.outbound.upload_limit_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::PayloadTooLarge)?;
    let parsed = parse(&headers, &bytes)?;
    if !parsed.errors.is_empty() && !q.skip_invalid {
        return Err(ApiError::Validation(parsed.errors));
    }
    let now = state.clock.now();
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let run = repo::lock_run(&mut tx, tenant, id).await?.ok_or(ApiError::NotFound)?;
    if run.status.is_terminal() || run.cancel_requested {
        return Err(ApiError::InvalidTransition(format!(
            "a {} run takes no more leads",
            run.status.as_str()
        )));
    }
    let before = intake::job_count(&mut tx, id).await?;
    if before + parsed.leads.len() as i64 > MAX_LEADS_PER_RUN {
        return Err(ApiError::invalid("leads", format!("a run holds at most {MAX_LEADS_PER_RUN} leads")));
    }
    let added = intake::insert_leads(&mut tx, tenant, id, &parsed.leads, now).await?;
    let total = intake::job_count(&mut tx, id).await?;
    let event = NewEvent {
        actor: Actor::Operator(operator.key_id),
        action: "OUTBOUND_LEADS_UPLOADED",
        entity_type: "outbound_run",
        entity_id: id.to_string(),
        request_id: None,
        data: serde_json::json!({"added": added.queued, "duplicates": added.duplicates.len(),
            "existing": added.existing.len(), "invalid": parsed.bad_rows.len(), "total": total}),
    };
    audit::record(&mut tx, tenant, now, event).await?;
    tx.commit().await?;
    let note = |(row, lead_id): (usize, String), reason: &str| RowNote {
        row,
        lead_id: Some(lead_id),
        reason: reason.to_owned(),
    };
    Ok(ApiJson(UploadReport {
        received: parsed.leads.len() + parsed.bad_rows.len(),
        added: added.queued,
        duplicates: added.duplicates.into_iter().map(|d| note(d, "duplicate_number")).collect(),
        existing: added.existing.into_iter().map(|d| note(d, "lead_id_exists")).collect(),
        invalid: parsed.errors,
        total,
    }))
}
