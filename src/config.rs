//! Typed configuration: `config/default.toml` (embedded) → the file named by `SWITCHBOARD_CONFIG`
//! → the environment.
//!
//! Every setting has an environment name, `SWITCHBOARD_<SECTION>__<KEY>`, and a few have the
//! well-known names of DESIGN.md §4 (`DATABASE_URL`, `SWITCHBOARD_LISTEN_ADDR`, …), which win.
//! [`Config::load`] checks everything at once and reports every problem as one line naming the
//! variable, so an operator fixes a broken deployment in one round trip.

mod console;
mod effects;
mod env;
mod inbound;
mod media;
mod outbound;
mod outbox;
mod sections;
mod twilio;

pub use console::ConsoleConfig;
pub use effects::EffectsConfig;
pub use env::setting_name;
pub use inbound::InboundConfig;
pub use media::MediaConfig;
pub use outbound::OutboundConfig;
pub use outbox::{NotifyConfig, OutboxConfig, WorkersConfig};
pub use sections::{DbConfig, LogConfig, LogFormat, ServerConfig};
pub use twilio::{ApiCredentials, TwilioConfig};

use secrecy::SecretString;
use std::fmt;

/// The embedded defaults: every setting, its default and a comment.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// What the configuration is loaded for: each command needs a different subset of settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `serve`: everything.
    Serve,
    /// `migrate`, `keys`, `audit`: only the database.
    Database,
    /// `healthcheck`: nothing is required.
    Probe,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP server settings.
    pub server: ServerConfig,
    /// PostgreSQL settings.
    pub db: DbConfig,
    /// Logging settings.
    pub log: LogConfig,
    /// Twilio account, webhook verification and REST settings.
    pub twilio: TwilioConfig,
    /// Background workers.
    pub workers: WorkersConfig,
    /// Outbox delivery.
    pub outbox: OutboxConfig,
    /// Downstream services.
    pub notify: NotifyConfig,
    /// Pacing and reconciliation of Twilio effects.
    pub effects: EffectsConfig,
    /// Inbound webhooks while the database is away.
    pub inbound: InboundConfig,
    /// Recording links.
    pub media: MediaConfig,
    /// The outbound queue.
    pub outbound: OutboundConfig,
    /// The operator console.
    pub console: ConsoleConfig,
}

