//! The Twilio emulator: every scenario end to end against the real server (real PostgreSQL, the
//! server's workers running), its REST answers parsed by our own client and checked against
//! Twilio's OpenAPI schemas, its signatures accepted (and refused with another token).

use crate::helpers::{ACCOUNT_SID, AUTH_TOKEN, TestApp, spawn_with, test_config};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::process::Stdio;
use switchboard::startup::Overrides;
use switchboard::twilio::rest::{CreateCall, CreateMessage, ListCalls, StartRecording, UpdateCall};
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
    emulator_clocked(token, target, "scaled:5").await
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
        // outbound-run dials 200 leads: an account pace above the default 1 call/s.
        ("SWITCHBOARD_EFFECTS__CALLS_PER_SECOND", "20"),
        ("SWITCHBOARD_MEDIA__LINK_SECRET", crate::recordings::LINK_SECRET),
    ]);
    spawn_with(config, Overrides { pool: Some(pool), ..Overrides::default() }).await
}

#[sqlx::test]
async fn every_scenario_passes(pool: PgPool) {
    let env = start(pool, AUTH_TOKEN).await;
    let root = env.app.superadmin().await;
    // The emulator's own list (`simulate --list`), so a scenario added there is run here too.
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_twilio-emulator"))
        .args(["simulate", "--list"])
        .output()
        .expect("the emulator runs");
    let scenarios = String::from_utf8(listed.stdout).expect("utf-8");
    let scenarios: Vec<&str> = scenarios.lines().filter(|l| !l.is_empty()).collect();
    assert!(scenarios.contains(&"missed-call") && scenarios.contains(&"crisis-expiry"), "{scenarios:?}");
    for scenario in scenarios {
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
        if scenario == "scheduled-call" {
            let recorded = ["consent notice plays", "the signed link downloads", "the link is refused"];
            assert!(recorded.iter().all(|step| stdout.contains(step)), "{stdout}");
        }
    }
}

fn client(emulator: &str) -> TwilioClient {
    let config = test_config(&[("TWILIO_API_BASE", emulator)]);
    TwilioClient::new(&config.twilio).expect("client")
}

/// Checks a JSON object against a schema of Twilio's OpenAPI document, as copied into the
/// fixtures: every property present, of its type (enum values, string lengths); a null only where
/// the schema allows one and the caller expects one (`nulls`: what Twilio leaves empty in that state).
fn conforms(value: &Value, schema_name: &str, nulls: &[&str]) -> Result<(), String> {
    let fixtures: Value =
        serde_json::from_str(include_str!("../fixtures/twilio-oai/schemas.json")).expect("fixtures");
    let schemas = &fixtures["schemas"];
    let properties = schemas[schema_name]["properties"].as_object().ok_or("no such schema")?;
    for expected in nulls {
        if !properties.contains_key(*expected) {
            return Err(format!("{schema_name}: {expected} is no property"));
        }
    }
    for (name, spec) in properties {
        let v = value.get(name).ok_or_else(|| format!("{schema_name}: missing {name}"))?;
        let nullable = spec["nullable"] == true;
        let spec = match spec.get("$ref").and_then(Value::as_str) {
            Some(r) => schemas
                .get(r.rsplit('/').next().unwrap_or(""))
                .ok_or(format!("{r} is not in the fixtures"))?,
            None => spec,
        };
        if v.is_null() {
            if nullable && nulls.contains(&name.as_str()) {
                continue;
            }
            return Err(format!("{schema_name}.{name} is an unexpected null (nullable: {nullable})"));
        }
        let length = |s: &str| {
            let n = s.chars().count() as u64;
            spec["minLength"].as_u64().is_none_or(|min| n >= min)
                && spec["maxLength"].as_u64().is_none_or(|max| n <= max)
        };
        let ok = match spec["type"].as_str() {
            Some("string") => {
                v.as_str().is_some_and(length) && spec["enum"].as_array().is_none_or(|e| e.contains(v))
            }
            Some("integer") => v.is_i64(),
            Some("number") => v.is_number(),
            Some("object") => v.is_object(),
            Some("array") => v.is_array(),
            Some("boolean") => v.is_boolean(),
            None => true, // untyped in Twilio's document (encryption_details)
            other => return Err(format!("{schema_name}.{name}: unchecked type {other:?}")),
        };
        if !ok {
            return Err(format!("{schema_name}.{name} = {v} does not match {spec}"));
        }
    }
    Ok(())
}

