//! The typed sections and their validation. Raw values come from the merged TOML table; each
//! `from_raw` turns them into typed values and pushes one line per problem.

use super::{Purpose, setting_name};
use secrecy::SecretString;
use serde::Deserialize;
use std::time::Duration;
use url::Url;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    pub server: RawServer,
    pub db: RawDb,
    pub log: RawLog,
    pub twilio: super::twilio::RawTwilio,
    pub workers: super::outbox::RawWorkers,
    pub outbox: super::outbox::RawOutbox,
    pub notify: super::outbox::RawNotify,
    pub effects: super::effects::RawEffects,
    pub inbound: super::inbound::RawInbound,
    pub media: super::media::RawMedia,
    pub outbound: super::outbound::RawOutbound,
    pub console: super::console::RawConsole,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    listen_addr: String,
    public_base_url: String,
    trust_forwarded_headers: bool,
    drain_delay_secs: u64,
    shutdown_timeout_secs: u64,
    request_timeout_secs: u64,
    body_limit_bytes: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDb {
    url: String,
    pool_max: u32,
    pool_min: u32,
    acquire_timeout_secs: u64,
    idle_timeout_secs: u64,
    listen_url: String,
    statement_cache: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    format: String,
}

/// HTTP server settings (`[server]`).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `host:port` to bind; port 0 picks a free port (tests).
    pub listen_addr: String,
    /// The public URL Twilio uses to reach us, without a trailing slash.
    pub public_base_url: Option<Url>,
    /// Whether `X-Forwarded-Proto`/`X-Forwarded-Host` may be believed.
    pub trust_forwarded_headers: bool,
    /// How long `/ready` answers 503 before the listener closes.
    pub drain_delay: Duration,
    /// How long in-flight requests may take to finish after the drain delay.
    pub shutdown_timeout: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Largest accepted request body in bytes.
    pub body_limit_bytes: usize,
}

impl ServerConfig {
    pub(super) fn from_raw(raw: RawServer, problems: &mut Vec<String>) -> Self {
        if !is_host_port(&raw.listen_addr) {
            let name = setting_name("server", "listen_addr");
            problems.push(format!("{name} \"{}\" is not host:port", raw.listen_addr));
        }
        if raw.request_timeout_secs == 0 {
            problems.push(format!("{} must be at least 1", setting_name("server", "request_timeout_secs")));
        }
        if raw.body_limit_bytes < 1024 {
            problems.push(format!("{} must be at least 1024", setting_name("server", "body_limit_bytes")));
        }
        ServerConfig {
            public_base_url: parse_base_url(&raw.public_base_url, problems),
            listen_addr: raw.listen_addr,
            trust_forwarded_headers: raw.trust_forwarded_headers,
            drain_delay: Duration::from_secs(raw.drain_delay_secs),
            shutdown_timeout: Duration::from_secs(raw.shutdown_timeout_secs),
            request_timeout: Duration::from_secs(raw.request_timeout_secs),
            body_limit_bytes: usize::try_from(raw.body_limit_bytes).unwrap_or(usize::MAX),
        }
    }
}

fn is_host_port(value: &str) -> bool {
    let Some((host, port)) = value.rsplit_once(':') else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    !host.is_empty() && !host.contains(char::is_whitespace) && port.parse::<u16>().is_ok()
}

fn parse_base_url(value: &str, problems: &mut Vec<String>) -> Option<Url> {
    if value.is_empty() {
        return None;
    }
    let name = setting_name("server", "public_base_url");
    match Url::parse(value.trim_end_matches('/')) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host().is_some()
                && url.query().is_none()
                && url.fragment().is_none() =>
        {
            Some(url)
        }
        _ => {
            problems.push(format!("{name} \"{value}\" is not an http(s) URL without query"));
            None
        }
    }
}

/// PostgreSQL settings (`[db]`).
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// The connection URL (holds a password: never logged).
    pub url: Option<SecretString>,
    /// Largest number of pooled connections.
    pub pool_max: u32,
    /// Connections kept open when idle.
    pub pool_min: u32,
    /// How long to wait for a free connection.
    pub acquire_timeout: Duration,
    /// How long an idle connection above `pool_min` is kept.
    pub idle_timeout: Duration,
    /// A direct (unpooled) URL for the `LISTEN` connections, when `url` goes through a
    /// transaction-mode pooler such as PgBouncer, where `LISTEN` is lost at the transaction's end.
    /// `None`: the listeners use `url`.
    pub listen_url: Option<SecretString>,
    /// How many prepared statements sqlx keeps per connection (its statement cache).
    pub statement_cache: usize,
}

impl DbConfig {
    pub(super) fn from_raw(raw: RawDb, purpose: Purpose, problems: &mut Vec<String>) -> Self {
        let name = setting_name("db", "url");
        let url = if raw.url.trim().is_empty() {
            if purpose != Purpose::Probe {
                problems.push(format!("{name} is not set"));
            }
            None
        } else {
            if raw.url.parse::<sqlx::postgres::PgConnectOptions>().is_err() {
                problems.push(format!("{name} is not a valid postgres:// URL"));
            }
            Some(SecretString::from(raw.url))
        };
        if raw.pool_max == 0 {
            problems.push(format!("{} must be at least 1", setting_name("db", "pool_max")));
        }
        if raw.pool_min > raw.pool_max {
            problems.push(format!(
                "{} must not exceed {}",
                setting_name("db", "pool_min"),
                setting_name("db", "pool_max")
            ));
        }
        let listen_url = if raw.listen_url.trim().is_empty() {
            None
        } else {
            if raw.listen_url.parse::<sqlx::postgres::PgConnectOptions>().is_err() {
                problems.push(format!("{} is not a valid postgres:// URL", setting_name("db", "listen_url")));
            }
            Some(SecretString::from(raw.listen_url))
        };
        if raw.statement_cache == 0 {
            // sqlx 0.9 still names (and never closes) every statement when its cache is off, so 0
            // would leak prepared statements on each connection instead of avoiding them.
            problems.push(format!(
                "{} must be at least 1 (0 does not stop sqlx from preparing named statements; see docs/scaling.md)",
                setting_name("db", "statement_cache")
            ));
        }
        DbConfig {
            url,
            listen_url,
            statement_cache: raw.statement_cache,
            pool_max: raw.pool_max,
            pool_min: raw.pool_min,
            acquire_timeout: Duration::from_secs(raw.acquire_timeout_secs),
            idle_timeout: Duration::from_secs(raw.idle_timeout_secs),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (production).
    Json,
    /// Human-readable, coloured (development).
    Pretty,
}

/// Logging settings (`[log]`).
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Output format.
    pub format: LogFormat,
}

impl LogConfig {
    pub(super) fn from_raw(raw: RawLog, problems: &mut Vec<String>) -> Self {
        let format = match raw.format.as_str() {
            "json" => LogFormat::Json,
            "pretty" => LogFormat::Pretty,
            other => {
                let name = setting_name("log", "format");
                problems.push(format!("{name} \"{other}\" is not json or pretty"));
                LogFormat::Json
            }
        };
        LogConfig { format }
    }
}
