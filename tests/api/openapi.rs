//! The OpenAPI document against the running router (issue 18, acceptance 1): every operation in
//! the document is served, every route served is in the document, and the document and the
//! reference need no key.

use crate::helpers::spawn_app;
use serde_json::Value;
use sqlx::PgPool;
use std::collections::BTreeSet;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The document's operations as (method, path).
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("path item");
            METHODS
                .iter()
                .filter(|m| item.contains_key(&m.to_lowercase()))
                .map(move |m| ((*m).to_owned(), path.clone()))
        })
        .collect()
}

/// A path with plausible values in its parameters.
fn concrete(path: &str) -> String {
    path.replace("{tenant}", "acme")
        .replace("{number}", "%2B12025550199")
        .replace("{key_id}", "6f9619ff-8b86-4d11-b42d-00c04fc964ff")
        .replace("{id}", "6f9619ff-8b86-4d11-b42d-00c04fc964ff")
        .replace("{sid}", "CA0123456789abcdef0123456789abcdef")
}

#[sqlx::test]
async fn the_document_lists_exactly_the_routes_the_router_serves(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200, "the document needs no key");
    let document: Value = response.json().await.expect("json");
    assert_eq!(document["openapi"], "3.1.0");
    let documented = operations(&document);
    let served: BTreeSet<(String, String)> =
        app.routes.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert_eq!(served.len(), app.routes.len(), "no route is listed twice");
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "served but not documented: {undocumented:?}");
    assert!(unserved.is_empty(), "documented but not in the route lists: {unserved:?}");
}

#[sqlx::test]
async fn every_documented_operation_is_served_and_no_other_method_is(pool: PgPool) {
    let app = spawn_app(pool).await;
    let document: Value = app.get("/api/openapi.json").await.json().await.expect("json");
    let documented = operations(&document);
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in METHODS {
            let url = app.url(&concrete(path));
            let request = app.client.request(method.parse().expect("method"), &url);
            let status = request.send().await.expect("request").status().as_u16();
            if documented.contains(&(method.to_owned(), path.clone())) {
                // Without a key or a signature: 401, 403, or a probe's answer; never "no such route".
                assert!(status != 404 && status != 405, "{method} {path} answered {status}");
            } else {
                assert_eq!(status, 405, "{method} {path} is served but not documented");
            }
        }
    }
}

#[sqlx::test]
async fn every_api_operation_but_the_document_needs_a_bearer_key(pool: PgPool) {
    let app = spawn_app(pool).await;
    let document: Value = app.get("/api/openapi.json").await.json().await.expect("json");
    for (method, path) in operations(&document) {
        let operation = &document["paths"][&path][method.to_lowercase()];
        let keyed = operation["security"].as_array().is_some_and(|s| !s.is_empty());
        let expected =
            path.starts_with("/api/") && path != "/api/openapi.json" && path != "/api/calls/webhook/twilio";
        assert_eq!(keyed, expected, "{method} {path}: security {}", operation["security"]);
        if keyed {
            assert!(operation["responses"]["401"].is_object(), "{method} {path} documents its 401");
        }
    }
}

#[sqlx::test]
async fn the_reference_is_served_from_the_binary(pool: PgPool) {
    let app = spawn_app(pool).await;
    let page = app.get("/api/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "no asset comes from elsewhere");
    let script = app.get("/api/docs/swagger-initializer.js").await.text().await.expect("js");
    assert!(script.contains("/api/openapi.json"), "{script}");
}

/// A schema resolved through `$ref`s to `#/components/schemas/…`.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) {
        Some(name) => resolve(document, &document["components"]["schemas"][name]),
        None => schema,
    }
}

/// An object schema's properties, through `allOf` (serde's `flatten`).
fn properties(document: &Value, schema: &Value) -> Vec<(String, Value)> {
    let schema = resolve(document, schema);
    let own = schema["properties"].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone()));
    let parts = schema["allOf"].as_array().into_iter().flatten().flat_map(|part| properties(document, part));
    own.chain(parts).collect()
}

/// Whether a schema admits `null` (`type: [.., "null"]`, or a `oneOf`/`anyOf` member that does).
fn admits_null(document: &Value, schema: &Value) -> bool {
    let schema = resolve(document, schema);
    let typed = match &schema["type"] {
        Value::String(t) => t == "null",
        Value::Array(types) => types.iter().any(|t| t == "null"),
        _ => false,
    };
    let members = ["oneOf", "anyOf"].iter().flat_map(|k| schema[*k].as_array().into_iter().flatten());
    typed || members.collect::<Vec<_>>().into_iter().any(|m| admits_null(document, m))
}

