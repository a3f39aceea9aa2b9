//! `/health` (the process runs), `/ready` (this instance can serve: dependency checks with
//! timeouts) and `/metrics` (Prometheus text).

mod checks;
mod heartbeat;
pub mod metrics;
mod ready;

pub use checks::{ConfigWarnings, DatabaseCheck, MigrationsCheck};
pub use heartbeat::{Heartbeat, HeartbeatCheck, Heartbeats};
pub use ready::{CheckResult, CheckStatus, ReadinessCheck, ReadinessRegistry, ShutdownFlag};

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

/// What the probe routes read, handed to them as axum substate (`FromRef`), so this module does
/// not depend on the application state (which holds its registry).
#[derive(Clone)]
pub struct HealthState {
    /// The pool (its gauges on `/metrics`).
    pub db: sqlx::PgPool,
    /// This instance's readiness checks and shutdown flag.
    pub readiness: Arc<ReadinessRegistry>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}

/// The probe routes.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    HealthState: FromRef<S>,
{
    Router::new()
        .route("/health", get(ready::health))
        .route("/ready", get(ready::ready))
        .route("/metrics", get(metrics::render))
}
