//! Outbox delivery against an in-process receiver, driven with run_once() and a frozen clock.

use crate::fixture::World;
use crate::helpers::{TestApp, eventually};
use crate::receiver::{Receiver, expected_signature, secret_setting};
use serde_json::{Value, json};
use sqlx::PgPool;
use switchboard::auth::scope::tenant_tx;
use switchboard::clock::Clock;
use switchboard::outbox::{self, NewMessage, OutboxMessage, OutboxWorker, StillWanted};
use switchboard::tenants::TenantId;
use switchboard::worker::Worker;

/// The world notifying the call service at a receiver; its tenant as the library takes it.
struct Setup {
    world: World,
    receiver: Receiver,
    tenant: TenantId,
}

impl std::ops::Deref for Setup {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

async fn setup(pool: PgPool, extra: &[(&str, &str)]) -> Setup {
    let (receiver, url) = Receiver::start().await;
    let secret = secret_setting();
    let vars = [
        ("SWITCHBOARD_CALL_SERVICE_URL", url.as_str()),
        ("SWITCHBOARD_WEBHOOK_SECRET", secret.as_str()),
        ("SWITCHBOARD_OUTBOX__MAX_ATTEMPTS", "3"),
    ];
    let world = World::builder(pool).vars(&vars).vars(extra).tenant("notified").start().await;
    let tenant = world.tenant.tenant_id();
    Setup { world, receiver, tenant }
}

async fn enqueue(
    app: &TestApp,
    tenant: TenantId,
    key: &str,
    destination: &str,
    owner: Option<(&str, String)>,
) -> uuid::Uuid {
    let mut tx = tenant_tx(&app.state.db, tenant).await.expect("tx");
    let message = NewMessage {
        kind: "call.incoming",
        destination,
        payload: json!({"call_sid": "CA0123456789abcdef0123456789abcdef", "key": key}),
        idempotency_key: key.to_owned(),
        owner,
        priority: 0,
    };
    let id = outbox::enqueue(&mut tx, tenant, app.state.clock.now(), message)
        .await
        .expect("enqueue")
        .expect("new");
    tx.commit().await.expect("commit");
    id
}

async fn status(app: &TestApp, id: uuid::Uuid) -> (String, i32, Option<String>) {
    sqlx::query_as("SELECT status, attempts, last_error FROM outbox_message WHERE id = $1")
        .bind(id)
        .fetch_one(&app.state.db)
        .await
        .expect("row")
}

#[sqlx::test]
async fn a_receiver_that_was_down_gets_each_message_once(pool: PgPool) {
    let s = setup(pool, &[]).await;
    let worker = s.app.outbox();
    let ids = [
        enqueue(&s.app, s.tenant, "m1", "call_service", None).await,
        enqueue(&s.app, s.tenant, "m2", "call_service", None).await,
    ];
    let mut tx = tenant_tx(&s.app.state.db, s.tenant).await.expect("tx");
    let again = NewMessage {
        kind: "x",
        destination: "call_service",
        payload: json!({}),
        idempotency_key: "m1".into(),
        owner: None,
        priority: 0,
    };
    assert_eq!(
        outbox::enqueue(&mut tx, s.tenant, s.clock.now(), again).await.expect("enqueue"),
        None,
        "same key, one message"
    );
    drop(tx);

    s.receiver.set(503);
    assert_eq!(worker.run_once().await.expect("round"), 2);
    for id in ids {
        assert_eq!(status(&s.app, id).await, ("pending".into(), 1, Some("HTTP 503".into())));
    }
    assert_eq!(worker.run_once().await.expect("round"), 0, "nothing is due before the backoff");
    s.receiver.set(200);
    s.clock.advance(chrono::Duration::hours(1));
    assert_eq!(worker.run_once().await.expect("round"), 2);
    let accepted = s.receiver.accepted.lock().expect("lock").clone();
    assert_eq!(accepted.len(), 2);
    for id in ids {
        assert_eq!(accepted.get(&id.to_string()), Some(&1), "webhook-id is the outbox id, accepted once");
        assert_eq!(status(&s.app, id).await.0, "delivered");
    }
}

#[sqlx::test]
async fn the_signature_verifies_with_the_spec_hmac(pool: PgPool) {
    let s = setup(pool, &[]).await;
    let id = enqueue(&s.app, s.tenant, "signed", "call_service", None).await;
    s.app.outbox().run_once().await.expect("round");
    let (headers, body) = s.receiver.requests.lock().expect("lock")[0].clone();
    let timestamp = headers["webhook-timestamp"].to_str().expect("ts");
    assert_eq!(timestamp, s.clock.now().timestamp().to_string());
    let expected = expected_signature(&id.to_string(), timestamp, &body);
    assert_eq!(headers["webhook-signature"], expected.as_str());
    let envelope: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(envelope["id"], id.to_string());
    assert_eq!(envelope["type"], "call.incoming");
    assert_eq!(envelope["tenant_id"], s.tenant.to_string());
    assert_eq!(envelope["data"]["key"], "signed");
}

#[sqlx::test]
async fn an_expired_lease_is_redelivered_with_the_same_id(pool: PgPool) {
    let s = setup(pool, &[]).await;
    let id = enqueue(&s.app, s.tenant, "leased", "call_service", None).await;
    // A worker claims the message and dies before recording anything.
    let claimed = switchboard::outbox::repo::claim(
        &s.app.state.db,
        s.clock.now(),
        chrono::Duration::seconds(60),
        10,
        10,
    )
    .await
    .expect("claim");
    assert_eq!(claimed.len(), 1);
    let worker = s.app.outbox();
    assert_eq!(worker.run_once().await.expect("round"), 0, "the lease still holds");
    s.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(worker.run_once().await.expect("round"), 1);
    assert_eq!(s.receiver.accepted.lock().expect("lock").get(&id.to_string()), Some(&1));
    assert_eq!(status(&s.app, id).await.0, "delivered");
}

#[sqlx::test]
async fn after_the_last_attempt_a_message_is_dead_and_can_be_redelivered(pool: PgPool) {
    let s = setup(pool, &[]).await;
    let id = enqueue(&s.app, s.tenant, "doomed", "call_service", None).await;
    let worker = s.app.outbox();
    s.receiver.set(500);
    for _ in 0..3 {
        worker.run_once().await.expect("round");
        s.clock.advance(chrono::Duration::hours(7));
    }
    assert_eq!(status(&s.app, id).await.0, "dead");
    let admin = s.app.tenant_key(&s.root, &s.tenant.to_string(), "admin").await;
    let dead: Value =
        s.app.get_auth("/api/notifications?status=dead", &admin).await.json().await.expect("json");
    assert_eq!(dead["items"][0]["id"], id.to_string());
    assert_eq!(dead["items"][0]["attempts"], 3);
    let pending = s.app.post_json(&format!("/api/notifications/{id}/redeliver"), &admin, json!({})).await;
    assert_eq!(pending.status(), 200);
    let again = s.app.post_json(&format!("/api/notifications/{id}/redeliver"), &admin, json!({})).await;
    assert_eq!(again.status(), 409, "a pending message cannot be redelivered");
    s.receiver.set(200);
    assert_eq!(worker.run_once().await.expect("round"), 1);
    assert_eq!(status(&s.app, id).await.0, "delivered");
    let audit: Value = s
        .app
        .get_auth("/api/audit?action=NOTIFICATION_REDELIVERED", &admin)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(audit["items"][0]["entity_id"], id.to_string());
}

#[sqlx::test]
async fn an_unconfigured_destination_parks_its_messages(pool: PgPool) {
    let s = setup(pool, &[]).await;
    let id = enqueue(&s.app, s.tenant, "to-bot", "bot", None).await;
    s.app.outbox().run_once().await.expect("round");
    assert_eq!(status(&s.app, id).await, ("parked".into(), 1, Some("destination_not_configured".into())));
}

struct NotWanted;

#[async_trait::async_trait]
impl StillWanted for NotWanted {
    async fn still_wanted(&self, message: &OutboxMessage) -> Result<bool, sqlx::Error> {
        Ok(message.owner_id.as_deref() != Some("expired"))
    }
}

#[sqlx::test]
async fn a_message_no_longer_wanted_is_cancelled(pool: PgPool) {
    let s = setup(pool, &[]).await;
    let unwanted =
        enqueue(&s.app, s.tenant, "unwanted", "call_service", Some(("crises", "expired".into()))).await;
    let wanted = enqueue(&s.app, s.tenant, "wanted", "call_service", Some(("crises", "live".into()))).await;
    let mut registry = s.app.registry.clone();
    registry.hook("crises", std::sync::Arc::new(NotWanted));
    OutboxWorker::new(&s.app.state, registry).run_once().await.expect("round");
    assert_eq!(status(&s.app, unwanted).await.0, "cancelled");
    assert_eq!(status(&s.app, wanted).await.0, "delivered");
    assert_eq!(s.receiver.accepted.lock().expect("lock").len(), 1);
}

#[sqlx::test]
async fn one_tenants_backlog_does_not_hold_back_another(pool: PgPool) {
    let s =
        setup(pool, &[("SWITCHBOARD_OUTBOX__BATCH_SIZE", "20"), ("SWITCHBOARD_OUTBOX__PER_TENANT", "10")])
            .await;
    bulk(&s.app, s.tenant, 200).await;
    s.clock.advance(chrono::Duration::seconds(1));
    let other = TenantId(s.app.create_tenant(&s.root, "quiet").await.parse().expect("uuid"));
    let lone = enqueue(&s.app, other, "lone", "call_service", None).await;
    assert_eq!(s.app.outbox().run_once().await.expect("round"), 11);
    assert_eq!(
        status(&s.app, lone).await.0,
        "delivered",
        "delivered in the first round despite 200 older messages"
    );
}

/// Enqueues `count` messages for `tenant` in one transaction.
async fn bulk(app: &TestApp, tenant: TenantId, count: usize) {
    let mut tx = tenant_tx(&app.state.db, tenant).await.expect("tx");
    for n in 0..count {
        let m = NewMessage {
            kind: "bulk",
            destination: "call_service",
            payload: json!({"n": n}),
            idempotency_key: format!("bulk-{tenant}-{n}"),
            owner: None,
            priority: 0,
        };
        outbox::enqueue(&mut tx, tenant, app.state.clock.now(), m).await.expect("enqueue");
    }
    tx.commit().await.expect("commit");
}

/// Messages delivered so far, by tenant.
async fn delivered_by_tenant(app: &TestApp) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE status = 'delivered') FROM outbox_message GROUP BY tenant_id ORDER BY 1 DESC",
    )
    .fetch_all(&app.state.db)
    .await
    .expect("counts")
}

