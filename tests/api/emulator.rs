//! The Twilio emulator: every scenario end to end against the real server (real PostgreSQL, the
//! server's workers running), its REST answers parsed by our own client and checked against
//! Twilio's OpenAPI schemas, its signatures accepted (and refused with another token).

use crate::helpers::{ACCOUNT_SID, AUTH_TOKEN, TestApp, spawn_with, test_config};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::process::Stdio;
use switchboard::startup::Overrides;
use switchboard::twilio::rest::{CreateCall, CreateMessage, ListCalls};
use switchboard::twilio::{TwilioApi, TwilioClient, TwilioError};
use tokio::io::AsyncBufReadExt;

/// A running server (its workers on) and emulator pointed at each other.
pub(crate) struct Env {
    pub(crate) app: TestApp,
    pub(crate) public: String,
    pub(crate) emulator: String,
    _process: tokio::process::Child,
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

pub(crate) async fn emulator(token: &str, target: &str) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_twilio-emulator"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--account-sid",
            ACCOUNT_SID,
            "--auth-token",
            token,
            "--target",
            target,
            "--clock",
            "scaled:5",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("emulator starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = lines.next_line().await.expect("read").expect("a line");
    (child, first.strip_prefix("listening on ").expect("address line").to_owned())
}

pub(crate) async fn start(pool: PgPool, emulator_token: &str) -> Env {
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let (process, emulator) = emulator(emulator_token, &public).await;
    let app = spawn_server(pool, port, &emulator).await;
    Env { app, public, emulator, _process: process }
}

/// The server on `port`, its Twilio being the emulator at `emulator`.
pub(crate) async fn spawn_server(pool: PgPool, port: u16, emulator: &str) -> TestApp {
    let public = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let config = test_config(&[
        ("SWITCHBOARD_LISTEN_ADDR", listen.as_str()),
        ("PUBLIC_BASE_URL", public.as_str()),
        ("TWILIO_API_BASE", emulator),
        ("SWITCHBOARD_WORKERS__ENABLED", "true"),
        ("SWITCHBOARD_OUTBOX__POLL_INTERVAL_MS", "200"),
    ]);
    spawn_with(config, Overrides { pool: Some(pool), ..Overrides::default() }).await
}

#[sqlx::test]
async fn every_scenario_passes(pool: PgPool) {
    let env = start(pool, AUTH_TOKEN).await;
    let root = env.app.superadmin().await;
    for scenario in [
        "answered-call",
        "missed-call",
        "after-hours",
        "sms-conversation",
        "crisis-approval",
        "crisis-expiry",
        "concurrent-crises",
    ] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_twilio-emulator"))
            .args([
                "simulate",
                scenario,
                "--server",
                &env.public,
                "--emulator",
                &env.emulator,
                "--key",
                &root,
            ])
            .output()
            .await
            .expect("simulate runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{scenario} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains(&format!("PASS {scenario}")) && stdout.contains("timeline:"), "{stdout}");
    }
}

fn client(emulator: &str) -> TwilioClient {
    let config = test_config(&[("TWILIO_API_BASE", emulator)]);
    TwilioClient::new(&config.twilio).expect("client")
}

/// Checks a JSON object against a schema of Twilio's OpenAPI document (property names, types,
/// enum values), as copied into the fixtures.
fn conforms(value: &Value, schema_name: &str) -> Result<(), String> {
    let fixtures: Value =
        serde_json::from_str(include_str!("../fixtures/twilio-oai/schemas.json")).expect("fixtures");
    let schemas = &fixtures["schemas"];
    let properties = schemas[schema_name]["properties"].as_object().ok_or("no such schema")?;
    for (name, spec) in properties {
        let v = value.get(name).ok_or_else(|| format!("{schema_name}: missing {name}"))?;
        if v.is_null() {
            continue;
        }
        let spec = match spec.get("$ref").and_then(Value::as_str) {
            Some(r) => &schemas[r.rsplit('/').next().unwrap_or("")],
            None => spec,
        };
        let ok = match spec["type"].as_str() {
            Some("string") => v.is_string() && spec["enum"].as_array().is_none_or(|e| e.contains(v)),
            Some("integer") => v.is_i64(),
            Some("object") => v.is_object(),
            Some("boolean") => v.is_boolean(),
            _ => true,
        };
        if !ok {
            return Err(format!("{schema_name}.{name} = {v} does not match {spec}"));
        }
    }
    Ok(())
}

#[sqlx::test]
async fn rest_answers_parse_with_our_client_and_follow_twilios_schemas(pool: PgPool) {
    let env = start(pool, AUTH_TOKEN).await;
    let twilio = client(&env.emulator);
    let call = CreateCall {
        to: "+12025550111".into(),
        from: "+12025550100".into(),
        url: Some(format!("{}/webhooks/twilio/call", env.public)),
        ..CreateCall::default()
    };
    let created = twilio.create_call(&call).await.expect("created");
    assert_eq!(created.status.as_str(), "queued");
    let listed = twilio
        .list_calls(&ListCalls { to: Some("+12025550111".into()), ..ListCalls::default() })
        .await
        .expect("listed");
    assert!(listed.iter().any(|c| c.sid == created.sid));
    let message = CreateMessage {
        to: "+12025550111".into(),
        from: Some("+12025550100".into()),
        body: Some("hello".into()),
        ..CreateMessage::default()
    };
    let sent = twilio.create_message(&message).await.expect("sent");

    let http = reqwest::Client::new();
    let base = format!("{}/2010-04-01/Accounts/{ACCOUNT_SID}", env.emulator);
    let fetch =
        |path: String| http.get(format!("{base}/{path}")).basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN)).send();
    let call_json: Value =
        fetch(format!("Calls/{}.json", created.sid)).await.expect("sent").json().await.expect("json");
    conforms(&call_json, "api.v2010.account.call").expect("call schema");
    let message_json: Value =
        fetch(format!("Messages/{}.json", sent.sid)).await.expect("sent").json().await.expect("json");
    conforms(&message_json, "api.v2010.account.message").expect("message schema");
}

