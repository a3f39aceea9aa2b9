//! The `[inbound]` section: where answered webhooks wait on disk while the database is away.

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInbound {
    spool_dir: String,
}

/// Inbound settings.
#[derive(Debug, Clone, Default)]
pub struct InboundConfig {
    /// The directory of the append-only spool of effects waiting for the database; `None` keeps
    /// them in memory only (lost if the replica is killed during an outage).
    pub spool_dir: Option<PathBuf>,
}

impl InboundConfig {
    pub(super) fn from_raw(raw: RawInbound) -> Self {
        let dir = raw.spool_dir.trim();
        InboundConfig { spool_dir: (!dir.is_empty()).then(|| PathBuf::from(dir)) }
    }
}
