//! Keys, isolation between tenants, row-level security, idempotent creates.

use crate::helpers::{TestApp, db_error, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{Connection, PgPool};

#[sqlx::test]
async fn missing_unknown_and_revoked_keys_get_401(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.superadmin().await;
    let tenant = app.create_tenant(&root, "keys").await;
    let path = format!("/api/tenants/{tenant}");
    let anonymous = app.get(&path).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    assert_eq!(app.get_auth(&path, "sb_not-a-real-token").await.status(), 401);

    let admin = app.tenant_key(&root, &tenant, "admin").await;
    assert_eq!(app.get_auth(&path, &admin).await.status(), 200, "a key created through the API works");
    let keys: Value = app.get_auth(&format!("{path}/keys"), &root).await.json().await.expect("json");
    let id = keys["items"][0]["id"].as_str().expect("id").to_owned();
    assert!(keys["items"][0].get("token").is_none(), "tokens are never listed");
    assert_eq!(app.delete_auth(&format!("{path}/keys/{id}"), &root).await.status(), 204);
    let revoked = app.get_auth(&path, &admin).await;
    assert_eq!(revoked.status(), 401);
    let problem: Value = revoked.json().await.expect("json");
    assert_eq!(problem["code"], "unauthorized");
}

#[sqlx::test]
async fn a_monitor_may_not_manage_keys(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.superadmin().await;
    let tenant = app.create_tenant(&root, "mon").await;
    let monitor = app.tenant_key(&root, &tenant, "monitor").await;
    let response =
        app.post_json(&format!("/api/tenants/{tenant}/keys"), &monitor, json!({"role": "admin"})).await;
    assert_eq!(response.status(), 403);
    let invalid =
        app.post_json(&format!("/api/tenants/{tenant}/keys"), &root, json!({"role": "superadmin"})).await;
    assert_eq!(invalid.status(), 422, "superadmin keys come only from the CLI");
    let no_subject =
        app.post_json(&format!("/api/tenants/{tenant}/keys"), &root, json!({"role": "client"})).await;
    assert_eq!(no_subject.status(), 422);
}

#[sqlx::test]
async fn a_token_from_the_cli_works(
    _opts: sqlx::postgres::PgPoolOptions,
    connect: sqlx::postgres::PgConnectOptions,
) {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with(connect.clone())
        .await
        .expect("pool");
    let app = spawn_app(pool).await;
    let root = app.superadmin().await;
    let tenant = app.create_tenant(&root, "cli").await;
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let mut url = url::Url::parse(&base).expect("url");
    url.set_path(connect.get_database().expect("test database"));
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["keys", "create", "--tenant", "cli", "--role", "admin", "--name", "from cli"])
            .env_clear()
            .env("DATABASE_URL", url.as_str())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .output()
            .expect("runs")
    })
    .await
    .expect("join");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    let token = stdout.lines().last().expect("a line");
    assert!(token.starts_with("sb_"), "{stdout}");
    assert_eq!(app.get_auth(&format!("/api/tenants/{tenant}"), token).await.status(), 200);
}

/// Tenant A with a number and a key; tenant B's admin.
async fn two_tenants(app: &TestApp) -> (String, String, String, String) {
    let root = app.superadmin().await;
    let a = app.create_tenant(&root, "tenant-a").await;
    let b = app.create_tenant(&root, "tenant-b").await;
    app.post_json(&format!("/api/tenants/{a}/numbers"), &root, json!({"number": "+12025550100"})).await;
    app.tenant_key(&root, &a, "monitor").await;
    let keys: Value =
        app.get_auth(&format!("/api/tenants/{a}/keys"), &root).await.json().await.expect("json");
    let a_key = keys["items"][0]["id"].as_str().expect("id").to_owned();
    let b_admin = app.tenant_key(&root, &b, "admin").await;
    (a, b, a_key, b_admin)
}

#[sqlx::test]
async fn another_tenants_objects_are_404_and_reveal_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (a, _b, a_key, b_admin) = two_tenants(&app).await;
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/tenants/{a}"), None),
        (Method::GET, "/api/tenants/tenant-a".into(), None),
        (Method::PATCH, format!("/api/tenants/{a}"), Some(json!({"name": "Mine now"}))),
        (Method::GET, format!("/api/tenants/{a}/numbers"), None),
        (Method::POST, format!("/api/tenants/{a}/numbers"), Some(json!({"number": "+12025550109"}))),
        (Method::DELETE, format!("/api/tenants/{a}/numbers/+12025550100"), None),
        (Method::GET, format!("/api/tenants/{a}/keys"), None),
        (Method::POST, format!("/api/tenants/{a}/keys"), Some(json!({"role": "admin"}))),
        (Method::DELETE, format!("/api/tenants/{a}/keys/{a_key}"), None),
    ];
    for (method, path, body) in cases {
        let response = app.call(method.clone(), &path, &b_admin, body).await;
        assert_eq!(response.status(), 404, "{method} {path}");
        let text = response.text().await.expect("body");
        for secret in [a.as_str(), "tenant-a", "+12025550100", a_key.as_str()] {
            assert!(!text.contains(secret), "{method} {path} leaked {secret}: {text}");
        }
    }
    let root = app.superadmin().await;
    let numbers: Value =
        app.get_auth(&format!("/api/tenants/{a}/numbers"), &root).await.json().await.expect("json");
    assert_eq!(numbers["items"].as_array().expect("items").len(), 1, "nothing of A changed");
}

