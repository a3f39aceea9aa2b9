//! Stopping runs: graceful cancel, stop-queue (with a create whose answer is lost), pause and
//! resume, one-job cancel; roles and other tenants' ids.

use crate::fake_twilio::Mode;
use crate::fixture::deliver;
use crate::outbound_support::{ACME_FROM, O, leads, setup};
use serde_json::{Value, json};
use sqlx::PgPool;

async fn running(o: &O, n: usize) -> String {
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    assert_eq!(o.upload(&o.acme, &run, leads("L", n, 100), false).await.status(), 200);
    o.start(&o.acme, &run).await;
    run
}

fn counts(view: &Value) -> [i64; 5] {
    ["queued", "in_progress", "completed", "failed", "cancelled"].map(|k| view[k].as_i64().unwrap_or(-1))
}

#[sqlx::test]
async fn cancel_lets_live_calls_finish_and_dials_nothing_new(pool: PgPool) {
    let o = setup(pool).await;
    let run = running(&o, 10).await;
    o.tick().await;
    let response = o.action(&o.acme, &run, "cancel").await;
    assert_eq!(response.status(), 200);
    let view: Value = response.json().await.expect("json");
    assert_eq!((view["status"].as_str(), view["cancel_requested"].as_bool()), (Some("running"), Some(true)));
    assert_eq!(counts(&view), [0, 3, 0, 0, 7]);
    o.tick().await;
    assert_eq!(o.creates_from(ACME_FROM).len(), 3, "no new call after cancel");
    assert_eq!(o.fake.updates().len(), 0, "live calls are not hung up");
    o.end_all(ACME_FROM, "completed").await;
    o.tick().await;
    let view = o.run(&o.acme, &run).await;
    assert_eq!(view["status"], "cancelled");
    assert_eq!(counts(&view), [0, 0, 3, 0, 7]);
    assert_eq!(view["can_cancel"], false);
    assert_eq!(o.action(&o.acme, &run, "cancel").await.status(), 409);
    let finished = o.notifications("outbound.run.finished").await;
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["status"], "cancelled");
}

#[sqlx::test]
async fn a_create_still_in_the_outbox_for_a_cancelled_job_is_never_sent(pool: PgPool) {
    let o = setup(pool).await;
    let run = running(&o, 5).await;
    // The dialer queued three creates; the outbox has not sent them yet.
    o.app.worker("outbound").run_once().await.expect("dialer");
    assert_eq!(o.live().await, 3);
    let response = o.action(&o.acme, &run, "cancel").await;
    assert_eq!(counts(&response.json().await.expect("json")), [0, 0, 0, 0, 5]);
    deliver(&o.app).await;
    assert!(o.fake.creates().is_empty(), "the withdrawn creates were dropped at delivery");
    o.tick().await;
    assert_eq!(o.run(&o.acme, &run).await["status"], "cancelled");
}

