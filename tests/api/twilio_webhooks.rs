//! The webhook edge through the real app stack: signatures (also behind proxies), the account
//! check, payload validation, and idempotency. The routes are test routes mounted on the app
//! (the domains mount theirs the same way).

use crate::fixture::PUBLIC;
use crate::helpers::{ACCOUNT_SID, TestApp, spawn_with, test_config};
use crate::signing::{Hook, MESSAGE_SID, sms_params, unsigned, voice_params};
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::FutureExt;
use sqlx::PgPool;
use switchboard::startup::Overrides;
use switchboard::state::AppState;
use switchboard::twilio::twiml::{Gather, Verb};
use switchboard::twilio::{InboundSms, TwilioWebhook, Twiml, VoiceRequest, WebhookReply};

async fn voice(hook: TwilioWebhook<VoiceRequest>) -> Response {
    let gather = Gather {
        action: Some("/gather".into()),
        num_digits: Some(1),
        prompts: vec![Verb::Play("x".into())],
        ..Gather::default()
    };
    assert_eq!(hook.payload.call_status.as_str(), "ringing");
    Twiml::new().verb(gather).into_response()
}

/// Records one row per effect, so a test can count how often the effect ran.
async fn sms(State(state): State<AppState>, hook: TwilioWebhook<InboundSms>) -> Response {
    hook.once(&state.db, |tx, sms| {
        async move {
            sqlx::query("INSERT INTO test_effect (sid, body) VALUES ($1, $2)")
                .bind(sms.message_sid.as_str())
                .bind(&sms.body)
                .execute(&mut *tx)
                .await?;
            let count: i64 =
                sqlx::query_scalar("SELECT count(*) FROM test_effect").fetch_one(&mut *tx).await?;
            Ok(WebhookReply::from(Twiml::new().say(format!("effect {count}"))))
        }
        .boxed()
    })
    .await
}

fn routes() -> Router<AppState> {
    Router::new().route("/webhooks/test/voice", post(voice)).route("/webhooks/test/sms", post(sms))
}

async fn spawn(pool: PgPool, vars: &[(&str, &str)]) -> TestApp {
    sqlx::query("CREATE TABLE IF NOT EXISTS test_effect (sid text NOT NULL, body text NOT NULL)")
        .execute(&pool)
        .await
        .expect("test table");
    let overrides = Overrides { pool: Some(pool), routes: Some(routes()), ..Overrides::default() };
    spawn_with(test_config(vars), overrides).await
}

async fn effects(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM test_effect").fetch_one(&app.state.db).await.expect("count")
}

#[sqlx::test]
async fn a_signed_voice_webhook_gets_twiml(pool: PgPool) {
    let app = spawn(pool, &[]).await;
    let response = Hook::new("/webhooks/test/voice", &voice_params("ringing")).send(&app).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/xml; charset=utf-8");
    let body = response.text().await.expect("body");
    assert!(body.starts_with("<?xml") && body.contains("<Gather"), "{body}");
}

#[sqlx::test]
async fn missing_or_wrong_signatures_are_refused(pool: PgPool) {
    let app = spawn(pool, &[]).await;
    let unsigned =
        unsigned(&app, "/webhooks/test/voice", &voice_params("ringing")).send().await.expect("sent");
    assert_eq!(unsigned.status(), 403);
    let body = unsigned.text().await.expect("body");
    assert!(
        body.contains("<Say>We could not verify this request.</Say>") && body.contains("<Hangup"),
        "{body}"
    );

    let mut wrong_token = Hook::new("/webhooks/test/sms", &sms_params("hi"));
    wrong_token.token = "not-the-token";
    let response = wrong_token.send(&app).await;
    assert_eq!(response.status(), 403);
    assert_eq!(response.text().await.expect("body"), "", "non-voice webhooks get an empty 403");

    let mut tampered = Hook::new("/webhooks/test/sms", &sms_params("hi")).request(&app);
    tampered = tampered.body(crate::signing::form(&sms_params("hi there")));
    assert_eq!(tampered.send().await.expect("sent").status(), 403);
    assert_eq!(effects(&app).await, 0);
}

#[sqlx::test]
async fn a_foreign_account_is_refused(pool: PgPool) {
    let app = spawn(pool, &[]).await;
    let mut params = sms_params("hi");
    params[1].1 = "AC99999999999999999999999999999999";
    let response = Hook::new("/webhooks/test/sms", &params).send(&app).await;
    assert_eq!(response.status(), 403);
    assert_eq!(effects(&app).await, 0);
}

