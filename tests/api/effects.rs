//! Exactly-once Twilio effects against the fake Twilio, with signed callbacks and a frozen clock.

use crate::fake_twilio::Mode;
use crate::fixture::{PUBLIC, World, app_on, post_signed};
use crate::helpers::{ACCOUNT_SID, TestApp};
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use switchboard::auth::scope::tenant_tx;
use switchboard::clock::Clock;
use switchboard::effects::{
    self, CallChange, CallRequest, EffectOwner, MessageChange, MessageRequest, Owner, priority,
};
use switchboard::tenants::TenantId;
use switchboard::worker::Worker;

const VETOED: &str = "+12025550999";

#[derive(Default)]
struct TestOwner {
    calls: Mutex<Vec<CallChange>>,
    messages: Mutex<Vec<MessageChange>>,
}

#[async_trait::async_trait]
impl EffectOwner for TestOwner {
    async fn on_call_status(
        &self,
        _c: &mut sqlx::PgConnection,
        change: &CallChange,
    ) -> Result<(), sqlx::Error> {
        self.calls.lock().expect("lock").push(change.clone());
        Ok(())
    }
    async fn on_message_status(
        &self,
        _c: &mut sqlx::PgConnection,
        change: &MessageChange,
    ) -> Result<(), sqlx::Error> {
        self.messages.lock().expect("lock").push(change.clone());
        Ok(())
    }
    async fn may_send_message(
        &self,
        _c: &mut sqlx::PgConnection,
        _t: TenantId,
        to: &str,
    ) -> Result<bool, sqlx::Error> {
        Ok(to != VETOED)
    }
}

/// The world with the test owner's domain; its tenant as the library takes it.
struct Setup {
    world: World,
    owner: Arc<TestOwner>,
    tenant: TenantId,
}

impl std::ops::Deref for Setup {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

const NO_RETRIES: [(&str, &str); 1] = [("SWITCHBOARD_TWILIO__MAX_RETRIES", "0")];

/// The domain whose effects the test owner owns.
fn test_domain(owner: &Arc<TestOwner>) -> Arc<dyn switchboard::domain::Domain> {
    crate::helpers::owner_domain("test", owner.clone())
}

async fn setup(pool: PgPool) -> Setup {
    setup_with(pool, &[]).await
}

async fn setup_with(pool: PgPool, extra: &[(&str, &str)]) -> Setup {
    let owner = Arc::new(TestOwner::default());
    let world = World::builder(pool)
        .vars(&NO_RETRIES)
        .vars(extra)
        .domain(test_domain(&owner))
        .tenant("effects")
        .start()
        .await;
    let tenant = world.tenant.tenant_id();
    Setup { world, owner, tenant }
}

fn call(to: &str) -> CallRequest {
    CallRequest {
        to: to.into(),
        from: "+12025550100".into(),
        path: "/webhooks/twilio/crises/c1/voice".into(),
        events: vec!["initiated".into(), "ringing".into(), "answered".into(), "completed".into()],
        timeout_secs: Some(30),
        machine_detection: None,
        record: false,
        prepaid: false,
    }
}

async fn request_call(app: &TestApp, tenant: TenantId, key: &str, to: &str, prio: i16) -> String {
    let mut tx = tenant_tx(&app.state.db, tenant).await.expect("tx");
    let owner = Owner { domain: "test", id: key.into(), idempotency_key: key.into(), priority: prio };
    let token = effects::request_call(&mut tx, tenant, app.state.clock.now(), owner, &call(to))
        .await
        .expect("request")
        .expect("new");
    tx.commit().await.expect("commit");
    token
}

async fn attempt(app: &TestApp, token: &str) -> (String, Option<String>) {
    sqlx::query_as("SELECT state, sid FROM twilio_attempt WHERE token = $1")
        .bind(token)
        .fetch_one(&app.state.db)
        .await
        .expect("attempt")
}

async fn callback(app: &TestApp, token: &str, sid: &str, status: &str, seq: &str) -> u16 {
    let path = format!("/webhooks/twilio/calls/events?attempt={token}");
    let params = [
        ("CallSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", "+12025550100"),
        ("To", "+12025550111"),
        ("CallStatus", status),
        ("Direction", "outbound-api"),
        ("SequenceNumber", seq),
    ];
    post_signed_status(app, &path, &params).await
}

async fn ledger_status(app: &TestApp, sid: &str) -> String {
    sqlx::query_scalar("SELECT status FROM twilio_call WHERE sid = $1")
        .bind(sid)
        .fetch_one(&app.state.db)
        .await
        .expect("ledger")
}

#[sqlx::test]
async fn a_created_call_is_bound_tracked_and_never_regresses(pool: PgPool) {
    let s = setup(pool).await;
    let token = request_call(&s.app, s.tenant, "normal", "+12025550111", priority::URGENT).await;
    s.app.outbox().run_once().await.expect("round");
    let creates = s.fake.creates();
    assert_eq!(creates.len(), 1);
    let fields = &creates[0].1;
    assert_eq!(fields["Url"][0], format!("{PUBLIC}/webhooks/twilio/crises/c1/voice?attempt={token}"));
    assert_eq!(fields["StatusCallback"][0], format!("{PUBLIC}/webhooks/twilio/calls/events?attempt={token}"));
    assert_eq!(fields["StatusCallbackEvent"].len(), 4);
    let (state, sid) = attempt(&s.app, &token).await;
    let sid = sid.expect("bound");
    assert_eq!(state, "created");
    assert_eq!(ledger_status(&s.app, &sid).await, "queued");

    for (status, seq) in
        [("ringing", "1"), ("in-progress", "2"), ("ringing", "1"), ("completed", "3"), ("in-progress", "2")]
    {
        assert_eq!(callback(&s.app, &token, &sid, status, seq).await, 200);
    }
    assert_eq!(ledger_status(&s.app, &sid).await, "completed");
    let seen: Vec<String> =
        s.owner.calls.lock().expect("lock").iter().map(|c| c.status.to_string()).collect();
    assert_eq!(seen, ["ringing", "in-progress", "completed"]);
    s.app.outbox().run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 1);
}

