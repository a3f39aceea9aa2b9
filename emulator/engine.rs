//! Calls that behave: a created or inbound call follows its number's script, fires the requested
//! status callbacks (signed, with `SequenceNumber`), fetches its TwiML and interprets it — Say,
//! Play, Pause, Gather (scripted digits), Dial (child legs with their own scripts, `<Number url>`
//! screening, the action callback), Conference, Record, Redirect, Hangup, Reject. Messages go
//! queued → sent → delivered, or fail with the recipient's scripted error.

use super::conference;
use super::doc::{self, Node};
use super::state::{CallRecord, Emulator, MessageRecord, Script, lock};
use std::collections::VecDeque;
use std::sync::Arc;

/// A leg being run.
pub struct Leg {
    /// The call.
    pub sid: String,
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// `inbound`, `outbound-api`, `outbound-dial`.
    pub direction: String,
    /// The parent of a `<Dial>` leg.
    pub parent: Option<String>,
    /// Keys the person on this leg will press.
    pub digits: VecDeque<String>,
    /// How long they stay in a bridged call or conference.
    pub talk_secs: f64,
    /// AMD's verdict, when asked for.
    pub answered_by: Option<String>,
}

/// How a document ended.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    /// `<Hangup>` or `<Reject>`.
    HungUp,
    /// The document ran out of verbs.
    Ended,
}

/// Status callbacks requested for a created call.
pub struct Callbacks {
    /// Where.
    pub url: Option<String>,
    /// Which events (`initiated`, `ringing`, `answered`, `completed`).
    pub events: Vec<String>,
    /// The next `SequenceNumber`.
    pub sequence: u32,
}

impl Leg {
    fn params(&self, emu: &Emulator, status: &str) -> Vec<(String, String)> {
        let mut p = vec![
            ("CallSid".into(), self.sid.clone()),
            ("AccountSid".into(), emu.config.account_sid.clone()),
            ("From".into(), self.from.clone()),
            ("To".into(), self.to.clone()),
            ("CallStatus".into(), status.into()),
            ("Direction".into(), self.direction.clone()),
            ("ApiVersion".into(), "2010-04-01".into()),
            ("Caller".into(), self.from.clone()),
            ("Called".into(), self.to.clone()),
        ];
        if let Some(parent) = &self.parent {
            p.push(("ParentCallSid".into(), parent.clone()));
        }
        if let Some(by) = &self.answered_by {
            p.push(("AnsweredBy".into(), by.clone()));
        }
        p
    }
}

fn resolve(base: &str, target: Option<&str>) -> String {
    match target {
        None => base.to_owned(),
        Some(t) => {
            url::Url::parse(base).and_then(|b| b.join(t)).map_or_else(|_| t.to_owned(), |u| u.to_string())
        }
    }
}

/// Sends a status callback for `event` if it was requested.
async fn status_callback(
    emu: &Emulator,
    leg: &Leg,
    callbacks: &mut Callbacks,
    event: &str,
    status: &str,
    duration: Option<u64>,
) {
    let Some(url) = &callbacks.url else { return };
    if !callbacks.events.iter().any(|e| e == event) {
        return;
    }
    let mut params = leg.params(emu, status);
    params.push(("SequenceNumber".into(), callbacks.sequence.to_string()));
    params.push(("StatusCallbackEvent".into(), event.into()));
    params.push(("CallbackSource".into(), "call-progress-events".into()));
    params.push(("Timestamp".into(), emu.now_rfc2822()));
    if let Some(d) = duration {
        params.push(("CallDuration".into(), d.to_string()));
    }
    callbacks.sequence += 1;
    emu.webhook(url, &params).await;
}

/// A created call's answering machine detection and its place among the calls to its number.
pub struct Amd {
    /// `MachineDetection`: `Enable`, `DetectMessageEnd`, or none.
    pub mode: Option<String>,
    /// How many calls to this number came before (picks the script's answer).
    pub nth: usize,
}

