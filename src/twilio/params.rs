//! Typed webhook payloads. Each parses from the decoded form parameters and reports every
//! structurally broken field at once (a required field missing, a malformed SID, `Body` over
//! 1600 characters, `NumMedia` inconsistent with the `MediaUrl{N}` present). Genuine but unusual
//! values are modelled, never rejected, and unknown parameters stay available in [`FormParams`].

mod conference;
mod reader;

pub use conference::{AnnouncementFetch, ConferenceEvent};
pub use reader::FormParams;

use super::types::{AccountSid, Address, CallSid, MessageSid, RecordingSid};
use super::wire_enum::{AnsweredBy, CallStatus, DialCallStatus, Direction, MessageStatus, RecordingStatus};
use crate::error::FieldError;
use reader::Reader;

/// A typed webhook payload.
pub trait WebhookPayload: Sized + Send + 'static {
    /// The webhook kind, used as the prefix of idempotency keys.
    const KIND: &'static str;
    /// Whether the webhook answers call TwiML (rejections then speak to the caller).
    const ANSWERS_TWIML: bool;
    /// Parses the parameters, or names every broken field.
    fn parse(params: &FormParams) -> Result<Self, Vec<FieldError>>;
    /// The natural deduplication key, without the kind prefix (TWILIO.md); `None` for TwiML
    /// fetches, which dedupe by `I-Twilio-Idempotency-Token` only.
    fn natural_key(&self) -> Option<String> {
        None
    }
    /// The call or message SID, recorded on the request span.
    fn sid(&self) -> &str;
}

/// The common part of every voice request (each TwiML fetch).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VoiceRequest {
    /// The call.
    pub call_sid: CallSid,
    /// The account.
    pub account_sid: AccountSid,
    /// The caller.
    pub from: Address,
    /// The called number.
    pub to: Address,
    /// The call's status now.
    pub call_status: CallStatus,
    /// The call's direction.
    pub direction: Direction,
    /// The number that forwarded the call, if any.
    pub forwarded_from: Option<Address>,
    /// Caller name (CNAM), control characters stripped.
    pub caller_name: Option<String>,
    /// The parent call of a `<Dial>` leg.
    pub parent_call_sid: Option<CallSid>,
    /// Answering machine detection's verdict, on a call created with `MachineDetection`.
    #[serde(default)]
    pub answered_by: Option<AnsweredBy>,
}

impl VoiceRequest {
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        let call_sid = r.sid("CallSid");
        let account_sid = r.sid("AccountSid");
        let from = r.address("From");
        let to = r.address("To");
        let call_status = r.required("CallStatus").map(CallStatus::parse);
        let direction = r.optional("Direction").map_or(Direction::Other(String::new()), Direction::parse);
        let forwarded_from = r.optional("ForwardedFrom").map(Address::parse);
        let caller_name = r.text("CallerName", 256);
        let parent_call_sid = r.optional_sid("ParentCallSid");
        let answered_by = r.optional("AnsweredBy").map(AnsweredBy::parse);
        Some(VoiceRequest {
            call_sid: call_sid?,
            account_sid: account_sid?,
            from: from?,
            to: to?,
            call_status: call_status?,
            direction,
            forwarded_from,
            caller_name,
            parent_call_sid,
            answered_by,
        })
    }
}

impl WebhookPayload for VoiceRequest {
    const KIND: &'static str = "voice";
    const ANSWERS_TWIML: bool = true;
    fn parse(params: &FormParams) -> Result<Self, Vec<FieldError>> {
        Reader::run(params, Self::read)
    }
    fn sid(&self) -> &str {
        self.call_sid.as_str()
    }
}

/// A call status callback (`StatusCallback`).
#[derive(Debug, Clone, PartialEq)]
pub struct CallStatusCallback {
    /// The voice parameters.
    pub call: VoiceRequest,
    /// Seconds the call lasted (on completion).
    pub call_duration: Option<u32>,
    /// 0-based order of this call's callbacks.
    pub sequence_number: Option<u32>,
    /// `initiated`, `ringing`, `answered`, `completed`.
    pub status_callback_event: Option<String>,
    /// Answering machine detection's verdict.
    pub answered_by: Option<AnsweredBy>,
    /// RFC 2822 time of the event, as sent.
    pub timestamp: Option<String>,
}