#[sqlx::test]
async fn the_secondary_token_is_accepted(pool: PgPool) {
    let app = spawn(pool, &[("TWILIO_AUTH_TOKEN_SECONDARY", "rotated-token")]).await;
    let mut hook = Hook::new("/webhooks/test/voice", &voice_params("ringing"));
    hook.token = "rotated-token";
    assert_eq!(hook.send(&app).await.status(), 200);
}

#[sqlx::test]
async fn behind_a_proxy_the_public_base_url_is_what_twilio_signed(pool: PgPool) {
    let app = spawn(pool, &[("PUBLIC_BASE_URL", PUBLIC)]).await;
    let hook = Hook::public("/webhooks/test/voice", &voice_params("ringing"));
    assert_eq!(hook.send(&app).await.status(), 200);
    // Signed for the address the app happens to listen on: not what Twilio would sign.
    let local = Hook::new("/webhooks/test/voice", &voice_params("ringing"));
    assert_eq!(local.send(&app).await.status(), 403);
}

#[sqlx::test]
async fn forwarded_headers_count_only_when_trusted(pool: PgPool) {
    let proxied = |hook: &mut Hook<'_>| {
        hook.signed_url = Some("https://tunnel.example.net/webhooks/test/voice".into());
        hook.headers.push(("x-forwarded-proto", "https".into()));
        hook.headers.push(("x-forwarded-host", "tunnel.example.net".into()));
    };
    let trusted = spawn(pool.clone(), &[("SWITCHBOARD_TRUST_FORWARDED_HEADERS", "true")]).await;
    let mut hook = Hook::new("/webhooks/test/voice", &voice_params("ringing"));
    proxied(&mut hook);
    assert_eq!(hook.send(&trusted).await.status(), 200);

    let untrusted = spawn(pool, &[]).await;
    assert_eq!(hook.send(&untrusted).await.status(), 403);
}

#[sqlx::test]
async fn broken_payloads_get_422_naming_the_fields(pool: PgPool) {
    let app = spawn(pool, &[]).await;
    let mut params = sms_params("hi");
    params[0].1 = "SM-not-a-sid";
    params[5].1 = "2";
    let response = Hook::new("/webhooks/test/sms", &params).send(&app).await;
    assert_eq!(response.status(), 422);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = response.json().await.expect("json");
    let fields: Vec<&str> =
        body["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["MessageSid", "NumMedia"]);

    let params: Vec<_> = voice_params("ringing").into_iter().filter(|(k, _)| *k != "CallStatus").collect();
    let response = Hook::new("/webhooks/test/voice", &params).send(&app).await;
    assert_eq!(response.status(), 422);
    let body = response.text().await.expect("body");
    assert!(body.starts_with("<?xml") && body.contains("<Hangup"), "voice gets TwiML: {body}");
}

#[sqlx::test]
async fn unusual_genuine_values_are_accepted(pool: PgPool) {
    let app = spawn(pool, &[]).await;
    for from in ["72345", "ACME", "anonymous", "+15555550123", "client:alice"] {
        let mut params = sms_params("hi");
        params[2].1 = from;
        params[0].1 = match from {
            "72345" => "SM00000000000000000000000000000001",
            "ACME" => "SM00000000000000000000000000000002",
            "anonymous" => "SM00000000000000000000000000000003",
            "+15555550123" => "SM00000000000000000000000000000004",
            _ => "SM00000000000000000000000000000005",
        };
        params.push(("SomethingTwilioAddedLater", "yes"));
        assert_eq!(Hook::new("/webhooks/test/sms", &params).send(&app).await.status(), 200, "from {from}");
    }
    let response = Hook::new("/webhooks/test/voice", &voice_params("ringing")).send(&app).await;
    assert_eq!(response.status(), 200);
    assert_eq!(effects(&app).await, 5);
}

#[sqlx::test]
async fn the_same_webhook_twice_has_one_effect_and_one_answer(pool: PgPool) {
    let app = spawn(pool, &[]).await;
    let hook = Hook::new("/webhooks/test/sms", &sms_params("hello"));
    let first = hook.send(&app).await.text().await.expect("body");
    let second = hook.send(&app).await.text().await.expect("body");
    assert_eq!(first, second);
    assert!(first.contains("effect 1"), "{first}");
    assert_eq!(effects(&app).await, 1);
    let stored: String = sqlx::query_scalar("SELECT key FROM webhook_receipt")
        .fetch_one(&app.state.db)
        .await
        .expect("receipt");
    assert_eq!(stored, format!("sms:{MESSAGE_SID}"));
}

#[sqlx::test]
async fn concurrent_duplicates_have_one_effect_and_identical_answers(pool: PgPool) {
    let app = spawn(pool, &[]).await;
    let mut hook = Hook::new("/webhooks/test/sms", &sms_params("hello"));
    hook.headers.push(("i-twilio-idempotency-token", "delivery-1".into()));
    let sends = (0..8).map(|_| async { hook.send(&app).await.text().await.expect("body") });
    let answers = futures::future::join_all(sends).await;
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(effects(&app).await, 1);
    let key: String = sqlx::query_scalar("SELECT key FROM webhook_receipt")
        .fetch_one(&app.state.db)
        .await
        .expect("receipt");
    assert_eq!(key, "sms:token:delivery-1");
}

#[sqlx::test]
async fn insecure_mode_accepts_unsigned_webhooks_and_says_so(pool: PgPool) {
    let app =
        spawn(pool, &[("TWILIO_AUTH_TOKEN", ""), ("SWITCHBOARD_INSECURE_SKIP_SIGNATURE", "true")]).await;
    let response =
        unsigned(&app, "/webhooks/test/voice", &voice_params("ringing")).send().await.expect("sent");
    assert_eq!(response.status(), 200);
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 200, "a warning keeps the instance ready");
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["checks"]["signature_verification"]["status"], "warning");
    assert_eq!(body["checks"]["public_base_url"]["status"], "warning");
    assert_eq!(ACCOUNT_SID.len(), 34);
}

