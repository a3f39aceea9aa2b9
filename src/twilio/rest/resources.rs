//! Request parameters and response shapes (Twilio's OpenAPI document, `api.v2010`). Responses
//! are lenient: numbers may arrive as strings, dates are RFC 2822, almost everything is nullable.

use super::form::Form;
use crate::twilio::types::{CallSid, ConferenceSid, MessageSid, RecordingSid};
use crate::twilio::wire_enum::{AnsweredBy, CallStatus, Direction, MessageStatus, RecordingStatus};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer};

/// `POST Calls.json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateCall {
    /// Whom to call.
    pub to: String,
    /// Caller id (one of the account's numbers).
    pub from: String,
    /// Where Twilio fetches the call's TwiML (absolute).
    pub url: Option<String>,
    /// Inline TwiML instead of `url` (≤ 4000 characters).
    pub twiml: Option<String>,
    /// Status callback URL (absolute).
    pub status_callback: Option<String>,
    /// Events to report (`initiated`, `ringing`, `answered`, `completed`).
    pub status_callback_event: Vec<String>,
    /// Seconds to ring (Twilio: default 60, max 600).
    pub timeout: Option<u32>,
    /// Record the call.
    pub record: Option<bool>,
    /// `Enable` or `DetectMessageEnd`.
    pub machine_detection: Option<String>,
    /// Longest call, seconds.
    pub time_limit: Option<u32>,
}

impl CreateCall {
    pub(super) fn form(&self) -> Form {
        let mut form = Form::default();
        form.set("To", &self.to)
            .set("From", &self.from)
            .opt("Url", self.url.as_ref())
            .opt("Twiml", self.twiml.as_ref())
            .opt("StatusCallback", self.status_callback.as_ref())
            .each("StatusCallbackEvent", &self.status_callback_event)
            .opt("Timeout", self.timeout)
            .flag("Record", self.record)
            .opt("MachineDetection", self.machine_detection.as_ref())
            .opt("TimeLimit", self.time_limit);
        if self.status_callback.is_some() {
            form.set("StatusCallbackMethod", "POST");
        }
        form
    }
}

/// `POST Calls/{sid}.json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateCall {
    /// `completed` (hang up) or `canceled` (only queued/ringing calls).
    pub status: Option<String>,
    /// Redirect to this TwiML URL.
    pub url: Option<String>,
    /// Or to this inline TwiML.
    pub twiml: Option<String>,
}

impl UpdateCall {
    /// Hang up a live call.
    pub fn hang_up() -> Self {
        UpdateCall { status: Some("completed".into()), ..Self::default() }
    }

    pub(super) fn form(&self) -> Form {
        let mut form = Form::default();
        form.opt("Status", self.status.as_ref())
            .opt("Url", self.url.as_ref())
            .opt("Twiml", self.twiml.as_ref());
        form
    }
}

/// `GET Calls.json` filters. Twilio's date filters are whole days.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListCalls {
    /// Called number.
    pub to: Option<String>,
    /// Caller id.
    pub from: Option<String>,
    /// Calls started on or after this day.
    pub start_time_after: Option<NaiveDate>,
    /// Page size (Twilio: max 1000).
    pub page_size: Option<u32>,
}

impl ListCalls {
    pub(super) fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![("PageSize", self.page_size.unwrap_or(50).to_string())];
        q.extend(self.to.clone().map(|v| ("To", v)));
        q.extend(self.from.clone().map(|v| ("From", v)));
        q.extend(self.start_time_after.map(|d| ("StartTime>", d.format("%Y-%m-%d").to_string())));
        q
    }
}

/// `POST Messages.json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateMessage {
    /// The recipient.
    pub to: String,
    /// One of the account's numbers (or set `messaging_service_sid`).
    pub from: Option<String>,
    /// A messaging service instead of `from`.
    pub messaging_service_sid: Option<String>,
    /// The text (≤ 1600 characters).
    pub body: Option<String>,
    /// Media URLs (≤ 10).
    pub media_url: Vec<String>,
    /// Status callback URL (absolute).
    pub status_callback: Option<String>,
}

