//! Test helpers: spawning the app, configuration, typed requests.

use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Once};
use switchboard::clock::{Clock, ManualClock};
use switchboard::config::{Config, Purpose};
use switchboard::domain::{Domain, Effects};
use switchboard::effects::EffectOwner;
use switchboard::outbox::{OutboxWorker, Registry};
use switchboard::startup::{Application, Overrides};
use switchboard::state::AppState;
use switchboard::tenants::NumberDirectory;
use switchboard::worker::Worker;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The account the test app belongs to.
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
/// Its auth token (signs the test webhooks).
pub const AUTH_TOKEN: &str = "test-auth-token-0123456789abcdef";

/// A running application.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// The app's state: tests drive its workers with `run_once()`.
    #[allow(dead_code)]
    pub state: AppState,
    pub shutdown: CancellationToken,
    pub server: JoinHandle<anyhow::Result<()>>,
    /// Every worker the app built (spawned or not): tests drive them with `run_once()`.
    pub workers: Vec<Arc<dyn Worker>>,
    /// The outbox's destinations and hooks.
    pub registry: Registry,
    /// The called-number directory.
    #[allow(dead_code)]
    pub directory: Arc<NumberDirectory>,
    /// Every route the router serves (method, path), from the lists kept next to the routers.
    #[allow(dead_code)]
    pub routes: Vec<(&'static str, &'static str)>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request sent")
    }

    /// The app's worker named `name`.
    #[allow(dead_code)]
    pub fn worker(&self, name: &str) -> Arc<dyn Worker> {
        self.workers.iter().find(|w| w.name() == name).cloned().unwrap_or_else(|| panic!("no worker {name}"))
    }

    /// A fresh outbox worker over the app's registry (as a replica's would be).
    #[allow(dead_code)]
    pub fn outbox(&self) -> OutboxWorker {
        OutboxWorker::new(&self.state, self.registry.clone())
    }

    /// Cancels the shutdown token and waits for the server to stop.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.server.await.expect("server task")
    }
}

static LOGS: Once = Once::new();

/// Logs go to the test output only when `TEST_LOG` is set.
pub fn init_logs() {
    LOGS.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            switchboard::telemetry::init(switchboard::config::LogFormat::Pretty);
        }
    });
}

/// A configuration for tests: the given variables over test defaults (port 0, no drain delay).
pub fn test_config(vars: &[(&str, &str)]) -> Config {
    let mut map: HashMap<String, String> = [
        ("DATABASE_URL", "postgres://unused@127.0.0.1:1/unused"),
        ("SWITCHBOARD_LISTEN_ADDR", "127.0.0.1:0"),
        ("SWITCHBOARD_SERVER__DRAIN_DELAY_SECS", "0"),
        ("SWITCHBOARD_SERVER__SHUTDOWN_TIMEOUT_SECS", "10"),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("TWILIO_API_BASE", "http://127.0.0.1:1"),
        // Tests drive workers with run_once().
        ("SWITCHBOARD_WORKERS__ENABLED", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in vars {
        map.insert(k.to_string(), v.to_string());
    }
    Config::load(Purpose::Serve, &move |name| map.get(name).cloned()).expect("valid test config")
}

/// Spawns the app on the given pool with the default test configuration.
pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_with(test_config(&[]), Overrides { pool: Some(pool), ..Overrides::default() }).await
}

/// Spawns the app with a frozen clock.
pub async fn spawn_with_clock(pool: PgPool, clock: Arc<ManualClock>) -> TestApp {
    spawn_with_clock_and(pool, clock, &[]).await
}

/// Spawns the app with a frozen clock and extra configuration.
pub async fn spawn_with_clock_and(pool: PgPool, clock: Arc<ManualClock>, vars: &[(&str, &str)]) -> TestApp {
    let overrides = Overrides { pool: Some(pool), clock: Some(clock), ..Overrides::default() };
    spawn_with(test_config(vars), overrides).await
}

/// A clock frozen at a fixed, recognisable instant.
pub fn frozen_clock() -> Arc<ManualClock> {
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-23T15:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    Arc::new(ManualClock::new(start))
}

/// Runs the `switchboard` binary as a user would: only `PATH` and `vars` in its environment.
pub fn switchboard(args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.args(args).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command.envs(vars.iter().copied()).output().expect("binary runs")
}

/// Runs the `switchboard` binary against the test's database.
pub fn switchboard_cli(connect: &sqlx::postgres::PgConnectOptions, args: &[&str]) -> std::process::Output {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let mut url = url::Url::parse(&base).expect("url");
    url.set_path(connect.get_database().expect("test database"));
    switchboard(args, &[("DATABASE_URL", url.as_str())])
}

/// Spawns the app with any configuration and overrides.
pub async fn spawn_with(config: Config, overrides: Overrides) -> TestApp {
    init_logs();
    let app = Application::build_with(config, overrides).await.expect("app builds");
    let port = app.port();
    let state = app.state().clone();
    let workers = app.workers().to_vec();
    let registry = app.outbox_registry().clone();
    let directory = app.directory().clone();
    let routes = app.routes().to_vec();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: switchboard::net::client_builder().build().expect("client"),
        state,
        shutdown,
        server,
        workers,
        registry,
        directory,
        routes,
    }
}