#[sqlx::test]
async fn a_lost_answer_is_never_resent_and_the_callback_binds_it(pool: PgPool) {
    let s = setup(pool).await;
    s.fake.push(Mode::LoseAnswer);
    let token = request_call(&s.app, s.tenant, "lost", "+12025550111", priority::URGENT).await;
    let worker = s.app.outbox();
    worker.run_once().await.expect("round");
    assert_eq!(attempt(&s.app, &token).await.0, "unknown");
    s.clock.advance(chrono::Duration::seconds(30));
    worker.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 1, "no second create while the outcome is unknown");
    let sid = s.fake.existing.lock().expect("lock")[0].1.clone();
    assert_eq!(callback(&s.app, &token, &sid, "initiated", "0").await, 200);
    assert_eq!(attempt(&s.app, &token).await, ("created".into(), Some(sid.clone())));
    s.clock.advance(chrono::Duration::minutes(3));
    worker.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 1);
    let status: String = sqlx::query_scalar("SELECT status FROM outbox_message")
        .fetch_one(&s.app.state.db)
        .await
        .expect("outbox");
    assert_eq!(status, "delivered");
}

#[sqlx::test]
async fn a_500_with_nothing_at_twilio_is_sent_exactly_once_more(pool: PgPool) {
    let s = setup(pool).await;
    s.fake.push(Mode::Fail500);
    let token = request_call(&s.app, s.tenant, "fivehundred", "+12025550111", priority::URGENT).await;
    let worker = s.app.outbox();
    worker.run_once().await.expect("round");
    assert_eq!(attempt(&s.app, &token).await.0, "unknown");
    s.clock.advance(chrono::Duration::seconds(121));
    worker.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 2);
    assert_eq!(attempt(&s.app, &token).await.0, "created");
    s.clock.advance(chrono::Duration::minutes(10));
    worker.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 2);
}

#[sqlx::test]
async fn two_candidates_park_the_attempt_without_a_second_create(pool: PgPool) {
    let s = setup(pool).await;
    s.fake.push(Mode::Fail500);
    let token = request_call(&s.app, s.tenant, "ambiguous", "+12025550111", priority::URGENT).await;
    s.fake.seed("call", "CA00000000000000000000000000000001", "+12025550111", "+12025550100", "");
    s.fake.seed("call", "CA00000000000000000000000000000002", "+12025550111", "+12025550100", "");
    let worker = s.app.outbox();
    worker.run_once().await.expect("round");
    s.clock.advance(chrono::Duration::seconds(121));
    worker.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 1);
    assert_eq!(attempt(&s.app, &token).await.0, "parked");
    let root = s.app.superadmin().await;
    let parked: serde_json::Value = s
        .app
        .get_auth("/api/notifications?status=parked&tenant=effects", &root)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(parked["items"][0]["last_error"], "2 candidate calls at Twilio");
}

