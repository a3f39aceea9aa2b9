//! Inbound webhooks when things arrive out of order or the database is away (issue 20): a dial
//! result stands on its own, and nothing already answered is dropped during an outage.

use crate::fixture::{app_on, deliver};
use crate::helpers::{ACCOUNT_SID, eventually};
use crate::inbound::{
    ACME_MAIN, ACME_OWNER, CALLER, S, dial_result, post, ring, setup, setup_with, sid, sms, sms_sent,
    voice_params,
};
use crate::outage::Proxy;
use crate::xml::parse;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

const VOICEMAIL: [&str; 4] = ["Say", "Record", "Say", "Hangup"];
const TEXT_BACK: &str = "Sorry we missed your call. We will call you back soon. Acme Plumbing";
/// The worker applying what waited for the database.
const PENDING_WORKER: &str = "inbound-pending-effects";
/// The worker applying the effects' status callbacks that waited for the database.
const CALLBACKS_WORKER: &str = "effects-deferred-callbacks";

/// The app behind a TCP proxy to the test's database, which the test cuts and restores.
async fn setup_behind_proxy(connect: &PgConnectOptions) -> (S, Proxy) {
    setup_behind_proxy_with(connect, &[]).await
}

/// [`setup_behind_proxy`] with `extra` configuration.
async fn setup_behind_proxy_with(connect: &PgConnectOptions, extra: &[(&str, &str)]) -> (S, Proxy) {
    let (pool, proxy) = crate::outage::proxied(connect, 4).await;
    (setup_with(pool, extra).await, proxy)
}

/// A missed call from [`CALLER`], texted back: the text-back's (attempt token, message SID).
async fn text_back_attempt(s: &S) -> (String, String) {
    ring(&s.app, &sid(1), ACME_MAIN).await;
    dial_result(&s.app, &sid(1), ACME_MAIN, "no-answer").await;
    deliver(&s.app).await;
    sqlx::query_as("SELECT token, sid FROM twilio_attempt WHERE request->>'to' = $1")
        .bind(CALLER)
        .fetch_one(&s.app.state.db)
        .await
        .expect("the text-back's attempt")
}

/// Runs the pending worker until a round succeeds (the pool reconnects after the outage).
async fn apply_pending(s: &S) {
    apply_with(s, PENDING_WORKER).await;
}

/// Runs the worker `name` until a round succeeds (the pool reconnects after the outage).
async fn apply_with(s: &S, name: &str) {
    let worker = s.app.worker(name);
    eventually(15, "the waiting effects are applied", || async { worker.run_once().await.is_ok() }).await;
}

async fn outcome(s: &S, call: &str) -> Option<(Option<String>, String, String)> {
    sqlx::query_as("SELECT outcome, from_address, to_number FROM inbound_call WHERE call_sid = $1")
        .bind(call)
        .fetch_optional(&s.app.state.db)
        .await
        .expect("query")
}

#[sqlx::test]
async fn a_dial_result_before_its_ringing_record_still_texts_the_caller_back_once(pool: PgPool) {
    let s = setup(pool).await;
    let twiml = dial_result(&s.app, &sid(1), ACME_MAIN, "no-answer").await;
    assert_eq!(twiml.names(), VOICEMAIL, "the caller may leave a message");
    assert_eq!(dial_result(&s.app, &sid(1), ACME_MAIN, "no-answer").await, twiml, "a retry, the same answer");
    ring(&s.app, &sid(1), ACME_MAIN).await; // the ringing record, late: changes nothing
    deliver(&s.app).await;
    assert_eq!(sms_sent(&s).await, vec![(CALLER.into(), ACME_MAIN.into(), TEXT_BACK.into())]);
    let expected = (Some("missed".to_owned()), CALLER.to_owned(), ACME_MAIN.to_owned());
    assert_eq!(outcome(&s, &sid(1)).await, Some(expected));
    let incoming: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox_message WHERE kind = 'call.incoming'")
            .fetch_one(&s.app.state.db)
            .await
            .expect("count");
    assert_eq!(incoming, 1, "the call service hears of the call once");
}

#[sqlx::test]
async fn a_dial_result_for_a_number_nobody_owns_is_not_in_service(pool: PgPool) {
    let s = setup(pool).await;
    let twiml = dial_result(&s.app, &sid(1), "+19995550100", "no-answer").await;
    assert_eq!(twiml.names(), ["Say", "Hangup"]);
    assert!(twiml.children[0].text.contains("not in service"), "{twiml:?}");
    assert_eq!(outcome(&s, &sid(1)).await, None, "no call is made up");
}

