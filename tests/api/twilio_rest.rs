//! The REST client against an in-process HTTP fake that answers in Twilio's wire format: JSON
//! shapes with string-typed numbers and RFC 2822 dates, Twilio's error bodies, 429s and 500s.

use crate::helpers::{ACCOUNT_SID, AUTH_TOKEN, test_config};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use switchboard::twilio::rest::{
    CreateCall, CreateMessage, ListCalls, PauseBehavior, RecordingRef, RecordingUpdate, wire,
};
use switchboard::twilio::{CallSid, CallStatus, TwilioApi, TwilioClient, TwilioError};

/// What the fake answers, in order; the last one repeats.
#[derive(Clone)]
enum Answer {
    Json(u16, serde_json::Value, Option<&'static str>),
    Hang,
}

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: String,
    body: String,
}

#[derive(Clone, Default)]
struct Fake {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn handle(State(fake): State<Fake>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    fake.seen.lock().expect("lock").push(Seen {
        path: uri.to_string(),
        authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let answer = {
        let mut answers = fake.answers.lock().expect("lock");
        if answers.len() > 1 { answers.pop_front() } else { answers.front().cloned() }
    };
    match answer.unwrap_or(Answer::Json(500, serde_json::json!({}), None)) {
        Answer::Json(status, json, retry_after) => {
            let mut response =
                (StatusCode::from_u16(status).expect("status"), axum::Json(json)).into_response();
            if let Some(after) = retry_after {
                response.headers_mut().insert("retry-after", after.parse().expect("header"));
            }
            response
        }
        Answer::Hang => std::future::pending().await,
    }
}

async fn fake(answers: Vec<Answer>) -> (Fake, TwilioClient) {
    fake_with(answers, &[]).await
}

/// [`fake`] with more configuration variables.
async fn fake_with(answers: Vec<Answer>, vars: &[(&str, &str)]) -> (Fake, TwilioClient) {
    let fake = Fake { answers: Arc::new(Mutex::new(answers.into())), seen: Arc::default() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = Router::new().fallback(handle).with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut all = vec![("TWILIO_API_BASE", base.as_str()), ("SWITCHBOARD_TWILIO__REQUEST_TIMEOUT_SECS", "1")];
    all.extend_from_slice(vars);
    let config = test_config(&all);
    (fake, TwilioClient::new(&config.twilio).expect("client"))
}

fn seen(fake: &Fake) -> Vec<Seen> {
    fake.seen.lock().expect("lock").clone()
}

const CALL: &str = "CA11111111111111111111111111111111";

/// The call `CALL` with `status`, as Twilio answers it.
fn call_json(status: &str) -> serde_json::Value {
    let date = "Sat, 21 Nov 2026 13:00:00 +0000";
    let call = wire::Call {
        account_sid: ACCOUNT_SID,
        sid: CALL,
        from: "+12025550100",
        to: "+12025550111",
        status,
        direction: "outbound-api",
        date_created: date,
        date_updated: date,
        ..wire::Call::default()
    };
    call.json()
}

fn create_call() -> CreateCall {
    CreateCall {
        to: "+12025550111".into(),
        from: "+12025550100".into(),
        url: Some("https://sb.example.com/webhooks/twilio/crises/1/voice?attempt=a1".into()),
        status_callback: Some("https://sb.example.com/webhooks/twilio/calls/events?attempt=a1".into()),
        status_callback_event: vec!["initiated".into(), "answered".into(), "completed".into()],
        timeout: Some(30),
        ..CreateCall::default()
    }
}

#[tokio::test]
async fn an_api_key_signs_rest_calls_instead_of_the_auth_token() {
    let key = [
        ("TWILIO_API_KEY_SID", "SK0123456789abcdef0123456789abcdef"),
        ("TWILIO_API_KEY_SECRET", "key-secret"),
    ];
    let (fake, client) = fake_with(vec![Answer::Json(201, call_json("queued"), None)], &key).await;
    client.create_call(&create_call()).await.expect("created");
    let requests = seen(&fake);
    // The account stays in the path; only the credentials change.
    assert_eq!(requests[0].path, format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"));
    use base64::Engine;
    let expected =
        base64::engine::general_purpose::STANDARD.encode("SK0123456789abcdef0123456789abcdef:key-secret");
    assert_eq!(requests[0].authorization, format!("Basic {expected}"));
}

#[tokio::test]
async fn a_created_call_is_parsed_and_the_request_is_in_twilios_form() {
    let (fake, client) = fake(vec![Answer::Json(201, call_json("queued"), None)]).await;
    let call = client.create_call(&create_call()).await.expect("created");
    assert_eq!(call.sid.as_str(), CALL);
    assert_eq!(call.status, CallStatus::Queued);
    assert_eq!(call.date_created.map(|d| d.to_rfc3339()), Some("2026-11-21T13:00:00+00:00".into()));
    let requests = seen(&fake);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"));
    use base64::Engine;
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"));
    assert_eq!(requests[0].authorization, format!("Basic {expected}"));
    let body = &requests[0].body;
    assert!(body.starts_with("To=%2B12025550111&From=%2B12025550100&Url=https%3A%2F%2F"), "{body}");
    assert!(
        body.contains(
            "StatusCallbackEvent=initiated&StatusCallbackEvent=answered&StatusCallbackEvent=completed"
        ),
        "{body}"
    );
}

#[tokio::test]
async fn a_twilio_error_body_surfaces_its_code() {
    let error = serde_json::json!({"code": 21211, "message": "The 'To' number +1555 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400});
    let (fake, client) = fake(vec![Answer::Json(400, error, None)]).await;
    let err = client.create_call(&create_call()).await.expect_err("refused");
    match err {
        TwilioError::Api { status, code, more_info, .. } => {
            assert_eq!((status, code), (400, Some(21211)));
            assert_eq!(more_info.as_deref(), Some("https://www.twilio.com/docs/errors/21211"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(seen(&fake).len(), 1, "a 400 is not retried");
}

#[tokio::test]
async fn a_429_is_retried_and_then_succeeds() {
    let limited = serde_json::json!({"code": 20429, "message": "Too Many Requests", "status": 429});
    let (fake, client) =
        fake(vec![Answer::Json(429, limited, Some("0")), Answer::Json(201, call_json("queued"), None)]).await;
    let call = client.create_call(&create_call()).await.expect("created after one retry");
    assert_eq!(call.sid.as_str(), CALL);
    assert_eq!(seen(&fake).len(), 2);
}

#[tokio::test]
async fn a_500_on_create_is_not_retried_and_the_outcome_is_unknown() {
    let (fake, client) =
        fake(vec![Answer::Json(500, serde_json::json!({"code": 20500, "message": "Internal"}), None)]).await;
    let err = client.create_call(&create_call()).await.expect_err("ambiguous");
    assert!(matches!(err, TwilioError::OutcomeUnknown { .. }), "{err:?}");
    assert_eq!(seen(&fake).len(), 1);
}

#[tokio::test]
async fn a_create_that_times_out_is_not_retried_and_the_outcome_is_unknown() {
    let (fake, client) = fake(vec![Answer::Hang]).await;
    let message = CreateMessage {
        to: "+12025550123".into(),
        from: Some("+12025550100".into()),
        body: Some("hi".into()),
        ..CreateMessage::default()
    };
    let err = client.create_message(&message).await.expect_err("timed out");
    assert!(matches!(err, TwilioError::OutcomeUnknown { .. }), "{err:?}");
    assert_eq!(seen(&fake).len(), 1);
}

/// A port nothing listens on: every connection is refused.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[tokio::test]
async fn nothing_listening_is_unreachable_after_retries() {
    let base = format!("http://127.0.0.1:{}", closed_port());
    let config = test_config(&[("TWILIO_API_BASE", &base), ("SWITCHBOARD_TWILIO__MAX_RETRIES", "1")]);
    let client = TwilioClient::new(&config.twilio).expect("client");
    let err =
        client.update_call(&CallSid::parse(CALL).expect("sid"), &Default::default()).await.expect_err("down");
    assert!(matches!(err, TwilioError::Unreachable(_)), "{err:?}");
    let err = client.create_call(&create_call()).await.expect_err("down");
    assert!(matches!(err, TwilioError::Unreachable(_)), "a refused connection is not a 429: {err:?}");
}

#[tokio::test]
async fn lists_and_recording_updates_speak_twilios_shapes() {
    let page = serde_json::json!({"calls": [call_json("completed")], "page": 0, "page_size": 50,
        "next_page_uri": null, "uri": "/x"});
    let (fake, client) = fake(vec![Answer::Json(200, page, None)]).await;
    let calls = client
        .list_calls(&ListCalls { to: Some("+12025550111".into()), ..ListCalls::default() })
        .await
        .expect("listed");
    assert_eq!(calls.len(), 1);
    assert!(calls[0].status.is_terminal());
    assert!(seen(&fake)[0].path.contains("To=%2B12025550111"), "{:?}", seen(&fake));

    let recording = serde_json::json!({"sid": "RE22222222222222222222222222222222", "call_sid": CALL,
        "status": "paused", "duration": "-1", "channels": 1});
    *fake.answers.lock().expect("lock") = vec![Answer::Json(200, recording, None)].into();
    let sid = CallSid::parse(CALL).expect("sid");
    let updated = client
        .update_recording(&sid, &RecordingRef::Current, &RecordingUpdate::Pause(PauseBehavior::Skip))
        .await
        .expect("paused");
    assert_eq!(updated.status.as_str(), "paused");
    let last = seen(&fake).pop().expect("request");
    assert!(last.path.ends_with(&format!("Calls/{CALL}/Recordings/Twilio.CURRENT.json")), "{}", last.path);
    assert_eq!(last.body, "Status=paused&PauseBehavior=skip");
}

#[tokio::test]
async fn retries_of_a_429_stop_after_max_retries_and_say_rate_limited() {
    let limited = serde_json::json!({"code": 20429, "message": "Too Many Requests", "status": 429});
    let (fake, client) =
        fake_with(vec![Answer::Json(429, limited, Some("0"))], &[("SWITCHBOARD_TWILIO__MAX_RETRIES", "2")])
            .await;
    let err = client.create_call(&create_call()).await.expect_err("still limited");
    assert!(matches!(err, TwilioError::RateLimited { attempts: 3 }), "{err:?}");
    assert_eq!(seen(&fake).len(), 3, "the first try and two retries");
}
