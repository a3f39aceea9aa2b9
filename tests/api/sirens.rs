//! Sirens: raised on a session, acknowledged and resolved by the monitor team (each transition
//! and each refused one, who and when stored and audited), the signed `siren.*` notifications to
//! the monitor destination, and the escalation of an emergency left active to the duty officers
//! (once per officer with two instances running the worker; never when acknowledged in time).
//! Who may do what is in `sirens_parity.rs`.

use crate::fixture::deliver;
use crate::receiver::{Receiver, secret_setting, signature_is_valid};
use crate::sessions::Sessions;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

const OFFICER_1: &str = "+12025550161";
const OFFICER_2: &str = "+12025550162";

/// The sessions fixture with the monitor team's receiver and duty officers on `tarot`.
async fn setup(pool: PgPool) -> (Sessions, Receiver) {
    let (monitor, url) = Receiver::start().await;
    let secret = secret_setting();
    let s =
        Sessions::with(pool, &[("SWITCHBOARD_MONITOR_URL", &url), ("SWITCHBOARD_WEBHOOK_SECRET", &secret)])
            .await;
    let patch = json!({"duty_officers": [OFFICER_1, OFFICER_2]});
    let response = s.app.patch_json("/api/tenants/tarot", &s.root, patch).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
    (s, monitor)
}

async fn raise(s: &Sessions, id: &str, token: &str, alert_type: &str) -> (u16, Value) {
    let body = json!({"alert_type": alert_type, "reason": "the client is distressed"});
    s.call(Method::POST, &format!("/api/calls/{id}/siren"), token, Some(body)).await
}

async fn act(s: &Sessions, siren: &str, action: &str, body: Option<Value>) -> (u16, Value) {
    s.call(Method::POST, &format!("/api/sirens/{siren}/{action}"), &s.monitor, body).await
}

/// The texts the fake Twilio was asked to send, by recipient.
fn texts_to(s: &Sessions, to: &str) -> usize {
    s.fake
        .creates()
        .iter()
        .filter(|(path, params)| {
            path == "message" && params.get("To").is_some_and(|v| v.iter().any(|t| t == to))
        })
        .count()
}

#[sqlx::test]
async fn a_siren_moves_active_acknowledged_resolved_and_refuses_everything_else(pool: PgPool) {
    let (s, monitor) = setup(pool.clone()).await;
    let id = s.book("ord_siren").await;

    let (status, siren) = raise(&s, &id, &s.client, "quality_issue").await;
    assert_eq!(status, 201, "{siren}");
    assert_eq!(siren["status"], "active");
    assert_eq!(siren["triggered_role"], "client");
    let siren_id = siren["id"].as_str().expect("id").to_owned();
    let session = s.session(&id).await;
    assert_eq!(session["siren_triggered"], true, "{session}");
    assert_eq!(session["sirens"][0]["id"], siren_id.as_str());

    let (status, acked) = act(&s, &siren_id, "acknowledge", None).await;
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["status"], "acknowledged");
    assert!(acked["acknowledged_by"].as_str().is_some_and(|b| b.starts_with("operator:")));
    assert_eq!(acked["acknowledged_at"], "2026-11-23T15:00:00Z");
    let (status, again) = act(&s, &siren_id, "acknowledge", None).await;
    assert_eq!((status, again["code"].as_str()), (409, Some("invalid_transition")), "{again}");

    let resolve = json!({"resolution": "resolved", "note": "talked to the client"});
    let (status, resolved) = act(&s, &siren_id, "resolve", Some(resolve.clone())).await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(
        (resolved["status"].as_str(), resolved["resolution_note"].as_str()),
        (Some("resolved"), Some("talked to the client"))
    );
    assert!(resolved["resolved_by"].as_str().is_some() && resolved["resolved_at"].as_str().is_some());
    for (action, body) in [("resolve", Some(resolve)), ("acknowledge", None)] {
        let (status, refused) = act(&s, &siren_id, action, body).await;
        assert_eq!((status, refused["code"].as_str()), (409, Some("invalid_transition")), "{refused}");
    }

    // Straight from active to a false alarm.
    let (_, second) = raise(&s, &id, &s.reader, "technical_problem").await;
    let second_id = second["id"].as_str().expect("id");
    let (status, closed) = act(&s, second_id, "resolve", Some(json!({"resolution": "false_alarm"}))).await;
    assert_eq!((status, closed["status"].as_str()), (200, Some("false_alarm")), "{closed}");

    // The list, filtered.
    let path = format!("/api/sirens?status=resolved&call_id={id}");
    let (status, page) = s.call(Method::GET, &path, &s.monitor, None).await;
    assert_eq!(status, 200, "{page}");
    let ids: Vec<&str> =
        page["items"].as_array().expect("items").iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(ids, [siren_id.as_str()]);

    // Audited with who.
    let actions: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, actor_kind FROM audit_event WHERE entity_type = 'siren' AND entity_id = $1 ORDER BY sequence",
    )
    .bind(&siren_id)
    .fetch_all(&pool)
    .await
    .expect("audit");
    let names: Vec<&str> = actions.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(names, ["SIREN_TRIGGERED", "SIREN_ACKNOWLEDGED", "SIREN_RESOLVED"]);
    assert!(actions.iter().all(|(_, t)| t == "operator"));

    // The monitor team heard each step, signed.
    deliver(&s.app).await;
    let requests = monitor.requests.lock().expect("lock").clone();
    let kinds: Vec<String> = requests
        .iter()
        .map(|(headers, body)| {
            assert!(signature_is_valid(headers, body), "unsigned notification");
            let body: Value = serde_json::from_slice(body).expect("json");
            format!("{}:{}", body["type"].as_str().unwrap_or(""), body["data"]["id"].as_str().unwrap_or(""))
        })
        .collect();
    for kind in ["siren.triggered", "siren.acknowledged", "siren.resolved"] {
        assert!(kinds.contains(&format!("{kind}:{siren_id}")), "{kind} missing from {kinds:?}");
    }
}