/// Answering machine detection's verdict for `answer`, after waiting as Twilio would: the
/// detection itself (a few seconds), and with `DetectMessageEnd` a machine's whole greeting.
async fn detect(emu: &Emulator, script: &Script, answer: &str, mode: &str) -> String {
    emu.clock.sleep(2.0).await;
    match answer {
        "machine" if mode == "DetectMessageEnd" => {
            emu.clock.sleep(script.greeting_secs).await;
            format!("machine_end_{}", script.greeting_end)
        }
        "machine" => "machine_start".into(),
        "fax" | "unknown" => answer.into(),
        _ => "human".into(),
    }
}

/// Runs a call created through the REST API; it counts as live for its caller id until it ends.
/// (It stops counting just before its final status callback, so the server never sees a slot
/// freed while the call still counts here.)
pub async fn run_api_call(
    emu: Arc<Emulator>,
    mut leg: Leg,
    url: String,
    mut callbacks: Callbacks,
    timeout: f64,
    amd: Amd,
) {
    emu.count_live(&leg.from, true);
    status_callback(&emu, &leg, &mut callbacks, "initiated", "initiated", None).await;
    emu.update_call(&leg.sid, |c| c.status = "ringing".into());
    status_callback(&emu, &leg, &mut callbacks, "ringing", "ringing", None).await;
    let script = emu.script(&leg.to);
    emu.clock.sleep(script.answer_after_secs.min(timeout)).await;
    let outcome = if script.answer_after_secs > timeout { "no-answer" } else { script.answer_for(amd.nth) };
    if matches!(outcome, "busy" | "failed" | "no-answer") {
        end_call(&emu, &leg.sid, outcome, 0);
        emu.count_live(&leg.from, false);
        status_callback(&emu, &leg, &mut callbacks, "completed", outcome, Some(0)).await;
        return;
    }
    if let Some(mode) = &amd.mode {
        leg.answered_by = Some(detect(&emu, &script, outcome, mode).await);
    }
    let started = emu.clock.now();
    let answered_by = leg.answered_by.clone();
    emu.update_call(&leg.sid, |c| {
        c.status = "in-progress".into();
        c.start_time = Some(started.to_rfc2822());
        c.answered_by = answered_by;
    });
    status_callback(&emu, &leg, &mut callbacks, "answered", "in-progress", None).await;
    fetch_and_run(&emu, &mut leg, &url).await;
    let duration = (emu.clock.now() - started).num_seconds().max(1) as u64;
    end_call(&emu, &leg.sid, "completed", duration);
    emu.count_live(&leg.from, false);
    status_callback(&emu, &leg, &mut callbacks, "completed", "completed", Some(duration)).await;
}

/// Runs a call into one of the business's numbers.
pub async fn run_inbound_call(emu: Arc<Emulator>, mut leg: Leg) {
    let script = emu.script(&leg.to);
    let url = script
        .voice_url
        .clone()
        .unwrap_or_else(|| resolve(emu.config.target.as_str(), Some("/webhooks/twilio/call")));
    let started = emu.clock.now();
    let mut params = leg.params(&emu, "ringing");
    params.push(("SequenceNumber".into(), "0".into()));
    let (status, body) = emu.webhook(&url, &params).await;
    emu.update_call(&leg.sid, |c| {
        c.status = "in-progress".into();
        c.start_time = Some(started.to_rfc2822());
    });
    if status == 200 {
        match doc::parse(&body) {
            Ok(document) => {
                run_document(&emu, &mut leg, url.clone(), document).await;
            }
            Err(e) => tracing::warn!(error = %e, "the voice URL answered something that is not TwiML"),
        }
    }
    let duration = (emu.clock.now() - started).num_seconds().max(1) as u64;
    end_call(&emu, &leg.sid, "completed", duration);
    let mut done = leg.params(&emu, "completed");
    done.push(("CallDuration".into(), duration.to_string()));
    done.push(("SequenceNumber".into(), "1".into()));
    emu.webhook(&url, &done).await;
}

fn end_call(emu: &Emulator, sid: &str, status: &str, duration: u64) {
    let now = emu.now_rfc2822();
    emu.update_call(sid, |c| {
        c.status = status.into();
        c.duration = Some(duration);
        c.end_time = Some(now);
    });
}

