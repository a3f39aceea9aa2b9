//! Sirens (seed 001, part 3): anyone on a call session — its client, its reader — and the
//! monitor team may raise a siren (`emergency`, `quality_issue`, `technical_problem`,
//! `inappropriate_behavior`) that the monitor team acknowledges and resolves
//! (`active → acknowledged → resolved | false_alarm`, see [`machine`]). Each change is audited
//! and sent to the `monitor` destination; an emergency still active after the tenant's
//! `siren_escalate_after_secs` texts each duty officer once ([`worker`]).
//!
//! Reads and writes run in transactions scoped to the key's tenant, role and subject
//! ([`crate::auth::scope::operator_tx`]): the database's policies let a client see only its
//! subject's sessions and sirens, a reader only those assigned to it.

pub(crate) mod console;
mod handlers;
pub mod machine;
pub mod model;
mod owner;
pub mod repo;
pub mod service;
pub mod worker;

pub use owner::SirensOwner;
pub use service::{DOMAIN, MONITOR};
pub use worker::EscalationWorker;

use crate::clock::Clock;
use crate::domain::{Domain, Effects};
use crate::outbox::Destination;
use crate::outbox::http::HttpDestination;
use crate::state::AppState;
use crate::worker::Worker;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

/// The sirens domain.
#[derive(Default)]
pub struct Sirens;

impl Domain for Sirens {
    fn name(&self) -> &'static str {
        "sirens"
    }

    fn effects(&self, _clock: &Arc<dyn Clock>) -> Option<Effects> {
        Some(Effects { domain: DOMAIN, owner: Some(Arc::new(SirensOwner)) })
    }

    fn router(&self) -> Router<AppState> {
        router().layer(axum::middleware::from_fn(super::sensitive::log))
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        openapi()
    }

    fn routes(&self) -> &'static [crate::openapi::Route] {
        ROUTES
    }

    fn workers(&self, state: &AppState) -> Vec<Arc<dyn Worker>> {
        vec![Arc::new(EscalationWorker::new(state))]
    }

    fn console(&self) -> Option<crate::console::Section> {
        Some(console::section())
    }

    /// The monitor team (`notify.monitor_url`), parked while unset like the other services.
    fn destinations(&self, state: &AppState) -> Vec<(&'static str, Arc<dyn Destination>)> {
        let url = state.config.notify.monitor_url.clone();
        vec![(MONITOR, Arc::new(HttpDestination::new(state, url)))]
    }
}

/// The routes [`router`] serves.
pub const ROUTES: &[crate::openapi::Route] = &[
    ("POST", "/api/calls/{id}/siren"),
    ("GET", "/api/sirens"),
    ("POST", "/api/sirens/{id}/acknowledge"),
    ("POST", "/api/sirens/{id}/resolve"),
];

/// The data of the `siren.*` notifications: the siren as `GET /api/sirens` shows it (with
/// `officers_texted` and `problem` on `siren.escalated`).
fn openapi() -> utoipa::openapi::OpenApi {
    use crate::openapi::notification;
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(handlers::trigger, handlers::list, handlers::acknowledge, handlers::resolve),
        components(schemas(machine::SirenStatus, machine::AlertType, machine::Resolution, model::Siren))
    )]
    struct Api;
    let mut doc = <Api as utoipa::OpenApi>::openapi();
    let webhooks = doc.webhooks.get_or_insert_with(Default::default);
    for (kind, when) in [
        ("siren.triggered", "a siren was raised on a call session"),
        ("siren.acknowledged", "a monitor acknowledged a siren"),
        ("siren.resolved", "a siren was resolved or called a false alarm"),
        (
            "siren.escalated",
            "an emergency stayed active past the tenant's delay: the duty officers were texted",
        ),
    ] {
        let (name, item) = notification(kind, "monitor team", when, "Siren");
        webhooks.paths.insert(name, item);
    }
    doc
}

/// `/api/calls/{id}/siren` and `/api/sirens…`.
fn router() -> Router<AppState> {
    Router::new()
        .route("/api/calls/{id}/siren", post(handlers::trigger))
        .route("/api/sirens", get(handlers::list))
        .route("/api/sirens/{id}/acknowledge", post(handlers::acknowledge))
        .route("/api/sirens/{id}/resolve", post(handlers::resolve))
}
