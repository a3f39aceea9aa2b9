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

/// The routes [`router`] serves.
pub const ROUTES: &[crate::openapi::Route] = &[("GET", "/health"), ("GET", "/ready"), ("GET", "/metrics")];

/// The OpenAPI fragment of [`ROUTES`] (no key).
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder};
    use utoipa::openapi::response::ResponseBuilder;
    let mut doc = utoipa::openapi::OpenApi::default();
    let probes = [
        ("/health", "The process runs", "200 while the process runs.", ""),
        (
            "/ready",
            "This instance can serve",
            "`{\"status\": \"ok\"|\"error\", \"checks\": {…}}`; 503 when a check is `error` or the instance is shutting down.",
            "503",
        ),
        ("/metrics", "Prometheus metrics", "The Prometheus text format.", ""),
    ];
    for (path, summary, description, other) in probes {
        let mut builder = OperationBuilder::new()
            .tag("probes")
            .summary(Some(summary))
            .description(Some(description))
            .response("200", ResponseBuilder::new().description(summary));
        if !other.is_empty() {
            builder = builder.response(other, ResponseBuilder::new().description("Not ready"));
        }
        let mut operation = builder.build();
        operation.security = Some(Vec::new());
        doc.paths.add_path_operation(path, vec![HttpMethod::Get], operation);
    }
    doc
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
