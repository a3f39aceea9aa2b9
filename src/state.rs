//! The application state shared by every handler and worker. Everything here is either a handle
//! to PostgreSQL (the truth), immutable configuration, or a per-process cache/flag that may be
//! lost at any moment without losing data.

use crate::clock::Clock;
use crate::config::Config;
use crate::effects::EffectOwners;
use crate::health::{Heartbeats, ReadinessRegistry};
use crate::tenants::NumberDirectory;
use crate::twilio::TwilioApi;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Handles shared by handlers and workers. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The PostgreSQL pool.
    pub db: PgPool,
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
    /// Cached called-number → tenant routing.
    pub directory: Arc<NumberDirectory>,
    /// Wakes this instance's outbox worker after a commit that enqueued something.
    pub outbox_wake: Arc<tokio::sync::Notify>,
    /// This instance's worker heartbeats.
    pub heartbeats: Arc<Heartbeats>,
    /// The client for outgoing notifications.
    pub http: reqwest::Client,
    /// The domains that own the calls and messages we create.
    pub effect_owners: Arc<EffectOwners>,
    /// Wakes this instance's crisis expiry worker (a nearer deadline appeared).
    pub crisis_wake: Arc<tokio::sync::Notify>,
    /// Inbound call records waiting for the database (it was down while the call rang).
    pub pending_calls: Arc<crate::inbound::PendingCalls>,
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
