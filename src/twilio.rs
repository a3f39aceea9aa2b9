//! Everything that knows Twilio's wire formats, and nothing domain-specific: signatures, the
//! webhook extractor and payloads, webhook idempotency, TwiML, and the REST client.

mod e164_memo;
pub mod order;
pub mod params;
pub mod receipts;
pub mod rest;
pub mod settings;
pub mod signature;
pub mod twiml;
pub mod types;
pub mod webhook;
mod wire_enum;

pub use params::{
    AnnouncementFetch, CallStatusCallback, ConferenceEvent, DialResult, FormParams, GatherResult, InboundSms,
    Media, MessageStatusCallback, RecordingStatusCallback, VoiceRequest, WebhookPayload,
};
pub use receipts::{ReceiptSweeper, WebhookError, WebhookReply};
pub use rest::{TwilioApi, TwilioClient, TwilioError};
pub use settings::{ApiCredentials, TwilioConfig, WebhookSettings};
pub use twiml::Twiml;
pub use types::{AccountSid, Address, CallSid, ConferenceSid, E164, MessageSid, RecordingSid};
pub use webhook::{DeferredError, DeferredWebhook, TwilioWebhook};
pub use wire_enum::{AnsweredBy, CallStatus, DialCallStatus, Direction, MessageStatus, RecordingStatus};
