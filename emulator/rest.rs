//! The REST subset, in Twilio's wire format: Basic auth (401 with Twilio's error JSON), form
//! bodies, snake_case JSON with string-typed numbers, RFC 2822 dates, `uri` and
//! `subresource_uris`, 201 on creates, and Twilio's error codes for bad input.

use super::engine::{self, Callbacks, Leg};
use super::state::{CallRecord, Emulator, Exchange, MessageRecord, lock};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use switchboard::twilio::rest::wire;

type Form = HashMap<String, Vec<String>>;
type Shared = State<Arc<Emulator>>;

fn form(body: &[u8]) -> Form {
    let mut map: Form = HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        map.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    map
}

fn first<'a>(f: &'a Form, key: &str) -> Option<&'a str> {
    f.get(key).and_then(|v| v.first()).map(String::as_str).filter(|v| !v.is_empty())
}

/// Twilio's error body.
fn error(status: u16, code: i64, message: &str) -> Response {
    let body = json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status});
    (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), axum::Json(body)).into_response()
}

/// The REST routes.
pub fn router() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/2010-04-01/Accounts/{account}/Calls.json", post(create_call).get(list_calls))
        .route("/2010-04-01/Accounts/{account}/Calls/{sid}", get(fetch_call).post(update_call))
        .route("/2010-04-01/Accounts/{account}/Calls/{sid}/Recordings.json", post(create_recording))
        .route("/2010-04-01/Accounts/{account}/Calls/{sid}/Recordings/{recording}", post(update_recording))
        .route(
            "/2010-04-01/Accounts/{account}/Recordings/{file}",
            get(super::recordings::media).delete(super::recordings::delete),
        )
        .route("/2010-04-01/Accounts/{account}/Messages.json", post(create_message).get(list_messages))
        .route("/2010-04-01/Accounts/{account}/Messages/{sid}", get(fetch_message))
        .route(
            "/2010-04-01/Accounts/{account}/Conferences/{conference}/Participants.json",
            post(add_participant),
        )
        .route("/2010-04-01/Accounts/{account}/Conferences/{conference}", post(update_conference))
}

/// Checks Basic auth (account SID and token) and the account in the path; logs the request.
fn authorize(
    emu: &Emulator,
    headers: &HeaderMap,
    account: &str,
    path: String,
    body: &[u8],
) -> Option<Response> {
    let expected = format!("{}:{}", emu.config.account_sid, emu.config.auth_token);
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok());
    let params = form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let ok = presented.as_deref() == Some(expected.as_bytes()) && account == emu.config.account_sid;
    lock(&emu.log).push(Exchange {
        kind: "rest".into(),
        method: "REST".into(),
        url: path,
        params,
        status: if ok { 200 } else { 401 },
        response: String::new(),
        at: chrono::Utc::now().to_rfc3339(),
    });
    (!ok).then(|| error(401, 20003, "Authenticate"))
}

fn call_json(emu: &Emulator, c: &CallRecord) -> Value {
    let updated = emu.now_rfc2822();
    wire::Call {
        account_sid: &emu.config.account_sid,
        sid: &c.sid,
        parent_call_sid: c.parent_call_sid.as_deref(),
        from: &c.from,
        to: &c.to,
        status: &c.status,
        direction: &c.direction,
        answered_by: c.answered_by.as_deref(),
        duration: c.duration,
        date_created: &c.date_created,
        date_updated: &updated,
        start_time: c.start_time.as_deref(),
        end_time: c.end_time.as_deref(),
    }
    .json()
}

fn message_json(emu: &Emulator, m: &MessageRecord) -> Value {
    let updated = emu.now_rfc2822();
    wire::Message {
        account_sid: &emu.config.account_sid,
        sid: &m.sid,
        from: &m.from,
        to: &m.to,
        body: &m.body,
        status: &m.status,
        direction: &m.direction,
        error_code: m.error_code,
        date_created: &m.date_created,
        date_updated: &updated,
        date_sent: Some(&m.date_created),
    }
    .json()
}

