//! `switchboard audit verify [--tenant SLUG]`: recomputes each tenant's chain from the table and
//! compares the end with the chain head, so edits, deletions and truncated tails all show.

use super::schema_pool;
use crate::audit::chain::Verifier;
use crate::cli::AuditCommand;
use crate::config::Config;
use crate::system;
use anyhow::Context;
use sqlx::PgPool;
use std::process::ExitCode;
use uuid::Uuid;

/// Events read per query.
const PAGE: i64 = 5000;

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

async fn verify_tenant(pool: &PgPool, tenant: Uuid) -> anyhow::Result<Result<i64, String>> {
    let mut verifier = Verifier::default();
    let mut after = 0i64;
    loop {
        let events = crate::audit::chain::audit_events_after(pool, tenant, after, PAGE).await?;
        for event in &events {
            if let Err(broken) = verifier.push(event) {
                return Ok(Err(format!(
                    "at sequence {} (event {}): {}",
                    broken.sequence, broken.id, broken.reason
                )));
            }
        }
        match events.last() {
            Some(last) if events.len() as i64 == PAGE => after = last.sequence,
            _ => break,
        }
    }
    let head = crate::audit::chain::audit_head(pool, tenant).await?;
    let (head_sequence, head_hash) = head.unwrap_or((0, crate::audit::chain::GENESIS.to_vec()));
    if head_sequence != verifier.count() || head_hash != verifier.head() {
        return Ok(Err(format!(
            "the chain ends at sequence {} but its head records {head_sequence} (events were removed)",
            verifier.count()
        )));
    }
    Ok(Ok(verifier.count()))
}