#[sqlx::test]
async fn a_round_is_shared_equally_among_the_tenants_waiting(pool: PgPool) {
    let s = setup(pool, &[("SWITCHBOARD_OUTBOX__BATCH_SIZE", "12"), ("SWITCHBOARD_OUTBOX__PER_TENANT", "2")])
        .await;
    let worker = s.app.outbox();
    bulk(&s.app, s.tenant, 40).await;
    assert_eq!(worker.run_once().await.expect("round"), 12, "a tenant alone fills the round");

    for slug in ["second", "third"] {
        let other = TenantId(s.app.create_tenant(&s.root, slug).await.parse().expect("uuid"));
        bulk(&s.app, other, 10).await;
    }
    assert_eq!(worker.run_once().await.expect("round"), 12);
    assert_eq!(delivered_by_tenant(&s.app).await, [12 + 4, 4, 4], "three tenants waiting: 4 each");

    for slug in ["fourth", "fifth", "sixth", "seventh"] {
        let other = TenantId(s.app.create_tenant(&s.root, slug).await.parse().expect("uuid"));
        bulk(&s.app, other, 10).await;
    }
    let before = delivered_by_tenant(&s.app).await;
    assert_eq!(worker.run_once().await.expect("round"), 12);
    let after: i64 = delivered_by_tenant(&s.app).await.iter().sum();
    assert_eq!(after - before.iter().sum::<i64>(), 12);
    let most: i64 = sqlx::query_scalar(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM outbox_message
           WHERE status = 'delivered' AND updated_at = (SELECT max(updated_at) FROM outbox_message) GROUP BY tenant_id) t",
    )
    .fetch_one(&s.app.state.db)
    .await
    .expect("round's counts");
    assert_eq!(most, 2, "seven tenants waiting: per_tenant (2) of each, not 12 / 7 = 1");
}

