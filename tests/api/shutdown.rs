use crate::helpers::{eventually, spawn_with, test_config};
use axum::routing::get;
use sqlx::PgPool;
use std::sync::Arc;
use switchboard::startup::Overrides;
use tokio::sync::Notify;

/// A route that holds its request until the test releases it.
fn slow_routes(entered: Arc<Notify>, release: Arc<Notify>) -> axum::Router<switchboard::state::AppState> {
    axum::Router::new().route(
        "/slow",
        get(move || async move {
            entered.notify_one();
            release.notified().await;
            "done"
        }),
    )
}

#[sqlx::test]
async fn shutdown_drains_then_finishes_in_flight_requests(pool: PgPool) {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let config = test_config(&[("SWITCHBOARD_SERVER__DRAIN_DELAY_SECS", "3")]);
    let overrides = Overrides {
        pool: Some(pool),
        routes: Some(slow_routes(entered.clone(), release.clone())),
        ..Overrides::default()
    };
    let app = spawn_with(config, overrides).await;
    assert_eq!(app.get("/ready").await.status(), 200);

    let slow = tokio::spawn(app.client.get(app.url("/slow")).send());
    entered.notified().await;
    app.shutdown.cancel();

    // During the drain delay the server still answers, and /ready says 503.
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["checks"]["shutdown"]["status"], "error");

    release.notify_one();
    let slow = slow.await.expect("task").expect("the in-flight request completed");
    assert_eq!(slow.status(), 200);
    assert_eq!(slow.text().await.expect("body"), "done");
    app.server.await.expect("server task").expect("clean shutdown");
}

#[sqlx::test]
async fn after_shutdown_the_listener_is_closed(pool: PgPool) {
    let app = spawn_with(test_config(&[]), Overrides { pool: Some(pool), ..Overrides::default() }).await;
    let url = app.url("/health");
    let client = app.client.clone();
    app.stop().await.expect("clean shutdown");
    eventually(5, "connections refused", || {
        let (client, url) = (client.clone(), url.clone());
        async move { client.get(&url).send().await.is_err() }
    })
    .await;
}
