//! Adding a run's leads as jobs: in upload order, a `lead_id` the run already has left alone, a
//! number it already dials added as `duplicate` (so each number is dialled once per run). The
//! caller holds the run's row lock, so concurrent uploads decide duplicates exactly.

use super::leads::Lead;
use super::model::JobStatus;
use crate::ids::TenantId;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::HashSet;
use uuid::Uuid;

/// What an upload added.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Added {
    /// New jobs to dial.
    pub queued: usize,
    /// New jobs whose number is another lead's (never dialled).
    pub duplicates: Vec<(usize, String)>,
    /// Rows whose `lead_id` the run already had (nothing added for them).
    pub existing: Vec<(usize, String)>,
}

/// The run's jobs, how many.
pub async fn job_count(conn: &mut PgConnection, run: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM outbound_job WHERE run_id = $1").bind(run).fetch_one(conn).await
}

/// Adds leads to a locked run: a `lead_id` it already has is left alone; a number it already
/// dials (or one repeated in this upload) is added as `duplicate`.
pub async fn insert_leads(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: Uuid,
    leads: &[Lead],
    now: DateTime<Utc>,
) -> Result<Added, sqlx::Error> {
    let ids: Vec<&str> = leads.iter().map(|l| l.lead_id.as_str()).collect();
    let numbers: Vec<&str> = leads.iter().map(|l| l.number.as_str()).collect();
    let seen_ids: HashSet<String> =
        sqlx::query_scalar("SELECT lead_id FROM outbound_job WHERE run_id = $1 AND lead_id = ANY($2)")
            .bind(run)
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    let seen_numbers: HashSet<String> = sqlx::query_scalar(
        "SELECT number FROM outbound_job WHERE run_id = $1 AND number = ANY($2) AND status <> 'duplicate'",
    )
    .bind(run)
    .bind(&numbers)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let (rows, added) = classify(leads, seen_ids, seen_numbers);
    let first: i64 = sqlx::query_scalar(
        "UPDATE outbound_run SET next_seq = next_seq + $2, updated_at = $3 WHERE id = $1 RETURNING next_seq - $2",
    )
    .bind(run)
    .bind(rows.len() as i64)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    insert_jobs(conn, tenant, run, &rows, first, now).await?;
    Ok(added)
}

/// Decides each lead's fate against what the run has: left alone, queued, or duplicate.
fn classify(
    leads: &[Lead],
    mut seen_ids: HashSet<String>,
    mut seen_numbers: HashSet<String>,
) -> (Vec<(&Lead, JobStatus)>, Added) {
    let mut added = Added::default();
    let mut rows = Vec::new();
    for lead in leads {
        if !seen_ids.insert(lead.lead_id.clone()) {
            added.existing.push((lead.row, lead.lead_id.clone()));
            continue;
        }
        let status = if seen_numbers.insert(lead.number.as_str().to_owned()) {
            added.queued += 1;
            JobStatus::Queued
        } else {
            added.duplicates.push((lead.row, lead.lead_id.clone()));
            JobStatus::Duplicate
        };
        rows.push((lead, status));
    }
    (rows, added)
}

/// Inserts the jobs in one statement, numbered from `first` in upload order.
async fn insert_jobs(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: Uuid,
    rows: &[(&Lead, JobStatus)],
    first: i64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let job_ids: Vec<Uuid> = rows.iter().map(|_| Uuid::new_v4()).collect();
    let lead_ids: Vec<&str> = rows.iter().map(|(l, _)| l.lead_id.as_str()).collect();
    let numbers: Vec<&str> = rows.iter().map(|(l, _)| l.number.as_str()).collect();
    let names: Vec<Option<&str>> = rows.iter().map(|(l, _)| l.name.as_deref()).collect();
    let zones: Vec<Option<&str>> = rows.iter().map(|(l, _)| l.timezone.as_deref()).collect();
    let data: Vec<Option<serde_json::Value>> = rows.iter().map(|(l, _)| l.data.clone()).collect();
    let seqs: Vec<i64> = (0..rows.len() as i64).map(|i| first + i).collect();
    let statuses: Vec<&str> = rows.iter().map(|(_, s)| s.as_str()).collect();
    let outcomes: Vec<Option<&str>> =
        rows.iter().map(|(_, s)| (*s == JobStatus::Duplicate).then_some("duplicate")).collect();
    sqlx::query(
        "INSERT INTO outbound_job (id, tenant_id, run_id, lead_id, number, name, timezone, data, seq, status, outcome,
           ended_at, created_at, updated_at)
         SELECT u.id, $1, $2, u.lead_id, u.number, u.name, u.timezone, u.data, u.seq, u.status, u.outcome,
           CASE WHEN u.status = 'duplicate' THEN $12 END, $12, $12
         FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[], $9::bigint[],
                     $10::text[], $11::text[])
           AS u(id, lead_id, number, name, timezone, data, seq, status, outcome)",
    )
    .bind(tenant.uuid())
    .bind(run)
    .bind(&job_ids)
    .bind(&lead_ids)
    .bind(&numbers)
    .bind(&names)
    .bind(&zones)
    .bind(&data)
    .bind(&seqs)
    .bind(&statuses)
    .bind(&outcomes)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
