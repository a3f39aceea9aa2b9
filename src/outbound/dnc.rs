//! The business's do-not-call list, `GET/POST /api/outbound/dnc` and
//! `DELETE /api/outbound/dnc/{number}` (admin), and the one check every dial goes through:
//! [`blocked`] — a number on the list or one that texted STOP (`opt_out`) is never dialled. The
//! check runs when a job is taken and again when its create leaves the outbox, so a number added
//! while its job waits is skipped at delivery.

use super::handlers::ADMIN;
use crate::audit::{self, Actor, NewEvent};
use crate::auth::Operator;
use crate::auth::scope::tenant_tx;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, FieldError};
use crate::idempotency::IdempotencyKey;
use crate::ids::TenantId;
use crate::pagination::{Cursor, Keyed, Keyset, Page, PageQuery};
use crate::redact::mask_phone;
use crate::state::AppState;
use crate::twilio::E164;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

/// Why a number is not dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// On the business's do-not-call list (outcome `do_not_call`).
    DoNotCall,
    /// Texted STOP to the business (outcome `opted_out`).
    OptedOut,
}

impl Block {
    /// The job's outcome when skipped for it.
    pub fn outcome(self) -> &'static str {
        match self {
            Block::DoNotCall => "do_not_call",
            Block::OptedOut => "opted_out",
        }
    }

    /// The job's reason.
    pub fn reason(self) -> &'static str {
        match self {
            Block::DoNotCall => "the number is on the business's do-not-call list",
            Block::OptedOut => "the number opted out (texted STOP)",
        }
    }
}

/// Whether `number` may not be called by `tenant`, and why (the list first).
pub async fn blocked(
    conn: &mut PgConnection,
    tenant: Uuid,
    number: &str,
) -> Result<Option<Block>, sqlx::Error> {
    let (dnc, opted_out): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM outbound_dnc WHERE tenant_id = $1 AND number = $2),
                EXISTS (SELECT 1 FROM opt_out WHERE tenant_id = $1 AND number = $2)",
    )
    .bind(tenant)
    .bind(number)
    .fetch_one(conn)
    .await?;
    Ok(if dnc {
        Some(Block::DoNotCall)
    } else if opted_out {
        Some(Block::OptedOut)
    } else {
        None
    })
}

/// One number on the list.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DncEntry {
    /// The number (E.164).
    pub number: String,
    /// Why (free text from the operator).
    pub reason: Option<String>,
    /// The API key that added it.
    pub created_by: Uuid,
    /// Added.
    pub created_at: DateTime<Utc>,
}

impl Keyed for DncEntry {
    fn sort_key(&self) -> Cursor {
        Cursor { at: self.created_at, id: self.number.clone() }
    }
}

/// `POST /api/outbound/dnc`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"number": "+14155550143", "reason": "asked on the phone"}))]
pub struct NewDnc {
    /// Any common notation; stored as E.164.
    number: String,
    /// Why (up to 500 characters).
    reason: Option<String>,
}

#[utoipa::path(get, path = "/api/outbound/dnc", tag = "outbound", operation_id = "list_outbound_dnc",
    summary = "List the do-not-call list", description = "Roles: admin. Permission: `outbound:write`. Oldest first.",
    params(PageQuery), responses((status = 200, description = "A page of numbers", body = Page<DncEntry>)))]
/// `GET /api/outbound/dnc`.
pub async fn list(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiJson<Page<DncEntry>>> {
    let tenant = operator.own_tenant_as(ADMIN)?;
    let keys: Keyset<String> = Keyset::from_query(&q)?;
    let (at, after) = keys.after.clone().unzip();
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let rows: Vec<DncEntry> = sqlx::query_as(
        "SELECT number, reason, created_by, created_at FROM outbound_dnc
         WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, number) > ($2, $3))
         ORDER BY created_at, number LIMIT $4",
    )
    .bind(tenant.uuid())
    .bind(at)
    .bind(after)
    .bind(keys.fetch())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ApiJson(keys.page(rows)))
}

