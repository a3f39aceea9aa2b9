//! Hostile input on the operator API (issue 24): text PostgreSQL cannot store, values outside a
//! filter's closed set, huge values and SQL fragments are refused with a 4xx problem+json before
//! any query runs, and a database refusal that slips through is a 422, never a 500.

use crate::fixture::World;
use crate::helpers::TestApp;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use switchboard::error::ApiError;

/// A tenant with an admin key, and a superadmin key.
async fn setup(pool: PgPool) -> World {
    World::builder(pool).tenant("hostile").keys(&["admin"]).start().await
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
        let body = problem(send(&s.app, Method::GET, path, s.admin()).await, 422).await;
        assert_eq!(body["code"], "validation_failed");
        assert_eq!(fields(&body), [field], "{path}: {body}");
    }
    for token in [s.root.as_str(), s.admin()] {
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
        let body = problem(send(&s.app, Method::GET, path, s.admin()).await, 422).await;
        assert_eq!(fields(&body), [field], "{path}: {body}");
        let message = body["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains(allowed), "{path}: {message}");
    }
    let long_action = format!("/api/audit?action={}", "A".repeat(65));
    let body = problem(send(&s.app, Method::GET, &long_action, s.admin()).await, 422).await;
    assert_eq!(fields(&body), ["action"]);
    for path in [
        "/api/crises?status=dispatch_skipped",
        "/api/notifications?status=parked&destination=twilio_update",
        "/api/inbound-calls?status=in-progress",
        "/api/audit?entity_type=crisis&action=CRISIS_RECEIVED&entity_id=0b6f",
    ] {
        let response = send(&s.app, Method::GET, path, s.admin()).await;
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
            send(&s.app, Method::GET, &format!("/api/notifications?destination={name}"), s.admin()).await;
        assert_eq!(response.status(), 200, "{name}");
    }
    let refused =
        problem(send(&s.app, Method::GET, "/api/notifications?destination=pager", s.admin()).await, 422)
            .await;
    assert_eq!(fields(&refused), ["destination"], "{refused}");
    let message = refused["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    assert!(names.iter().all(|n| message.contains(n.as_str())), "every destination is listed: {message}");
}

#[sqlx::test]
async fn a_nul_in_a_json_body_is_refused_naming_the_field(pool: PgPool) {
    let s = setup(pool).await;
    let crisis = json!({"type": "fire", "description": "smoke\u{0000}", "location": "x", "risk_score": 1.0});
    let body = problem(s.app.post_json("/api/crises", s.admin(), crisis).await, 422).await;
    assert_eq!(fields(&body), ["description"], "{body}");
    let patch = json!({"duty_officers": ["+12025550111", "+1202\u{0000}"]});
    let path = format!("/api/tenants/{}", s.tenant.id);
    let body = problem(s.app.patch_json(&path, s.admin(), patch).await, 422).await;
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

/// One piece of a hostile value: text to percent-encode, an escape sent verbatim, or text sent
/// as raw UTF-8 bytes (a long right-to-left run percent-encoded would pass the 64 KiB an HTTP
/// URI may have, and the server would refuse the request line before the API sees it).
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Raw(&'static str),
    Unencoded(String),
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

/// The length of the long values (issue 24: 10 000-character values).
const LONG: usize = 10_000;

/// A hostile value: a few pieces, or 10 000 characters of one kind — right-to-left marks among
/// them, sent as raw UTF-8 (30 000 bytes) followed by an encoded NUL.
fn value() -> impl Strategy<Value = Vec<Piece>> {
    prop_oneof![
        3 => prop::collection::vec(piece(), 1..4),
        1 => prop::sample::select(vec!['a', '0', '\u{0}', 'ß', '\''])
            .prop_map(|c| vec![Piece::Text(c.to_string().repeat(LONG))]),
        1 => prop::sample::select(vec!['\u{202e}', '\u{200f}'])
            .prop_map(|c| vec![Piece::Unencoded(c.to_string().repeat(LONG)), Piece::Raw("%00")]),
    ]
}

/// How many hostile values each route gets: 64, or proptest's `PROPTEST_CASES` for a longer
/// hunt.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64)
}

/// Hostile values as they go on the wire, generated up front: the requests are async, the
/// runner is not.
fn hostile_values(cases: u32) -> Vec<Vec<u8>> {
    let strategy = value();
    let mut runner = TestRunner::new(Config { cases, ..Config::default() });
    (0..cases)
        .map(|_| {
            let pieces = strategy.new_tree(&mut runner).expect("a value").current();
            pieces
                .iter()
                .flat_map(|p| match p {
                    Piece::Text(text) => {
                        form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().into_bytes()
                    }
                    Piece::Raw(raw) => raw.as_bytes().to_vec(),
                    Piece::Unencoded(text) => text.as_bytes().to_vec(),
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_long_values_are_ten_thousand_characters_and_fit_a_request_line() {
    let values = hostile_values(256);
    let long: Vec<&Vec<u8>> =
        values.iter().filter(|v| String::from_utf8_lossy(v).contains(&"\u{202e}".repeat(LONG))).collect();
    assert!(!long.is_empty(), "a right-to-left run of {LONG} characters is among the values");
    assert!(values.iter().all(|v| v.len() < 64_000), "every value fits the 64 KiB an HTTP URI may have");
}

/// One operator operation of the served OpenAPI document and the parameters it takes.
#[derive(Debug)]
struct Operation {
    method: Method,
    path: String,
    query: Vec<String>,
    segments: Vec<(String, Value)>,
}

/// Every operator operation (under `/api/`, behind a key) of the document the app serves, with
/// its query and path parameters: a route added tomorrow is fuzzed the day it is documented
/// (and tests/api/openapi.rs holds the document to the routes served).
async fn operator_operations(app: &TestApp) -> Vec<Operation> {
    let document: Value = app.get("/api/openapi.json").await.json().await.expect("the document");
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
            let keyed = operation["security"].as_array().is_some_and(|s| !s.is_empty());
            if !path.starts_with("/api/") || !keyed {
                continue;
            }
            let parameters = [&item["parameters"], &operation["parameters"]]
                .into_iter()
                .flat_map(|p| p.as_array().cloned().unwrap_or_default());
            let (mut query, mut segments) = (Vec::new(), Vec::new());
            for parameter in parameters {
                let name = parameter["name"].as_str().expect("a name").to_owned();
                match parameter["in"].as_str() {
                    Some("query") => query.push(name),
                    Some("path") => segments.push((name, parameter["schema"].clone())),
                    _ => {}
                }
            }
            operations.push(Operation { method, path: path.clone(), query, segments });
        }
    }
    operations
}

/// The document must not silently lose routes: the recent domains' are among them.
fn assert_covers_every_domain(operations: &[Operation]) {
    let listed: Vec<String> = operations.iter().map(|o| format!("{} {}", o.method, o.path)).collect();
    for expected in [
        "GET /api/me",
        "GET /api/calls",
        "POST /api/calls/{id}/drop",
        "DELETE /api/calls/{id}/recordings/{rid}",
        "GET /api/sirens",
        "POST /api/sirens/{id}/resolve",
        "GET /api/outbound/runs/{id}/jobs",
        "POST /api/outbound/runs/{id}/jobs/{job_id}/cancel",
        "GET /api/audit",
        "DELETE /api/tenants/{tenant}/keys/{key_id}",
    ] {
        assert!(listed.iter().any(|l| l == expected), "{expected} is not among {listed:?}");
    }
    assert!(operations.len() >= 50, "{} operator operations", operations.len());
}

/// A plausible value for a path parameter not under test, so the one under test is what the
/// route looks at (a parameter added later gets the UUID when it is one, a word otherwise).
fn plausible(name: &str, schema: &Value, tenant: &str) -> String {
    match name {
        "tenant" => tenant.to_owned(),
        "number" => "%2B12025550100".to_owned(),
        "action" => "start".to_owned(),
        _ if schema["format"] == "uuid" => "0b6f3c1e-8e0a-4b4e-9a57-3f9f0f3c2a11".to_owned(),
        _ => "order-1".to_owned(),
    }
}

/// The operation's path with every parameter filled plausibly, but `hostile` in `under_test`.
fn concrete(operation: &Operation, tenant: &str, under_test: Option<&str>, hostile: &[u8]) -> Vec<u8> {
    let mut path = operation.path.as_bytes().to_vec();
    for (name, schema) in &operation.segments {
        let placeholder = format!("{{{name}}}");
        let value = match under_test {
            Some(tested) if tested == name => hostile.to_vec(),
            _ => plausible(name, schema, tenant).into_bytes(),
        };
        path = replace(&path, placeholder.as_bytes(), &value);
    }
    path
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    match haystack.windows(needle.len()).position(|w| w == needle) {
        Some(at) => [&haystack[..at], with, &haystack[at + needle.len()..]].concat(),
        None => haystack.to_vec(),
    }
}

/// What came back: status, content type, body.
struct Answer {
    status: u16,
    content_type: Option<String>,
    body: String,
}

const JSON_BODY: &str = r#"{"reason": "x", "body": "hello"}"#;

/// Sends `target` (path and query as they go on the wire): through the HTTP client when it is
/// ASCII, else as a hand-written HTTP/1.1 request (the client would percent-encode raw bytes).
async fn send_target(app: &TestApp, method: &Method, target: &[u8], token: &str) -> Answer {
    if !target.is_ascii() {
        return send_raw(app, method, target, token).await;
    }
    let ascii = String::from_utf8_lossy(target).into_owned();
    let mut request = app.client.request(method.clone(), app.url(&ascii)).bearer_auth(token);
    if method == Method::POST || method == Method::PATCH {
        request = request.header("content-type", "application/json").body(JSON_BODY);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    Answer { status, content_type, body: response.text().await.unwrap_or_default() }
}

/// One request written by hand on its own connection (closed after the answer).
async fn send_raw(app: &TestApp, method: &Method, target: &[u8], token: &str) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connected");
    let body = if method == Method::POST || method == Method::PATCH { JSON_BODY } else { "" };
    let mut request = format!("{method} ").into_bytes();
    request.extend_from_slice(target);
    request.extend_from_slice(
        format!(
            " HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    stream.write_all(&request).await.expect("request written");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("answer read");
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let content_type = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-type")))
        .map(|(_, v)| v.trim().to_owned());
    Answer { status, content_type, body: body.to_owned() }
}

/// What the answers were, by status: the keys are valid and the values reach the routes (a
/// run answered only 401, or never refused a value, would prove nothing).
#[derive(Default)]
struct Tally(std::collections::BTreeMap<u16, usize>);

impl Tally {
    fn add(&mut self, answer: &Answer) {
        *self.0.entry(answer.status).or_default() += 1;
    }

    fn assert_reached_the_routes(&self, refusal: u16) {
        assert!(!self.0.contains_key(&401), "every key is valid: {:?}", self.0);
        assert!(
            self.0.get(&refusal).is_some_and(|n| *n > 100),
            "values were refused with {refusal}: {:?}",
            self.0
        );
    }
}

/// Never a 5xx; every 4xx is problem+json.
fn assert_refused_cleanly(answer: &Answer, what: &str) {
    assert!(answer.status < 500, "{} for {what}: {}", answer.status, answer.body);
    if answer.status >= 400 {
        assert_eq!(
            answer.content_type.as_deref(),
            Some("application/problem+json"),
            "{} for {what}",
            answer.status
        );
    }
}

fn describe(operation: &Operation, place: &str, value: &[u8]) -> String {
    format!(
        "{} {} {place} <{} bytes: {}…>",
        operation.method,
        operation.path,
        value.len(),
        String::from_utf8_lossy(&value[..value.len().min(40)])
    )
}

#[sqlx::test]
async fn hostile_query_parameters_on_every_operator_route_are_refused_without_a_server_error(pool: PgPool) {
    let s = setup(pool).await;
    let operations = operator_operations(&s.app).await;
    assert_covers_every_domain(&operations);
    let values = hostile_values(cases());
    let mut tally = Tally::default();
    for operation in &operations {
        let path = concrete(operation, &s.tenant.id, None, b"");
        for value in &values {
            let mut targets: Vec<(String, Vec<u8>)> = operation
                .query
                .iter()
                .map(|param| {
                    (format!("?{param}="), [&path[..], b"?", param.as_bytes(), b"=", value].concat())
                })
                .collect();
            targets.push(("a parameter named".into(), [&path[..], b"?", value, b"=1"].concat()));
            for (place, target) in targets {
                for token in [s.admin(), s.root.as_str()] {
                    let answer = send_target(&s.app, &operation.method, &target, token).await;
                    assert_refused_cleanly(&answer, &describe(operation, &place, value));
                    tally.add(&answer);
                }
            }
        }
    }
    tally.assert_reached_the_routes(422);
}

#[sqlx::test]
async fn hostile_path_segments_on_every_operator_route_are_refused_without_a_server_error(pool: PgPool) {
    let s = setup(pool).await;
    let operations = operator_operations(&s.app).await;
    assert_covers_every_domain(&operations);
    let segments: usize = operations.iter().map(|o| o.segments.len()).sum();
    assert!(segments >= 40, "{segments} path parameters");
    let values = hostile_values(cases());
    let mut tally = Tally::default();
    for operation in &operations {
        for (name, _) in &operation.segments {
            for value in &values {
                let target = concrete(operation, &s.tenant.id, Some(name), value);
                for token in [s.admin(), s.root.as_str()] {
                    let answer = send_target(&s.app, &operation.method, &target, token).await;
                    assert_refused_cleanly(&answer, &describe(operation, &format!("{{{name}}}"), value));
                    tally.add(&answer);
                }
            }
        }
    }
    tally.assert_reached_the_routes(404);
}

#[sqlx::test]
async fn limit_is_1_to_200_and_defaults_to_50(pool: PgPool) {
    let s = setup(pool).await;
    for bad in ["0", "201", "-1"] {
        let body =
            problem(send(&s.app, Method::GET, &format!("/api/crises?limit={bad}"), s.admin()).await, 422)
                .await;
        assert_eq!(fields(&body), ["limit"], "{bad}: {body}");
    }
    for n in 0..51 {
        let crisis = json!({"type": "flood", "risk_score": 1.0, "description": format!("crisis {n}")});
        assert_eq!(s.app.post_json("/api/crises", s.admin(), crisis).await.status(), 201);
    }
    let page = |query: &'static str| {
        let request = send(&s.app, Method::GET, query, s.admin());
        async move {
            let body: Value = request.await.json().await.expect("json");
            (body["items"].as_array().map(Vec::len), body["next_cursor"].is_string())
        }
    };
    assert_eq!(page("/api/crises").await, (Some(50), true), "50 by default, and a cursor for the rest");
    assert_eq!(page("/api/crises?limit=200").await, (Some(51), false));
    assert_eq!(page("/api/crises?limit=1").await, (Some(1), true));
}

#[sqlx::test]
async fn a_superadmins_unknown_tenant_is_404_on_every_list_that_takes_it(pool: PgPool) {
    let s = setup(pool).await;
    for list in ["/api/audit", "/api/notifications", "/api/calls", "/api/sirens"] {
        let known = send(&s.app, Method::GET, &format!("{list}?tenant=hostile"), &s.root).await;
        assert_eq!(known.status(), 200, "{list}");
        let body =
            problem(send(&s.app, Method::GET, &format!("{list}?tenant=no-such"), &s.root).await, 404).await;
        assert_eq!(body["code"], "not_found", "{list}");
    }
    let booking = json!({"order_id": "o1", "client": {"subject": "u_1", "number": "+12025550111"},
        "reader": {"subject": "u_2", "number": "+12025550112"}, "scheduled_at": "2026-11-23T16:00:00Z",
        "duration_minutes": 30});
    let schedule = s.app.post_json("/api/calls/schedule?tenant=no-such", &s.root, booking).await;
    problem(schedule, 404).await;
}

#[sqlx::test]
async fn a_body_that_is_not_an_object_is_422_even_where_every_field_is_optional(pool: PgPool) {
    let s = setup(pool).await;
    let crisis = json!({"type": "fire", "risk_score": 4.5, "description": "smoke", "location": "Main"});
    let created: Value = s.app.post_json("/api/crises", s.admin(), crisis).await.json().await.expect("json");
    let id = created["id"].as_str().expect("id");
    // serde reads a struct from an array by position: `[]` would be an approval with no reason.
    for (path, body) in [
        (format!("/api/crises/{id}/approve"), json!([])),
        (format!("/api/crises/{id}/reject"), json!(["a reason"])),
        ("/api/crises".to_owned(), json!(["fire", 4.5])),
        (format!("/api/crises/{id}/approve"), json!(null)),
        (format!("/api/crises/{id}/approve"), json!("approve")),
    ] {
        let response = s.app.post_json(&path, s.admin(), body.clone()).await;
        let problem = problem(response, 422).await;
        assert_eq!(fields(&problem), ["body"], "{path} {body}: {problem}");
    }
    let detail: Value =
        s.app.get_auth(&format!("/api/crises/{id}"), s.admin()).await.json().await.expect("json");
    assert_eq!(detail["status"], "pending_approval", "nothing was decided");
}
