//! The binary's exit codes and messages, run as a user would.

use crate::helpers::spawn_app;
use sqlx::PgPool;
use std::process::{Command, Output};

fn switchboard(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.args(args).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command.envs(vars.iter().copied()).output().expect("binary runs")
}

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
