//! An in-process fake of Twilio's REST API speaking its wire format (form bodies in, JSON shapes
//! and error bodies out), able to lose answers, fail with 5xx or 429, or refuse with a code.

use crate::helpers::ACCOUNT_SID;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use switchboard::twilio::rest::wire;

/// How the next create is answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// 201 with the resource.
    Normal,
    /// Creates the resource, then never answers (the client times out).
    LoseAnswer,
    /// Creates nothing, answers 500.
    Fail500,
    /// Creates nothing, answers 429/20429.
    RateLimited,
    /// Refuses with this Twilio error code (400).
    Refuse(i64),
}

/// A received create: (kind, form fields).
pub type Create = (String, HashMap<String, Vec<String>>);
/// A received call update: (call sid, form fields).
pub type Update = (String, HashMap<String, Vec<String>>);
/// Something that exists at "Twilio": (kind, sid, to, from, body).
pub type Existing = (String, String, String, String, String);

#[derive(Clone, Default)]
pub struct FakeTwilio {
    pub modes: Arc<Mutex<VecDeque<Mode>>>,
    /// Every create request received: (kind, form fields).
    pub creates: Arc<Mutex<Vec<Create>>>,
    /// What exists at "Twilio": (kind, sid, to, from, body).
    pub existing: Arc<Mutex<Vec<Existing>>>,
    pub refuse_to: Arc<Mutex<HashMap<String, i64>>>,
    /// Every call update received (`POST Calls/{sid}.json`): (sid, form fields).
    pub updates: Arc<Mutex<Vec<Update>>>,
    /// Call statuses set by a test (`GET Calls/{sid}.json` answers them; `queued` otherwise).
    pub statuses: Arc<Mutex<HashMap<String, String>>>,
    /// Where it listens (`TWILIO_API_BASE`), for a second app on the same fake.
    pub base: Arc<std::sync::OnceLock<String>>,
    /// Every conference update received (`POST Conferences/{sid}.json`): (sid or name, form fields).
    pub conference_updates: Arc<Mutex<Vec<Update>>>,
    /// Every recording request received (`POST Calls/{CA}/Recordings.json` to start,
    /// `…/Recordings/{RE}.json` to update), in order.
    pub recordings: Arc<Mutex<Vec<RecordingRequest>>>,
    /// Every media fetch (`GET Recordings/{RE}`): (Authorization, Range).
    pub media_fetches: Arc<Mutex<Vec<MediaFetch>>>,
    /// Every recording deleted (`DELETE Recordings/{RE}.json`).
    pub deleted: Arc<Mutex<Vec<String>>>,
}

/// The audio every recording's media URL serves.
pub const AUDIO: &[u8] = b"RIFF\x24\x00\x00\x00WAVEfmt fake audio bytes of a recording";

/// A media fetch: (Authorization, Range).
pub type MediaFetch = (String, Option<String>);

/// A received recording request.
#[derive(Debug, Clone)]
pub struct RecordingRequest {
    /// The call whose recording it is.
    pub call: String,
    /// `None` for a start; the recording's SID for an update.
    pub recording: Option<String>,
    /// The form fields.
    pub fields: HashMap<String, Vec<String>>,
}

fn form(body: &[u8]) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        map.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    map
}

fn first(f: &HashMap<String, Vec<String>>, k: &str) -> String {
    f.get(k).and_then(|v| v.first()).cloned().unwrap_or_default()
}

const DATE: &str = "Mon, 23 Nov 2026 15:00:00 +0000";

impl FakeTwilio {
    pub async fn start() -> (FakeTwilio, String) {
        let fake = FakeTwilio::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        fake.base.set(base.clone()).expect("a new fake");
        let app = Router::new()
            .route("/2010-04-01/Accounts/{account}/Calls.json", post(create_call).get(list_calls))
            .route("/2010-04-01/Accounts/{account}/Calls/{sid}", post(update_call).get(fetch_call))
            .route("/2010-04-01/Accounts/{account}/Messages.json", post(create_message).get(list_messages))
            .route("/2010-04-01/Accounts/{account}/Conferences/{sid}", post(update_conference))
            .route("/2010-04-01/Accounts/{account}/Calls/{sid}/Recordings.json", post(start_recording))
            .route(
                "/2010-04-01/Accounts/{account}/Recordings/{file}",
                axum::routing::get(recording_media).delete(delete_recording),
            )
            .route("/2010-04-01/Accounts/{account}/Calls/{sid}/Recordings/{rid}", post(update_recording))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (fake, base)
    }

