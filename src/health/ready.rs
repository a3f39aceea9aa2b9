//! The readiness registry: named checks run concurrently, each bounded by a timeout, so `/ready`
//! answers within 2 s even when a dependency hangs. Later domains add their own checks (worker
//! heartbeats, downstream services) when the application is built.

use super::HealthState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long one check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(1500);

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Working.
    Ok,
    /// Shown, but keeps the instance ready (a feature turned off, development mode).
    Warning,
    /// Not working: the instance is not ready.
    Error,
}

/// One check's answer as shown by `/ready`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// ok, warning or error.
    pub status: CheckStatus,
    /// How long the check took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// What is wrong (never a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CheckResult {
    /// A passing check.
    pub fn ok() -> Self {
        CheckResult { status: CheckStatus::Ok, latency_ms: None, error: None }
    }

    /// A failing check.
    pub fn error(message: impl Into<String>) -> Self {
        CheckResult { status: CheckStatus::Error, latency_ms: None, error: Some(message.into()) }
    }

    /// A warning that keeps the instance ready.
    pub fn warning(message: impl Into<String>) -> Self {
        CheckResult { status: CheckStatus::Warning, latency_ms: None, error: Some(message.into()) }
    }
}

/// A dependency check.
#[async_trait::async_trait]
pub trait ReadinessCheck: Send + Sync {
    /// The key under `checks` in `/ready`.
    fn name(&self) -> &'static str;
    /// Runs the check; the registry bounds it with [`CHECK_TIMEOUT`].
    async fn check(&self) -> CheckResult;
}

/// Every check of this instance, plus its shutdown flag.
#[derive(Default)]
pub struct ReadinessRegistry {
    checks: Vec<Arc<dyn ReadinessCheck>>,
    /// Set when shutdown begins.
    pub shutdown: ShutdownFlag,
}

impl ReadinessRegistry {
    /// Adds a check.
    pub fn register(&mut self, check: Arc<dyn ReadinessCheck>) {
        self.checks.push(check);
    }

    /// Runs every check concurrently, each under the timeout.
    pub async fn run(&self) -> BTreeMap<&'static str, CheckResult> {
        let runs = self.checks.iter().map(|check| async move {
            let started = Instant::now();
            let mut result = match tokio::time::timeout(CHECK_TIMEOUT, check.check()).await {
                Ok(result) => result,
                Err(_) => CheckResult::error(format!("timed out after {} ms", CHECK_TIMEOUT.as_millis())),
            };
            result.latency_ms.get_or_insert(elapsed_ms(started));
            (check.name(), result)
        });
        futures::future::join_all(runs).await.into_iter().collect()
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// `GET /health`: the process is alive. No dependency is checked.
pub(super) async fn health() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// `GET /ready`: 200 when every check passes, 503 otherwise or while shutting down.
pub(super) async fn ready(State(state): State<HealthState>) -> impl IntoResponse {
    let mut checks = serde_json::Map::new();
    let mut failing = false;
    for (name, result) in state.readiness.run().await {
        failing |= result.status == CheckStatus::Error;
        checks.insert(name.to_string(), serde_json::to_value(result).unwrap_or_default());
    }
    if state.readiness.shutdown.is_set() {
        failing = true;
        checks.insert("shutdown".into(), json!({"status": "error", "error": "shutting down"}));
    }
    let (status, word) =
        if failing { (StatusCode::SERVICE_UNAVAILABLE, "error") } else { (StatusCode::OK, "ok") };
    (status, Json(json!({"status": word, "checks": checks})))
}

/// Whether this process has begun shutting down. Per-process by nature: it describes this
/// instance, not the system.
#[derive(Debug, Default)]
pub struct ShutdownFlag(AtomicBool);

impl ShutdownFlag {
    /// Marks the instance as shutting down; `/ready` answers 503 from now on.
    pub fn begin(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has begun.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
