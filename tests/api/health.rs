use crate::helpers::{spawn_app, spawn_with, test_config};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;
use switchboard::startup::Overrides;

#[sqlx::test]
async fn health_answers_ok(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[sqlx::test]
async fn ready_is_ok_with_the_database_up_and_migrated(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    assert!(body["checks"]["database"]["latency_ms"].is_u64());
    assert_eq!(body["checks"]["migrations"]["status"], "ok");
}

#[sqlx::test(migrations = false)]
async fn ready_reports_pending_migrations(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    assert_eq!(body["checks"]["migrations"]["status"], "error");
}

/// A pool on the same database whose sessions take no writes, as on a demoted primary (a session
/// `SET`, not a start-up option: PgBouncer drops start-up options, scripts/pgbouncer-test).
fn read_only(pool: &PgPool) -> PgPool {
    PgPoolOptions::new()
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::Executor::execute(conn, "SET default_transaction_read_only = on").await?;
                Ok(())
            })
        })
        .connect_lazy_with(pool.connect_options().as_ref().clone())
}

/// A failover can leave a replica's connections on the demoted, read-only primary: that replica
/// is not ready (so its load balancer stops sending it writes), and says why.
#[sqlx::test]
async fn ready_fails_while_the_database_is_read_only(pool: PgPool) {
    let app =
        spawn_with(test_config(&[]), Overrides { pool: Some(read_only(&pool)), ..Overrides::default() })
            .await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["checks"]["database"]["status"], "error");
    let error = body["checks"]["database"]["error"].as_str().expect("error");
    assert!(error.contains("read-only"), "{error}");
    assert_eq!(body["checks"]["migrations"]["status"], "ok");
}

/// A write that reaches a read-only database (a connection left on a demoted primary) is a
/// retryable 503, never a 500.
#[sqlx::test]
async fn a_write_to_a_read_only_database_is_a_retryable_503(pool: PgPool) {
    let root = spawn_app(pool.clone()).await.superadmin().await;
    let app =
        spawn_with(test_config(&[]), Overrides { pool: Some(read_only(&pool)), ..Overrides::default() })
            .await;
    let body = serde_json::json!({"slug": "acme", "name": "Acme", "timezone": "UTC"});
    let response = app.post_json("/api/tenants", &root, body).await;
    assert_eq!(response.status(), 503);
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "unavailable");
}

#[tokio::test]
async fn ready_fails_within_two_seconds_when_nothing_listens() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let url = format!("postgres://nobody:x@127.0.0.1:{closed_port}/nothing");
    let pool =
        PgPoolOptions::new().acquire_timeout(Duration::from_secs(5)).connect_lazy(&url).expect("lazy pool");
    let app = spawn_with(test_config(&[]), Overrides { pool: Some(pool), ..Overrides::default() }).await;
    // The client gives up after 2 s: /ready must answer before that.
    let response = app
        .client
        .get(app.url("/ready"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .expect("/ready answered within 2 s");
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "error");
    assert_eq!(body["checks"]["database"]["status"], "error");
    assert!(body["checks"]["database"]["error"].as_str().is_some_and(|e| !e.is_empty()));
}

#[sqlx::test]
async fn metrics_count_requests_by_route(pool: PgPool) {
    let app = spawn_app(pool).await;
    assert_eq!(app.get("/health").await.status(), 200);
    let text = app.get("/metrics").await.text().await.expect("text");
    let counted = text.lines().any(|line| {
        line.starts_with("http_requests_total{")
            && line.contains(r#"route="/health""#)
            && line.contains(r#"status="200""#)
            && line.contains(r#"method="GET""#)
    });
    assert!(counted, "no counter for /health in:\n{text}");
    assert!(text.contains("http_request_duration_seconds"));
    assert!(text.contains("db_pool_connections{state=\"max\"}"));
}

#[sqlx::test]
async fn ready_fails_when_the_outbox_worker_stops_beating(pool: PgPool) {
    let clock = crate::helpers::frozen_clock();
    // The worker runs one round at start, then sleeps an hour: it beats once, then no more.
    let vars =
        [("SWITCHBOARD_WORKERS__ENABLED", "true"), ("SWITCHBOARD_OUTBOX__POLL_INTERVAL_MS", "3600000")];
    let app = crate::helpers::spawn_with_clock_and(pool, clock.clone(), &vars).await;
    let heartbeat = app.state.heartbeats.outbox.clone();
    crate::helpers::eventually(10, "the outbox worker's first round", || async {
        heartbeat.last_beat().is_some()
    })
    .await;
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["checks"]["outbox_worker"]["status"], "ok");

    // max_age = 5 poll intervals + 2 HTTP timeouts: a little over five hours here.
    clock.advance(chrono::Duration::hours(6));
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["checks"]["outbox_worker"]["status"], "error");
    assert_eq!(body["checks"]["outbox_worker"]["error"], "no heartbeat for 21600 s");

    use switchboard::worker::Worker;
    app.outbox().run_once().await.expect("a round beats");
    assert_eq!(app.get("/ready").await.status(), 200, "ready again once the worker beats");
}

/// A connection that sat idle on a server that meanwhile took no writes (a demoted primary) is
/// closed when drawn, and a fresh one is handed out instead.
#[sqlx::test]
async fn an_idle_connection_to_a_read_only_server_is_replaced_when_drawn(
    _o: PgPoolOptions,
    connect: sqlx::postgres::PgConnectOptions,
) {
    let config = test_config(&[("SWITCHBOARD_DB__POOL_MAX", "1"), ("SWITCHBOARD_DB__POOL_MIN", "0")]);
    let pool = switchboard::db::pool_options(&config.db).connect_with(connect).await.expect("pool");
    let mut conn = pool.acquire().await.expect("a connection");
    let first: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *conn).await.expect("pid");
    // What a demotion looks like from inside an open connection: it takes no writes any more.
    sqlx::query("SET default_transaction_read_only = on").execute(&mut *conn).await.expect("set");
    drop(conn);
    // The check runs on connections idle longer than this (the threshold itself is under test).
    tokio::time::sleep(switchboard::db::PING_WHEN_IDLE_FOR + Duration::from_millis(200)).await;
    let mut conn = pool.acquire().await.expect("a connection");
    let (pid, read_only): (i32, String) =
        sqlx::query_as("SELECT pg_backend_pid(), current_setting('transaction_read_only')")
            .fetch_one(&mut *conn)
            .await
            .expect("query");
    assert_ne!(pid, first, "the read-only connection was closed, not handed out");
    assert_eq!(read_only, "off");
}
