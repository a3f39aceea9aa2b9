//! The `[effects]` section: pacing and reconciliation of the calls and messages we create.

use super::setting_name;
use serde::Deserialize;
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEffects {
    calls_per_second: f64,
    messages_per_second: f64,
    reconcile_window_secs: u64,
    rate_limit_penalty_secs: u64,
}

/// Twilio effects settings.
#[derive(Debug, Clone)]
pub struct EffectsConfig {
    /// Calls created per second, account-wide.
    pub calls_per_second: f64,
    /// Messages sent per second, account-wide.
    pub messages_per_second: f64,
    /// How long an unknown outcome waits for a callback before the list is checked.
    pub reconcile_window: Duration,
    /// Pause after a 429.
    pub rate_limit_penalty: Duration,
}

impl EffectsConfig {
    pub(super) fn from_raw(raw: RawEffects, problems: &mut Vec<String>) -> Self {
        for (key, value) in
            [("calls_per_second", raw.calls_per_second), ("messages_per_second", raw.messages_per_second)]
        {
            if !(value > 0.0 && value <= 1000.0) {
                problems.push(format!(
                    "{} must be a number above 0 (at most 1000)",
                    setting_name("effects", key)
                ));
            }
        }
        EffectsConfig {
            calls_per_second: raw.calls_per_second,
            messages_per_second: raw.messages_per_second,
            reconcile_window: Duration::from_secs(raw.reconcile_window_secs),
            rate_limit_penalty: Duration::from_secs(raw.rate_limit_penalty_secs),
        }
    }
}
