//! The binary's exit codes and messages, run as a user would.

use crate::helpers::{spawn_app, switchboard, switchboard_cli};
use sqlx::PgPool;
use std::process::Output;

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn missing_database_url_exits_2_naming_it() {
    let output = switchboard(&["serve"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("DATABASE_URL is not set"), "{}", stderr(&output));
    let output = switchboard(&["migrate"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("DATABASE_URL is not set"));
}

#[test]
fn invalid_listen_address_exits_2_naming_it() {
    let output = switchboard(
        &["serve"],
        &[("DATABASE_URL", "postgres://u:p@127.0.0.1:1/db"), ("SWITCHBOARD_LISTEN_ADDR", "x")],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(r#"SWITCHBOARD_LISTEN_ADDR "x" is not host:port"#),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unknown_subcommand_exits_2() {
    assert_eq!(switchboard(&["frobnicate"], &[]).status.code(), Some(2));
}

#[sqlx::test]
async fn healthcheck_follows_ready(pool: PgPool) {
    let app = spawn_app(pool).await;
    let url = app.url("/ready");
    let output =
        tokio::task::spawn_blocking(move || switchboard(&["healthcheck", &url], &[])).await.expect("join");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output =
        tokio::task::spawn_blocking(|| switchboard(&["healthcheck", "http://127.0.0.1:1/ready"], &[]))
            .await
            .expect("join");
    assert_eq!(output.status.code(), Some(1));
}

/// `keys` and `audit` on a database nobody migrated: the sentence that says what to run, exit 1.
#[sqlx::test(migrations = false)]
async fn commands_on_an_unmigrated_database_say_to_run_migrate(pool: PgPool) {
    let connect = pool.connect_options().as_ref().clone();
    let outputs = tokio::task::spawn_blocking(move || {
        [
            switchboard_cli(&connect, &["keys", "create", "--superadmin"]),
            switchboard_cli(&connect, &["keys", "list"]),
            switchboard_cli(&connect, &["audit", "verify"]),
        ]
    })
    .await
    .expect("join");
    for output in outputs {
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            stderr(&output).contains(
                "the database has no Switchboard schema yet: run `switchboard migrate` (or `serve --migrate`)"
            ),
            "{}",
            stderr(&output)
        );
        assert!(!stderr(&output).contains("does not exist"), "no raw SQL error: {}", stderr(&output));
    }
}

/// A migration this binary does not know was applied: a newer version owns the schema.
#[sqlx::test]
async fn commands_on_a_database_a_newer_version_migrated_say_so(pool: PgPool) {
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99991231000000, 'from the future', true, '\\x00', 1)",
    )
    .execute(&pool)
    .await
    .expect("a future migration row");
    let connect = pool.connect_options().as_ref().clone();
    let outputs = tokio::task::spawn_blocking(move || {
        [switchboard_cli(&connect, &["keys", "list"]), switchboard_cli(&connect, &["migrate"])]
    })
    .await
    .expect("join");
    for output in outputs {
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("migrated by a newer version of Switchboard (migration 99991231000000"),
            "{}",
            stderr(&output)
        );
    }
}

/// A schema with a migration still pending is named as behind, not reported as a SQL error.
#[sqlx::test]
async fn commands_on_a_database_with_a_pending_migration_say_to_migrate(pool: PgPool) {
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)")
        .execute(&pool)
        .await
        .expect("forget the last migration");
    let connect = pool.connect_options().as_ref().clone();
    let output = tokio::task::spawn_blocking(move || switchboard_cli(&connect, &["keys", "list"]))
        .await
        .expect("join");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("1 migration(s) pending): run `switchboard migrate`"),
        "{}",
        stderr(&output)
    );
}

#[sqlx::test]
async fn keys_list_shows_keys_and_keys_revoke_makes_a_token_401(
    _o: sqlx::postgres::PgPoolOptions,
    connect: sqlx::postgres::PgConnectOptions,
) {
    use crate::helpers::switchboard_cli;
    let pool = sqlx::postgres::PgPoolOptions::new().connect_with(connect.clone()).await.expect("pool");
    let app = spawn_app(pool).await;
    let root = app.superadmin().await;
    app.create_tenant(&root, "listed").await;
    let run = |args: &'static [&'static str]| {
        let connect = connect.clone();
        tokio::task::spawn_blocking(move || switchboard_cli(&connect, args))
    };
    let created = run(&["keys", "create", "--tenant", "listed", "--role", "admin", "--name", "office"])
        .await
        .expect("join");
    assert_eq!(created.status.code(), Some(0), "{}", stderr(&created));
    let stdout = String::from_utf8_lossy(&created.stdout).into_owned();
    // The token alone on stdout (`TOKEN=$(switchboard keys create …)`), the rest on stderr.
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let token = stdout.trim_end().to_owned();
    assert!(token.starts_with("sb_") && !token.contains(char::is_whitespace), "{token}");
    assert_eq!(app.get_auth("/api/tenants/listed", &token).await.status(), 200);

    let listed = run(&["keys", "list", "--tenant", "listed"]).await.expect("join");
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    let stdout = String::from_utf8_lossy(&listed.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the tenant's key: {stdout}");
    let columns: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(&columns[2..5], ["admin", "office", "active"], "{stdout}");
    let key_id = columns[0].to_owned();
    assert!(!stdout.contains(&token), "the token is never listed");

    let connect2 = connect.clone();
    let id = key_id.clone();
    let revoked = tokio::task::spawn_blocking(move || switchboard_cli(&connect2, &["keys", "revoke", &id]))
        .await
        .expect("join");
    assert_eq!(revoked.status.code(), Some(0), "{}", stderr(&revoked));
    assert_eq!(app.get_auth("/api/tenants/listed", &token).await.status(), 401);
    let listed = run(&["keys", "list", "--tenant", "listed"]).await.expect("join");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("\trevoked\t"));
    let unknown = run(&["keys", "revoke", "00000000-0000-0000-0000-000000000000"]).await.expect("join");
    assert_eq!(unknown.status.code(), Some(1), "{}", stderr(&unknown));
}

/// `migrate` on an empty database applies every migration, exit 0; a second run changes nothing.
#[sqlx::test(migrations = false)]
async fn migrate_on_an_empty_database_applies_every_migration(pool: PgPool) {
    let connect = pool.connect_options().as_ref().clone();
    let outputs = tokio::task::spawn_blocking(move || {
        [switchboard_cli(&connect, &["migrate"]), switchboard_cli(&connect, &["migrate"])]
    })
    .await
    .expect("join");
    for output in &outputs {
        assert_eq!(output.status.code(), Some(0), "{}", stderr(output));
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .expect("the migrations table");
    assert_eq!(applied as usize, switchboard::db::MIGRATOR.iter().count());
    let tenants: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tenant").fetch_one(&pool).await.expect("schema");
    assert_eq!(tenants, 0);
}

#[sqlx::test]
async fn healthcheck_exits_1_while_ready_answers_503(pool: PgPool) {
    let config = crate::helpers::test_config(&[("SWITCHBOARD_SERVER__DRAIN_DELAY_SECS", "30")]);
    let overrides = switchboard::startup::Overrides { pool: Some(pool), ..Default::default() };
    let app = crate::helpers::spawn_with(config, overrides).await;
    app.shutdown.cancel(); // draining: the server still answers, /ready says 503
    assert_eq!(app.get("/ready").await.status(), 503);
    let url = app.url("/ready");
    let output =
        tokio::task::spawn_blocking(move || switchboard(&["healthcheck", &url], &[])).await.expect("join");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
}