#[sqlx::test]
async fn stop_queue_cancels_the_queue_and_hangs_up_live_calls_even_one_still_in_doubt(pool: PgPool) {
    let o = setup(pool).await;
    let run = running(&o, 6).await;
    // The third create's answer is lost: its outcome is unknown when stop arrives.
    o.fake.push(Mode::Normal);
    o.fake.push(Mode::Normal);
    o.fake.push(Mode::LoseAnswer);
    o.tick().await;
    assert_eq!(o.fake.creates().len(), 3);
    let doubtful: String = sqlx::query_scalar(
        "SELECT j.attempt_token FROM outbound_job j JOIN twilio_attempt a ON a.token = j.attempt_token
         WHERE a.state = 'unknown'",
    )
    .fetch_one(&o.app.state.db)
    .await
    .expect("an attempt in doubt");

    // A monitor may pull the emergency brake.
    let response = o.app.post_json("/api/outbound/stop-queue", &o.acme_monitor, json!({"run_id": run})).await;
    assert_eq!(response.status(), 200);
    let view: Value = response.json().await.expect("json");
    assert_eq!(view["status"], "stopped");
    assert_eq!(counts(&view), [0, 3, 0, 0, 3]);
    deliver(&o.app).await;
    assert_eq!(o.fake.updates().len(), 2, "the two known calls are hung up at once");
    assert!(o.fake.updates().iter().all(|(_, f)| f["Status"] == ["completed"]));

    // The doubtful call's first callback binds its SID: it is hung up then.
    let existing = o.fake.existing.lock().expect("lock").clone();
    let (_, sid, to, _, _) = existing.last().cloned().expect("the lost call exists at Twilio");
    o.callback(&doubtful, &sid, &to, ACME_FROM, "ringing").await;
    deliver(&o.app).await;
    let hung: Vec<String> = o.fake.updates().into_iter().map(|(s, _)| s).collect();
    assert!(hung.contains(&sid), "{hung:?}");
    o.end_all(ACME_FROM, "completed").await;
    let view = o.run(&o.acme, &run).await;
    assert_eq!(counts(&view), [0, 0, 0, 0, 6]);
    assert_eq!(view["status"], "stopped");
    assert_eq!(o.fake.creates().len(), 3, "nothing dialled after stop");
}

#[sqlx::test]
async fn pause_holds_new_calls_until_resume(pool: PgPool) {
    let o = setup(pool).await;
    let run = running(&o, 6).await;
    o.tick().await;
    let response = o.action(&o.acme, &run, "pause").await;
    assert_eq!(response.json::<Value>().await.expect("json")["status"], "paused");
    assert_eq!(o.action(&o.acme, &run, "pause").await.status(), 409);
    o.end_all(ACME_FROM, "completed").await;
    o.tick().await;
    assert_eq!(o.creates_from(ACME_FROM).len(), 3, "paused: no new calls");
    let response = o.action(&o.acme, &run, "resume").await;
    assert_eq!(response.json::<Value>().await.expect("json")["status"], "running");
    o.tick().await;
    assert_eq!(o.creates_from(ACME_FROM).len(), 6);
    o.end_all(ACME_FROM, "completed").await;
    o.tick().await;
    assert_eq!(o.run(&o.acme, &run).await["status"], "completed");
    assert_eq!(o.action(&o.acme, &run, "resume").await.status(), 409);
}

#[sqlx::test]
async fn one_job_is_cancelled_queued_or_live_but_not_once_ended(pool: PgPool) {
    let o = setup(pool).await;
    let run = running(&o, 5).await;
    o.tick().await;
    let jobs: Value =
        o.app.get_auth(&format!("/api/outbound/runs/{run}/jobs"), &o.acme).await.json().await.expect("json");
    let items = jobs["items"].as_array().expect("items").clone();
    let id_of = |status: &str| {
        items.iter().find(|j| j["status"] == status).and_then(|j| j["id"].as_str()).expect("a job").to_owned()
    };
    let (queued, live) = (id_of("queued"), id_of("in_progress"));
    let cancel = |job: String| {
        let path = format!("/api/outbound/runs/{run}/jobs/{job}/cancel");
        let app = &o.app;
        let token = o.acme.clone();
        async move { app.post_json(&path, &token, json!({})).await }
    };
    let response = cancel(queued.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.expect("json")["status"], "cancelled");
    let response = cancel(live.clone()).await;
    assert_eq!(response.status(), 200);
    deliver(&o.app).await;
    let jobs: Value =
        o.app.get_auth(&format!("/api/outbound/runs/{run}/jobs"), &o.acme).await.json().await.expect("json");
    let job = jobs["items"].as_array().expect("items").iter().find(|j| j["id"] == live.as_str()).cloned();
    let sid = job.and_then(|j| j["call_sid"].as_str().map(str::to_owned)).expect("its call's sid");
    assert_eq!(o.fake.updates().iter().filter(|(s, _)| *s == sid).count(), 1, "the live call is hung up");
    o.end_all(ACME_FROM, "completed").await;
    assert_eq!(cancel(queued).await.status(), 409);
    assert_eq!(cancel(live).await.status(), 409);
    o.tick().await;
    o.end_all(ACME_FROM, "completed").await;
    o.tick().await;
    let view = o.run(&o.acme, &run).await;
    assert_eq!(view["status"], "completed");
    assert_eq!(counts(&view), [0, 0, 3, 0, 2]);
}

