//! The OpenAPI fragment of the outbound routes and its notifications.

use super::{dnc, handlers, upload};
use crate::openapi::{notification, twilio_webhook};
use utoipa::openapi::path::HttpMethod;

/// The body of `outbound.call.completed`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OutboundCallCompleted {
    tenant_id: uuid::Uuid,
    run_id: uuid::Uuid,
    job_id: uuid::Uuid,
    lead_id: String,
    /// The lead's number (E.164).
    number: String,
    call_sid: String,
    /// The job's status: `completed`, `failed` or `cancelled`.
    status: String,
    /// `human`, `machine`, `fax`, `answered` (no machine detection), `busy`, `no_answer`, `failed`,
    /// `canceled`.
    outcome: String,
    attempt: i32,
    at: String,
}

/// The body of `outbound.run.finished`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OutboundRunFinished {
    tenant_id: uuid::Uuid,
    run_id: uuid::Uuid,
    /// `completed`, `cancelled`, `stopped` or `failed`.
    status: String,
    /// The run's counts per status and outcome.
    #[schema(value_type = Object)]
    counts: serde_json::Value,
    at: String,
}

/// The fragment: operator routes, the voice webhook, two notifications.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(
            handlers::create,
            handlers::list,
            handlers::get,
            upload::upload,
            handlers::start,
            handlers::pause,
            handlers::resume,
            handlers::cancel,
            handlers::jobs,
            handlers::cancel_job,
            handlers::stop_queue,
            dnc::list,
            dnc::add,
            dnc::remove
        ),
        components(schemas(OutboundCallCompleted, OutboundRunFinished))
    )]
    struct Api;
    let mut doc = <Api as utoipa::OpenApi>::openapi();
    let voice = "A dialled lead's call asks for its TwiML: the run's script (say, connect the agent, or redirect to the business's URL with `AnsweredBy` passed along). With the run's `machine` policy the `AnsweredBy` it carries decides: `human`/`unknown` hear the script; `machine_*`/`fax` are hung up on (`hangup`), or after the greeting (`machine_end_*`) hear the message (`leave_message`). The attempt token must be the job's.";
    doc.paths.add_path_operation(
        "/webhooks/twilio/outbound/{job}/voice",
        vec![HttpMethod::Post],
        twilio_webhook("Outbound call", voice, &["job"], true),
    );
    let hooks = doc.webhooks.get_or_insert_with(Default::default);
    for (kind, when, schema) in [
        ("outbound.call.completed", "a dialled lead's call ended", "OutboundCallCompleted"),
        ("outbound.run.finished", "a run ended", "OutboundRunFinished"),
    ] {
        let (name, item) = notification(kind, super::notify::DESTINATION, when, schema);
        hooks.paths.insert(name, item);
    }
    doc
}
