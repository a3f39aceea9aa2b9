//! `switchboard keys create|list|revoke`: details go to stderr, and a created token alone on the
//! last line of stdout, so `TOKEN=$(switchboard keys create …)` works.

use super::schema_pool;
use crate::auth::Role;
use crate::auth::keys::{self, NewKey};
use crate::cli::KeysCommand;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::system;
use anyhow::{Context, bail};
use std::process::ExitCode;

/// Runs a `keys` subcommand.
pub async fn run(command: &KeysCommand, config: &Config) -> anyhow::Result<ExitCode> {
    let pool = schema_pool(config).await?;
    let now = SystemClock.now();
    let result = match command {
        KeysCommand::Create { superadmin, tenant, role, subject, name } => {
            let tenant = match tenant {
                Some(slug) if !superadmin => Some(
                    system::resolve_tenant(&pool, slug)
                        .await?
                        .with_context(|| format!("no tenant \"{slug}\""))?,
                ),
                _ => None,
            };
            let role = if *superadmin {
                Role::Superadmin
            } else {
                role.as_deref().and_then(Role::parse).context("--role is required")?
            };
            if role.needs_subject() && subject.is_none() {
                bail!("--subject is required for {} keys", role.as_str());
            }
            let name = name.clone().unwrap_or_else(|| role.as_str().to_owned());
            let new = NewKey { tenant, role, subject: subject.clone(), name };
            let mut conn = system::system_tx(&pool).await?;
            let created = keys::insert(&mut conn, &new, now).await?;
            conn.commit().await?;
            eprintln!(
                "created key {} (role {}, name {:?})",
                created.key.id, created.key.role, created.key.name
            );
            eprintln!("the token is shown once; store it now:");
            println!("{}", created.token);
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::List { tenant } => {
            let tenant = match tenant {
                Some(slug) => Some(
                    system::resolve_tenant(&pool, slug)
                        .await?
                        .with_context(|| format!("no tenant \"{slug}\""))?,
                ),
                None => None,
            };
            for key in crate::auth::keys::list_keys(&pool, tenant).await? {
                let tenant = key.tenant_id.map_or_else(|| "-".to_owned(), |t| t.to_string());
                let state = if key.revoked_at.is_some() { "revoked" } else { "active" };
                println!(
                    "{}\t{tenant}\t{}\t{}\t{state}\t{}",
                    key.id,
                    key.role,
                    key.name,
                    key.created_at.to_rfc3339()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Revoke { key_id } => {
            if crate::auth::keys::revoke_key(&pool, *key_id, now).await? {
                eprintln!("revoked key {key_id}");
                Ok(ExitCode::SUCCESS)
            } else {
                bail!("no key {key_id}")
            }
        }
    };
    pool.close().await;
    result
}
