//! The `[workers]`, `[outbox]` and `[notify]` sections.

use super::setting_name;
use base64::Engine;
use secrecy::SecretSlice;
use serde::Deserialize;
use std::time::Duration;
use url::Url;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkers {
    enabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutbox {
    max_attempts: u32,
    backoff_base_secs: u64,
    backoff_max_secs: u64,
    batch_size: u32,
    per_tenant: u32,
    lease_secs: u64,
    concurrency: u32,
    poll_interval_ms: u64,
    http_timeout_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    call_service_url: String,
    bot_url: String,
    dispatch_url: String,
    monitor_url: String,
    webhook_secret: String,
}

/// Background workers.
#[derive(Debug, Clone)]
pub struct WorkersConfig {
    /// Whether this process runs them.
    pub enabled: bool,
}

impl WorkersConfig {
    pub(super) fn from_raw(raw: RawWorkers) -> Self {
        WorkersConfig { enabled: raw.enabled }
    }
}

/// Outbox delivery.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// Deliveries before `dead`.
    pub max_attempts: i32,
    /// First backoff step.
    pub backoff_base: Duration,
    /// Largest backoff step.
    pub backoff_max: Duration,
    /// Messages per round.
    pub batch_size: i64,
    /// At most this many of one tenant per round.
    pub per_tenant: i64,
    /// Delivery lease.
    pub lease: Duration,
    /// Deliveries in flight.
    pub concurrency: usize,
    /// Polling interval when not woken.
    pub poll_interval: Duration,
    /// HTTP delivery timeout.
    pub http_timeout: Duration,
}

impl OutboxConfig {
    pub(super) fn from_raw(raw: RawOutbox, problems: &mut Vec<String>) -> Self {
        let mut at_least_one = |key: &str, value: u64| {
            if value == 0 {
                problems.push(format!("{} must be at least 1", setting_name("outbox", key)));
            }
        };
        at_least_one("max_attempts", raw.max_attempts.into());
        at_least_one("batch_size", raw.batch_size.into());
        at_least_one("per_tenant", raw.per_tenant.into());
        at_least_one("lease_secs", raw.lease_secs);
        at_least_one("concurrency", raw.concurrency.into());
        at_least_one("poll_interval_ms", raw.poll_interval_ms);
        at_least_one("backoff_base_secs", raw.backoff_base_secs);
        OutboxConfig {
            max_attempts: i32::try_from(raw.max_attempts).unwrap_or(i32::MAX),
            backoff_base: Duration::from_secs(raw.backoff_base_secs),
            backoff_max: Duration::from_secs(raw.backoff_max_secs.max(raw.backoff_base_secs)),
            batch_size: raw.batch_size.into(),
            per_tenant: raw.per_tenant.into(),
            lease: Duration::from_secs(raw.lease_secs),
            concurrency: usize::try_from(raw.concurrency).unwrap_or(16),
            poll_interval: Duration::from_millis(raw.poll_interval_ms),
            http_timeout: Duration::from_secs(raw.http_timeout_secs.max(1)),
        }
    }
}

/// Downstream services and the secret signing what we send them.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// The call service.
    pub call_service_url: Option<Url>,
    /// The AI bot.
    pub bot_url: Option<Url>,
    /// The dispatcher.
    pub dispatch_url: Option<Url>,
    /// The monitor team (sirens).
    pub monitor_url: Option<Url>,
    /// The decoded bytes of the `whsec_…` secret.
    pub webhook_secret: Option<SecretSlice<u8>>,
}

impl NotifyConfig {
    pub(super) fn from_raw(raw: RawNotify, problems: &mut Vec<String>) -> Self {
        let mut url = |key: &str, value: &str| -> Option<Url> {
            if value.is_empty() {
                return None;
            }
            match Url::parse(value) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
                _ => {
                    problems
                        .push(format!("{} \"{value}\" is not an http(s) URL", setting_name("notify", key)));
                    None
                }
            }
        };
        let call_service_url = url("call_service_url", &raw.call_service_url);
        let bot_url = url("bot_url", &raw.bot_url);
        let dispatch_url = url("dispatch_url", &raw.dispatch_url);
        let monitor_url = url("monitor_url", &raw.monitor_url);
        let webhook_secret = if raw.webhook_secret.is_empty() {
            None
        } else {
            let encoded = raw.webhook_secret.strip_prefix("whsec_").unwrap_or(&raw.webhook_secret);
            match base64::engine::general_purpose::STANDARD.decode(encoded) {
                Ok(bytes) if bytes.len() >= 16 => Some(SecretSlice::from(bytes)),
                _ => {
                    problems.push(format!(
                        "{} must be whsec_ followed by base64 of at least 16 bytes",
                        setting_name("notify", "webhook_secret")
                    ));
                    None
                }
            }
        };
        NotifyConfig { call_service_url, bot_url, dispatch_url, monitor_url, webhook_secret }
    }
}
