//! Tenant and number endpoints: extract, call the repository in the right scope, answer.

use super::NumberDirectory;
use super::model::{NumberRole, NumberStatus, Settings, TenantId};
use super::{repo, validate};
use crate::auth::scope::tenant_tx;
use crate::auth::{Operator, Role, tenant_in_path};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, FieldError, conflict_on};
use crate::idempotency::{Created, IdempotencyKey, Scope, create_once};
use crate::pagination::{Keyset, Page, PageQuery};
use crate::state::AppState;
use crate::twilio::E164;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use futures::FutureExt;
use serde_json::{Map, Value};
use std::sync::Arc;
use uuid::Uuid;

type Body = ApiJson<Map<String, Value>>;

const SLUG_TAKEN: &[(&str, &str)] = &[("tenant_slug_key", "a tenant with this slug exists")];

fn fingerprint(what: &str, body: &Map<String, Value>) -> Vec<u8> {
    let mut bytes = what.as_bytes().to_vec();
    bytes.extend(serde_json::to_vec(body).unwrap_or_default());
    bytes
}

/// `POST /api/tenants` (superadmin).
#[utoipa::path(post, path = "/api/tenants", tag = "tenants", operation_id = "create_tenant",
    summary = "Create a tenant", description = "Roles: superadmin. Permission: `tenants:create`.",
    request_body = super::docs::NewTenant,
    responses((status = 201, description = "Created (`Location` names it)", body = super::Tenant,
        headers(("Location" = String, description = "The tenant's URL"))),
        (status = 409, response = inline(crate::openapi::ConflictResponse))))
]
pub async fn create_tenant(
    State(state): State<AppState>,
    operator: Operator,
    key: Option<IdempotencyKey>,
    ApiJson(body): Body,
) -> ApiResult<Response> {
    operator.require_superadmin()?;
    let mut errors: Vec<FieldError> = validate::REQUIRED
        .iter()
        .filter(|f| !body.contains_key(**f))
        .map(|f| FieldError::new(*f, "is required"))
        .collect();
    let mut settings = Settings::new(String::new(), String::new(), "UTC".into());
    errors.extend(validate::apply(&mut settings, &body));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let now = state.clock.now();
    let request = fingerprint("POST /api/tenants", &body);
    create_once(&state, &operator, Scope::System, key, &request, move |conn| {
        async move {
            let tenant = repo::insert_tenant(conn, TenantId(Uuid::new_v4()), &settings, now)
                .await
                .map_err(conflict_on(SLUG_TAKEN))?;
            Ok(Created::new(format!("/api/tenants/{}", tenant.id), &tenant))
        }
        .boxed()
    })
    .await
}

/// `GET /api/tenants` (superadmin).
#[utoipa::path(get, path = "/api/tenants", tag = "tenants", operation_id = "list_tenants",
    summary = "List tenants", description = "Roles: superadmin. Permission: `tenants:list`. Oldest first.",
    params(PageQuery), responses((status = 200, description = "A page of tenants", body = Page<super::Tenant>)))]
pub async fn list_tenants(
    State(state): State<AppState>,
    operator: Operator,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<ApiJson<Page<super::Tenant>>> {
    operator.require_superadmin()?;
    let keys = Keyset::from_query(&query)?;
    let mut conn = crate::system::system_tx(&state.db).await?;
    let rows = repo::list_tenants(&mut conn, &keys).await?;
    Ok(ApiJson(keys.page(rows)))
}

/// `GET /api/tenants/{id}` (admin of the tenant, superadmin).
#[utoipa::path(get, path = "/api/tenants/{tenant}", tag = "tenants", operation_id = "get_tenant",
    summary = "Read a tenant", description = "Roles: admin (their own), superadmin. Permission: `tenants:read`.",
    params(("tenant" = String, Path, description = "The tenant's id or slug")), responses((status = 200, description = "The tenant", body = super::Tenant)))]
