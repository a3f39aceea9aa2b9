//! Crisis approvals (seed 000): a high-risk crisis is held for approval and the duty officers are
//! phoned in turn; the officer approves with 6 or rejects with 9 (or an admin decides through the
//! API); the dispatch runs exactly once; undecided crises expire. Every crisis is its own durable
//! record, every officer call is tied to exactly one crisis, every step is audited.

mod console;
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

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        openapi()
    }

    fn routes(&self) -> &'static [crate::openapi::Route] {
        ROUTES
    }

    fn workers(&self, state: &AppState) -> Vec<Arc<dyn Worker>> {
        vec![Arc::new(ExpiryWorker::new(state, self.wake.clone()))]
    }

    fn tasks(&self, state: &AppState, token: CancellationToken) -> Vec<BoxFuture<'static, ()>> {
        vec![expiry::listen(state.clone(), self.wake.clone(), token).boxed()]
    }

    fn console(&self) -> Option<crate::console::Section> {
        Some(console::section())
    }
}

/// The routes [`router`] serves.
pub const ROUTES: &[crate::openapi::Route] = &[
    ("POST", "/api/crises"),
    ("GET", "/api/crises"),
    ("GET", "/api/crises/{id}"),
    ("POST", "/api/crises/{id}/approve"),
    ("POST", "/api/crises/{id}/reject"),
    ("POST", "/webhooks/twilio/crises/{id}/voice"),
    ("POST", "/webhooks/twilio/crises/{id}/gather"),
];

/// The data of a `crisis.dispatch` notification.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct CrisisDispatch {
    crisis_id: uuid::Uuid,
    #[schema(rename = "type")]
    kind: String,
    location: String,
    risk_score: f64,
    description: String,
    /// The decision, with its `units`.
    #[schema(value_type = Object)]
    decision: serde_json::Value,
}

/// The OpenAPI fragment of [`ROUTES`], and the `crisis.dispatch` notification.
fn openapi() -> utoipa::openapi::OpenApi {
    use crate::openapi::{notification, twilio_webhook};
    use utoipa::openapi::path::HttpMethod;
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(handlers::create, handlers::list, handlers::get, handlers::approve, handlers::reject),
        components(schemas(machine::CrisisStatus, CrisisDispatch))
    )]
    struct Api;
    let mut doc = <Api as utoipa::OpenApi>::openapi();
    let voice = "The duty officer's approval call: reads the crisis and gathers 6 (approve) or 9 (reject).";
    let gather = "The officer's key press: 6 approves, 9 rejects, anything else asks again (twice at most).";
    for (path, summary, description) in [
        ("/webhooks/twilio/crises/{id}/voice", "Officer call", voice),
        ("/webhooks/twilio/crises/{id}/gather", "Officer key press", gather),
    ] {
        let operation = twilio_webhook(summary, description, &["id"], true);
        doc.paths.add_path_operation(path, vec![HttpMethod::Post], operation);
    }
    let (name, item) = notification(
        "crisis.dispatch",
        "dispatcher",
        "a crisis was approved (or was under the threshold)",
        "CrisisDispatch",
    );
    doc.webhooks.get_or_insert_with(Default::default).paths.insert(name, item);
    doc
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