#[sqlx::test]
async fn a_bad_siren_is_422_naming_the_field(pool: PgPool) {
    let (s, _) = setup(pool).await;
    let id = s.book("ord_bad").await;
    for (body, field) in [
        (json!({"alert_type": "fire", "reason": "x"}), "alert_type"),
        (json!({"alert_type": "emergency"}), "reason"),
        (json!({"alert_type": "emergency", "reason": "x".repeat(1001)}), "reason"),
    ] {
        let (status, problem) =
            s.call(Method::POST, &format!("/api/calls/{id}/siren"), &s.client, Some(body)).await;
        assert_eq!(status, 422, "{problem}");
        assert!(problem.to_string().contains(field), "{problem}");
    }
    let (_, siren) = raise(&s, &id, &s.client, "emergency").await;
    let path = format!("/api/sirens/{}/resolve", siren["id"].as_str().expect("id"));
    let (status, problem) =
        s.call(Method::POST, &path, &s.monitor, Some(json!({"resolution": "maybe"}))).await;
    assert_eq!(status, 422, "{problem}");
}

#[sqlx::test]
async fn an_emergency_left_active_texts_each_duty_officer_once_across_two_instances(pool: PgPool) {
    let (s, monitor) = setup(pool.clone()).await;
    let second = s.twin().await;
    let id = s.book("ord_emergency").await;
    let (_, siren) = raise(&s, &id, &s.reader, "emergency").await;
    let siren_id = siren["id"].as_str().expect("id").to_owned();
    // A quality issue never escalates.
    raise(&s, &id, &s.reader, "quality_issue").await;

    // Not yet due.
    s.clock.advance(chrono::Duration::seconds(119));
    assert_eq!(s.app.worker("siren-escalation").run_once().await.expect("round"), 0);

    s.clock.advance(chrono::Duration::seconds(2));
    let (one, two) = (s.app.worker("siren-escalation"), second.worker("siren-escalation"));
    let (a, b) = tokio::join!(one.run_once(), two.run_once());
    assert_eq!(a.expect("round") + b.expect("round"), 1, "escalated once");
    // A replayed round (another replica, a restart) finds nothing more to do.
    let (a, b) = tokio::join!(one.run_once(), two.run_once());
    assert_eq!(a.expect("round") + b.expect("round"), 0);
    // Texts are paced: a round per second of the account's pace, from either instance.
    for app in [&s.app, &second, &s.app, &second] {
        deliver(app).await;
        s.clock.advance(chrono::Duration::seconds(1));
    }
    assert_eq!((texts_to(&s, OFFICER_1), texts_to(&s, OFFICER_2)), (1, 1));

    let escalated: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_event WHERE entity_id = $1 AND action = 'SIREN_ESCALATED'",
    )
    .bind(&siren_id)
    .fetch_one(&pool)
    .await
    .expect("audit");
    assert_eq!(escalated, 1);
    let kinds: Vec<Value> = monitor
        .requests
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, body)| serde_json::from_slice::<Value>(body).expect("json"))
        .filter(|b| b["type"] == "siren.escalated")
        .collect();
    assert_eq!(kinds.len(), 1, "{kinds:?}");
    assert_eq!(kinds[0]["data"]["officers_texted"], 2);
    second.stop().await.expect("stop");
}