/// Fetches a TwiML URL for a leg and runs what it answers.
async fn fetch_and_run(emu: &Emulator, leg: &mut Leg, url: &str) -> Flow {
    let (status, body) = emu.webhook(url, &leg.params(emu, "in-progress")).await;
    if status != 200 {
        return Flow::HungUp;
    }
    match doc::parse(&body) {
        Ok(document) => run_document(emu, leg, url.to_owned(), document).await,
        Err(_) => Flow::HungUp,
    }
}

/// Posts to an action URL and continues with its answer.
async fn follow(emu: &Emulator, leg: &mut Leg, url: String, params: Vec<(String, String)>) -> Flow {
    let (status, body) = emu.webhook(&url, &params).await;
    match (status, doc::parse(&body)) {
        (200, Ok(document)) => run_document(emu, leg, url, document).await,
        _ => Flow::HungUp,
    }
}

/// Interprets a document verb by verb. An action URL replaces the document with its answer.
fn run_document<'a>(
    emu: &'a Emulator,
    leg: &'a mut Leg,
    url: String,
    document: Node,
) -> futures::future::BoxFuture<'a, Flow> {
    Box::pin(async move {
        for verb in &document.children {
            match verb.name.as_str() {
                "Say" | "Play" => emu.clock.sleep(1.0).await,
                "Pause" => emu.clock.sleep(verb.num("length").unwrap_or(1.0)).await,
                "Gather" => {
                    emu.clock.sleep(1.0).await;
                    if let Some(digits) = leg.digits.pop_front() {
                        let action = resolve(&url, verb.attr("action"));
                        let mut params = leg.params(emu, "in-progress");
                        params.push(("Digits".into(), digits));
                        return follow(emu, leg, action, params).await;
                    }
                    emu.clock.sleep(verb.num("timeout").unwrap_or(5.0)).await;
                }
                "Dial" => {
                    let (status, child, duration) = dial(emu, leg, verb, &url).await;
                    if let Some(action) = verb.attr("action") {
                        let mut params = leg.params(emu, "in-progress");
                        params.push(("DialCallStatus".into(), status));
                        params.extend(child.map(|c| ("DialCallSid".to_owned(), c)));
                        params.push(("DialCallDuration".into(), duration.to_string()));
                        return follow(emu, leg, resolve(&url, Some(action)), params).await;
                    }
                }
                "Record" => {
                    if let Some(flow) = record(emu, leg, verb, &url).await {
                        return flow;
                    }
                }
                "Redirect" => {
                    return follow(
                        emu,
                        leg,
                        resolve(&url, Some(verb.text.trim())),
                        leg.params(emu, "in-progress"),
                    )
                    .await;
                }
                "Hangup" | "Reject" => return Flow::HungUp,
                _ => {}
            }
        }
        Flow::Ended
    })
}

/// `<Dial>`: rings each noun; the dial status, the child leg and its duration.
async fn dial(emu: &Emulator, parent: &Leg, verb: &Node, url: &str) -> (String, Option<String>, u64) {
    let timeout = verb.num("timeout").unwrap_or(30.0);
    let Some(noun) = verb.children.iter().find(|n| n.name == "Number" || n.name == "Conference") else {
        return ("failed".into(), None, 0);
    };
    if noun.name == "Conference" {
        let started = emu.clock.now();
        let room = conference::join(emu, &parent.sid, noun).await;
        // In the room until this person hangs up or the conference ends around them.
        let until = started + chrono::Duration::milliseconds((parent.talk_secs * 1000.0) as i64);
        while conference::present(emu, &room, &parent.sid) && emu.clock.now() < until {
            let left = (until - emu.clock.now()).num_milliseconds().max(0) as f64 / 1000.0;
            emu.clock.sleep(left.min(0.5)).await;
        }
        conference::leave(emu, &room, &parent.sid).await;
        let duration = (emu.clock.now() - started).num_seconds().max(0) as u64;
        return ("completed".into(), None, duration);
    }
    let number = noun.text.trim().to_owned();
    let script = emu.script(&number);
    let sid = emu.sid("CA");
    let mut record = CallRecord::new(emu, &sid, &parent.from, &number, "outbound-dial", "ringing");
    record.parent_call_sid = Some(parent.sid.clone());
    lock(&emu.calls).push(record);
    emu.clock.sleep(script.answer_after_secs.min(timeout)).await;
    let outcome =
        if script.answer_after_secs > timeout { "no-answer".to_owned() } else { script.answer.clone() };
    if matches!(outcome.as_str(), "busy" | "failed" | "no-answer") {
        end_call(emu, &sid, &outcome, 0);
        return (outcome, Some(sid), 0);
    }
    let started = emu.clock.now();
    emu.update_call(&sid, |c| c.status = "in-progress".into());
    let mut child = Leg {
        sid: sid.clone(),
        from: parent.from.clone(),
        to: number,
        direction: "outbound-dial".into(),
        parent: Some(parent.sid.clone()),
        digits: script.digits.iter().cloned().collect(),
        talk_secs: script.hangup_after_secs,
        answered_by: None,
    };
    // Screening: the whisper runs on the child leg; hanging up there means not bridged.
    let bridged = match noun.attr("url") {
        Some(whisper) => fetch_and_run(emu, &mut child, &resolve(url, Some(whisper))).await == Flow::Ended,
        None => true,
    };
    if bridged {
        emu.clock.sleep(script.hangup_after_secs).await;
    }
    let duration = (emu.clock.now() - started).num_seconds().max(1) as u64;
    end_call(emu, &sid, "completed", duration);
    ("completed".into(), Some(sid), duration)
}

