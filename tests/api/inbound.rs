//! Inbound calls and SMS end to end: signed webhooks, the fake Twilio, a fake call service.

use crate::fixture::{PUBLIC, World, deliver, post_signed};
use crate::helpers::{ACCOUNT_SID, TestApp};
use crate::receiver::{Receiver, secret_setting, signature_is_valid};
use crate::xml::{Node, parse};
use serde_json::{Value, json};
use sqlx::PgPool;

pub const ACME_MAIN: &str = "+12025550101";
const ACME_SECOND: &str = "+12025550102";
pub const ACME_OWNER: &str = "+12025550150";
const BRAVO_MAIN: &str = "+13125550101";
const BRAVO_OWNER: &str = "+13125550150";
pub const CALLER: &str = "+12025550177";

/// The world with Acme (open Monday and Tuesday 9 to 5 in New York, two numbers) and Bravo
/// (Chicago, one number), both with an owner to forward to, and the call service at a receiver.
pub struct S {
    world: World,
    pub calls: Receiver,
}

impl std::ops::Deref for S {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

pub async fn setup_with(pool: PgPool, extra: &[(&str, &str)]) -> S {
    let (calls, url) = Receiver::start().await;
    let secret = secret_setting();
    let vars =
        [("SWITCHBOARD_CALL_SERVICE_URL", url.as_str()), ("SWITCHBOARD_WEBHOOK_SECRET", secret.as_str())];
    // Monday 2026-11-23 15:00 UTC = 10:00 in New York
    let acme = json!({"slug": "acme", "name": "Acme Plumbing", "timezone": "America/New_York", "owner_number": ACME_OWNER,
        "business_hours": {"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]]}, "holidays": ["2026-12-25"]});
    let world = World::builder(pool)
        .vars(&vars)
        .vars(extra)
        .tenant_body(acme)
        .numbers(&[ACME_MAIN, ACME_SECOND])
        .start()
        .await;
    let (app, root) = (&world.app, &world.root);
    let bravo = json!({"slug": "bravo", "name": "Bravo Bakery", "timezone": "America/Chicago", "owner_number": BRAVO_OWNER});
    assert_eq!(app.post_json("/api/tenants", root, bravo).await.status(), 201);
    let response = app.post_json("/api/tenants/bravo/numbers", root, json!({"number": BRAVO_MAIN})).await;
    assert_eq!(response.status(), 201);
    S { world, calls }
}

pub async fn setup(pool: PgPool) -> S {
    setup_with(pool, &[]).await
}

pub fn voice_params<'a>(
    sid: &'a str,
    from: &'a str,
    to: &'a str,
    status: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("CallSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("To", to),
        ("CallStatus", status),
        ("Direction", "inbound"),
    ]
}

pub async fn post(app: &TestApp, path: &str, params: &[(&str, &str)]) -> (u16, String) {
    let response = post_signed(app, path, params).await;
    (response.status().as_u16(), response.text().await.expect("body"))
}

pub async fn ring(app: &TestApp, sid: &str, to: &str) -> Node {
    let (status, body) = post(app, "/webhooks/twilio/call", &voice_params(sid, CALLER, to, "ringing")).await;
    assert_eq!(status, 200, "{body}");
    parse(&body)
}

pub async fn dial_result(app: &TestApp, sid: &str, to: &str, dial_status: &str) -> Node {
    let mut params = voice_params(sid, CALLER, to, "in-progress");
    params.extend([
        ("DialCallStatus", dial_status),
        ("DialCallSid", "CA99999999999999999999999999999999"),
        ("DialCallDuration", "0"),
    ]);
    let (status, body) = post(app, &format!("/webhooks/twilio/call/status/{sid}"), &params).await;
    assert_eq!(status, 200, "{body}");
    parse(&body)
}

pub fn sid(n: u32) -> String {
    format!("CA{n:032x}")
}

fn dial(sid: &str, owner: &str, timeout: &str) -> Node {
    let action = format!("{PUBLIC}/webhooks/twilio/call/status/{sid}");
    let number = Node::el("Number", &[], owner, vec![]);
    Node::el(
        "Response",
        &[],
        "",
        vec![Node::el(
            "Dial",
            &[("action", &action), ("method", "POST"), ("timeout", timeout)],
            "",
            vec![number],
        )],
    )
}

#[sqlx::test]
async fn ringing_dials_the_owner_of_the_number_called(pool: PgPool) {
    let s = setup(pool).await;
    assert_eq!(ring(&s.app, &sid(1), ACME_MAIN).await, dial(&sid(1), ACME_OWNER, "20"));
    assert_eq!(ring(&s.app, &sid(2), ACME_SECOND).await, dial(&sid(2), ACME_OWNER, "20"));
    assert_eq!(ring(&s.app, &sid(3), BRAVO_MAIN).await, dial(&sid(3), BRAVO_OWNER, "20"));
    let row: (String, bool) =
        sqlx::query_as("SELECT status, after_hours FROM inbound_call WHERE call_sid = $1")
            .bind(sid(1))
            .fetch_one(&s.app.state.db)
            .await
            .expect("row");
    assert_eq!(row, ("ringing".into(), false));
}

#[sqlx::test]
async fn every_other_case_gets_the_right_twiml(pool: PgPool) {
    let s = setup(pool).await;
    let unknown = ring(&s.app, &sid(10), "+19995550100").await;
    assert_eq!(unknown.names(), ["Say", "Hangup"]);
    assert!(unknown.children[0].text.contains("not in service"));

    s.app.patch_json("/api/tenants/bravo", &s.root, json!({"status": "suspended"})).await;
    let suspended = ring(&s.app, &sid(11), BRAVO_MAIN).await;
    assert!(suspended.children[0].text.contains("not in service"));
    s.app.patch_json("/api/tenants/bravo", &s.root, json!({"status": "active", "owner_number": null})).await;
    let no_owner = ring(&s.app, &sid(12), BRAVO_MAIN).await;
    assert_eq!(no_owner.names(), ["Say", "Record", "Say", "Hangup"], "voicemail when no owner is set");

    s.clock.advance(chrono::Duration::hours(9)); // 19:00 in New York: closed
    let closed = ring(&s.app, &sid(13), ACME_MAIN).await;
    assert_eq!(closed.names(), ["Say", "Record", "Say", "Hangup"]);
    let record = &closed.children[1];
    assert_eq!(
        record.attr("action"),
        Some(format!("{PUBLIC}/webhooks/twilio/call/voicemail/{}", sid(13)).as_str())
    );
    s.app.patch_json("/api/tenants/acme", &s.root, json!({"after_hours": "message"})).await;
    assert_eq!(ring(&s.app, &sid(14), ACME_MAIN).await.names(), ["Say", "Hangup"]);
    s.app.patch_json("/api/tenants/acme", &s.root, json!({"after_hours": "forward"})).await;
    assert_eq!(ring(&s.app, &sid(15), ACME_MAIN).await, dial(&sid(15), ACME_OWNER, "20"));

    // Christmas is a Friday: inside the hours it would have, but a holiday.
    s.app
        .patch_json(
            "/api/tenants/acme",
            &s.root,
            json!({"after_hours": "message", "business_hours": {"fri": [["09:00", "17:00"]]}}),
        )
        .await;
    s.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-12-25T15:00:00Z").expect("t").with_timezone(&chrono::Utc),
    );
    assert_eq!(ring(&s.app, &sid(16), ACME_MAIN).await.names(), ["Say", "Hangup"]);
    let after_hours: bool = sqlx::query_scalar("SELECT after_hours FROM inbound_call WHERE call_sid = $1")
        .bind(sid(16))
        .fetch_one(&s.app.state.db)
        .await
        .expect("row");
    assert!(after_hours);
}

#[sqlx::test]
async fn a_kept_ringing_answer_carries_each_calls_sid_and_follows_its_tenants_change(pool: PgPool) {
    let s = setup(pool).await;
    assert_eq!(ring(&s.app, &sid(1), ACME_MAIN).await, dial(&sid(1), ACME_OWNER, "20"));
    assert_eq!(ring(&s.app, &sid(2), ACME_MAIN).await, dial(&sid(2), ACME_OWNER, "20"), "this call's SID");
    let change = json!({"owner_number": "+12025550160", "dial_timeout_secs": 30});
    assert_eq!(s.app.patch_json("/api/tenants/acme", &s.root, change).await.status(), 200);
    assert_eq!(
        ring(&s.app, &sid(3), ACME_MAIN).await,
        dial(&sid(3), "+12025550160", "30"),
        "the new settings"
    );
}

pub async fn sms_sent(s: &S) -> Vec<(String, String, String)> {
    s.fake
        .creates()
        .into_iter()
        .filter(|(kind, _)| kind == "message")
        .map(|(_, f)| (f["To"][0].clone(), f["From"][0].clone(), f["Body"][0].clone()))
        .collect()
}

#[sqlx::test]
async fn a_missed_call_texts_the_caller_back_once(pool: PgPool) {
    let s = setup(pool).await;
    ring(&s.app, &sid(1), ACME_MAIN).await;
    let twiml = dial_result(&s.app, &sid(1), ACME_MAIN, "no-answer").await;
    assert_eq!(twiml.names(), ["Say", "Record", "Say", "Hangup"], "the caller may leave a message");
    let first = sid(1);
    let (a, b) = tokio::join!(
        dial_result(&s.app, &first, ACME_MAIN, "no-answer"),
        dial_result(&s.app, &first, ACME_MAIN, "no-answer")
    );
    assert_eq!(a, b);
    deliver(&s.app).await;
    let expected = "Sorry we missed your call. We will call you back soon. Acme Plumbing";
    assert_eq!(sms_sent(&s).await, vec![(CALLER.into(), ACME_MAIN.into(), expected.into())]);
    // The text opens the caller's conversation: a reply threads under it.
    let admin = s.app.tenant_key(&s.root, "acme", "admin").await;
    let list: Value = s.app.get_auth("/api/conversations", &admin).await.json().await.expect("json");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    let id = list["items"][0]["id"].as_str().expect("conversation").to_owned();
    let detail: Value =
        s.app.get_auth(&format!("/api/conversations/{id}"), &admin).await.json().await.expect("json");
    assert_eq!((&detail["customer"], &detail["business_number"]), (&json!(CALLER), &json!(ACME_MAIN)));
    assert_eq!(detail["messages"][0]["direction"], "outbound");
    assert_eq!(detail["messages"][0]["body"], expected);

    s.clock.advance(chrono::Duration::hours(2));
    ring(&s.app, &sid(2), ACME_SECOND).await;
    dial_result(&s.app, &sid(2), ACME_SECOND, "busy").await;
    s.clock.advance(chrono::Duration::seconds(2));
    deliver(&s.app).await;
    assert_eq!(sms_sent(&s).await.len(), 1, "one text-back per caller per window");
    let missed: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT outcome, missed_reason FROM inbound_call ORDER BY started_at")
            .fetch_all(&s.app.state.db)
            .await
            .expect("rows")
            .into_iter()
            .map(|(o, r): (Option<String>, Option<String>)| (o.unwrap_or_default(), r))
            .collect();
    assert_eq!(
        missed,
        vec![("missed".into(), Some("no-answer".into())), ("missed".into(), Some("busy".into()))]
    );

    s.clock.advance(chrono::Duration::hours(23));
    ring(&s.app, &sid(3), ACME_MAIN).await;
    dial_result(&s.app, &sid(3), ACME_MAIN, "no-answer").await;
    deliver(&s.app).await;
    assert_eq!(sms_sent(&s).await.len(), 2, "the window slides from the last text-back");
}

#[sqlx::test]
async fn an_opted_out_or_anonymous_caller_gets_no_text(pool: PgPool) {
    let s = setup(pool).await;
    sms(&s.app, "SM00000000000000000000000000000001", CALLER, ACME_MAIN, "STOP").await;
    ring(&s.app, &sid(1), ACME_MAIN).await;
    dial_result(&s.app, &sid(1), ACME_MAIN, "no-answer").await;
    let (status, _) =
        post(&s.app, "/webhooks/twilio/call", &voice_params(&sid(2), "anonymous", ACME_MAIN, "ringing"))
            .await;
    assert_eq!(status, 200);
    let second = sid(2);
    let mut params = voice_params(&second, "anonymous", ACME_MAIN, "in-progress");
    params.push(("DialCallStatus", "no-answer"));
    let (status, body) = post(&s.app, &format!("/webhooks/twilio/call/status/{}", sid(2)), &params).await;
    assert_eq!(status, 200, "{body}");
    // Both calls were taken and recorded as missed: only the text-back is withheld.
    let missed: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT call_sid, from_address, outcome, missed_reason FROM inbound_call ORDER BY call_sid",
    )
    .fetch_all(&s.app.state.db)
    .await
    .expect("rows");
    let recorded =
        |sid: String, from: &str| (sid, from.to_owned(), Some("missed".into()), Some("no-answer".into()));
    assert_eq!(missed, vec![recorded(sid(1), CALLER), recorded(sid(2), "anonymous")]);
    deliver(&s.app).await;
    assert!(sms_sent(&s).await.is_empty());
    let text_backs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox_message WHERE destination = 'twilio'")
            .fetch_one(&s.app.state.db)
            .await
            .expect("count");
    assert_eq!(text_backs, 0, "no text-back was even queued");
    // The control: another caller, missed the same way, is texted back.
    let (third, other) = (sid(3), "+12025550178");
    post(&s.app, "/webhooks/twilio/call", &voice_params(&third, other, ACME_MAIN, "ringing")).await;
    let mut params = voice_params(&third, other, ACME_MAIN, "in-progress");
    params.push(("DialCallStatus", "no-answer"));
    post(&s.app, &format!("/webhooks/twilio/call/status/{third}"), &params).await;
    deliver(&s.app).await;
    let sent: Vec<String> = sms_sent(&s).await.into_iter().map(|(to, ..)| to).collect();
    assert_eq!(sent, [other]);
}

#[sqlx::test]
async fn a_caller_without_a_phone_number_gets_no_text(pool: PgPool) {
    let s = setup(pool).await;
    let callers = ["client:alice", "sip:alice@pbx.example.com", "72345", "+1"];
    for (n, from) in (1..).zip(callers) {
        let call = sid(n);
        let (status, body) =
            post(&s.app, "/webhooks/twilio/call", &voice_params(&call, from, ACME_MAIN, "ringing")).await;
        assert_eq!(status, 200, "{body}");
        let mut params = voice_params(&call, from, ACME_MAIN, "in-progress");
        params.push(("DialCallStatus", "no-answer"));
        let (status, body) = post(&s.app, &format!("/webhooks/twilio/call/status/{call}"), &params).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("<Record"), "the caller may still leave a message: {body}");
    }
    let missed: Vec<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT outcome, missed_reason FROM inbound_call")
            .fetch_all(&s.app.state.db)
            .await
            .expect("rows");
    assert_eq!(missed, vec![(Some("missed".into()), Some("no-answer".into())); 4], "each is a missed call");
    // The control: a caller with a number is texted back.
    ring(&s.app, &sid(9), ACME_MAIN).await;
    dial_result(&s.app, &sid(9), ACME_MAIN, "no-answer").await;
    deliver(&s.app).await;
    let sent = sms_sent(&s).await;
    assert_eq!(sent.iter().map(|(to, ..)| to.as_str()).collect::<Vec<_>>(), [CALLER], "only the real number");
    let conversations: i64 = sqlx::query_scalar("SELECT count(*) FROM conversation")
        .fetch_one(&s.app.state.db)
        .await
        .expect("count");
    assert_eq!(conversations, 1, "none opened for the others");
}