#[sqlx::test]
async fn a_status_callback_of_an_unknown_call_records_the_call(pool: PgPool) {
    let s = setup(pool).await;
    let call = sid(1);
    let params = [
        ("CallSid", call.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("From", CALLER),
        ("To", ACME_MAIN),
        ("CallStatus", "completed"),
        ("Direction", "inbound"),
        ("CallDuration", "30"),
    ];
    let (status, body) = post(&s.app, "/webhooks/twilio/call", &params).await;
    assert_eq!((status, parse(&body).children.len()), (200, 0));
    let row: (String, Option<i32>) =
        sqlx::query_as("SELECT status, duration_secs FROM inbound_call WHERE call_sid = $1")
            .bind(&call)
            .fetch_one(&s.app.state.db)
            .await
            .expect("the call is recorded");
    assert_eq!(row, ("completed".into(), Some(30)));
}

#[sqlx::test]
async fn a_dial_result_while_the_database_is_down_still_texts_the_caller_back_once(
    _o: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let (s, proxy) = setup_behind_proxy(&connect).await;
    ring(&s.app, &sid(1), ACME_MAIN).await; // caches the routing
    proxy.cut();
    ring(&s.app, &sid(2), ACME_MAIN).await;
    let twiml = dial_result(&s.app, &sid(2), ACME_MAIN, "no-answer").await;
    assert_eq!(twiml.names(), VOICEMAIL, "answered from the cached tenant: {twiml:?}");
    dial_result(&s.app, &sid(2), ACME_MAIN, "no-answer").await; // Twilio's retry, buffered too
    proxy.restore();
    apply_pending(&s).await;
    let expected = (Some("missed".to_owned()), CALLER.to_owned(), ACME_MAIN.to_owned());
    assert_eq!(outcome(&s, &sid(2)).await, Some(expected));
    deliver(&s.app).await;
    assert_eq!(sms_sent(&s).await, vec![(CALLER.into(), ACME_MAIN.into(), TEXT_BACK.into())]);
}

#[sqlx::test]
async fn an_sms_while_the_database_is_down_is_stored_once_when_it_returns(
    _o: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let (s, proxy) = setup_behind_proxy(&connect).await;
    ring(&s.app, &sid(1), ACME_MAIN).await; // caches the routing
    proxy.cut();
    let message = "SM00000000000000000000000000000001";
    assert_eq!(sms(&s.app, message, CALLER, ACME_MAIN, "Are you open today?").await, 200);
    assert_eq!(sms(&s.app, message, CALLER, ACME_MAIN, "Are you open today?").await, 200, "a retry");
    proxy.restore();
    apply_pending(&s).await;
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT body FROM conversation_message WHERE message_sid = $1")
            .bind(message)
            .fetch_all(&s.app.state.db)
            .await
            .expect("query");
    assert_eq!(stored, ["Are you open today?"]);
    let received: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox_message WHERE kind = 'message.received'")
            .fetch_one(&s.app.state.db)
            .await
            .expect("count");
    assert_eq!(received, 1);
    let metrics = s.app.get("/metrics").await.text().await.expect("metrics");
    for name in ["inbound_buffered_effects", "inbound_buffer_dropped_total"] {
        assert!(metrics.contains(name), "{name} is exported");
    }
}

/// A scratch directory (a replica's disk), removed when dropped.
struct Disk(std::path::PathBuf);

impl Disk {
    fn new() -> Self {
        Disk(std::env::temp_dir().join(format!("switchboard-spool-{}", uuid::Uuid::new_v4())))
    }

    fn dir(&self, name: &str) -> (std::path::PathBuf, String) {
        let dir = self.0.join(name);
        let text = dir.to_str().expect("a UTF-8 temporary path").to_owned();
        (dir, text)
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        // Best effort: a leftover temporary directory fails nothing.
        std::fs::remove_dir_all(&self.0).ok();
    }
}

#[sqlx::test]
async fn with_a_spool_a_replica_killed_during_an_outage_loses_nothing_it_answered(
    _o: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let disk = Disk::new();
    let (spool, spool_var) = disk.dir("replica");
    let (s, proxy) =
        setup_behind_proxy_with(&connect, &[("SWITCHBOARD_INBOUND__SPOOL_DIR", &spool_var)]).await;
    ring(&s.app, &sid(1), ACME_MAIN).await; // caches the routing
    proxy.cut();
    ring(&s.app, &sid(2), ACME_MAIN).await;
    let twiml = dial_result(&s.app, &sid(2), ACME_MAIN, "no-answer").await;
    assert_eq!(twiml.names(), VOICEMAIL, "answered from the cached tenant: {twiml:?}");
    let message = "SM00000000000000000000000000000002";
    assert_eq!(sms(&s.app, message, CALLER, ACME_MAIN, "Still open?").await, 200);
    let file = spool.join(switchboard::inbound::SPOOL_FILE);
    let lines = std::fs::read_to_string(&file).expect("the spool").lines().count();
    assert_eq!(lines, 3, "each answered webhook is on disk before its answer");
    let metrics = s.app.get("/metrics").await.text().await.expect("metrics");
    assert!(metrics.contains("inbound_spooled_effects 3"), "{metrics}");
    assert!(metrics.contains("inbound_spool_errors_total 0"), "{metrics}");

    // kill -9: the replica's memory is gone (its worker never runs again), its disk is not. The
    // restarted replica gets that disk (a copy: the dead one still holds the file's lock here).
    let (restarted, restarted_var) = disk.dir("restarted");
    std::fs::create_dir_all(&restarted).expect("dir");
    std::fs::copy(&file, restarted.join(switchboard::inbound::SPOOL_FILE)).expect("copy");
    proxy.restore();
    let pool = PgPoolOptions::new().max_connections(4).connect_with(connect.clone()).await.expect("pool");
    let base = s.base();
    assert_eq!(outcome(&s, &sid(2)).await, None, "the dead replica applied nothing");
    let vars = [("SWITCHBOARD_INBOUND__SPOOL_DIR", restarted_var.as_str())];
    let app = app_on(pool, &base, s.clock.clone(), &vars, vec![]).await;
    let applied = app.worker(PENDING_WORKER).run_once().await.expect("the database is back");
    assert_eq!(applied, 3, "the spool is replayed at start");
    let expected = (Some("missed".to_owned()), CALLER.to_owned(), ACME_MAIN.to_owned());
    assert_eq!(outcome(&s, &sid(2)).await, Some(expected));
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT body FROM conversation_message WHERE message_sid = $1")
            .bind(message)
            .fetch_all(&app.state.db)
            .await
            .expect("query");
    assert_eq!(stored, ["Still open?"]);
    crate::fixture::deliver(&app).await;
    assert_eq!(sms_sent(&s).await, vec![(CALLER.into(), ACME_MAIN.into(), TEXT_BACK.into())]);
    let left = std::fs::metadata(restarted.join(switchboard::inbound::SPOOL_FILE)).expect("spool").len();
    assert_eq!(left, 0, "emptied once everything in it is applied");
}

/// The opted-out numbers, as the API lists them.
async fn opted_out(s: &S) -> Vec<String> {
    let admin = s.app.tenant_key(&s.root, "acme", "admin").await;
    let list: serde_json::Value = s.app.get_auth("/api/opt-outs", &admin).await.json().await.expect("json");
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["number"].as_str().unwrap_or("").into())
        .collect()
}

