//! The HTTP router: merges the routers startup hands it (the core's and each domain's) and applies the cross-cutting layers — request id,
//! trace span, metrics, panic catching, request timeout and body limit — and turns unknown routes
//! and wrong methods into problem+json.

use crate::error::{self, problem_response};
use crate::health;
use crate::state::AppState;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, StatusCode};
use axum::response::Response;
use axum::{BoxError, Router};
use std::any::Any;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// The header that carries the request id in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application's router: `routers` merged, behind the cross-cutting layers.
pub fn router(state: AppState, routers: Vec<Router<AppState>>) -> Router {
    let config = &state.config.server;
    let timeout = config.request_timeout;
    let body_limit = config.body_limit_bytes;
    routers
        .into_iter()
        .fold(Router::new(), Router::merge)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(make_span)
                        .on_request(())
                        .on_response(on_response)
                        .on_failure(()),
                )
                .layer(axum::middleware::from_fn(health::metrics::track))
                .layer(CatchPanicLayer::custom(on_panic))
                .layer(HandleErrorLayer::new(on_timeout))
                .timeout(timeout)
                .layer(DefaultBodyLimit::max(body_limit)),
        )
        .with_state(state)
}

fn make_span(request: &Request) -> Span {
    let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str());
    tracing::info_span!(
        "request",
        request_id,
        method = %request.method(),
        route,
        status = tracing::field::Empty,
        "call.sid" = tracing::field::Empty,
        "message.sid" = tracing::field::Empty,
        "tenant.id" = tracing::field::Empty,
    )
}

fn on_response(response: &Response, latency: Duration, span: &Span) {
    span.record("status", response.status().as_u16());
    let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    tracing::info!(latency_ms, "request finished");
}

fn on_panic(_payload: Box<dyn Any + Send + 'static>) -> Response {
    // The payload may quote request data, so it is not logged.
    tracing::error!("handler panicked");
    problem_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred".into(), None)
}

async fn on_timeout(error: BoxError) -> Response {
    if error.is::<tower::timeout::error::Elapsed>() {
        tracing::warn!("request timed out");
        problem_response(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the request timed out".into(), None)
    } else {
        tracing::error!(error = %error, "middleware error");
        problem_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred".into(),
            None,
        )
    }
}