#[sqlx::test]
async fn a_worker_killed_after_sending_never_resends(pool: PgPool) {
    let s = setup(pool).await;
    let token = request_call(&s.app, s.tenant, "crash", "+12025550111", priority::URGENT).await;
    // The dead worker: it claimed the message, marked the attempt sending, the create reached
    // Twilio, and the process died before the answer was saved.
    let now = s.clock.now();
    switchboard::outbox::repo::claim(&s.app.state.db, now, chrono::Duration::seconds(60), 10, 10)
        .await
        .expect("claim");
    effects::attempts::mark_sending(&s.app.state.db, &token, now, now + chrono::Duration::minutes(2))
        .await
        .expect("sending");
    s.fake.seed("call", "CA0000000000000000000000000000dead", "+12025550111", "+12025550100", "");
    s.clock.advance(chrono::Duration::seconds(61));
    let worker = s.app.outbox();
    worker.run_once().await.expect("round");
    assert!(s.fake.creates().is_empty(), "after the restart nothing is re-sent");
    assert_eq!(callback(&s.app, &token, "CA0000000000000000000000000000dead", "ringing", "1").await, 200);
    assert_eq!(
        attempt(&s.app, &token).await,
        ("created".into(), Some("CA0000000000000000000000000000dead".into()))
    );
    worker.run_once().await.expect("round");
    assert!(s.fake.creates().is_empty());
}

#[sqlx::test]
async fn two_instances_release_one_call_per_tick_between_them(pool: PgPool) {
    let s = setup(pool).await;
    let other = s.twin().await;
    for n in 0..3 {
        request_call(&s.app, s.tenant, &format!("paced-{n}"), "+12025550111", priority::BULK).await;
    }
    let (a, b) = (s.app.outbox(), other.outbox());
    a.run_once().await.expect("round");
    b.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 1, "one call in the first tick");
    s.clock.advance(chrono::Duration::seconds(1));
    b.run_once().await.expect("round");
    a.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 2, "one more in the next");
}

#[sqlx::test]
async fn an_officer_call_goes_before_a_dialer_batch(pool: PgPool) {
    let s = setup(pool).await;
    for n in 0..50 {
        request_call(&s.app, s.tenant, &format!("bulk-{n}"), "+12025550150", priority::BULK).await;
    }
    request_call(&s.app, s.tenant, "officer", "+12025550111", priority::URGENT).await;
    s.app.outbox().run_once().await.expect("round");
    let creates = s.fake.creates();
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].1["To"][0], "+12025550111");
}

async fn request_message(app: &TestApp, tenant: TenantId, key: &str, to: &str) -> String {
    let mut tx = tenant_tx(&app.state.db, tenant).await.expect("tx");
    let owner =
        Owner { domain: "test", id: key.into(), idempotency_key: key.into(), priority: priority::NORMAL };
    let message = MessageRequest {
        to: to.into(),
        from: "+12025550100".into(),
        body: "Sorry we missed you".into(),
        media: vec![],
    };
    let token = effects::request_message(&mut tx, tenant, app.state.clock.now(), owner, &message)
        .await
        .expect("request")
        .expect("new");
    tx.commit().await.expect("commit");
    token
}

#[sqlx::test]
async fn twilio_receives_every_field_an_effect_asks_for(pool: PgPool) {
    let s = setup(pool).await;
    let mut tx = tenant_tx(&s.app.state.db, s.tenant).await.expect("tx");
    let now = s.app.state.clock.now();
    let owner = |key: &str| Owner {
        domain: "test",
        id: key.into(),
        idempotency_key: key.into(),
        priority: priority::NORMAL,
    };
    let recorded = CallRequest {
        timeout_secs: Some(25),
        machine_detection: Some("Enable".into()),
        record: true,
        ..call("+12025550111")
    };
    let call_token = effects::request_call(&mut tx, s.tenant, now, owner("call"), &recorded)
        .await
        .expect("call")
        .expect("new");
    let picture = MessageRequest {
        to: "+12025550122".into(),
        from: "+12025550100".into(),
        body: "Your photo".into(),
        media: vec!["https://media.example.com/a.jpg".into(), "https://media.example.com/b.jpg".into()],
    };
    let message_token = effects::request_message(&mut tx, s.tenant, now, owner("message"), &picture)
        .await
        .expect("message")
        .expect("new");
    tx.commit().await.expect("commit");
    s.app.outbox().run_once().await.expect("round");

    let creates = s.fake.creates();
    let sent = |to: &str| creates.iter().find(|(_, f)| f["To"][0] == to).expect("created").1.clone();
    let call = sent("+12025550111");
    assert_eq!(call["Timeout"], ["25"]);
    assert_eq!(call["Record"], ["true"]);
    assert_eq!(call["MachineDetection"], ["Enable"]);
    assert_eq!(
        call["StatusCallback"],
        [format!("{PUBLIC}/webhooks/twilio/calls/events?attempt={call_token}")]
    );
    let message = sent("+12025550122");
    assert_eq!(message["From"], ["+12025550100"]);
    assert_eq!(message["Body"], ["Your photo"]);
    assert_eq!(message["MediaUrl"], ["https://media.example.com/a.jpg", "https://media.example.com/b.jpg"]);
    assert_eq!(
        message["StatusCallback"],
        [format!("{PUBLIC}/webhooks/twilio/messages/events?attempt={message_token}")]
    );
}