#[sqlx::test]
async fn another_businesss_runs_and_jobs_are_not_found_and_stay_unchanged(pool: PgPool) {
    let o = setup(pool).await;
    let run = running(&o, 4).await;
    o.tick().await;
    let job: String = sqlx::query_scalar("SELECT id::text FROM outbound_job LIMIT 1")
        .fetch_one(&o.app.state.db)
        .await
        .expect("job");
    let before = o.run(&o.acme, &run).await;
    for (method, path) in [
        ("GET", format!("/api/outbound/runs/{run}")),
        ("GET", format!("/api/outbound/runs/{run}/jobs")),
        ("POST", format!("/api/outbound/runs/{run}/leads")),
        ("POST", format!("/api/outbound/runs/{run}/start")),
        ("POST", format!("/api/outbound/runs/{run}/pause")),
        ("POST", format!("/api/outbound/runs/{run}/resume")),
        ("POST", format!("/api/outbound/runs/{run}/cancel")),
        ("POST", format!("/api/outbound/runs/{run}/jobs/{job}/cancel")),
    ] {
        let response = if method == "GET" {
            o.app.get_auth(&path, &o.bravo).await
        } else if path.ends_with("/leads") {
            o.upload(&o.bravo, &run, leads("X", 1, 900), false).await
        } else {
            o.app.post_json(&path, &o.bravo, json!({})).await
        };
        assert_eq!(response.status(), 404, "{method} {path}");
    }
    let response = o.app.post_json("/api/outbound/stop-queue", &o.bravo, json!({"run_id": run})).await;
    assert_eq!(response.status(), 404);
    let listed: Value = o.app.get_auth("/api/outbound/runs", &o.bravo).await.json().await.expect("json");
    assert_eq!(listed["items"], json!([]));
    let after = o.run(&o.acme, &run).await;
    assert_eq!(counts(&before), counts(&after));
    assert_eq!(after["status"], "running");
}

#[sqlx::test]
async fn monitors_read_and_stop_others_are_refused(pool: PgPool) {
    let o = setup(pool).await;
    let run = running(&o, 2).await;
    let monitor = &o.acme_monitor;
    assert_eq!(o.app.get_auth(&format!("/api/outbound/runs/{run}"), monitor).await.status(), 200);
    assert_eq!(o.app.get_auth("/api/outbound/runs", monitor).await.status(), 200);
    assert_eq!(o.app.get_auth(&format!("/api/outbound/runs/{run}/jobs"), monitor).await.status(), 200);
    let body = json!({"name": "x", "from_number": ACME_FROM, "script": {"say": "hi"}});
    assert_eq!(o.app.post_json("/api/outbound/runs", monitor, body).await.status(), 403);
    assert_eq!(o.upload(monitor, &run, leads("M", 1, 500), false).await.status(), 403);
    for action in ["pause", "resume", "cancel", "start"] {
        assert_eq!(o.action(monitor, &run, action).await.status(), 403, "{action}");
    }
    let acme: String = sqlx::query_scalar("SELECT id::text FROM tenant WHERE slug = 'acme'")
        .fetch_one(&o.app.state.db)
        .await
        .expect("tenant");
    let client = o.app.tenant_key(&o.root, &acme, "client").await;
    assert_eq!(o.app.get_auth(&format!("/api/outbound/runs/{run}"), &client).await.status(), 403);
    let response = o.app.post_json("/api/outbound/stop-queue", &client, json!({"run_id": run})).await;
    assert_eq!(response.status(), 403);
    assert_eq!(o.run(&o.acme, &run).await["status"], "running");
}

