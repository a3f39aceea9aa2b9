//! Crisis approvals end to end: the API, the fake Twilio, signed voice/gather webhooks, the
//! outbox and expiry workers driven with run_once() and a frozen clock.

use crate::fake_twilio::{FakeTwilio, Mode};
use crate::fixture::{PUBLIC, World, deliver, post_signed};
use crate::helpers::{ACCOUNT_SID, TestApp};
use crate::xml::parse;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

const OFFICER_1: &str = "+12025550111";
const OFFICER_2: &str = "+12025550112";

type S = World;

/// The city's duty officers, its number and an admin key.
async fn setup(pool: PgPool) -> S {
    let body = json!({"slug": "city", "name": "City Safety", "timezone": "UTC", "duty_officers": [OFFICER_1, OFFICER_2]});
    World::builder(pool).tenant_body(body).numbers(&["+12025550100"]).keys(&["admin"]).start().await
}

async fn post_crisis(s: &S, kind: &str, risk: f64) -> Value {
    let body = json!({"type": kind, "description": "smoke seen", "location": "5th and Main", "risk_score": risk,
        "decision": {"units": [format!("{kind}-unit")]}});
    let response = s.app.post_json("/api/crises", s.admin(), body).await;
    assert_eq!(response.status(), 201);
    response.json().await.expect("json")
}

/// The path and query of the n-th officer call's TwiML URL.
fn officer_url(fake: &FakeTwilio, n: usize) -> (String, String) {
    let (_, fields) = &fake.creates()[n];
    let url = fields["Url"][0].strip_prefix(PUBLIC).expect("absolute").to_owned();
    (url, fields["To"][0].clone())
}

async fn twiml(app: &TestApp, path: &str, call_sid: &str, digits: Option<&str>) -> String {
    let mut params = vec![
        ("CallSid", call_sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", "+12025550100"),
        ("To", OFFICER_1),
        ("CallStatus", "in-progress"),
        ("Direction", "outbound-api"),
    ];
    if let Some(d) = digits {
        params.push(("Digits", d));
    }
    let response = post_signed(app, path, &params).await;
    assert_eq!(response.status(), 200);
    response.text().await.expect("body")
}

fn gather_path(voice_path: &str) -> String {
    voice_path.replace("/voice?", "/gather?")
}

const CALL_A: &str = "CA0000000000000000000000000000000a";
const CALL_B: &str = "CA0000000000000000000000000000000b";

async fn crisis(s: &S, id: &str) -> Value {
    s.app.get_auth(&format!("/api/crises/{id}"), s.admin()).await.json().await.expect("json")
}

const APPROVED: &str = "Dispatch approved. Goodbye.";
const ALREADY_DISPATCHED: &str = "This crisis has already been approved and dispatched.";

/// What the officer hears: the text of the answer's `<Say>` verbs.
fn said(twiml: &str) -> String {
    let response = parse(twiml);
    response
        .children
        .iter()
        .filter(|c| c.name == "Say")
        .map(|c| c.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The status and JSON body of an API answer.
async fn answer(response: reqwest::Response) -> (u16, Value) {
    (response.status().as_u16(), response.json().await.expect("json"))
}

/// An approval by the API raced one by phone: exactly one decided, the other was told so (200 and
/// "already approved" to the officer, or 409 `invalid_transition` and "Dispatch approved").
async fn exactly_one_decided(api: reqwest::Response, phone: &str) {
    let (status, body) = answer(api).await;
    let phone = said(phone);
    if status == 200 {
        assert_eq!((body["status"].as_str(), phone.as_str()), (Some("dispatched"), ALREADY_DISPATCHED));
    } else {
        let code = body["code"].as_str();
        assert_eq!((status, code, phone.as_str()), (409, Some("invalid_transition"), APPROVED));
    }
}

/// How many `APPROVAL_EXECUTED` audit events the crisis has.
async fn executed(s: &S, id: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM audit_event WHERE action = 'APPROVAL_EXECUTED' AND entity_id = $1",
    )
    .bind(id)
    .fetch_one(&s.app.state.db)
    .await
    .expect("count")
}

async fn dispatches(app: &TestApp) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT payload FROM outbox_message WHERE destination = 'dispatch' ORDER BY created_at",
    )
    .fetch_all(&app.state.db)
    .await
    .expect("dispatches")
}