#[sqlx::test]
async fn connection_overrides_reach_twilio_and_the_callbacks_still_bind(pool: PgPool) {
    let overrides = [("SWITCHBOARD_TWILIO__CALLBACK_CONNECTION_OVERRIDES", "rc=3&rp=ct,rt")];
    let s = setup_with(pool, &overrides).await;
    let token = request_call(&s.app, s.tenant, "overridden", "+12025550111", priority::NORMAL).await;
    s.app.outbox().run_once().await.expect("round");
    let creates = s.fake.creates();
    let fields = &creates[0].1;
    assert_eq!(
        fields["Url"],
        [format!("{PUBLIC}/webhooks/twilio/crises/c1/voice?attempt={token}#rc=3&rp=ct,rt")]
    );
    assert_eq!(
        fields["StatusCallback"],
        [format!("{PUBLIC}/webhooks/twilio/calls/events?attempt={token}#rc=3&rp=ct,rt")]
    );
    // A URL's fragment never travels in an HTTP request: Twilio calls back (and signs) without it.
    let (state, sid) = attempt(&s.app, &token).await;
    assert_eq!(state, "created");
    let sid = sid.expect("bound");
    assert_eq!(callback(&s.app, &token, &sid, "completed", "3").await, 200);
    assert_eq!(ledger_status(&s.app, &sid).await, "completed");
}

#[sqlx::test]
async fn a_vetoed_message_is_never_sent_and_21610_reaches_its_owner(pool: PgPool) {
    let s = setup(pool).await;
    let vetoed = request_message(&s.app, s.tenant, "veto", VETOED).await;
    s.fake.refuse_to.lock().expect("lock").insert("+12025550177".into(), 21610);
    request_message(&s.app, s.tenant, "optedout", "+12025550177").await;
    let worker = s.app.outbox();
    worker.run_once().await.expect("round");
    s.clock.advance(chrono::Duration::seconds(5));
    worker.run_once().await.expect("round");
    let creates = s.fake.creates();
    assert!(creates.iter().all(|(_, f)| f["To"][0] != VETOED), "the vetoed recipient got nothing");
    assert_eq!(attempt(&s.app, &vetoed).await.0, "cancelled");
    let messages = s.owner.messages.lock().expect("lock").clone();
    assert_eq!(messages.len(), 1);
    assert_eq!((messages[0].error_code, messages[0].to.as_deref()), (Some(21610), Some("+12025550177")));
}

#[sqlx::test]
async fn a_429_slows_the_bucket_down(pool: PgPool) {
    let s = setup(pool).await;
    s.fake.push(Mode::RateLimited);
    let token = request_call(&s.app, s.tenant, "limited", "+12025550111", priority::URGENT).await;
    let worker = s.app.outbox();
    worker.run_once().await.expect("round");
    assert_eq!(attempt(&s.app, &token).await.0, "queued", "a 429 was not processed: safe to send again");
    s.clock.advance(chrono::Duration::seconds(2));
    worker.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 1, "still paused two seconds later");
    s.clock.advance(chrono::Duration::seconds(5));
    worker.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 2);
    assert_eq!(attempt(&s.app, &token).await.0, "created");
}

