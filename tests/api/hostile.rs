//! Hostile input on the operator API (issue 24): text PostgreSQL cannot store, values outside a
//! filter's closed set, huge values and SQL fragments are refused with a 4xx problem+json before
//! any query runs, and a database refusal that slips through is a 422, never a 500.

use crate::helpers::{TestApp, spawn_app};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use switchboard::error::ApiError;

/// A tenant with an admin key, and a superadmin key.
struct Setup {
    app: TestApp,
    root: String,
    admin: String,
    tenant: String,
}

async fn setup(pool: PgPool) -> Setup {
    let app = spawn_app(pool).await;
    let root = app.superadmin().await;
    let tenant = app.create_tenant(&root, "hostile").await;
    let admin = app.tenant_key(&root, &tenant, "admin").await;
    Setup { app, root, admin, tenant }
}

/// Sends `path` (already percent-encoded) as it is.
async fn send(app: &TestApp, method: Method, path: &str, token: &str) -> reqwest::Response {
    let mut request = app.client.request(method.clone(), app.url(path)).bearer_auth(token);
    if method == Method::POST || method == Method::PATCH {
        request = request.json(&json!({"reason": "x", "body": "hello"}));
    }
    request.send().await.expect("request sent")
}

/// Asserts a problem+json answer with `status`; returns its body.
async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "{:?}", response.url().path());
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert_eq!(content_type, "application/problem+json");
    response.json().await.expect("json")
}

fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect()
}

#[sqlx::test]
async fn the_six_reported_requests_name_the_parameter_instead_of_answering_500(pool: PgPool) {
    let s = setup(pool).await;
    let cases = [
        ("/api/crises?status=%E2%80%AE%00", "status"),
        ("/api/audit?action=CRISIS%00RECEIVED", "action"),
        ("/api/audit?entity_id=%E2%80%8F%00", "entity_id"),
        ("/api/notifications?destination=bot%00", "destination"),
        ("/api/inbound-calls?status=missed%00", "status"),
    ];
    for (path, field) in cases {
        let body = problem(send(&s.app, Method::GET, path, &s.admin).await, 422).await;
        assert_eq!(body["code"], "validation_failed");
        assert_eq!(fields(&body), [field], "{path}: {body}");
    }
    for token in [&s.root, &s.admin] {
        let body = problem(send(&s.app, Method::GET, "/api/tenants/%00", token).await, 404).await;
        assert_eq!(body["code"], "not_found");
    }
}

