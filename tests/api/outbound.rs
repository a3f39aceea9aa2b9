//! The outbound queue: runs dialled at the business's cap until every lead is done.

use crate::outbound_support::{ACME_FROM, BRAVO_FROM, O, leads, setup};
use serde_json::json;
use sqlx::PgPool;
use std::collections::HashSet;

/// Ticks until `run` of `token`'s business ends, ending every live call as `completed` after each
/// round and checking that the business never has more than `cap` live calls.
async fn drive_to_end(o: &O, token: &str, run: &str, from: &str, cap: i64) -> serde_json::Value {
    for _ in 0..60 {
        o.tick().await;
        assert!(o.live().await <= cap, "more than {cap} slots held");
        assert!(o.live_at_fake().await.len() as i64 <= cap, "more than {cap} live calls at Twilio");
        o.end_all(from, "completed").await;
        let view = o.run(token, run).await;
        if view["status"] != "running" {
            return view;
        }
    }
    panic!("the run never ended");
}

#[sqlx::test]
async fn ten_leads_at_cap_three_are_all_dialled_and_never_more_than_three_are_live(pool: PgPool) {
    let o = setup(pool).await;
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    let response = o.upload(&o.acme, &run, leads("L", 10, 100), false).await;
    assert_eq!(response.status(), 200);
    o.start(&o.acme, &run).await;

    // The seed's "3 calls and stop": three go out, then the queue waits for a slot — and goes on.
    o.tick().await;
    assert_eq!(o.creates_from(ACME_FROM).len(), 3);
    o.tick().await;
    assert_eq!(o.creates_from(ACME_FROM).len(), 3, "no fourth call while three are live");
    let view = o.run(&o.acme, &run).await;
    assert_eq!((view["queued"].as_i64(), view["in_progress"].as_i64()), (Some(7), Some(3)));
    let (token, sid, to) = o.live_at_fake().await.remove(0);
    o.callback(&token, &sid, &to, ACME_FROM, "completed").await;
    o.tick().await;
    assert_eq!(o.creates_from(ACME_FROM).len(), 4, "a freed slot is used at once");

    let view = drive_to_end(&o, &o.acme, &run, ACME_FROM, 3).await;
    assert_eq!(view["status"], "completed");
    assert_eq!(view["completed"], 10);
    assert_eq!(view["outcomes"]["answered"], 10);
    assert_eq!((view["queued"].as_i64(), view["in_progress"].as_i64()), (Some(0), Some(0)));
    assert!(view["ended_at"].is_string() && view["started_at"].is_string());
    let dialled = o.creates_from(ACME_FROM);
    assert_eq!(dialled.len(), 10, "every lead dialled once");
    assert_eq!(dialled.iter().collect::<HashSet<_>>().len(), 10);
    assert_eq!(o.notifications("outbound.call.completed").await.len(), 10);
    let finished = o.notifications("outbound.run.finished").await;
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["status"], "completed");
}

#[sqlx::test]
async fn two_runs_of_one_business_share_its_cap(pool: PgPool) {
    let o = setup(pool).await;
    let first = o.create_run(&o.acme, ACME_FROM, None).await;
    let second = o.create_run(&o.acme, ACME_FROM, None).await;
    o.upload(&o.acme, &first, leads("A", 4, 100), false).await;
    o.upload(&o.acme, &second, leads("B", 4, 200), false).await;
    o.start(&o.acme, &first).await;
    o.start(&o.acme, &second).await;
    for _ in 0..30 {
        o.tick().await;
        assert!(o.live().await <= 3);
        assert!(o.live_at_fake().await.len() <= 3);
        o.end_all(ACME_FROM, "completed").await;
    }
    for run in [&first, &second] {
        assert_eq!(o.run(&o.acme, run).await["status"], "completed");
    }
    assert_eq!(o.creates_from(ACME_FROM).len(), 8);
}

#[sqlx::test]
async fn a_runs_own_cap_only_lowers_the_business_cap(pool: PgPool) {
    let o = setup(pool).await;
    let run = o.create_run(&o.acme, ACME_FROM, Some(2)).await;
    o.upload(&o.acme, &run, leads("L", 5, 100), false).await;
    o.start(&o.acme, &run).await;
    o.tick().await;
    assert_eq!(o.creates_from(ACME_FROM).len(), 2);
    let view = drive_to_end(&o, &o.acme, &run, ACME_FROM, 2).await;
    assert_eq!(view["completed"], 5);
}

#[sqlx::test]
async fn the_outcome_of_each_call_comes_from_its_status_callbacks(pool: PgPool) {
    let o = setup(pool).await;
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    o.upload(&o.acme, &run, leads("L", 3, 100), false).await;
    o.start(&o.acme, &run).await;
    o.tick().await;
    let live = o.live_at_fake().await;
    for ((token, sid, to), status) in live.iter().zip(["busy", "no-answer", "ringing"]) {
        o.callback(token, sid, to, ACME_FROM, status).await;
    }
    let view = o.run(&o.acme, &run).await;
    assert_eq!((view["failed"].as_i64(), view["in_progress"].as_i64()), (Some(2), Some(1)));
    assert_eq!(view["outcomes"], json!({"busy": 1, "no_answer": 1}));
    let (token, sid, to) = &live[2];
    o.callback(token, sid, to, ACME_FROM, "completed").await;
    o.callback(token, sid, to, ACME_FROM, "completed").await;
    o.tick().await;
    let view = o.run(&o.acme, &run).await;
    assert_eq!(view["status"], "completed");
    assert_eq!(view["outcomes"], json!({"busy": 1, "no_answer": 1, "answered": 1}));
    assert_eq!(
        o.notifications("outbound.call.completed").await.len(),
        3,
        "a repeated callback notifies once"
    );
}