#[sqlx::test]
async fn bad_requests_get_twilios_error_codes(pool: PgPool) {
    let env = start(pool, AUTH_TOKEN).await;
    let twilio = client(&env.emulator);
    let missing_to = CreateCall {
        from: "+12025550100".into(),
        url: Some("https://x.example/".into()),
        ..CreateCall::default()
    };
    match twilio.create_call(&missing_to).await {
        Err(TwilioError::Api { status: 400, code: Some(21201), .. }) => {}
        other => panic!("expected 21201, got {other:?}"),
    }
    let no_url =
        CreateCall { to: "+12025550111".into(), from: "+12025550100".into(), ..CreateCall::default() };
    assert!(matches!(twilio.create_call(&no_url).await, Err(TwilioError::Api { code: Some(21205), .. })));
    let no_body = CreateMessage {
        to: "+12025550111".into(),
        from: Some("+12025550100".into()),
        ..CreateMessage::default()
    };
    assert!(matches!(twilio.create_message(&no_body).await, Err(TwilioError::Api { code: Some(21602), .. })));
    let response = reqwest::Client::new()
        .post(format!("{}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json", env.emulator))
        .basic_auth(ACCOUNT_SID, Some("wrong"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], 20003);
}

#[sqlx::test]
async fn a_different_token_fails_the_servers_signature_check(pool: PgPool) {
    let env = start(pool, "not-the-servers-token").await;
    let http = reqwest::Client::new();
    let sms = json!({"from": "+12025550177", "to": "+12025550101", "body": "hello"});
    let answer: Value = http
        .post(format!("{}/_emulator/inbound/sms", env.emulator))
        .json(&sms)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["status"], 403);
    let good = start_matching(&env).await;
    assert_eq!(good, 200);
}

/// With the right token, the same message is accepted (the tenant has no such number: 200, kept nowhere).
async fn start_matching(env: &Env) -> u64 {
    let (mut process, emulator) = emulator(AUTH_TOKEN, &env.public).await;
    let sms = json!({"from": "+12025550177", "to": "+12025550101", "body": "hello"});
    let answer: Value = reqwest::Client::new()
        .post(format!("{emulator}/_emulator/inbound/sms"))
        .json(&sms)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    process.kill().await.ok();
    answer["status"].as_u64().unwrap_or_default()
}