/// What Twilio leaves null on a call that was just created, fetched or hung up.
const CALL_NULLS: &[&str] = &[
    "parent_call_sid",
    "phone_number_sid",
    "start_time",
    "end_time",
    "duration",
    "price",
    "answered_by",
    "forwarded_from",
    "group_sid",
    "caller_name",
    "trunk_sid",
];
/// … on an outbound message.
const MESSAGE_NULLS: &[&str] = &["price", "error_message", "messaging_service_sid", "error_code"];
/// … on a recording just started or updated.
const RECORDING_NULLS: &[&str] =
    &["conference_sid", "date_updated", "price", "price_unit", "error_code", "encryption_details"];
/// … on a list's first and only page.
const PAGE_NULLS: &[&str] = &["next_page_uri", "previous_page_uri"];
/// … on a conference in progress.
const CONFERENCE_NULLS: &[&str] = &["reason_conference_ended", "call_sid_ending_conference"];
/// … on a participant just added.
const PARTICIPANT_NULLS: &[&str] = &["label", "call_sid_to_coach"];

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

    // Every resource the emulator serves, as raw JSON.
    let http = reqwest::Client::new();
    let base = format!("{}/2010-04-01/Accounts/{ACCOUNT_SID}", env.emulator);
    let rest = |method: reqwest::Method, path: String, form: &[(&str, &str)]| {
        let request =
            http.request(method, format!("{base}/{path}")).basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN));
        let request = if form.is_empty() {
            request
        } else {
            request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(crate::signing::form(form))
        };
        async move {
            let response = request.send().await.expect("sent");
            assert!(response.status().is_success(), "{path}: {}", response.status());
            response.json::<Value>().await.expect("json")
        }
    };
    let (get, post) = (reqwest::Method::GET, reqwest::Method::POST);
    let call_json = rest(get.clone(), format!("Calls/{}.json", created.sid), &[]).await;
    conforms(&call_json, "api.v2010.account.call", CALL_NULLS).expect("call schema");
    let calls = rest(get.clone(), "Calls.json?To=%2B12025550111".into(), &[]).await;
    conforms(&calls, "ListCallResponse", PAGE_NULLS).expect("call page schema");
    for listed in calls["calls"].as_array().expect("calls") {
        conforms(listed, "api.v2010.account.call", CALL_NULLS).expect("listed call schema");
    }
    let participant = rest(
        post.clone(),
        "Conferences/room-1/Participants.json".into(),
        &[("To", "+12025550112"), ("From", "+12025550100")],
    )
    .await;
    conforms(&participant, "api.v2010.account.conference.participant", PARTICIPANT_NULLS)
        .expect("participant schema");
    // The participant's call is in progress: it can be recorded.
    let live = participant["call_sid"].as_str().expect("participant call").to_owned();
    let recording = rest(post.clone(), format!("Calls/{live}/Recordings.json"), &[]).await;
    conforms(&recording, "api.v2010.account.call.call_recording", RECORDING_NULLS).expect("recording schema");
    let recording_sid = recording["sid"].as_str().expect("recording sid");
    let paused =
        rest(post.clone(), format!("Calls/{live}/Recordings/{recording_sid}.json"), &[("Status", "paused")])
            .await;
    conforms(&paused, "api.v2010.account.call.call_recording", RECORDING_NULLS)
        .expect("updated recording schema");
    // A conference is addressed by its SID; its friendly name gets Twilio's 404.
    let by_name = http
        .post(format!("{base}/Conferences/room-1.json"))
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Status=completed")
        .send()
        .await
        .expect("sent");
    assert_eq!(by_name.status(), 404);
    assert_eq!(by_name.json::<Value>().await.expect("json")["code"], 20404);
    let room = participant["conference_sid"].as_str().expect("conference sid").to_owned();
    let conference = rest(post.clone(), format!("Conferences/{room}.json"), &[("Status", "completed")]).await;
    conforms(&conference, "api.v2010.account.conference", CONFERENCE_NULLS).expect("conference schema");
    let hung_up = rest(post.clone(), format!("Calls/{}.json", created.sid), &[("Status", "completed")]).await;
    conforms(&hung_up, "api.v2010.account.call", CALL_NULLS).expect("updated call schema");

    let message_json = rest(get.clone(), format!("Messages/{}.json", sent.sid), &[]).await;
    conforms(&message_json, "api.v2010.account.message", MESSAGE_NULLS).expect("message schema");
    let messages = rest(get, "Messages.json?To=%2B12025550111".into(), &[]).await;
    conforms(&messages, "ListMessageResponse", PAGE_NULLS).expect("message page schema");
    for listed in messages["messages"].as_array().expect("messages") {
        conforms(listed, "api.v2010.account.message", MESSAGE_NULLS).expect("listed message schema");
    }
}