#[sqlx::test]
async fn old_receipts_are_swept(pool: PgPool) {
    use std::sync::Arc;
    use switchboard::clock::ManualClock;
    use switchboard::worker::Worker;
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = crate::helpers::spawn_with_clock(pool, clock.clone()).await;
    sqlx::query("INSERT INTO webhook_receipt (key, kind, response_status, content_type, body) VALUES ('sms:x', 'sms', 200, 'text/xml', '')")
        .execute(&app.state.db)
        .await
        .expect("insert");
    let sweeper = switchboard::twilio::ReceiptSweeper::new(app.state.db.clone(), app.state.clock.clone());
    assert_eq!(sweeper.run_once().await.expect("sweep"), 0, "a fresh receipt is kept");
    clock.advance(chrono::Duration::days(8));
    assert_eq!(sweeper.run_once().await.expect("sweep"), 1);
}

#[sqlx::test]
async fn a_refusal_is_logged_with_why_and_the_urls_tried(pool: PgPool) {
    let captured = crate::fixture::Captured::default();
    let _logs = tracing::subscriber::set_default(captured.json(tracing::Level::WARN));
    let app = spawn(pool, &[("PUBLIC_BASE_URL", PUBLIC)]).await;
    let mut wrong_token = Hook::public("/webhooks/test/sms", &sms_params("hi"));
    wrong_token.token = "not-the-token";
    assert_eq!(wrong_token.send(&app).await.status(), 403);
    let line = captured
        .text()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .find(|l| l["fields"]["message"] == "webhook refused: bad signature")
        .expect("the refusal is logged");
    assert!(line["fields"]["reason"].as_str().is_some_and(|r| !r.is_empty()), "says why: {line}");
    let tried = line["fields"]["candidates"].as_str().expect("the URLs tried");
    assert!(tried.contains(&format!("{PUBLIC}/webhooks/test/sms")), "{tried}");
}

#[sqlx::test]
async fn a_public_base_url_with_a_path_prefix_signs_and_builds_callbacks_under_it(pool: PgPool) {
    let prefixed = "https://sb.example.com/switchboard";
    let app = spawn(pool, &[("PUBLIC_BASE_URL", prefixed)]).await;
    // The proxy strips the prefix: the server sees /webhooks/…, Twilio signed the prefixed URL.
    let mut hook = Hook::new("/webhooks/test/voice", &voice_params("ringing"));
    hook.signed_url = Some(format!("{prefixed}/webhooks/test/voice"));
    assert_eq!(hook.send(&app).await.status(), 200);
    let mut unprefixed = Hook::new("/webhooks/test/voice", &voice_params("ringing"));
    unprefixed.signed_url = Some("https://sb.example.com/webhooks/test/voice".into());
    assert_eq!(unprefixed.send(&app).await.status(), 403, "the prefix is part of what Twilio signed");
    assert_eq!(
        app.state.public_url("/webhooks/twilio/calls/events?attempt=a1"),
        format!("{prefixed}/webhooks/twilio/calls/events?attempt=a1")
    );
}