impl CreateMessage {
    pub(super) fn form(&self) -> Form {
        let mut form = Form::default();
        form.set("To", &self.to)
            .opt("From", self.from.as_ref())
            .opt("MessagingServiceSid", self.messaging_service_sid.as_ref())
            .opt("Body", self.body.as_ref())
            .each("MediaUrl", &self.media_url)
            .opt("StatusCallback", self.status_callback.as_ref());
        form
    }
}

/// `GET Messages.json` filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListMessages {
    /// Recipient.
    pub to: Option<String>,
    /// Sender.
    pub from: Option<String>,
    /// Sent on or after this day.
    pub date_sent_after: Option<NaiveDate>,
    /// Page size.
    pub page_size: Option<u32>,
}

impl ListMessages {
    pub(super) fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![("PageSize", self.page_size.unwrap_or(50).to_string())];
        q.extend(self.to.clone().map(|v| ("To", v)));
        q.extend(self.from.clone().map(|v| ("From", v)));
        q.extend(self.date_sent_after.map(|d| ("DateSent>", d.format("%Y-%m-%d").to_string())));
        q
    }
}

/// `POST Calls/{sid}/Recordings.json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StartRecording {
    /// Recording status callback (absolute).
    pub recording_status_callback: Option<String>,
    /// Events (`in-progress`, `completed`, `absent`).
    pub recording_status_callback_event: Vec<String>,
    /// `mono` or `dual`.
    pub recording_channels: Option<String>,
    /// `inbound`, `outbound` or `both`.
    pub recording_track: Option<String>,
}

impl StartRecording {
    pub(super) fn form(&self) -> Form {
        let mut form = Form::default();
        form.opt("RecordingStatusCallback", self.recording_status_callback.as_ref())
            .each("RecordingStatusCallbackEvent", &self.recording_status_callback_event)
            .opt("RecordingChannels", self.recording_channels.as_ref())
            .opt("RecordingTrack", self.recording_track.as_ref());
        form
    }
}

/// Which recording of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingRef {
    /// A specific recording.
    Sid(RecordingSid),
    /// The call's current recording (`Twilio.CURRENT`).
    Current,
}

impl RecordingRef {
    pub(super) fn path_segment(&self) -> &str {
        match self {
            RecordingRef::Sid(sid) => sid.as_str(),
            RecordingRef::Current => "Twilio.CURRENT",
        }
    }
}

/// What a paused recording contains for the paused time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseBehavior {
    /// Nothing: the pause is cut out.
    Skip,
    /// Silence (Twilio's default).
    Silence,
}

/// A change to a live recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingUpdate {
    /// Pause.
    Pause(PauseBehavior),
    /// Resume after a pause.
    Resume,
    /// Stop for good.
    Stop,
}

impl RecordingUpdate {
    pub(super) fn form(&self) -> Form {
        let mut form = Form::default();
        match self {
            RecordingUpdate::Pause(behavior) => {
                let behavior = match behavior {
                    PauseBehavior::Skip => "skip",
                    PauseBehavior::Silence => "silence",
                };
                form.set("Status", "paused").set("PauseBehavior", behavior);
            }
            RecordingUpdate::Resume => {
                form.set("Status", "in-progress");
            }
            RecordingUpdate::Stop => {
                form.set("Status", "stopped");
            }
        }
        form
    }
}

/// `POST Conferences/{sid}/Participants.json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddParticipant {
    /// Caller id.
    pub from: String,
    /// Whom to call into the conference.
    pub to: String,
    /// Whether their arrival starts the conference.
    pub start_conference_on_enter: Option<bool>,
    /// Whether their exit ends it.
    pub end_conference_on_exit: Option<bool>,
    /// Record the conference.
    pub record: Option<bool>,
    /// Seconds to ring.
    pub timeout: Option<u32>,
    /// Status callback of the participant's call (absolute).
    pub status_callback: Option<String>,
    /// Events to report.
    pub status_callback_event: Vec<String>,
}

impl AddParticipant {
    pub(super) fn form(&self) -> Form {
        let mut form = Form::default();
        form.set("From", &self.from)
            .set("To", &self.to)
            .flag("StartConferenceOnEnter", self.start_conference_on_enter)
            .flag("EndConferenceOnExit", self.end_conference_on_exit)
            .flag("Record", self.record)
            .opt("Timeout", self.timeout)
            .opt("StatusCallback", self.status_callback.as_ref())
            .each("StatusCallbackEvent", &self.status_callback_event);
        form
    }
}