fn valid_number(value: &str) -> bool {
    switchboard::twilio::E164::parse(value).is_ok()
        || value.starts_with("client:")
        || value.starts_with("sip:")
}

async fn create_call(
    State(emu): Shared,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = authorize(&emu, &headers, &account, "POST Calls.json".into(), &body) {
        return r;
    }
    let f = form(&body);
    let Some(to) = first(&f, "To") else { return error(400, 21201, "No 'To' number is specified") };
    let Some(from) = first(&f, "From") else { return error(400, 21213, "No 'From' number is specified") };
    if !valid_number(to) {
        return error(400, 21211, &format!("The 'To' number {to} is not a valid phone number."));
    }
    if !valid_number(from) {
        return error(400, 21212, &format!("The 'From' number {from} is not a valid phone number."));
    }
    let Some(url) = first(&f, "Url").map(str::to_owned).filter(|u| u.starts_with("http")) else {
        return error(400, 21205, "Url parameter is required and must be an absolute URL");
    };
    let sid = emu.sid("CA");
    let record = CallRecord::new(&emu, &sid, from, to, "outbound-api", "queued");
    let nth = {
        let mut calls = lock(&emu.calls);
        let nth = calls.iter().filter(|c| c.to == to && c.direction == "outbound-api").count();
        calls.push(record.clone());
        nth
    };
    let script = emu.script(to);
    let leg = Leg {
        sid,
        from: from.into(),
        to: to.into(),
        direction: "outbound-api".into(),
        parent: None,
        digits: script.digits.iter().cloned().collect(),
        talk_secs: script.hangup_after_secs,
        answered_by: None,
    };
    let events = f
        .get("StatusCallbackEvent")
        .cloned()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| vec!["completed".into()]);
    let callbacks = Callbacks { url: first(&f, "StatusCallback").map(str::to_owned), events, sequence: 0 };
    let timeout = first(&f, "Timeout").and_then(|t| t.parse().ok()).unwrap_or(60.0);
    let amd = engine::Amd { mode: first(&f, "MachineDetection").map(str::to_owned), nth };
    tokio::spawn(engine::run_api_call(emu.clone(), leg, url, callbacks, timeout, amd));
    (StatusCode::CREATED, axum::Json(call_json(&emu, &record))).into_response()
}

async fn list_calls(
    State(emu): Shared,
    Path(account): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = authorize(&emu, &headers, &account, "GET Calls.json".into(), b"") {
        return r;
    }
    let calls: Vec<Value> = lock(&emu.calls)
        .iter()
        .filter(|c| {
            q.get("To").is_none_or(|t| *t == c.to)
                && q.get("From").is_none_or(|f| *f == c.from)
                && q.get("Status").is_none_or(|s| *s == c.status)
        })
        .map(|c| call_json(&emu, c))
        .collect();
    axum::Json(json!({"calls": calls, "page": 0, "page_size": 50, "start": 0, "end": calls.len(), "next_page_uri": null,
        "previous_page_uri": null, "first_page_uri": format!("/2010-04-01/Accounts/{account}/Calls.json?PageSize=50&Page=0"),
        "uri": format!("/2010-04-01/Accounts/{account}/Calls.json")}))
    .into_response()
}

fn json_sid(sid: &str) -> &str {
    sid.strip_suffix(".json").unwrap_or(sid)
}