    pub fn push(&self, mode: Mode) {
        self.modes.lock().expect("lock").push_back(mode);
    }

    pub fn creates(&self) -> Vec<Create> {
        self.creates.lock().expect("lock").clone()
    }

    pub fn updates(&self) -> Vec<Update> {
        self.updates.lock().expect("lock").clone()
    }

    pub fn conference_updates(&self) -> Vec<Update> {
        self.conference_updates.lock().expect("lock").clone()
    }

    pub fn recordings(&self) -> Vec<RecordingRequest> {
        self.recordings.lock().expect("lock").clone()
    }

    pub fn seed(&self, kind: &str, sid: &str, to: &str, from: &str, body: &str) {
        self.existing.lock().expect("lock").push((
            kind.into(),
            sid.into(),
            to.into(),
            from.into(),
            body.into(),
        ));
    }

    /// Sets what `GET Calls/{sid}.json` answers for `sid`.
    #[allow(dead_code)]
    pub fn set_status(&self, sid: &str, status: &str) {
        self.statuses.lock().expect("lock").insert(sid.to_owned(), status.to_owned());
    }

    fn next_mode(&self) -> Mode {
        self.modes.lock().expect("lock").pop_front().unwrap_or(Mode::Normal)
    }

    fn sid(&self, prefix: &str) -> String {
        let n = self.existing.lock().expect("lock").len() + self.creates.lock().expect("lock").len();
        format!("{prefix}{:032x}", 0xABC0_0000u64 + n as u64)
    }
}

fn error(status: u16, code: i64, message: &str) -> Response {
    let body = serde_json::json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status});
    (StatusCode::from_u16(status).expect("status"), axum::Json(body)).into_response()
}

async fn create(
    fake: FakeTwilio,
    kind: &str,
    body: Bytes,
) -> Result<(String, HashMap<String, Vec<String>>), Response> {
    let fields = form(&body);
    let to = first(&fields, "To");
    fake.creates.lock().expect("lock").push((kind.into(), fields.clone()));
    let refused = fake.refuse_to.lock().expect("lock").get(&to).copied();
    let mode = refused.map(Mode::Refuse).unwrap_or_else(|| fake.next_mode());
    let sid = fake.sid(if kind == "call" { "CA" } else { "SM" });
    match mode {
        Mode::Normal => {}
        Mode::LoseAnswer => {
            fake.seed(kind, &sid, &to, &first(&fields, "From"), &first(&fields, "Body"));
            std::future::pending::<()>().await;
        }
        Mode::Fail500 => return Err(error(500, 20500, "Internal Server Error")),
        Mode::RateLimited => return Err(error(429, 20429, "Too Many Requests")),
        Mode::Refuse(code) => return Err(error(400, code, "refused")),
    }
    fake.seed(kind, &sid, &to, &first(&fields, "From"), &first(&fields, "Body"));
    Ok((sid, fields))
}

/// A queued outbound call, as Twilio answers it.
fn call_json(sid: &str, to: &str, from: &str) -> serde_json::Value {
    let call = wire::Call {
        account_sid: ACCOUNT_SID,
        sid,
        from,
        to,
        status: "queued",
        direction: "outbound-api",
        date_created: DATE,
        date_updated: DATE,
        ..wire::Call::default()
    };
    call.json()
}

/// A queued outbound message, as Twilio answers it.
fn message_json(sid: &str, to: &str, from: &str, body: &str) -> serde_json::Value {
    let message = wire::Message {
        account_sid: ACCOUNT_SID,
        sid,
        from,
        to,
        body,
        status: "queued",
        direction: "outbound-api",
        date_created: DATE,
        date_updated: DATE,
        ..wire::Message::default()
    };
    message.json()
}

async fn create_call(State(fake): State<FakeTwilio>, Path(_account): Path<String>, body: Bytes) -> Response {
    match create(fake, "call", body).await {
        Ok((sid, f)) => {
            (StatusCode::CREATED, axum::Json(call_json(&sid, &first(&f, "To"), &first(&f, "From"))))
                .into_response()
        }
        Err(response) => response,
    }
}

