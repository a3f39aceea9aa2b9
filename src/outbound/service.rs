//! What the operator API does to runs and jobs, each in one tenant-scoped transaction with its
//! audit event: create, the run transitions (start, pause, resume, cancel, stop) and one-job
//! cancel.

use super::machine::{RunEvent, RunStatus};
use super::model::{Job, JobStatus, Run, RunRow, Script};
use super::policy::Policy;
use super::repo::{self, NewRun};
use super::slots;
use crate::audit::{self, Actor, NewEvent};
use crate::auth::scope::tenant_tx;
use crate::error::{ApiError, ApiResult};
use crate::ids::TenantId;
use crate::state::AppState;
use crate::twilio::E164;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

async fn record(
    conn: &mut PgConnection,
    tenant: TenantId,
    actor: Actor,
    action: &str,
    entity: (&str, Uuid),
    data: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let event = NewEvent {
        actor,
        action,
        entity_type: entity.0,
        entity_id: entity.1.to_string(),
        request_id: None,
        data,
    };
    audit::record(conn, tenant, now, event).await.map(|_| ())
}

/// Creates a `pending` run; its caller id must be one of the business's active numbers.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    conn: &mut PgConnection,
    tenant: TenantId,
    key: Uuid,
    name: &str,
    from: &E164,
    script: &Script,
    max_concurrent: Option<i32>,
    policy: &Policy,
    now: DateTime<Utc>,
) -> ApiResult<Run> {
    if !repo::is_own_number(conn, tenant, from.as_str()).await? {
        return Err(ApiError::invalid("from_number", "is not one of the business's active numbers"));
    }
    let cap = match max_concurrent {
        Some(n) => n,
        None => {
            sqlx::query_scalar("SELECT outbound_max_concurrent FROM tenant WHERE id = $1")
                .bind(tenant.uuid())
                .fetch_one(&mut *conn)
                .await?
        }
    };
    let new = NewRun {
        id: Uuid::new_v4(),
        name: name.trim(),
        from_number: from.as_str(),
        script: serde_json::to_value(script).unwrap_or_default(),
        max_concurrent: cap,
        policy: serde_json::to_value(policy).unwrap_or_default(),
        created_by: key,
    };
    let row = repo::insert_run(conn, tenant, &new, now).await?;
    let data = serde_json::json!({"name": row.name, "max_concurrent": cap});
    record(conn, tenant, Actor::Operator(key), "OUTBOUND_RUN_CREATED", ("outbound_run", row.id), data, now)
        .await?;
    Ok(Run::new(row, Default::default(), None))
}

/// The API view of a run: its counts, and for a running run the ETA of its queued leads at the
/// account's pace.
pub async fn view(conn: &mut PgConnection, state: &AppState, row: RunRow) -> Result<Run, sqlx::Error> {
    let counts = repo::counts(conn, row.id).await?;
    let eta = (row.status == RunStatus::Running).then(|| {
        let secs = counts.queued as f64 / state.config.effects.calls_per_second.max(0.001);
        state.clock.now() + chrono::Duration::milliseconds((secs * 1000.0) as i64)
    });
    Ok(Run::new(row, counts, eta))
}

/// A change an operator asks of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// Start now, or at the given time.
    Start(Option<DateTime<Utc>>),
    /// Pause.
    Pause,
    /// Resume.
    Resume,
    /// Graceful cancel.
    Cancel,
    /// Stop-queue.
    Stop,
}

fn refused(row: &RunRow, what: &str) -> ApiError {
    ApiError::InvalidTransition(format!("a {} run cannot be {what}", row.status.as_str()))
}

