//! Outbound policies (seed 003, part 2): the calling window in the lead's timezone, retries by
//! outcome (each attempt its own create), answering machines, and the do-not-call list.

use crate::fixture::{PUBLIC, deliver, post_signed};
use crate::helpers::ACCOUNT_SID;
use crate::outbound_support::{ACME_FROM, O, setup};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
}

/// Creates and starts a run with `extra` merged into the body, and uploads `leads`.
async fn run_with(o: &O, extra: Value, leads: Value) -> String {
    let mut body =
        json!({"name": "Policies", "from_number": ACME_FROM, "script": {"say": "Hello from Acme."}});
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let response = o.app.post_json("/api/outbound/runs", &o.acme, body).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
    let run: Value = response.json().await.expect("json");
    let id = run["id"].as_str().expect("id").to_owned();
    let response = o.upload(&o.acme, &id, leads, false).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
    o.start(&o.acme, &id).await;
    id
}

async fn jobs(o: &O, run: &str) -> Vec<Value> {
    let page: Value =
        o.app.get_auth(&format!("/api/outbound/runs/{run}/jobs"), &o.acme).await.json().await.expect("json");
    page["items"].as_array().expect("items").clone()
}

async fn job(o: &O, run: &str, lead: &str) -> Value {
    jobs(o, run).await.into_iter().find(|j| j["lead_id"] == lead).expect("the lead's job")
}

/// Call creates to `number` at the fake.
fn calls_to(o: &O, number: &str) -> Vec<std::collections::HashMap<String, Vec<String>>> {
    o.fake
        .creates()
        .into_iter()
        .filter(|(k, f)| k == "call" && f["To"][0] == number)
        .map(|(_, f)| f)
        .collect()
}

/// Ends the live call to `number` with `status`.
async fn end_call(o: &O, number: &str, status: &str) {
    let live = o.live_at_fake().await;
    let (token, sid, to) = live.iter().find(|(_, _, to)| to == number).expect("a live call to the number");
    o.callback(token, sid, to, ACME_FROM, status).await;
}