#[sqlx::test]
async fn a_screened_call_answered_by_voicemail_counts_as_missed(pool: PgPool) {
    let s = setup(pool).await;
    s.app.patch_json("/api/tenants/acme", &s.root, json!({"screen_forwarded_calls": true})).await;
    let twiml = ring(&s.app, &sid(1), ACME_MAIN).await;
    let number = &twiml.children[0].children[0];
    assert_eq!(number.attr("url"), Some(format!("{PUBLIC}/webhooks/twilio/call/screen/{}", sid(1)).as_str()));
    let (_, whisper) = post(
        &s.app,
        &format!("/webhooks/twilio/call/screen/{}", sid(1)),
        &voice_params(&sid(50), ACME_MAIN, ACME_OWNER, "in-progress"),
    )
    .await;
    assert_eq!(parse(&whisper).names(), ["Gather", "Hangup"]);
    // The owner's carrier voicemail picks up, never presses 1, and the leg completes.
    dial_result(&s.app, &sid(1), ACME_MAIN, "completed").await;
    deliver(&s.app).await;
    assert_eq!(sms_sent(&s).await.len(), 1);
    let reason: Option<String> = sqlx::query_scalar("SELECT missed_reason FROM inbound_call")
        .fetch_one(&s.app.state.db)
        .await
        .expect("row");
    assert_eq!(reason.as_deref(), Some("not_accepted"));

    // A person presses 1: answered, no text.
    ring(&s.app, &sid(2), ACME_SECOND).await;
    let leg = sid(51);
    let mut press = voice_params(&leg, ACME_SECOND, ACME_OWNER, "in-progress");
    press.push(("Digits", "1"));
    let (_, accepted) =
        post(&s.app, &format!("/webhooks/twilio/call/screen/{}/accept", sid(2)), &press).await;
    assert!(parse(&accepted).children.is_empty(), "an empty answer connects the call");
    dial_result(&s.app, &sid(2), ACME_SECOND, "completed").await;
    let outcome: Option<String> = sqlx::query_scalar("SELECT outcome FROM inbound_call WHERE call_sid = $1")
        .bind(sid(2))
        .fetch_one(&s.app.state.db)
        .await
        .expect("row");
    assert_eq!(outcome.as_deref(), Some("answered"));
}