/// `<Record>`: a recording, its status callback, then the action's answer.
async fn record(emu: &Emulator, leg: &mut Leg, verb: &Node, url: &str) -> Option<Flow> {
    emu.clock.sleep(3.0).await;
    let recording = emu.sid("RE");
    let media = format!(
        "https://api.twilio.com/2010-04-01/Accounts/{}/Recordings/{recording}",
        emu.config.account_sid
    );
    if let Some(callback) = verb.attr("recordingStatusCallback") {
        let params = vec![
            ("AccountSid".into(), emu.config.account_sid.clone()),
            ("CallSid".into(), leg.sid.clone()),
            ("RecordingSid".into(), recording.clone()),
            ("RecordingUrl".into(), media.clone()),
            ("RecordingStatus".into(), "completed".into()),
            ("RecordingDuration".into(), "3".into()),
            ("RecordingChannels".into(), "1".into()),
            ("RecordingSource".into(), "RecordVerb".into()),
        ];
        emu.webhook(&resolve(url, Some(callback)), &params).await;
    }
    let action = verb.attr("action")?;
    let mut params = leg.params(emu, "in-progress");
    params.extend([
        ("RecordingSid".into(), recording),
        ("RecordingUrl".into(), media),
        ("RecordingDuration".into(), "3".into()),
    ]);
    Some(follow(emu, leg, resolve(url, Some(action)), params).await)
}

/// Delivers a message created through the REST API: sent, then delivered or failed.
pub async fn run_message(emu: Arc<Emulator>, sid: String, status_callback: Option<String>) {
    let Some(message) = lock(&emu.messages).iter().find(|m| m.sid == sid).cloned() else { return };
    let error = emu.script(&message.to).sms_error;
    let steps: Vec<(&str, Option<i64>)> = match error {
        Some(code) => vec![("failed", Some(code))],
        None => vec![("sent", None), ("delivered", None)],
    };
    for (status, code) in steps {
        emu.clock.sleep(0.5).await;
        if let Some(m) = lock(&emu.messages).iter_mut().find(|m| m.sid == sid) {
            m.status = status.into();
            m.error_code = code;
        }
        if let Some(url) = &status_callback {
            emu.webhook(url, &message_params(&emu, &message, status, code)).await;
        }
    }
}

fn message_params(
    emu: &Emulator,
    m: &MessageRecord,
    status: &str,
    code: Option<i64>,
) -> Vec<(String, String)> {
    let mut p = vec![
        ("MessageSid".into(), m.sid.clone()),
        ("SmsSid".into(), m.sid.clone()),
        ("AccountSid".into(), emu.config.account_sid.clone()),
        ("From".into(), m.from.clone()),
        ("To".into(), m.to.clone()),
        ("MessageStatus".into(), status.into()),
        ("SmsStatus".into(), status.into()),
        ("ApiVersion".into(), "2010-04-01".into()),
    ];
    if let Some(code) = code {
        p.push(("ErrorCode".into(), code.to_string()));
    }
    p
}