#[sqlx::test]
async fn the_metrics_show_the_backlog_and_every_delivery(pool: PgPool) {
    let s = setup(pool, &[]).await;
    bulk(&s.app, s.tenant, 3).await;
    s.clock.advance(chrono::Duration::seconds(30));
    s.receiver.set(503);
    let worker = s.app.outbox();
    assert_eq!(worker.run_once().await.expect("round"), 3);
    let metrics = s.app.get("/metrics").await.text().await.expect("metrics");
    let line = |name: &str| metrics.lines().find(|l| l.starts_with(name)).unwrap_or_default().to_owned();
    // Measured before the round: three waiting, the oldest for 30 s.
    assert_eq!(line("outbox_pending "), "outbox_pending 3", "{metrics}");
    assert_eq!(line("outbox_oldest_pending_seconds "), "outbox_oldest_pending_seconds 30", "{metrics}");
    assert!(line("outbox_deliveries_total{").contains(r#"result="retry""#), "{metrics}");
    assert!(line("outbox_deliveries_total{").ends_with(" 3"), "{metrics}");
}

#[sqlx::test]
async fn a_receiver_answering_410_stops_the_deliveries(pool: PgPool) {
    let s = setup(pool, &[]).await;
    let id = enqueue(&s.app, s.tenant, "gone", "call_service", None).await;
    s.receiver.set(410);
    let worker = s.app.outbox();
    worker.run_once().await.expect("round");
    let (status, attempts, _) = status(&s.app, id).await;
    assert_eq!((status.as_str(), attempts), ("dead", 1), "410 is final after one attempt of three");
    s.receiver.set(200);
    s.clock.advance(chrono::Duration::hours(7));
    assert_eq!(worker.run_once().await.expect("round"), 0, "nothing more is sent");
    assert_eq!(s.receiver.requests.lock().expect("lock").len(), 1);
}

#[sqlx::test]
async fn an_operator_cancels_a_notification_and_it_is_never_sent(pool: PgPool) {
    let s = setup(pool, &[]).await;
    let id = enqueue(&s.app, s.tenant, "unwanted", "call_service", None).await;
    let admin = s.app.tenant_key(&s.root, &s.tenant.to_string(), "admin").await;
    let monitor = s.app.tenant_key(&s.root, &s.tenant.to_string(), "monitor").await;
    let path = format!("/api/notifications/{id}/cancel");
    assert_eq!(s.app.post_json(&path, &monitor, json!({})).await.status(), 403);
    let cancelled = s.app.post_json(&path, &admin, json!({})).await;
    assert_eq!(cancelled.status(), 200);
    let body: Value = cancelled.json().await.expect("json");
    assert_eq!(body, json!({"id": id, "status": "cancelled"}));
    let again = s.app.post_json(&path, &admin, json!({})).await;
    assert_eq!(again.status(), 409, "a cancelled message cannot be cancelled again");
    let problem: Value = again.json().await.expect("json");
    assert_eq!(problem["code"], "invalid_transition");
    assert_eq!(s.app.outbox().run_once().await.expect("round"), 0);
    assert!(s.receiver.requests.lock().expect("lock").is_empty());
    let audit: Value =
        s.app.get_auth("/api/audit?action=NOTIFICATION_CANCELLED", &admin).await.json().await.expect("json");
    assert_eq!(audit["items"][0]["entity_id"], id.to_string());
    assert_eq!(audit["items"][0]["data"]["from"], "pending");
}

#[sqlx::test]
async fn the_idempotency_sweeper_forgets_answers_after_24_hours(pool: PgPool) {
    let s = setup(pool, &[]).await;
    let body = json!({"slug": "once", "name": "Once", "timezone": "UTC"});
    let create = || {
        s.app
            .client
            .post(s.app.url("/api/tenants"))
            .bearer_auth(&s.root)
            .header("idempotency-key", "t-1")
            .json(&body)
    };
    assert_eq!(create().send().await.expect("sent").status(), 201);
    assert_eq!(create().send().await.expect("sent").status(), 201, "the replay gets the first answer");
    let sweeper = s.app.worker("idempotency-sweeper");
    s.clock.advance(chrono::Duration::hours(23));
    assert_eq!(sweeper.run_once().await.expect("sweep"), 0, "kept within the window");
    s.clock.advance(chrono::Duration::hours(1) + chrono::Duration::seconds(1));
    assert_eq!(sweeper.run_once().await.expect("sweep"), 1);
    let replay = create().send().await.expect("sent");
    assert_eq!(replay.status(), 409, "forgotten: the key now runs the create, and the slug is taken");
}

/// Rows of `outbox_message` read so far (sequential and index scans), as the statistics say.
async fn outbox_rows_read(db: &PgPool) -> (i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables
                  WHERE relname = 'outbox_message'),
                (SELECT coalesce(sum(idx_tup_read), 0)::bigint FROM pg_stat_user_indexes WHERE relname = 'outbox_message')",
    )
    .fetch_one(db)
    .await
    .expect("statistics")
}

