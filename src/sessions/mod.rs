//! Call sessions (seed 001, part 1): a scheduled two-party call between a client and a reader,
//! held in a Twilio conference. Booked by an admin key, started by the reader, an admin or (with
//! `auto_start`) the session worker at `scheduled_at`; both parties are dialled as effects, each
//! leg joins `<Conference>` `call-{id}`, and the conference's events drive the session through
//! `scheduled → initiating → ringing → in_progress → completed` (or `cancelled`, `no_answer`,
//! `failed`, `dropped_by_*`). The conference SID learned from its events addresses every later
//! conference request. Every transition happens under the session's row lock, moves only forward
//! (the machine in [`machine`]), is audited, and notifies the call service once.
//!
//! Parts 2 and 3 (recording controls, sirens and subject policies) plug in here: the legs keep
//! their CallSids, the session its conference SID and both parties' subjects.

mod access;
pub mod deferred;
mod events;
mod handlers;
pub mod machine;
pub mod model;
mod notify;
mod owner;
pub mod recording;
pub mod repo;
mod requests;
pub mod sensitive;
pub mod service;
pub mod sirens;
mod webhooks;
mod when;
pub mod worker;

pub use access::sees;
pub use owner::SessionsOwner;
pub use service::DOMAIN;
pub use worker::SessionWorker;

use crate::clock::Clock;
use crate::domain::{Domain, Effects};
use crate::outbox::Destination;
use crate::state::AppState;
use crate::worker::Worker;
use axum::routing::{get, post};
use axum::{Extension, Router};
use futures::FutureExt;
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use worker::DeadlineWake;

/// The sessions domain: what it keeps of its own, and how it plugs in.
pub struct Sessions {
    /// Wakes this instance's session worker when a nearer deadline appears.
    wake: DeadlineWake,
    /// Conference events answered while the database was away.
    deferred: Arc<deferred::DeferredEvents>,
}

impl Sessions {
    /// The domain, keeping conference events that wait for the database in memory and, when
    /// `config` names a spool, on disk (replaying what it holds).
    pub fn new(config: &crate::config::InboundConfig) -> Result<Self, crate::writebehind::SpoolError> {
        Ok(Sessions { wake: DeadlineWake::default(), deferred: Arc::new(deferred::open(config)?) })
    }
}

impl Domain for Sessions {
    fn name(&self) -> &'static str {
        "sessions"
    }

    fn effects(&self, clock: &Arc<dyn Clock>) -> Option<Effects> {
        Some(Effects { domain: DOMAIN, owner: Some(Arc::new(SessionsOwner { clock: clock.clone() })) })
    }

    fn router(&self) -> Router<AppState> {
        router()
            .layer(Extension(self.wake.clone()))
            .layer(Extension(self.deferred.clone()))
            .layer(axum::middleware::from_fn(sensitive::log))
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        openapi()
    }

    fn routes(&self) -> &'static [crate::openapi::Route] {
        ROUTES
    }

    fn workers(&self, state: &AppState) -> Vec<Arc<dyn Worker>> {
        vec![
            Arc::new(SessionWorker::new(state, self.wake.clone())),
            Arc::new(recording::RetentionWorker::new(state)),
            Arc::new(deferred::DeferredEventsWorker::new(state, self.deferred.clone())),
        ]
    }

    fn tasks(&self, state: &AppState, token: CancellationToken) -> Vec<BoxFuture<'static, ()>> {
        vec![worker::listen(state.clone(), self.wake.clone(), token).boxed()]
    }

    fn destinations(&self, state: &AppState) -> Vec<(&'static str, Arc<dyn Destination>)> {
        vec![
            (requests::CONFERENCE_DESTINATION, Arc::new(requests::ConferenceDestination::new(state))),
            (recording::RECORDING_DESTINATION, Arc::new(recording::RecordingDestination::new(state))),
        ]
    }
}

/// The routes [`router`] serves.
pub const ROUTES: &[crate::openapi::Route] = &[
    ("POST", "/api/calls/schedule"),
    ("GET", "/api/calls"),
    ("GET", "/api/calls/{id}"),
    ("POST", "/api/calls/{id}/cancel"),
    ("POST", "/api/calls/{order_id}/start"),
    ("POST", "/api/calls/{id}/end"),
    ("POST", "/api/calls/{id}/drop"),
    ("POST", "/api/calls/{id}/recording/{action}"),
    ("GET", "/api/calls/{id}/recordings"),
    ("DELETE", "/api/calls/{id}/recordings/{rid}"),
    ("POST", "/webhooks/twilio/sessions/{id}/recording-notice"),
    ("GET", "/media/recordings/{id}"),
    ("POST", "/webhooks/twilio/sessions/{id}/voice"),
    ("POST", "/webhooks/twilio/sessions/{id}/announce"),
    ("POST", "/webhooks/twilio/conferences/events"),
];

