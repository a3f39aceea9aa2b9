use crate::helpers::{spawn_app, spawn_with, test_config};
use axum::routing::post;
use serde_json::Value;
use sqlx::PgPool;
use switchboard::error::ApiJson;
use switchboard::startup::Overrides;

async fn problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], code);
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    body
}

#[sqlx::test]
async fn request_id_is_echoed_or_generated(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response =
        app.client.get(app.url("/health")).header("x-request-id", "abc-123").send().await.expect("sent");
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let response = app.get("/health").await;
    let generated = response.headers()["x-request-id"].to_str().expect("ascii");
    assert_eq!(generated.len(), 36, "a uuid: {generated}");
}

#[sqlx::test]
async fn unknown_route_is_a_problem(pool: PgPool) {
    let app = spawn_app(pool).await;
    problem(app.get("/nope").await, 404, "not_found").await;
}

#[sqlx::test]
async fn wrong_method_is_a_problem(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.client.post(app.url("/health")).send().await.expect("sent");
    problem(response, 405, "method_not_allowed").await;
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Echo {
    name: String,
}

async fn echo(ApiJson(body): ApiJson<Echo>) -> String {
    body.name
}

async fn spawn_echo(pool: PgPool) -> crate::helpers::TestApp {
    let routes = axum::Router::new().route("/echo", post(echo));
    let overrides = Overrides { pool: Some(pool), routes: Some(routes), ..Overrides::default() };
    spawn_with(test_config(&[]), overrides).await
}

#[sqlx::test]
async fn malformed_json_is_a_problem(pool: PgPool) {
    let app = spawn_echo(pool).await;
    let response = app
        .client
        .post(app.url("/echo"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    problem(response, 400, "malformed_body").await;
}

#[sqlx::test]
async fn wrong_content_type_and_wrong_fields_are_problems(pool: PgPool) {
    let app = spawn_echo(pool).await;
    let response = app.client.post(app.url("/echo")).body("name=x").send().await.expect("sent");
    problem(response, 415, "unsupported_media_type").await;
    let response =
        app.client.post(app.url("/echo")).json(&serde_json::json!({"name": 5})).send().await.expect("sent");
    let body = problem(response, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "name", "the field is named: {body}");
}

#[sqlx::test]
async fn oversized_body_is_a_problem(pool: PgPool) {
    let app = spawn_echo(pool).await;
    let big = serde_json::json!({"name": "x".repeat(70 * 1024)});
    let response = app.client.post(app.url("/echo")).json(&big).send().await.expect("sent");
    problem(response, 413, "payload_too_large").await;
}

#[sqlx::test]
async fn a_request_past_the_timeout_is_a_503_problem(pool: PgPool) {
    let routes = axum::Router::new().route("/hang", axum::routing::get(std::future::pending::<&'static str>));
    let config = test_config(&[("SWITCHBOARD_SERVER__REQUEST_TIMEOUT_SECS", "1")]);
    let app =
        spawn_with(config, Overrides { pool: Some(pool), routes: Some(routes), ..Overrides::default() })
            .await;
    let response = app
        .client
        .get(app.url("/hang"))
        .header("x-request-id", "t-1")
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .expect("answered, not left hanging");
    assert_eq!(response.headers()["x-request-id"], "t-1");
    let body = problem(response, 503, "unavailable").await;
    assert_eq!(body["detail"], "the request timed out");
}