/// Found by scripts/api-fuzz: the tenant settings were documented as nullable (utoipa's default for
/// `Option`) while the server refuses `null` for all but two of them, so a generated client that
/// sent `None` got a 422. Each field now admits `null` in the document exactly when the server does.
#[sqlx::test]
async fn a_tenant_setting_admits_null_exactly_when_the_document_says_so(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.superadmin().await;
    app.create_tenant(&root, "acme").await;
    let document: Value = app.get("/api/openapi.json").await.json().await.expect("json");
    let patch = &document["paths"]["/api/tenants/{tenant}"]["patch"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let fields = properties(&document, patch);
    assert!(fields.len() >= 13, "every setting is described: {fields:?}");
    let mut nullable = Vec::new();
    for (field, schema) in fields {
        let response = app.patch_json("/api/tenants/acme", &root, serde_json::json!({ &field: null })).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("json");
        if admits_null(&document, &schema) {
            assert_eq!(status, 200, "{field}: null is documented, so it is accepted: {body}");
            nullable.push(field);
        } else {
            assert_eq!(status, 422, "{field}: null is not documented, so it is refused: {body}");
            assert_eq!(body["errors"][0]["field"], field.as_str(), "{body}");
        }
    }
    nullable.sort();
    assert_eq!(nullable, ["business_hours", "owner_number", "recording_retention_days"]);
}

/// Found by scripts/api-fuzz: answers the server gives that the document did not list — a 409 for
/// an `Idempotency-Key` reused with another request on every creating POST, and a 404 for a
/// superadmin's unknown `tenant=`.
#[sqlx::test]
async fn idempotent_creates_document_their_409_and_named_tenants_their_404(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.superadmin().await;
    app.create_tenant(&root, "acme").await;
    let admin = app.tenant_key(&root, "acme", "admin").await;
    let document: Value = app.get("/api/openapi.json").await.json().await.expect("json");
    let mut creating = 0;
    for (method, path) in operations(&document) {
        let operation = &document["paths"][&path][method.to_lowercase()];
        let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
        let has = |name: &str, place: &str| parameters.iter().any(|p| p["name"] == name && p["in"] == place);
        if has("Idempotency-Key", "header") {
            creating += 1;
            assert!(operation["responses"]["409"].is_object(), "{method} {path} documents its 409");
        }
        if has("tenant", "query") {
            assert!(operation["responses"]["404"].is_object(), "{method} {path} documents its 404");
        }
    }
    assert!(creating >= 5, "the creating POSTs carry Idempotency-Key: {creating}");

    let create = |body: Value| {
        app.client
            .post(app.url("/api/crises"))
            .bearer_auth(&admin)
            .header("Idempotency-Key", "c-1")
            .json(&body)
            .send()
    };
    let first = create(serde_json::json!({"type": "flood", "risk_score": 1.0})).await.expect("sent");
    assert_eq!(first.status(), 201);
    let other = create(serde_json::json!({"type": "fire", "risk_score": 1.0})).await.expect("sent");
    assert_eq!(other.status(), 409);
    let unknown = app.get_auth("/api/audit?tenant=no-such-tenant", &root).await;
    assert_eq!(unknown.status(), 404);
}

#[sqlx::test]
async fn every_operation_names_its_roles_and_the_notifications_are_its_webhooks(pool: PgPool) {
    let app = spawn_app(pool).await;
    let document: Value = app.get("/api/openapi.json").await.json().await.expect("json");
    let mut silent = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        if !path.starts_with("/api/") || path == "/api/openapi.json" || path.starts_with("/api/docs") {
            continue;
        }
        for (method, operation) in item.as_object().expect("operations") {
            if operation["tags"].as_array().is_some_and(|t| t.contains(&Value::from("twilio-webhooks"))) {
                continue; // Twilio's (the seed's alias): signed, not keyed
            }
            let described = operation["description"].as_str().unwrap_or_default();
            if !described.contains("Roles:") && !described.contains("Role:") {
                silent.push(format!("{method} {path}"));
            }
        }
    }
    assert!(silent.is_empty(), "operations that do not name their roles: {silent:?}");
    let webhooks = document["webhooks"].as_object().expect("a webhooks section");
    let named: Vec<&String> = webhooks.keys().collect();
    for kind in
        ["call.incoming", "call.missed", "crisis.dispatch", "session.completed", "outbound.call.completed"]
    {
        assert!(named.iter().any(|k| k.contains(kind)), "{kind} is not among the webhooks: {named:?}");
    }
}