#[sqlx::test]
async fn a_filter_outside_its_closed_set_is_refused_with_the_allowed_values(pool: PgPool) {
    let s = setup(pool).await;
    let cases = [
        ("/api/crises?status=open", "status", "pending_approval"),
        ("/api/notifications?status=sent", "status", "cancelled"),
        ("/api/notifications?destination=elsewhere", "destination", "call_service"),
        ("/api/inbound-calls?status=voicemail", "status", "no-answer"),
        ("/api/inbound-calls?since=yesterday", "since", ""),
        ("/api/audit?entity_id=", "entity_id", "1 to 128 characters"),
        ("/api/crises?limit=1e3", "limit", ""),
    ];
    for (path, field, allowed) in cases {
        let body = problem(send(&s.app, Method::GET, path, &s.admin).await, 422).await;
        assert_eq!(fields(&body), [field], "{path}: {body}");
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains(allowed), "{path}: {message}");
    }
    let long_action = format!("/api/audit?action={}", "A".repeat(65));
    let body = problem(send(&s.app, Method::GET, &long_action, &s.admin).await, 422).await;
    assert_eq!(fields(&body), ["action"]);
    for path in [
        "/api/crises?status=dispatch_skipped",
        "/api/notifications?status=parked&destination=twilio_update",
        "/api/inbound-calls?status=in-progress",
        "/api/audit?entity_type=crisis&action=CRISIS_RECEIVED&entity_id=0b6f",
    ] {
        let response = send(&s.app, Method::GET, path, &s.admin).await;
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[sqlx::test]
async fn every_registered_destination_is_an_accepted_notification_filter(pool: PgPool) {
    let s = setup(pool).await;
    let names: Vec<String> = s.app.registry.destination_names().map(str::to_owned).collect();
    assert!(names.len() >= 5, "{names:?}");
    for name in &names {
        let response =
            send(&s.app, Method::GET, &format!("/api/notifications?destination={name}"), &s.admin).await;
        assert_eq!(response.status(), 200, "{name}");
    }
    let refused =
        problem(send(&s.app, Method::GET, "/api/notifications?destination=pager", &s.admin).await, 422).await;
    assert_eq!(fields(&refused), ["destination"], "{refused}");
    let message = refused["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    assert!(names.iter().all(|n| message.contains(n.as_str())), "every destination is listed: {message}");
}

#[sqlx::test]
async fn a_nul_in_a_json_body_is_refused_naming_the_field(pool: PgPool) {
    let s = setup(pool).await;
    let crisis = json!({"type": "fire", "description": "smoke\u{0000}", "location": "x", "risk_score": 1.0});
    let body = problem(s.app.post_json("/api/crises", &s.admin, crisis).await, 422).await;
    assert_eq!(fields(&body), ["description"], "{body}");
    let patch = json!({"duty_officers": ["+12025550111", "+1202\u{0000}"]});
    let path = format!("/api/tenants/{}", s.tenant);
    let body = problem(s.app.patch_json(&path, &s.admin, patch).await, 422).await;
    assert_eq!(fields(&body), ["duty_officers[1]"], "{body}");
}

#[sqlx::test]
async fn database_refusals_of_a_value_are_validation_errors_and_other_failures_stay_internal(pool: PgPool) {
    let mut conn = pool.acquire().await.expect("connection");
    sqlx::query("CREATE TEMP TABLE short_text (v varchar(2))").execute(&mut *conn).await.expect("table");
    let refusals = [
        sqlx::query("SELECT $1::text").bind("a\0b").execute(&mut *conn).await,
        sqlx::query("SELECT 'not a uuid'::uuid").execute(&mut *conn).await,
        sqlx::query("SELECT 40000::smallint").execute(&mut *conn).await,
        sqlx::query("INSERT INTO short_text VALUES ('abc')").execute(&mut *conn).await,
    ];
    for refused in refusals {
        let error = ApiError::from(refused.expect_err("refused by PostgreSQL"));
        assert_eq!(error.status_and_code().1, "validation_failed", "{error:?}");
        assert!(matches!(&error, ApiError::Validation(errors) if errors[0].field == "request"));
    }
    let missing = sqlx::query("SELECT * FROM no_such_table").execute(&mut *conn).await;
    let error = ApiError::from(missing.expect_err("no table"));
    assert_eq!(error.status_and_code().1, "internal");
}

/// One piece of a hostile value: text to percent-encode, or an escape sent verbatim.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Raw(&'static str),
}

const SQL: &[&str] = &["' OR 1=1 --", "'; DROP TABLE tenant; --", "\\x00", "$1::text", "%' AND '%'='"];
const NEAR_VALID: &[&str] =
    &["pending_approval", "bot", "missed", "0b6f3c1e-8e0a-4b4e-9a57-3f9f0f3c2a11", "+12025550100", "hostile"];

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        any::<String>().prop_map(Piece::Text),
        prop::sample::select(vec!["%00", "%ED%A0%80", "%ED%BF%BF", "%", "%G1", "%C0%80"])
            .prop_map(Piece::Raw),
        prop::sample::select(vec!["\u{202e}", "\u{200f}", "\u{0}", "\u{feff}"])
            .prop_map(|c| Piece::Text(c.into())),
        prop::sample::select(SQL).prop_map(|s| Piece::Text(s.into())),
        prop::sample::select(NEAR_VALID).prop_map(|s| Piece::Text(s.into())),
    ]
}

/// A hostile value: a few pieces, or 10 000 characters of one kind (at most 6 bytes each once
/// encoded: an HTTP client refuses a URI over 64 KiB, so the long right-to-left runs are shorter).
fn value() -> impl Strategy<Value = Vec<Piece>> {
    prop_oneof![
        3 => prop::collection::vec(piece(), 1..4),
        1 => prop::sample::select(vec!['a', '0', '\u{0}', 'ß', '\''])
            .prop_map(|c| vec![Piece::Text(c.to_string().repeat(10_000))]),
        1 => Just(vec![Piece::Text("\u{202e}".repeat(6_000)), Piece::Raw("%00")]),
    ]
}

