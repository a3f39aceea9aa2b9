//! Webhook fuzzing (issue 20, item 5): random, truncated, oversized, wrongly encoded and
//! duplicate-keyed form bodies, correctly signed, posted to every `/webhooks/twilio/*` route. The
//! answer is never a 5xx: valid TwiML, or a 4xx.

use crate::helpers::{ACCOUNT_SID, TestApp, spawn_app};
use crate::signing::Hook;
use crate::xml::try_parse;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use sqlx::PgPool;

const CALL: &str = "CA0123456789abcdef0123456789abcdef";
const CRISIS: &str = "7d0c2f4e-8f43-4c0e-9a57-2b1f0e6d1a10";

/// Every Twilio webhook route the router serves (and the seed's alias), with a path parameter
/// where it takes one: taken from the router's own list, so a new webhook is fuzzed too.
fn routes(app: &TestApp) -> Vec<String> {
    let routes: Vec<String> = app
        .routes
        .iter()
        .filter(|(method, path)| {
            *method == "POST"
                && (path.starts_with("/webhooks/twilio/") || *path == "/api/calls/webhook/twilio")
        })
        .map(|(_, path)| path.replace("{sid}", CALL).replace("{id}", CRISIS).replace("{job}", CRISIS))
        .collect();
    assert!(routes.iter().all(|r| !r.contains('{')), "a path parameter left: {routes:?}");
    for known in ["/webhooks/twilio/sms", "/webhooks/twilio/conferences/events", "/api/calls/webhook/twilio"]
    {
        assert!(routes.iter().any(|r| r == known), "{known} is not fuzzed: {routes:?}");
    }
    routes
}

/// A genuine-looking body for any of the routes: the parameters they read.
fn genuine() -> Vec<(String, String)> {
    [
        ("CallSid", CALL),
        ("AccountSid", ACCOUNT_SID),
        ("From", "+12025550177"),
        ("To", "+12025550101"),
        ("CallStatus", "in-progress"),
        ("Direction", "inbound"),
        ("DialCallStatus", "no-answer"),
        ("DialCallSid", "CA99999999999999999999999999999999"),
        ("Digits", "6"),
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("MessageStatus", "delivered"),
        ("Body", "hello"),
        ("NumMedia", "0"),
        ("RecordingSid", "RE0123456789abcdef0123456789abcdef"),
        ("RecordingStatus", "completed"),
        ("RecordingUrl", "https://api.twilio.com/rec"),
        ("SequenceNumber", "2"),
        ("CallDuration", "12"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A value: genuine-looking, empty, huge, control characters, any Unicode, a number's edge.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[A-Za-z0-9+:@. -]{0,40}",
        any::<String>(),
        "\\PC{0,2000}",
        Just("-1".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("\u{0}\u{7}\u{202e}".to_owned()),
    ]
}

/// How a body is broken after encoding.
#[derive(Debug, Clone)]
enum Damage {
    None,
    /// Cut at this fraction of its length.
    Truncate(f64),
    /// Bytes that are not UTF-8 and escapes that are not escapes.
    BadEncoding(Vec<u8>),
    /// Padded far beyond the body limit.
    Oversized,
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        3 => Just(Damage::None),
        1 => (0.0..1.0f64).prop_map(Damage::Truncate),
        1 => prop::collection::vec(prop_oneof![Just(0xff_u8), Just(0xc3), Just(b'%'), Just(b'Z'), any::<u8>()], 1..12)
            .prop_map(Damage::BadEncoding),
        1 => Just(Damage::Oversized),
    ]
}

/// A body: the genuine parameters with some dropped, some replaced, some repeated with other
/// values, some unknown ones added; then encoded and damaged.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let n = genuine().len();
    let edits = prop::collection::vec((0..n, 0..4u8, value()), 0..8);
    let extra = prop::collection::vec(("[A-Za-z]{1,12}", value()), 0..4);
    (edits, extra, damage()).prop_map(|(edits, extra, damage)| {
        let mut params = genuine();
        for (i, edit, v) in edits {
            let i = i % params.len().max(1);
            match edit {
                0 if !params.is_empty() => drop(params.remove(i)),
                1 if !params.is_empty() => params[i].1 = v,
                _ if !params.is_empty() => params.push((params[i].0.clone(), v)),
                _ => {}
            }
        }
        params.extend(extra);
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &params {
            form.append_pair(k, v);
        }
        damaged(form.finish().into_bytes(), damage)
    })
}

fn damaged(mut bytes: Vec<u8>, damage: Damage) -> Vec<u8> {
    match damage {
        Damage::None => {}
        Damage::Truncate(at) => bytes.truncate((bytes.len() as f64 * at) as usize),
        Damage::BadEncoding(raw) => {
            bytes.extend_from_slice(b"&Body=");
            bytes.extend(raw);
        }
        Damage::Oversized => bytes.extend(std::iter::repeat_n(b'a', 70_000)),
    }
    bytes
}

fn cases(count: u32) -> Vec<Vec<u8>> {
    let mut runner = TestRunner::new(Config { cases: count, ..Config::default() });
    (0..count).map(|_| body().new_tree(&mut runner).expect("a body").current()).collect()
}

/// Posts `body` to `path`, signed over the parameters it decodes to (as Twilio signs them).
async fn post(app: &TestApp, path: &str, body: Vec<u8>) -> (u16, String, String) {
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut hook = Hook::new(path, &borrowed);
    hook.body = Some(body);
    let response = hook.request(app).send().await.expect("an answer, not a dropped connection");
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, content_type, response.text().await.unwrap_or_default())
}

#[sqlx::test]
async fn hostile_signed_bodies_never_get_a_5xx_on_any_twilio_webhook(pool: PgPool) {
    let app = spawn_app(pool).await;
    let routes = routes(&app);
    for (n, body) in cases(48).into_iter().enumerate() {
        for path in &routes {
            let (status, content_type, answer) = post(&app, path, body.clone()).await;
            let sent = String::from_utf8_lossy(&body);
            let case =
                format!("case {n} on {path}: {status} {content_type} {answer:.200}\nbody: {sent:.600}");
            assert!(status < 500, "a 5xx: {case}");
            if status < 300 {
                assert!(content_type.starts_with("text/xml"), "not TwiML: {case}");
                try_parse(&answer).unwrap_or_else(|problem| panic!("not valid TwiML ({problem}): {case}"));
            } else {
                assert!((400..500).contains(&status), "neither TwiML nor a 4xx: {case}");
            }
        }
    }
}