pub async fn sms(app: &TestApp, message_sid: &str, from: &str, to: &str, body: &str) -> u16 {
    let params = [
        ("MessageSid", message_sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("To", to),
        ("Body", body),
        ("NumMedia", "0"),
    ];
    post(app, "/webhooks/twilio/sms", &params).await.0
}

#[sqlx::test]
async fn sms_threads_into_a_conversation_and_honours_stop_and_start(pool: PgPool) {
    let s = setup(pool).await;
    assert_eq!(
        sms(&s.app, "SM00000000000000000000000000000001", CALLER, ACME_MAIN, "Is the plumber coming?").await,
        200
    );
    assert_eq!(
        sms(&s.app, "SM00000000000000000000000000000001", CALLER, ACME_MAIN, "Is the plumber coming?").await,
        200
    );
    let admin = s.app.tenant_key(&s.root, "acme", "admin").await;
    let list: Value = s.app.get_auth("/api/conversations", &admin).await.json().await.expect("json");
    let id = list["items"][0]["id"].as_str().expect("conversation").to_owned();
    let detail: Value =
        s.app.get_auth(&format!("/api/conversations/{id}"), &admin).await.json().await.expect("json");
    assert_eq!(detail["customer"], CALLER);
    assert_eq!(detail["messages"].as_array().expect("messages").len(), 1, "a redelivered SMS is stored once");
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM outbox_message ORDER BY kind")
        .fetch_all(&s.app.state.db)
        .await
        .expect("kinds");
    assert_eq!(kinds, ["conversation.message", "message.received"]);

    sms(&s.app, "SM00000000000000000000000000000002", CALLER, ACME_SECOND, "STOP").await;
    let opted: Value = s.app.get_auth("/api/opt-outs", &admin).await.json().await.expect("json");
    assert_eq!(opted["items"][0]["number"], CALLER);
    let reply = s
        .app
        .post_json(&format!("/api/conversations/{id}/messages"), &admin, json!({"body": "Yes, at 3pm"}))
        .await;
    assert_eq!(reply.status(), 409);
    sms(&s.app, "SM00000000000000000000000000000003", CALLER, ACME_SECOND, "start").await;
    let reply = s
        .app
        .post_json(&format!("/api/conversations/{id}/messages"), &admin, json!({"body": "Yes, at 3pm"}))
        .await;
    assert_eq!(reply.status(), 201);
    deliver(&s.app).await;
    let sent = sms_sent(&s).await;
    assert_eq!(
        sent,
        vec![(CALLER.into(), ACME_SECOND.into(), "Yes, at 3pm".into())],
        "from the number last written to"
    );
}

#[sqlx::test]
async fn status_callbacks_never_move_a_call_backwards(pool: PgPool) {
    let s = setup(pool).await;
    ring(&s.app, &sid(1), ACME_MAIN).await;
    let call = sid(1);
    let status = |state: &'static str, seq: &'static str| {
        let mut p = voice_params(&call, CALLER, ACME_MAIN, state)
            .into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect::<Vec<_>>();
        p.push(("SequenceNumber", seq.to_owned()));
        p.push(("CallDuration", "42".to_owned()));
        p
    };
    for (state, seq) in [("in-progress", "1"), ("completed", "3"), ("in-progress", "1"), ("completed", "3")] {
        let params = status(state, seq);
        let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (code, body) = post(&s.app, "/webhooks/twilio/call", &borrowed).await;
        assert_eq!((code, parse(&body).children.len()), (200, 0));
    }
    let row: (String, Option<i32>) = sqlx::query_as("SELECT status, duration_secs FROM inbound_call")
        .fetch_one(&s.app.state.db)
        .await
        .expect("row");
    assert_eq!(row, ("completed".into(), Some(42)));
    let completed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox_message WHERE kind = 'call.completed'")
            .fetch_one(&s.app.state.db)
            .await
            .expect("n");
    assert_eq!(completed, 1);
}

#[sqlx::test]
async fn a_call_incoming_body_is_the_same_whichever_webhook_records_the_call(pool: PgPool) {
    let s = setup(pool).await;
    // A sub-millisecond fraction: both paths give the milliseconds, truncated.
    let now = switchboard::clock::Clock::now(&*s.clock) + chrono::Duration::nanoseconds(123_987_654);
    s.clock.set(now);
    // The ringing webhook's group-commit statement builds the body in SQL; a dial result for a
    // call never heard ringing records it through `notify::call_data` in Rust.
    ring(&s.app, &sid(1), ACME_MAIN).await;
    dial_result(&s.app, &sid(2), ACME_MAIN, "answered").await;

    let bodies: Vec<Value> = sqlx::query_scalar(
        "SELECT payload FROM outbox_message WHERE kind = 'call.incoming' ORDER BY idempotency_key",
    )
    .fetch_all(&s.app.state.db)
    .await
    .expect("bodies");
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert!(at.ends_with(".123Z"), "{at}");
    let body = |sid: String, status: &str| {
        json!({"call_sid": sid, "from": CALLER, "to": ACME_MAIN, "tenant_id": s.tenant.id, "status": status,
            "direction": "inbound", "at": at})
    };
    assert_eq!(bodies, [body(sid(1), "ringing"), body(sid(2), "in-progress")]);
}

#[sqlx::test]
async fn notifications_reach_the_call_service_signed(pool: PgPool) {
    let s = setup(pool).await;
    ring(&s.app, &sid(1), ACME_MAIN).await;
    dial_result(&s.app, &sid(1), ACME_MAIN, "answered").await;
    deliver(&s.app).await;
    let requests = s.calls.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 2);
    let mut kinds = Vec::new();
    for (headers, body) in &requests {
        assert!(signature_is_valid(headers, body));
        let envelope: Value = serde_json::from_slice(body).expect("json");
        kinds.push(envelope["type"].as_str().expect("type").to_owned());
        assert_eq!(envelope["data"]["call_sid"], sid(1));
        assert_eq!(envelope["data"]["direction"], "inbound");
    }
    kinds.sort();
    assert_eq!(kinds, ["call.answered", "call.incoming"]);
}

