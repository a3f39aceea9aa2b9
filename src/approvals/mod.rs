//! Crisis approvals (seed 000): a high-risk crisis is held for approval and the duty officers are
//! phoned in turn; the officer approves with 6 or rejects with 9 (or an admin decides through the
//! API); the dispatch runs exactly once; undecided crises expire. Every crisis is its own durable
//! record, every officer call is tied to exactly one crisis, every step is audited.

pub mod expiry;
mod handlers;
pub mod machine;
pub mod model;
mod owner;
pub mod repo;
pub mod service;
mod voice;

pub use expiry::ExpiryWorker;
pub use owner::CrisesOwner;
pub use service::DOMAIN;

use crate::clock::Clock;
use crate::domain::{Domain, Effects};
use crate::state::AppState;
use crate::worker::Worker;
use axum::routing::{get, post};
use axum::{Extension, Router};
use expiry::DeadlineWake;
use futures::FutureExt;
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The approvals domain: what it keeps of its own, and how it plugs in.
#[derive(Default)]
pub struct Approvals {
    /// Wakes this instance's expiry worker when a nearer deadline appears.
    wake: DeadlineWake,
}

impl Domain for Approvals {
    fn name(&self) -> &'static str {
        "approvals"
    }

    fn effects(&self, clock: &Arc<dyn Clock>) -> Option<Effects> {
        Some(Effects { domain: DOMAIN, owner: Some(Arc::new(CrisesOwner { clock: clock.clone() })) })
    }

    fn router(&self) -> Router<AppState> {
        router().layer(Extension(self.wake.clone()))
    }

    fn workers(&self, state: &AppState) -> Vec<Arc<dyn Worker>> {
        vec![Arc::new(ExpiryWorker::new(state, self.wake.clone()))]
    }

    fn tasks(&self, state: &AppState, token: CancellationToken) -> Vec<BoxFuture<'static, ()>> {
        vec![expiry::listen(state.clone(), self.wake.clone(), token).boxed()]
    }
}

/// `/api/crises…` and the officer call's webhooks.
fn router() -> Router<AppState> {
    Router::new()
        .route("/api/crises", post(handlers::create).get(handlers::list))
        .route("/api/crises/{id}", get(handlers::get))
        .route("/api/crises/{id}/approve", post(handlers::approve))
        .route("/api/crises/{id}/reject", post(handlers::reject))
        .route("/webhooks/twilio/crises/{id}/voice", post(voice::voice))
        .route("/webhooks/twilio/crises/{id}/gather", post(voice::gather))
}
