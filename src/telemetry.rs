//! Logging setup.
//!
//! Logs are JSON by default (`SWITCHBOARD_LOG_FORMAT=pretty` for humans) and filtered by
//! `RUST_LOG`. Phone numbers are masked with [`crate::redact::mask_phone`]; message bodies, recording URLs and
//! tokens are never logged at all.

use crate::config::LogFormat;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global tracing subscriber. Returns `false` if one was already installed (tests).
pub fn init(format: LogFormat) -> bool {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(fmt::layer().json().flatten_event(true).with_current_span(true).with_span_list(false))
            .try_init(),
        LogFormat::Pretty => registry.with(fmt::layer().pretty()).try_init(),
    };
    result.is_ok()
}