#[sqlx::test]
async fn one_crisis_is_approved_by_phone_and_dispatched(pool: PgPool) {
    let s = setup(pool).await;
    let created = post_crisis(&s, "fire", 4.5).await;
    assert_eq!(created["status"], "pending_approval");
    assert_eq!(created["approval_deadline"], "2026-11-23T15:15:00Z");
    let id = created["id"].as_str().expect("id").to_owned();
    deliver(&s.app).await;
    let (voice, to) = officer_url(&s.fake, 0);
    assert_eq!(to, OFFICER_1);
    assert!(voice.starts_with(&format!("/webhooks/twilio/crises/{id}/voice?attempt=")), "{voice}");
    let prompt = twiml(&s.app, &voice, CALL_A, None).await;
    assert!(
        prompt.contains("<Gather")
            && prompt.contains("numDigits=\"1\"")
            && prompt.contains("Press 6 to approve"),
        "{prompt}"
    );
    assert!(prompt.contains(&format!("{PUBLIC}{}", gather_path(&voice)).replace('&', "&amp;")), "{prompt}");
    let answer = twiml(&s.app, &gather_path(&voice), CALL_A, Some("6")).await;
    assert!(answer.contains("Dispatch approved"), "{answer}");
    let detail = crisis(&s, &id).await;
    assert_eq!(detail["status"], "dispatched");
    assert_eq!(detail["decided_by"], format!("phone:{CALL_A}"), "who decided: the officer's call");
    assert_eq!(detail["approval_calls"][0]["call_sid"], CALL_A);
    let actions: Vec<&str> =
        detail["audit"].as_array().expect("audit").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["CRISIS_RECEIVED", "APPROVAL_REQUESTED", "APPROVAL_EXECUTED", "UNIT_DISPATCHED"]);
    let executed = &detail["audit"][2]["data"];
    assert_eq!((executed["digit"].as_str(), executed["officer"].as_str()), (Some("6"), Some("+1******0111")));
    let tenant: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM tenant").fetch_one(&s.app.state.db).await.expect("tenant");
    let chain = switchboard::audit::chain::audit_events_after(&s.app.state.db, tenant, 0, 1000)
        .await
        .expect("events");
    assert!(switchboard::audit::chain::verify(&chain).is_ok());
    let sent = dispatches(&s.app).await;
    assert_eq!(sent.len(), 1);
    let mut fields: Vec<&str> = sent[0].as_object().expect("object").keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(fields, ["crisis_id", "decision", "description", "location", "risk_score", "type"]);
    assert_eq!(
        sent[0],
        json!({"crisis_id": id, "type": "fire", "location": "5th and Main", "risk_score": 4.5,
            "description": "smoke seen", "decision": {"units": ["fire-unit"]}})
    );
}

#[sqlx::test]
async fn concurrent_crises_never_mix(pool: PgPool) {
    let s = setup(pool).await;
    let (a, b) = tokio::join!(post_crisis(&s, "fire", 4.5), post_crisis(&s, "flood", 4.2));
    deliver(&s.app).await;
    s.clock.advance(chrono::Duration::seconds(1));
    deliver(&s.app).await;
    let urls = [officer_url(&s.fake, 0).0, officer_url(&s.fake, 1).0];
    assert_ne!(urls[0], urls[1]);
    let a_id = a["id"].as_str().expect("id");
    let a_url = urls.iter().find(|u| u.contains(a_id)).expect("A's call").clone();
    twiml(&s.app, &a_url, CALL_A, None).await;
    assert!(twiml(&s.app, &gather_path(&a_url), CALL_A, Some("6")).await.contains("approved"));
    assert_eq!(crisis(&s, a_id).await["status"], "dispatched");
    assert_eq!(crisis(&s, b["id"].as_str().expect("id")).await["status"], "pending_approval");
    let sent = dispatches(&s.app).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0]["crisis_id"].as_str(), &sent[0]["decision"]),
        (Some(a_id), &json!({"units": ["fire-unit"]}))
    );
}

