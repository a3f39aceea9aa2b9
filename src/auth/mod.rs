//! Operator API keys, roles, and tenant-scoped transactions.
//!
//! A key is `sb_` + 32 random bytes (base64url); only its SHA-256 is stored. The [`Operator`]
//! extractor turns `Authorization: Bearer …` into who is calling (tenant, role, subject): 401 for a
//! missing, unknown or revoked key, and handlers ask it for permission (403). Request work on a
//! tenant's data runs in [`scope::tenant_tx`], as `switchboard_app` with the tenant set, so
//! row-level security backs up every query's tenant filter.

mod handlers;
pub mod keys;
mod operator;
pub mod scope;

pub use operator::{Operator, Role};

use crate::state::AppState;
use axum::Router;
use axum::routing::{delete, get};

/// `/api/tenants/{id}/keys…`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/tenants/{tenant}/keys", get(handlers::list).post(handlers::create))
        .route("/api/tenants/{tenant}/keys/{key_id}", delete(handlers::revoke))
}