async fn create_message(
    State(fake): State<FakeTwilio>,
    Path(_account): Path<String>,
    body: Bytes,
) -> Response {
    match create(fake, "message", body).await {
        Ok((sid, f)) => {
            let json = message_json(&sid, &first(&f, "To"), &first(&f, "From"), &first(&f, "Body"));
            (StatusCode::CREATED, axum::Json(json)).into_response()
        }
        Err(response) => response,
    }
}

/// `POST Calls/{sid}.json`: recorded; answers the call resource with its new status, or Twilio's
/// 404/20404 for a call it never created.
async fn update_call(
    State(fake): State<FakeTwilio>,
    Path((_account, file)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Some(sid) = file.strip_suffix(".json") else { return error(404, 20404, "not found") };
    let fields = form(&body);
    fake.updates.lock().expect("lock").push((sid.to_owned(), fields.clone()));
    let existing = fake.existing.lock().expect("lock").iter().find(|e| e.0 == "call" && e.1 == sid).cloned();
    let Some((_, sid, to, from, _)) = existing else {
        return error(404, 20404, &format!("The requested resource {file} was not found"));
    };
    let mut call = call_json(&sid, &to, &from);
    if let Some(status) = fields.get("Status").and_then(|v| v.first()) {
        call["status"] = status.as_str().into();
    }
    axum::Json(call).into_response()
}

/// `GET Calls/{sid}.json`: the call with the status a test set, or 404/20404.
async fn fetch_call(
    State(fake): State<FakeTwilio>,
    Path((_account, file)): Path<(String, String)>,
) -> Response {
    let Some(sid) = file.strip_suffix(".json") else { return error(404, 20404, "not found") };
    let existing = fake.existing.lock().expect("lock").iter().find(|e| e.0 == "call" && e.1 == sid).cloned();
    let Some((_, sid, to, from, _)) = existing else {
        return error(404, 20404, &format!("The requested resource {file} was not found"));
    };
    let mut call = call_json(&sid, &to, &from);
    if let Some(status) = fake.statuses.lock().expect("lock").get(&sid) {
        call["status"] = status.as_str().into();
    }
    axum::Json(call).into_response()
}

fn matching(
    fake: &FakeTwilio,
    kind: &str,
    q: &HashMap<String, String>,
) -> Vec<(String, String, String, String)> {
    fake.existing
        .lock()
        .expect("lock")
        .iter()
        .filter(|(k, _, to, from, _)| {
            k == kind && q.get("To").is_none_or(|t| t == to) && q.get("From").is_none_or(|f| f == from)
        })
        .map(|(_, sid, to, from, body)| (sid.clone(), to.clone(), from.clone(), body.clone()))
        .collect()
}

async fn list_calls(State(fake): State<FakeTwilio>, Query(q): Query<HashMap<String, String>>) -> Response {
    let calls: Vec<_> =
        matching(&fake, "call", &q).iter().map(|(sid, to, from, _)| call_json(sid, to, from)).collect();
    axum::Json(serde_json::json!({"calls": calls, "page": 0, "page_size": 50, "next_page_uri": null}))
        .into_response()
}

async fn list_messages(State(fake): State<FakeTwilio>, Query(q): Query<HashMap<String, String>>) -> Response {
    let messages: Vec<_> = matching(&fake, "message", &q)
        .iter()
        .map(|(sid, to, from, body)| message_json(sid, to, from, body))
        .collect();
    axum::Json(serde_json::json!({"messages": messages, "page": 0, "page_size": 50, "next_page_uri": null}))
        .into_response()
}

/// `POST Conferences/{sid}.json`: recorded; answers the conference resource for a `CF…` SID, and
/// Twilio's 404/20404 for anything else (a friendly name is not an address Twilio accepts here).
async fn update_conference(
    State(fake): State<FakeTwilio>,
    Path((_account, file)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let name = file.strip_suffix(".json").unwrap_or(&file).to_owned();
    let fields = form(&body);
    fake.conference_updates.lock().expect("lock").push((name.clone(), fields.clone()));
    let is_sid =
        name.len() == 34 && name.starts_with("CF") && name[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if !is_sid {
        return error(404, 20404, &format!("The requested resource {file} was not found"));
    }
    let status = first(&fields, "Status");
    let status = if status.is_empty() { "in-progress".to_owned() } else { status };
    axum::Json(serde_json::json!({"sid": name, "friendly_name": "call", "status": status, "date_created": DATE,
        "date_updated": DATE, "region": "us1", "reason_conference_ended": null, "call_sid_ending_conference": null}))
        .into_response()
}

/// A recording resource as Twilio answers it.
fn recording_json(account: &str, call: &str, sid: &str, status: &str) -> serde_json::Value {
    serde_json::json!({"account_sid": account, "api_version": "2010-04-01", "call_sid": call,
        "conference_sid": null, "date_created": DATE, "date_updated": DATE, "start_time": DATE,
        "duration": null, "sid": sid, "price": null, "price_unit": "USD", "status": status, "channels": 2,
        "source": "StartCallRecordingAPI", "error_code": null, "track": "both", "encryption_details": null,
        "uri": format!("/2010-04-01/Accounts/{account}/Calls/{call}/Recordings/{sid}.json")})
}

/// `POST Calls/{CA}/Recordings.json`: recorded; refused when a `Refuse` mode is queued; else a
/// new `in-progress` recording.
async fn start_recording(
    State(fake): State<FakeTwilio>,
    Path((account, call)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let fields = form(&body);
    let n = {
        let mut recordings = fake.recordings.lock().expect("lock");
        recordings.push(RecordingRequest { call: call.clone(), recording: None, fields });
        recordings.len()
    };
    match fake.next_mode() {
        Mode::Refuse(code) => return error(400, code, "refused"),
        Mode::Fail500 => return error(500, 20500, "Internal Server Error"),
        // The recording starts; its answer never comes.
        Mode::LoseAnswer => std::future::pending::<()>().await,
        Mode::Normal | Mode::RateLimited => {}
    }
    let sid = format!("RE{:032x}", 0xDEF0_0000u64 + n as u64);
    (StatusCode::CREATED, axum::Json(recording_json(&account, &call, &sid, "in-progress"))).into_response()
}

/// `POST Calls/{CA}/Recordings/{RE}.json`: recorded; refused when a `Refuse` mode is queued; else
/// the recording with the asked `Status`.
async fn update_recording(
    State(fake): State<FakeTwilio>,
    Path((account, call, file)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let sid = file.strip_suffix(".json").unwrap_or(&file).to_owned();
    let fields = form(&body);
    let status = first(&fields, "Status");
    fake.recordings.lock().expect("lock").push(RecordingRequest {
        call: call.clone(),
        recording: Some(sid.clone()),
        fields,
    });
    if let Mode::Refuse(code) = fake.next_mode() {
        return error(400, code, "refused");
    }
    axum::Json(recording_json(&account, &call, &sid, &status)).into_response()
}

/// `GET Recordings/{RE}`: the audio, only with Basic auth; `Range: bytes=a-b` answers 206.
async fn recording_media(State(fake): State<FakeTwilio>, headers: axum::http::HeaderMap) -> Response {
    let header = |name: axum::http::header::HeaderName| {
        headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    };
    let auth = header(axum::http::header::AUTHORIZATION).unwrap_or_default();
    let range = header(axum::http::header::RANGE);
    fake.media_fetches.lock().expect("lock").push((auth.clone(), range.clone()));
    if !auth.starts_with("Basic ") {
        return error(401, 20003, "Authenticate");
    }
    let span = range.as_deref().and_then(|r| r.strip_prefix("bytes=")).and_then(|r| r.split_once('-'));
    if let Some((a, b)) = span.and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?))) {
        let part = AUDIO[a..=b.min(AUDIO.len() - 1)].to_vec();
        let content_range = format!("bytes {a}-{}/{}", a + part.len() - 1, AUDIO.len());
        let headers = [("content-type", "audio/x-wav".to_owned()), ("content-range", content_range)];
        return (StatusCode::PARTIAL_CONTENT, headers, part).into_response();
    }
    ([("content-type", "audio/x-wav")], AUDIO.to_vec()).into_response()
}

/// `DELETE Recordings/{RE}.json`: recorded; 204, or Twilio's 404/20404 when a `Refuse(20404)`
/// mode is queued (the recording is already gone).
async fn delete_recording(
    State(fake): State<FakeTwilio>,
    Path((_account, file)): Path<(String, String)>,
) -> Response {
    let sid = file.strip_suffix(".json").unwrap_or(&file).to_owned();
    fake.deleted.lock().expect("lock").push(sid);
    match fake.next_mode() {
        Mode::Refuse(20404) => error(404, 20404, "The requested resource was not found"),
        Mode::Fail500 => error(500, 20500, "Internal Server Error"),
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}