impl WebhookPayload for CallStatusCallback {
    const KIND: &'static str = "call-status";
    const ANSWERS_TWIML: bool = false;
    fn parse(params: &FormParams) -> Result<Self, Vec<FieldError>> {
        Reader::run(params, |r| {
            let call = VoiceRequest::read(r);
            let call_duration = r.number("CallDuration");
            let sequence_number = r.number("SequenceNumber");
            let status_callback_event = r.text("StatusCallbackEvent", 64);
            let answered_by = r.optional("AnsweredBy").map(AnsweredBy::parse);
            let timestamp = r.text("Timestamp", 64);
            Some(CallStatusCallback {
                call: call?,
                call_duration,
                sequence_number,
                status_callback_event,
                answered_by,
                timestamp,
            })
        })
    }
    fn natural_key(&self) -> Option<String> {
        let sid = &self.call.call_sid;
        Some(match self.sequence_number {
            Some(seq) => format!("{sid}:seq:{seq}"),
            None => format!("{sid}:status:{}", self.call.call_status),
        })
    }
    fn sid(&self) -> &str {
        self.call.call_sid.as_str()
    }
}

/// The `<Dial action>` callback: how the dialled leg ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DialResult {
    /// The voice parameters of the parent call.
    pub call: VoiceRequest,
    /// How the dialled leg ended.
    pub dial_call_status: DialCallStatus,
    /// The dialled leg.
    pub dial_call_sid: Option<CallSid>,
    /// Seconds the dialled leg lasted.
    pub dial_call_duration: Option<u32>,
    /// Whether the legs were bridged.
    pub dial_bridged: Option<bool>,
}

impl WebhookPayload for DialResult {
    const KIND: &'static str = "dial-result";
    const ANSWERS_TWIML: bool = true;
    fn parse(params: &FormParams) -> Result<Self, Vec<FieldError>> {
        Reader::run(params, |r| {
            let call = VoiceRequest::read(r);
            let status = r.required("DialCallStatus").map(DialCallStatus::parse);
            let dial_call_sid = r.optional_sid("DialCallSid");
            let dial_call_duration = r.number("DialCallDuration");
            let dial_bridged = r.optional("DialBridged").map(|v| v.eq_ignore_ascii_case("true"));
            Some(DialResult {
                call: call?,
                dial_call_status: status?,
                dial_call_sid,
                dial_call_duration,
                dial_bridged,
            })
        })
    }
    fn natural_key(&self) -> Option<String> {
        let leg = self.dial_call_sid.as_ref().map_or("none", CallSid::as_str);
        Some(format!("{}:{leg}", self.call.call_sid))
    }
    fn sid(&self) -> &str {
        self.call.call_sid.as_str()
    }
}

/// A `<Gather>` result.
#[derive(Debug, Clone, PartialEq)]
pub struct GatherResult {
    /// The voice parameters.
    pub call: VoiceRequest,
    /// Keys pressed (without the finish key): digits, `*` and `#` only.
    pub digits: Option<String>,
    /// Recognised speech, control characters stripped.
    pub speech_result: Option<String>,
    /// Speech recognition confidence, 0–1.
    pub confidence: Option<f32>,
}

impl WebhookPayload for GatherResult {
    const KIND: &'static str = "gather";
    const ANSWERS_TWIML: bool = true;
    fn parse(params: &FormParams) -> Result<Self, Vec<FieldError>> {
        Reader::run(params, |r| {
            let call = VoiceRequest::read(r);
            let digits = r.digits("Digits");
            let speech_result = r.text("SpeechResult", 4000);
            let confidence = r.optional("Confidence").and_then(|c| c.parse().ok());
            Some(GatherResult { call: call?, digits, speech_result, confidence })
        })
    }
    fn sid(&self) -> &str {
        self.call.call_sid.as_str()
    }
}

/// A recording status callback.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingStatusCallback {
    /// The recording.
    pub recording_sid: RecordingSid,
    /// The account.
    pub account_sid: AccountSid,
    /// The recorded call.
    pub call_sid: Option<CallSid>,
    /// Where the media is (personal data: never logged).
    pub recording_url: Option<String>,
    /// The recording's status.
    pub recording_status: RecordingStatus,
    /// Seconds recorded.
    pub recording_duration: Option<u32>,
    /// Number of channels.
    pub recording_channels: Option<u32>,
    /// What started the recording (`RecordVerb`, `StartCallRecordingAPI`, …).
    pub recording_source: Option<String>,
}