/// The data of the `session.*` notifications.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct SessionNotification {
    session_id: uuid::Uuid,
    tenant_id: uuid::Uuid,
    order_id: String,
    /// The session's status when sent.
    status: String,
    /// `client_left`, `reader_left`, `time_limit`, `monitor_drop`, `client_no_answer`, `dial_timeout`, …
    ended_reason: Option<String>,
    /// Seconds from both parties joined to the end.
    duration_sec: Option<i32>,
    scheduled_at: String,
    started_at: Option<String>,
    connected_at: Option<String>,
    ended_at: Option<String>,
    conference_sid: Option<String>,
    /// `{"subject", "call_sid", "joined_at", "left_at"}`.
    #[schema(value_type = Object)]
    client: serde_json::Value,
    /// `{"subject", "call_sid", "joined_at", "left_at"}`.
    #[schema(value_type = Object)]
    reader: serde_json::Value,
}

/// The OpenAPI fragment of [`ROUTES`], and the `session.*` notifications.
fn openapi() -> utoipa::openapi::OpenApi {
    use crate::openapi::{notification, twilio_webhook};
    use utoipa::openapi::path::HttpMethod;
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(
            handlers::schedule,
            handlers::list,
            handlers::get,
            handlers::cancel,
            handlers::start,
            handlers::end,
            handlers::drop_call,
            recording::control::control,
            recording::control::list,
            recording::control::delete,
            recording::media::media
        ),
        components(schemas(machine::SessionStatus, SessionNotification))
    )]
    struct Api;
    let mut doc = <Api as utoipa::OpenApi>::openapi();
    let voice =
        "A session leg's TwiML: joins the session's conference (`call-{id}`), or hangs up if it ended.";
    let announce = "The time limit's one-minute warning, fetched by the conference (`AnnounceUrl`).";
    let notice =
        "The consent notice the conference hears before a session's first recording (`AnnounceUrl`).";
    let events = "Conference status callbacks (start, end, join, leave, announcement): bind the conference SID and move the session.";
    for (path, summary, description, params, attempt) in [
        ("/webhooks/twilio/sessions/{id}/voice", "Session leg", voice, &["id"][..], true),
        ("/webhooks/twilio/sessions/{id}/announce", "Session time warning", announce, &["id"][..], false),
        ("/webhooks/twilio/conferences/events", "Conference events", events, &[][..], false),
        (
            "/webhooks/twilio/sessions/{id}/recording-notice",
            "Recording consent notice",
            notice,
            &["id"][..],
            false,
        ),
    ] {
        let operation = twilio_webhook(summary, description, params, attempt);
        doc.paths.add_path_operation(path, vec![HttpMethod::Post], operation);
    }
    let webhooks = doc.webhooks.get_or_insert_with(Default::default);
    for (kind, when) in [
        ("session.started", "both parties joined a session's conference"),
        ("session.completed", "a session's call ended (completed or dropped), with its duration"),
        ("session.no_answer", "a party never joined a session's call"),
    ] {
        let (name, item) = notification(kind, "call service", when, "SessionNotification");
        webhooks.paths.insert(name, item);
    }
    doc
}

/// `/api/calls…` and the session's Twilio webhooks.
fn router() -> Router<AppState> {
    Router::new()
        .route("/api/calls/schedule", post(handlers::schedule))
        .route("/api/calls", get(handlers::list))
        .route("/api/calls/{id}", get(handlers::get))
        .route("/api/calls/{id}/cancel", post(handlers::cancel))
        .route("/api/calls/{order_id}/start", post(handlers::start))
        .route("/api/calls/{id}/end", post(handlers::end))
        .route("/api/calls/{id}/drop", post(handlers::drop_call))
        .route("/api/calls/{id}/recording/{action}", post(recording::control))
        .route("/api/calls/{id}/recordings", get(recording::list))
        .route("/api/calls/{id}/recordings/{rid}", axum::routing::delete(recording::delete))
        .route("/media/recordings/{id}", get(recording::media))
        .route("/webhooks/twilio/sessions/{id}/voice", post(webhooks::voice))
        .route("/webhooks/twilio/sessions/{id}/recording-notice", post(recording::notice))
        .route("/webhooks/twilio/sessions/{id}/announce", post(webhooks::announce))
        .route("/webhooks/twilio/conferences/events", post(webhooks::conference_events))
}