#[sqlx::test]
async fn a_refused_connection_is_unreachable_and_leaves_the_pace_alone(pool: PgPool) {
    let s = setup(pool.clone()).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let down =
        app_on(pool, &format!("http://{closed}"), s.clock.clone(), &NO_RETRIES, vec![test_domain(&s.owner)])
            .await;
    let token = request_call(&s.app, s.tenant, "blip", "+12025550111", priority::URGENT).await;
    down.outbox().run_once().await.expect("round");
    assert_eq!(attempt(&s.app, &token).await.0, "queued", "nothing was sent: safe to send again");
    let (status, error): (String, Option<String>) =
        sqlx::query_as("SELECT status, last_error FROM outbox_message")
            .fetch_one(&s.app.state.db)
            .await
            .expect("row");
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("pending", Some("Twilio could not be reached (nothing was sent)"))
    );
    let tokens: f64 = sqlx::query_scalar("SELECT tokens FROM twilio_pace WHERE kind = 'call'")
        .fetch_one(&s.app.state.db)
        .await
        .expect("bucket");
    assert_eq!(tokens, 0.0, "the token was spent, but no 429 put the bucket in debt");
    let metrics = down.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.lines().any(|l| l.starts_with("twilio_requests_total{")
            && l.contains(r#"operation="create_call""#)
            && l.contains(r#"result="unreachable""#)),
        "{metrics}"
    );
    // Once its backoff (at most 5 s) is over, the call goes out at once: no penalty to sit out.
    s.clock.advance(chrono::Duration::seconds(5));
    s.app.outbox().run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 1);
    assert_eq!(attempt(&s.app, &token).await.0, "created");
}

async fn post_signed_status(app: &TestApp, path: &str, params: &[(&str, &str)]) -> u16 {
    post_signed(app, path, params).await.status().as_u16()
}

async fn audit_actions(app: &TestApp, token: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT action FROM audit_event WHERE entity_id = $1 ORDER BY sequence")
        .bind(token)
        .fetch_all(&app.state.db)
        .await
        .expect("audit")
}

#[sqlx::test]
async fn recording_callbacks_and_the_seed_alias_feed_the_ledger(pool: PgPool) {
    let s = setup(pool).await;
    let token = request_call(&s.app, s.tenant, "recorded", "+12025550111", priority::URGENT).await;
    s.app.outbox().run_once().await.expect("round");
    let sid = attempt(&s.app, &token).await.1.expect("bound");
    // Seed 001's alias is the calls/events route.
    let alias = format!("/api/calls/webhook/twilio?attempt={token}");
    let params = [
        ("CallSid", sid.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("From", "+12025550100"),
        ("To", "+12025550111"),
        ("CallStatus", "in-progress"),
        ("Direction", "outbound-api"),
        ("SequenceNumber", "2"),
    ];
    assert_eq!(post_signed_status(&s.app, &alias, &params).await, 200);
    assert_eq!(ledger_status(&s.app, &sid).await, "in-progress");

    let recording = "RE0123456789abcdef0123456789abcdef";
    for (status, duration) in [("in-progress", "0"), ("completed", "12"), ("in-progress", "0")] {
        let params = [
            ("RecordingSid", recording),
            ("AccountSid", ACCOUNT_SID),
            ("CallSid", sid.as_str()),
            ("RecordingStatus", status),
            ("RecordingDuration", duration),
        ];
        assert_eq!(post_signed_status(&s.app, "/webhooks/twilio/recordings/events", &params).await, 200);
    }
    let row: (String, String, Option<i32>, uuid::Uuid) = sqlx::query_as(
        "SELECT call_sid, status, duration_secs, tenant_id FROM twilio_recording WHERE sid = $1",
    )
    .bind(recording)
    .fetch_one(&s.app.state.db)
    .await
    .expect("recording");
    assert_eq!(
        row,
        (sid, "completed".into(), Some(12), s.tenant.uuid()),
        "a completed recording stays completed"
    );
}

#[sqlx::test]
async fn without_a_public_base_url_attempts_are_parked(pool: PgPool) {
    let owner = Arc::new(TestOwner::default());
    let world = World::builder(pool)
        .vars(&[("PUBLIC_BASE_URL", "")])
        .domain(test_domain(&owner))
        .tenant("nobase")
        .start()
        .await;
    let tenant = world.tenant.tenant_id();
    let World { app, fake, .. } = world;
    let token = request_call(&app, tenant, "nobase", "+12025550111", priority::URGENT).await;
    app.outbox().run_once().await.expect("round");
    assert!(fake.creates().is_empty(), "no callback URL could be given: nothing is created");
    let parked: (String, Option<String>) = sqlx::query_as("SELECT status, last_error FROM outbox_message")
        .fetch_one(&app.state.db)
        .await
        .expect("message");
    assert_eq!(parked, ("parked".into(), Some("public_base_url_not_configured".into())));
    assert_eq!(attempt(&app, &token).await.0, "queued");
}

#[sqlx::test]
async fn messages_are_paced_one_per_tick(pool: PgPool) {
    let s = setup(pool).await;
    for n in 0..3 {
        request_message(&s.app, s.tenant, &format!("paced-{n}"), &format!("+1202555012{n}")).await;
    }
    let worker = s.app.outbox();
    worker.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 1, "one message in the first second");
    worker.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 1, "no token until the clock moves");
    s.clock.advance(chrono::Duration::seconds(1));
    worker.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 2);
    s.clock.advance(chrono::Duration::seconds(1));
    worker.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 3);
    assert!(s.fake.creates().iter().all(|(kind, _)| kind == "message"));
}