pub async fn get_tenant(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<super::Tenant>> {
    let tenant = tenant_in_path(&state, &operator, &id).await?;
    operator.require(&[Role::Admin])?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let found = repo::find_tenant(&mut tx, tenant).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(ApiJson(found))
}

/// `PATCH /api/tenants/{id}`: any subset of the settings.
#[utoipa::path(patch, path = "/api/tenants/{tenant}", tag = "tenants", operation_id = "update_tenant",
    summary = "Change a tenant's settings", description = "Roles: admin (their own), superadmin. Permission: `tenants:update`.",
    params(("tenant" = String, Path, description = "The tenant's id or slug")), request_body = super::docs::TenantPatch,
    responses((status = 200, description = "The changed tenant", body = super::Tenant),
        (status = 409, response = inline(crate::openapi::ConflictResponse))))]
pub async fn patch_tenant(
    State(state): State<AppState>,
    Extension(directory): Extension<Arc<NumberDirectory>>,
    operator: Operator,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): Body,
) -> ApiResult<ApiJson<super::Tenant>> {
    let tenant = tenant_in_path(&state, &operator, &id).await?;
    operator.require(&[Role::Admin])?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    // Locked: two concurrent PATCHes of different fields must not undo each other.
    let current = repo::lock_tenant(&mut tx, tenant).await?.ok_or(ApiError::NotFound)?;
    let mut settings = current.settings;
    let errors = validate::apply(&mut settings, &body);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let updated = repo::update_tenant(&mut tx, tenant, &settings, state.clock.now())
        .await
        .map_err(conflict_on(SLUG_TAKEN))?
        .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    directory.invalidate_tenant(tenant);
    Ok(ApiJson(updated))
}

/// `POST /api/tenants/{id}/numbers` `{"number", "role", "status", "label"}`.
#[utoipa::path(post, path = "/api/tenants/{tenant}/numbers", tag = "tenants", operation_id = "add_number",
    summary = "Add a number", description = "Roles: admin (their own), superadmin. Permission: `numbers:write`. \
        The tenant's first number becomes `primary`; a number belongs to one tenant (409).",
    params(("tenant" = String, Path, description = "The tenant's id or slug")), request_body = super::docs::NewNumber,
    responses((status = 201, description = "Added", body = repo::Number,
        headers(("Location" = String, description = "The number's URL"))),
        (status = 409, response = inline(crate::openapi::ConflictResponse))))]
pub async fn add_number(
    State(state): State<AppState>,
    Extension(directory): Extension<Arc<NumberDirectory>>,
    operator: Operator,
    ApiPath(id): ApiPath<String>,
    key: Option<IdempotencyKey>,
    ApiJson(body): Body,
) -> ApiResult<Response> {
    let tenant = tenant_in_path(&state, &operator, &id).await?;
    operator.require(&[Role::Admin])?;
    let input = NumberInput::parse(&body)?;
    let now = state.clock.now();
    let request = fingerprint(&format!("POST numbers {tenant}"), &body);
    let number = input.number.clone();
    let response = create_once(&state, &operator, Scope::Tenant(tenant), key, &request, move |conn| {
        async move {
            let role = match input.role {
                Some(role) => role,
                None if repo::has_primary(conn, tenant).await? => NumberRole::Secondary,
                None => NumberRole::Primary,
            };
            let created = repo::insert_number(
                conn,
                tenant,
                &input.number,
                role,
                input.status,
                input.label.as_deref(),
                now,
            )
            .await
            .map_err(conflict_on(&[
                ("tenant_number_pkey", "this number already belongs to a tenant"),
                ("tenant_number_one_primary", "the tenant already has a primary number"),
            ]))?;
            Ok(Created::new(format!("/api/tenants/{tenant}/numbers/{}", created.number), &created))
        }
        .boxed()
    })
    .await?;
    directory.invalidate_number(&number);
    Ok(response)
}

