//! Businesses and their numbers: the tenant resource, its settings (hours, after-hours,
//! text-back, duty officers, approval), its phone numbers, and the cached lookup of a called
//! number for the webhooks.

mod console;
mod console_forms;
pub mod directory;
mod docs;
mod handlers;
mod keys;
mod model;
pub mod repo;
mod validate;

pub use directory::{Freshness, NumberDirectory, Route};
pub use model::{
    AfterHours, Approval, BusinessHours, DAYS, Settings, Tenant, TenantId, TenantStatus, TextBack, parse_time,
};
pub use repo::{Number, NumberRoute};

use crate::state::AppState;
use axum::routing::{delete, get};
use axum::{Extension, Router};
use std::sync::Arc;

/// The routes [`router`] serves.
pub const ROUTES: &[crate::openapi::Route] = &[
    ("GET", "/api/tenants"),
    ("POST", "/api/tenants"),
    ("GET", "/api/tenants/{tenant}"),
    ("PATCH", "/api/tenants/{tenant}"),
    ("GET", "/api/tenants/{tenant}/numbers"),
    ("POST", "/api/tenants/{tenant}/numbers"),
    ("DELETE", "/api/tenants/{tenant}/numbers/{number}"),
    ("GET", "/api/tenants/{tenant}/keys"),
    ("POST", "/api/tenants/{tenant}/keys"),
    ("DELETE", "/api/tenants/{tenant}/keys/{key_id}"),
];

/// The OpenAPI fragment of [`ROUTES`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    <docs::Api as utoipa::OpenApi>::openapi()
}

/// The tenant page of the operator console.
pub fn console_section(directory: Arc<NumberDirectory>) -> crate::console::Section {
    console::section(directory)
}

/// `/api/tenants…`; changes invalidate `directory` at once on this instance.
pub fn router(directory: Arc<NumberDirectory>) -> Router<AppState> {
    Router::new()
        .route("/api/tenants", get(handlers::list_tenants).post(handlers::create_tenant))
        .route("/api/tenants/{tenant}", get(handlers::get_tenant).patch(handlers::patch_tenant))
        .route("/api/tenants/{tenant}/numbers", get(handlers::list_numbers).post(handlers::add_number))
        .route("/api/tenants/{tenant}/numbers/{number}", delete(handlers::delete_number))
        .route("/api/tenants/{tenant}/keys", get(keys::list).post(keys::create))
        .route("/api/tenants/{tenant}/keys/{key_id}", delete(keys::revoke))
        .layer(Extension(directory))
}
