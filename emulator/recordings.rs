//! REST-started call recordings: `POST Calls/{CA}/Recordings.json` starts one (the call must be
//! in progress; 21220 otherwise), `POST …/Recordings/{RE}.json` pauses (`PauseBehavior`), resumes
//! or stops it, each status reported to its `RecordingStatusCallback` (signed) for the events
//! asked (`in-progress`, `completed`, `absent`); the media is served at the recording's URL with
//! Basic auth only, and `DELETE Recordings/{RE}.json` deletes it (404 after).

use super::state::{Emulator, lock};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

type Shared = State<Arc<Emulator>>;

/// Bytes of silence-like audio every recording serves (a WAV header and a tail).
pub const AUDIO: &[u8] = b"RIFF\x2c\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";

/// A recording the emulator holds.
#[derive(Debug, Clone)]
pub struct RecordingRecord {
    sid: String,
    call: String,
    status: String,
    callback: Option<String>,
    events: Vec<String>,
    media: String,
    channels: u32,
    started: chrono::DateTime<chrono::Utc>,
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn first<'a>(f: &'a [(String, String)], key: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

fn error(status: u16, code: i64, message: &str) -> Response {
    let body = json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status});
    (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), axum::Json(body)).into_response()
}

fn json_of(emu: &Emulator, r: &RecordingRecord) -> Value {
    json!({"sid": r.sid, "call_sid": r.call, "account_sid": emu.config.account_sid, "status": r.status,
        "channels": r.channels, "duration": "-1", "source": "StartCallRecordingAPI", "date_created": emu.now_rfc2822(),
        "start_time": emu.now_rfc2822(), "date_updated": emu.now_rfc2822(), "api_version": "2010-04-01",
        "conference_sid": null, "price": null, "price_unit": null, "encryption_details": null, "error_code": null,
        "track": "both", "uri": format!("/2010-04-01/Accounts/{}/Calls/{}/Recordings/{}.json", emu.config.account_sid, r.call, r.sid)})
}

/// Reports `r`'s status to its callback, if that event was asked for.
fn report(emu: &Arc<Emulator>, r: &RecordingRecord) {
    let Some(url) = r.callback.clone() else { return };
    if !r.events.iter().any(|e| e == &r.status) {
        return;
    }
    let duration = (emu.clock.now() - r.started).num_seconds().max(1).to_string();
    let mut params = vec![
        ("AccountSid".to_owned(), emu.config.account_sid.clone()),
        ("CallSid".to_owned(), r.call.clone()),
        ("RecordingSid".to_owned(), r.sid.clone()),
        ("RecordingStatus".to_owned(), r.status.clone()),
        ("RecordingChannels".to_owned(), r.channels.to_string()),
        ("RecordingSource".to_owned(), "StartCallRecordingAPI".to_owned()),
    ];
    if r.status == "completed" {
        params.push(("RecordingUrl".to_owned(), r.media.clone()));
        params.push(("RecordingDuration".to_owned(), duration));
    }
    let emu = emu.clone();
    tokio::spawn(async move { emu.webhook(&url, &params).await });
}

/// `POST Calls/{CA}/Recordings.json` (already authorized by the caller).
pub fn start(emu: &Arc<Emulator>, headers: &HeaderMap, account: &str, call: &str, body: &Bytes) -> Response {
    if emu.call(call).is_none_or(|c| c.status != "in-progress") {
        return error(400, 21220, "Requested resource is not eligible for recording");
    }
    let f = form(body);
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let sid = emu.sid("RE");
    let events: Vec<String> = f
        .iter()
        .filter(|(k, _)| k == "RecordingStatusCallbackEvent")
        .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let record = RecordingRecord {
        sid: sid.clone(),
        call: call.to_owned(),
        status: "in-progress".into(),
        callback: first(&f, "RecordingStatusCallback").map(str::to_owned),
        events: if events.is_empty() { vec!["completed".into()] } else { events },
        media: format!("http://{host}/2010-04-01/Accounts/{account}/Recordings/{sid}"),
        channels: if first(&f, "RecordingChannels") == Some("dual") { 2 } else { 1 },
        started: emu.clock.now(),
    };
    lock(&emu.recordings).push(record.clone());
    report(emu, &record);
    (StatusCode::CREATED, axum::Json(json_of(emu, &record))).into_response()
}

/// `POST Calls/{CA}/Recordings/{RE}.json` (already authorized; `status` checked).
pub fn update(emu: &Arc<Emulator>, sid: &str, status: &str) -> Option<Response> {
    let record = {
        let mut recordings = lock(&emu.recordings);
        let r = recordings.iter_mut().find(|r| r.sid == sid)?;
        if matches!(r.status.as_str(), "stopped" | "completed") {
            return Some(error(400, 21220, "The recording is not in progress"));
        }
        r.status = if status == "stopped" { "completed".into() } else { status.to_owned() };
        r.clone()
    };
    report(emu, &record);
    let mut json = json_of(emu, &record);
    json["status"] = status.into();
    Some(axum::Json(json).into_response())
}

fn basic_ok(emu: &Emulator, headers: &HeaderMap) -> bool {
    use base64::Engine;
    let expected = format!("{}:{}", emu.config.account_sid, emu.config.auth_token);
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .is_some_and(|v| v == expected.as_bytes())
}

/// `GET Recordings/{RE}`: the audio, with Basic auth only.
pub async fn media(
    State(emu): Shared,
    Path((_account, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !basic_ok(&emu, &headers) {
        return error(401, 20003, "Authenticate");
    }
    let sid = file.split('.').next().unwrap_or(&file);
    if !lock(&emu.recordings).iter().any(|r| r.sid == sid && r.status == "completed") {
        return error(404, 20404, "The requested resource was not found");
    }
    ([("content-type", "audio/x-wav")], AUDIO.to_vec()).into_response()
}

/// `DELETE Recordings/{RE}.json`: 204, then 404.
pub async fn delete(
    State(emu): Shared,
    Path((_account, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !basic_ok(&emu, &headers) {
        return error(401, 20003, "Authenticate");
    }
    let sid = file.split('.').next().unwrap_or(&file);
    let mut recordings = lock(&emu.recordings);
    let before = recordings.len();
    recordings.retain(|r| r.sid != sid);
    if recordings.len() == before {
        return error(404, 20404, "The requested resource was not found");
    }
    StatusCode::NO_CONTENT.into_response()
}