#[sqlx::test]
async fn with_the_database_down_a_cached_number_still_rings(
    _o: sqlx::postgres::PgPoolOptions,
    connect: sqlx::postgres::PgConnectOptions,
) {
    let (pool, proxy) = crate::outage::proxied(&connect, 4).await;
    let s = setup(pool).await;
    ring(&s.app, &sid(1), ACME_MAIN).await; // caches the routing
    proxy.cut();
    assert_eq!(ring(&s.app, &sid(2), ACME_MAIN).await, dial(&sid(2), ACME_OWNER, "20"));
    let uncached = ring(&s.app, &sid(3), BRAVO_MAIN).await;
    assert!(
        uncached.children[0].text.contains("cannot take your call"),
        "an uncached number gets an apology"
    );
    proxy.restore();
    let worker = s.app.worker("inbound-pending-effects");
    let written = std::sync::atomic::AtomicU64::new(0);
    crate::helpers::eventually(15, "the pending record is written", || async {
        let round = worker.run_once().await;
        written.fetch_add(*round.as_ref().unwrap_or(&0), std::sync::atomic::Ordering::SeqCst);
        round.is_ok()
    })
    .await;
    assert_eq!(written.into_inner(), 1, "exactly the one record that waited was written");
    let found: i64 = sqlx::query_scalar("SELECT count(*) FROM inbound_call WHERE call_sid = $1")
        .bind(sid(2))
        .fetch_one(&s.app.state.db)
        .await
        .expect("row");
    assert_eq!(found, 1);
}