impl WebhookPayload for RecordingStatusCallback {
    const KIND: &'static str = "recording-status";
    const ANSWERS_TWIML: bool = false;
    fn parse(params: &FormParams) -> Result<Self, Vec<FieldError>> {
        Reader::run(params, |r| {
            let recording_sid = r.sid("RecordingSid");
            let account_sid = r.sid("AccountSid");
            let call_sid = r.optional_sid("CallSid");
            let recording_url = r.text("RecordingUrl", 2048);
            let status = r.required("RecordingStatus").map(RecordingStatus::parse);
            Some(RecordingStatusCallback {
                recording_sid: recording_sid?,
                account_sid: account_sid?,
                call_sid,
                recording_url,
                recording_status: status?,
                recording_duration: r.number("RecordingDuration"),
                recording_channels: r.number("RecordingChannels"),
                recording_source: r.text("RecordingSource", 64),
            })
        })
    }
    fn natural_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.recording_sid, self.recording_status))
    }
    fn sid(&self) -> &str {
        self.recording_sid.as_str()
    }
}

/// One media attachment of an MMS.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Media {
    /// Where Twilio stores it (personal data: never logged).
    pub url: String,
    /// Its MIME type.
    pub content_type: Option<String>,
}

/// An inbound SMS or MMS.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InboundSms {
    /// The message (`MessageSid`, or the legacy `SmsSid`).
    pub message_sid: MessageSid,
    /// The account.
    pub account_sid: AccountSid,
    /// The sender.
    pub from: Address,
    /// The business number.
    pub to: Address,
    /// The text (≤ 1600 characters), control characters other than line breaks and tabs stripped.
    pub body: String,
    /// The attachments, in order.
    pub media: Vec<Media>,
    /// Segments the message used.
    pub num_segments: Option<u32>,
    /// The messaging service, if the number belongs to one.
    pub messaging_service_sid: Option<String>,
}

impl WebhookPayload for InboundSms {
    const KIND: &'static str = "sms";
    const ANSWERS_TWIML: bool = false;
    fn parse(params: &FormParams) -> Result<Self, Vec<FieldError>> {
        Reader::run(params, |r| {
            let message_sid = r.message_sid();
            let account_sid = r.sid("AccountSid");
            let from = r.address("From");
            let to = r.address("To");
            let body = r.body();
            let media = r.media();
            Some(InboundSms {
                message_sid: message_sid?,
                account_sid: account_sid?,
                from: from?,
                to: to?,
                body: body?,
                media: media?,
                num_segments: r.number("NumSegments"),
                messaging_service_sid: r.text("MessagingServiceSid", 64),
            })
        })
    }
    fn natural_key(&self) -> Option<String> {
        Some(self.message_sid.to_string())
    }
    fn sid(&self) -> &str {
        self.message_sid.as_str()
    }
}

/// A message status callback.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageStatusCallback {
    /// The message.
    pub message_sid: MessageSid,
    /// The account.
    pub account_sid: AccountSid,
    /// Its status now.
    pub message_status: MessageStatus,
    /// Twilio's error code on failure (21610: the recipient opted out).
    pub error_code: Option<u32>,
}

impl WebhookPayload for MessageStatusCallback {
    const KIND: &'static str = "message-status";
    const ANSWERS_TWIML: bool = false;
    fn parse(params: &FormParams) -> Result<Self, Vec<FieldError>> {
        Reader::run(params, |r| {
            let message_sid = r.message_sid();
            let account_sid = r.sid("AccountSid");
            let status = r.optional("MessageStatus").or_else(|| r.optional("SmsStatus"));
            if status.is_none() {
                r.missing("MessageStatus");
            }
            Some(MessageStatusCallback {
                message_sid: message_sid?,
                account_sid: account_sid?,
                message_status: MessageStatus::parse(status?),
                error_code: r.number("ErrorCode"),
            })
        })
    }
    fn natural_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.message_sid, self.message_status))
    }
    fn sid(&self) -> &str {
        self.message_sid.as_str()
    }
}

#[cfg(test)]
mod tests;