#[sqlx::test]
async fn an_emergency_acknowledged_in_time_texts_nobody(pool: PgPool) {
    let (s, _) = setup(pool.clone()).await;
    let id = s.book("ord_calm").await;
    let (_, siren) = raise(&s, &id, &s.client, "emergency").await;
    s.clock.advance(chrono::Duration::seconds(60));
    let (status, _) = act(&s, siren["id"].as_str().expect("id"), "acknowledge", None).await;
    assert_eq!(status, 200);
    s.clock.advance(chrono::Duration::seconds(600));
    assert_eq!(s.app.worker("siren-escalation").run_once().await.expect("round"), 0);
    for _ in 0..3 {
        deliver(&s.app).await;
        s.clock.advance(chrono::Duration::seconds(1));
    }
    assert_eq!((texts_to(&s, OFFICER_1), texts_to(&s, OFFICER_2)), (0, 0));
}

#[sqlx::test]
async fn the_escalation_delay_is_the_tenants(pool: PgPool) {
    let (s, _) = setup(pool.clone()).await;
    let patch = json!({"siren_escalate_after_secs": 30});
    let response = s.app.patch_json("/api/tenants/tarot", &s.root, patch).await;
    assert_eq!(response.status(), 200);
    let refused =
        s.app.patch_json("/api/tenants/tarot", &s.root, json!({"siren_escalate_after_secs": 5})).await;
    assert_eq!(refused.status(), 422);
    let id = s.book("ord_fast").await;
    raise(&s, &id, &s.client, "emergency").await;
    s.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(s.app.worker("siren-escalation").run_once().await.expect("round"), 1);
}

#[sqlx::test]
async fn each_sensitive_action_logs_the_seed_format_and_nothing_personal(pool: PgPool) {
    let (s, _) = setup(pool).await;
    let id = s.book("ord_logged").await;
    let captured = crate::fixture::Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::INFO)
        .finish();
    // The test runtime is single-threaded: the server's tasks log on this thread.
    let guard = tracing::subscriber::set_default(subscriber);
    let (status, siren) = raise(&s, &id, &s.client, "emergency").await;
    assert_eq!(status, 201);
    let siren_id = siren["id"].as_str().expect("id").to_owned();
    let (status, _) = act(&s, &siren_id, "acknowledge", None).await;
    assert_eq!(status, 200);
    let (status, _) =
        s.call(Method::POST, &format!("/api/calls/{id}/drop"), &s.client, Some(json!({"reason": "x"}))).await;
    assert_eq!(status, 403);
    drop(guard);

    let text = captured.text();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "switchboard::sensitive")
        .collect();
    let summary: Vec<(String, String, String, String, String)> = lines
        .iter()
        .map(|l| {
            for field in ["req_id", "actor_id", "role", "route", "entity", "entity_id", "event", "result"] {
                assert!(l.get(field).is_some(), "{field} missing from {l}");
            }
            let f = |k: &str| l[k].as_str().unwrap_or_default().to_owned();
            (f("role"), f("route"), f("entity"), f("event"), f("result"))
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "client".into(),
                "POST /api/calls/{id}/siren".into(),
                "siren".into(),
                "trigger".into(),
                "ok".into()
            ),
            (
                "monitor".into(),
                "POST /api/sirens/{id}/acknowledge".into(),
                "siren".into(),
                "acknowledge".into(),
                "ok".into()
            ),
            (
                "client".into(),
                "POST /api/calls/{id}/drop".into(),
                "session".into(),
                "drop".into(),
                "denied".into()
            ),
        ]
    );
    assert!(lines.iter().all(|l| !l["req_id"].as_str().unwrap_or_default().is_empty()));
    // No phone number, token or URL anywhere in what was logged.
    for secret in [
        crate::sessions::CLIENT_NUMBER,
        crate::sessions::READER_NUMBER,
        s.client.as_str(),
        s.monitor.as_str(),
        "https://",
    ] {
        assert!(!text.contains(secret), "the logs contain {secret}");
    }
}

