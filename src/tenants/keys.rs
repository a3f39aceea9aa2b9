//! `/api/tenants/{id}/keys`: a tenant's API keys (stored and checked by [`crate::auth`]). A tenant admin creates, lists and revokes its tenant's keys (never
//! superadmin keys; those come from the CLI).

use crate::auth::keys::{self, ApiKey, NewKey};
use crate::auth::scope::tenant_tx;
use crate::auth::{Operator, Role, tenant_in_path};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, FieldError};
use crate::idempotency::{Created, IdempotencyKey, Scope, create_once};
use crate::pagination::{Keyset, Page, PageQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The create request.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "admin", "name": "acme office"}))]
pub struct CreateKey {
    /// `admin`, `monitor`, `client` or `reader`.
    #[schema(pattern = "^(admin|monitor|client|reader)$")]
    role: String,
    /// Required for client and reader keys: whose orders (at most 128 characters).
    #[serde(default)]
    #[schema(max_length = 128, nullable)]
    subject: Option<String>,
    /// A label (at most 100 characters; default the role).
    #[serde(default)]
    #[schema(max_length = 100, nullable)]
    name: Option<String>,
}

/// The create answer: the only time the token is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = CreatedKey)]
struct CreatedKeyBody<'a> {
    /// The key's id.
    id: Uuid,
    /// The bearer token: shown here once, never stored; `null` in a replayed answer.
    token: Option<&'a str>,
    /// Its role.
    role: &'a str,
    /// Whose orders (client and reader keys).
    subject: Option<&'a str>,
    /// Its label.
    name: &'a str,
    /// Created.
    created_at: DateTime<Utc>,
}

fn validate(body: &CreateKey) -> ApiResult<(Role, Option<String>, String)> {
    let mut errors = Vec::new();
    let role = Role::parse(&body.role).filter(|r| *r != Role::Superadmin);
    if role.is_none() {
        errors.push(FieldError::new("role", "must be admin, monitor, client or reader"));
    }
    let subject = body.subject.as_ref().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if role.is_some_and(Role::needs_subject) && subject.is_none() {
        errors.push(FieldError::new("subject", "is required for client and reader keys"));
    }
    if subject.as_ref().is_some_and(|s| s.chars().count() > 128) {
        errors.push(FieldError::new("subject", "must be at most 128 characters"));
    }
    let name = body.name.clone().unwrap_or_else(|| body.role.clone());
    if name.chars().count() > 100 {
        errors.push(FieldError::new("name", "must be at most 100 characters"));
    }
    match role {
        Some(role) if errors.is_empty() => Ok((role, subject, name)),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// `POST /api/tenants/{id}/keys`.
#[utoipa::path(post, path = "/api/tenants/{tenant}/keys", tag = "tenants", operation_id = "create_key",
    summary = "Create a key", description = "Roles: admin (their own), superadmin. Permission: `keys:write`. \
        The token is shown in this answer only; a repeat with the same `Idempotency-Key` gets the key without it.",
    params(("tenant" = String, Path, description = "The tenant's id or slug")), request_body = CreateKey,
    responses((status = 201, description = "Created", body = CreatedKeyBody,
        headers(("Location" = String, description = "The key's URL")))))]
pub async fn create(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<String>,
    key: Option<IdempotencyKey>,
    ApiJson(body): ApiJson<CreateKey>,
) -> ApiResult<Response> {
    let tenant = tenant_in_path(&state, &operator, &id).await?;
    operator.require(&[Role::Admin])?;
    let (role, subject, name) = validate(&body)?;
    let now = state.clock.now();
    let request = serde_json::to_vec(&(tenant, &body)).unwrap_or_default();
    create_once(&state, &operator, Scope::Tenant(tenant), key, &request, move |conn| {
        async move {
            let new = NewKey { tenant: Some(tenant), role, subject, name };
            let created = keys::insert(conn, &new, now).await?;
            let k = &created.key;
            let body = |token| CreatedKeyBody {
                id: k.id,
                token,
                role: &k.role,
                subject: k.subject.as_deref(),
                name: &k.name,
                created_at: k.created_at,
            };
            // The token is never stored: a repeat of this request gets the key without it.
            Ok(Created::new(format!("/api/tenants/{tenant}/keys/{}", k.id), &body(Some(&created.token)))
                .with_replay(&body(None)))
        }
        .boxed()
    })
    .await
}

/// `GET /api/tenants/{id}/keys`.
#[utoipa::path(get, path = "/api/tenants/{tenant}/keys", tag = "tenants", operation_id = "list_keys",
    summary = "List a tenant's keys", description = "Roles: admin (their own), superadmin. Permission: `keys:read`.",
    params(("tenant" = String, Path, description = "The tenant's id or slug"), PageQuery),
    responses((status = 200, description = "A page of keys (never their tokens)", body = Page<ApiKey>)))]
pub async fn list(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<ApiJson<Page<ApiKey>>> {
    let tenant = tenant_in_path(&state, &operator, &id).await?;
    operator.require(&[Role::Admin])?;
    let page = Keyset::from_query(&query)?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let rows = keys::list(&mut tx, tenant, &page).await?;
    tx.commit().await?;
    Ok(ApiJson(page.page(rows)))
}

/// `DELETE /api/tenants/{id}/keys/{key_id}`.
#[utoipa::path(delete, path = "/api/tenants/{tenant}/keys/{key_id}", tag = "tenants", operation_id = "revoke_key",
    summary = "Revoke a key", description = "Roles: admin (their own), superadmin. Permission: `keys:write`.",
    params(("tenant" = String, Path, description = "The tenant's id or slug"), ("key_id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Revoked")))]
pub async fn revoke(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath((id, key_id)): ApiPath<(String, Uuid)>,
) -> ApiResult<StatusCode> {
    let tenant = tenant_in_path(&state, &operator, &id).await?;
    operator.require(&[Role::Admin])?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let revoked = keys::revoke(&mut tx, tenant, key_id, state.clock.now()).await?;
    tx.commit().await?;
    if revoked { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound) }
}
