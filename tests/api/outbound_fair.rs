//! The account's pace is shared between businesses in turn, and bulk dialling goes behind urgent
//! calls.

use crate::fixture::deliver;
use crate::outbound_support::{ACME_FROM, BRAVO_FROM, leads, setup_with};
use sqlx::PgPool;
use switchboard::auth::scope::tenant_tx;
use switchboard::clock::Clock;
use switchboard::effects::{self, CallRequest, Owner, priority};
use switchboard::tenants::TenantId;

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
    // An urgent call waits for the pace (a duty officer's, say), deferred a moment for a token.
    let tenant: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenant WHERE slug = 'acme'")
        .fetch_one(&o.app.state.db)
        .await
        .expect("tenant");
    let mut tx = tenant_tx(&o.app.state.db, TenantId(tenant)).await.expect("tx");
    let owner = Owner {
        domain: "crises",
        id: uuid::Uuid::new_v4().to_string(),
        idempotency_key: "urgent-1".into(),
        priority: priority::URGENT,
    };
    let call = CallRequest {
        to: "+12025550111".into(),
        from: ACME_FROM.into(),
        path: "/webhooks/twilio/crises/x/voice".into(),
        events: vec![],
        timeout_secs: None,
        machine_detection: None,
        record: false,
        prepaid: false,
    };
    effects::request_call(&mut tx, TenantId(tenant), o.clock.now(), owner, &call).await.expect("request");
    tx.commit().await.expect("commit");
    sqlx::query("UPDATE outbox_message SET next_attempt_at = next_attempt_at + interval '1 second' WHERE idempotency_key = 'urgent-1'")
        .execute(&o.app.state.db)
        .await
        .expect("deferred");
    o.app.worker("outbound").run_once().await.expect("dialer");
    assert_eq!(o.live().await, 0, "bulk waits behind the urgent call");
    o.clock.advance(chrono::Duration::seconds(1));
    deliver(&o.app).await; // the urgent call leaves (here: cancelled, its crisis does not exist)
    o.tick().await;
    assert_eq!(o.fake.creates().len(), 1);
}