#[sqlx::test]
async fn without_a_monitor_url_siren_notifications_are_parked_not_dropped(pool: PgPool) {
    let s = Sessions::new(pool.clone()).await;
    let id = s.book("ord_parked").await;
    let (status, _) = raise(&s, &id, &s.client, "quality_issue").await;
    assert_eq!(status, 201);
    deliver(&s.app).await;
    let parked: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, status FROM outbox_message WHERE destination = 'monitor'")
            .fetch_all(&pool)
            .await
            .expect("outbox");
    assert_eq!(parked, [("siren.triggered".to_owned(), "parked".to_owned())]);
}

/// Stands in for whatever could keep a row from moving or from being read again (a concurrent
/// writer, a policy): a trigger in the test's database, created as its owner. The SQL is the
/// test's own constants (no input reaches it).
pub async fn install_trigger(pool: &PgPool, table: &str, when: &str, body: &str) {
    let function = format!(
        "CREATE FUNCTION test_interfere() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$ BEGIN {body} END $$"
    );
    sqlx::query(sqlx::AssertSqlSafe(function)).execute(pool).await.expect("function");
    let trigger = format!(
        "CREATE TRIGGER test_interfere {when} ON {table} FOR EACH ROW EXECUTE FUNCTION test_interfere()"
    );
    sqlx::query(sqlx::AssertSqlSafe(trigger)).execute(pool).await.expect("trigger");
}

/// Issue 12 (typed errors, not `RowNotFound`): a siren whose conditional update finds no row is
/// 409 `invalid_transition`; one gone right after it moved is answered as it moved (the update
/// returns it: nothing is read again). Both were a 500 or could have been.
#[sqlx::test]
async fn a_siren_that_does_not_move_is_409_and_one_gone_after_its_move_is_answered_as_moved(pool: PgPool) {
    let (s, _) = setup(pool.clone()).await;
    let id = s.book("ord_typed").await;
    let (_, siren) = raise(&s, &id, &s.client, "quality_issue").await;
    let siren_id = siren["id"].as_str().expect("id").to_owned();
    install_trigger(&pool, "siren", "BEFORE UPDATE", "RETURN NULL;").await;
    let (status, refused) = act(&s, &siren_id, "acknowledge", None).await;
    assert_eq!((status, refused["code"].as_str()), (409, Some("invalid_transition")), "{refused}");

    sqlx::query("DROP TRIGGER test_interfere ON siren").execute(&pool).await.expect("dropped");
    sqlx::query("DROP FUNCTION test_interfere").execute(&pool).await.expect("dropped");
    install_trigger(&pool, "siren", "AFTER UPDATE", "DELETE FROM siren WHERE id = NEW.id; RETURN NULL;")
        .await;
    let (status, moved) = act(&s, &siren_id, "acknowledge", None).await;
    assert_eq!((status, moved["status"].as_str()), (200, Some("acknowledged")), "{moved}");
}

/// An emergency gone under the escalation's lock fails the round loudly (naming the siren), and
/// nobody is texted: the round's transaction is rolled back.
#[sqlx::test]
async fn an_escalation_whose_siren_is_gone_fails_the_round_and_texts_nobody(pool: PgPool) {
    let (s, _) = setup(pool.clone()).await;
    let id = s.book("ord_gone").await;
    let (_, siren) = raise(&s, &id, &s.client, "emergency").await;
    let siren_id = siren["id"].as_str().expect("id").to_owned();
    install_trigger(&pool, "siren", "BEFORE UPDATE", "RETURN NULL;").await;
    s.clock.advance(chrono::Duration::seconds(121));
    let error = s.app.worker("siren-escalation").run_once().await.expect_err("the round fails");
    assert!(error.to_string().contains(&siren_id), "{error}");
    for _ in 0..3 {
        deliver(&s.app).await;
        s.clock.advance(chrono::Duration::seconds(1));
    }
    assert_eq!((texts_to(&s, OFFICER_1), texts_to(&s, OFFICER_2)), (0, 0));
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_event WHERE action = 'SIREN_ESCALATED'")
            .fetch_one(&pool)
            .await
            .expect("audit");
    assert_eq!(audited, 0);
}

