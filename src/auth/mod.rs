//! Operator API keys, roles, and tenant-scoped transactions.
//!
//! A key is `sb_` + 32 random bytes (base64url); only its SHA-256 is stored. The [`Operator`]
//! extractor turns `Authorization: Bearer …` into who is calling (tenant, role, subject): 401 for a
//! missing, unknown or revoked key, and handlers ask it for permission (403). Request work on a
//! tenant's data runs in [`scope::tenant_tx`], as `switchboard_app` with the tenant set, so
//! row-level security backs up every query's tenant filter.

pub mod keys;
pub mod me;
mod operator;
pub mod scope;

pub use operator::{Operator, Role, SeenOperator};

use crate::error::{ApiError, ApiResult};
use crate::ids::TenantId;
use crate::state::AppState;

/// The routes [`router`] serves.
pub const ROUTES: &[crate::openapi::Route] = &[("GET", "/api/me")];

/// `GET /api/me`.
pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route("/api/me", axum::routing::get(me::me))
}

/// The OpenAPI fragment of [`ROUTES`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(me::me))]
    struct Api;
    <Api as utoipa::OpenApi>::openapi()
}

/// The tenant a path names (UUID or slug), if the operator may act on it; otherwise 404.
pub async fn tenant_in_path(state: &AppState, operator: &Operator, id_or_slug: &str) -> ApiResult<TenantId> {
    let id = crate::system::resolve_tenant(&state.db, id_or_slug).await?.ok_or(ApiError::NotFound)?;
    operator.tenant_for(id)
}
