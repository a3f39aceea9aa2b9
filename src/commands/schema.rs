//! Whether the database holds the schema this binary expects, checked before a command touches
//! it, so an unmigrated or newer database gets a sentence saying what to do instead of a raw SQL
//! error such as `relation "api_key" does not exist`.

use crate::db::MIGRATOR;
use anyhow::bail;
use sqlx::PgPool;
use std::collections::BTreeSet;

/// PostgreSQL's `undefined_table`: sqlx's bookkeeping table is absent, so nothing was migrated.
const UNDEFINED_TABLE: &str = "42P01";

/// How the database's applied migrations compare with the ones embedded in this binary.
#[derive(Debug, PartialEq, Eq)]
pub enum SchemaState {
    /// No migration was ever applied.
    Missing,
    /// Every embedded migration is applied, and nothing else.
    Current,
    /// Some embedded migrations are not applied yet (this many).
    Behind(usize),
    /// Migrations this binary does not know were applied: a newer version migrated the database.
    Ahead(Vec<i64>),
}

impl SchemaState {
    /// Reads the applied migrations.
    pub async fn of(pool: &PgPool) -> Result<SchemaState, sqlx::Error> {
        let applied: Vec<i64> = match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
        {
            Ok(rows) => rows,
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(UNDEFINED_TABLE) => {
                return Ok(SchemaState::Missing);
            }
            Err(e) => return Err(e),
        };
        Ok(Self::compare(&applied.into_iter().collect(), &MIGRATOR.iter().map(|m| m.version).collect()))
    }

    fn compare(applied: &BTreeSet<i64>, known: &BTreeSet<i64>) -> SchemaState {
        let unknown: Vec<i64> = applied.difference(known).copied().collect();
        if !unknown.is_empty() {
            return SchemaState::Ahead(unknown);
        }
        match known.difference(applied).count() {
            _ if applied.is_empty() => SchemaState::Missing,
            0 => SchemaState::Current,
            pending => SchemaState::Behind(pending),
        }
    }
}

/// Fails, saying what to do, unless the schema is exactly the one this binary was built with.
pub async fn require_current(pool: &PgPool) -> anyhow::Result<()> {
    match SchemaState::of(pool).await? {
        SchemaState::Current => Ok(()),
        SchemaState::Missing => {
            bail!(
                "the database has no Switchboard schema yet: run `switchboard migrate` (or `serve --migrate`)"
            )
        }
        SchemaState::Behind(pending) => bail!(
            "the database schema is behind this binary ({pending} migration(s) pending): run `switchboard migrate` \
             (or `serve --migrate`)"
        ),
        SchemaState::Ahead(unknown) => bail!(ahead_message(&unknown)),
    }
}

/// Fails when a newer version migrated the database: applying older migrations cannot help.
pub async fn refuse_newer(pool: &PgPool) -> anyhow::Result<()> {
    match SchemaState::of(pool).await? {
        SchemaState::Ahead(unknown) => bail!(ahead_message(&unknown)),
        _ => Ok(()),
    }
}

fn ahead_message(unknown: &[i64]) -> String {
    let list = unknown.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    format!(
        "the database was migrated by a newer version of Switchboard (migration {list} is unknown to this \
         binary, version {}): use that version or a newer one",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(versions: &[i64]) -> BTreeSet<i64> {
        versions.iter().copied().collect()
    }

    #[test]
    fn applied_migrations_compare_with_the_known_ones() {
        let known = set(&[1, 2, 3]);
        assert_eq!(SchemaState::compare(&set(&[]), &known), SchemaState::Missing);
        assert_eq!(SchemaState::compare(&set(&[1, 2, 3]), &known), SchemaState::Current);
        assert_eq!(SchemaState::compare(&set(&[1]), &known), SchemaState::Behind(2));
        assert_eq!(SchemaState::compare(&set(&[1, 2, 3, 9]), &known), SchemaState::Ahead(vec![9]));
    }
}