/// The audit data of `action` on the siren, oldest first.
async fn audited(pool: &PgPool, siren: &str, action: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT data FROM audit_event WHERE entity_type = 'siren' AND entity_id = $1 AND action = $2
         ORDER BY sequence",
    )
    .bind(siren)
    .bind(action)
    .fetch_all(pool)
    .await
    .expect("audit")
}

/// The notifications of `kind` the monitor team received.
fn notified(monitor: &Receiver, kind: &str) -> Vec<Value> {
    monitor
        .requests
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, body)| serde_json::from_slice::<Value>(body).expect("json"))
        .filter(|b| b["type"] == kind)
        .collect()
}

/// Raises an emergency, lets it go unacknowledged past the tenant's delay (120 s) and runs the
/// escalation and the outbox: the siren's id.
async fn escalate_an_emergency(
    s: &Sessions,
    order: &str,
    before: impl std::future::Future<Output = ()>,
) -> String {
    let id = s.book(order).await;
    let (status, siren) = raise(s, &id, &s.client, "emergency").await;
    assert_eq!(status, 201, "{siren}");
    before.await;
    s.clock.advance(chrono::Duration::seconds(121));
    assert_eq!(s.app.worker("siren-escalation").run_once().await.expect("round"), 1);
    for _ in 0..4 {
        deliver(&s.app).await;
        s.clock.advance(chrono::Duration::seconds(1));
    }
    siren["id"].as_str().expect("id").to_owned()
}

#[sqlx::test]
async fn an_escalation_with_no_duty_officers_texts_nobody_and_says_why(pool: PgPool) {
    let (s, monitor) = setup(pool.clone()).await;
    let response = s.app.patch_json("/api/tenants/tarot", &s.root, json!({"duty_officers": []})).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
    let siren_id = escalate_an_emergency(&s, "ord_no_officers", async {}).await;
    assert!(s.fake.creates().iter().all(|(kind, _)| kind != "message"), "nobody was texted");
    let escalated = audited(&pool, &siren_id, "SIREN_ESCALATED").await;
    assert_eq!(escalated.len(), 1, "{escalated:?}");
    assert_eq!(escalated[0]["problem"], "the tenant has no duty officers", "{escalated:?}");
    assert_eq!(escalated[0]["officers_texted"], 0);
    let sent = notified(&monitor, "siren.escalated");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["data"]["id"], siren_id.as_str());
    assert_eq!(sent[0]["data"]["problem"], "the tenant has no duty officers", "{sent:?}");
    assert_eq!(sent[0]["data"]["officers_texted"], 0);
}

#[sqlx::test]
async fn an_escalation_with_no_number_to_text_from_texts_nobody_and_says_why(pool: PgPool) {
    let (s, monitor) = setup(pool.clone()).await;
    // The tenant's only number is removed after the siren was raised.
    let remove = async {
        let path =
            format!("/api/tenants/tarot/numbers/{}", crate::sessions::BUSINESS_NUMBER.replace('+', "%2B"));
        assert_eq!(s.app.delete_auth(&path, &s.root).await.status(), 204);
    };
    let siren_id = escalate_an_emergency(&s, "ord_no_number", remove).await;
    assert_eq!((texts_to(&s, OFFICER_1), texts_to(&s, OFFICER_2)), (0, 0));
    assert!(s.fake.creates().iter().all(|(kind, _)| kind != "message"), "nobody was texted");
    let problem = "the tenant has no active primary number to text from";
    let escalated = audited(&pool, &siren_id, "SIREN_ESCALATED").await;
    assert_eq!(escalated.len(), 1, "{escalated:?}");
    assert_eq!(escalated[0]["problem"], problem, "{escalated:?}");
    assert_eq!(escalated[0]["officers_texted"], 0);
    let sent = notified(&monitor, "siren.escalated");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["data"]["problem"], problem, "{sent:?}");
}