async fn count(conn: &mut sqlx::PgConnection, table: &str) -> i64 {
    let sql = match table {
        "tenant" => "SELECT count(*) FROM tenant",
        "tenant_number" => "SELECT count(*) FROM tenant_number",
        "api_key" => "SELECT count(*) FROM api_key",
        _ => "SELECT count(*) FROM idempotent_request",
    };
    sqlx::query_scalar(sql).fetch_one(conn).await.expect("count")
}

const TABLES: [&str; 4] = ["tenant", "tenant_number", "api_key", "idempotent_request"];

#[sqlx::test]
async fn row_level_security_backs_up_every_filter(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let (a, b, _, _) = two_tenants(&app).await;
    let mut conn = pool.acquire().await.expect("conn");
    // The connection first serves tenant A, as a request would…
    let mut tx = conn.begin().await.expect("tx");
    sqlx::query(
        "SELECT set_config('role', 'switchboard_app', true), set_config('switchboard.tenant_id', $1, true)",
    )
    .bind(&a)
    .execute(&mut *tx)
    .await
    .expect("scope");
    assert_eq!(count(&mut tx, "tenant").await, 1, "A sees itself");
    assert_eq!(count(&mut tx, "tenant_number").await, 1);
    let b_id: uuid::Uuid = b.parse().expect("uuid");
    let updated = sqlx::query("UPDATE tenant SET name = 'x' WHERE id = $1")
        .bind(b_id)
        .execute(&mut *tx)
        .await
        .expect("update");
    assert_eq!(updated.rows_affected(), 0, "B's rows cannot be updated");
    let insert = sqlx::query(
        "INSERT INTO tenant_number (number, tenant_id, role, status, created_at, updated_at)
         VALUES ('+12025550177', $1, 'secondary', 'active', now(), now())",
    )
    .bind(b_id)
    .execute(&mut *tx)
    .await;
    assert_eq!(
        db_error(insert),
        (
            "42501".to_owned(),
            "new row violates row-level security policy for table \"tenant_number\"".to_owned()
        ),
        "B's rows cannot be inserted"
    );
    tx.rollback().await.expect("rollback");

    // …then, on the same pooled connection, with no tenant set: nothing, and no error.
    let mut tx = conn.begin().await.expect("tx");
    sqlx::query("SET LOCAL ROLE switchboard_app").execute(&mut *tx).await.expect("role");
    for table in TABLES {
        assert_eq!(count(&mut tx, table).await, 0, "{table} without a tenant");
    }
    tx.rollback().await.expect("rollback");
}

#[sqlx::test]
async fn the_same_create_with_one_idempotency_key_creates_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.superadmin().await;
    let body = json!({"slug": "once", "name": "Once", "timezone": "UTC"});
    let send = || async {
        let response = app
            .client
            .post(app.url("/api/tenants"))
            .bearer_auth(&root)
            .header("idempotency-key", "create-once-1")
            .json(&body)
            .send()
            .await
            .expect("sent");
        (response.status().as_u16(), response.text().await.expect("body"))
    };
    let first = send().await;
    let second = send().await;
    assert_eq!(first.0, 201);
    assert_eq!(first, second);
    let racing = futures::future::join_all((0..6).map(|_| async {
        let response = app
            .client
            .post(app.url("/api/tenants"))
            .bearer_auth(&root)
            .header("idempotency-key", "create-once-2")
            .json(&json!({"slug": "race", "name": "Race", "timezone": "UTC"}))
            .send()
            .await
            .expect("sent");
        (response.status().as_u16(), response.text().await.expect("body"))
    }))
    .await;
    assert!(racing.iter().all(|r| r == &racing[0] && r.0 == 201), "{racing:?}");
    let tenants: Value = app.get_auth("/api/tenants", &root).await.json().await.expect("json");
    assert_eq!(tenants["items"].as_array().expect("items").len(), 2, "one tenant per key");

    let other = app
        .client
        .post(app.url("/api/tenants"))
        .bearer_auth(&root)
        .header("idempotency-key", "create-once-1")
        .json(&json!({"slug": "different", "name": "Different", "timezone": "UTC"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(other.status(), 409, "a key reused for another request");
}

#[sqlx::test]
async fn a_replayed_key_creation_never_shows_the_token_again(pool: PgPool) {
    let app = spawn_app(pool).await;
    let root = app.superadmin().await;
    let tenant = app.create_tenant(&root, "replay").await;
    let send = || async {
        let response = app
            .client
            .post(app.url(&format!("/api/tenants/{tenant}/keys")))
            .bearer_auth(&root)
            .header("idempotency-key", "key-1")
            .json(&json!({"role": "admin"}))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.expect("json")
    };
    let first = send().await;
    let second = send().await;
    assert!(first["token"].as_str().is_some_and(|t| t.starts_with("sb_")));
    assert_eq!(second["token"], Value::Null);
    assert_eq!(first["id"], second["id"]);
}