#[sqlx::test]
async fn the_fallback_records_twilios_error_and_apologises(pool: PgPool) {
    let s = setup(pool).await;
    let call = sid(1);
    let mut params = voice_params(&call, CALLER, ACME_MAIN, "in-progress");
    params.extend([("ErrorCode", "11200"), ("ErrorUrl", "https://sb.example.com/webhooks/twilio/call")]);
    let (status, body) = post(&s.app, "/webhooks/twilio/fallback", &params).await;
    assert_eq!(status, 200);
    let twiml = parse(&body);
    assert_eq!(twiml.names(), ["Say", "Hangup"]);
    assert!(twiml.children[0].text.contains("cannot take your call"), "{body}");
    let row: (Option<uuid::Uuid>, String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT tenant_id, call_sid, error_code, error_url FROM call_fallback")
            .fetch_one(&s.app.state.db)
            .await
            .expect("recorded");
    let acme: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenant WHERE slug = 'acme'")
        .fetch_one(&s.app.state.db)
        .await
        .expect("tenant");
    assert_eq!(
        row,
        (Some(acme), call, Some("11200".into()), Some("https://sb.example.com/webhooks/twilio/call".into()))
    );
}

#[sqlx::test]
async fn help_is_recorded_and_answered_by_twilio_not_by_us(pool: PgPool) {
    let s = setup(pool).await;
    let (status, body) = post(
        &s.app,
        "/webhooks/twilio/sms",
        &[
            ("MessageSid", "SM00000000000000000000000000000001"),
            ("AccountSid", ACCOUNT_SID),
            ("From", CALLER),
            ("To", ACME_MAIN),
            ("Body", "help"),
            ("NumMedia", "0"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(parse(&body).children.is_empty(), "no reply of ours: {body}");
    let payload: Value =
        sqlx::query_scalar("SELECT payload FROM outbox_message WHERE kind = 'message.received'")
            .fetch_one(&s.app.state.db)
            .await
            .expect("notification");
    assert_eq!(payload["message"]["keyword"], "HELP");
    let admin = s.app.tenant_key(&s.root, "acme", "admin").await;
    let opted: Value = s.app.get_auth("/api/opt-outs", &admin).await.json().await.expect("json");
    assert_eq!(opted["items"], json!([]), "HELP opts nobody out");
    deliver(&s.app).await;
    assert!(sms_sent(&s).await.is_empty());
}

#[sqlx::test]
async fn an_admin_removes_an_opt_out_and_replies_reach_the_customer_again(pool: PgPool) {
    let s = setup(pool).await;
    sms(&s.app, "SM00000000000000000000000000000001", CALLER, ACME_MAIN, "Hello").await;
    sms(&s.app, "SM00000000000000000000000000000002", CALLER, ACME_MAIN, "STOP").await;
    let admin = s.app.tenant_key(&s.root, "acme", "admin").await;
    let monitor = s.app.tenant_key(&s.root, "acme", "monitor").await;
    let path = format!("/api/opt-outs/{}", CALLER.replace('+', "%2B"));
    assert_eq!(s.app.delete_auth(&path, &monitor).await.status(), 403);
    assert_eq!(s.app.delete_auth(&path, &admin).await.status(), 204);
    assert_eq!(s.app.delete_auth(&path, &admin).await.status(), 404, "nothing left to remove");
    let opted: Value = s.app.get_auth("/api/opt-outs", &admin).await.json().await.expect("json");
    assert_eq!(opted["items"], json!([]));
    let list: Value = s.app.get_auth("/api/conversations", &admin).await.json().await.expect("json");
    let id = list["items"][0]["id"].as_str().expect("conversation").to_owned();
    let reply =
        s.app.post_json(&format!("/api/conversations/{id}/messages"), &admin, json!({"body": "Back"})).await;
    assert_eq!(reply.status(), 201);
    deliver(&s.app).await;
    assert_eq!(sms_sent(&s).await, vec![(CALLER.into(), ACME_MAIN.into(), "Back".into())]);
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    keys
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    names.sort();
    names
}

#[sqlx::test]
async fn every_notification_type_carries_the_fields_the_readme_lists(pool: PgPool) {
    let (bot, bot_url) = Receiver::start().await;
    let s = setup_with(pool, &[("SWITCHBOARD_BOT_URL", bot_url.as_str())]).await;
    let acme: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenant WHERE slug = 'acme'")
        .fetch_one(&s.app.state.db)
        .await
        .expect("tenant");
    // A missed call with a voicemail, then the call ends; one answered call; two messages.
    ring(&s.app, &sid(1), ACME_MAIN).await;
    dial_result(&s.app, &sid(1), ACME_MAIN, "no-answer").await;
    let first = sid(1);
    let mut recorded = voice_params(&first, CALLER, ACME_MAIN, "in-progress");
    let recording_url = "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1";
    recorded.extend([
        ("RecordingSid", "RE0123456789abcdef0123456789abcdef"),
        ("RecordingUrl", recording_url),
        ("RecordingDuration", "17"),
    ]);
    post(&s.app, &format!("/webhooks/twilio/call/voicemail/{}", sid(1)), &recorded).await;
    let mut completed = voice_params(&first, CALLER, ACME_MAIN, "completed");
    completed.extend([("CallDuration", "40"), ("SequenceNumber", "3")]);
    post(&s.app, "/webhooks/twilio/call", &completed).await;
    ring(&s.app, &sid(2), ACME_SECOND).await;
    dial_result(&s.app, &sid(2), ACME_SECOND, "answered").await;
    // Apart in time, so the conversation's order is certain.
    s.clock.advance(chrono::Duration::seconds(1));
    sms(&s.app, "SM00000000000000000000000000000001", CALLER, ACME_MAIN, "Are you open?").await;
    s.clock.advance(chrono::Duration::seconds(1));
    sms(&s.app, "SM00000000000000000000000000000002", CALLER, ACME_MAIN, "Hello?").await;
    // Eleven messages (the text-back too): more than one round's share of a tenant.
    deliver(&s.app).await;
    deliver(&s.app).await;

    let mut seen: std::collections::HashMap<String, Vec<Value>> = Default::default();
    for receiver in [&s.calls, &bot] {
        for (headers, body) in receiver.requests.lock().expect("lock").iter() {
            assert!(signature_is_valid(headers, body));
            let envelope: Value = serde_json::from_slice(body).expect("json");
            assert_eq!(keys(&envelope), sorted(&["id", "type", "created_at", "tenant_id", "data"]));
            assert_eq!(envelope["tenant_id"], acme.to_string());
            let kind = envelope["type"].as_str().expect("type").to_owned();
            seen.entry(kind).or_default().push(envelope["data"].clone());
        }
    }
    let call = ["call_sid", "from", "to", "tenant_id", "status", "direction", "at"];
    let with = |extra: &[&str]| sorted(&[&call[..], extra].concat());
    let incoming = &seen["call.incoming"];
    assert_eq!(incoming.len(), 2);
    assert_eq!(keys(&incoming[0]), sorted(&call));
    assert_eq!(
        (&incoming[0]["from"], &incoming[0]["to"], &incoming[0]["tenant_id"], &incoming[0]["direction"]),
        (&json!(CALLER), &json!(ACME_MAIN), &json!(acme), &json!("inbound"))
    );
    let missed = &seen["call.missed"][0];
    assert_eq!(keys(missed), with(&["reason"]));
    assert_eq!((&missed["call_sid"], &missed["reason"]), (&json!(sid(1)), &json!("no-answer")));
    let answered = &seen["call.answered"][0];
    assert_eq!(keys(answered), with(&["reason"]), "answered carries reason too, null");
    assert_eq!((&answered["call_sid"], &answered["reason"]), (&json!(sid(2)), &Value::Null));
    let voicemail = &seen["call.voicemail"][0];
    assert_eq!(keys(voicemail), with(&["recording_sid", "recording_url", "recording_duration_secs"]));
    assert_eq!(
        (&voicemail["recording_sid"], &voicemail["recording_url"], &voicemail["recording_duration_secs"]),
        (&json!("RE0123456789abcdef0123456789abcdef"), &json!(recording_url), &json!(17))
    );
    let done = &seen["call.completed"][0];
    assert_eq!(keys(done), with(&["duration_secs", "outcome"]));
    assert_eq!((&done["duration_secs"], &done["outcome"]), (&json!(40), &json!("missed")));

    let message_keys = sorted(&["id", "message_sid", "from", "to", "body", "media", "keyword", "at"]);
    let received = &seen["message.received"];
    assert_eq!(received.len(), 2);
    assert_eq!(keys(&received[0]), sorted(&["tenant_id", "conversation_id", "message"]));
    assert_eq!(keys(&received[0]["message"]), message_keys);
    let for_bot = seen["conversation.message"]
        .iter()
        .find(|d| d["message"]["body"] == "Hello?")
        .expect("the second message reached the bot");
    assert_eq!(
        keys(for_bot),
        sorted(&["tenant_id", "conversation_id", "customer", "business_number", "message", "recent"])
    );
    assert_eq!((&for_bot["customer"], &for_bot["business_number"]), (&json!(CALLER), &json!(ACME_MAIN)));
    assert_eq!(keys(&for_bot["message"]), message_keys);
    assert_eq!((&for_bot["message"]["keyword"], &for_bot["message"]["media"]), (&Value::Null, &json!([])));
    let recent: Vec<&Value> =
        for_bot["recent"].as_array().expect("recent").iter().map(|m| &m["body"]).collect();
    let text_back = json!("Sorry we missed your call. We will call you back soon. Acme Plumbing");
    assert_eq!(recent, [&text_back, &json!("Are you open?"), &json!("Hello?")], "the text-back opened it");
}

/// The calls `GET /api/inbound-calls{query}` lists, in its order: (call SID, outcome).
async fn calls_listed(s: &S, key: &str, query: &str) -> Vec<(String, Option<String>)> {
    let response = s.app.get_auth(&format!("/api/inbound-calls{query}"), key).await;
    assert_eq!(response.status(), 200, "{query}");
    let page: Value = response.json().await.expect("json");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| {
            let sid = c["call_sid"].as_str().expect("call_sid").to_owned();
            (sid, c["outcome"].as_str().map(str::to_owned))
        })
        .collect()
}

#[sqlx::test]
async fn inbound_calls_are_listed_newest_first_and_filtered_by_status_and_since(pool: PgPool) {
    let s = setup(pool).await;
    ring(&s.app, &sid(1), ACME_MAIN).await; // 15:00 UTC
    dial_result(&s.app, &sid(1), ACME_MAIN, "completed").await;
    s.clock.advance(chrono::Duration::hours(1));
    ring(&s.app, &sid(2), ACME_MAIN).await; // 16:00 UTC
    dial_result(&s.app, &sid(2), ACME_MAIN, "no-answer").await;
    let admin = s.app.tenant_key(&s.root, "acme", "admin").await;
    let answered = (sid(1), Some("answered".to_owned()));
    let missed = (sid(2), Some("missed".to_owned()));
    assert_eq!(calls_listed(&s, &admin, "").await, vec![missed.clone(), answered.clone()], "newest first");
    assert_eq!(calls_listed(&s, &admin, "?status=missed").await, vec![missed.clone()]);
    assert_eq!(calls_listed(&s, &admin, "?status=answered").await, vec![answered]);
    assert_eq!(calls_listed(&s, &admin, "?since=2026-11-23T15:30:00Z").await, vec![missed]);
    let both = calls_listed(&s, &admin, "?status=answered&since=2026-11-23T15:30:00Z").await;
    assert!(both.is_empty(), "the filters combine: {both:?}");
    let bogus = s.app.get_auth("/api/inbound-calls?status=bogus", &admin).await;
    assert!(bogus.status().is_client_error(), "an unknown status is refused: {}", bogus.status());
}