#[sqlx::test]
async fn every_change_is_audited_with_its_actor(pool: PgPool) {
    let o = setup(pool).await;
    let run = running(&o, 3).await;
    o.action(&o.acme, &run, "pause").await;
    o.action(&o.acme, &run, "resume").await;
    o.app.post_json("/api/outbound/stop-queue", &o.acme_monitor, json!({"run_id": run})).await;
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT action, actor_kind FROM audit_event WHERE entity_id = $1 ORDER BY sequence")
            .bind(&run)
            .fetch_all(&o.app.state.db)
            .await
            .expect("events");
    let actions: Vec<&str> = rows.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "OUTBOUND_RUN_CREATED",
            "OUTBOUND_LEADS_UPLOADED",
            "OUTBOUND_RUN_STARTED",
            "OUTBOUND_RUN_PAUSED",
            "OUTBOUND_RUN_RESUMED",
            "OUTBOUND_RUN_FINISHED",
            "OUTBOUND_RUN_STOPPED",
        ]
    );
    assert!(rows.iter().filter(|(a, _)| a != "OUTBOUND_RUN_FINISHED").all(|(_, k)| k == "operator"));
}

/// The id of the run's first job (in upload order) with `status`.
async fn first_job_in(o: &O, run: &str, status: &str) -> String {
    sqlx::query_scalar(
        "SELECT id::text FROM outbound_job WHERE run_id::text = $1 AND status = $2 ORDER BY seq LIMIT 1",
    )
    .bind(run)
    .bind(status)
    .fetch_one(&o.app.state.db)
    .await
    .expect("a job")
}

#[sqlx::test]
async fn a_create_twilio_refuses_ends_its_job_failed_and_the_run_goes_on(pool: PgPool) {
    let o = setup(pool).await;
    // Twilio refuses the first lead's number (21211: invalid 'To').
    o.fake.refuse_to.lock().expect("lock").insert("+14155550100".into(), 21211);
    let run = running(&o, 2).await;
    o.tick().await;
    assert_eq!(o.fake.creates().len(), 2, "both creates were sent");
    // The next round settles the refused create's slot.
    o.tick().await;
    let (status, outcome, reason): (String, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT status, outcome, reason FROM outbound_job WHERE run_id::text = $1 AND lead_id = 'L0'",
    )
    .bind(&run)
    .fetch_one(&o.app.state.db)
    .await
    .expect("job");
    assert_eq!(
        (status.as_str(), outcome.as_deref(), reason.as_deref()),
        ("failed", Some("failed"), Some("create_refused"))
    );
    let view = o.run(&o.acme, &run).await;
    assert_eq!(counts(&view), [0, 1, 0, 1, 0]);
    assert_eq!(view["outcomes"]["failed"], 1, "{view}");
    assert_eq!(view["status"], "running");
    let jobs: Value = o
        .app
        .get_auth(&format!("/api/outbound/runs/{run}/jobs?status=failed"), &o.acme)
        .await
        .json()
        .await
        .expect("json");
    let failed = jobs["items"].as_array().expect("items").clone();
    assert_eq!(failed.len(), 1, "{jobs}");
    assert_eq!(
        (failed[0]["lead_id"].as_str(), failed[0]["outcome"].as_str(), failed[0]["reason"].as_str()),
        (Some("L0"), Some("failed"), Some("create_refused"))
    );

    // The other lead's call ends; the run completes with one failed job, the refused one never
    // created again.
    o.end_all(ACME_FROM, "completed").await;
    o.tick().await;
    let view = o.run(&o.acme, &run).await;
    assert_eq!(view["status"], "completed");
    assert_eq!(counts(&view), [0, 0, 1, 1, 0]);
    let refused = o.creates_from(ACME_FROM).into_iter().filter(|to| to == "+14155550100").count();
    assert_eq!(refused, 1, "a refused create is not sent again");
}