#[sqlx::test]
async fn one_candidate_at_twilio_is_bound_without_a_second_create(pool: PgPool) {
    let s = setup(pool).await;
    s.fake.push(Mode::Fail500);
    let token = request_call(&s.app, s.tenant, "found", "+12025550111", priority::URGENT).await;
    let worker = s.app.outbox();
    worker.run_once().await.expect("round");
    // The 500 hid a create that happened after all.
    let found = "CA00000000000000000000000000000f0d";
    s.fake.seed("call", found, "+12025550111", "+12025550100", "");
    s.clock.advance(chrono::Duration::seconds(121));
    worker.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 1);
    assert_eq!(attempt(&s.app, &token).await, ("created".into(), Some(found.into())));
    assert_eq!(ledger_status(&s.app, found).await, "queued");
    assert_eq!(audit_actions(&s.app, &token).await, ["TWILIO_OUTCOME_UNKNOWN", "TWILIO_RECONCILED_FOUND"]);
}

#[sqlx::test]
async fn nothing_at_twilio_after_the_retry_parks_the_attempt(pool: PgPool) {
    let s = setup(pool).await;
    s.fake.push(Mode::Fail500);
    s.fake.push(Mode::Fail500);
    let token = request_call(&s.app, s.tenant, "twice", "+12025550111", priority::URGENT).await;
    let worker = s.app.outbox();
    worker.run_once().await.expect("round");
    s.clock.advance(chrono::Duration::seconds(121));
    worker.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 2, "sent once more after the list showed nothing");
    s.clock.advance(chrono::Duration::seconds(121));
    worker.run_once().await.expect("round");
    s.clock.advance(chrono::Duration::minutes(10));
    worker.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 2, "never a third time");
    assert_eq!(attempt(&s.app, &token).await.0, "parked");
    let parked: (String, Option<String>) = sqlx::query_as("SELECT status, last_error FROM outbox_message")
        .fetch_one(&s.app.state.db)
        .await
        .expect("message");
    assert_eq!(parked, ("parked".into(), Some("no trace at Twilio after a retry".into())));
    assert_eq!(
        audit_actions(&s.app, &token).await,
        ["TWILIO_OUTCOME_UNKNOWN", "TWILIO_RECONCILED_ABSENT", "TWILIO_OUTCOME_UNKNOWN", "TWILIO_PARKED"]
    );
}

#[sqlx::test]
async fn a_message_with_a_lost_answer_is_reconciled_by_its_body(pool: PgPool) {
    let s = setup(pool).await;
    s.fake.push(Mode::Fail500);
    let token = request_message(&s.app, s.tenant, "lost-sms", "+12025550177").await;
    let worker = s.app.outbox();
    worker.run_once().await.expect("round");
    assert_eq!(attempt(&s.app, &token).await.0, "unknown");
    let found = "SM00000000000000000000000000000f0d";
    s.fake.seed(
        "message",
        "SM00000000000000000000000000000bad",
        "+12025550177",
        "+12025550100",
        "Another text",
    );
    s.fake.seed("message", found, "+12025550177", "+12025550100", "Sorry we missed you");
    s.clock.advance(chrono::Duration::seconds(121));
    worker.run_once().await.expect("round");
    assert_eq!(s.fake.creates().len(), 1);
    assert_eq!(attempt(&s.app, &token).await, ("created".into(), Some(found.into())));
    let status: String = sqlx::query_scalar("SELECT status FROM twilio_message WHERE sid = $1")
        .bind(found)
        .fetch_one(&s.app.state.db)
        .await
        .expect("ledger");
    assert_eq!(status, "queued");
}

