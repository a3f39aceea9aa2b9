//! The account's pace is shared between businesses in turn, and bulk dialling goes behind urgent
//! calls.

use crate::fixture::deliver;
use crate::outbound_support::{ACME_FROM, BRAVO_FROM, leads, setup_with};
use sqlx::PgPool;
use switchboard::clock::Clock;

#[sqlx::test]
async fn a_second_business_gets_every_other_token_of_the_pace(pool: PgPool) {
    // One call a second, account-wide: the pace, not the caps, is the limit here.
    let o = setup_with(pool, &[("SWITCHBOARD_EFFECTS__CALLS_PER_SECOND", "1")]).await;
    for (token, tenant) in [(&o.root, "acme"), (&o.root, "bravo")] {
        let body = serde_json::json!({"outbound_max_concurrent": 10});
        assert_eq!(o.app.patch_json(&format!("/api/tenants/{tenant}"), token, body).await.status(), 200);
    }
    let acme = o.create_run(&o.acme, ACME_FROM, None).await;
    o.upload(&o.acme, &acme, leads("A", 10, 100), false).await;
    o.start(&o.acme, &acme).await;
    o.tick().await;
    o.tick().await;
    assert_eq!(o.fake.creates().len(), 1, "one token in the first second");
    // Bravo starts while Acme's long run is under way.
    let bravo = o.create_run(&o.bravo, BRAVO_FROM, None).await;
    o.upload(&o.bravo, &bravo, leads("B", 4, 500), false).await;
    o.start(&o.bravo, &bravo).await;
    for _ in 0..8 {
        o.clock.advance(chrono::Duration::seconds(1));
        o.tick().await;
        o.tick().await;
    }
    let order: Vec<String> = o.fake.creates().into_iter().map(|(_, f)| f["From"][0].clone()).collect();
    let expected: Vec<&str> = vec![
        ACME_FROM, BRAVO_FROM, ACME_FROM, BRAVO_FROM, ACME_FROM, BRAVO_FROM, ACME_FROM, BRAVO_FROM, ACME_FROM,
    ];
    assert_eq!(order, expected, "one token a second, in turn");
    let view = o.run(&o.acme, &acme).await;
    assert!(view["eta"].is_string(), "{view}");
}

#[sqlx::test]
async fn bulk_dialling_waits_while_an_urgent_call_waits_for_the_pace(pool: PgPool) {
    let o = setup_with(pool, &[("SWITCHBOARD_EFFECTS__CALLS_PER_SECOND", "1")]).await;
    let acme = o.create_run(&o.acme, ACME_FROM, None).await;
    o.upload(&o.acme, &acme, leads("A", 3, 100), false).await;
    o.start(&o.acme, &acme).await;
    // An urgent call is waiting in the outbox (say, a duty officer's).
    sqlx::query(
        "INSERT INTO outbox_message (id, tenant_id, kind, destination, payload, idempotency_key, priority, status,
           next_attempt_at, created_at, updated_at)
         SELECT gen_random_uuid(), id, 'twilio.call', 'twilio', '{}', 'urgent-1', 10, 'pending', $1, $1, $1
         FROM tenant WHERE slug = 'acme'",
    )
    .bind(o.clock.now())
    .execute(&o.app.state.db)
    .await
    .expect("urgent call");
    o.app.worker("outbound").run_once().await.expect("dialer");
    assert_eq!(o.live().await, 0, "bulk waits behind the urgent call");
    deliver(&o.app).await; // the urgent call leaves (here: dead, it has no attempt)
    o.tick().await;
    assert_eq!(o.fake.creates().len(), 1);
}
