//! Crisis approvals (seed 000): a high-risk crisis is held for approval and the duty officers are
//! phoned in turn; the officer approves with 6 or rejects with 9 (or an admin decides through the
//! API); the dispatch runs exactly once; undecided crises expire. Every crisis is its own durable
//! record, every officer call is tied to exactly one crisis, every step is audited.

pub mod expiry;
mod handlers;
pub mod model;
mod owner;
pub mod repo;
pub mod service;
mod voice;

pub use expiry::ExpiryWorker;
pub use owner::CrisesOwner;
pub use service::DOMAIN;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

/// `/api/crises…` and the officer call's webhooks.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/crises", post(handlers::create).get(handlers::list))
        .route("/api/crises/{id}", get(handlers::get))
        .route("/api/crises/{id}/approve", post(handlers::approve))
        .route("/api/crises/{id}/reject", post(handlers::reject))
        .route("/webhooks/twilio/crises/{id}/voice", post(voice::voice))
        .route("/webhooks/twilio/crises/{id}/gather", post(voice::gather))
}