#[sqlx::test]
async fn the_voice_webhook_serves_the_runs_script_to_its_own_call_only(pool: PgPool) {
    let o = setup(pool).await;
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    o.upload(&o.acme, &run, leads("L", 2, 100), false).await;
    o.start(&o.acme, &run).await;
    o.tick().await;
    let creates = o.fake.creates();
    let url = creates[0].1["Url"][0].clone();
    let path = url.strip_prefix(crate::fixture::PUBLIC).expect("our url").to_owned();
    assert!(path.starts_with("/webhooks/twilio/outbound/"), "{path}");
    let live = o.live_at_fake().await;
    let (_, sid, to) = live.iter().find(|(t, _, _)| path.contains(t.as_str())).expect("its call");
    let params = [
        ("CallSid", sid.as_str()),
        ("AccountSid", crate::helpers::ACCOUNT_SID),
        ("From", ACME_FROM),
        ("To", to.as_str()),
        ("CallStatus", "in-progress"),
        ("Direction", "outbound-api"),
    ];
    let response = crate::fixture::post_signed(&o.app, &path, &params).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("body");
    assert!(body.contains("<Say>Hello from Acme.</Say>"), "{body}");
    // Another call's SID with this job's token: refused.
    let (_, other_sid, _) = live.iter().find(|(_, s, _)| s != sid).expect("another call");
    let mut forged = params;
    forged[0] = ("CallSid", other_sid.as_str());
    let body = crate::fixture::post_signed(&o.app, &path, &forged).await.text().await.expect("body");
    assert!(body.contains("not valid"), "{body}");
    let _ = BRAVO_FROM;
}

#[sqlx::test]
async fn the_voice_webhook_while_the_database_is_away_is_an_apology(
    _o: sqlx::postgres::PgPoolOptions,
    connect: sqlx::postgres::PgConnectOptions,
) {
    let (pool, proxy) = crate::outage::proxied(&connect, 4).await;
    let o = setup(pool).await;
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    o.upload(&o.acme, &run, leads("L", 1, 100), false).await;
    o.start(&o.acme, &run).await;
    o.tick().await;
    let url = o.fake.creates()[0].1["Url"][0].clone();
    let path = url.strip_prefix(crate::fixture::PUBLIC).expect("our url").to_owned();
    let (_, sid, to) = o.live_at_fake().await.into_iter().next().expect("its call");
    let params = [
        ("CallSid", sid.as_str()),
        ("AccountSid", crate::helpers::ACCOUNT_SID),
        ("From", ACME_FROM),
        ("To", to.as_str()),
        ("CallStatus", "in-progress"),
        ("Direction", "outbound-api"),
    ];
    proxy.cut();
    // The script is the run's, in the database: without it the lead hears an apology, not a guess.
    let response = crate::fixture::post_signed(&o.app, &path, &params).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("body");
    assert!(body.contains("We are sorry") && body.contains("<Hangup"), "{body}");
    assert!(!body.contains("Hello from Acme."), "{body}");
    proxy.restore();
    crate::outage::reconnected(&o.app.state.db).await;
    let retried = crate::fixture::post_signed(&o.app, &path, &params).await.text().await.expect("body");
    assert!(retried.contains("<Say>Hello from Acme.</Say>"), "Twilio's retry gets the script: {retried}");
}

/// README (outbound notifications): `outbound.call.completed` names the run, the job, the lead,
/// the number, the call's SID, its status and outcome — with the tenant, the attempt and when.
#[sqlx::test]
async fn the_call_completed_notification_names_the_run_job_lead_number_call_and_outcome(pool: PgPool) {
    let o = setup(pool).await;
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    let response = o.upload(&o.acme, &run, leads("L", 1, 100), false).await;
    assert_eq!(response.status(), 200);
    o.start(&o.acme, &run).await;
    o.tick().await;
    let live = o.live_at_fake().await;
    assert_eq!(live.len(), 1, "{live:?}");
    let (token, sid, to) = &live[0];
    assert_eq!(to, "+14155550100");
    o.callback(token, sid, to, ACME_FROM, "completed").await;
    let sent = o.notifications("outbound.call.completed").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let payload = &sent[0];
    let mut keys: Vec<&str> = payload.as_object().expect("an object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "at",
            "attempt",
            "call_sid",
            "job_id",
            "lead_id",
            "number",
            "outcome",
            "run_id",
            "status",
            "tenant_id"
        ],
        "{payload}"
    );
    let job: uuid::Uuid = sqlx::query_scalar("SELECT id FROM outbound_job WHERE lead_id = 'L0'")
        .fetch_one(&o.app.state.db)
        .await
        .expect("the job");
    assert_eq!(
        payload,
        &json!({
            "tenant_id": o.tenant.id,
            "run_id": run,
            "job_id": job.to_string(),
            "lead_id": "L0",
            "number": "+14155550100",
            "call_sid": sid,
            "status": "completed",
            "outcome": "answered",
            "attempt": 1,
            "at": "2026-11-23T15:00:00.000Z",
        })
    );
}