struct NumberInput {
    number: E164,
    role: Option<NumberRole>,
    status: NumberStatus,
    label: Option<String>,
}

impl NumberInput {
    fn parse(body: &Map<String, Value>) -> ApiResult<NumberInput> {
        let mut errors = Vec::new();
        let text = |name: &str| body.get(name).and_then(Value::as_str);
        let number = match text("number").map(E164::parse) {
            Some(Ok(n)) => Some(n),
            Some(Err(e)) => {
                errors.push(FieldError::new("number", e.to_string()));
                None
            }
            None => {
                errors.push(FieldError::new("number", "is required (E.164, e.g. +12025550100)"));
                None
            }
        };
        let role = text("role").map(NumberRole::parse);
        if matches!(role, Some(None)) || body.get("role").is_some_and(|v| !v.is_string()) {
            errors.push(FieldError::new("role", "must be primary or secondary"));
        }
        let status = NumberStatus::parse(text("status").unwrap_or("active"));
        if status.is_none() || body.get("status").is_some_and(|v| !v.is_string()) {
            errors.push(FieldError::new("status", "must be provisioning, active or released"));
        }
        let label = text("label").map(str::to_owned);
        if label.as_ref().is_some_and(|l| l.chars().count() > 100)
            || body.get("label").is_some_and(|v| !v.is_string() && !v.is_null())
        {
            errors.push(FieldError::new("label", "must be a string of at most 100 characters"));
        }
        for field in body.keys().filter(|k| !["number", "role", "status", "label"].contains(&k.as_str())) {
            errors.push(FieldError::new(field.clone(), "is not a number field"));
        }
        match (number, role, status) {
            (Some(number), None | Some(Some(_)), Some(status)) if errors.is_empty() => {
                Ok(NumberInput { number, role: role.flatten(), status, label })
            }
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

/// `GET /api/tenants/{id}/numbers`.
#[utoipa::path(get, path = "/api/tenants/{tenant}/numbers", tag = "tenants", operation_id = "list_numbers",
    summary = "List a tenant's numbers", description = "Roles: admin (their own), superadmin. Permission: `numbers:read`.",
    params(("tenant" = String, Path, description = "The tenant's id or slug"), PageQuery),
    responses((status = 200, description = "A page of numbers", body = Page<repo::Number>)))]
pub async fn list_numbers(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<ApiJson<Page<repo::Number>>> {
    let tenant = tenant_in_path(&state, &operator, &id).await?;
    operator.require(&[Role::Admin])?;
    let keys = Keyset::from_query(&query)?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let rows = repo::list_numbers(&mut tx, tenant, &keys).await?;
    tx.commit().await?;
    Ok(ApiJson(keys.page(rows)))
}

/// `DELETE /api/tenants/{id}/numbers/{number}` (`+` raw or `%2B`).
#[utoipa::path(delete, path = "/api/tenants/{tenant}/numbers/{number}", tag = "tenants", operation_id = "delete_number",
    summary = "Remove a number", description = "Roles: admin (their own), superadmin. Permission: `numbers:write`.",
    params(("tenant" = String, Path, description = "The tenant's id or slug"),
        ("number" = String, Path, description = "E.164; `+` raw or `%2B`", example = "+12025550199")),
    responses((status = 204, description = "Removed")))]
pub async fn delete_number(
    State(state): State<AppState>,
    Extension(directory): Extension<Arc<NumberDirectory>>,
    operator: Operator,
    ApiPath((id, number)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let tenant = tenant_in_path(&state, &operator, &id).await?;
    operator.require(&[Role::Admin])?;
    let number = E164::parse(&number).map_err(|_| ApiError::NotFound)?;
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let deleted = repo::delete_number(&mut tx, tenant, &number).await?;
    tx.commit().await?;
    directory.invalidate_number(&number);
    if deleted { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound) }
}
