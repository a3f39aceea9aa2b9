//! The `[console]` section: how long an operator console session lasts, and how often its event
//! stream looks for changes.

use super::setting_name;
use serde::Deserialize;
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsole {
    session_ttl_secs: u64,
    poll_interval_ms: u64,
}

/// Operator console settings.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// How long a console session lasts after sign-in (then the key is pasted again).
    pub session_ttl: chrono::Duration,
    /// How often an open page's event stream polls for changes.
    pub poll_interval: Duration,
}

/// A week: a session kept longer would outlive every shift it was meant for.
const MAX_TTL_SECS: u64 = 7 * 24 * 3600;

impl ConsoleConfig {
    pub(super) fn from_raw(raw: RawConsole, problems: &mut Vec<String>) -> Self {
        if !(60..=MAX_TTL_SECS).contains(&raw.session_ttl_secs) {
            let name = setting_name("console", "session_ttl_secs");
            problems.push(format!("{name} must be from 60 to {MAX_TTL_SECS}"));
        }
        if !(100..=60_000).contains(&raw.poll_interval_ms) {
            let name = setting_name("console", "poll_interval_ms");
            problems.push(format!("{name} must be from 100 to 60000"));
        }
        let ttl = raw.session_ttl_secs.clamp(60, MAX_TTL_SECS);
        ConsoleConfig {
            session_ttl: chrono::Duration::seconds(i64::try_from(ttl).unwrap_or(43_200)),
            poll_interval: Duration::from_millis(raw.poll_interval_ms.clamp(100, 60_000)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_are_named_and_good_ones_kept() {
        let mut problems = Vec::new();
        let good = ConsoleConfig::from_raw(
            RawConsole { session_ttl_secs: 3600, poll_interval_ms: 500 },
            &mut problems,
        );
        assert!(problems.is_empty());
        assert_eq!((good.session_ttl.num_seconds(), good.poll_interval), (3600, Duration::from_millis(500)));
        ConsoleConfig::from_raw(RawConsole { session_ttl_secs: 0, poll_interval_ms: 10 }, &mut problems);
        assert_eq!(problems.len(), 2);
        assert!(problems[0].contains("SWITCHBOARD_CONSOLE__SESSION_TTL_SECS"), "{problems:?}");
        assert!(problems[1].contains("SWITCHBOARD_CONSOLE__POLL_INTERVAL_MS"), "{problems:?}");
    }
}
