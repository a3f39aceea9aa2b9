//! The control and inspection API under `/_emulator`: number scripts, inbound calls and
//! messages, the clock, the logs, reset.

use super::engine::{self, Leg};
use super::state::{CallRecord, Emulator, MessageRecord, Script, lock};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

type Shared = State<Arc<Emulator>>;

/// The `/_emulator` routes.
pub fn router() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/_emulator/numbers/{number}", put(set_script).get(get_script))
        .route("/_emulator/inbound/call", post(inbound_call))
        .route("/_emulator/inbound/sms", post(inbound_sms))
        .route("/_emulator/calls", get(calls))
        .route("/_emulator/live", get(live))
        .route("/_emulator/messages", get(messages))
        .route("/_emulator/requests", get(requests))
        .route("/_emulator/clock", get(clock))
        .route("/_emulator/clock/advance", post(advance))
        .route("/_emulator/reset", post(reset))
}

async fn set_script(
    State(emu): Shared,
    Path(number): Path<String>,
    axum::Json(script): axum::Json<Script>,
) -> Response {
    lock(&emu.scripts).insert(number, script.clone());
    axum::Json(script).into_response()
}

async fn get_script(State(emu): Shared, Path(number): Path<String>) -> Response {
    axum::Json(emu.script(&number)).into_response()
}

/// `{"from", "to"}`.
#[derive(Debug, Deserialize)]
struct InboundCall {
    from: String,
    to: String,
}

async fn inbound_call(State(emu): Shared, axum::Json(req): axum::Json<InboundCall>) -> Response {
    let sid = emu.sid("CA");
    lock(&emu.calls).push(CallRecord::new(&emu, &sid, &req.from, &req.to, "inbound", "ringing"));
    let caller = emu.script(&req.from);
    let leg = Leg {
        sid: sid.clone(),
        from: req.from,
        to: req.to,
        direction: "inbound".into(),
        parent: None,
        digits: caller.digits.iter().cloned().collect(),
        talk_secs: caller.hangup_after_secs,
        answered_by: None,
    };
    tokio::spawn(engine::run_inbound_call(emu.clone(), leg));
    (StatusCode::CREATED, axum::Json(json!({"call_sid": sid}))).into_response()
}

/// `{"from", "to", "body", "media"}`.
#[derive(Debug, Deserialize)]
struct InboundSms {
    from: String,
    to: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    media: Vec<String>,
}

async fn inbound_sms(State(emu): Shared, axum::Json(req): axum::Json<InboundSms>) -> Response {
    let sid = emu.sid("SM");
    let mut params = vec![
        ("MessageSid".to_owned(), sid.clone()),
        ("SmsSid".into(), sid.clone()),
        ("AccountSid".into(), emu.config.account_sid.clone()),
        ("From".into(), req.from.clone()),
        ("To".into(), req.to.clone()),
        ("Body".into(), req.body.clone()),
        ("NumMedia".into(), req.media.len().to_string()),
        ("NumSegments".into(), "1".into()),
        ("ApiVersion".into(), "2010-04-01".into()),
    ];
    for (n, url) in req.media.iter().enumerate() {
        params.push((format!("MediaUrl{n}"), url.clone()));
        params.push((format!("MediaContentType{n}"), "image/jpeg".into()));
    }
    lock(&emu.messages).push(MessageRecord {
        sid: sid.clone(),
        from: req.from.clone(),
        to: req.to.clone(),
        body: req.body,
        status: "received".into(),
        error_code: None,
        direction: "inbound".into(),
        date_created: emu.now_rfc2822(),
    });
    let target =
        emu.script(&req.to).sms_url.unwrap_or_else(|| format!("{}webhooks/twilio/sms", emu.config.target));
    let (status, response) = emu.webhook(&target, &params).await;
    axum::Json(json!({"message_sid": sid, "status": status, "response": response})).into_response()
}

async fn calls(State(emu): Shared) -> Response {
    axum::Json(json!({"calls": *lock(&emu.calls)})).into_response()
}

/// Live calls per caller id, and the most at once: `{"live": {"+1…": {"live": 2, "peak": 3}}}`.
async fn live(State(emu): Shared) -> Response {
    axum::Json(json!({"live": *lock(&emu.live)})).into_response()
}

async fn messages(State(emu): Shared) -> Response {
    axum::Json(json!({"messages": *lock(&emu.messages)})).into_response()
}

async fn requests(State(emu): Shared) -> Response {
    axum::Json(json!({"requests": *lock(&emu.log)})).into_response()
}

async fn clock(State(emu): Shared) -> Response {
    axum::Json(json!({"now": emu.clock.now().to_rfc3339()})).into_response()
}

/// `{"seconds": 60}`.
#[derive(Debug, Deserialize)]
struct Advance {
    seconds: f64,
}

async fn advance(State(emu): Shared, axum::Json(by): axum::Json<Advance>) -> Response {
    emu.clock.advance(chrono::Duration::milliseconds((by.seconds * 1000.0) as i64));
    axum::Json(json!({"now": emu.clock.now().to_rfc3339()})).into_response()
}

async fn reset(State(emu): Shared) -> Response {
    lock(&emu.calls).clear();
    lock(&emu.messages).clear();
    lock(&emu.log).clear();
    lock(&emu.scripts).clear();
    lock(&emu.live).clear();
    StatusCode::NO_CONTENT.into_response()
}