/// (inserts, updates) of `outbox_message` the statistics have seen.
async fn outbox_counts(db: &PgPool) -> (i64, i64) {
    sqlx::query_as("SELECT n_tup_ins, n_tup_upd FROM pg_stat_user_tables WHERE relname = 'outbox_message'")
        .fetch_one(db)
        .await
        .expect("statistics")
}

#[sqlx::test]
async fn a_claim_reads_a_few_rows_per_tenant_however_large_the_backlog(pool: PgPool) {
    let s = setup(pool.clone(), &[]).await;
    let backlog: i32 = 3000;
    let mut tx = tenant_tx(&s.app.state.db, s.tenant).await.expect("tx");
    sqlx::query(
        "INSERT INTO outbox_message (id, tenant_id, kind, destination, payload, idempotency_key, status,
           next_attempt_at, created_at, updated_at)
         SELECT gen_random_uuid(), $1, 'bulk', 'call_service', '{}', 'bulk-' || n, 'pending', $2, $2, $2
         FROM generate_series(1, $3) n",
    )
    .bind(s.tenant.uuid())
    .bind(s.clock.now())
    .bind(backlog)
    .execute(&mut *tx)
    .await
    .expect("backlog");
    tx.commit().await.expect("commit");
    let other = TenantId(s.app.create_tenant(&s.root, "quiet").await.parse().expect("uuid"));
    enqueue(&s.app, other, "lone", "call_service", None).await;
    // As autovacuum would have by then: the planner knows the backlog.
    sqlx::query("ANALYZE outbox_message").execute(&pool).await.expect("analyze");
    // The statistics arrive when each connection flushes them (within seconds): wait for the
    // inserts' before the claim, and for the claim's after it.
    let inserted = i64::from(backlog) + 1;
    eventually(15, "the backlog's statistics are flushed", || async {
        outbox_counts(&pool).await == (inserted, 0)
    })
    .await;
    let before = outbox_rows_read(&pool).await;

    let claimed = outbox::repo::claim(&s.app.state.db, s.clock.now(), chrono::Duration::seconds(60), 100, 10)
        .await
        .expect("claim");

    assert_eq!(claimed.len(), 51, "half the batch of the backlog's tenant and the other tenant's one");
    eventually(15, "the claim's statistics are flushed", || async { outbox_counts(&pool).await.1 >= 51 })
        .await;
    let after = outbox_rows_read(&pool).await;
    let read = (after.0 - before.0) + (after.1 - before.1);
    assert!(read < 300, "a claim read {read} rows of a backlog of {backlog}: it must not scan the backlog");
}

