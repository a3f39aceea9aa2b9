//! The reqwest implementation of [`TwilioApi`], with the retry policy of the module docs.

use super::form::Form;
use super::resources::*;
use super::{TwilioApi, TwilioError};
use crate::twilio::settings::{ApiCredentials, TwilioConfig};
use crate::twilio::types::{AccountSid, CallSid, ConferenceSid};
use rand::Rng;
use reqwest::{Method, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Longest wait between retries, whatever `Retry-After` says.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// First backoff step.
const BASE_BACKOFF: Duration = Duration::from_millis(250);

/// Talks to `TWILIO_API_BASE` (Twilio, the emulator, or a test's fake).
#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    base: String,
    account: Option<(AccountSid, String, SecretString)>,
    max_retries: u32,
}

/// One operation: its name for metrics and whether it creates something at Twilio.
#[derive(Debug, Clone, Copy)]
struct Op {
    name: &'static str,
    creates: bool,
}

impl TwilioClient {
    /// A client from the configuration; operations fail with `NotConfigured` without credentials.
    pub fn new(config: &TwilioConfig) -> Result<Self, reqwest::Error> {
        let http = crate::net::client_builder().timeout(config.request_timeout).build()?;
        let account = match (&config.account_sid, &config.credentials) {
            (Some(sid), Some(ApiCredentials::AuthToken(token))) => {
                Some((sid.clone(), sid.to_string(), token.clone()))
            }
            (Some(sid), Some(ApiCredentials::ApiKey { sid: key, secret })) => {
                Some((sid.clone(), key.clone(), secret.clone()))
            }
            _ => None,
        };
        Ok(TwilioClient {
            http,
            base: config.api_base.as_str().trim_end_matches('/').to_owned(),
            account,
            max_retries: config.max_retries,
        })
    }

    fn url(&self, account: &AccountSid, path: &str) -> String {
        format!("{}/2010-04-01/Accounts/{account}/{path}", self.base)
    }

    async fn post<T: DeserializeOwned>(&self, op: Op, path: &str, form: &Form) -> Result<T, TwilioError> {
        let body = form.encode();
        self.send(op, Method::POST, path, &[], Some(body)).await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        op: Op,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, TwilioError> {
        self.send(op, Method::GET, path, query, None).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        op: Op,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<String>,
    ) -> Result<T, TwilioError> {
        let (account, user, secret) = self.account.as_ref().ok_or(TwilioError::NotConfigured)?;
        let url = self.url(account, path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .basic_auth(user, Some(secret.expose_secret()))
                .query(query);
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body.clone());
            }
            let outcome = match request.send().await {
                Ok(response) => classify(op, response).await,
                Err(e) => Err(transport_error(op, e)),
            };
            let retry_after = match &outcome {
                Err(Retry::Later(after, _)) if attempt <= self.max_retries => *after,
                _ => None,
            };
            match outcome {
                Ok(bytes) => {
                    record(op, "ok");
                    return serde_json::from_slice(&bytes).map_err(TwilioError::Decode);
                }
                Err(Retry::Later(..)) if attempt <= self.max_retries => {
                    tokio::time::sleep(backoff(attempt, retry_after)).await;
                }
                Err(Retry::Later(_, why)) => {
                    // Out of retries: say why, so only Twilio's 429 slows the account's pace.
                    let error = match why {
                        Why::RateLimited => TwilioError::RateLimited { attempts: attempt },
                        Why::NotSent(e) => TwilioError::Unreachable(e),
                    };
                    record(op, result_label(&error));
                    return Err(error);
                }
                Err(Retry::Never(error)) => {
                    record(op, result_label(&error));
                    return Err(error);
                }
            }
        }
    }
}

/// Whether a failed attempt may be repeated.
enum Retry {
    /// Safe to repeat (429/20429, or nothing was sent), optionally after `Retry-After`.
    Later(Option<Duration>, Why),
    /// Final.
    Never(TwilioError),
}

/// Why a request may be repeated: what to report once the retries run out.
enum Why {
    /// Twilio answered 429 or 20429.
    RateLimited,
    /// The connection failed: the request never left.
    NotSent(reqwest::Error),
}

async fn classify(op: Op, response: Response) -> Result<Vec<u8>, Retry> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = match response.bytes().await {
        Ok(bytes) => bytes.to_vec(),
        Err(e) => return Err(Retry::Never(transport_error_after_send(op, e))),
    };
    if status.is_success() {
        return Ok(bytes);
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(Retry::Later(retry_after, Why::RateLimited));
    }
    if status.is_server_error() {
        return Err(Retry::Never(TwilioError::OutcomeUnknown {
            reason: format!("{} answered {status}", op.name),
        }));
    }
    let error: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
    if error.code == Some(20429) {
        return Err(Retry::Later(retry_after, Why::RateLimited));
    }
    Err(Retry::Never(TwilioError::Api {
        status: status.as_u16(),
        code: error.code,
        message: error.message.unwrap_or_else(|| status.to_string()),
        more_info: error.more_info,
    }))
}

/// A send error: a failed connect sent nothing and may be retried; anything later is ambiguous.
fn transport_error(op: Op, error: reqwest::Error) -> Retry {
    if error.is_connect() {
        return Retry::Later(None, Why::NotSent(error));
    }
    Retry::Never(transport_error_after_send(op, error))
}

