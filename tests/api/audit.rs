use crate::fixture::World;
use crate::helpers::{db_error, switchboard_cli};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use switchboard::audit::{self, Actor, NewEvent, chain};
use switchboard::auth::scope::tenant_tx;
use switchboard::tenants::TenantId;

fn event(n: usize) -> NewEvent<'static> {
    NewEvent {
        actor: Actor::System("test"),
        action: "THING_DONE",
        entity_type: "thing",
        entity_id: format!("thing-{}", n % 7),
        request_id: Some(format!("req-{n}")),
        data: json!({"n": n, "caller": "+1******0123", "nested": {"b": 2.5, "a": [1, "x"]}}),
    }
}

/// The world on a pool of 20 (for the concurrent writers), its tenant, and that pool.
async fn setup(connect: &PgConnectOptions) -> (crate::helpers::TestApp, TenantId, sqlx::PgPool) {
    let pool = PgPoolOptions::new().max_connections(20).connect_with(connect.clone()).await.expect("pool");
    let world = World::builder(pool.clone()).tenant("audited").start().await;
    (world.app, world.tenant.tenant_id(), pool)
}

async fn events(pool: &sqlx::PgPool, tenant: TenantId) -> Vec<audit::AuditEvent> {
    switchboard::audit::chain::audit_events_after(pool, tenant.uuid(), 0, 10_000).await.expect("events")
}

#[sqlx::test]
async fn concurrent_audited_actions_form_one_gapless_verified_chain(
    _o: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let (_app, tenant, pool) = setup(&connect).await;
    let tasks = (0..100).map(|n| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut tx = tenant_tx(&pool, tenant).await.expect("tx");
            audit::record(&mut tx, tenant, chrono::Utc::now(), event(n)).await.expect("record");
            tx.commit().await.expect("commit");
        })
    });
    for task in futures::future::join_all(tasks).await {
        task.expect("task");
    }
    let chain_events = events(&pool, tenant).await;
    let sequences: Vec<i64> = chain_events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=100).collect::<Vec<i64>>());
    assert!(chain_events.windows(2).all(|w| w[0].occurred_at < w[1].occurred_at), "time strictly increases");
    assert_eq!(chain::verify(&chain_events), Ok(100));
    let output = tokio::task::spawn_blocking(move || switchboard_cli(&connect, &["audit", "verify"]))
        .await
        .expect("join");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("audited: 100 events, chain intact"));
}