#[sqlx::test]
async fn an_operator_redelivers_one_parked_attempt_and_cancels_another(pool: PgPool) {
    let s = setup(pool).await;
    for to in ["+12025550111", "+12025550112"] {
        s.fake.push(Mode::Fail500);
        for n in 1..=2u32 {
            s.fake.seed("call", &format!("CA{}{n:028x}", &to[8..]), to, "+12025550100", "");
        }
    }
    let redo = request_call(&s.app, s.tenant, "redo", "+12025550111", priority::URGENT).await;
    let drop = request_call(&s.app, s.tenant, "drop", "+12025550112", priority::URGENT).await;
    let worker = s.app.outbox();
    worker.run_once().await.expect("round");
    s.clock.advance(chrono::Duration::seconds(1));
    worker.run_once().await.expect("round");
    s.clock.advance(chrono::Duration::seconds(121));
    worker.run_once().await.expect("round");
    assert_eq!(
        (attempt(&s.app, &redo).await.0, attempt(&s.app, &drop).await.0),
        ("parked".into(), "parked".into())
    );
    let creates = s.fake.creates().len();
    let message_of = |token: &str| {
        let token = token.to_owned();
        let db = s.app.state.db.clone();
        async move {
            sqlx::query_scalar::<_, uuid::Uuid>("SELECT outbox_id FROM twilio_attempt WHERE token = $1")
                .bind(token)
                .fetch_one(&db)
                .await
                .expect("outbox id")
        }
    };
    let root = s.app.superadmin().await;
    let admin = s.app.tenant_key(&root, "effects", "admin").await;
    let redeliver = format!("/api/notifications/{}/redeliver", message_of(&redo).await);
    assert_eq!(s.app.post_json(&redeliver, &admin, serde_json::json!({})).await.status(), 200);
    let cancel = format!("/api/notifications/{}/cancel", message_of(&drop).await);
    assert_eq!(s.app.post_json(&cancel, &admin, serde_json::json!({})).await.status(), 200);
    s.clock.advance(chrono::Duration::seconds(2));
    worker.run_once().await.expect("round");
    let after = s.fake.creates();
    assert_eq!(
        after.len(),
        creates + 1,
        "the redelivered attempt is sent once more, the cancelled one never"
    );
    assert_eq!(after.last().expect("create").1["To"][0], "+12025550111");
    assert_eq!(attempt(&s.app, &redo).await.0, "created");
}

#[sqlx::test]
async fn a_lost_answer_is_reconciled_the_moment_its_window_ends(pool: PgPool) {
    let s = setup(pool).await;
    s.fake.push(Mode::Fail500);
    let token = request_message(&s.app, s.tenant, "on-time", "+12025550177").await;
    let worker = s.app.outbox();
    worker.run_once().await.expect("round");
    assert_eq!(attempt(&s.app, &token).await.0, "unknown");
    let found = "SM00000000000000000000000000000a11";
    s.fake.seed("message", found, "+12025550177", "+12025550100", "Sorry we missed you");

    // The window is 120 s (the default): a second before it ends, nothing is asked of Twilio.
    s.clock.advance(chrono::Duration::seconds(119));
    worker.run_once().await.expect("round");
    assert_eq!(attempt(&s.app, &token).await, ("unknown".into(), None));
    // At its end exactly, the one matching message is found and bound, not sent again.
    s.clock.advance(chrono::Duration::seconds(1));
    worker.run_once().await.expect("round");
    assert_eq!(attempt(&s.app, &token).await, ("created".into(), Some(found.into())));
    assert_eq!(s.fake.creates().len(), 1, "never sent twice");
}

#[sqlx::test]
async fn a_create_cut_off_by_a_crash_is_reconciled_only_after_its_window(pool: PgPool) {
    let s = setup(pool).await;
    let token = request_message(&s.app, s.tenant, "cut-off", "+12025550177").await;
    // The worker sends the create and dies before Twilio's answer (which never comes) is saved.
    s.fake.push(Mode::LoseAnswer);
    let outbox = s.app.outbox();
    let doomed = tokio::spawn(async move { outbox.run_once().await });
    crate::helpers::eventually(10, "the create reaches Twilio", || async { !s.fake.creates().is_empty() })
        .await;
    doomed.abort();
    assert!(doomed.await.expect_err("aborted").is_cancelled());
    assert_eq!(attempt(&s.app, &token).await, ("sending".into(), None));

    // Its lease (60 s) ends and another worker takes the message over, but the reconcile window
    // (120 s from the send) has not: a callback may still bind it, so Twilio is not asked yet.
    let worker = s.app.outbox();
    s.clock.advance(chrono::Duration::seconds(61));
    worker.run_once().await.expect("round");
    assert_eq!(attempt(&s.app, &token).await, ("sending".into(), None), "too early to reconcile");
    let asked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_event WHERE action LIKE 'TWILIO_RECONCILED%'")
            .fetch_one(&s.app.state.db)
            .await
            .expect("audit");
    assert_eq!(asked, 0);

    s.clock.advance(chrono::Duration::seconds(60));
    worker.run_once().await.expect("round");
    let (state, sid) = attempt(&s.app, &token).await;
    assert_eq!((state.as_str(), sid.is_some()), ("created", true), "found at Twilio once the window ended");
    assert_eq!(s.fake.creates().len(), 1, "never sent twice");
}