/// Every problem found while loading the configuration, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// One human-readable line per problem, each naming the variable.
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problems.join("\n"))
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Loads from the process environment (and `SWITCHBOARD_CONFIG`).
    pub fn from_env(purpose: Purpose) -> Result<Self, ConfigError> {
        Self::load(purpose, &|name| std::env::var(name).ok())
    }

    /// Loads from the given variable lookup: defaults → `SWITCHBOARD_CONFIG` file → variables.
    pub fn load(purpose: Purpose, vars: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let table = env::merged_table(vars, &mut problems);
        let raw: sections::Raw = match table.try_into() {
            Ok(raw) => raw,
            Err(e) => {
                problems.push(format!("configuration is invalid: {}", e.message()));
                return Err(ConfigError { problems });
            }
        };
        let server = ServerConfig::from_raw(raw.server, &mut problems);
        let db = DbConfig::from_raw(raw.db, purpose, &mut problems);
        let log = LogConfig::from_raw(raw.log, &mut problems);
        let twilio = TwilioConfig::from_raw(raw.twilio, purpose, &mut problems);
        let workers = WorkersConfig::from_raw(raw.workers);
        let outbox = OutboxConfig::from_raw(raw.outbox, &mut problems);
        let notify = NotifyConfig::from_raw(raw.notify, &mut problems);
        let effects = EffectsConfig::from_raw(raw.effects, &mut problems);
        let outbound = OutboundConfig::from_raw(raw.outbound, &mut problems);
        let inbound = InboundConfig::from_raw(raw.inbound, &mut problems);
        let media = MediaConfig::from_raw(raw.media, &mut problems);
        let console = ConsoleConfig::from_raw(raw.console, &mut problems);
        if problems.is_empty() {
            Ok(Config {
                server,
                db,
                log,
                twilio,
                workers,
                outbox,
                notify,
                effects,
                inbound,
                media,
                outbound,
                console,
            })
        } else {
            Err(ConfigError { problems })
        }
    }

    /// The database URL; `load` with [`Purpose::Serve`] or [`Purpose::Database`] guarantees it.
    pub fn database_url(&self) -> Option<&SecretString> {
        self.db.url.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(purpose: Purpose, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::load(purpose, &move |name| map.get(name).cloned())
    }

    #[test]
    fn defaults_load_with_only_the_database_and_the_account() {
        let config = load(
            Purpose::Serve,
            &[
                ("DATABASE_URL", "postgres://u:p@localhost/db"),
                ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
                ("TWILIO_AUTH_TOKEN", "secret"),
            ],
        )
        .expect("valid");
        assert_eq!(config.server.listen_addr, "0.0.0.0:8080");
        assert_eq!(config.db.pool_max, 20);
        assert_eq!(config.log.format, LogFormat::Json);
    }

    #[test]
    fn missing_database_url_is_named() {
        let err = load(Purpose::Database, &[]).expect_err("must fail");
        assert_eq!(err.problems, vec!["DATABASE_URL is not set".to_string()]);
    }

    #[test]
    fn healthcheck_needs_no_database() {
        assert!(load(Purpose::Probe, &[]).is_ok());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err =
            load(Purpose::Serve, &[("SWITCHBOARD_LISTEN_ADDR", "x"), ("SWITCHBOARD_DB__POOL_MAX", "many")])
                .expect_err("must fail");
        assert!(err.problems.contains(&"SWITCHBOARD_LISTEN_ADDR \"x\" is not host:port".into()));
        assert!(err.problems.iter().any(|p| p.starts_with("SWITCHBOARD_DB__POOL_MAX")));
        assert!(err.problems.contains(&"DATABASE_URL is not set".into()));
    }

    #[test]
    fn the_listen_url_and_statement_cache_are_read_and_checked() {
        let db = ("DATABASE_URL", "postgres://u:p@pgbouncer:6432/db");
        let config = load(Purpose::Database, &[db]).expect("valid");
        assert!(config.db.listen_url.is_none());
        assert_eq!(config.db.statement_cache, 100);
        let direct = ("SWITCHBOARD_DB__LISTEN_URL", "postgres://u:p@primary:5432/db");
        let config =
            load(Purpose::Database, &[db, direct, ("SWITCHBOARD_DB__STATEMENT_CACHE", "50")]).expect("valid");
        assert!(config.db.listen_url.is_some());
        assert_eq!(config.db.statement_cache, 50);
        let err = load(
            Purpose::Database,
            &[db, ("SWITCHBOARD_DB__LISTEN_URL", "not a url"), ("SWITCHBOARD_DB__STATEMENT_CACHE", "0")],
        )
        .expect_err("must fail");
        assert!(
            err.problems.contains(&"SWITCHBOARD_DB__LISTEN_URL is not a valid postgres:// URL".into()),
            "{err}"
        );
        assert!(
            err.problems.iter().any(|p| p.starts_with("SWITCHBOARD_DB__STATEMENT_CACHE must be at least 1"))
        );
    }

    #[test]
    fn generic_names_override_sections() {
        let config = load(
            Purpose::Database,
            &[("DATABASE_URL", "postgres://localhost/x"), ("SWITCHBOARD_DB__POOL_MAX", "7")],
        )
        .expect("valid");
        assert_eq!(config.db.pool_max, 7);
    }

    #[test]
    fn the_config_file_overrides_the_defaults_and_the_environment_overrides_the_file() {
        let path = std::env::temp_dir().join(format!("switchboard-config-{}.toml", std::process::id()));
        std::fs::write(&path, "[outbox]\nbatch_size = 50\nper_tenant = 3\n").expect("write");
        let file = path.to_str().expect("utf8 path");
        let config = load(
            Purpose::Database,
            &[
                ("DATABASE_URL", "postgres://localhost/x"),
                ("SWITCHBOARD_CONFIG", file),
                ("SWITCHBOARD_OUTBOX__BATCH_SIZE", "70"),
            ],
        )
        .expect("valid");
        assert_eq!((config.outbox.batch_size, config.outbox.per_tenant), (70, 3));
        assert_eq!(config.outbox.concurrency, 16, "untouched: the embedded default");
        std::fs::write(&path, "[nonsense]\nx = 1\n").expect("write");
        let refused = load(
            Purpose::Database,
            &[("DATABASE_URL", "postgres://localhost/x"), ("SWITCHBOARD_CONFIG", file)],
        );
        let _ = std::fs::remove_file(&path);
        assert!(format!("{:?}", refused.err()).contains("unknown section [nonsense]"));
    }

    #[test]
    fn serve_needs_a_twilio_token_unless_insecure() {
        let db = ("DATABASE_URL", "postgres://u:p@localhost/db");
        let err = load(Purpose::Serve, &[db]).expect_err("must fail");
        assert!(err.problems[0].starts_with("TWILIO_AUTH_TOKEN is not set"), "{err}");
        let config =
            load(Purpose::Serve, &[db, ("SWITCHBOARD_INSECURE_SKIP_SIGNATURE", "true")]).expect("ok");
        assert!(config.twilio.insecure_skip_signature);
        let err = load(Purpose::Serve, &[db, ("TWILIO_AUTH_TOKEN", "t"), ("TWILIO_ACCOUNT_SID", "AC1")])
            .expect_err("must fail");
        assert!(err.problems[0].starts_with("TWILIO_ACCOUNT_SID \"AC1\" is not"), "{err}");
    }

    #[test]
    fn the_process_settings_are_read_and_bad_values_named() {
        let base = [
            ("DATABASE_URL", "postgres://u:p@localhost/db"),
            ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
            ("TWILIO_AUTH_TOKEN", "secret"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = base.to_vec();
            vars.extend_from_slice(extra);
            load(Purpose::Serve, &vars)
        };
        let config = with(&[
            ("SWITCHBOARD_LOG_FORMAT", "pretty"),
            ("SWITCHBOARD_SERVER__REQUEST_TIMEOUT_SECS", "3"),
            ("SWITCHBOARD_WORKERS__ENABLED", "false"),
            ("SWITCHBOARD_INBOUND__GROUP_COMMIT_MAX_BATCH", "1"),
        ])
        .expect("valid");
        assert_eq!(config.log.format, LogFormat::Pretty);
        assert_eq!(config.server.request_timeout, std::time::Duration::from_secs(3));
        assert!(!config.workers.enabled, "the default is true");
        assert_eq!(config.inbound.group_commit_max_batch, 1);
        let err = with(&[
            ("SWITCHBOARD_LOG_FORMAT", "text"),
            ("SWITCHBOARD_SERVER__REQUEST_TIMEOUT_SECS", "0"),
            ("SWITCHBOARD_INBOUND__GROUP_COMMIT_MAX_BATCH", "0"),
            ("TWILIO_API_KEY_SID", "SK0123456789abcdef0123456789abcdef"),
        ])
        .expect_err("must fail");
        let named = |prefix: &str| err.problems.iter().any(|p| p.starts_with(prefix));
        assert!(named("SWITCHBOARD_LOG_FORMAT \"text\" is not json or pretty"), "{err}");
        assert!(named("SWITCHBOARD_SERVER__REQUEST_TIMEOUT_SECS must be at least 1"), "{err}");
        assert!(named("SWITCHBOARD_INBOUND__GROUP_COMMIT_MAX_BATCH must be at least 1"), "{err}");
        assert!(named("TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET must be set together"), "{err}");
    }

    #[test]
    fn secrets_too_short_or_malformed_are_refused_by_name() {
        let db = ("DATABASE_URL", "postgres://u:p@localhost/db");
        let err = load(
            Purpose::Database,
            &[
                db,
                ("SWITCHBOARD_MEDIA__LINK_SECRET", "short"),
                ("SWITCHBOARD_WEBHOOK_SECRET", "whsec_c2hvcnQ="),
            ],
        )
        .expect_err("must fail");
        let has = |text: &str| err.problems.iter().any(|p| p.contains(text));
        assert!(has("SWITCHBOARD_MEDIA__LINK_SECRET must be at least 32 characters"), "{err}");
        assert!(has("must be whsec_ followed by base64 of at least 16 bytes"), "{err}");
        let previous_only = ("SWITCHBOARD_MEDIA__LINK_SECRET_PREVIOUS", "p".repeat(32));
        let err = load(Purpose::Database, &[db, (previous_only.0, previous_only.1.as_str())])
            .expect_err("must fail");
        assert!(
            err.problems.contains(
                &"SWITCHBOARD_MEDIA__LINK_SECRET_PREVIOUS is set without SWITCHBOARD_MEDIA__LINK_SECRET"
                    .into()
            ),
            "{err}"
        );
        let good = "s".repeat(32);
        let secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZg==";
        let config = load(
            Purpose::Database,
            &[db, ("SWITCHBOARD_MEDIA__LINK_SECRET", good.as_str()), ("SWITCHBOARD_WEBHOOK_SECRET", secret)],
        )
        .expect("valid");
        assert!(config.media.link_secret.is_some() && config.notify.webhook_secret.is_some());
    }

    #[test]
    fn env_example_names_every_setting() {
        let defaults: toml::Table = DEFAULT_TOML.parse().expect("defaults");
        let example = include_str!("../.env.example");
        let named =
            |name: &str| example.lines().any(|l| l.trim_start_matches("# ").split('=').next() == Some(name));
        let missing: Vec<String> = defaults
            .iter()
            .filter_map(|(section, keys)| Some((section, keys.as_table()?)))
            .flat_map(|(section, keys)| keys.keys().map(move |key| env::setting_name(section, key)))
            .filter(|name| !named(name))
            .collect();
        assert!(missing.is_empty(), ".env.example does not name {missing:?}");
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let config =
            load(Purpose::Database, &[("DATABASE_URL", "postgres://u:hunter2@h/db")]).expect("valid");
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
