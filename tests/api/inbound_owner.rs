//! The inbound domain's side of the effects: its owner is registered, so opt-outs are enforced
//! at send time, Twilio's 21610 opts the caller out, and replies' delivery statuses reach the
//! conversation. And an effect whose owning domain this binary does not know is never sent.

use crate::fake_twilio::Mode;
use crate::fixture::{app_on, deliver};
use crate::helpers::ACCOUNT_SID;
use crate::inbound::{ACME_MAIN, CALLER, S, dial_result, post, ring, setup, setup_with, sid, sms, sms_sent};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::Arc;
use switchboard::clock::Clock;
use switchboard::effects::{self, EffectOwner, MessageRequest, Owner, priority};
use switchboard::tenants::TenantId;
use switchboard::worker::Worker;

async fn opted_out(s: &S) -> Vec<String> {
    let admin = s.app.tenant_key(&s.root, "acme", "admin").await;
    let list: Value = s.app.get_auth("/api/opt-outs", &admin).await.json().await.expect("json");
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["number"].as_str().unwrap_or("").into())
        .collect()
}

async fn missed_call(s: &S, n: u32) {
    ring(&s.app, &sid(n), ACME_MAIN).await;
    dial_result(&s.app, &sid(n), ACME_MAIN, "no-answer").await;
}

#[sqlx::test]
async fn a_text_back_refused_with_21610_opts_the_caller_out_for_good(pool: PgPool) {
    let s = setup(pool).await;
    s.fake.push(Mode::Refuse(21610));
    missed_call(&s, 1).await;
    deliver(&s.app).await;
    assert_eq!(s.fake.creates().len(), 1, "the text-back was tried once");
    assert_eq!(opted_out(&s).await, [CALLER], "Twilio's 21610 opted the caller out");

    // A day later the caller misses the business again: nothing is sent to them.
    s.clock.advance(chrono::Duration::hours(25));
    missed_call(&s, 2).await;
    deliver(&s.app).await;
    assert_eq!(s.fake.creates().len(), 1, "an opted-out caller is never texted again");
    let reason: Option<String> =
        sqlx::query_scalar("SELECT missed_reason FROM inbound_call WHERE call_sid = $1")
            .bind(sid(2))
            .fetch_one(&s.app.state.db)
            .await
            .expect("the second call");
    assert_eq!(reason.as_deref(), Some("no-answer"), "the call itself was recorded as missed");
}