/// An audit action and its details.
type Done = (&'static str, serde_json::Value);

/// Applies `change` to the tenant's run `id` (404 for another tenant's), audited with `actor`.
pub async fn change(
    state: &AppState,
    tenant: TenantId,
    id: Uuid,
    actor: Actor,
    change: Change,
) -> ApiResult<Run> {
    let now = state.clock.now();
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let row = repo::lock_run(&mut tx, tenant, id).await?.ok_or(ApiError::NotFound)?;
    let (action, data) = match change {
        Change::Start(at) => start(&mut tx, &row, at, now).await?,
        Change::Pause => pause_or_resume(&mut tx, &row, RunEvent::Pause, now).await?,
        Change::Resume => pause_or_resume(&mut tx, &row, RunEvent::Resume, now).await?,
        Change::Cancel => cancel(&mut tx, tenant, &row, now).await?,
        Change::Stop => stop(&mut tx, tenant, &row, now).await?,
    };
    record(&mut tx, tenant, actor, action, ("outbound_run", id), data, now).await?;
    let row = repo::find_run(&mut tx, tenant, id).await?.ok_or(ApiError::NotFound)?;
    let run = view(&mut tx, state, row).await?;
    tx.commit().await?;
    crate::outbox::wake(state);
    Ok(run)
}

/// Starts a pending run now, or sets its start time (it stays `pending` until then).
async fn start(
    conn: &mut PgConnection,
    row: &RunRow,
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ApiResult<Done> {
    if row.status != RunStatus::Pending || row.start_at.is_some() {
        return Err(refused(row, "started"));
    }
    let at = at.filter(|at| *at > now).unwrap_or(now);
    repo::set_start_at(conn, row.id, at, now).await?;
    if at <= now {
        repo::transition(conn, row.id, RunEvent::Start, None, now).await?;
    }
    Ok(("OUTBOUND_RUN_STARTED", serde_json::json!({"at": at})))
}

/// Pauses a running run or resumes a paused one (not once a cancel was asked).
async fn pause_or_resume(
    conn: &mut PgConnection,
    row: &RunRow,
    event: RunEvent,
    now: DateTime<Utc>,
) -> ApiResult<Done> {
    let (action, what) = match event {
        RunEvent::Pause => ("OUTBOUND_RUN_PAUSED", "paused"),
        _ => ("OUTBOUND_RUN_RESUMED", "resumed"),
    };
    if row.cancel_requested || !repo::transition(conn, row.id, event, None, now).await? {
        return Err(refused(row, what));
    }
    Ok((action, serde_json::json!({})))
}

/// Graceful cancel: queued jobs and creates not yet sent are cancelled, live calls finish (the
/// dialer ends the run when none is left; a pending run ends at once).
async fn cancel(
    conn: &mut PgConnection,
    tenant: TenantId,
    row: &RunRow,
    now: DateTime<Utc>,
) -> ApiResult<Done> {
    if row.status.is_terminal() || row.cancel_requested {
        return Err(refused(row, "cancelled"));
    }
    repo::request_cancel(conn, row.id, now).await?;
    let queued = repo::cancel_queued(conn, row.id, now).await?;
    let withdrawn = slots::stop_live(conn, tenant, row.id, false, now).await?;
    if row.status == RunStatus::Pending {
        repo::transition(conn, row.id, RunEvent::Cancelled, None, now).await?;
        super::worker::finished(conn, tenant, row.id, "cancelled", serde_json::json!({}), now).await?;
    }
    Ok((
        "OUTBOUND_RUN_CANCEL_REQUESTED",
        serde_json::json!({"queued_cancelled": queued, "withdrawn": withdrawn}),
    ))
}

/// Stop-queue: the run is `stopped` at once, queued jobs cancelled, live calls hung up.
async fn stop(
    conn: &mut PgConnection,
    tenant: TenantId,
    row: &RunRow,
    now: DateTime<Utc>,
) -> ApiResult<Done> {
    if !repo::transition(conn, row.id, RunEvent::Stop, None, now).await? {
        return Err(refused(row, "stopped"));
    }
    let queued = repo::cancel_queued(conn, row.id, now).await?;
    let withdrawn = slots::stop_live(conn, tenant, row.id, true, now).await?;
    super::worker::finished(conn, tenant, row.id, "stopped", serde_json::json!({}), now).await?;
    Ok(("OUTBOUND_RUN_STOPPED", serde_json::json!({"queued_cancelled": queued, "withdrawn": withdrawn})))
}

/// Cancels one job: a queued one at once; a live one is withdrawn (create not yet sent) or hung
/// up (now, or when its SID binds) and ends `cancelled` with its call's end.
pub async fn cancel_job(
    state: &AppState,
    tenant: TenantId,
    run: Uuid,
    job: Uuid,
    actor: Actor,
) -> ApiResult<Job> {
    let now = state.clock.now();
    let mut tx = tenant_tx(&state.db, tenant).await?;
    repo::find_run(&mut tx, tenant, run).await?.ok_or(ApiError::NotFound)?;
    slots::lock_attempts(&mut tx, tenant, run, Some(job)).await?;
    let found = repo::lock_job(&mut tx, tenant, run, job).await?.ok_or(ApiError::NotFound)?;
    let how = match found.status {
        JobStatus::Queued | JobStatus::Deferred => {
            sqlx::query(
                "UPDATE outbound_job SET status = 'cancelled', outcome = 'cancelled', ended_at = $2, updated_at = $2
                 WHERE id = $1",
            )
            .bind(job)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            "queued"
        }
        JobStatus::InProgress => {
            let held = slots::lock(&mut tx, tenant, job).await?.ok_or(ApiError::NotFound)?;
            match slots::stop(&mut tx, &held, true, now).await? {
                slots::Stopped::Withdrawn => "withdrawn",
                _ => "hanging_up",
            }
        }
        _ => {
            return Err(ApiError::InvalidTransition(format!(
                "a {} job cannot be cancelled",
                found.status.as_str()
            )));
        }
    };
    let data = serde_json::json!({"run_id": run, "how": how});
    record(&mut tx, tenant, actor, "OUTBOUND_JOB_CANCELLED", ("outbound_job", job), data, now).await?;
    let updated = repo::lock_job(&mut tx, tenant, run, job).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    crate::outbox::wake(state);
    Ok(updated)
}
