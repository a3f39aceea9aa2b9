//! The emulator's world: configuration, number scripts, calls, messages, and the log of every
//! webhook it sent (with our answer) and every REST request it received. In memory by design: the
//! emulator is a development and test tool, reset with `POST /_emulator/reset`.

use super::clock::EmuClock;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use url::Url;

/// Settings.
pub struct Config {
    /// The account the server is configured with.
    pub account_sid: String,
    /// Its auth token: REST Basic auth and webhook signatures.
    pub auth_token: String,
    /// Where inbound events go by default (Switchboard's base URL).
    pub target: Url,
}

/// How a number behaves when called, and what happens to messages sent to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Script {
    /// `human`, `machine`, `fax`, `unknown` (answered; answering machine detection reports it as
    /// `AnsweredBy`), `busy`, `no-answer` or `failed`.
    pub answer: String,
    /// One answer per call to this number, in order (the last repeats): `["busy", "human"]` is
    /// busy the first time, a person after. Empty: `answer` every time.
    pub answers: Vec<String>,
    /// How long a machine's greeting lasts: `MachineDetection=DetectMessageEnd` reports
    /// `machine_end_*` after it.
    pub greeting_secs: f64,
    /// How a machine's greeting ends: `beep`, `silence` or `other`.
    pub greeting_end: String,
    /// Seconds of ringing before the answer.
    pub answer_after_secs: f64,
    /// Keys pressed at each `<Gather>`, in order.
    pub digits: Vec<String>,
    /// Seconds a bridged or conference leg stays before hanging up.
    pub hangup_after_secs: f64,
    /// A message to this number fails with this Twilio error (21610: opted out).
    pub sms_error: Option<i64>,
    /// The number's voice URL (default: the target's `/webhooks/twilio/call`).
    pub voice_url: Option<String>,
    /// The number's messaging URL (default: the target's `/webhooks/twilio/sms`).
    pub sms_url: Option<String>,
}

impl Script {
    /// The answer to the `nth` call (0-based) to this number.
    pub fn answer_for(&self, nth: usize) -> &str {
        match self.answers.last() {
            Some(last) => self.answers.get(nth).unwrap_or(last),
            None => &self.answer,
        }
    }
}

/// Live calls from one caller id: now, and the most there ever were at once.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LiveCount {
    /// Created through the REST API and not ended.
    pub live: u64,
    /// The highest `live` seen.
    pub peak: u64,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            answer: "human".into(),
            answers: Vec::new(),
            greeting_secs: 5.0,
            greeting_end: "beep".into(),
            answer_after_secs: 1.0,
            digits: Vec::new(),
            hangup_after_secs: 10.0,
            sms_error: None,
            voice_url: None,
            sms_url: None,
        }
    }
}

/// A call.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    /// `CA…`.
    pub sid: String,
    /// The parent of a `<Dial>` leg.
    pub parent_call_sid: Option<String>,
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// Status now.
    pub status: String,
    /// `inbound`, `outbound-api`, `outbound-dial`.
    pub direction: String,
    /// AMD's verdict.
    pub answered_by: Option<String>,
    /// Seconds, once ended.
    pub duration: Option<u64>,
    /// RFC 2822.
    pub date_created: String,
    /// RFC 2822, once answered.
    pub start_time: Option<String>,
    /// RFC 2822, once ended.
    pub end_time: Option<String>,
    /// Conference room joined, if any.
    pub conference: Option<String>,
}

impl CallRecord {
    /// A new call created now.
    pub fn new(emu: &Emulator, sid: &str, from: &str, to: &str, direction: &str, status: &str) -> CallRecord {
        CallRecord {
            sid: sid.to_owned(),
            parent_call_sid: None,
            from: from.to_owned(),
            to: to.to_owned(),
            status: status.to_owned(),
            direction: direction.to_owned(),
            answered_by: None,
            duration: None,
            date_created: emu.now_rfc2822(),
            start_time: None,
            end_time: None,
            conference: None,
        }
    }
}

/// A message.
#[derive(Debug, Clone, Serialize)]
pub struct MessageRecord {
    /// `SM…`.
    pub sid: String,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Text.
    pub body: String,
    /// Status now.
    pub status: String,
    /// Twilio's error code on failure.
    pub error_code: Option<i64>,
    /// `inbound` or `outbound-api`.
    pub direction: String,
    /// RFC 2822.
    pub date_created: String,
}