#[sqlx::test]
async fn cancelling_a_run_is_audited_once_and_each_cancelled_job_on_its_own(pool: PgPool) {
    let o = setup(pool).await;
    let run = running(&o, 6).await;
    // The dialer took three jobs; their creates are still in the outbox.
    o.app.worker("outbound").run_once().await.expect("dialer");
    assert_eq!(o.live().await, 3);
    let queued = first_job_in(&o, &run, "queued").await;
    let live = first_job_in(&o, &run, "in_progress").await;
    for job in [&queued, &live] {
        let path = format!("/api/outbound/runs/{run}/jobs/{job}/cancel");
        let response = o.app.post_json(&path, &o.acme, json!({})).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.json::<Value>().await.expect("json")["status"], "cancelled");
    }
    let response = o.action(&o.acme, &run, "cancel").await;
    assert_eq!(response.status(), 200);
    assert_eq!(counts(&response.json().await.expect("json")), [0, 0, 0, 0, 6]);
    deliver(&o.app).await;
    assert!(o.fake.creates().is_empty(), "the withdrawn creates were never sent");
    o.tick().await;
    assert_eq!(o.run(&o.acme, &run).await["status"], "cancelled");

    let rows: Vec<(String, String, String, String, Value)> = sqlx::query_as(
        "SELECT action, entity_type, entity_id, actor_kind, data FROM audit_event
         WHERE action IN ('OUTBOUND_RUN_CANCEL_REQUESTED', 'OUTBOUND_JOB_CANCELLED') ORDER BY sequence",
    )
    .fetch_all(&o.app.state.db)
    .await
    .expect("events");
    let operator = "operator".to_owned();
    assert_eq!(
        rows,
        vec![
            (
                "OUTBOUND_JOB_CANCELLED".to_owned(),
                "outbound_job".to_owned(),
                queued.clone(),
                operator.clone(),
                json!({"run_id": run, "how": "queued"}),
            ),
            (
                "OUTBOUND_JOB_CANCELLED".to_owned(),
                "outbound_job".to_owned(),
                live.clone(),
                operator.clone(),
                json!({"run_id": run, "how": "withdrawn"}),
            ),
            (
                "OUTBOUND_RUN_CANCEL_REQUESTED".to_owned(),
                "outbound_run".to_owned(),
                run.clone(),
                operator,
                json!({"queued_cancelled": 2, "withdrawn": 2}),
            ),
        ],
        "one event per job cancelled on its own, one for the run (the jobs it cancelled are counted in it)"
    );
}

const AGENT: &str = "+12025550111";
const AGENT_LEG: &str = "CA000000000000000000000000000a9e01";
const REDIALLED_AGENT_LEG: &str = "CA000000000000000000000000000a9e02";

/// A status callback of a `connect` script's agent leg, a child of `parent`: with the parent
/// call's attempt token, or without one (found through its parent).
async fn agent_leg_callback(o: &O, token: Option<&str>, sid: &str, parent: &str, status: &str) {
    let path = match token {
        Some(token) => format!("/webhooks/twilio/calls/events?attempt={token}"),
        None => "/webhooks/twilio/calls/events".to_owned(),
    };
    let params = [
        ("CallSid", sid),
        ("ParentCallSid", parent),
        ("AccountSid", crate::helpers::ACCOUNT_SID),
        ("From", ACME_FROM),
        ("To", AGENT),
        ("CallStatus", status),
        ("Direction", "outbound-dial"),
    ];
    assert_eq!(crate::fixture::post_signed(&o.app, &path, &params).await.status(), 200, "{sid} {status}");
}

/// The job dialled with attempt `token`: (status, outcome, call_sid, attempts).
async fn job_of_attempt(o: &O, token: &str) -> (String, Option<String>, Option<String>, i32) {
    sqlx::query_as("SELECT status, outcome, call_sid, attempts FROM outbound_job WHERE attempt_token = $1")
        .bind(token)
        .fetch_one(&o.app.state.db)
        .await
        .expect("job")
}