#[sqlx::test]
async fn a_decision_after_the_deadline_is_refused_and_timed_out_once(pool: PgPool) {
    let s = setup(pool).await;
    let id = post_crisis(&s, "fire", 4.5).await["id"].as_str().expect("id").to_owned();
    deliver(&s.app).await;
    let (voice, _) = officer_url(&s.fake, 0);
    twiml(&s.app, &voice, CALL_A, None).await;
    s.clock.advance(chrono::Duration::minutes(16));
    assert!(
        twiml(&s.app, &gather_path(&voice), CALL_A, Some("6"))
            .await
            .contains("This crisis decision has expired.")
    );
    assert!(twiml(&s.app, &gather_path(&voice), CALL_A, Some("6")).await.contains("already been expired"));
    s.app.worker("crisis-expiry").run_once().await.expect("expiry");
    let detail = crisis(&s, &id).await;
    assert_eq!(detail["status"], "expired");
    let timeouts = detail["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .filter(|e| e["action"] == "APPROVAL_TIMEOUT")
        .count();
    assert_eq!(timeouts, 1);
    assert!(dispatches(&s.app).await.is_empty());
}

#[sqlx::test]
async fn the_expiry_worker_expires_and_hangs_up_live_calls(pool: PgPool) {
    let s = setup(pool).await;
    let id = post_crisis(&s, "fire", 4.5).await["id"].as_str().expect("id").to_owned();
    deliver(&s.app).await;
    let (voice, _) = officer_url(&s.fake, 0);
    // The officer's call, as the fake Twilio created it, fetches its TwiML and stays on the line.
    let live = s.fake.existing.lock().expect("lock")[0].1.clone();
    twiml(&s.app, &voice, &live, None).await;
    let worker = s.app.worker("crisis-expiry");
    assert_eq!(worker.run_once().await.expect("round"), 0);
    s.clock.advance(chrono::Duration::minutes(15));
    assert_eq!(worker.run_once().await.expect("round"), 1);
    assert_eq!(crisis(&s, &id).await["status"], "expired");
    let hangups: Vec<Value> =
        sqlx::query_scalar("SELECT payload FROM outbox_message WHERE destination = 'twilio_update'")
            .fetch_all(&s.app.state.db)
            .await
            .expect("hangups");
    assert_eq!(hangups, vec![json!({"sid": live})]);
    assert!(s.fake.updates().is_empty(), "nothing reaches Twilio before the outbox delivers");
    deliver(&s.app).await;
    let completed = [("Status".to_owned(), vec!["completed".to_owned()])].into_iter().collect();
    assert_eq!(s.fake.updates(), vec![(live, completed)], "the hang-up reached Twilio, once");
    let status: String =
        sqlx::query_scalar("SELECT status FROM outbox_message WHERE destination = 'twilio_update'")
            .fetch_one(&s.app.state.db)
            .await
            .expect("status");
    assert_eq!(status, "delivered");
}

#[sqlx::test]
async fn a_hundred_concurrent_crises_keep_a_gapless_verified_audit(
    _o: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = PgPoolOptions::new().max_connections(30).connect_with(connect).await.expect("pool");
    let s = setup(pool).await;
    let posts = (0..100).map(|n| {
        let (app, admin) = (&s.app, s.admin().to_owned());
        async move {
            let body = json!({"type": format!("incident-{n}"), "risk_score": 1.0, "decision": {}});
            app.post_json("/api/crises", &admin, body).await.status().as_u16()
        }
    });
    let statuses = futures::future::join_all(posts).await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let tenant: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM tenant").fetch_one(&s.app.state.db).await.expect("tenant");
    let chain = switchboard::audit::chain::audit_events_after(&s.app.state.db, tenant, 0, 1000)
        .await
        .expect("events");
    assert_eq!(chain.iter().filter(|e| e.action == "CRISIS_RECEIVED").count(), 100);
    assert_eq!(
        chain.iter().filter(|e| e.action == "DISPATCH_SKIPPED").count(),
        100,
        "no units: nothing dispatched"
    );
    assert!(chain.iter().enumerate().all(|(i, e)| e.sequence == i as i64 + 1), "no gap, no duplicate");
    assert!(chain.windows(2).all(|w| w[0].occurred_at < w[1].occurred_at));
    assert_eq!(switchboard::audit::chain::verify(&chain), Ok(200));
    let crises: i64 =
        sqlx::query_scalar("SELECT count(*) FROM crisis").fetch_one(&s.app.state.db).await.expect("count");
    assert_eq!(crises, 100);
}

#[sqlx::test]
async fn racing_decisions_dispatch_once(pool: PgPool) {
    let s = setup(pool).await;
    let first = post_crisis(&s, "fire", 4.5).await["id"].as_str().expect("id").to_owned();
    deliver(&s.app).await;
    let (voice, _) = officer_url(&s.fake, 0);
    twiml(&s.app, &voice, CALL_A, None).await;
    let gather = gather_path(&voice);
    let (one, two) =
        tokio::join!(twiml(&s.app, &gather, CALL_A, Some("6")), twiml(&s.app, &gather, CALL_A, Some("6")));
    let mut heard = [said(&one), said(&two)];
    heard.sort();
    assert_eq!(heard, [APPROVED, ALREADY_DISPATCHED], "one press decides, the other hears it was decided");
    assert_eq!(executed(&s, &first).await, 1);
    assert_eq!(dispatches(&s.app).await.len(), 1);
    assert_eq!(crisis(&s, &first).await["status"], "dispatched");

    let second = post_crisis(&s, "flood", 4.5).await["id"].as_str().expect("id").to_owned();
    s.clock.advance(chrono::Duration::seconds(1));
    deliver(&s.app).await;
    let (voice, _) = officer_url(&s.fake, 1);
    twiml(&s.app, &voice, CALL_B, None).await;
    let (approve, gather) = (format!("/api/crises/{second}/approve"), gather_path(&voice));
    let api = s.app.post_json(&approve, s.admin(), json!({"reason": "confirmed by radio"}));
    let (api, phone) = tokio::join!(api, twiml(&s.app, &gather, CALL_B, Some("6")));
    exactly_one_decided(api, &phone).await;
    assert_eq!(executed(&s, &second).await, 1);
    assert_eq!(dispatches(&s.app).await.len(), 2, "one per crisis");
}

#[sqlx::test]
async fn another_crisis_call_cannot_decide(pool: PgPool) {
    let s = setup(pool).await;
    s.fake.push(Mode::LoseAnswer);
    let a = post_crisis(&s, "fire", 4.5).await["id"].as_str().expect("id").to_owned();
    let b = post_crisis(&s, "flood", 4.5).await["id"].as_str().expect("id").to_owned();
    deliver(&s.app).await;
    s.clock.advance(chrono::Duration::seconds(1));
    deliver(&s.app).await;
    let url_a = [officer_url(&s.fake, 0).0, officer_url(&s.fake, 1).0]
        .into_iter()
        .find(|u| u.contains(&a))
        .expect("A");
    // A's call answered although its create's answer was lost: /voice arrives first and works.
    assert!(twiml(&s.app, &url_a, CALL_A, None).await.contains("<Gather"));
    let token = url_a.split("attempt=").nth(1).expect("token");
    let forged = format!("/webhooks/twilio/crises/{b}/gather?attempt={token}");
    assert!(
        twiml(&s.app, &forged, CALL_A, Some("6"))
            .await
            .contains("No valid crisis is associated with this call.")
    );
    assert!(
        twiml(&s.app, &gather_path(&url_a), CALL_B, Some("6")).await.contains("No valid crisis"),
        "another CallSid"
    );
    assert_eq!(crisis(&s, &b).await["status"], "pending_approval");
    assert_eq!(crisis(&s, &a).await["status"], "pending_approval");
    assert!(dispatches(&s.app).await.is_empty());
}

#[sqlx::test]
async fn an_officer_who_does_not_answer_hands_over_to_the_next(pool: PgPool) {
    let s = setup(pool).await;
    post_crisis(&s, "fire", 4.5).await;
    deliver(&s.app).await;
    officer_call_ends(&s, 0, "no-answer").await;
    s.clock.advance(chrono::Duration::seconds(1));
    deliver(&s.app).await;
    let creates = s.fake.creates();
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[1].1["To"][0], OFFICER_2);
}

