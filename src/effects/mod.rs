//! Twilio effects: every call and message Switchboard creates happens exactly once, is tracked by
//! one ledger, and respects the account's pace.
//!
//! A domain asks for a call or a message with [`request_call`]/[`request_message`] in its own
//! transaction. That writes an attempt (with a random token that goes into every callback URL we
//! give Twilio) and an outbox message to the `twilio` destination ([`deliver`]). The create is
//! paced account-wide ([`pacing`]), marked `sending` before it leaves, and bound to its SID when
//! the answer arrives — or by the first callback carrying the token ([`webhooks`]), which proves
//! the create happened even when its answer was lost. An ambiguous create (timeout, 5xx, crash
//! after sending) is never blindly retried: it waits for a callback, then checks the account's
//! list ([`reconcile`]), retries once only when both say nothing exists, and parks any doubt for an
//! operator. The ledger ([`ledger`]) applies status callbacks with precedence and hands each change
//! to the owning domain through [`EffectOwner`].

pub mod attempts;
pub mod deferred;
pub mod deliver;
mod hangup;
pub mod ledger;
pub mod machine;
mod owners;
pub mod pacing;
mod reconcile;
mod webhooks;

pub use webhooks::AttemptQuery;

pub use hangup::{TwilioUpdateDestination, request_hangup};
pub use owners::{CallChange, EffectOwner, EffectOwners, MessageChange, OwnerHook, RecordingChange};

use crate::ids::TenantId;
use crate::outbox::{self, NewMessage};
use crate::state::AppState;
use axum::routing::post;
use axum::{Extension, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use std::sync::Arc;

/// Delivery priority of effects: an officer call before a text-back before a dialer batch.
pub mod priority {
    /// Crisis approval calls.
    pub const URGENT: i16 = 10;
    /// Text-backs and replies.
    pub const NORMAL: i16 = 5;
    /// Bulk dialing.
    pub const BULK: i16 = 0;
}

/// A call to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRequest {
    /// Whom to call (E.164).
    pub to: String,
    /// Caller id (one of the tenant's numbers).
    pub from: String,
    /// Our path serving the call's TwiML (`/webhooks/twilio/crises/{id}/voice`); the attempt token
    /// is added to it.
    pub path: String,
    /// Status events to report (`initiated`, `ringing`, `answered`, `completed`).
    pub events: Vec<String>,
    /// Seconds to ring.
    pub timeout_secs: Option<u32>,
    /// `Enable` or `DetectMessageEnd`.
    pub machine_detection: Option<String>,
    /// Record the call.
    pub record: bool,
    /// The requester already took this create's token from the account's pace (the dialer paces
    /// its bulk creates itself, round robin between businesses, and yields to urgent calls), so
    /// the first send does not take another.
    #[serde(default)]
    pub prepaid: bool,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRequest {
    /// The recipient (E.164).
    pub to: String,
    /// One of the tenant's numbers.
    pub from: String,
    /// The text.
    pub body: String,
    /// Media URLs.
    #[serde(default)]
    pub media: Vec<String>,
}

/// Who asked, and how to deduplicate.
#[derive(Debug, Clone)]
pub struct Owner<'a> {
    /// The owning domain (`inbound`, `crises`, …): its [`EffectOwner`] hears about the effect.
    pub domain: &'a str,
    /// The owning entity's id.
    pub id: String,
    /// Requesting the same key twice creates one effect.
    pub idempotency_key: String,
    /// Delivery priority ([`priority`]).
    pub priority: i16,
}

/// Requests a call in the caller's transaction; the attempt token, or `None` if the key was
/// already requested. Wake the outbox after commit ([`outbox::wake`]).
pub async fn request_call(
    conn: &mut PgConnection,
    tenant: TenantId,
    now: DateTime<Utc>,
    owner: Owner<'_>,
    call: &CallRequest,
) -> Result<Option<String>, sqlx::Error> {
    request(conn, tenant, now, owner, "call", serde_json::to_value(call).unwrap_or_default()).await
}