/// One request: a webhook we sent (with the answer) or a REST request we received.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    /// `webhook` or `rest`.
    pub kind: String,
    /// HTTP method.
    pub method: String,
    /// URL or path.
    pub url: String,
    /// Form parameters.
    pub params: Vec<(String, String)>,
    /// The answer's status.
    pub status: u16,
    /// The answer's body.
    pub response: String,
    /// When it was answered, by the wall clock (RFC 3339): fault harnesses line answers up with
    /// the faults they injected.
    pub at: String,
}

/// Everything the emulator knows.
pub struct Emulator {
    /// Settings.
    pub config: Config,
    /// Time.
    pub clock: EmuClock,
    /// Client for webhooks.
    pub http: reqwest::Client,
    /// Scripts by number.
    pub scripts: Mutex<HashMap<String, Script>>,
    /// Calls.
    pub calls: Mutex<Vec<CallRecord>>,
    /// Messages.
    pub messages: Mutex<Vec<MessageRecord>>,
    /// Conferences.
    pub conferences: Mutex<Vec<super::conference::ConferenceRecord>>,
    /// Recordings started through the REST API.
    pub recordings: Mutex<Vec<super::recordings::RecordingRecord>>,
    /// Request log.
    pub log: Mutex<Vec<Exchange>>,
    /// Live calls created through the REST API, per caller id (`From`).
    pub live: Mutex<HashMap<String, LiveCount>>,
    counter: AtomicU64,
}

/// Locks a mutex even if a holder panicked (the data are plain records).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Emulator {
    /// A fresh world.
    pub fn new(config: Config, clock: EmuClock) -> anyhow::Result<Emulator> {
        let http = switchboard::net::client_builder().timeout(std::time::Duration::from_secs(15)).build()?;
        Ok(Emulator {
            config,
            clock,
            http,
            scripts: Mutex::default(),
            calls: Mutex::default(),
            messages: Mutex::default(),
            conferences: Mutex::default(),
            recordings: Mutex::default(),
            log: Mutex::default(),
            live: Mutex::default(),
            counter: AtomicU64::new(1),
        })
    }

    /// A new SID with `prefix`.
    pub fn sid(&self, prefix: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}{:016x}{n:016x}", rand::random::<u64>())
    }

    /// The script of a number (the default if none was set).
    pub fn script(&self, number: &str) -> Script {
        lock(&self.scripts).get(number).cloned().unwrap_or_default()
    }

    /// Now, RFC 2822.
    pub fn now_rfc2822(&self) -> String {
        self.clock.now().to_rfc2822()
    }

    /// Updates a call.
    pub fn update_call(&self, sid: &str, change: impl FnOnce(&mut CallRecord)) {
        if let Some(call) = lock(&self.calls).iter_mut().find(|c| c.sid == sid) {
            change(call);
        }
    }

    /// A call from `from` started (`+1`) or ended (`-1`).
    pub fn count_live(&self, from: &str, started: bool) {
        let mut live = lock(&self.live);
        let count = live.entry(from.to_owned()).or_default();
        if started {
            count.live += 1;
            count.peak = count.peak.max(count.live);
        } else {
            count.live = count.live.saturating_sub(1);
        }
    }

    /// A call by SID.
    pub fn call(&self, sid: &str) -> Option<CallRecord> {
        lock(&self.calls).iter().find(|c| c.sid == sid).cloned()
    }

    /// POSTs a signed webhook (as Twilio does) and logs it; the answer's status and body.
    pub async fn webhook(&self, url: &str, params: &[(String, String)]) -> (u16, String) {
        let url = url.split('#').next().unwrap_or(url).to_owned();
        let signature = switchboard::twilio::signature::sign(self.config.auth_token.as_bytes(), &url, params);
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter()).finish();
        let idempotency = self.sid("ID");
        let sent = self
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .header("i-twilio-idempotency-token", idempotency)
            .body(body)
            .send()
            .await;
        let (status, response) = match sent {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.text().await.unwrap_or_default())
            }
            Err(e) => (0, format!("request failed: {e}")),
        };
        lock(&self.log).push(Exchange {
            kind: "webhook".into(),
            method: "POST".into(),
            url,
            params: params.to_vec(),
            status,
            response: response.clone(),
            at: chrono::Utc::now().to_rfc3339(),
        });
        (status, response)
    }
}