#[sqlx::test]
async fn an_escalation_that_texts_the_officers_names_no_problem(pool: PgPool) {
    let (s, _) = setup(pool.clone()).await;
    let siren_id = escalate_an_emergency(&s, "ord_all_well", async {}).await;
    assert_eq!((texts_to(&s, OFFICER_1), texts_to(&s, OFFICER_2)), (1, 1));
    let escalated = audited(&pool, &siren_id, "SIREN_ESCALATED").await;
    assert_eq!(escalated.len(), 1, "{escalated:?}");
    assert_eq!(escalated[0]["problem"], Value::Null, "{escalated:?}");
    assert_eq!(escalated[0]["officers_texted"], 2);
}

#[sqlx::test]
async fn a_false_alarm_is_audited_as_such_with_who_what_it_was_and_the_note(pool: PgPool) {
    let (s, monitor) = setup(pool.clone()).await;
    let id = s.book("ord_false_alarm").await;

    // Acknowledged, then closed as a false alarm with a note.
    let (_, siren) = raise(&s, &id, &s.client, "inappropriate_behavior").await;
    let first = siren["id"].as_str().expect("id").to_owned();
    let (status, _) = act(&s, &first, "acknowledge", None).await;
    assert_eq!(status, 200);
    let body = json!({"resolution": "false_alarm", "note": "pressed by mistake"});
    let (status, closed) = act(&s, &first, "resolve", Some(body)).await;
    assert_eq!((status, closed["status"].as_str()), (200, Some("false_alarm")), "{closed}");

    // Straight from active, without a note.
    let (_, siren) = raise(&s, &id, &s.reader, "technical_problem").await;
    let second = siren["id"].as_str().expect("id").to_owned();
    let (status, closed) = act(&s, &second, "resolve", Some(json!({"resolution": "false_alarm"}))).await;
    assert_eq!((status, closed["status"].as_str()), (200, Some("false_alarm")), "{closed}");

    for (siren, steps, was, note) in [
        (
            &first,
            vec!["SIREN_TRIGGERED", "SIREN_ACKNOWLEDGED", "SIREN_FALSE_ALARM"],
            "acknowledged",
            json!("pressed by mistake"),
        ),
        (&second, vec!["SIREN_TRIGGERED", "SIREN_FALSE_ALARM"], "active", Value::Null),
    ] {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT action, actor_kind FROM audit_event WHERE entity_type = 'siren' AND entity_id = $1
             ORDER BY sequence",
        )
        .bind(siren)
        .fetch_all(&pool)
        .await
        .expect("audit");
        let actions: Vec<&str> = rows.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(actions, steps, "not audited as resolved");
        assert!(rows.iter().all(|(_, kind)| kind == "operator"));
        let data = audited(&pool, siren, "SIREN_FALSE_ALARM").await;
        assert_eq!(data.len(), 1);
        assert_eq!(
            (&data[0]["was"], &data[0]["status"], &data[0]["role"], &data[0]["note"]),
            (&json!(was), &json!("false_alarm"), &json!("monitor"), &note),
            "{data:?}"
        );
    }

    // The monitor team hears each as `siren.resolved`, status `false_alarm`.
    deliver(&s.app).await;
    let resolved = notified(&monitor, "siren.resolved");
    for siren in [&first, &second] {
        let heard: Vec<&Value> = resolved.iter().filter(|n| n["data"]["id"] == siren.as_str()).collect();
        assert_eq!(heard.len(), 1, "{resolved:?}");
        assert_eq!(heard[0]["data"]["status"], "false_alarm");
    }
}