async fn fetch_call(
    State(emu): Shared,
    Path((account, sid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = authorize(&emu, &headers, &account, format!("GET Calls/{sid}"), b"") {
        return r;
    }
    match emu.call(json_sid(&sid)) {
        Some(c) => axum::Json(call_json(&emu, &c)).into_response(),
        None => error(404, 20404, "The requested resource was not found"),
    }
}

async fn update_call(
    State(emu): Shared,
    Path((account, sid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = authorize(&emu, &headers, &account, format!("POST Calls/{sid}"), &body) {
        return r;
    }
    let sid = json_sid(&sid).to_owned();
    let Some(call) = emu.call(&sid) else { return error(404, 20404, "The requested resource was not found") };
    let f = form(&body);
    if let Some(status) = first(&f, "Status") {
        let ended =
            matches!(call.status.as_str(), "completed" | "busy" | "failed" | "no-answer" | "canceled");
        if ended {
            return error(400, 21220, "Call is not in-progress. Cannot redirect.");
        }
        let now = emu.now_rfc2822();
        emu.update_call(&sid, |c| {
            c.status = status.into();
            c.end_time = Some(now);
        });
    }
    axum::Json(call_json(&emu, &emu.call(&sid).unwrap_or(call))).into_response()
}

fn recording_json(emu: &Emulator, call: &str, sid: &str, status: &str) -> Value {
    json!({"sid": sid, "call_sid": call, "account_sid": emu.config.account_sid, "status": status, "channels": 1, "duration": "-1",
        "source": "StartCallRecordingAPI", "date_created": emu.now_rfc2822(), "start_time": emu.now_rfc2822(),
        "date_updated": null, "api_version": "2010-04-01", "conference_sid": null, "price": null, "price_unit": null,
        "encryption_details": null, "error_code": null, "track": "both",
        "uri": format!("/2010-04-01/Accounts/{}/Calls/{call}/Recordings/{sid}.json", emu.config.account_sid)})
}

async fn create_recording(
    State(emu): Shared,
    Path((account, call)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = authorize(&emu, &headers, &account, format!("POST Calls/{call}/Recordings.json"), &body)
    {
        return r;
    }
    super::recordings::start(&emu, &headers, &account, &call, &body)
}

async fn update_recording(
    State(emu): Shared,
    Path((account, call, recording)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) =
        authorize(&emu, &headers, &account, format!("POST Calls/{call}/Recordings/{recording}"), &body)
    {
        return r;
    }
    let f = form(&body);
    let Some(status) = first(&f, "Status").filter(|s| matches!(*s, "paused" | "in-progress" | "stopped"))
    else {
        return error(400, 21218, "Status must be paused, in-progress or stopped");
    };
    let sid = json_sid(&recording);
    if let Some(answer) = super::recordings::update(&emu, sid, status) {
        return answer;
    }
    let sid = if sid == "Twilio.CURRENT" { emu.sid("RE") } else { sid.to_owned() };
    axum::Json(recording_json(&emu, &call, &sid, status)).into_response()
}

async fn create_message(
    State(emu): Shared,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = authorize(&emu, &headers, &account, "POST Messages.json".into(), &body) {
        return r;
    }
    let f = form(&body);
    let Some(to) = first(&f, "To") else { return error(400, 21604, "A 'To' phone number is required.") };
    let Some(from) = first(&f, "From").or(first(&f, "MessagingServiceSid")) else {
        return error(400, 21603, "A 'From' phone number is required.");
    };
    if !valid_number(to) {
        return error(400, 21211, &format!("The 'To' number {to} is not a valid phone number."));
    }
    let body_text = first(&f, "Body").unwrap_or("").to_owned();
    if body_text.is_empty() && first(&f, "MediaUrl").is_none() {
        return error(400, 21602, "Message body is required.");
    }
    if body_text.chars().count() > 1600 {
        return error(400, 21617, "The concatenated message body exceeds the 1600 character limit.");
    }
    let record = MessageRecord {
        sid: emu.sid("SM"),
        from: from.into(),
        to: to.into(),
        body: body_text,
        status: "queued".into(),
        error_code: None,
        direction: "outbound-api".into(),
        date_created: emu.now_rfc2822(),
    };
    lock(&emu.messages).push(record.clone());
    tokio::spawn(engine::run_message(
        emu.clone(),
        record.sid.clone(),
        first(&f, "StatusCallback").map(str::to_owned),
    ));
    (StatusCode::CREATED, axum::Json(message_json(&emu, &record))).into_response()
}

async fn list_messages(
    State(emu): Shared,
    Path(account): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = authorize(&emu, &headers, &account, "GET Messages.json".into(), b"") {
        return r;
    }
    let messages: Vec<Value> = lock(&emu.messages)
        .iter()
        .filter(|m| q.get("To").is_none_or(|t| *t == m.to) && q.get("From").is_none_or(|f| *f == m.from))
        .map(|m| message_json(&emu, m))
        .collect();
    axum::Json(json!({"messages": messages, "page": 0, "page_size": 50, "start": 0, "end": messages.len(), "next_page_uri": null,
        "previous_page_uri": null, "first_page_uri": format!("/2010-04-01/Accounts/{account}/Messages.json?PageSize=50&Page=0"),
        "uri": format!("/2010-04-01/Accounts/{account}/Messages.json")}))
    .into_response()
}

async fn fetch_message(
    State(emu): Shared,
    Path((account, sid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = authorize(&emu, &headers, &account, format!("GET Messages/{sid}"), b"") {
        return r;
    }
    let found = lock(&emu.messages).iter().find(|m| m.sid == json_sid(&sid)).cloned();
    match found {
        Some(m) => axum::Json(message_json(&emu, &m)).into_response(),
        None => error(404, 20404, "The requested resource was not found"),
    }
}

async fn add_participant(
    State(emu): Shared,
    Path((account, conference)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) =
        authorize(&emu, &headers, &account, format!("POST Conferences/{conference}/Participants.json"), &body)
    {
        return r;
    }
    let f = form(&body);
    let (Some(to), Some(from)) = (first(&f, "To"), first(&f, "From")) else {
        return error(400, 21201, "To and From are required");
    };
    let sid = emu.sid("CA");
    let ends = first(&f, "EndConferenceOnExit") == Some("true");
    let room = super::conference::ensure_with(&emu, json_sid(&conference), &sid, ends);
    let mut record = CallRecord::new(&emu, &sid, from, to, "outbound-api", "in-progress");
    record.start_time = Some(emu.now_rfc2822());
    record.conference = Some(room.clone());
    lock(&emu.calls).push(record);
    let body = json!({"account_sid": emu.config.account_sid, "call_sid": sid, "conference_sid": room,
        "status": "connected", "start_conference_on_enter": true, "end_conference_on_exit": false, "muted": false, "hold": false,
        "coaching": false, "call_sid_to_coach": null, "label": null, "queue_time": "0",
        "date_created": emu.now_rfc2822(), "date_updated": emu.now_rfc2822(),
        "uri": format!("/2010-04-01/Accounts/{account}/Conferences/{conference}/Participants/{sid}.json")});
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

async fn update_conference(
    State(emu): Shared,
    Path((account, conference)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = authorize(&emu, &headers, &account, format!("POST Conferences/{conference}"), &body) {
        return r;
    }
    // Addressed by SID only: a friendly name (or an unknown SID) is Twilio's 404.
    let Some(found) = super::conference::by_sid(&emu, json_sid(&conference)) else {
        return error(404, 20404, &format!("The requested resource /Conferences/{conference} was not found"));
    };
    let f = form(&body);
    let ending = first(&f, "Status") == Some("completed");
    if ending {
        let emu = emu.clone();
        let sid = found.sid.clone();
        tokio::spawn(
            async move { super::conference::end(&emu, &sid, "conference-ended-via-api", None).await },
        );
    }
    if let Some(url) = first(&f, "AnnounceUrl").map(str::to_owned) {
        let emu = emu.clone();
        let sid = found.sid.clone();
        tokio::spawn(async move { super::conference::announce(&emu, &sid, &url).await });
    }
    let now = emu.now_rfc2822();
    let status = if ending { "completed" } else { found.status.as_str() };
    let base = format!("/2010-04-01/Accounts/{account}/Conferences/{}", found.sid);
    axum::Json(json!({"sid": found.sid, "friendly_name": found.name, "status": status, "account_sid": emu.config.account_sid,
        "date_created": now, "date_updated": now, "api_version": "2010-04-01", "region": "us1", "uri": format!("{base}.json"),
        "subresource_uris": {"participants": format!("{base}/Participants.json"), "recordings": format!("{base}/Recordings.json")},
        "reason_conference_ended": ending.then_some("conference-ended-via-api"), "call_sid_ending_conference": null}))
    .into_response()
}