#[sqlx::test]
async fn a_connect_agent_legs_status_changes_nothing_and_frees_no_slot(pool: PgPool) {
    let o = setup(pool).await;
    let body = json!({"name": "Agents", "from_number": ACME_FROM, "script": {"connect": AGENT},
        "max_concurrent": 1});
    let response = o.app.post_json("/api/outbound/runs", &o.acme, body).await;
    assert_eq!(response.status(), 201);
    let run = response.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    assert_eq!(o.upload(&o.acme, &run, leads("C", 2, 200), false).await.status(), 200);
    o.start(&o.acme, &run).await;
    o.tick().await;
    assert_eq!(o.creates_from(ACME_FROM).len(), 1, "one slot: one call");
    let (token, parent, to) = o.live_at_fake().await.into_iter().next().expect("the lead's call");
    o.callback(&token, &parent, &to, ACME_FROM, "in-progress").await;
    let job = job_of_attempt(&o, &token).await;
    assert_eq!(job.0, "in_progress");
    let view = o.run(&o.acme, &run).await;
    assert_eq!(counts(&view), [1, 1, 0, 0, 0]);

    // The agent is dialled, answers and hangs up: callbacks of the child leg, with the parent's
    // token and without one.
    for status in ["ringing", "in-progress", "completed"] {
        agent_leg_callback(&o, Some(token.as_str()), AGENT_LEG, &parent, status).await;
    }
    for status in ["ringing", "completed"] {
        agent_leg_callback(&o, None, REDIALLED_AGENT_LEG, &parent, status).await;
    }
    o.tick().await;
    assert_eq!(job_of_attempt(&o, &token).await, job, "the job did not move");
    assert_eq!(o.live().await, 1, "the slot is still held");
    assert_eq!(counts(&o.run(&o.acme, &run).await), counts(&view));
    assert_eq!(o.creates_from(ACME_FROM).len(), 1, "no slot freed: the second lead waits");

    // The parent's end ends the job and frees the slot.
    o.callback(&token, &parent, &to, ACME_FROM, "completed").await;
    let (status, outcome, sid, _) = job_of_attempt(&o, &token).await;
    assert_eq!(
        (status.as_str(), outcome.as_deref(), sid.as_deref()),
        ("completed", Some("answered"), Some(parent.as_str()))
    );
    o.tick().await;
    assert_eq!(o.creates_from(ACME_FROM).len(), 2, "the freed slot dials the second lead");
}

/// `action` on `run` is refused: 409 `invalid_transition`.
async fn refused(o: &O, run: &str, action: &str) {
    let response = o.action(&o.acme, run, action).await;
    assert_eq!(response.status(), 409, "{action}");
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "invalid_transition", "{action}: {problem}");
}

#[sqlx::test]
async fn a_run_transition_that_does_not_apply_is_409_invalid_transition(pool: PgPool) {
    let o = setup(pool).await;
    let run = running(&o, 2).await;
    for action in ["start", "resume"] {
        refused(&o, &run, action).await;
    }
    assert_eq!(o.run(&o.acme, &run).await["status"], "running");
    assert_eq!(o.action(&o.acme, &run, "pause").await.status(), 200);
    for action in ["pause", "start"] {
        refused(&o, &run, action).await;
    }
    assert_eq!(o.run(&o.acme, &run).await["status"], "paused");
    let stop = json!({"run_id": run});
    assert_eq!(o.app.post_json("/api/outbound/stop-queue", &o.acme, stop.clone()).await.status(), 200);
    let again = o.app.post_json("/api/outbound/stop-queue", &o.acme, stop).await;
    assert_eq!(again.status(), 409);
    assert_eq!(again.json::<Value>().await.expect("json")["code"], "invalid_transition");
    for action in ["pause", "resume", "cancel", "start"] {
        refused(&o, &run, action).await;
    }
    assert_eq!(o.run(&o.acme, &run).await["status"], "stopped");
}