/// Records three events, runs `statement` with the insert-only guard disabled (as someone with
/// the owner's or a superuser's rights could), enables the guard again, and runs `audit verify`:
/// its exit code and output.
async fn verify_after(connect: PgConnectOptions, statement: &'static str) -> (Option<i32>, String) {
    let (_app, tenant, pool) = setup(&connect).await;
    for n in 0..3 {
        let mut tx = tenant_tx(&pool, tenant).await.expect("tx");
        audit::record(&mut tx, tenant, chrono::Utc::now(), event(n)).await.expect("record");
        tx.commit().await.expect("commit");
    }
    let mut conn = pool.acquire().await.expect("conn");
    for sql in [
        "ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update_delete",
        statement,
        "ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update_delete",
    ] {
        sqlx::query(sql).execute(&mut *conn).await.expect(sql);
    }
    let output = tokio::task::spawn_blocking(move || {
        switchboard_cli(&connect, &["audit", "verify", "--tenant", "audited"])
    })
    .await
    .expect("join");
    (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[sqlx::test]
async fn tampering_with_triggers_disabled_is_reported(_o: PgPoolOptions, connect: PgConnectOptions) {
    let (code, stdout) =
        verify_after(connect, "UPDATE audit_event SET data = '{\"n\": 99}' WHERE sequence = 2").await;
    assert_eq!(code, Some(1));
    assert!(stdout.contains("BROKEN") && stdout.contains("sequence 2"), "{stdout}");
}

#[sqlx::test]
async fn removing_the_newest_events_is_reported(_o: PgPoolOptions, connect: PgConnectOptions) {
    // The chain itself stays intact when the tail is cut off: only the head's record shows it.
    let (code, stdout) = verify_after(connect, "DELETE FROM audit_event WHERE sequence = 3").await;
    assert_eq!(code, Some(1));
    assert!(stdout.contains("BROKEN") && stdout.contains("events were removed"), "{stdout}");
}

#[sqlx::test]
async fn the_application_cannot_update_or_delete_events(_o: PgPoolOptions, connect: PgConnectOptions) {
    let (_app, tenant, pool) = setup(&connect).await;
    let mut tx = tenant_tx(&pool, tenant).await.expect("tx");
    audit::record(&mut tx, tenant, chrono::Utc::now(), event(1)).await.expect("record");
    tx.commit().await.expect("commit");
    let refused = |op: &str| ("42501".to_owned(), format!("audit_event is insert-only ({op} refused)"));
    let update = sqlx::query("UPDATE audit_event SET action = 'X'").execute(&pool).await;
    assert_eq!(db_error(update), refused("UPDATE"), "owner update");
    let delete = sqlx::query("DELETE FROM audit_event").execute(&pool).await;
    assert_eq!(db_error(delete), refused("DELETE"), "owner delete");
    let truncate = sqlx::query("TRUNCATE audit_event").execute(&pool).await;
    assert_eq!(db_error(truncate), refused("TRUNCATE"), "owner truncate");
    let mut tx = tenant_tx(&pool, tenant).await.expect("tx");
    let update = sqlx::query("UPDATE audit_event SET action = 'X'").execute(&mut *tx).await;
    assert_eq!(
        db_error(update),
        ("42501".to_owned(), "permission denied for table audit_event".to_owned()),
        "app role update"
    );
    drop(tx);
    assert_eq!(events(&pool, tenant).await.len(), 1);
}

#[sqlx::test]
async fn the_audit_api_filters_by_entity_and_action(_o: PgPoolOptions, connect: PgConnectOptions) {
    let (app, tenant, pool) = setup(&connect).await;
    for n in 0..10 {
        let mut tx = tenant_tx(&pool, tenant).await.expect("tx");
        audit::record(&mut tx, tenant, chrono::Utc::now(), event(n)).await.expect("record");
        tx.commit().await.expect("commit");
    }
    let root = app.superadmin().await;
    let monitor = app.tenant_key(&root, &tenant.to_string(), "monitor").await;
    let page: Value = app
        .get_auth("/api/audit?entity_type=thing&entity_id=thing-0&limit=1", &monitor)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["items"][0]["data"]["n"], 0);
    let cursor = page["next_cursor"].as_str().expect("more");
    let next: Value = app
        .get_auth(&format!("/api/audit?entity_id=thing-0&cursor={cursor}"), &monitor)
        .await
        .json()
        .await
        .expect("json");
    let items = next["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["data"]["n"], 7);
    assert!(next["next_cursor"].is_null());
    let all: Value = app.get_auth("/api/audit?action=THING_DONE", &monitor).await.json().await.expect("json");
    assert_eq!(all["items"].as_array().expect("items").len(), 10);
    let client = app.tenant_key(&root, &tenant.to_string(), "client").await;
    assert_eq!(app.get_auth("/api/audit", &client).await.status(), 403);
    let as_root: Value =
        app.get_auth("/api/audit?tenant=audited&limit=200", &root).await.json().await.expect("json");
    assert_eq!(as_root["items"].as_array().expect("items").len(), 10);
}

#[sqlx::test]
async fn an_action_and_its_audit_record_commit_or_fail_together(pool: sqlx::PgPool) {
    let world = World::builder(pool.clone()).tenant("atomic").keys(&["admin"]).start().await;
    // The crisis fails at its commit, after its audit record was written in the same transaction.
    sqlx::query(
        "CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'refused at commit'; END $$",
    )
    .execute(&pool)
    .await
    .expect("function");
    sqlx::query(
        "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON crisis
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()",
    )
    .execute(&pool)
    .await
    .expect("trigger");
    let crisis = json!({"type": "fire", "risk_score": 4.5, "description": "smoke", "location": "Main"});
    let response = world.app.post_json("/api/crises", world.admin(), crisis.clone()).await;
    assert!(!response.status().is_success(), "{}", response.status());
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.expect("count") }
    };
    assert_eq!(count("SELECT count(*) FROM crisis").await, 0);
    assert_eq!(
        count("SELECT count(*) FROM audit_event WHERE action = 'CRISIS_RECEIVED'").await,
        0,
        "no orphan record"
    );
    // Without the refusal both are there, once.
    sqlx::query("DROP TRIGGER refuse_at_commit ON crisis").execute(&pool).await.expect("drop");
    assert_eq!(world.app.post_json("/api/crises", world.admin(), crisis).await.status(), 201);
    assert_eq!(count("SELECT count(*) FROM crisis").await, 1);
    assert_eq!(count("SELECT count(*) FROM audit_event WHERE action = 'CRISIS_RECEIVED'").await, 1);
}