#[sqlx::test]
async fn a_text_backs_refusal_during_an_outage_still_opts_the_caller_out(
    _o: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let (s, proxy) = setup_behind_proxy(&connect).await;
    let (token, message) = text_back_attempt(&s).await;
    proxy.cut();
    // Twilio does not retry a status callback: a 503 here would lose the refusal for good.
    let params = [
        ("MessageSid", message.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "21610"),
        ("To", CALLER),
    ];
    let path = format!("/webhooks/twilio/messages/events?attempt={token}");
    let (status, body) = post(&s.app, &path, &params).await;
    assert_eq!((status, parse(&body).names()), (200, vec![]), "answered as usual: {body}");
    let (status, _) = post(&s.app, &path, &params).await;
    assert_eq!(status, 200, "a duplicate is kept too, and harmless");
    proxy.restore();
    apply_with(&s, CALLBACKS_WORKER).await;
    assert_eq!(opted_out(&s).await, [CALLER], "the refusal reached the inbound domain once back");
    let ledger: (String, Option<i32>) =
        sqlx::query_as("SELECT status, error_code FROM twilio_message WHERE sid = $1")
            .bind(&message)
            .fetch_one(&s.app.state.db)
            .await
            .expect("the ledger row");
    assert_eq!(ledger, ("undelivered".to_owned(), Some(21610)));
    let metrics = s.app.get("/metrics").await.text().await.expect("metrics");
    assert!(metrics.contains("effects_buffered_callbacks 0"), "the buffer is drained and exported");
}

