//! A run's life beyond dialling: opted-out leads, a scheduled start, a run that cannot go on,
//! listing, metrics.

use crate::outbound_support::{ACME_FROM, leads, setup};
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test]
async fn a_lead_who_opted_out_is_skipped_and_never_dialled(pool: PgPool) {
    let o = setup(pool).await;
    sqlx::query(
        "INSERT INTO opt_out (tenant_id, number, source, opted_out_at) SELECT id, '+14155550101', 'sms_stop', now()
         FROM tenant WHERE slug = 'acme'",
    )
    .execute(&o.app.state.db)
    .await
    .expect("opt-out");
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    o.upload(&o.acme, &run, leads("L", 3, 100), false).await;
    o.start(&o.acme, &run).await;
    o.tick().await;
    o.end_all(ACME_FROM, "completed").await;
    o.tick().await;
    let view = o.run(&o.acme, &run).await;
    assert_eq!(view["status"], "completed");
    assert_eq!((view["completed"].as_i64(), view["skipped"].as_i64()), (Some(2), Some(1)));
    assert_eq!(view["outcomes"]["opted_out"], 1);
    assert!(!o.creates_from(ACME_FROM).contains(&"+14155550101".to_owned()));
}

#[sqlx::test]
async fn a_run_started_for_later_waits_for_its_time(pool: PgPool) {
    let o = setup(pool).await;
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    o.upload(&o.acme, &run, leads("L", 2, 100), false).await;
    let at = "2026-11-23T16:00:00Z";
    let response =
        o.app.post_json(&format!("/api/outbound/runs/{run}/start"), &o.acme, json!({"at": at})).await;
    assert_eq!(response.status(), 200);
    let view: Value = response.json().await.expect("json");
    assert_eq!(
        (view["status"].as_str(), view["start_at"].as_str()),
        (Some("pending"), Some("2026-11-23T16:00:00Z"))
    );
    assert_eq!(o.action(&o.acme, &run, "start").await.status(), 409, "started once");
    o.tick().await;
    assert!(o.fake.creates().is_empty());
    o.clock.advance(chrono::Duration::hours(1));
    o.tick().await;
    assert_eq!(o.run(&o.acme, &run).await["status"], "running");
    assert_eq!(o.fake.creates().len(), 2);
}

#[sqlx::test]
async fn a_run_whose_number_is_removed_fails_with_the_reason(pool: PgPool) {
    let o = setup(pool).await;
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    o.upload(&o.acme, &run, leads("L", 5, 100), false).await;
    o.start(&o.acme, &run).await;
    o.tick().await;
    let path = format!("/api/tenants/acme/numbers/{}", ACME_FROM.replace('+', "%2B"));
    assert_eq!(o.app.delete_auth(&path, &o.root).await.status(), 204);
    o.tick().await;
    let view = o.run(&o.acme, &run).await;
    assert_eq!(
        (view["status"].as_str(), view["failure_reason"].as_str()),
        (Some("failed"), Some("from_number_removed"))
    );
    assert_eq!(
        (view["queued"].as_i64(), view["cancelled"].as_i64(), view["in_progress"].as_i64()),
        (Some(0), Some(2), Some(3))
    );
    o.end_all(ACME_FROM, "completed").await;
    assert_eq!(o.run(&o.acme, &run).await["completed"], 3, "live calls finish");
    assert_eq!(o.fake.creates().len(), 3);
    let finished = o.notifications("outbound.run.finished").await;
    assert_eq!(finished[0]["status"], "failed");
}

