//! The inbound domain's part of the OpenAPI document: its operator API, the business numbers'
//! Twilio webhooks, and the notifications it sends (README "Notification types").

use super::api;
use crate::openapi::{notification, twilio_webhook};
use utoipa::ToSchema;
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::HttpMethod;

/// The data of a `call.*` notification.
#[derive(ToSchema)]
#[allow(dead_code)]
struct CallNotification {
    call_sid: String,
    from: String,
    to: String,
    tenant_id: uuid::Uuid,
    /// Twilio's call status.
    status: String,
    /// `inbound`.
    direction: String,
    at: chrono::DateTime<chrono::Utc>,
    /// `call.missed`: why.
    reason: Option<String>,
    /// `call.voicemail`.
    recording_sid: Option<String>,
    /// `call.voicemail`.
    recording_url: Option<String>,
    /// `call.voicemail`.
    recording_duration_secs: Option<i32>,
    /// `call.completed`.
    duration_secs: Option<i32>,
    /// `call.completed`: `answered` or `missed`.
    outcome: Option<String>,
}

/// A message as notifications carry it.
#[derive(ToSchema)]
#[allow(dead_code)]
struct NotifiedMessage {
    id: uuid::Uuid,
    message_sid: String,
    from: String,
    to: String,
    body: String,
    /// `[{"url", "content_type"}]`.
    media: Vec<NotifiedMedia>,
    /// `STOP`, `START`, `HELP` or null.
    keyword: Option<String>,
    at: chrono::DateTime<chrono::Utc>,
}

/// A media item of a message.
#[derive(ToSchema)]
#[allow(dead_code)]
struct NotifiedMedia {
    url: String,
    content_type: String,
}

/// The data of a `message.received` notification.
#[derive(ToSchema)]
#[allow(dead_code)]
struct MessageReceived {
    tenant_id: uuid::Uuid,
    conversation_id: uuid::Uuid,
    message: NotifiedMessage,
}

/// The data of a `conversation.message` notification (to the bot).
#[derive(ToSchema)]
#[allow(dead_code)]
struct ConversationMessage {
    tenant_id: uuid::Uuid,
    conversation_id: uuid::Uuid,
    customer: String,
    business_number: String,
    message: NotifiedMessage,
    /// The conversation's last 10 messages.
    #[schema(value_type = Vec<Object>)]
    recent: Vec<serde_json::Value>,
}

/// The fragment: operator API, webhooks, notifications.
pub fn openapi() -> OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(
            api::list_calls,
            api::list_conversations,
            api::get_conversation,
            api::reply,
            api::list_opt_outs,
            api::delete_opt_out
        ),
        components(schemas(api::CallStatusFilter, CallNotification, MessageReceived, ConversationMessage))
    )]
    struct Api;
    let mut doc = <Api as utoipa::OpenApi>::openapi();
    let hooks: [(&str, &str, &str, &[&str]); 8] = [
        (
            "/webhooks/twilio/call",
            "Business number call",
            "A business number's voice URL and status callback: `ringing` dials the owner (or follows the after-hours rules).",
            &[],
        ),
        (
            "/webhooks/twilio/call/status/{sid}",
            "Owner leg ended",
            "The `<Dial action>` result: answered or missed.",
            &["sid"],
        ),
        (
            "/webhooks/twilio/call/screen/{sid}",
            "Screening whisper",
            "The owner hears \"Press 1 to accept\".",
            &["sid"],
        ),
        (
            "/webhooks/twilio/call/screen/{sid}/accept",
            "Screening key press",
            "The owner's key press (1 connects).",
            &["sid"],
        ),
        (
            "/webhooks/twilio/call/voicemail/{sid}",
            "Voicemail recorded",
            "The `<Record>` action of a voicemail.",
            &["sid"],
        ),
        (
            "/webhooks/twilio/call/voicemail/{sid}/status",
            "Voicemail recording status",
            "The voicemail recording's status callback.",
            &["sid"],
        ),
        (
            "/webhooks/twilio/fallback",
            "Fallback",
            "The numbers' fallback URL: records Twilio's `ErrorCode`/`ErrorUrl`, answers an apology.",
            &[],
        ),
        (
            "/webhooks/twilio/sms",
            "Business number SMS",
            "A business number's messaging URL: threads the message into a conversation; STOP/START/HELP are honoured.",
            &[],
        ),
    ];
    for (path, summary, description, params) in hooks {
        doc.paths.add_path_operation(
            path,
            vec![HttpMethod::Post],
            twilio_webhook(summary, description, params, false),
        );
    }
    let notifications = [
        ("call.incoming", "call service", "a call rings a business number", "CallNotification"),
        ("call.answered", "call service", "the owner answered", "CallNotification"),
        (
            "call.missed",
            "call service",
            "the owner's leg ended unanswered (with `reason`)",
            "CallNotification",
        ),
        ("call.voicemail", "call service", "a voicemail was recorded", "CallNotification"),
        ("call.completed", "call service", "the call ended", "CallNotification"),
        ("message.received", "call service", "an SMS arrived", "MessageReceived"),
        ("conversation.message", "bot", "an SMS arrived", "ConversationMessage"),
    ];
    let webhooks = doc.webhooks.get_or_insert_with(Default::default);
    for (kind, destination, when, data) in notifications {
        let (name, item) = notification(kind, destination, when, data);
        webhooks.paths.insert(name, item);
    }
    doc
}