#[sqlx::test]
async fn a_voicemail_left_during_an_outage_is_stored_and_announced_when_it_returns(
    _o: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let (s, proxy) = setup_behind_proxy(&connect).await;
    ring(&s.app, &sid(1), ACME_MAIN).await;
    dial_result(&s.app, &sid(1), ACME_MAIN, "no-answer").await;
    proxy.cut();
    let call = sid(1);
    let mut recorded = voice_params(&call, CALLER, ACME_MAIN, "in-progress");
    recorded.extend([
        ("RecordingSid", "RE0123456789abcdef0123456789abcdef"),
        ("RecordingUrl", "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1"),
        ("RecordingDuration", "17"),
    ]);
    let (status, body) = post(&s.app, &format!("/webhooks/twilio/call/voicemail/{call}"), &recorded).await;
    assert_eq!(status, 200);
    assert_eq!(parse(&body).names(), ["Say", "Hangup"], "the caller hears the usual goodbye: {body}");
    let status_params = [
        ("RecordingSid", "RE0123456789abcdef0123456789abcdef"),
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", call.as_str()),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "17"),
        ("RecordingUrl", "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1"),
    ];
    let (status, _) =
        post(&s.app, &format!("/webhooks/twilio/call/voicemail/{call}/status"), &status_params).await;
    assert_eq!(status, 200, "the recording's status is kept too");
    proxy.restore();
    apply_pending(&s).await;
    let stored: (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT voicemail_recording_sid, voicemail_status FROM inbound_call WHERE call_sid = $1",
    )
    .bind(&call)
    .fetch_one(&s.app.state.db)
    .await
    .expect("the call");
    assert_eq!(stored, (Some("RE0123456789abcdef0123456789abcdef".into()), Some("completed".into())));
    let announced: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox_message WHERE kind = 'call.voicemail'")
            .fetch_one(&s.app.state.db)
            .await
            .expect("count");
    assert_eq!(announced, 1, "call.voicemail is sent once");
}

#[sqlx::test]
async fn the_screened_owners_1_during_an_outage_connects_and_is_recorded_when_it_returns(
    _o: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let (s, proxy) = setup_behind_proxy(&connect).await;
    s.app.patch_json("/api/tenants/acme", &s.root, serde_json::json!({"screen_forwarded_calls": true})).await;
    ring(&s.app, &sid(1), ACME_MAIN).await;
    proxy.cut();
    let owner_leg = sid(51);
    let mut press = voice_params(&owner_leg, ACME_MAIN, ACME_OWNER, "in-progress");
    press.push(("Digits", "1"));
    let (status, body) =
        post(&s.app, &format!("/webhooks/twilio/call/screen/{}/accept", sid(1)), &press).await;
    assert_eq!(status, 200, "{body}");
    // Not an apology: the empty answer is what connects the caller, database or not.
    assert!(parse(&body).children.is_empty(), "{body}");
    proxy.restore();
    apply_pending(&s).await;
    let accepted: bool = sqlx::query_scalar("SELECT accepted FROM inbound_call WHERE call_sid = $1")
        .bind(sid(1))
        .fetch_one(&s.app.state.db)
        .await
        .expect("row");
    assert!(accepted, "the kept key press was applied");
    dial_result(&s.app, &sid(1), ACME_MAIN, "completed").await;
    assert_eq!(outcome(&s, &sid(1)).await.and_then(|o| o.0).as_deref(), Some("answered"));
    deliver(&s.app).await;
    assert!(sms_sent(&s).await.is_empty(), "an answered call is not texted back");
}

/// The value of the unlabelled series `name` in the rendered `/metrics` (its sample line, exactly).
fn sample<'a>(metrics: &'a str, name: &str) -> Option<&'a str> {
    metrics.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next() == Some(name)).then(|| parts.next()).flatten()
    })
}

#[sqlx::test]
async fn every_buffers_metrics_are_exported_before_any_outage(pool: PgPool) {
    let s = setup(pool).await;
    let metrics = s.app.get("/metrics").await.text().await.expect("metrics");
    for name in [
        "effects_buffered_callbacks",
        "effects_callbacks_dropped_total",
        "sessions_buffered_events",
        "sessions_events_dropped_total",
        "inbound_buffered_effects",
        "inbound_buffer_dropped_total",
    ] {
        // A sample line of the series itself, not a mention in another's help text.
        let exported = metrics.lines().any(|line| line.split([' ', '{']).next() == Some(name));
        assert!(exported, "{name} is exported from the start: {metrics}");
    }
}