#[sqlx::test]
async fn runs_are_listed_with_their_counts_and_a_bad_filter_is_named(pool: PgPool) {
    let o = setup(pool).await;
    let first = o.create_run(&o.acme, ACME_FROM, None).await;
    o.clock.advance(chrono::Duration::seconds(1)); // listed oldest first
    let second = o.create_run(&o.acme, ACME_FROM, Some(1)).await;
    o.upload(&o.acme, &second, leads("L", 2, 100), false).await;
    o.start(&o.acme, &second).await;
    let all: Value = o.app.get_auth("/api/outbound/runs", &o.acme).await.json().await.expect("json");
    let ids: Vec<&str> =
        all["items"].as_array().expect("items").iter().map(|r| r["id"].as_str().unwrap_or("")).collect();
    assert_eq!(ids, vec![first.as_str(), second.as_str()]);
    let running: Value =
        o.app.get_auth("/api/outbound/runs?status=running", &o.acme).await.json().await.expect("json");
    let only = &running["items"][0];
    assert_eq!(
        (only["id"].as_str(), only["queued"].as_i64(), only["max_concurrent"].as_i64()),
        (Some(second.as_str()), Some(2), Some(1))
    );
    for key in [
        "status",
        "queued",
        "in_progress",
        "completed",
        "failed",
        "cancelled",
        "skipped",
        "can_cancel",
        "cancel_requested",
        "started_at",
        "ended_at",
        "created_by",
        "eta",
        "outcomes",
    ] {
        assert!(only.get(key).is_some(), "{key} missing: {only}");
    }
    let response = o.app.get_auth("/api/outbound/runs?status=sleeping", &o.acme).await;
    assert_eq!(response.status(), 422);
    let response =
        o.app.get_auth(&format!("/api/outbound/runs/{second}/jobs?status=sleeping"), &o.acme).await;
    assert_eq!(response.status(), 422);
    let bad = json!({"name": "", "from_number": "+19995550000", "script": {"say": "x", "connect": "+1"}, "max_concurrent": 0});
    let response = o.app.post_json("/api/outbound/runs", &o.acme, bad).await;
    assert_eq!(response.status(), 422);
    let not_ours =
        json!({"name": "x", "from_number": "+19175550000", "script": {"twiml_url": "https://example.com/t"}});
    let problem: Value =
        o.app.post_json("/api/outbound/runs", &o.acme, not_ours).await.json().await.expect("json");
    assert_eq!(problem["errors"][0]["field"], "from_number");
}

#[sqlx::test]
async fn live_calls_and_jobs_by_status_are_in_the_metrics(pool: PgPool) {
    let o = setup(pool).await;
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    o.upload(&o.acme, &run, leads("L", 4, 100), false).await;
    o.start(&o.acme, &run).await;
    o.tick().await;
    let text = o.app.get("/metrics").await.text().await.expect("text");
    assert!(text.contains("outbound_live_calls"), "{text}");
    assert!(text.contains("outbound_jobs{status=\"queued\"}"), "{text}");
}

#[sqlx::test]
async fn a_suspended_business_runs_fail_and_a_repeated_create_makes_one_run(pool: PgPool) {
    let o = setup(pool).await;
    let body = json!({"name": "Once", "from_number": ACME_FROM, "script": {"connect": "+12025550111"}});
    let send = || {
        o.app
            .client
            .post(o.app.url("/api/outbound/runs"))
            .bearer_auth(&o.acme)
            .header("idempotency-key", "run-1")
            .json(&body)
            .send()
    };
    let first: Value = send().await.expect("sent").json().await.expect("json");
    let second: Value = send().await.expect("sent").json().await.expect("json");
    assert_eq!(first["id"], second["id"]);
    let run = first["id"].as_str().expect("id").to_owned();
    o.upload(&o.acme, &run, leads("L", 2, 100), false).await;
    o.start(&o.acme, &run).await;
    let suspend = json!({"status": "suspended"});
    assert_eq!(o.app.patch_json("/api/tenants/acme", &o.root, suspend).await.status(), 200);
    o.tick().await;
    let view = o.run(&o.acme, &run).await;
    assert_eq!(
        (view["status"].as_str(), view["failure_reason"].as_str()),
        (Some("failed"), Some("tenant_suspended"))
    );
    assert!(o.fake.creates().is_empty(), "a suspended business dials nothing");
}