/// A receiver that holds every request unanswered while `silent` is set, and answers 200 once
/// it is not; the `webhook-id` of every request it got.
#[derive(Clone, Default)]
struct SilentReceiver {
    silent: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ids: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

async fn hold(
    axum::extract::State(r): axum::extract::State<SilentReceiver>,
    headers: axum::http::HeaderMap,
) -> axum::http::StatusCode {
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    r.ids.lock().expect("lock").push(id);
    if r.silent.load(std::sync::atomic::Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    axum::http::StatusCode::OK
}

impl SilentReceiver {
    /// A silent receiver and its URL.
    async fn start() -> (SilentReceiver, String) {
        let receiver = SilentReceiver::default();
        receiver.silent.store(true, std::sync::atomic::Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        let app = axum::Router::new().fallback(hold).with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }
}

#[sqlx::test]
async fn a_receiver_that_never_answers_times_out_and_is_retried(pool: PgPool) {
    let (silent, url) = SilentReceiver::start().await;
    let s = setup(
        pool,
        &[
            ("SWITCHBOARD_CALL_SERVICE_URL", url.as_str()),
            ("SWITCHBOARD_OUTBOX__HTTP_TIMEOUT_SECS", "1"),
            ("SWITCHBOARD_OUTBOX__BACKOFF_BASE_SECS", "5"),
        ],
    )
    .await;
    let id = enqueue(&s.app, s.tenant, "unanswered", "call_service", None).await;
    let worker = s.app.outbox();
    let now = s.clock.now();

    assert_eq!(worker.run_once().await.expect("round"), 1, "the round ends despite the silence");
    assert_eq!(silent.ids.lock().expect("lock").clone(), [id.to_string()], "the request reached it");
    let (state, attempts, error) = status(&s.app, id).await;
    assert_eq!((state.as_str(), attempts), ("pending", 1), "retried later, one attempt counted");
    assert!(error.as_deref().is_some_and(|e| e.contains("timed out")), "last_error: {error:?}");
    assert!(s.receiver.requests.lock().expect("lock").is_empty(), "the silent receiver was the one asked");
    let next: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT next_attempt_at FROM outbox_message WHERE id = $1")
            .bind(id)
            .fetch_one(&s.app.state.db)
            .await
            .expect("next attempt");
    // Full jitter: a random wait in [0, base] after the first attempt (the frozen clock has not moved).
    assert!(
        (now..=now + chrono::Duration::seconds(5)).contains(&next),
        "the retry is due within the first backoff step: {next} (now {now})"
    );

    // Once the backoff is over and the receiver answers, the same notification is delivered.
    silent.silent.store(false, std::sync::atomic::Ordering::SeqCst);
    s.clock.advance(chrono::Duration::seconds(5));
    assert_eq!(worker.run_once().await.expect("round"), 1);
    let (state, attempts, _) = status(&s.app, id).await;
    assert_eq!((state.as_str(), attempts), ("delivered", 2));
    assert_eq!(
        silent.ids.lock().expect("lock").clone(),
        [id.to_string(), id.to_string()],
        "the retry carries the same webhook-id"
    );
}

/// The ids `GET /api/notifications{query}` lists, sorted.
async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let response = app.get_auth(&format!("/api/notifications{query}"), token).await;
    assert_eq!(response.status(), 200, "{query}");
    let page: Value = response.json().await.expect("json");
    let mut ids: Vec<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[uuid::Uuid]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(uuid::Uuid::to_string).collect();
    ids.sort();
    ids
}

#[sqlx::test]
async fn the_list_filters_by_destination_and_status(pool: PgPool) {
    let s = setup(pool, &[]).await;
    let service = [
        enqueue(&s.app, s.tenant, "call-1", "call_service", None).await,
        enqueue(&s.app, s.tenant, "call-2", "call_service", None).await,
    ];
    let dispatch = enqueue(&s.app, s.tenant, "crisis-1", "dispatch", None).await;
    // The call service answers; no dispatch URL is configured, so the dispatch is parked.
    s.app.outbox().run_once().await.expect("round");
    for id in service {
        assert_eq!(status(&s.app, id).await.0, "delivered");
    }
    assert_eq!(
        status(&s.app, dispatch).await,
        ("parked".into(), 1, Some("destination_not_configured".into()))
    );
    let admin = s.app.tenant_key(&s.root, &s.tenant.to_string(), "admin").await;
    let cases = [
        ("", sorted(&[service[0], service[1], dispatch])),
        ("?destination=call_service", sorted(&service)),
        ("?destination=dispatch", sorted(&[dispatch])),
        ("?destination=bot", Vec::new()),
        ("?destination=call_service&status=delivered", sorted(&service)),
        ("?destination=call_service&status=parked", Vec::new()),
        ("?destination=dispatch&status=parked", sorted(&[dispatch])),
        ("?destination=dispatch&status=delivered", Vec::new()),
        ("?status=parked", sorted(&[dispatch])),
    ];
    for (query, expected) in cases {
        assert_eq!(listed(&s.app, &admin, query).await, expected, "{query}");
    }
}
