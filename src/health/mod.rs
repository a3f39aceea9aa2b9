//! `/health` (the process runs), `/ready` (this instance can serve: dependency checks with
//! timeouts) and `/metrics` (Prometheus text).

mod checks;
mod heartbeat;
pub mod metrics;
mod ready;

pub use checks::{ConfigWarnings, DatabaseCheck, MigrationsCheck};
pub use heartbeat::{Heartbeat, HeartbeatCheck, Heartbeats};
pub use ready::{CheckResult, CheckStatus, ReadinessCheck, ReadinessRegistry};

use crate::state::AppState;
use axum::Router;
use axum::routing::get;

/// The probe routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(ready::health))
        .route("/ready", get(ready::ready))
        .route("/metrics", get(metrics::render))
}
