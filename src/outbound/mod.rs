//! The outbound queue (seed 003, part 1): runs of leads dialled at a per-business cap, never
//! stalling, cancellable, with exactly one call per lead and attempt through crashes and replicas.
//!
//! A run is durable state in PostgreSQL worked by any replica. Its leads are jobs; the [`worker`]
//! takes a job only while its business has a free slot (the tenant's `outbound_max_concurrent`,
//! counted in PostgreSQL under the business's row lock, and the run's own `max_concurrent`), and
//! requests the call through the effects machinery in the same transaction (a BULK effect keyed
//! by job and attempt, behind officer calls and text-backs, at the account-wide pace). The call's
//! status callbacks end the job ([`owner`]); a slot nobody reports on is settled after its lease
//! by fetching the call from Twilio ([`settle`]).

mod claim;
mod console;
mod dnc;
mod docs;
mod handlers;
mod intake;
pub mod leads;
pub mod machine;
pub mod model;
mod notify;
mod owner;
pub mod policy;
pub mod repo;
mod service;
mod settle;
mod slots;
mod upload;
mod voice;
pub mod worker;

pub use owner::OutboundOwner;
pub use worker::Dialer;

use crate::clock::Clock;
use crate::domain::{Domain, Effects};
use crate::state::AppState;
use crate::worker::Worker;
use axum::Router;
use axum::routing::{delete, get, post};
use std::sync::Arc;
use tokio::sync::Notify;

/// The owner name of the calls this domain creates.
pub const DOMAIN: &str = "outbound";

/// The outbound domain: what it keeps of its own, and how it plugs in.
#[derive(Default)]
pub struct Outbound {
    /// Wakes this instance's dialer when a local commit may have freed a slot.
    wake: Arc<Notify>,
}

impl Domain for Outbound {
    fn name(&self) -> &'static str {
        "outbound"
    }

    fn effects(&self, clock: &Arc<dyn Clock>) -> Option<Effects> {
        let owner = OutboundOwner { clock: clock.clone(), wake: self.wake.clone() };
        Some(Effects { domain: DOMAIN, owner: Some(Arc::new(owner)) })
    }

    fn router(&self) -> Router<AppState> {
        router()
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        docs::openapi()
    }

    fn routes(&self) -> &'static [crate::openapi::Route] {
        ROUTES
    }

    fn workers(&self, state: &AppState) -> Vec<Arc<dyn Worker>> {
        vec![Arc::new(Dialer::new(state, self.wake.clone()))]
    }

    fn console(&self) -> Option<crate::console::Section> {
        Some(console::section())
    }
}

/// The routes [`router`] serves.
pub const ROUTES: &[crate::openapi::Route] = &[
    ("POST", "/api/outbound/runs"),
    ("GET", "/api/outbound/runs"),
    ("GET", "/api/outbound/runs/{id}"),
    ("POST", "/api/outbound/runs/{id}/leads"),
    ("POST", "/api/outbound/runs/{id}/start"),
    ("POST", "/api/outbound/runs/{id}/pause"),
    ("POST", "/api/outbound/runs/{id}/resume"),
    ("POST", "/api/outbound/runs/{id}/cancel"),
    ("GET", "/api/outbound/runs/{id}/jobs"),
    ("POST", "/api/outbound/runs/{id}/jobs/{job_id}/cancel"),
    ("POST", "/api/outbound/stop-queue"),
    ("GET", "/api/outbound/dnc"),
    ("POST", "/api/outbound/dnc"),
    ("DELETE", "/api/outbound/dnc/{number}"),
    ("POST", "/webhooks/twilio/outbound/{job}/voice"),
];

/// `/api/outbound/…` and the dialled calls' TwiML webhook.
fn router() -> Router<AppState> {
    Router::new()
        .route("/api/outbound/runs", post(handlers::create).get(handlers::list))
        .route("/api/outbound/runs/{id}", get(handlers::get))
        .route("/api/outbound/runs/{id}/leads", post(upload::upload))
        .route("/api/outbound/runs/{id}/start", post(handlers::start))
        .route("/api/outbound/runs/{id}/pause", post(handlers::pause))
        .route("/api/outbound/runs/{id}/resume", post(handlers::resume))
        .route("/api/outbound/runs/{id}/cancel", post(handlers::cancel))
        .route("/api/outbound/runs/{id}/jobs", get(handlers::jobs))
        .route("/api/outbound/runs/{id}/jobs/{job_id}/cancel", post(handlers::cancel_job))
        .route("/api/outbound/stop-queue", post(handlers::stop_queue))
        .route("/api/outbound/dnc", get(dnc::list).post(dnc::add))
        .route("/api/outbound/dnc/{number}", delete(dnc::remove))
        .route("/webhooks/twilio/outbound/{job}/voice", post(voice::voice))
}