fn transport_error_after_send(op: Op, error: reqwest::Error) -> TwilioError {
    if op.creates || error.is_timeout() {
        let what = if error.is_timeout() { "timed out" } else { "lost its answer" };
        TwilioError::OutcomeUnknown { reason: format!("{} {what}", op.name) }
    } else {
        TwilioError::Unreachable(error)
    }
}

/// Full jitter: a random wait up to the exponential step, or `Retry-After` when Twilio says.
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(after) = retry_after {
        return after.min(MAX_BACKOFF);
    }
    let cap = BASE_BACKOFF.saturating_mul(1 << attempt.min(6)).min(MAX_BACKOFF);
    let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

fn result_label(error: &TwilioError) -> &'static str {
    match error {
        TwilioError::Api { .. } => "client_error",
        TwilioError::RateLimited { .. } => "rate_limited",
        TwilioError::OutcomeUnknown { .. } => "outcome_unknown",
        TwilioError::Unreachable(_) => "unreachable",
        TwilioError::Decode(_) => "decode_error",
        TwilioError::NotConfigured => "not_configured",
    }
}

fn record(op: Op, result: &'static str) {
    metrics::counter!("twilio_requests_total", "operation" => op.name, "result" => result).increment(1);
}

const CREATE_CALL: Op = Op { name: "create_call", creates: true };
const UPDATE_CALL: Op = Op { name: "update_call", creates: false };
const FETCH_CALL: Op = Op { name: "fetch_call", creates: false };
const LIST_CALLS: Op = Op { name: "list_calls", creates: false };
const CREATE_MESSAGE: Op = Op { name: "create_message", creates: true };
const LIST_MESSAGES: Op = Op { name: "list_messages", creates: false };
const START_RECORDING: Op = Op { name: "start_recording", creates: true };
const UPDATE_RECORDING: Op = Op { name: "update_recording", creates: false };
const DELETE_RECORDING: Op = Op { name: "delete_recording", creates: false };
const ADD_PARTICIPANT: Op = Op { name: "add_participant", creates: true };
const UPDATE_CONFERENCE: Op = Op { name: "update_conference", creates: false };

#[async_trait::async_trait]
impl TwilioApi for TwilioClient {
    async fn delete_recording(&self, recording: &crate::twilio::RecordingSid) -> Result<(), TwilioError> {
        let path = format!("Recordings/{recording}.json");
        match self.send::<serde_json::Value>(DELETE_RECORDING, Method::DELETE, &path, &[], None).await {
            // Twilio answers 204 with no body: any success is the deletion.
            Ok(_) | Err(TwilioError::Decode(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn create_call(&self, request: &CreateCall) -> Result<CallResource, TwilioError> {
        self.post(CREATE_CALL, "Calls.json", &request.form()).await
    }

    async fn update_call(&self, sid: &CallSid, request: &UpdateCall) -> Result<CallResource, TwilioError> {
        self.post(UPDATE_CALL, &format!("Calls/{sid}.json"), &request.form()).await
    }

    async fn fetch_call(&self, sid: &CallSid) -> Result<CallResource, TwilioError> {
        self.get(FETCH_CALL, &format!("Calls/{sid}.json"), &[]).await
    }

    async fn list_calls(&self, filter: &ListCalls) -> Result<Vec<CallResource>, TwilioError> {
        let page: CallPage = self.get(LIST_CALLS, "Calls.json", &filter.query()).await?;
        Ok(page.calls)
    }

    async fn create_message(&self, request: &CreateMessage) -> Result<MessageResource, TwilioError> {
        self.post(CREATE_MESSAGE, "Messages.json", &request.form()).await
    }

    async fn list_messages(&self, filter: &ListMessages) -> Result<Vec<MessageResource>, TwilioError> {
        let page: MessagePage = self.get(LIST_MESSAGES, "Messages.json", &filter.query()).await?;
        Ok(page.messages)
    }

    async fn start_recording(
        &self,
        call: &CallSid,
        request: &StartRecording,
    ) -> Result<RecordingResource, TwilioError> {
        self.post(START_RECORDING, &format!("Calls/{call}/Recordings.json"), &request.form()).await
    }

    async fn update_recording(
        &self,
        call: &CallSid,
        recording: &RecordingRef,
        update: &RecordingUpdate,
    ) -> Result<RecordingResource, TwilioError> {
        let path = format!("Calls/{call}/Recordings/{}.json", recording.path_segment());
        self.post(UPDATE_RECORDING, &path, &update.form()).await
    }

    async fn add_participant(
        &self,
        conference: &str,
        request: &AddParticipant,
    ) -> Result<ParticipantResource, TwilioError> {
        let conference: String = url::form_urlencoded::byte_serialize(conference.as_bytes()).collect();
        self.post(ADD_PARTICIPANT, &format!("Conferences/{conference}/Participants.json"), &request.form())
            .await
    }

    async fn update_conference(
        &self,
        conference: &ConferenceSid,
        request: &UpdateConference,
    ) -> Result<ConferenceResource, TwilioError> {
        self.post(UPDATE_CONFERENCE, &format!("Conferences/{conference}.json"), &request.form()).await
    }
}