#[sqlx::test]
async fn the_siren_list_is_oldest_first_on_one_page_and_across_pages(pool: PgPool) {
    let (s, _) = setup(pool).await;
    let id = s.book("ord_listed").await;
    let mut raised = Vec::new();
    let alert_types = ["quality_issue", "technical_problem", "inappropriate_behavior", "quality_issue"];
    for alert_type in alert_types {
        let (status, siren) = raise(&s, &id, &s.client, alert_type).await;
        assert_eq!(status, 201, "{siren}");
        raised.push(siren["id"].as_str().expect("id").to_owned());
        s.clock.advance(chrono::Duration::seconds(30));
    }
    let ids_of = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let (status, page) = s.call(Method::GET, "/api/sirens", &s.monitor, None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids_of(&page), raised, "oldest first");

    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let mut path = "/api/sirens?limit=2".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = s.call(Method::GET, &path, &s.monitor, None).await;
        assert_eq!(status, 200, "{page}");
        paged.extend(ids_of(&page));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(paged, raised, "the same order page by page");
}

/// The escalation texts of `siren` in the outbox: their statuses and last errors, oldest first.
async fn escalation_texts(pool: &PgPool, siren: &str) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT status, last_error FROM outbox_message
         WHERE owner_domain = 'sirens' AND owner_id = $1 AND kind = 'twilio.message'
         ORDER BY created_at, idempotency_key",
    )
    .bind(siren)
    .fetch_all(pool)
    .await
    .expect("outbox")
}

#[sqlx::test]
async fn an_escalation_text_not_yet_sent_is_cancelled_when_the_siren_is_acknowledged(pool: PgPool) {
    let (s, _) = setup(pool.clone()).await;
    let id = s.book("ord_cancelled").await;
    let (status, siren) = raise(&s, &id, &s.client, "emergency").await;
    assert_eq!(status, 201, "{siren}");
    let siren_id = siren["id"].as_str().expect("id").to_owned();

    // Escalated: a text per officer queued, none delivered yet.
    s.clock.advance(chrono::Duration::seconds(121));
    assert_eq!(s.app.worker("siren-escalation").run_once().await.expect("round"), 1);
    let queued = escalation_texts(&pool, &siren_id).await;
    assert_eq!(queued.len(), 2, "{queued:?}");
    assert!(queued.iter().all(|(status, _)| status == "pending"), "{queued:?}");

    // Acknowledged before the outbox ran.
    let (status, acked) = act(&s, &siren_id, "acknowledge", None).await;
    assert_eq!((status, acked["status"].as_str()), (200, Some("acknowledged")), "{acked}");
    for _ in 0..4 {
        deliver(&s.app).await;
        s.clock.advance(chrono::Duration::seconds(1));
    }

    assert_eq!((texts_to(&s, OFFICER_1), texts_to(&s, OFFICER_2)), (0, 0));
    assert!(s.fake.creates().iter().all(|(kind, _)| kind != "message"), "nobody was texted");
    let ended = escalation_texts(&pool, &siren_id).await;
    assert_eq!(
        ended,
        vec![
            ("cancelled".to_owned(), Some("no longer wanted".to_owned())),
            ("cancelled".to_owned(), Some("no longer wanted".to_owned())),
        ]
    );
}

#[sqlx::test]
async fn the_escalation_text_comes_from_the_primary_number_and_carries_no_personal_data(pool: PgPool) {
    let (s, _) = setup(pool.clone()).await;
    let siren_id = escalate_an_emergency(&s, "ord_from_primary", async {}).await;
    let texts: Vec<(String, String, String)> = s
        .fake
        .creates()
        .iter()
        .filter(|(kind, _)| kind == "message")
        .map(|(_, params)| {
            let f = |k: &str| params.get(k).and_then(|v| v.first()).cloned().unwrap_or_default();
            (f("To"), f("From"), f("Body"))
        })
        .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    let body = format!(
        "EMERGENCY siren on call order ord_from_primary not acknowledged after 121s. Siren {siren_id}."
    );
    for officer in [OFFICER_1, OFFICER_2] {
        let sent: Vec<&(String, String, String)> = texts.iter().filter(|(to, ..)| to == officer).collect();
        assert_eq!(sent.len(), 1, "{texts:?}");
        assert_eq!(sent[0].1, crate::sessions::BUSINESS_NUMBER, "from the tenant's primary number");
        assert_eq!(sent[0].2, body);
    }
    for (_, _, text) in &texts {
        for personal in [
            crate::sessions::CLIENT_NUMBER,
            crate::sessions::READER_NUMBER,
            "the client is distressed",
            "u_1",
            "u_2",
        ] {
            assert!(!text.contains(personal), "the text contains {personal}: {text}");
        }
    }
}