/// `POST Conferences/{sid}.json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateConference {
    /// `completed` ends the conference.
    pub status: Option<String>,
    /// TwiML (`<Say>`/`<Play>`) every participant hears (absolute URL).
    pub announce_url: Option<String>,
}

impl UpdateConference {
    /// `Status=completed`: ends the conference for everyone.
    pub fn end() -> Self {
        UpdateConference { status: Some("completed".into()), announce_url: None }
    }

    /// `AnnounceUrl=…`: an announcement to every participant.
    pub fn announce(url: String) -> Self {
        UpdateConference { status: None, announce_url: Some(url) }
    }

    pub(super) fn form(&self) -> Form {
        let mut form = Form::default();
        form.opt("Status", self.status.as_ref()).opt("AnnounceUrl", self.announce_url.as_ref());
        form
    }
}

/// A call, as Twilio describes it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CallResource {
    /// The call.
    pub sid: CallSid,
    /// The parent call of a child leg.
    #[serde(default)]
    pub parent_call_sid: Option<CallSid>,
    /// Called address.
    #[serde(default)]
    pub to: Option<String>,
    /// Caller address.
    #[serde(default)]
    pub from: Option<String>,
    /// Status now.
    pub status: CallStatus,
    /// Direction.
    #[serde(default)]
    pub direction: Option<Direction>,
    /// Seconds (a string in Twilio's JSON).
    #[serde(default, deserialize_with = "lenient_u32")]
    pub duration: Option<u32>,
    /// AMD verdict.
    #[serde(default)]
    pub answered_by: Option<AnsweredBy>,
    /// Created (RFC 2822).
    #[serde(default, deserialize_with = "rfc2822")]
    pub date_created: Option<DateTime<Utc>>,
    /// Started.
    #[serde(default, deserialize_with = "rfc2822")]
    pub start_time: Option<DateTime<Utc>>,
    /// Ended.
    #[serde(default, deserialize_with = "rfc2822")]
    pub end_time: Option<DateTime<Utc>>,
}

/// A message, as Twilio describes it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct MessageResource {
    /// The message.
    pub sid: MessageSid,
    /// Status now.
    pub status: MessageStatus,
    /// Recipient.
    #[serde(default)]
    pub to: Option<String>,
    /// Sender.
    #[serde(default)]
    pub from: Option<String>,
    /// Text (personal data: never logged).
    #[serde(default)]
    pub body: Option<String>,
    /// Segments used.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub num_segments: Option<u32>,
    /// Twilio's error code on failure.
    #[serde(default)]
    pub error_code: Option<i64>,
    /// Created.
    #[serde(default, deserialize_with = "rfc2822")]
    pub date_created: Option<DateTime<Utc>>,
}

/// A recording.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RecordingResource {
    /// The recording.
    pub sid: RecordingSid,
    /// The recorded call.
    #[serde(default)]
    pub call_sid: Option<CallSid>,
    /// Status now.
    pub status: RecordingStatus,
}

/// A conference participant.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ParticipantResource {
    /// The participant's call.
    pub call_sid: CallSid,
    /// The conference.
    pub conference_sid: ConferenceSid,
    /// `queued`, `connecting`, `ringing`, `connected`, …
    #[serde(default)]
    pub status: Option<String>,
}

/// A conference.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ConferenceResource {
    /// The conference.
    pub sid: ConferenceSid,
    /// Its name.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// `init`, `in-progress`, `completed`.
    #[serde(default)]
    pub status: Option<String>,
}

/// A page of calls.
#[derive(Debug, Deserialize)]
pub(super) struct CallPage {
    #[serde(default)]
    pub calls: Vec<CallResource>,
}

/// A page of messages.
#[derive(Debug, Deserialize)]
pub(super) struct MessagePage {
    #[serde(default)]
    pub messages: Vec<MessageResource>,
}

/// Twilio's error body.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ErrorBody {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub more_info: Option<String>,
}

/// A number that Twilio may send as a string, a number or null.
fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// An RFC 2822 date (`Sat, 21 Nov 2026 13:00:00 +0000`), or null.
fn rfc2822<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(Option::<String>::deserialize(d)?
        .and_then(|s| DateTime::parse_from_rfc2822(&s).ok())
        .map(|t| t.with_timezone(&Utc)))
}
