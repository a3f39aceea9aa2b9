//! The application state shared by every handler and worker: handles to PostgreSQL (the truth),
//! immutable configuration, and per-process plumbing (clock, readiness, wake-ups) that may be lost
//! at any moment without losing data. It names no domain: what a domain needs of its own (a cache,
//! a wake-up) it keeps in its [`crate::domain::Domain`] value and hands its routes as an axum
//! `Extension`. Plumbing modules that must not depend on this type (`twilio/`, `health/`) get
//! their part through `FromRef`.

use crate::clock::Clock;
use crate::config::Config;
use crate::health::{HealthState, Heartbeats, ReadinessRegistry};
use crate::twilio::{TwilioApi, WebhookSettings};
use axum::extract::FromRef;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use std::sync::Arc;

/// Handles shared by handlers and workers. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The PostgreSQL pool.
    pub db: PgPool,
    /// Where the `LISTEN` connections come from: `db`, or a direct pool when `db` goes through a
    /// transaction-mode pooler (`SWITCHBOARD_DB__LISTEN_URL`).
    pub listen_db: PgPool,
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The only source of "now" for business decisions.
    pub clock: Arc<dyn Clock>,
    /// This instance's readiness checks and its shutdown flag.
    pub readiness: Arc<ReadinessRegistry>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The Twilio REST API (Twilio itself, the emulator, or a test's HTTP fake).
    pub twilio: Arc<dyn TwilioApi>,
    /// What the Twilio webhook extractor needs (derived from the configuration once).
    pub webhooks: Arc<WebhookSettings>,
    /// Wakes this instance's outbox worker after a commit that enqueued something.
    pub outbox_wake: Arc<tokio::sync::Notify>,
    /// This instance's worker heartbeats.
    pub heartbeats: Arc<Heartbeats>,
    /// The client for outgoing notifications.
    pub http: reqwest::Client,
}

impl AppState {
    /// An absolute URL for Twilio from `PUBLIC_BASE_URL`, or the path alone (Twilio resolves a
    /// relative TwiML URL against the document that contains it).
    pub fn public_url(&self, path_and_query: &str) -> String {
        match &self.config.server.public_base_url {
            Some(base) => format!("{}{path_and_query}", base.as_str().trim_end_matches('/')),
            None => path_and_query.to_owned(),
        }
    }
}

impl FromRef<AppState> for Arc<WebhookSettings> {
    fn from_ref(state: &AppState) -> Self {
        state.webhooks.clone()
    }
}

impl FromRef<AppState> for HealthState {
    fn from_ref(state: &AppState) -> Self {
        HealthState {
            db: state.db.clone(),
            readiness: state.readiness.clone(),
            metrics: state.metrics.clone(),
        }
    }
}

/// The webhook extractor's settings, from the configuration.
pub fn webhook_settings(config: &Config) -> WebhookSettings {
    WebhookSettings {
        twilio: Arc::new(config.twilio.clone()),
        public_base_url: config.server.public_base_url.clone(),
        trust_forwarded_headers: config.server.trust_forwarded_headers,
        body_limit_bytes: config.server.body_limit_bytes,
    }
}
