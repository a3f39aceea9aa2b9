//! The `[outbound]` section: the dialer's upload limit, slot lease and polling.

use super::setting_name;
use serde::Deserialize;
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutbound {
    upload_limit_bytes: u64,
    slot_lease_secs: u64,
    poll_interval_ms: u64,
}

/// Outbound queue settings.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// The body limit of a leads upload.
    pub upload_limit_bytes: usize,
    /// How long a slot is held without news before the call is fetched and settled.
    pub slot_lease: Duration,
    /// The dialer's polling interval.
    pub poll_interval: Duration,
}

impl OutboundConfig {
    pub(super) fn from_raw(raw: RawOutbound, problems: &mut Vec<String>) -> Self {
        if raw.upload_limit_bytes < 1024 {
            problems
                .push(format!("{} must be at least 1024", setting_name("outbound", "upload_limit_bytes")));
        }
        if raw.slot_lease_secs == 0 {
            problems.push(format!("{} must be at least 1", setting_name("outbound", "slot_lease_secs")));
        }
        if raw.poll_interval_ms == 0 {
            problems.push(format!("{} must be at least 1", setting_name("outbound", "poll_interval_ms")));
        }
        OutboundConfig {
            upload_limit_bytes: usize::try_from(raw.upload_limit_bytes).unwrap_or(usize::MAX),
            slot_lease: Duration::from_secs(raw.slot_lease_secs),
            poll_interval: Duration::from_millis(raw.poll_interval_ms),
        }
    }
}
