//! Prometheus metrics. The recorder is process-global by nature (the `metrics` facade keeps it in
//! a static): it is installed once and shared by every application in the process (tests).

use super::HealthState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The group commit's batch sizes (a histogram of writes per batch).
pub const BATCH_SIZE: &str = "inbound_group_commit_batch_size";
/// Its buckets: writes per batch, up to the largest batch size anyone would configure.
const BATCH_SIZE_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The process's recorder handle, installing the recorder on first use.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
                // A count, not a duration: the seconds buckets above would put every batch in `1`..`+Inf`.
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(BATCH_SIZE.into()), &BATCH_SIZE_BUCKETS)
                });
            let recorder = builder.unwrap_or_else(|_| PrometheusBuilder::new()).build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then ours just stays empty.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// `GET /metrics`.
pub(super) async fn render(State(state): State<HealthState>) -> impl IntoResponse {
    let pool = &state.db;
    let idle = pool.num_idle() as f64;
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("db_pool_connections", "state" => "active").set(f64::from(pool.size()) - idle);
    metrics::gauge!("db_pool_connections", "state" => "max")
        .set(f64::from(pool.options().get_max_connections()));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

/// Middleware: `http_requests_total{method,route,status}` and
/// `http_request_duration_seconds{method,route}`. The route is the matched path template, never
/// the raw path, so ids and phone numbers do not become labels.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