#[sqlx::test]
async fn two_instances_never_dispatch_twice(pool: PgPool) {
    let s = setup(pool).await;
    let other = s.twin().await;
    let id = post_crisis(&s, "fire", 4.5).await["id"].as_str().expect("id").to_owned();
    deliver(&s.app).await;
    let (voice, _) = officer_url(&s.fake, 0);
    twiml(&s.app, &voice, CALL_A, None).await;
    let (approve, gather) = (format!("/api/crises/{id}/approve"), gather_path(&voice));
    let api = s.app.post_json(&approve, s.admin(), json!({}));
    let phone = twiml(&other, &gather, CALL_A, Some("6"));
    let (w1, w2) = (s.app.worker("crisis-expiry"), other.worker("crisis-expiry"));
    let (api, phone, e1, e2) = tokio::join!(api, phone, w1.run_once(), w2.run_once());
    assert_eq!((e1.expect("expiry"), e2.expect("expiry")), (0, 0), "nothing is due yet");
    exactly_one_decided(api, &phone).await;
    assert_eq!(executed(&s, &id).await, 1);
    assert_eq!(dispatches(&s.app).await.len(), 1);

    // At the deadline: a late 6 on one instance races both expiry workers.
    let late = post_crisis(&s, "flood", 4.5).await["id"].as_str().expect("id").to_owned();
    s.clock.advance(chrono::Duration::seconds(1));
    deliver(&other).await;
    let (voice, _) = officer_url(&s.fake, 1);
    twiml(&other, &voice, CALL_B, None).await;
    s.clock.advance(chrono::Duration::minutes(15));
    let gather = gather_path(&voice);
    let phone = twiml(&other, &gather, CALL_B, Some("6"));
    let (phone, e1, e2) = tokio::join!(phone, w1.run_once(), w2.run_once());
    let expired_by_workers = e1.expect("expiry") + e2.expect("expiry");
    // Whoever takes the lock first expires it: the late press, or exactly one of the workers.
    match said(&phone).as_str() {
        "This crisis decision has expired." => assert_eq!(expired_by_workers, 0),
        "This crisis has already been expired." => assert_eq!(expired_by_workers, 1),
        other => panic!("a late press heard {other:?}"),
    }
    assert_eq!(executed(&s, &late).await, 0);
    let detail = crisis(&s, &late).await;
    assert_eq!(detail["status"], "expired");
    assert_eq!(
        detail["audit"]
            .as_array()
            .expect("audit")
            .iter()
            .filter(|e| e["action"] == "APPROVAL_TIMEOUT")
            .count(),
        1
    );
    assert_eq!(dispatches(&s.app).await.len(), 1);
}

