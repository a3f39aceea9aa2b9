//! The foundation's readiness checks: the database answers, and no migration is pending.

use super::ready::{CheckResult, ReadinessCheck};
use crate::db::MIGRATOR;
use crate::error::error_chain;
use sqlx::PgPool;
use std::collections::HashSet;

/// The database answers through the pool and takes writes: a standby or a demoted primary (a
/// failover this replica's connection has not followed yet) makes the instance not ready.
pub struct DatabaseCheck(pub PgPool);

#[async_trait::async_trait]
impl ReadinessCheck for DatabaseCheck {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> CheckResult {
        match sqlx::query_scalar::<_, bool>(crate::primary::READ_ONLY_SQL).fetch_one(&self.0).await {
            Ok(false) => CheckResult::ok(),
            Ok(true) => {
                CheckResult::error("the database is read-only (a standby, or a primary being demoted)")
            }
            Err(e) => CheckResult::error(error_chain(&e)),
        }
    }
}

/// Every embedded migration has been applied successfully.
pub struct MigrationsCheck(pub PgPool);

#[async_trait::async_trait]
impl ReadinessCheck for MigrationsCheck {
    fn name(&self) -> &'static str {
        "migrations"
    }

    async fn check(&self) -> CheckResult {
        let applied: Vec<i64> = match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.0)
            .await
        {
            Ok(rows) => rows,
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => {
                return CheckResult::error("migrations have not been applied (run `switchboard migrate`)");
            }
            Err(e) => return CheckResult::error(error_chain(&e)),
        };
        let applied: HashSet<i64> = applied.into_iter().collect();
        let pending = MIGRATOR.iter().filter(|m| !applied.contains(&m.version)).count();
        if pending == 0 {
            CheckResult::ok()
        } else {
            CheckResult::error(format!("{pending} migration(s) pending (run `switchboard migrate`)"))
        }
    }
}

/// A setting that turns a feature off or weakens security: shown by `/ready` as a `warning`,
/// which keeps the instance ready (development mode must still pass its probes).
pub struct ConfigWarnings {
    name: &'static str,
    message: &'static str,
}

impl ConfigWarnings {
    /// The warnings the configuration calls for.
    pub fn from_config(config: &crate::config::Config) -> Vec<ConfigWarnings> {
        let mut warnings = Vec::new();
        if config.twilio.insecure_skip_signature {
            warnings.push(ConfigWarnings {
                name: "signature_verification",
                message: "webhook signatures are not verified (SWITCHBOARD_INSECURE_SKIP_SIGNATURE=true)",
            });
        }
        if config.server.public_base_url.is_none() {
            warnings.push(ConfigWarnings {
                name: "public_base_url",
                message: "PUBLIC_BASE_URL is not set: features that create Twilio calls or messages are off",
            });
        }
        warnings
    }
}

#[async_trait::async_trait]
impl ReadinessCheck for ConfigWarnings {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn check(&self) -> CheckResult {
        CheckResult::warning(self.message)
    }
}
