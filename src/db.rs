//! The PostgreSQL pool and the embedded migrations.
//!
//! The pool is created lazily, so the server starts (and `/ready` says why it is not ready) while
//! the database is still coming up, and every connection is checked before use, so a database
//! restart is survived without restarting the app.

use crate::config::DbConfig;
use secrecy::ExposeSecret;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Errors building the pool.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// `DATABASE_URL` was not set (configuration validation normally catches this first).
    #[error("DATABASE_URL is not set")]
    MissingUrl,
    /// The URL could not be parsed.
    #[error("DATABASE_URL is not a valid postgres:// URL")]
    InvalidUrl(#[source] sqlx::Error),
}

/// Connection options from the configured URL, with the configured statement cache.
pub fn connect_options(config: &DbConfig) -> Result<PgConnectOptions, DbError> {
    let url = config.url.as_ref().ok_or(DbError::MissingUrl)?;
    let options: PgConnectOptions = url.expose_secret().parse().map_err(DbError::InvalidUrl)?;
    Ok(options.statement_cache_capacity(config.statement_cache))
}

/// A lazily connecting pool sized and timed from the configuration.
pub fn pool(config: &DbConfig) -> Result<PgPool, DbError> {
    Ok(pool_options(config).connect_lazy_with(connect_options(config)?))
}

/// The pool the notification listeners take their connections from: `pool` itself, or, when
/// `SWITCHBOARD_DB__LISTEN_URL` is set (the main URL goes through a transaction-mode pooler,
/// which cannot hold a `LISTEN` past the transaction), a small lazy pool on that direct URL.
pub fn listen_pool(config: &DbConfig, pool: &PgPool) -> Result<PgPool, DbError> {
    let Some(url) = config.listen_url.as_ref() else {
        return Ok(pool.clone());
    };
    let options: PgConnectOptions = url.expose_secret().parse().map_err(DbError::InvalidUrl)?;
    Ok(PgPoolOptions::new()
        .max_connections(LISTENERS)
        .min_connections(0)
        .acquire_timeout(config.acquire_timeout)
        .connect_lazy_with(options))
}

/// Connections a listen pool may open at once: one per notification listener (each holds its
/// connection for as long as it listens), with room for a reconnect racing a closing one.
const LISTENERS: u32 = 4;

/// The pool options alone (tests combine them with their own connect options).
pub fn pool_options(config: &DbConfig) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(config.pool_max)
        .min_connections(config.pool_min)
        .acquire_timeout(config.acquire_timeout)
        .idle_timeout(Some(config.idle_timeout))
        // A connection that sat idle is checked before it is handed out, so the connections a
        // database restart killed are replaced here instead of failing the request that drew
        // them, and so are those still open to a primary that was demoted (a failover moved the
        // DNS name or VIP, but an open connection stays where it was: docs/scaling.md). A busy
        // connection is not checked: that round trip would cost every request, and a connection
        // that breaks in use is discarded by sqlx on its first I/O error.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_WHEN_IDLE_FOR {
                    return Ok(!crate::primary::is_read_only(conn).await?);
                }
                Ok(true)
            })
        })
}

/// Idle time after which a pooled connection is pinged before use.
pub const PING_WHEN_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// Applies every pending migration.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Purpose};

    #[tokio::test]
    async fn the_listeners_use_the_listen_url_when_it_is_set() {
        let vars = [
            ("DATABASE_URL", "postgres://u:p@pgbouncer:6432/db"),
            ("SWITCHBOARD_DB__LISTEN_URL", "postgres://u:p@primary:5432/db"),
        ];
        let config = Config::load(Purpose::Database, &|name| {
            vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        })
        .expect("valid");
        let pool = super::pool(&config.db).expect("pool");
        assert_eq!(pool.connect_options().get_port(), 6432);
        let listen = super::listen_pool(&config.db, &pool).expect("listen pool");
        assert_eq!(listen.connect_options().get_host(), "primary");
        assert_eq!(listen.connect_options().get_port(), 5432);
    }
}
