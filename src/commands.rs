//! What each subcommand does, once the configuration is loaded.

mod audit;
mod keys;
mod schema;

use crate::cli::Command;
use crate::config::Config;
use crate::startup::Application;
use crate::{db, net};
use anyhow::Context;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs a subcommand.
pub async fn run(command: &Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { migrate } => serve(config, *migrate).await,
        Command::Migrate => migrate(config).await,
        Command::Healthcheck { url } => healthcheck(&config, url.as_deref()).await,
        Command::Keys(command) => keys::run(command, &config).await,
        Command::Audit(command) => audit::run(command, &config).await,
    }
}

async fn serve(config: Config, apply_migrations: bool) -> anyhow::Result<ExitCode> {
    if apply_migrations {
        migrate_with(&config).await?;
    }
    let app = Application::build(config).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    app.run_until_stopped(shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

async fn migrate(config: Config) -> anyhow::Result<ExitCode> {
    migrate_with(&config).await?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn migrate_with(config: &Config) -> anyhow::Result<()> {
    let pool = command_pool(config).await?;
    schema::refuse_newer(&pool).await?;
    db::migrate(&pool).await.context("migration failed")?;
    tracing::info!(migrations = db::MIGRATOR.iter().count(), "database is up to date");
    pool.close().await;
    Ok(())
}

async fn healthcheck(config: &Config, url: Option<&str>) -> anyhow::Result<ExitCode> {
    let url = match url {
        Some(url) => url.to_owned(),
        None => default_ready_url(&config.server.listen_addr),
    };
    let client = net::client_builder().timeout(Duration::from_secs(3)).build()?;
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => Ok(ExitCode::SUCCESS),
        Ok(response) => {
            eprintln!("switchboard: {url} answered {}", response.status());
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("switchboard: {url} did not answer: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `/ready` on localhost at the configured port (a wildcard bind is reached through loopback).
fn default_ready_url(listen_addr: &str) -> String {
    let port = listen_addr.rsplit_once(':').map_or("8080", |(_, port)| port);
    format!("http://127.0.0.1:{port}/ready")
}

/// Cancels `token` on SIGTERM or SIGINT.
async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
    token.cancel();
}

/// A pool for one-shot commands (no minimum connections kept).
pub(crate) async fn command_pool(config: &Config) -> anyhow::Result<sqlx::PgPool> {
    db::pool_options(&config.db)
        .min_connections(0)
        .connect_with(db::connect_options(&config.db)?)
        .await
        .context("cannot connect to the database")
}

/// A pool for commands that read or write the application's tables: fails, saying what to do,
/// unless the database holds exactly this binary's schema.
pub(crate) async fn schema_pool(config: &Config) -> anyhow::Result<sqlx::PgPool> {
    let pool = command_pool(config).await?;
    if let Err(e) = schema::require_current(&pool).await {
        pool.close().await;
        return Err(e);
    }
    Ok(pool)
}