/// The TwiML the voice webhook answers the live call to `number` with, given `answered_by`.
async fn voice(o: &O, number: &str, answered_by: Option<&str>) -> String {
    let live = o.live_at_fake().await;
    let (token, sid, to) = live.iter().find(|(_, _, to)| to == number).expect("a live call to the number");
    let create =
        calls_to(o, number).into_iter().find(|f| f["Url"][0].contains(token.as_str())).expect("create");
    let path = create["Url"][0].strip_prefix(PUBLIC).expect("our url").to_owned();
    let mut params = vec![
        ("CallSid", sid.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("From", ACME_FROM),
        ("To", to.as_str()),
        ("CallStatus", "in-progress"),
        ("Direction", "outbound-api"),
    ];
    if let Some(a) = answered_by {
        params.push(("AnsweredBy", a));
    }
    let response = post_signed(&o.app, &path, &params).await;
    assert_eq!(response.status(), 200);
    response.text().await.expect("body")
}

fn lead(id: &str, number: &str, timezone: Option<&str>) -> Value {
    let mut lead = json!({"lead_id": id, "number": number});
    if let Some(tz) = timezone {
        lead["timezone"] = tz.into();
    }
    lead
}

#[sqlx::test]
async fn a_lead_in_another_timezone_is_deferred_then_dialled_at_the_opening(pool: PgPool) {
    let o = setup(pool).await;
    // 15:00 UTC: 10:00 in New York (open), midnight in Tokyo (closed until 09:00 JST = 00:00 UTC).
    let window = json!({"calling_window": {"start": "09:00", "end": "20:00", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}});
    let leads = json!({"leads": [lead("NY", "+14155550001", Some("America/New_York")),
                                 lead("TYO", "+14155550002", Some("Asia/Tokyo"))]});
    let run = run_with(&o, window, leads).await;
    let view = o.run(&o.acme, &run).await;
    assert_eq!(view["calling_window"]["start"], "09:00");
    o.tick().await;
    assert_eq!(calls_to(&o, "+14155550001").len(), 1);
    assert!(calls_to(&o, "+14155550002").is_empty(), "never called outside its window");
    let tokyo = job(&o, &run, "TYO").await;
    assert_eq!(tokyo["status"], "deferred");
    assert_eq!(tokyo["next_attempt_at"], "2026-11-24T00:00:00Z");
    assert_eq!(tokyo["attempts"], 0);
    end_call(&o, "+14155550001", "completed").await;

    o.clock.set(at("2026-11-23T23:59:00Z"));
    o.tick().await;
    assert!(calls_to(&o, "+14155550002").is_empty());
    assert_eq!(o.run(&o.acme, &run).await["status"], "running", "a deferred lead keeps the run open");

    o.clock.set(at("2026-11-24T00:00:00Z"));
    o.tick().await;
    assert_eq!(calls_to(&o, "+14155550002").len(), 1, "dialled at the opening");
    end_call(&o, "+14155550002", "completed").await;
    o.tick().await;
    let view = o.run(&o.acme, &run).await;
    assert_eq!(view["status"], "completed");
    assert_eq!(view["completed"], 2);
}

#[sqlx::test]
async fn without_a_window_the_business_hours_apply_in_the_business_timezone(pool: PgPool) {
    let o = setup(pool).await;
    // acme is in New York; 15:00 UTC Monday is 10:00 there. Its hours open at 11:00.
    let tenant: String = sqlx::query_scalar("SELECT id::text FROM tenant WHERE slug = 'acme'")
        .fetch_one(&o.app.state.db)
        .await
        .expect("tenant");
    let hours = json!({"business_hours": {"mon": [["11:00", "17:00"]], "tue": [["11:00", "17:00"]]}});
    let response = o.app.patch_json(&format!("/api/tenants/{tenant}"), &o.root, hours).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
    let run = run_with(&o, json!({}), json!({"leads": [lead("A", "+14155550001", None)]})).await;
    o.tick().await;
    assert!(calls_to(&o, "+14155550001").is_empty());
    assert_eq!(job(&o, &run, "A").await["next_attempt_at"], "2026-11-23T16:00:00Z");
    o.clock.set(at("2026-11-23T16:00:00Z"));
    o.tick().await;
    assert_eq!(calls_to(&o, "+14155550001").len(), 1);
}

#[sqlx::test]
async fn a_retry_that_would_fall_outside_the_window_waits_for_it(pool: PgPool) {
    let o = setup(pool).await;
    let policy = json!({
        "calling_window": {"start": "09:00", "end": "17:00"},
        "retry": {"busy": {"after_mins": 120, "max": 1}}
    });
    let run =
        run_with(&o, policy, json!({"leads": [lead("L", "+14155550001", Some("Europe/London"))]})).await;
    o.tick().await;
    end_call(&o, "+14155550001", "busy").await;
    let retried = job(&o, &run, "L").await;
    assert_eq!(
        (retried["status"].as_str(), retried["last_outcome"].as_str(), retried["attempts"].as_i64()),
        (Some("deferred"), Some("busy"), Some(1))
    );
    assert_eq!(retried["next_attempt_at"], "2026-11-23T17:00:00Z");
    // 17:00 in London: the window has closed; the retry waits for tomorrow's opening.
    o.clock.set(at("2026-11-23T17:00:00Z"));
    o.tick().await;
    assert_eq!(calls_to(&o, "+14155550001").len(), 1);
    assert_eq!(job(&o, &run, "L").await["next_attempt_at"], "2026-11-24T09:00:00Z");
    o.clock.set(at("2026-11-24T09:00:00Z"));
    o.tick().await;
    assert_eq!(calls_to(&o, "+14155550001").len(), 2, "retried at the opening");
    end_call(&o, "+14155550001", "completed").await;
    let done = job(&o, &run, "L").await;
    assert_eq!((done["status"].as_str(), done["attempts"].as_i64()), (Some("completed"), Some(2)));
}

#[sqlx::test]
async fn busy_and_no_answer_are_retried_up_to_max_and_failed_never(pool: PgPool) {
    let o = setup(pool).await;
    let policy = json!({"retry": {"busy": {"after_mins": 10, "max": 2}, "no_answer": {"after_mins": 60, "max": 1}, "failed": {"max": 0}}});
    let (busy, quiet, broken) = ("+14155550001", "+14155550002", "+14155550003");
    let leads = json!({"leads": [lead("B", busy, None), lead("N", quiet, None), lead("F", broken, None)]});
    let run = run_with(&o, policy, leads).await;
    assert_eq!(o.run(&o.acme, &run).await["retry"]["busy"], json!({"after_mins": 10, "max": 2}));
    o.tick().await;
    end_call(&o, busy, "busy").await;
    end_call(&o, quiet, "no-answer").await;
    end_call(&o, broken, "failed").await;
    let view = o.run(&o.acme, &run).await;
    assert_eq!((view["deferred"].as_i64(), view["failed"].as_i64()), (Some(2), Some(1)));
    assert_eq!(job(&o, &run, "F").await["outcome"], "failed");

    // Not before the delay.
    o.clock.advance(Duration::minutes(9));
    o.tick().await;
    assert_eq!(calls_to(&o, busy).len(), 1);
    for retry in 2..=3 {
        o.clock.advance(Duration::minutes(if retry == 2 { 1 } else { 10 }));
        o.tick().await;
        o.tick().await;
        assert_eq!(calls_to(&o, busy).len(), retry, "busy retry {retry} placed once");
        end_call(&o, busy, "busy").await;
    }
    let final_busy = job(&o, &run, "B").await;
    assert_eq!(
        (final_busy["status"].as_str(), final_busy["outcome"].as_str(), final_busy["attempts"].as_i64()),
        (Some("failed"), Some("busy"), Some(3))
    );
    // Each attempt was its own create with its own callback token.
    let tokens: std::collections::HashSet<String> =
        calls_to(&o, busy).iter().map(|f| f["StatusCallback"][0].clone()).collect();
    assert_eq!(tokens.len(), 3);

    o.clock.set(at("2026-11-23T16:00:00Z"));
    o.tick().await;
    assert_eq!(calls_to(&o, quiet).len(), 2);
    end_call(&o, quiet, "no-answer").await;
    o.clock.advance(Duration::hours(5));
    o.tick().await;
    assert_eq!(calls_to(&o, quiet).len(), 2, "no_answer: max 1 retry");
    assert_eq!(calls_to(&o, broken).len(), 1, "failed is never retried");
    let view = o.run(&o.acme, &run).await;
    assert_eq!(view["status"], "completed");
    assert_eq!(view["outcomes"], json!({"busy": 1, "no_answer": 1, "failed": 1}));
    assert_eq!(o.notifications("outbound.call.completed").await.len(), 3, "one notification per lead");
}

#[sqlx::test]
async fn a_late_callback_of_an_earlier_attempt_changes_nothing(pool: PgPool) {
    let o = setup(pool).await;
    let policy = json!({"retry": {"busy": {"after_mins": 0, "max": 1}}});
    let run = run_with(&o, policy, json!({"leads": [lead("B", "+14155550001", None)]})).await;
    o.tick().await;
    let (token, sid, to) = o.live_at_fake().await.remove(0);
    o.callback(&token, &sid, &to, ACME_FROM, "busy").await;
    o.tick().await;
    assert_eq!(calls_to(&o, "+14155550001").len(), 2);
    // The first attempt's busy, repeated: the second attempt stays live.
    let path = format!("/webhooks/twilio/calls/events?attempt={token}");
    let params = [
        ("CallSid", sid.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("From", ACME_FROM),
        ("To", to.as_str()),
        ("CallStatus", "busy"),
        ("Direction", "outbound-api"),
    ];
    assert_eq!(post_signed(&o.app, &path, &params).await.status(), 200);
    assert_eq!(job(&o, &run, "B").await["status"], "in_progress");
}

#[sqlx::test]
async fn hangup_policy_hangs_up_on_machines_and_faxes_and_unknown_is_a_person(pool: PgPool) {
    let o = setup(pool).await;
    let verdicts = [("human", "human"), ("machine_start", "machine"), ("fax", "fax"), ("unknown", "human")];
    let leads: Vec<Value> =
        (0..verdicts.len()).map(|i| lead(&format!("L{i}"), &format!("+1415555000{i}"), None)).collect();
    let run = run_with(&o, json!({"machine": "hangup", "max_concurrent": 3}), json!({"leads": leads})).await;
    for round in 0..2 {
        o.tick().await;
        for (i, (answered_by, _)) in verdicts.iter().enumerate() {
            let number = format!("+1415555000{i}");
            if o.live_at_fake().await.iter().all(|(_, _, to)| *to != number) {
                continue;
            }
            let create = calls_to(&o, &number).remove(0);
            assert_eq!(create["MachineDetection"], vec!["Enable".to_owned()], "round {round}");
            let twiml = voice(&o, &number, Some(answered_by)).await;
            if answered_by.starts_with("machine") || *answered_by == "fax" {
                assert!(twiml.contains("<Hangup/>") && !twiml.contains("<Say>"), "{answered_by}: {twiml}");
            } else {
                assert!(twiml.contains("<Say>Hello from Acme.</Say>"), "{answered_by}: {twiml}");
            }
            end_call(&o, &number, "completed").await;
        }
    }
    for (i, (_, outcome)) in verdicts.iter().enumerate() {
        assert_eq!(job(&o, &run, &format!("L{i}")).await["outcome"], *outcome, "lead {i}");
    }
}

#[sqlx::test]
async fn leave_message_waits_for_the_greetings_end_and_speaks(pool: PgPool) {
    let o = setup(pool).await;
    let verdicts = ["machine_end_beep", "machine_end_silence", "machine_end_other", "human", "fax"];
    let leads: Vec<Value> =
        (0..verdicts.len()).map(|i| lead(&format!("L{i}"), &format!("+1415555000{i}"), None)).collect();
    let policy = json!({"machine": {"leave_message": "Please call Acme back."}, "max_concurrent": 5});
    o.app
        .patch_json(
            &format!(
                "/api/tenants/{}",
                sqlx::query_scalar::<_, String>("SELECT id::text FROM tenant WHERE slug = 'acme'")
                    .fetch_one(&o.app.state.db)
                    .await
                    .expect("tenant")
            ),
            &o.root,
            json!({"outbound_max_concurrent": 5}),
        )
        .await;
    let run = run_with(&o, policy, json!({"leads": leads})).await;
    o.tick().await;
    for (i, answered_by) in verdicts.iter().enumerate() {
        let number = format!("+1415555000{i}");
        let create = calls_to(&o, &number).remove(0);
        assert_eq!(create["MachineDetection"], vec!["DetectMessageEnd".to_owned()]);
        let twiml = voice(&o, &number, Some(answered_by)).await;
        match *answered_by {
            "human" => assert!(twiml.contains("<Say>Hello from Acme.</Say>"), "{twiml}"),
            "fax" => assert!(twiml.contains("<Hangup/>") && !twiml.contains("<Say>"), "{twiml}"),
            _ => assert!(
                twiml.contains("<Say>Please call Acme back.</Say><Hangup/>"),
                "{answered_by}: {twiml}"
            ),
        }
        end_call(&o, &number, "completed").await;
    }
    o.tick().await;
    let view = o.run(&o.acme, &run).await;
    assert_eq!(view["outcomes"], json!({"machine": 3, "human": 1, "fax": 1}));
}

#[sqlx::test]
async fn a_twiml_url_script_gets_the_verdict_and_refuses_a_machine_policy(pool: PgPool) {
    let o = setup(pool).await;
    let body = json!({"name": "R", "from_number": ACME_FROM, "script": {"twiml_url": "https://acme.example/twiml"},
                      "machine": "hangup"});
    let response = o.app.post_json("/api/outbound/runs", &o.acme, body).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["errors"][0]["field"], "machine", "{problem}");
    let bad = json!({"name": "R", "from_number": ACME_FROM, "script": {"say": "x"},
                     "calling_window": {"start": "20:00", "end": "09:00", "days": ["funday"]},
                     "retry": {"busy": {"after_mins": -1, "max": 99}}});
    let problem: Value =
        o.app.post_json("/api/outbound/runs", &o.acme, bad).await.json().await.expect("json");
    let fields: Vec<&str> =
        problem["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(
        fields,
        vec!["calling_window.end", "calling_window.days", "retry.busy.max", "retry.busy.after_mins"],
        "{problem}"
    );

    let script = json!({"script": {"twiml_url": "https://acme.example/twiml"}});
    run_with(&o, script, json!({"leads": [lead("A", "+14155550001", None)]})).await;
    o.tick().await;
    let twiml = voice(&o, "+14155550001", Some("machine_start")).await;
    assert!(
        twiml.contains("<Redirect>https://acme.example/twiml?AnsweredBy=machine_start</Redirect>"),
        "{twiml}"
    );
}

async fn add_dnc(o: &O, token: &str, number: &str) -> reqwest::Response {
    o.app.post_json("/api/outbound/dnc", token, json!({"number": number, "reason": "asked"})).await
}

#[sqlx::test]
async fn the_dnc_list_is_admin_only_per_business_and_listed_numbers_are_never_dialled(pool: PgPool) {
    let o = setup(pool).await;
    assert_eq!(add_dnc(&o, &o.acme, "+1 (415) 555-0001").await.status(), 201);
    assert_eq!(add_dnc(&o, &o.acme, "+14155550001").await.status(), 200, "adding twice is harmless");
    assert_eq!(add_dnc(&o, &o.acme_monitor, "+14155550009").await.status(), 403);
    let empty_key = o
        .app
        .client
        .post(o.app.url("/api/outbound/dnc"))
        .bearer_auth(&o.acme)
        .header("Idempotency-Key", "")
        .json(&json!({"number": "+14155550009"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(empty_key.status(), 422, "a malformed Idempotency-Key is refused, as on every creating POST");
    let problem: Value = add_dnc(&o, &o.acme, "call me").await.json().await.expect("json");
    assert_eq!(problem["errors"][0]["field"], "number");
    let page: Value = o.app.get_auth("/api/outbound/dnc", &o.acme).await.json().await.expect("json");
    assert_eq!(page["items"][0]["number"], "+14155550001");
    let other: Value = o.app.get_auth("/api/outbound/dnc", &o.bravo).await.json().await.expect("json");
    assert_eq!(other["items"], json!([]), "another business's list is its own");
    let tenant: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenant WHERE slug = 'acme'")
        .fetch_one(&o.app.state.db)
        .await
        .expect("tenant");
    sqlx::query("INSERT INTO opt_out (tenant_id, number, source, opted_out_at) VALUES ($1, '+14155550002', 'sms', now())")
        .bind(tenant)
        .execute(&o.app.state.db)
        .await
        .expect("opt out");

    let leads = json!({"leads": [lead("D", "+14155550001", None), lead("S", "+14155550002", None),
                                 lead("OK", "+14155550003", None)]});
    let run = run_with(&o, json!({}), leads).await;
    for _ in 0..3 {
        o.tick().await;
        o.end_all(ACME_FROM, "completed").await;
    }
    assert!(calls_to(&o, "+14155550001").is_empty() && calls_to(&o, "+14155550002").is_empty());
    let dnc = job(&o, &run, "D").await;
    assert_eq!((dnc["status"].as_str(), dnc["outcome"].as_str()), (Some("skipped"), Some("do_not_call")));
    assert!(dnc["reason"].as_str().expect("reason").contains("do-not-call"));
    assert_eq!(job(&o, &run, "S").await["outcome"], "opted_out");
    let view = o.run(&o.acme, &run).await;
    assert_eq!((view["status"].as_str(), view["skipped"].as_i64()), (Some("completed"), Some(2)));

    let path = "/api/outbound/dnc/+14155550001";
    assert_eq!(o.app.delete_auth(path, &o.bravo).await.status(), 404);
    assert_eq!(o.app.delete_auth(path, &o.acme).await.status(), 204);
    assert_eq!(o.app.delete_auth(path, &o.acme).await.status(), 404);
    let audited: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, entity_id FROM audit_event WHERE entity_type = 'outbound_dnc' ORDER BY sequence",
    )
    .fetch_all(&o.app.state.db)
    .await
    .expect("events");
    let actions: Vec<&str> = audited.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, vec!["OUTBOUND_DNC_ADDED", "OUTBOUND_DNC_REMOVED"]);
    assert!(audited.iter().all(|(_, id)| !id.contains("4155550001")), "the number is masked: {audited:?}");
}

#[sqlx::test]
async fn a_deferred_lead_can_be_cancelled_and_a_cancel_ends_the_run_with_it(pool: PgPool) {
    let o = setup(pool).await;
    let window = json!({"calling_window": {"start": "09:00", "end": "10:00"}});
    let leads = json!({"leads": [lead("A", "+14155550001", Some("Etc/UTC")), lead("B", "+14155550002", Some("Etc/UTC"))]});
    let run = run_with(&o, window, leads).await;
    o.tick().await;
    let a = job(&o, &run, "A").await;
    assert_eq!(a["status"], "deferred");
    let path = format!("/api/outbound/runs/{run}/jobs/{}/cancel", a["id"].as_str().expect("id"));
    let cancelled: Value = o.app.post_json(&path, &o.acme, json!({})).await.json().await.expect("json");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(o.action(&o.acme, &run, "cancel").await.status(), 200);
    o.tick().await;
    let view = o.run(&o.acme, &run).await;
    assert_eq!((view["status"].as_str(), view["cancelled"].as_i64()), (Some("cancelled"), Some(2)));
    assert!(o.fake.creates().is_empty());
}

#[sqlx::test]
async fn a_number_listed_while_queued_is_skipped_at_delivery(pool: PgPool) {
    let o = setup(pool).await;
    let leads = json!({"leads": [lead("A", "+14155550001", None), lead("B", "+14155550002", None)]});
    let run = run_with(&o, json!({"max_concurrent": 1}), leads).await;
    // A's create waits in the outbox (the dialer ran, the outbox not yet); B waits for a slot.
    o.app.worker("outbound").run_once().await.expect("dialer round");
    assert_eq!(add_dnc(&o, &o.acme, "+14155550001").await.status(), 201);
    assert_eq!(add_dnc(&o, &o.acme, "+14155550002").await.status(), 201);
    deliver(&o.app).await;
    for _ in 0..3 {
        o.tick().await;
    }
    assert!(o.fake.creates().iter().all(|(k, _)| k != "call"), "neither number was called");
    for lead in ["A", "B"] {
        let j = job(&o, &run, lead).await;
        assert_eq!(
            (j["status"].as_str(), j["outcome"].as_str()),
            (Some("skipped"), Some("do_not_call")),
            "{lead}"
        );
    }
    assert_eq!(o.run(&o.acme, &run).await["status"], "completed");
}
