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

/// Connection options from the configured URL.
pub fn connect_options(config: &DbConfig) -> Result<PgConnectOptions, DbError> {
    let url = config.url.as_ref().ok_or(DbError::MissingUrl)?;
    url.expose_secret().parse().map_err(DbError::InvalidUrl)
}

/// A lazily connecting pool sized and timed from the configuration.
pub fn pool(config: &DbConfig) -> Result<PgPool, DbError> {
    Ok(pool_options(config).connect_lazy_with(connect_options(config)?))
}

/// The pool options alone (tests combine them with their own connect options).
pub fn pool_options(config: &DbConfig) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(config.pool_max)
        .min_connections(config.pool_min)
        .acquire_timeout(config.acquire_timeout)
        .idle_timeout(Some(config.idle_timeout))
        // A connection that sat idle is pinged before it is handed out, so the connections a
        // database restart killed are replaced here instead of failing the request that drew
        // them. A busy connection is not pinged: that round trip would cost every request, and a
        // connection that breaks in use is discarded by sqlx on its first I/O error.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_WHEN_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
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
