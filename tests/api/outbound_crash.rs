//! Crashes and replicas: two instances on one run, one aborted mid-create; a call whose terminal
//! callback never comes.

use crate::fake_twilio::Mode;
use crate::fixture::deliver;
use crate::helpers::eventually;
use crate::outbound_support::{ACME_FROM, leads, setup};
use sqlx::PgPool;
use std::collections::HashMap;
use switchboard::worker::Worker;

#[sqlx::test]
async fn two_instances_on_one_run_one_aborted_mid_create_dial_each_lead_exactly_once(pool: PgPool) {
    let o = setup(pool).await;
    let other = o.twin().await;
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    o.upload(&o.acme, &run, leads("L", 8, 100), false).await;
    o.start(&o.acme, &run).await;

    // Both dialers at once: three slots, three jobs taken, never six.
    let (first, second) = (o.app.worker("outbound"), other.worker("outbound"));
    let (a, b) = tokio::join!(first.run_once(), second.run_once());
    assert_eq!(a.expect("a") + b.expect("b"), 3);
    assert_eq!(o.live().await, 3);

    // The first instance sends a create and dies before its answer comes.
    o.fake.push(Mode::LoseAnswer);
    let outbox = o.app.outbox();
    let doomed = tokio::spawn(async move { outbox.run_once().await });
    eventually(10, "the create reaches Twilio", || async { !o.fake.creates().is_empty() }).await;
    doomed.abort();
    let _ = doomed.await;

    // The other instance carries on: the rest go out; the lost one waits for its lease, then for
    // reconciliation, which finds it at Twilio instead of creating it again.
    for _ in 0..20 {
        deliver(&other).await;
        other.worker("outbound").run_once().await.expect("dialer");
        o.end_all(ACME_FROM, "completed").await;
        o.clock.advance(chrono::Duration::seconds(30));
    }
    assert_eq!(o.run(&o.acme, &run).await["status"], "completed");
    let mut per_number: HashMap<String, usize> = HashMap::new();
    for to in o.creates_from(ACME_FROM) {
        *per_number.entry(to).or_default() += 1;
    }
    assert_eq!(per_number.len(), 8, "every lead dialled");
    assert!(per_number.values().all(|n| *n == 1), "no lead dialled twice: {per_number:?}");
    let reconciled: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_event WHERE action = 'TWILIO_RECONCILED_FOUND'")
            .fetch_one(&o.app.state.db)
            .await
            .expect("audit");
    assert_eq!(reconciled, 1, "the lost create was found at Twilio, not sent again");
    other.stop().await.expect("stops");
}

#[sqlx::test]
async fn a_call_whose_end_is_never_reported_frees_its_slot_after_the_lease(pool: PgPool) {
    let o = setup(pool).await;
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    o.upload(&o.acme, &run, leads("L", 5, 100), false).await;
    o.start(&o.acme, &run).await;
    o.tick().await;
    let live = o.live_at_fake().await;
    // One call's end is never reported; one is still on the line; one ends normally.
    let (lost, talking) = (live[0].1.clone(), live[1].1.clone());
    o.fake.set_status(&lost, "completed");
    o.fake.set_status(&talking, "in-progress");
    let (token, sid, to) = &live[2];
    o.callback(token, sid, to, ACME_FROM, "completed").await;
    o.tick().await;
    assert_eq!(o.creates_from(ACME_FROM).len(), 4);
    assert_eq!(o.live().await, 3, "the unreported calls keep their slots within the lease");

    o.clock.advance(chrono::Duration::seconds(301));
    o.tick().await;
    let view = o.run(&o.acme, &run).await;
    assert_eq!(view["completed"], 2, "the lost call was fetched and settled: {view}");
    assert_eq!(o.creates_from(ACME_FROM).len(), 5, "its slot went to the next lead");
    let status: String = sqlx::query_scalar("SELECT status FROM twilio_call WHERE sid = $1")
        .bind(&lost)
        .fetch_one(&o.app.state.db)
        .await
        .expect("ledger");
    assert_eq!(status, "completed", "the ledger learnt the end too");
    let talking_job: String = sqlx::query_scalar(
        "SELECT j.status FROM outbound_job j JOIN twilio_attempt a ON a.token = j.attempt_token WHERE a.sid = $1",
    )
    .bind(&talking)
    .fetch_one(&o.app.state.db)
    .await
    .expect("job");
    assert_eq!(talking_job, "in_progress", "a call still live keeps its slot");
}

#[sqlx::test]
async fn a_stopped_call_found_only_by_reconciliation_is_hung_up_after_the_lease(pool: PgPool) {
    let o = setup(pool).await;
    let run = o.create_run(&o.acme, ACME_FROM, Some(1)).await;
    o.upload(&o.acme, &run, leads("L", 2, 100), false).await;
    o.start(&o.acme, &run).await;
    o.fake.push(Mode::LoseAnswer);
    o.tick().await; // the create's answer is lost: its outcome is unknown
    let response =
        o.app.post_json("/api/outbound/stop-queue", &o.acme, serde_json::json!({"run_id": run})).await;
    assert_eq!(response.status(), 200);
    // No callback ever comes; reconciliation finds the call at Twilio and binds it.
    o.clock.advance(chrono::Duration::seconds(121));
    deliver(&o.app).await;
    let sid = o.fake.existing.lock().expect("lock")[0].1.clone();
    o.fake.set_status(&sid, "in-progress");
    assert!(o.fake.updates().is_empty());
    o.clock.advance(chrono::Duration::seconds(300));
    o.tick().await;
    deliver(&o.app).await;
    let hung: Vec<String> = o.fake.updates().into_iter().map(|(s, _)| s).collect();
    assert_eq!(hung, vec![sid.clone()], "the stopped call is hung up once its SID is known");
    o.fake.set_status(&sid, "completed");
    o.clock.advance(chrono::Duration::seconds(301));
    o.tick().await;
    let view = o.run(&o.acme, &run).await;
    assert_eq!((view["in_progress"].as_i64(), view["cancelled"].as_i64()), (Some(0), Some(2)));
    assert_eq!(o.fake.creates().len(), 1);
}
