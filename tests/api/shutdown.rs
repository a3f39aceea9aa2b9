use crate::helpers::{eventually, spawn_with, test_config};
use axum::routing::get;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use switchboard::domain::Domain;
use switchboard::startup::Overrides;
use switchboard::state::AppState;
use switchboard::worker::Worker;
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

/// A worker that counts its rounds; when `hold` is set, each round waits for `release` (a job in
/// progress) and reports more work, so only a shutdown ends its loop.
struct Counting {
    rounds: std::sync::atomic::AtomicU64,
    finished: std::sync::atomic::AtomicU64,
    hold: bool,
    entered: Notify,
    release: Notify,
}

impl Counting {
    fn new(hold: bool) -> Arc<Self> {
        Arc::new(Counting {
            rounds: 0.into(),
            finished: 0.into(),
            hold,
            entered: Notify::new(),
            release: Notify::new(),
        })
    }

    fn rounds(&self) -> u64 {
        self.rounds.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Worker for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }
    fn interval(&self) -> Duration {
        Duration::from_millis(20)
    }
    async fn run_once(&self) -> anyhow::Result<u64> {
        self.rounds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if !self.hold {
            return Ok(0);
        }
        self.entered.notify_one();
        self.release.notified().await;
        self.finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(1)
    }
}

/// A domain that only brings `worker`.
fn worker_domain(worker: Arc<Counting>) -> Arc<dyn Domain> {
    struct WorkerOnly(Arc<Counting>);
    impl Domain for WorkerOnly {
        fn name(&self) -> &'static str {
            "counting"
        }
        fn router(&self) -> axum::Router<AppState> {
            axum::Router::new()
        }
        fn workers(&self, _state: &AppState) -> Vec<Arc<dyn Worker>> {
            vec![self.0.clone()]
        }
    }
    Arc::new(WorkerOnly(worker))
}

fn with_worker(pool: &PgPool, worker: &Arc<Counting>) -> Overrides {
    Overrides {
        pool: Some(pool.clone()),
        domains: vec![worker_domain(worker.clone())],
        ..Overrides::default()
    }
}

async fn ready_checks(app: &crate::helpers::TestApp) -> serde_json::Value {
    app.get("/ready").await.json::<serde_json::Value>().await.expect("json")["checks"].clone()
}

#[sqlx::test]
async fn workers_run_only_where_enabled(pool: PgPool) {
    let (on, off) = (Counting::new(false), Counting::new(false));
    let enabled =
        spawn_with(test_config(&[("SWITCHBOARD_WORKERS__ENABLED", "true")]), with_worker(&pool, &on)).await;
    let disabled = spawn_with(test_config(&[]), with_worker(&pool, &off)).await;
    // The enabled replica is the clock: by its third round the other would have run too.
    eventually(10, "the enabled replica's worker runs", || async { on.rounds() >= 3 }).await;
    assert_eq!(off.rounds(), 0, "WORKERS__ENABLED=false runs no worker");
    assert!(ready_checks(&enabled).await.get("outbox_worker").is_some());
    assert!(ready_checks(&disabled).await.get("outbox_worker").is_none(), "no worker heartbeat is expected");
    // Its workers are still there to drive by hand.
    assert_eq!(disabled.worker("counting").run_once().await.expect("round"), 0);
    assert_eq!(off.rounds(), 1);
}

#[sqlx::test]
async fn a_worker_finishes_its_job_then_stops_on_shutdown(pool: PgPool) {
    let worker = Counting::new(true);
    let config = test_config(&[("SWITCHBOARD_WORKERS__ENABLED", "true")]);
    let app = spawn_with(config, with_worker(&pool, &worker)).await;
    worker.entered.notified().await;
    app.shutdown.cancel();
    let listener_closed = app.url("/health");
    eventually(5, "the listener closes", || {
        let (client, url) = (app.client.clone(), listener_closed.clone());
        async move { client.get(&url).send().await.is_err() }
    })
    .await;
    assert!(!app.server.is_finished(), "the process waits for the job in progress");
    worker.release.notify_one();
    app.server.await.expect("server task").expect("clean shutdown");
    assert_eq!(worker.rounds(), 1, "no round starts after the shutdown");
    assert_eq!(worker.finished.load(std::sync::atomic::Ordering::SeqCst), 1, "the job in progress finished");
}

/// The database URL of the test's own database.
fn database_url(pool: &PgPool) -> String {
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL").expect("DATABASE_URL")).expect("url");
    url.set_path(pool.connect_options().get_database().expect("test database"));
    url.into()
}