#[test]
fn the_schema_check_refuses_what_twilio_would_not_send() {
    let call = json!({"sid": "CA0123456789abcdef0123456789abcdef"});
    assert_eq!(
        conforms(&call, "api.v2010.account.call", &[]),
        Err("api.v2010.account.call: missing account_sid".into())
    );
    let nulls: Value =
        serde_json::from_str(include_str!("../fixtures/twilio-oai/schemas.json")).expect("fixtures");
    let every_null: serde_json::Map<String, Value> =
        nulls["schemas"]["api.v2010.account.message"]["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .map(|k| (k.clone(), Value::Null))
            .collect();
    let error = conforms(&Value::Object(every_null), "api.v2010.account.message", MESSAGE_NULLS)
        .expect_err("refused");
    assert!(error.contains("unexpected null"), "{error}");
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
    let bad_to = CreateCall { to: "+1555".into(), ..missing_to.clone() };
    assert!(matches!(
        twilio.create_call(&bad_to).await,
        Err(TwilioError::Api { status: 400, code: Some(21211), .. })
    ));
    let bad_sms = CreateMessage { to: "12345".into(), body: Some("x".into()), ..no_body.clone() };
    assert!(matches!(twilio.create_message(&bad_sms).await, Err(TwilioError::Api { code: Some(21211), .. })));
    // 21220: a call that is not in progress cannot be recorded, an ended one not redirected.
    let queued = twilio
        .create_call(&CreateCall { to: "+12025550111".into(), ..missing_to.clone() })
        .await
        .expect("created");
    let recording = twilio.start_recording(&queued.sid, &StartRecording::default()).await;
    assert!(
        matches!(recording, Err(TwilioError::Api { status: 400, code: Some(21220), .. })),
        "{recording:?}"
    );
    twilio.update_call(&queued.sid, &UpdateCall::hang_up()).await.expect("hung up");
    let again = twilio.update_call(&queued.sid, &UpdateCall::hang_up()).await;
    assert!(matches!(again, Err(TwilioError::Api { status: 400, code: Some(21220), .. })), "{again:?}");
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

/// The emulator alone, with `--clock <clock>` (`manual`: its time moves only when told), its
/// webhooks going to `target`: the process and its address.
async fn emulator_clocked(token: &str, target: &str, clock: &str) -> (tokio::process::Child, String) {
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
            clock,
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

/// Nothing listens there: no webhook of these tests is meant to arrive anywhere.
const NOWHERE: &str = "http://127.0.0.1:9/";

/// A REST request to the emulator as our account (a form when `form` is not empty): (status, JSON).
async fn emulator_rest(
    emulator: &str,
    method: reqwest::Method,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let url = format!("{emulator}/2010-04-01/Accounts/{ACCOUNT_SID}/{path}");
    let mut request = switchboard::net::client_builder()
        .build()
        .expect("client")
        .request(method, url)
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN));
    if !form.is_empty() {
        request = request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(crate::signing::form(form));
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A request to the emulator's control API (`/_emulator/…`): (status, JSON or null).
async fn emu_control(
    emulator: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = switchboard::net::client_builder()
        .build()
        .expect("client")
        .request(method, format!("{emulator}{path}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Creates a call from our number to `to` through the REST API: its JSON.
async fn create_emulated_call(emulator: &str, to: &str) -> Value {
    let form = [("To", to), ("From", "+12025550100"), ("Url", "http://127.0.0.1:9/voice")];
    let (status, created) = emulator_rest(emulator, reqwest::Method::POST, "Calls.json", &form).await;
    assert_eq!(status, 201, "{created}");
    created
}

/// The SIDs in a list (`calls` or `messages`) of a JSON answer.
fn listed_sids(page: &Value, list: &str) -> Vec<String> {
    page[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {page}"))
        .iter()
        .map(|item| item["sid"].as_str().expect("sid").to_owned())
        .collect()
}

/// README (emulator control): `POST /_emulator/reset` forgets everything it holds — calls (the
/// REST list and fetch no longer know them), messages, number scripts, the request log.
#[tokio::test]
async fn a_reset_forgets_every_call_message_script_and_logged_request() {
    use reqwest::Method;
    let (mut process, emu) = emulator_clocked(AUTH_TOKEN, NOWHERE, "manual").await;
    let to = "+12025550111";
    let script = json!({"answer": "busy", "answer_after_secs": 30});
    let (status, _) = emu_control(&emu, Method::PUT, "/_emulator/numbers/%2B12025550111", Some(script)).await;
    assert_eq!(status, 200);
    let sid = create_emulated_call(&emu, to).await["sid"].as_str().expect("sid").to_owned();
    let sms = [("To", to), ("From", "+12025550100"), ("Body", "hello")];
    let (status, message) = emulator_rest(&emu, Method::POST, "Messages.json", &sms).await;
    assert_eq!(status, 201, "{message}");
    // Held before the reset.
    let (_, listed) = emulator_rest(&emu, Method::GET, "Calls.json", &[]).await;
    assert_eq!(listed_sids(&listed, "calls"), std::slice::from_ref(&sid));
    let (_, held) = emu_control(&emu, Method::GET, "/_emulator/calls", None).await;
    assert_eq!(listed_sids(&held, "calls"), std::slice::from_ref(&sid));
    let (_, messages) = emu_control(&emu, Method::GET, "/_emulator/messages", None).await;
    assert_eq!(listed_sids(&messages, "messages").len(), 1, "{messages}");
    let (_, log) = emu_control(&emu, Method::GET, "/_emulator/requests", None).await;
    assert!(log["requests"].as_array().is_some_and(|r| !r.is_empty()), "{log}");
    let (_, scripted) = emu_control(&emu, Method::GET, "/_emulator/numbers/%2B12025550111", None).await;
    assert_eq!(scripted["answer"], "busy");

    let (status, answer) = emu_control(&emu, Method::POST, "/_emulator/reset", None).await;
    assert_eq!((status, answer), (204, Value::Null));

    // The log first: the REST requests below are logged anew.
    let (_, log) = emu_control(&emu, Method::GET, "/_emulator/requests", None).await;
    assert_eq!(log["requests"], json!([]), "{log}");
    let (_, held) = emu_control(&emu, Method::GET, "/_emulator/calls", None).await;
    assert!(listed_sids(&held, "calls").is_empty(), "{held}");
    let (_, messages) = emu_control(&emu, Method::GET, "/_emulator/messages", None).await;
    assert!(listed_sids(&messages, "messages").is_empty(), "{messages}");
    let (_, scripted) = emu_control(&emu, Method::GET, "/_emulator/numbers/%2B12025550111", None).await;
    assert_eq!(scripted["answer"], "human", "back to the default script: {scripted}");
    let (status, listed) = emulator_rest(&emu, Method::GET, "Calls.json", &[]).await;
    assert_eq!((status, listed_sids(&listed, "calls")), (200, Vec::<String>::new()), "{listed}");
    let (status, missing) = emulator_rest(&emu, Method::GET, &format!("Calls/{sid}.json"), &[]).await;
    assert_eq!((status, missing["code"].as_i64()), (404, Some(20404)), "{missing}");
    process.kill().await.ok();
}

/// README (emulator control): with `--clock manual` the emulated time stands still until
/// `POST /_emulator/clock/advance {"seconds"}`, which moves it by exactly that and answers the new
/// `now`; what waits on that time — a call ringing 30 s before its number is busy, the creation
/// time of the next call — moves with it, and only with it.
#[tokio::test]
async fn a_manual_clock_moves_time_and_calls_only_when_advanced() {
    use reqwest::Method;
    let (mut process, emu) = emulator_clocked(AUTH_TOKEN, NOWHERE, "manual").await;
    let now = |answer: &Value| {
        chrono::DateTime::parse_from_rfc3339(answer["now"].as_str().expect("now")).expect("rfc 3339")
    };
    let (status, before) = emu_control(&emu, Method::GET, "/_emulator/clock", None).await;
    assert_eq!(status, 200, "{before}");
    let script = json!({"answer": "busy", "answer_after_secs": 30});
    let (status, _) = emu_control(&emu, Method::PUT, "/_emulator/numbers/%2B12025550111", Some(script)).await;
    assert_eq!(status, 200);
    let first = create_emulated_call(&emu, "+12025550111").await;
    let sid = first["sid"].as_str().expect("sid").to_owned();
    let fetch = format!("Calls/{sid}.json");
    let status_of = |call: Value| call["status"].as_str().unwrap_or_default().to_owned();
    let (emu_ref, fetch_ref) = (emu.as_str(), fetch.as_str());
    crate::helpers::eventually(10, "the call rings", move || async move {
        status_of(emulator_rest(emu_ref, Method::GET, fetch_ref, &[]).await.1) == "ringing"
    })
    .await;
    let (_, still) = emu_control(&emu, Method::GET, "/_emulator/clock", None).await;
    assert_eq!(now(&still), now(&before), "a manual clock stands still");
    let (_, ringing) = emulator_rest(&emu, Method::GET, &fetch, &[]).await;
    assert_eq!(status_of(ringing), "ringing", "its 30 s of ringing have not passed");

    let (status, advanced) =
        emu_control(&emu, Method::POST, "/_emulator/clock/advance", Some(json!({"seconds": 60}))).await;
    assert_eq!(status, 200, "{advanced}");
    assert_eq!(now(&advanced) - now(&before), chrono::Duration::seconds(60), "{advanced}");
    let (_, read) = emu_control(&emu, Method::GET, "/_emulator/clock", None).await;
    assert_eq!(now(&read), now(&advanced));
    crate::helpers::eventually(10, "the call is busy once its ringing is over", move || async move {
        status_of(emulator_rest(emu_ref, Method::GET, fetch_ref, &[]).await.1) == "busy"
    })
    .await;
    let second = create_emulated_call(&emu, "+12025550112").await;
    let created = |call: &Value| {
        chrono::DateTime::parse_from_rfc2822(call["date_created"].as_str().expect("date_created"))
            .expect("rfc 2822")
    };
    assert_eq!(created(&second) - created(&first), chrono::Duration::seconds(60));
    process.kill().await.ok();
}