#[sqlx::test]
async fn reconciliation_passes_over_a_message_another_attempt_already_owns(pool: PgPool) {
    let s = setup(pool).await;
    let worker = s.app.outbox();
    let first = request_message(&s.app, s.tenant, "first", "+12025550177").await;
    worker.run_once().await.expect("round");
    let (state, owned) = attempt(&s.app, &first).await;
    assert_eq!(state, "created");
    // The same text to the same caller again, its answer lost; it did reach Twilio.
    s.fake.push(Mode::Fail500);
    let second = request_message(&s.app, s.tenant, "second", "+12025550177").await;
    s.clock.advance(chrono::Duration::seconds(2)); // past the sender's pacing
    worker.run_once().await.expect("round");
    assert_eq!(attempt(&s.app, &second).await.0, "unknown");
    let lost = "SM00000000000000000000000000000b0b";
    s.fake.seed("message", lost, "+12025550177", "+12025550100", "Sorry we missed you");

    s.clock.advance(chrono::Duration::seconds(121));
    worker.run_once().await.expect("round");

    assert_eq!(
        attempt(&s.app, &second).await,
        ("created".into(), Some(lost.into())),
        "the first attempt's message is not a candidate: the lost one is the only match"
    );
    assert_eq!(attempt(&s.app, &first).await, ("created".into(), owned));
    assert_eq!(s.fake.creates().len(), 2);
}

/// A status callback for a message Switchboard created, signed as Twilio signs it.
async fn message_callback(app: &TestApp, token: &str, sid: &str, status: &str) -> u16 {
    let path = format!("/webhooks/twilio/messages/events?attempt={token}");
    let params = [("MessageSid", sid), ("AccountSid", ACCOUNT_SID), ("MessageStatus", status)];
    post_signed_status(app, &path, &params).await
}

/// A message's (status, status rank) in the ledger.
async fn message_ledger(app: &TestApp, sid: &str) -> (String, i16) {
    sqlx::query_as("SELECT status, status_rank FROM twilio_message WHERE sid = $1")
        .bind(sid)
        .fetch_one(&app.state.db)
        .await
        .expect("ledger")
}

#[sqlx::test]
async fn a_created_messages_status_never_moves_back_by_rank(pool: PgPool) {
    let s = setup(pool).await;
    let token = request_message(&s.app, s.tenant, "ranked", "+12025550133").await;
    s.app.outbox().run_once().await.expect("round");
    let (state, sid) = attempt(&s.app, &token).await;
    let sid = sid.expect("bound");
    assert_eq!(state, "created");
    assert_eq!(message_ledger(&s.app, &sid).await.0, "queued");

    for status in ["sending", "delivered"] {
        assert_eq!(message_callback(&s.app, &token, &sid, status).await, 200);
    }
    let delivered = message_ledger(&s.app, &sid).await;
    assert_eq!(delivered.0, "delivered");

    // Late callbacks of earlier stages (each seen for the first time: not mere duplicates).
    for late in ["sent", "queued"] {
        assert_eq!(message_callback(&s.app, &token, &sid, late).await, 200, "a late {late} is answered");
        assert_eq!(message_ledger(&s.app, &sid).await, delivered, "a late {late} does not move it back");
    }
    // A later stage still moves it on.
    assert_eq!(message_callback(&s.app, &token, &sid, "read").await, 200);
    let read = message_ledger(&s.app, &sid).await;
    assert_eq!(read.0, "read");
    assert!(read.1 > delivered.1, "read ranks above delivered");

    let seen: Vec<String> =
        s.owner.messages.lock().expect("lock").iter().map(|m| m.status.to_string()).collect();
    assert_eq!(seen, ["sending", "delivered", "read"], "the owner hears only the moves forward");
    let owned: Vec<Option<String>> =
        s.owner.messages.lock().expect("lock").iter().map(|m| m.sid.clone()).collect();
    assert!(owned.iter().all(|m| m.as_deref() == Some(sid.as_str())), "{owned:?}");
}