/// A domain that only owns Twilio effects under `name` (tests observe or stand in for one).
#[allow(dead_code)]
pub fn owner_domain(name: &'static str, owner: Arc<dyn EffectOwner>) -> Arc<dyn Domain> {
    struct OwnerOnly(&'static str, Arc<dyn EffectOwner>);
    impl Domain for OwnerOnly {
        fn name(&self) -> &'static str {
            self.0
        }
        fn effects(&self, _clock: &Arc<dyn Clock>) -> Option<Effects> {
            Some(Effects { domain: self.0, owner: Some(self.1.clone()) })
        }
        fn router(&self) -> axum::Router<AppState> {
            axum::Router::new()
        }
    }
    Arc::new(OwnerOnly(name, owner))
}

/// Polls `check` until it returns true, failing the test after `secs` seconds.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if check().await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Typed requests to the operator API.
impl TestApp {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    pub async fn post_json(&self, path: &str, token: &str, body: serde_json::Value) -> reqwest::Response {
        self.call(reqwest::Method::POST, path, token, Some(body)).await
    }

    pub async fn patch_json(&self, path: &str, token: &str, body: serde_json::Value) -> reqwest::Response {
        self.call(reqwest::Method::PATCH, path, token, Some(body)).await
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> reqwest::Response {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn delete_auth(&self, path: &str, token: &str) -> reqwest::Response {
        self.call(reqwest::Method::DELETE, path, token, None).await
    }

    /// A fresh superadmin token (created through the library, as the CLI does).
    pub async fn superadmin(&self) -> String {
        use switchboard::auth::{Role, keys};
        let mut conn = self.state.db.acquire().await.expect("conn");
        let new = keys::NewKey { tenant: None, role: Role::Superadmin, subject: None, name: "test".into() };
        keys::insert(&mut conn, &new, chrono::Utc::now()).await.expect("key").token
    }

    /// Creates a tenant through the API; returns its id.
    pub async fn create_tenant(&self, superadmin: &str, slug: &str) -> String {
        let response = self.post_json("/api/tenants", superadmin, crate::fixture::tenant_body(slug)).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
        let tenant: serde_json::Value = response.json().await.expect("json");
        tenant["id"].as_str().expect("id").to_owned()
    }

    /// Creates a key of `role` for a tenant through the API; returns the token.
    pub async fn tenant_key(&self, superadmin: &str, tenant: &str, role: &str) -> String {
        let body =
            serde_json::json!({"role": role, "subject": "order-owner-1", "name": format!("{role} key")});
        let response = self.post_json(&format!("/api/tenants/{tenant}/keys"), superadmin, body).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
        let key: serde_json::Value = response.json().await.expect("json");
        key["token"].as_str().expect("token").to_owned()
    }
}

/// The SQLSTATE and message of the database error a statement must fail with.
pub fn db_error<T: std::fmt::Debug>(result: Result<T, sqlx::Error>) -> (String, String) {
    let error = result.expect_err("the statement must be refused");
    let db = error.as_database_error().unwrap_or_else(|| panic!("not a database error: {error}"));
    (db.code().unwrap_or_default().into_owned(), db.message().to_owned())
}
