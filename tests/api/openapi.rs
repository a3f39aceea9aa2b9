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
