//! `switchboard audit verify [--tenant SLUG]`: recomputes each tenant's chain from the table and
//! compares the end with the chain head, so edits, deletions and truncated tails all show.

use super::schema_pool;
use crate::audit::chain::verify_tenant;
use crate::cli::AuditCommand;
use crate::config::Config;
use crate::system;
use anyhow::Context;
use std::process::ExitCode;
use uuid::Uuid;

/// Runs an `audit` subcommand.
pub async fn run(command: &AuditCommand, config: &Config) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify { tenant } = command;
    let pool = schema_pool(config).await?;
    let tenants: Vec<(Uuid, String)> = match tenant {
        Some(name) => {
            let id = system::resolve_tenant(&pool, name)
                .await?
                .with_context(|| format!("no tenant \"{name}\""))?;
            vec![(id.uuid(), name.clone())]
        }
        None => system::all_tenants(&pool).await?,
    };
    let mut intact = true;
    for (id, slug) in tenants {
        match verify_tenant(&pool, id).await? {
            Ok(count) => println!("{slug}: {count} events, chain intact"),
            Err(message) => {
                intact = false;
                println!("{slug}: chain BROKEN: {message}");
            }
        }
    }
    pool.close().await;
    Ok(if intact { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
