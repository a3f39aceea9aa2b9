//! Businesses and their numbers: the tenant resource, its settings (hours, after-hours,
//! text-back, duty officers, approval), its phone numbers, and the cached lookup of a called
//! number for the webhooks.

pub mod directory;
mod handlers;
mod model;
pub mod repo;
mod validate;

pub use directory::{Freshness, NumberDirectory, Route};
pub use model::{AfterHours, Approval, BusinessHours, Settings, Tenant, TenantId, TenantStatus, TextBack};
pub use repo::{Number, NumberRoute};

use crate::auth::Operator;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::Router;
use axum::routing::{delete, get};

/// `/api/tenants…`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/tenants", get(handlers::list_tenants).post(handlers::create_tenant))
        .route("/api/tenants/{tenant}", get(handlers::get_tenant).patch(handlers::patch_tenant))
        .route("/api/tenants/{tenant}/numbers", get(handlers::list_numbers).post(handlers::add_number))
        .route("/api/tenants/{tenant}/numbers/{number}", delete(handlers::delete_number))
}

/// The tenant a path names (UUID or slug), if the operator may act on it; otherwise 404.
pub async fn tenant_in_path(state: &AppState, operator: &Operator, id_or_slug: &str) -> ApiResult<TenantId> {
    let id = crate::system::resolve_tenant(&state.db, id_or_slug).await?.ok_or(ApiError::NotFound)?;
    operator.tenant_for(id)
}
