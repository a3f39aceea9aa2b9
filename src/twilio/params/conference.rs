//! Conference status callbacks (`<Conference statusCallback>`) and the fetch of a conference
//! announcement (`AnnounceUrl`).

use super::reader::Reader;
use super::{FormParams, WebhookPayload};
use crate::error::FieldError;
use crate::twilio::types::{AccountSid, CallSid, ConferenceSid};

/// A conference status callback: `conference-start`, `conference-end`, `participant-join`,
/// `participant-leave`, `announcement-end`, and any event Twilio adds (kept verbatim).
#[derive(Debug, Clone, PartialEq)]
pub struct ConferenceEvent {
    /// The conference (`CF…`): every later request about it names this SID.
    pub conference_sid: ConferenceSid,
    /// The account.
    pub account_sid: AccountSid,
    /// The room's name, as our TwiML gave it.
    pub friendly_name: String,
    /// What happened.
    pub event: String,
    /// The participant's call, for participant events.
    pub call_sid: Option<CallSid>,
    /// Order of this conference's callbacks, when sent.
    pub sequence_number: Option<u32>,
    /// Why it ended (`participant-with-end-conference-on-exit-left`, `conference-ended-via-api`, …).
    pub reason_conference_ended: Option<String>,
    /// The call whose exit ended it.
    pub call_sid_ending_conference: Option<CallSid>,
}

impl WebhookPayload for ConferenceEvent {
    const KIND: &'static str = "conference";
    const ANSWERS_TWIML: bool = false;
    fn parse(params: &FormParams) -> Result<Self, Vec<FieldError>> {
        Reader::run(params, |r| {
            let conference_sid = r.sid("ConferenceSid");
            let account_sid = r.sid("AccountSid");
            let friendly_name = r.required("FriendlyName").map(super::reader::strip_controls);
            let event = r.required("StatusCallbackEvent").map(|e| e.chars().take(64).collect());
            let call_sid = r.optional_sid("CallSid");
            let call_sid_ending_conference = r.optional_sid("CallSidEndingConference");
            let sequence_number = r.number("SequenceNumber");
            Some(ConferenceEvent {
                conference_sid: conference_sid?,
                account_sid: account_sid?,
                friendly_name: friendly_name?,
                event: event?,
                call_sid,
                sequence_number,
                reason_conference_ended: r.text("ReasonConferenceEnded", 128),
                call_sid_ending_conference,
            })
        })
    }
    /// One event per conference, kind, participant and sequence.
    fn natural_key(&self) -> Option<String> {
        let call = self.call_sid.as_ref().map_or("-", CallSid::as_str);
        let seq = self.sequence_number.map_or_else(|| "-".to_owned(), |n| n.to_string());
        Some(format!("{}:{}:{call}:{seq}", self.conference_sid, self.event))
    }
    fn sid(&self) -> &str {
        self.conference_sid.as_str()
    }
}

/// Twilio fetching a conference announcement's TwiML (`AnnounceUrl`): nothing is required
/// beyond the signature and the account.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnouncementFetch {
    /// The conference, when Twilio names it.
    pub conference_sid: Option<ConferenceSid>,
}

impl WebhookPayload for AnnouncementFetch {
    const KIND: &'static str = "announcement";
    const ANSWERS_TWIML: bool = true;
    fn parse(params: &FormParams) -> Result<Self, Vec<FieldError>> {
        Reader::run(params, |r| Some(AnnouncementFetch { conference_sid: r.optional_sid("ConferenceSid") }))
    }
    fn sid(&self) -> &str {
        self.conference_sid.as_ref().map_or("", ConferenceSid::as_str)
    }
}
