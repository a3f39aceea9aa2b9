//! `twilio-emulator` as a new user meets it: its help, `simulate` started before the server is up
//! (it waits, bounded, and says for what), and timelines that show one scenario each.

use crate::emulator::{emulator, free_port, spawn_server, start};
use crate::helpers::AUTH_TOKEN;
use sqlx::PgPool;
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn emulator_cli(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_twilio-emulator"))
        .args(args)
        .output()
        .await
        .expect("twilio-emulator runs")
}

#[tokio::test]
async fn the_emulators_help_and_version_describe_the_emulator_not_the_server() {
    let help = text(&emulator_cli(&["--help"]).await.stdout);
    assert!(help.contains("A local stand-in for Twilio, to try and test Switchboard"), "{help}");
    assert!(!help.contains("Self-hostable backend"), "the server's description leaked in: {help}");
    let version = text(&emulator_cli(&["--version"]).await.stdout);
    assert_eq!(version.trim(), format!("twilio-emulator {}", env!("CARGO_PKG_VERSION")));
    let listed = text(&emulator_cli(&["simulate", "--list"]).await.stdout);
    assert!(listed.lines().any(|l| l == "missed-call") && listed.lines().count() == 9, "{listed}");
}

#[tokio::test]
async fn simulate_gives_up_after_its_wait_and_says_what_to_start() {
    let server = format!("http://127.0.0.1:{}", free_port());
    let emulator = format!("http://127.0.0.1:{}", free_port());
    let output = emulator_cli(&[
        "simulate",
        "missed-call",
        "--server",
        &server,
        "--emulator",
        &emulator,
        "--wait-secs",
        "1",
        "--key",
        "unused",
    ])
    .await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("waiting up to 1s for Switchboard ({server}/ready)")), "{stdout}");
    assert!(
        stderr.contains("Switchboard is not ready after 1s") && stderr.contains("`scripts/run`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the emulator does not answer") && stderr.contains("`twilio-emulator serve`"),
        "{stderr}"
    );
    assert!(!stdout.contains("FAIL") && !stderr.contains("keys create failed"), "no scenario was started");
}

/// The test database's URL, for the `switchboard keys create` that `simulate` runs without `--key`.
fn database_url(pool: &PgPool) -> String {
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL").expect("DATABASE_URL")).expect("url");
    url.set_path(pool.connect_options().get_database().expect("test database"));
    url.into()
}

#[sqlx::test]
async fn simulate_started_before_the_server_waits_for_it_then_passes(pool: PgPool) {
    let port = free_port();
    let server = format!("http://127.0.0.1:{port}");
    let (_emulator_process, emulator_url) = emulator(AUTH_TOKEN, &server).await;
    let mut simulate = tokio::process::Command::new(env!("CARGO_BIN_EXE_twilio-emulator"))
        .args(["simulate", "sms-conversation", "--server", &server, "--emulator", &emulator_url])
        .env("DATABASE_URL", database_url(&pool))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("simulate starts");
    let mut stdout = tokio::io::BufReader::new(simulate.stdout.take().expect("stdout"));
    let mut first = String::new();
    tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut first))
        .await
        .expect("a line within 30 s")
        .expect("read");
    assert!(first.starts_with("waiting up to 60s for Switchboard"), "{first}");

    let _app = spawn_server(pool.clone(), port, &emulator_url).await;
    let mut rest = String::new();
    let status = tokio::time::timeout(Duration::from_secs(120), async {
        stdout.read_to_string(&mut rest).await.expect("read");
        simulate.wait().await.expect("simulate exits")
    })
    .await
    .expect("simulate finishes within 120 s");
    assert!(status.success(), "{first}{rest}");
    assert!(rest.contains("PASS sms-conversation"), "{rest}");
}

#[sqlx::test]
async fn a_scenarios_timeline_shows_only_its_own_calls_and_messages(pool: PgPool) {
    let env = start(pool, AUTH_TOKEN).await;
    let root = env.app.superadmin().await;
    let mut timelines = Vec::new();
    for scenario in ["sms-conversation", "after-hours"] {
        let args =
            ["simulate", scenario, "--server", &env.public, "--emulator", &env.emulator, "--key", &root];
        let output = emulator_cli(&args).await;
        let stdout = text(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{stdout}");
        let timeline = stdout.split_once("timeline:").map(|(_, t)| t.to_owned()).expect("a timeline");
        timelines.push(timeline);
    }
    assert!(timelines[0].contains("Body=Hi, is the plumber coming today?"), "{}", timelines[0]);
    assert!(timelines[1].contains("/webhooks/twilio/call"), "{}", timelines[1]);
    assert!(
        !timelines[1].contains("plumber coming") && !timelines[1].contains("/webhooks/twilio/sms"),
        "the second scenario's timeline lists the first one's messages:\n{}",
        timelines[1]
    );
}