#[sqlx::test]
async fn with_a_spool_status_callbacks_and_conference_events_are_on_disk_until_applied(
    _o: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let disk = Disk::new();
    let (spool, spool_var) = disk.dir("replica");
    let (s, proxy) =
        setup_behind_proxy_with(&connect, &[("SWITCHBOARD_INBOUND__SPOOL_DIR", &spool_var)]).await;
    // A message Switchboard created: the missed caller's text-back.
    let (token, message) = text_back_attempt(&s).await;
    proxy.cut();
    let params = [
        ("MessageSid", message.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("MessageStatus", "delivered"),
        ("To", CALLER),
    ];
    let path = format!("/webhooks/twilio/messages/events?attempt={token}");
    let (status, body) = post(&s.app, &path, &params).await;
    assert_eq!((status, parse(&body).names()), (200, vec![]), "answered as usual: {body}");
    // A conference event (of a room no session holds: kept all the same, the database decides).
    let room = format!("call-{}", uuid::Uuid::new_v4());
    let event = [
        ("ConferenceSid", "CF0123456789abcdef0123456789abcdef"),
        ("AccountSid", ACCOUNT_SID),
        ("FriendlyName", room.as_str()),
        ("StatusCallbackEvent", "conference-end"),
        ("SequenceNumber", "1"),
    ];
    let (status, body) = post(&s.app, "/webhooks/twilio/conferences/events", &event).await;
    assert_eq!((status, parse(&body).names()), (200, vec![]), "answered as usual: {body}");

    let callbacks = spool.join("effect-callbacks.jsonl");
    let events = spool.join("conference-events.jsonl");
    let lines = |file: &std::path::Path| std::fs::read_to_string(file).expect("a spool file").lines().count();
    assert_eq!(lines(callbacks.as_path()), 1, "the status callback is on disk before its answer");
    assert_eq!(lines(events.as_path()), 1, "the conference event is on disk before its answer");
    let metrics = s.app.get("/metrics").await.text().await.expect("metrics");
    assert_eq!(sample(&metrics, "effects_spooled_callbacks"), Some("1"), "{metrics}");
    assert_eq!(sample(&metrics, "sessions_spooled_events"), Some("1"), "{metrics}");

    proxy.restore();
    apply_with(&s, CALLBACKS_WORKER).await;
    apply_with(&s, "sessions-deferred-events").await;
    let ledger: String = sqlx::query_scalar("SELECT status FROM twilio_message WHERE sid = $1")
        .bind(&message)
        .fetch_one(&s.app.state.db)
        .await
        .expect("the ledger row");
    assert_eq!(ledger, "delivered", "the kept callback was applied");
    let receipts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_receipt WHERE key LIKE 'conference:%conference-end%'",
    )
    .fetch_one(&s.app.state.db)
    .await
    .expect("receipts");
    assert_eq!(receipts, 1, "the kept conference event was applied");
    for file in [&callbacks, &events] {
        let left = std::fs::metadata(file).expect("spool").len();
        assert_eq!(left, 0, "{} is emptied once everything in it is applied", file.display());
    }
    let metrics = s.app.get("/metrics").await.text().await.expect("metrics");
    assert_eq!(sample(&metrics, "effects_spooled_callbacks"), Some("0"), "{metrics}");
    assert_eq!(sample(&metrics, "sessions_spooled_events"), Some("0"), "{metrics}");
}

#[sqlx::test]
async fn an_uncached_numbers_dial_result_during_an_outage_apologises_and_is_applied_when_it_returns(
    _o: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let (s, proxy) = setup_behind_proxy(&connect).await;
    proxy.cut(); // nothing rang yet: the number's routing is not cached
    let twiml = dial_result(&s.app, &sid(1), ACME_MAIN, "no-answer").await;
    assert_eq!(twiml.names(), ["Say", "Hangup"], "{twiml:?}");
    assert!(twiml.children[0].text.contains("We are sorry"), "an apology: {twiml:?}");
    proxy.restore();
    crate::outage::reconnected(&s.app.state.db).await;
    assert_eq!(outcome(&s, &sid(1)).await, None, "nothing written yet: the effect waits in the buffer");
    apply_pending(&s).await;
    let expected = (Some("missed".to_owned()), CALLER.to_owned(), ACME_MAIN.to_owned());
    assert_eq!(outcome(&s, &sid(1)).await, Some(expected));
    deliver(&s.app).await;
    assert_eq!(sms_sent(&s).await, vec![(CALLER.into(), ACME_MAIN.into(), TEXT_BACK.into())]);
}