#[sqlx::test]
async fn invalid_crises_get_422_naming_the_fields(pool: PgPool) {
    let s = setup(pool).await;
    let body = json!({"type": "", "description": "x".repeat(2001), "risk_score": 7.5, "decision": [1]});
    let response = s.app.post_json("/api/crises", s.admin(), body).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.expect("json");
    let fields: Vec<&str> =
        problem["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["type", "description", "risk_score", "decision"]);
}

fn actions(detail: &Value) -> Vec<String> {
    detail["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .filter_map(|e| e["action"].as_str().map(Into::into))
        .collect()
}

/// The officer's n-th call ends with `status` (a signed status callback carrying its token).
async fn officer_call_ends(s: &S, n: usize, status: &str) {
    let (voice, to) = officer_url(&s.fake, n);
    let token = voice.split("attempt=").nth(1).expect("token").to_owned();
    let sid: String = sqlx::query_scalar("SELECT sid FROM twilio_attempt WHERE token = $1")
        .bind(&token)
        .fetch_one(&s.app.state.db)
        .await
        .expect("sid");
    let path = format!("/webhooks/twilio/calls/events?attempt={token}");
    let params = [
        ("CallSid", sid.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("From", "+12025550100"),
        ("To", to.as_str()),
        ("CallStatus", status),
        ("Direction", "outbound-api"),
        ("SequenceNumber", "2"),
    ];
    assert_eq!(post_signed(&s.app, &path, &params).await.status(), 200);
}

#[sqlx::test]
async fn an_officer_pressing_9_rejects_and_nothing_is_dispatched(pool: PgPool) {
    let s = setup(pool).await;
    let id = post_crisis(&s, "fire", 4.5).await["id"].as_str().expect("id").to_owned();
    deliver(&s.app).await;
    let (voice, _) = officer_url(&s.fake, 0);
    twiml(&s.app, &voice, CALL_A, None).await;
    let answer = twiml(&s.app, &gather_path(&voice), CALL_A, Some("9")).await;
    assert!(answer.contains("Dispatch rejected. Goodbye."), "{answer}");
    let detail = crisis(&s, &id).await;
    assert_eq!(detail["status"], "rejected");
    assert_eq!(actions(&detail), ["CRISIS_RECEIVED", "APPROVAL_REQUESTED", "APPROVAL_REJECTED"]);
    assert!(dispatches(&s.app).await.is_empty());
    let late = s.app.post_json(&format!("/api/crises/{id}/approve"), s.admin(), json!({})).await;
    assert_eq!(late.status(), 409, "decided by phone: the API cannot decide again");
    let problem: Value = late.json().await.expect("json");
    assert_eq!(problem["code"], "invalid_transition");
}

#[sqlx::test]
async fn an_admin_rejects_through_the_api_once(pool: PgPool) {
    let s = setup(pool).await;
    let id = post_crisis(&s, "fire", 4.5).await["id"].as_str().expect("id").to_owned();
    let reject = format!("/api/crises/{id}/reject");
    let root_monitor = s.app.superadmin().await;
    let monitor = s.app.tenant_key(&root_monitor, "city", "monitor").await;
    assert_eq!(s.app.post_json(&reject, &monitor, json!({"reason": "x"})).await.status(), 403);
    let response = s.app.post_json(&reject, s.admin(), json!({"reason": "false alarm"})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "rejected");
    let again = s.app.post_json(&reject, s.admin(), json!({"reason": "again"})).await;
    assert_eq!(again.status(), 409);
    assert_eq!(again.json::<Value>().await.expect("json")["code"], "invalid_transition");
    let approve = s.app.post_json(&format!("/api/crises/{id}/approve"), s.admin(), json!({})).await;
    assert_eq!(approve.status(), 409);
    let detail = crisis(&s, &id).await;
    let rejected: Vec<&Value> = detail["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .filter(|e| e["action"] == "APPROVAL_REJECTED")
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["data"]["reason"], "false alarm");
    assert!(dispatches(&s.app).await.is_empty());
    // The officer's call was still waiting for its turn: it is no longer wanted.
    deliver(&s.app).await;
    assert!(s.fake.creates().is_empty(), "a decided crisis calls no officer");
}

#[sqlx::test]
async fn an_expired_crisis_refuses_a_decision_by_the_api(pool: PgPool) {
    let s = setup(pool).await;
    let id = post_crisis(&s, "fire", 4.5).await["id"].as_str().expect("id").to_owned();
    s.clock.advance(chrono::Duration::minutes(15));
    assert_eq!(s.app.worker("crisis-expiry").run_once().await.expect("expiry"), 1);
    for verb in ["approve", "reject"] {
        let response = s.app.post_json(&format!("/api/crises/{id}/{verb}"), s.admin(), json!({})).await;
        assert_eq!(response.status(), 409, "{verb}");
        assert_eq!(response.json::<Value>().await.expect("json")["code"], "invalid_transition");
    }
    assert_eq!(crisis(&s, &id).await["status"], "expired");
}

#[sqlx::test]
async fn escalation_is_audited_until_every_officer_was_tried(pool: PgPool) {
    let s = setup(pool).await;
    let id = post_crisis(&s, "fire", 4.5).await["id"].as_str().expect("id").to_owned();
    deliver(&s.app).await;
    officer_call_ends(&s, 0, "no-answer").await;
    s.clock.advance(chrono::Duration::seconds(1));
    deliver(&s.app).await;
    assert_eq!(officer_url(&s.fake, 1).1, OFFICER_2);
    officer_call_ends(&s, 1, "busy").await;
    s.clock.advance(chrono::Duration::seconds(1));
    deliver(&s.app).await;
    assert_eq!(s.fake.creates().len(), 2, "no third officer to call");
    let detail = crisis(&s, &id).await;
    assert_eq!(detail["status"], "pending_approval", "the crisis waits for its deadline or an admin");
    assert_eq!(
        actions(&detail),
        ["CRISIS_RECEIVED", "APPROVAL_REQUESTED", "ESCALATED", "ESCALATION_EXHAUSTED"]
    );
    let escalated = &detail["audit"][2]["data"];
    assert_eq!(
        (escalated["officer"].as_str(), escalated["officer_index"].as_i64()),
        (Some("+1******0112"), Some(1))
    );
    let exhausted = &detail["audit"][3]["data"];
    assert_eq!(exhausted["reason"], "no more duty officers");
    assert_eq!(exhausted["officers_tried"], 2);
}

/// Found by scripts/api-fuzz: a `decision` holding a number near the limits of f64 was stored
/// (PostgreSQL's jsonb writes it out in full digits) and then could not be read back, so creating
/// the crisis answered 500 and every later read of it failed. Numbers now survive the round trip
/// exactly (serde_json's `float_roundtrip`).
#[sqlx::test]
async fn a_decision_with_numbers_at_the_limits_of_f64_reads_back_exactly(pool: PgPool) {
    let s = setup(pool).await;
    let numbers = json!([-1.7976931348623157e308, 1.79e308, 2.225073858507203e-309, -1.0978499541559278e-98]);
    let body = json!({"type": "fire", "risk_score": 1.0, "decision": {"units": ["engine-7"], "n": numbers}});
    let response = s.app.post_json("/api/crises", s.admin(), body).await;
    let (status, created) = answer(response).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["decision"]["n"], numbers);
    let id = created["id"].as_str().expect("id");
    let (status, read) = answer(s.app.get_auth(&format!("/api/crises/{id}"), s.admin()).await).await;
    assert_eq!((status, &read["decision"]["n"]), (200, &numbers), "{read}");
    let (status, page) = answer(s.app.get_auth("/api/crises", s.admin()).await).await;
    assert_eq!((status, &page["items"][0]["decision"]["n"]), (200, &numbers), "{page}");
}

#[sqlx::test]
async fn a_key_press_while_the_database_is_away_is_apologised_for_and_decides_nothing(
    _o: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let (pool, proxy) = crate::outage::proxied(&connect, 4).await;
    let s = setup(pool).await;
    let id = post_crisis(&s, "fire", 4.5).await["id"].as_str().expect("id").to_owned();
    deliver(&s.app).await;
    let (voice, _) = officer_url(&s.fake, 0);
    twiml(&s.app, &voice, CALL_A, None).await;
    proxy.cut();
    // Whether 6 approves is the database's to decide: without it the officer hears an apology.
    let answer = twiml(&s.app, &gather_path(&voice), CALL_A, Some("6")).await;
    assert!(said(&answer).contains("We are sorry"), "{answer}");
    assert!(!answer.contains("approved"), "{answer}");
    proxy.restore();
    crate::outage::reconnected(&s.app.state.db).await;
    assert_eq!(crisis(&s, &id).await["status"], "pending_approval", "nothing was decided");
    assert_eq!(executed(&s, &id).await, 0);
    // Twilio's retry of the same key press is decided now: nothing of the first was kept.
    let retried = twiml(&s.app, &gather_path(&voice), CALL_A, Some("6")).await;
    assert_eq!(said(&retried), APPROVED);
    assert_eq!(executed(&s, &id).await, 1);
}

#[sqlx::test]
async fn a_crisis_below_the_threshold_with_units_is_dispatched_at_once_calling_no_officer(pool: PgPool) {
    let s = setup(pool).await;
    // The tenant's default threshold is 4.0: 3.9 is below it.
    let created = post_crisis(&s, "fire", 3.9).await;
    assert_eq!(created["status"], "dispatched", "{created}");
    assert!(created["approval_deadline"].is_null(), "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    deliver(&s.app).await;
    assert!(s.fake.creates().is_empty(), "no officer is called: {:?}", s.fake.creates());
    let sent = dispatches(&s.app).await;
    assert_eq!(
        sent,
        vec![json!({"crisis_id": id, "type": "fire", "location": "5th and Main", "risk_score": 3.9,
            "description": "smoke seen", "decision": {"units": ["fire-unit"]}})]
    );
    let kind: String = sqlx::query_scalar("SELECT kind FROM outbox_message WHERE destination = 'dispatch'")
        .fetch_one(&s.app.state.db)
        .await
        .expect("kind");
    assert_eq!(kind, "crisis.dispatch");
    let detail = crisis(&s, &id).await;
    assert_eq!(detail["status"], "dispatched");
    assert_eq!(actions(&detail), ["CRISIS_RECEIVED", "UNIT_DISPATCHED"]);
    assert!(detail["approval_calls"].as_array().is_none_or(Vec::is_empty), "{detail}");
    assert_eq!(executed(&s, &id).await, 0, "nobody approved it: it was under the threshold");

    // At the threshold it waits for an officer instead.
    let held = post_crisis(&s, "flood", 4.0).await;
    assert_eq!(held["status"], "pending_approval", "{held}");
    s.clock.advance(chrono::Duration::seconds(1));
    deliver(&s.app).await;
    assert_eq!(s.fake.creates().len(), 1);
    assert_eq!(officer_url(&s.fake, 0).1, OFFICER_1);
    assert_eq!(dispatches(&s.app).await.len(), 1, "the held crisis dispatched nothing yet");
}

/// What the officer is asked: the question twice at most (one digit each, for `gather`), then a
/// goodbye and the hang-up.
fn asks_twice_then_hangs_up(twiml: &str, gather: &str) {
    let response = parse(twiml);
    assert!(response.names().ends_with(&["Gather", "Gather", "Say", "Hangup"]), "{twiml}");
    let action = format!("{PUBLIC}{gather}");
    let gathers: Vec<_> = response.children.iter().filter(|c| c.name == "Gather").collect();
    assert_eq!(gathers.len(), 2, "{twiml}");
    for g in gathers {
        assert_eq!((g.attr("action"), g.attr("numDigits")), (Some(action.as_str()), Some("1")), "{twiml}");
        assert!(
            g.children.iter().any(
                |c| c.name == "Say" && c.text.contains("Press 6 to approve dispatch. Press 9 to reject.")
            ),
            "{twiml}"
        );
    }
    let last_say = response.children.iter().rev().find(|c| c.name == "Say").expect("a goodbye");
    assert_eq!(last_say.text, "No input received. Goodbye.");
}

#[sqlx::test]
async fn a_digit_other_than_6_or_9_asks_again_at_most_twice_and_decides_nothing(pool: PgPool) {
    let s = setup(pool).await;
    let id = post_crisis(&s, "fire", 4.5).await["id"].as_str().expect("id").to_owned();
    deliver(&s.app).await;
    let (voice, _) = officer_url(&s.fake, 0);
    let gather = gather_path(&voice);
    let prompt = twiml(&s.app, &voice, CALL_A, None).await;
    asks_twice_then_hangs_up(&prompt, &gather);
    assert_eq!(said(&prompt), "No input received. Goodbye.");
    for wrong in [Some("5"), Some("0"), None] {
        let again = twiml(&s.app, &gather, CALL_A, wrong).await;
        let parsed = parse(&again);
        let first = &parsed.children[0];
        assert_eq!(
            (first.name.as_str(), first.text.as_str()),
            ("Say", "That is not a valid choice."),
            "{again}"
        );
        asks_twice_then_hangs_up(&again, &gather);
        assert_eq!(said(&again), "That is not a valid choice. No input received. Goodbye.", "{wrong:?}");
        assert!(!again.contains("approved") && !again.contains("rejected"), "{again}");
    }
    let detail = crisis(&s, &id).await;
    assert_eq!(detail["status"], "pending_approval");
    assert_eq!(actions(&detail), ["CRISIS_RECEIVED", "APPROVAL_REQUESTED"]);
    assert_eq!(executed(&s, &id).await, 0);
    assert!(dispatches(&s.app).await.is_empty());
    // The wrong keys spent nothing: a 6 still decides.
    assert_eq!(said(&twiml(&s.app, &gather, CALL_A, Some("6")).await), APPROVED);
    assert_eq!(executed(&s, &id).await, 1);
    assert_eq!(crisis(&s, &id).await["status"], "dispatched");
}

/// The ids of a page of crises, sorted.
fn listed_ids(page: &Value) -> Vec<String> {
    let mut ids: Vec<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

#[sqlx::test]
async fn the_list_filters_by_status(pool: PgPool) {
    let s = setup(pool).await;
    // Below the threshold with units: dispatched at once; above it: held for an officer.
    let dispatched = post_crisis(&s, "fire", 3.9).await;
    let pending = post_crisis(&s, "flood", 4.5).await;
    assert_eq!(
        (dispatched["status"].as_str(), pending["status"].as_str()),
        (Some("dispatched"), Some("pending_approval"))
    );
    let dispatched_id = dispatched["id"].as_str().expect("id").to_owned();
    let pending_id = pending["id"].as_str().expect("id").to_owned();
    for (status, expected) in [("pending_approval", &pending_id), ("dispatched", &dispatched_id)] {
        let path = format!("/api/crises?status={status}");
        let (code, page) = answer(s.app.get_auth(&path, s.admin()).await).await;
        assert_eq!(code, 200, "{status}: {page}");
        assert_eq!(listed_ids(&page), vec![expected.clone()], "{status}: {page}");
        assert!(page["items"].as_array().expect("items").iter().all(|c| c["status"] == status), "{page}");
    }
    for status in ["rejected", "expired", "dispatch_skipped"] {
        let path = format!("/api/crises?status={status}");
        let (code, page) = answer(s.app.get_auth(&path, s.admin()).await).await;
        assert_eq!((code, listed_ids(&page)), (200, Vec::<String>::new()), "{status}: {page}");
    }
    let (code, all) = answer(s.app.get_auth("/api/crises", s.admin()).await).await;
    let mut both = vec![dispatched_id, pending_id];
    both.sort();
    assert_eq!((code, listed_ids(&all)), (200, both), "no filter: both");
}

#[sqlx::test]
async fn a_crisis_without_units_below_the_threshold_is_dispatch_skipped_and_dispatches_nothing(pool: PgPool) {
    let s = setup(pool).await;
    let mut ids = Vec::new();
    for decision in [json!({"note": "watch only"}), json!({"units": []})] {
        let body = json!({"type": "fire", "description": "smoke seen", "location": "5th and Main",
            "risk_score": 2.0, "decision": decision.clone()});
        let (status, created) = answer(s.app.post_json("/api/crises", s.admin(), body).await).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["status"], "dispatch_skipped", "{decision}: {created}");
        assert!(created["approval_deadline"].is_null(), "{created}");
        ids.push(created["id"].as_str().expect("id").to_owned());
    }
    deliver(&s.app).await;
    assert!(dispatches(&s.app).await.is_empty(), "no units: nothing dispatched");
    assert!(s.fake.creates().is_empty(), "below the threshold: no officer is called");
    for id in &ids {
        let detail = crisis(&s, id).await;
        assert_eq!(detail["status"], "dispatch_skipped", "{detail}");
        assert_eq!(actions(&detail), ["CRISIS_RECEIVED", "DISPATCH_SKIPPED"]);
        assert_eq!(executed(&s, id).await, 0);
        // Already decided: the API cannot decide it again.
        let late = s.app.post_json(&format!("/api/crises/{id}/approve"), s.admin(), json!({})).await;
        let (status, problem) = answer(late).await;
        assert_eq!((status, problem["code"].as_str()), (409, Some("invalid_transition")), "{problem}");
    }
    let (code, page) = answer(s.app.get_auth("/api/crises?status=dispatch_skipped", s.admin()).await).await;
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!((code, listed_ids(&page)), (200, expected));
    assert!(dispatches(&s.app).await.is_empty());
}
