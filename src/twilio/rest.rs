//! The Twilio REST API (2010-04-01): `trait TwilioApi` and its reqwest implementation.
//!
//! Requests are form-encoded with repeated keys for arrays and `true`/`false` for booleans;
//! answers are Twilio's JSON (string-typed numbers, RFC 2822 dates, nullable fields). Retries are
//! limited to what is always safe: 429/20429 and failures before the request left. A create that
//! timed out or got a 5xx may have happened, so it is never retried here: it is reported as
//! [`TwilioError::OutcomeUnknown`] for the caller to reconcile.

mod client;
mod form;
mod resources;
pub mod wire;

pub use client::TwilioClient;
pub use form::callback_url;
pub use resources::*;

use super::types::{CallSid, ConferenceSid};

/// Everything that can go wrong talking to Twilio.
#[derive(Debug, thiserror::Error)]
pub enum TwilioError {
    /// Twilio refused the request (4xx) with its error body.
    #[error("Twilio refused the request ({status}, code {code:?}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Twilio's error code (21211 invalid `To`, 21610 opted out, …).
        code: Option<i64>,
        /// Twilio's message.
        message: String,
        /// Link to the error's documentation.
        more_info: Option<String>,
    },
    /// Still rate limited after every retry.
    #[error("rate limited by Twilio after {attempts} attempts")]
    RateLimited {
        /// Requests made.
        attempts: u32,
    },
    /// The request may or may not have taken effect (timeout or 5xx after it was sent).
    #[error("outcome unknown: {reason}")]
    OutcomeUnknown {
        /// What happened.
        reason: String,
    },
    /// Twilio could not be reached (nothing was sent).
    #[error("could not reach Twilio")]
    Unreachable(#[source] reqwest::Error),
    /// Twilio's answer could not be read.
    #[error("unexpected answer from Twilio")]
    Decode(#[source] serde_json::Error),
    /// No account or credentials are configured.
    #[error("Twilio credentials are not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)")]
    NotConfigured,
}

impl TwilioError {
    /// Twilio's error code, if it sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            TwilioError::Api { code, .. } => *code,
            _ => None,
        }
    }
}

/// The REST operations Switchboard uses.
#[async_trait::async_trait]
pub trait TwilioApi: Send + Sync {
    /// `POST Calls.json`.
    async fn create_call(&self, request: &CreateCall) -> Result<CallResource, TwilioError>;
    /// `POST Calls/{sid}.json`: hang up, cancel or redirect.
    async fn update_call(&self, sid: &CallSid, request: &UpdateCall) -> Result<CallResource, TwilioError>;
    /// `GET Calls/{sid}.json`: one call as it stands now (settling a call whose callbacks were lost).
    async fn fetch_call(&self, sid: &CallSid) -> Result<CallResource, TwilioError>;
    /// `GET Calls.json` with filters (one page).
    async fn list_calls(&self, filter: &ListCalls) -> Result<Vec<CallResource>, TwilioError>;
    /// `POST Messages.json`.
    async fn create_message(&self, request: &CreateMessage) -> Result<MessageResource, TwilioError>;
    /// `GET Messages.json` with filters (one page).
    async fn list_messages(&self, filter: &ListMessages) -> Result<Vec<MessageResource>, TwilioError>;
    /// `POST Calls/{sid}/Recordings.json`.
    async fn start_recording(
        &self,
        call: &CallSid,
        request: &StartRecording,
    ) -> Result<RecordingResource, TwilioError>;
    /// `POST Calls/{sid}/Recordings/{sid|Twilio.CURRENT}.json`: pause, resume or stop.
    async fn update_recording(
        &self,
        call: &CallSid,
        recording: &RecordingRef,
        update: &RecordingUpdate,
    ) -> Result<RecordingResource, TwilioError>;
    /// `DELETE Recordings/{sid}.json`: the recording and its media are gone at Twilio.
    async fn delete_recording(&self, recording: &super::types::RecordingSid) -> Result<(), TwilioError>;
    /// `POST Conferences/{sid or name}/Participants.json`.
    async fn add_participant(
        &self,
        conference: &str,
        request: &AddParticipant,
    ) -> Result<ParticipantResource, TwilioError>;
    /// `POST Conferences/{sid}.json` (e.g. `Status=completed` to end it).
    async fn update_conference(
        &self,
        conference: &ConferenceSid,
        request: &UpdateConference,
    ) -> Result<ConferenceResource, TwilioError>;
}