/// Requests a message in the caller's transaction; the attempt token, or `None` if the key was
/// already requested.
pub async fn request_message(
    conn: &mut PgConnection,
    tenant: TenantId,
    now: DateTime<Utc>,
    owner: Owner<'_>,
    message: &MessageRequest,
) -> Result<Option<String>, sqlx::Error> {
    request(conn, tenant, now, owner, "message", serde_json::to_value(message).unwrap_or_default()).await
}

async fn request(
    conn: &mut PgConnection,
    tenant: TenantId,
    now: DateTime<Utc>,
    owner: Owner<'_>,
    kind: &str,
    request: serde_json::Value,
) -> Result<Option<String>, sqlx::Error> {
    let token = attempts::new_token();
    let message = NewMessage {
        kind: if kind == "call" { "twilio.call" } else { "twilio.message" },
        destination: "twilio",
        payload: serde_json::json!({"token": token}),
        idempotency_key: owner.idempotency_key.clone(),
        owner: Some((owner.domain, owner.id.clone())),
        priority: owner.priority,
    };
    let Some(outbox_id) = outbox::enqueue(conn, tenant, now, message).await? else { return Ok(None) };
    attempts::insert(conn, &token, tenant, kind, owner.domain, &owner.id, outbox_id, &request, now).await?;
    Ok(Some(token))
}

/// The routes [`router`] serves.
pub const ROUTES: &[crate::openapi::Route] = &[
    ("POST", "/webhooks/twilio/calls/events"),
    ("POST", "/api/calls/webhook/twilio"),
    ("POST", "/webhooks/twilio/messages/events"),
    ("POST", "/webhooks/twilio/recordings/events"),
];

/// The OpenAPI fragment of [`ROUTES`]: Twilio-signed form posts.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use crate::openapi::twilio_webhook;
    use utoipa::openapi::path::HttpMethod;
    let calls = "Status callbacks of every call Switchboard creates; the first carrying `attempt` binds the call's SID to the attempt.";
    let mut doc = utoipa::openapi::OpenApi::default();
    for (path, summary, description) in [
        ("/webhooks/twilio/calls/events", "Call status events", calls),
        ("/api/calls/webhook/twilio", "Call status events (seed 001's alias)", calls),
        (
            "/webhooks/twilio/messages/events",
            "Message status events",
            "Status callbacks of every message Switchboard sends.",
        ),
        ("/webhooks/twilio/recordings/events", "Recording status events", "Recording status callbacks."),
    ] {
        doc.paths.add_path_operation(
            path,
            vec![HttpMethod::Post],
            twilio_webhook(summary, description, &[], true),
        );
    }
    doc
}

/// The events routes: `/webhooks/twilio/{calls,messages,recordings}/events` and seed 001's alias.
/// Each hands changes to the owners registered at startup.
/// A status callback answered while the database is away is kept in `deferred`.
pub fn router(owners: Arc<EffectOwners>, deferred: Arc<deferred::DeferredCallbacks>) -> Router<AppState> {
    Router::new()
        .route("/webhooks/twilio/calls/events", post(webhooks::call_events))
        .route("/api/calls/webhook/twilio", post(webhooks::call_events))
        .route("/webhooks/twilio/messages/events", post(webhooks::message_events))
        .route("/webhooks/twilio/recordings/events", post(webhooks::recording_events))
        .layer(Extension(owners))
        .layer(Extension(deferred))
}

/// Adds the effects' outbox destinations (`twilio`, `twilio_update`) and one still-wanted hook per
/// owning domain to `registry`.
pub fn register_outbox(state: &AppState, owners: &Arc<EffectOwners>, registry: &mut outbox::Registry) {
    registry.destination("twilio", Arc::new(deliver::TwilioDestination::new(state, owners.clone())));
    registry.destination("twilio_update", Arc::new(TwilioUpdateDestination::new(state)));
    for (domain, hook) in owners.hooks(&state.db) {
        registry.hook(&domain, Arc::new(hook));
    }
}