/// Percent-encoded hostile values, generated up front: the requests are async, the runner is not.
fn hostile_values(cases: u32) -> Vec<String> {
    let strategy = value();
    let mut runner = TestRunner::new(Config { cases, ..Config::default() });
    (0..cases)
        .map(|_| {
            let pieces = strategy.new_tree(&mut runner).expect("a value").current();
            pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(text) => form_urlencoded::byte_serialize(text.as_bytes()).collect(),
                    Piece::Raw(raw) => (*raw).to_owned(),
                })
                .collect()
        })
        .collect()
}

/// The operator API's GET lists and their query parameters (`{tenant}`: the tenant's id).
const LISTS: &[(&str, &[&str])] = &[
    ("/api/tenants", &["limit", "cursor"]),
    ("/api/tenants/{tenant}/keys", &["limit", "cursor"]),
    ("/api/tenants/{tenant}/numbers", &["limit", "cursor"]),
    ("/api/audit", &["entity_type", "entity_id", "action", "tenant", "limit", "cursor"]),
    ("/api/notifications", &["status", "destination", "tenant", "limit", "cursor"]),
    ("/api/crises", &["status", "limit", "cursor"]),
    ("/api/inbound-calls", &["status", "since", "limit", "cursor"]),
    ("/api/conversations", &["limit", "cursor"]),
    ("/api/opt-outs", &["limit", "cursor"]),
];

/// Routes with path segments; `{}` marks the segment under test, `{tenant}` the tenant's id.
const PATHS: &[(Method, &str)] = &[
    (Method::GET, "/api/tenants/{}"),
    (Method::PATCH, "/api/tenants/{}"),
    (Method::GET, "/api/tenants/{}/keys"),
    (Method::GET, "/api/tenants/{}/numbers"),
    (Method::DELETE, "/api/tenants/{}/numbers/+12025550100"),
    (Method::DELETE, "/api/tenants/{tenant}/numbers/{}"),
    (Method::DELETE, "/api/tenants/{}/keys/0b6f3c1e-8e0a-4b4e-9a57-3f9f0f3c2a11"),
    (Method::DELETE, "/api/tenants/{tenant}/keys/{}"),
    (Method::GET, "/api/crises/{}"),
    (Method::POST, "/api/crises/{}/approve"),
    (Method::POST, "/api/crises/{}/reject"),
    (Method::GET, "/api/conversations/{}"),
    (Method::POST, "/api/conversations/{}/messages"),
    (Method::DELETE, "/api/opt-outs/{}"),
    (Method::POST, "/api/notifications/{}/redeliver"),
    (Method::POST, "/api/notifications/{}/cancel"),
];

/// Never a 5xx; every 4xx is problem+json.
async fn assert_refused_cleanly(response: reqwest::Response, what: &str) {
    let status = response.status();
    assert!(!status.is_server_error(), "{status} for {what}: {}", response.text().await.unwrap_or_default());
    if status.is_client_error() {
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok());
        assert_eq!(content_type, Some("application/problem+json"), "{status} for {what}");
    }
}

#[sqlx::test]
async fn hostile_query_parameters_on_every_list_are_refused_without_a_server_error(pool: PgPool) {
    let s = setup(pool).await;
    let values = hostile_values(64);
    for (route, params) in LISTS {
        let route = route.replace("{tenant}", &s.tenant);
        let token = if route == "/api/tenants" { &s.root } else { &s.admin };
        for value in &values {
            for param in *params {
                let path = format!("{route}?{param}={value}");
                let what = format!("GET {route}?{param}=<{} bytes>", value.len());
                assert_refused_cleanly(send(&s.app, Method::GET, &path, token).await, &what).await;
            }
            let path = format!("{route}?{value}=1");
            assert_refused_cleanly(send(&s.app, Method::GET, &path, token).await, &format!("name {path}"))
                .await;
        }
    }
}

#[sqlx::test]
async fn hostile_path_segments_on_every_id_route_are_refused_without_a_server_error(pool: PgPool) {
    let s = setup(pool).await;
    let values = hostile_values(64);
    for (method, route) in PATHS {
        let route = route.replace("{tenant}", &s.tenant);
        for value in &values {
            let path = route.replace("{}", value);
            for token in [&s.admin, &s.root] {
                let what = format!("{method} {route} with <{} bytes>", value.len());
                assert_refused_cleanly(send(&s.app, method.clone(), &path, token).await, &what).await;
            }
        }
    }
}
