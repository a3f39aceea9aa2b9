//! The `[inbound]` section: where answered webhooks wait on disk while the database is away, and
//! how the per-replica writer groups webhook writes into shared transactions (group commit).

use super::setting_name;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInbound {
    spool_dir: String,
    group_commit_max_batch: u32,
    group_commit_linger_ms: u64,
    group_commit_in_flight: u32,
}

/// Inbound settings.
#[derive(Debug, Clone)]
pub struct InboundConfig {
    /// The directory of the append-only spool of effects waiting for the database; `None` keeps
    /// them in memory only (lost if the replica is killed during an outage).
    pub spool_dir: Option<PathBuf>,
    /// Most webhook writes committed in one transaction (1: one transaction per webhook).
    pub group_commit_max_batch: usize,
    /// How long a batch that is not full waits for more writes, only while the writer is busy
    /// (a lone webhook on an idle writer never waits).
    pub group_commit_linger: Duration,
    /// Batches committing at once per replica (each holds one pooled connection).
    pub group_commit_in_flight: usize,
}

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            spool_dir: None,
            group_commit_max_batch: 64,
            group_commit_linger: Duration::from_millis(1),
            group_commit_in_flight: 2,
        }
    }
}

impl InboundConfig {
    pub(super) fn from_raw(raw: RawInbound, problems: &mut Vec<String>) -> Self {
        for (key, value) in [
            ("group_commit_max_batch", raw.group_commit_max_batch),
            ("group_commit_in_flight", raw.group_commit_in_flight),
        ] {
            if value == 0 {
                problems.push(format!("{} must be at least 1", setting_name("inbound", key)));
            }
        }
        let dir = raw.spool_dir.trim();
        InboundConfig {
            spool_dir: (!dir.is_empty()).then(|| PathBuf::from(dir)),
            group_commit_max_batch: usize::try_from(raw.group_commit_max_batch.max(1)).unwrap_or(64),
            group_commit_linger: Duration::from_millis(raw.group_commit_linger_ms),
            group_commit_in_flight: usize::try_from(raw.group_commit_in_flight.max(1)).unwrap_or(2),
        }
    }
}