#[utoipa::path(post, path = "/api/outbound/dnc", tag = "outbound", operation_id = "add_outbound_dnc",
    summary = "Add a number to the do-not-call list", description = "Roles: admin. Permission: `outbound:write`. Its jobs are skipped (`do_not_call`) from now on, also those already queued or deferred, and a create still waiting in the outbox is not sent. Adding a listed number again is a 200 with the existing entry, so a repeat needs no `Idempotency-Key`; one that is given is checked like everywhere else (a malformed key is a 422).",
    request_body = NewDnc,
    responses((status = 201, description = "Added", body = DncEntry), (status = 200, description = "Already listed", body = DncEntry)))]
/// `POST /api/outbound/dnc` (admin).
pub async fn add(
    State(state): State<AppState>,
    operator: Operator,
    // Adding is idempotent by the number itself; the key, documented for every creating POST, is
    // still checked so a malformed one is refused rather than ignored.
    _key: Option<IdempotencyKey>,
    ApiJson(body): ApiJson<NewDnc>,
) -> ApiResult<(StatusCode, ApiJson<DncEntry>)> {
    let tenant = operator.own_tenant_as(ADMIN)?;
    let mut errors = Vec::new();
    let number = E164::parse(&body.number);
    if number.is_err() {
        errors.push(FieldError::new("number", "must be a phone number (E.164)"));
    }
    let reason = body.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > 500 || r.chars().any(char::is_control)) {
        errors.push(FieldError::new("reason", "must be up to 500 characters"));
    }
    let Ok(number) = number else { return Err(ApiError::Validation(errors)) };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let now = state.clock.now();
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let added: Option<DncEntry> = sqlx::query_as(
        "INSERT INTO outbound_dnc (tenant_id, number, reason, created_by, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING RETURNING number, reason, created_by, created_at",
    )
    .bind(tenant.uuid())
    .bind(number.as_str())
    .bind(reason)
    .bind(operator.key_id)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let (status, entry) = match added {
        Some(entry) => {
            record(&mut tx, tenant, operator.key_id, "OUTBOUND_DNC_ADDED", number.as_str(), now).await?;
            (StatusCode::CREATED, entry)
        }
        None => (StatusCode::OK, find(&mut tx, tenant, number.as_str()).await?.ok_or(ApiError::NotFound)?),
    };
    tx.commit().await?;
    Ok((status, ApiJson(entry)))
}

#[utoipa::path(delete, path = "/api/outbound/dnc/{number}", tag = "outbound", operation_id = "delete_outbound_dnc",
    summary = "Remove a number from the do-not-call list", description = "Roles: admin. Permission: `outbound:write`. Jobs already skipped stay skipped.",
    params(("number" = String, Path, description = "E.164; `+` raw or `%2B`", example = "+14155550143")),
    responses((status = 204, description = "Removed")))]
/// `DELETE /api/outbound/dnc/{number}` (admin).
pub async fn remove(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(number): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let tenant = operator.own_tenant_as(ADMIN)?;
    let number = E164::parse(&number).map_err(|_| ApiError::NotFound)?;
    let now = state.clock.now();
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let removed = sqlx::query("DELETE FROM outbound_dnc WHERE tenant_id = $1 AND number = $2")
        .bind(tenant.uuid())
        .bind(number.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(ApiError::NotFound);
    }
    record(&mut tx, tenant, operator.key_id, "OUTBOUND_DNC_REMOVED", number.as_str(), now).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn find(
    conn: &mut PgConnection,
    tenant: TenantId,
    number: &str,
) -> Result<Option<DncEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT number, reason, created_by, created_at FROM outbound_dnc WHERE tenant_id = $1 AND number = $2",
    )
    .bind(tenant.uuid())
    .bind(number)
    .fetch_optional(conn)
    .await
}

/// Audits a change of the list; the number is masked (the audit log is read widely).
async fn record(
    conn: &mut PgConnection,
    tenant: TenantId,
    key: Uuid,
    action: &str,
    number: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let event = NewEvent {
        actor: Actor::Operator(key),
        action,
        entity_type: "outbound_dnc",
        entity_id: mask_phone(number),
        request_id: None,
        data: serde_json::json!({}),
    };
    audit::record(conn, tenant, now, event).await.map(|_| ())
}