/// `switchboard serve` on the test's database, as a user runs it (JSON logs on stdout), once
/// `/ready` answers 200: the process, its base URL and an HTTP client.
async fn serve(pool: &PgPool) -> (tokio::process::Child, String, reqwest::Client) {
    let port = crate::emulator::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs([
            ("DATABASE_URL", database_url(pool)),
            ("TWILIO_ACCOUNT_SID", crate::helpers::ACCOUNT_SID.to_owned()),
            ("TWILIO_AUTH_TOKEN", crate::helpers::AUTH_TOKEN.to_owned()),
            ("SWITCHBOARD_LISTEN_ADDR", format!("127.0.0.1:{port}")),
            ("SWITCHBOARD_SERVER__DRAIN_DELAY_SECS", "0".to_owned()),
            ("SWITCHBOARD_LOG_FORMAT", "json".to_owned()),
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("serve starts");
    let client = switchboard::net::client_builder().build().expect("client");
    eventually(60, "the server is ready", || {
        let request = client.get(format!("{base}/ready")).send();
        async move { request.await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    (server, base, client)
}

/// Sends `signal` to `server`; its exit code and its log lines (each must be JSON).
async fn signal(mut server: tokio::process::Child, signal: &str) -> (Option<i32>, Vec<serde_json::Value>) {
    let pid = server.id().expect("running").to_string();
    let sent = std::process::Command::new("kill").args([signal, &pid]).status().expect("kill runs");
    assert!(sent.success());
    let status =
        tokio::time::timeout(Duration::from_secs(30), server.wait()).await.expect("exits").expect("status");
    let mut stdout = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut server.stdout.take().expect("stdout"), &mut stdout)
        .await
        .expect("read");
    let lines =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect();
    (status.code(), lines)
}

#[sqlx::test]
async fn the_binary_logs_json_lines_with_the_request_id_and_exits_0_on_sigterm(pool: PgPool) {
    let (server, base, client) = serve(&pool).await;
    let unsigned = client
        .post(format!("{base}/webhooks/twilio/calls/events"))
        .header("x-request-id", "rid-bin-1")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("CallSid=CA00000000000000000000000000000001")
        .send()
        .await
        .expect("sent");
    assert_eq!(unsigned.status(), 403);
    let (code, lines) = signal(server, "-TERM").await;
    assert_eq!(code, Some(0), "SIGTERM is a clean exit");
    let of_request: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["span"]["request_id"] == "rid-bin-1").collect();
    let messages: Vec<&str> = of_request.iter().filter_map(|l| l["message"].as_str()).collect();
    assert!(messages.contains(&"webhook refused: bad signature"), "{messages:?}");
    assert!(messages.contains(&"request finished"), "{messages:?}");
    for line in lines.iter().filter(|l| l["span"]["name"] == "request") {
        assert!(line["span"]["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{line}");
    }
    let position = |message: &str| lines.iter().position(|l| l["message"] == message);
    let term = position("SIGTERM received").expect("the signal is logged");
    let stopped: Vec<usize> =
        lines.iter().enumerate().filter(|(_, l)| l["message"] == "worker stopped").map(|(i, _)| i).collect();
    assert!(!stopped.is_empty() && stopped.iter().all(|&i| i > term), "workers stop after the signal");
    assert!(position("shutdown complete").is_some_and(|done| stopped.iter().all(|&i| i < done)));
}

#[sqlx::test]
async fn sigint_shuts_down_like_sigterm(pool: PgPool) {
    let (server, _, _) = serve(&pool).await;
    let (code, lines) = signal(server, "-INT").await;
    assert_eq!(code, Some(0));
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    let received = messages.iter().position(|m| *m == "SIGINT received").expect("the signal is logged");
    assert!(messages[received..].contains(&"shutdown complete"), "{messages:?}");
}

#[sqlx::test]
async fn the_shutdown_gives_up_on_a_request_outliving_its_timeout(pool: PgPool) {
    let entered = Arc::new(Notify::new());
    let never = Arc::new(Notify::new());
    let config = test_config(&[
        ("SWITCHBOARD_SERVER__SHUTDOWN_TIMEOUT_SECS", "1"),
        ("SWITCHBOARD_SERVER__REQUEST_TIMEOUT_SECS", "60"),
    ]);
    let overrides = Overrides {
        pool: Some(pool),
        routes: Some(slow_routes(entered.clone(), never.clone())),
        ..Overrides::default()
    };
    let app = spawn_with(config, overrides).await;
    let slow = tokio::spawn(app.client.get(app.url("/slow")).send());
    entered.notified().await;
    app.shutdown.cancel();
    // The request is never released: after the timeout the server gives up on it and stops.
    tokio::time::timeout(Duration::from_secs(30), app.server)
        .await
        .expect("the shutdown is bounded")
        .expect("server task")
        .expect("a clean exit");
    // The binary exits here, taking the held connection with it; in a test it lingers.
    assert!(!slow.is_finished(), "the shutdown did not wait for the held request");
    slow.abort();
}