#[sqlx::test]
async fn stop_while_the_text_back_waits_for_its_turn_sends_nothing(pool: PgPool) {
    // One message a minute: the first text-back takes the only token, the second waits.
    let s = setup_with(pool, &[("SWITCHBOARD_EFFECTS__MESSAGES_PER_SECOND", "0.0166")]).await;
    let other = "+12025550178";
    let (status, _) = post(
        &s.app,
        "/webhooks/twilio/call",
        &[
            ("CallSid", &sid(9)),
            ("AccountSid", ACCOUNT_SID),
            ("From", other),
            ("To", ACME_MAIN),
            ("CallStatus", "ringing"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let mut params = vec![("CallSid", sid(9)), ("AccountSid", ACCOUNT_SID.into()), ("From", other.into())];
    params.extend([
        ("To", ACME_MAIN.into()),
        ("CallStatus", "in-progress".into()),
        ("DialCallStatus", "busy".into()),
    ]);
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    post(&s.app, &format!("/webhooks/twilio/call/status/{}", sid(9)), &params).await;
    deliver(&s.app).await;
    assert_eq!(sms_sent(&s).await.len(), 1, "the first text-back took the token");

    missed_call(&s, 1).await;
    deliver(&s.app).await;
    assert_eq!(sms_sent(&s).await.len(), 1, "the caller's text-back waits for its turn");
    let waiting: String = sqlx::query_scalar("SELECT state FROM twilio_attempt WHERE request->>'to' = $1")
        .bind(CALLER)
        .fetch_one(&s.app.state.db)
        .await
        .expect("attempt");
    assert_eq!(waiting, "queued");

    assert_eq!(sms(&s.app, "SM00000000000000000000000000000001", CALLER, ACME_MAIN, "STOP").await, 200);
    s.clock.advance(chrono::Duration::minutes(2));
    deliver(&s.app).await;
    let sent = sms_sent(&s).await;
    assert!(sent.iter().all(|(to, _, _)| to != CALLER), "nothing reached the opted-out caller: {sent:?}");
    let state: String = sqlx::query_scalar("SELECT state FROM twilio_attempt WHERE request->>'to' = $1")
        .bind(CALLER)
        .fetch_one(&s.app.state.db)
        .await
        .expect("attempt");
    assert_eq!(state, "cancelled");
}

async fn message_event(s: &S, token: &str, message_sid: &str, status: &str, code: Option<&str>) {
    let mut params =
        vec![("MessageSid", message_sid), ("AccountSid", ACCOUNT_SID), ("MessageStatus", status)];
    if let Some(code) = code {
        params.push(("ErrorCode", code));
    }
    let (answer, body) =
        post(&s.app, &format!("/webhooks/twilio/messages/events?attempt={token}"), &params).await;
    assert_eq!(answer, 200, "{body}");
}

async fn reply(s: &S, admin: &str, conversation: &str, body: &str) -> (String, String) {
    let response = s
        .app
        .post_json(&format!("/api/conversations/{conversation}/messages"), admin, json!({"body": body}))
        .await;
    assert_eq!(response.status(), 201);
    // One message a second: let the pace release this one.
    s.clock.advance(chrono::Duration::seconds(2));
    deliver(&s.app).await;
    sqlx::query_as("SELECT token, sid FROM twilio_attempt WHERE request->>'body' = $1")
        .bind(body)
        .fetch_one(&s.app.state.db)
        .await
        .expect("bound attempt")
}

#[sqlx::test]
async fn a_replys_delivery_status_shows_on_the_conversation(pool: PgPool) {
    let s = setup(pool).await;
    assert_eq!(sms(&s.app, "SM00000000000000000000000000000001", CALLER, ACME_MAIN, "Hello?").await, 200);
    let admin = s.app.tenant_key(&s.root, "acme", "admin").await;
    let list: Value = s.app.get_auth("/api/conversations", &admin).await.json().await.expect("json");
    let id = list["items"][0]["id"].as_str().expect("conversation").to_owned();

    let (token, delivered_sid) = reply(&s, &admin, &id, "On our way").await;
    message_event(&s, &token, &delivered_sid, "sent", None).await;
    message_event(&s, &token, &delivered_sid, "delivered", None).await;
    let (token, failed_sid) = reply(&s, &admin, &id, "Running late").await;
    message_event(&s, &token, &failed_sid, "failed", Some("30003")).await;

    let detail: Value =
        s.app.get_auth(&format!("/api/conversations/{id}"), &admin).await.json().await.expect("json");
    let replies: Vec<(String, String, Value)> = detail["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["direction"] == "outbound")
        .map(|m| {
            (
                m["body"].as_str().unwrap_or("").into(),
                m["status"].as_str().unwrap_or("").into(),
                m["error_code"].clone(),
            )
        })
        .collect();
    assert_eq!(
        replies,
        [
            ("On our way".into(), "delivered".into(), Value::Null),
            ("Running late".into(), "failed".into(), json!(30003))
        ]
    );
}

/// A domain only one replica knows (rolling deploy): it allows everything.
struct Ghost;

#[async_trait::async_trait]
impl EffectOwner for Ghost {}

#[sqlx::test]
async fn an_attempt_of_an_unknown_domain_is_parked_until_a_replica_knows_it(pool: PgPool) {
    let s = setup(pool.clone()).await;
    let tenant: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenant WHERE slug = 'acme'")
        .fetch_one(&s.app.state.db)
        .await
        .expect("tenant");
    let mut tx = s.app.state.db.begin().await.expect("tx");
    let owner = Owner {
        domain: "ghost",
        id: "g-1".into(),
        idempotency_key: "ghost-1".into(),
        priority: priority::NORMAL,
    };
    let message =
        MessageRequest { to: CALLER.into(), from: ACME_MAIN.into(), body: "boo".into(), media: vec![] };
    effects::request_message(&mut tx, TenantId(tenant), s.clock.now(), owner, &message)
        .await
        .expect("request");
    tx.commit().await.expect("commit");

    deliver(&s.app).await;
    assert!(s.fake.creates().is_empty(), "never sent by a replica that does not know the domain");
    let parked: (String, Option<String>) =
        sqlx::query_as("SELECT status, last_error FROM outbox_message WHERE owner_domain = 'ghost'")
            .fetch_one(&s.app.state.db)
            .await
            .expect("message");
    assert_eq!(parked, ("parked".into(), Some("unknown_owner_domain".into())));
    deliver(&s.app).await;
    assert!(s.fake.creates().is_empty(), "still parked on this replica");

    // A newer replica that knows the domain releases and sends it.
    let ghost = vec![crate::helpers::owner_domain("ghost", Arc::new(Ghost))];
    let newer = app_on(pool, &s.base(), s.clock.clone(), &[], ghost).await;
    newer.outbox().run_once().await.expect("housekeeping releases it");
    s.clock.advance(chrono::Duration::seconds(2));
    newer.outbox().run_once().await.expect("delivers it");
    assert_eq!(sms_sent(&s).await, [(CALLER.to_string(), ACME_MAIN.to_string(), "boo".to_string())]);
}
