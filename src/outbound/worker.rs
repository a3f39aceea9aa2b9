//! The dialer: any replica, any number of them. Each round it
//! 1. starts runs whose start time came, fails runs that cannot go on, and moves `deferred` jobs
//!    whose `next_attempt_at` came (the calling window's opening, a retry's delay) back to the queue;
//! 2. settles jobs whose slot lease ran out or whose create failed (fetching the call from Twilio
//!    when its SID is known, never holding a lock across the request);
//! 3. dials: business by business in round-robin order (least recently served first), it locks
//!    the business's row (`FOR UPDATE SKIP LOCKED`: another replica serving it is skipped, never
//!    waited for), counts its live jobs against its cap, takes the next queued job of a running
//!    run under that run's own cap — skipped if its number is on the do-not-call list or opted out,
//!    deferred if outside its calling window in the lead's timezone — and in the same transaction
//!    requests the call (with the run's machine detection; a BULK effect
//!    keyed by job and attempt: exactly one create, however often this runs) and marks the job
//!    `in_progress` with a leased slot. It goes on while jobs remain and slots are free — a full
//!    business is skipped, never waited on, and comes back when a callback frees a slot;
//! 4. ends runs with nothing left (`completed`, or `cancelled` after a graceful cancel).

use super::claim::{NextJob, defer, next_job, skip};
use super::policy::{self, Machine, Policy, Window};
use super::settle;
use super::slots;
use super::{DOMAIN, dnc, notify, repo};
use crate::audit::{self, Actor, NewEvent};
use crate::effects::{self, CallRequest, Owner, pacing, priority};
use crate::ids::TenantId;
use crate::state::AppState;
use crate::worker::Worker;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

/// Most calls requested in one round (the next round goes on).
const MAX_PER_ROUND: u64 = 500;

/// The dialer.
pub struct Dialer {
    state: AppState,
    wake: Arc<Notify>,
}

impl Dialer {
    /// A dialer for the application, woken by `wake`.
    pub fn new(state: &AppState, wake: Arc<Notify>) -> Self {
        Dialer { state: state.clone(), wake }
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.state.config.outbound.slot_lease)
            .unwrap_or(chrono::Duration::minutes(5))
    }

    /// Businesses with queued jobs in running runs and, as far as a read without the lock can
    /// tell, a free slot (a full business would only cost a claim transaction that finds nothing;
    /// the count under its lock decides), least recently served first. Unscoped (system path):
    /// the dialer spans tenants.
    async fn businesses(&self) -> Result<Vec<Uuid>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT t.tenant_id FROM (
               SELECT DISTINCT r.tenant_id FROM outbound_run r
               WHERE r.status = 'running' AND NOT r.cancel_requested
                 AND EXISTS (SELECT 1 FROM outbound_job j WHERE j.run_id = r.id AND j.status = 'queued')
             ) t JOIN tenant tn ON tn.id = t.tenant_id
             LEFT JOIN outbound_business b ON b.tenant_id = t.tenant_id
             WHERE (SELECT count(*) FROM outbound_job l WHERE l.tenant_id = t.tenant_id AND l.status = 'in_progress')
                   < tn.outbound_max_concurrent
             ORDER BY COALESCE(b.last_turn, 0), t.tenant_id",
        )
        .fetch_all(&self.state.db)
        .await
    }

    /// One call for `tenant` if its caps and the pace allow.
    async fn dial_one(&self, tenant: Uuid) -> Result<Turn, sqlx::Error> {
        let now = self.state.clock.now();
        let mut tx = self.state.db.begin().await?;
        sqlx::query("INSERT INTO outbound_business (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
        // The business's lock: slot counting and taking are serialized per business across
        // replicas; a replica already serving it is skipped rather than waited for.
        let cap: Option<i32> = sqlx::query_scalar(
            "SELECT t.outbound_max_concurrent FROM outbound_business b JOIN tenant t ON t.id = b.tenant_id
             WHERE b.tenant_id = $1 AND t.status = 'active' FOR UPDATE OF b SKIP LOCKED",
        )
        .bind(tenant)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(cap) = cap else { return Ok(Turn::Idle) };
        let live: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbound_job WHERE tenant_id = $1 AND status = 'in_progress'",
        )
        .bind(tenant)
        .fetch_one(&mut *tx)
        .await?;
        if live >= i64::from(cap) {
            return Ok(Turn::Idle);
        }
        let Some(job) = next_job(&mut tx, tenant).await? else { return Ok(Turn::Idle) };
        let policy = Policy::from_stored(&job.policy);
        if let Some(block) = dnc::blocked(&mut tx, tenant, &job.number).await? {
            skip(&mut tx, job.id, block.outcome(), block.reason(), now).await?;
        } else if let Some(opening) = self.closed_until(&job, &policy, now) {
            defer(&mut tx, job.id, opening, now).await?;
        } else {
            if let Some(wait) = self.pace(now).await? {
                return Ok(Turn::Paced(wait));
            }
            self.request(&mut tx, TenantId(tenant), &job, policy.machine.as_ref(), now).await?;
        }
        sqlx::query("UPDATE outbound_business SET last_turn = nextval('outbound_turn') WHERE tenant_id = $1")
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Turn::Taken)
    }

    /// When the lead may not be called now: the calling window's next opening in the lead's
    /// timezone (else the business's). A window that does not open within two weeks (every day a
    /// holiday) is looked at again in a day — deferred, never failed.
    fn closed_until(&self, job: &NextJob, policy: &Policy, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let hours = job.business_hours.clone().and_then(|h| serde_json::from_value(h).ok());
        let window = Window::resolve(policy.calling_window.as_ref(), hours, job.holidays.clone());
        let tz = policy::zone(job.timezone.as_deref(), &job.tenant_timezone);
        match window.next_opening(tz, now) {
            Ok(next) => next,
            Err(policy::NeverOpen) => {
                tracing::warn!(
                    "an outbound calling window does not open within two weeks; looked at again in a day"
                );
                Some(now + chrono::Duration::days(1))
            }
        }
    }

    /// Moves deferred jobs whose time came back to the queue (the window's check runs again when
    /// they are taken). Unscoped (system path).
    async fn promote(&self, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
        let moved = sqlx::query(
            "UPDATE outbound_job SET status = 'queued', next_attempt_at = NULL, updated_at = $1
             WHERE status = 'deferred' AND next_attempt_at <= $1",
        )
        .bind(now)
        .execute(&self.state.db)
        .await?;
        Ok(moved.rows_affected())
    }

    /// Takes a token from the account's pace for a bulk create; how long to wait when there is
    /// none, or while a more urgent call (an officer's, a text-back's) waits for one: bulk goes
    /// behind them.
    async fn pace(&self, now: DateTime<Utc>) -> Result<Option<chrono::Duration>, sqlx::Error> {
        // Waiting for the pace = a pending create not sent yet, due now or deferred a moment for a
        // token (a create retried hours later, or one being reconciled, does not hold bulk back).
        let urgent: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM outbox_message o JOIN twilio_attempt a ON a.outbox_id = o.id
               WHERE o.destination = 'twilio' AND o.kind = 'twilio.call' AND o.status = 'pending'
                 AND o.priority > $1 AND a.state = 'queued' AND o.next_attempt_at <= $2 + interval '10 seconds')",
        )
        .bind(priority::BULK)
        .bind(now)
        .fetch_one(&self.state.db)
        .await?;
        if urgent {
            return Ok(Some(chrono::Duration::milliseconds(100)));
        }
        let rate = self.state.config.effects.calls_per_second;
        Ok(pacing::take(&self.state.db, "call", rate, now).await?.err())
    }

    /// Requests the job's call and takes its slot.
    async fn request(
        &self,
        conn: &mut PgConnection,
        tenant: TenantId,
        job: &NextJob,
        machine: Option<&Machine>,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let attempt = job.attempts + 1;
        let owner = Owner {
            domain: DOMAIN,
            id: job.id.to_string(),
            // One create per job and attempt, however many replicas or rounds reach it.
            idempotency_key: format!("outbound:{}:{attempt}", job.id),
            priority: priority::BULK,
        };
        let call = CallRequest {
            to: job.number.clone(),
            from: job.from_number.clone(),
            path: format!("/webhooks/twilio/outbound/{}/voice", job.id),
            events: ["initiated", "ringing", "answered", "completed"].map(String::from).to_vec(),
            timeout_secs: None,
            machine_detection: machine.map(|m| m.detection().to_owned()),
            record: false,
            prepaid: true,
        };
        let token = effects::request_call(conn, tenant, now, owner, &call).await?;
        sqlx::query(
            "UPDATE outbound_job SET status = 'in_progress', attempts = $2, attempt_token = COALESCE($3, attempt_token),
               answered_by = NULL, call_sid = NULL, dialled_at = $4, slot_expires_at = $5, updated_at = $4
             WHERE id = $1",
        )
        .bind(job.id)
        .bind(attempt)
        .bind(token)
        .bind(now)
        .bind(now + self.lease())
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Dials while any business has a queued job and a free slot and the pace allows, one call
    /// per business per pass (round robin: the least recently served business goes first).
    async fn dial(&self) -> Result<u64, sqlx::Error> {
        let mut taken = 0;
        loop {
            let mut progressed = false;
            for tenant in self.businesses().await? {
                let started = std::time::Instant::now();
                let turn = self.dial_one(tenant).await?;
                // The database time a claim takes (bench/outbound divides it by the calls placed).
                metrics::histogram!("outbound_claim_seconds", "result" => turn.label())
                    .record(started.elapsed().as_secs_f64());
                match turn {
                    Turn::Taken => {
                        progressed = true;
                        taken += 1;
                    }
                    Turn::Idle => {}
                    Turn::Paced(wait) => {
                        self.wake_after(wait);
                        progressed = false;
                        break;
                    }
                }
            }
            if taken > 0 {
                crate::outbox::wake(&self.state);
            }
            if !progressed || taken >= MAX_PER_ROUND {
                return Ok(taken);
            }
        }
    }

    /// Wakes this dialer when the next token is due (the poll finds it otherwise).
    fn wake_after(&self, wait: chrono::Duration) {
        let wake = self.wake.clone();
        let wait = wait.to_std().unwrap_or_default().min(self.state.config.outbound.poll_interval);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            wake.notify_one();
        });
    }

    /// Starts runs whose time came and fails runs that cannot go on. Unscoped (system path).
    async fn start_and_fail(&self, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
        let started = sqlx::query(
            "UPDATE outbound_run SET status = 'running', started_at = COALESCE(started_at, $1), updated_at = $1
             WHERE status = 'pending' AND start_at <= $1",
        )
        .bind(now)
        .execute(&self.state.db)
        .await?
        .rows_affected();
        let broken: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
            "SELECT r.id, r.tenant_id, CASE WHEN t.status <> 'active' THEN 'tenant_suspended' ELSE 'from_number_removed' END
             FROM outbound_run r JOIN tenant t ON t.id = r.tenant_id
             WHERE r.status IN ('running', 'paused') AND (t.status <> 'active' OR NOT EXISTS (
               SELECT 1 FROM tenant_number n WHERE n.tenant_id = r.tenant_id AND n.number = r.from_number AND n.status = 'active'))",
        )
        .fetch_all(&self.state.db)
        .await?;
        for (run, tenant, reason) in &broken {
            self.fail(*run, TenantId(*tenant), reason, now).await?;
        }
        Ok(started + broken.len() as u64)
    }

    async fn fail(
        &self,
        run: Uuid,
        tenant: TenantId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.state.db.begin().await?;
        if repo::transition(&mut tx, run, super::machine::RunEvent::Fail, Some(reason), now).await? {
            repo::cancel_queued(&mut tx, run, now).await?;
            slots::stop_live(&mut tx, tenant, run, false, now).await?;
            finished(&mut tx, tenant, run, "failed", serde_json::json!({"reason": reason}), now).await?;
        }
        tx.commit().await
    }

    /// Ends runs with nothing left to dial or wait for. Unscoped (system path).
    async fn finish(&self, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
        let done: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
            "UPDATE outbound_run r SET status = CASE WHEN r.cancel_requested THEN 'cancelled' ELSE 'completed' END,
               ended_at = $1, updated_at = $1
             WHERE (r.status = 'running' OR (r.status = 'paused' AND r.cancel_requested))
               AND NOT EXISTS (SELECT 1 FROM outbound_job j WHERE j.run_id = r.id
                               AND j.status IN ('queued', 'deferred', 'in_progress'))
             RETURNING r.id, r.tenant_id, r.status",
        )
        .bind(now)
        .fetch_all(&self.state.db)
        .await?;
        for (run, tenant, status) in &done {
            let mut tx = self.state.db.begin().await?;
            finished(&mut tx, TenantId(*tenant), *run, status, serde_json::json!({}), now).await?;
            tx.commit().await?;
        }
        Ok(done.len() as u64)
    }

    async fn gauges(&self) -> Result<(), sqlx::Error> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, count(*) FROM outbound_job GROUP BY status")
                .fetch_all(&self.state.db)
                .await?;
        for name in super::model::JobStatus::NAMES {
            let n = rows.iter().find(|(s, _)| s == name).map_or(0, |(_, n)| *n);
            metrics::gauge!("outbound_jobs", "status" => *name).set(n as f64);
            if *name == "in_progress" {
                metrics::gauge!("outbound_live_calls").set(n as f64);
            }
        }
        Ok(())
    }
}

/// Audits a run's end and notifies the business (`outbound.run.finished`).
pub(super) async fn finished(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: Uuid,
    status: &str,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let counts = repo::counts(conn, run).await?;
    notify::run_finished(conn, tenant, run, status, &counts, now).await?;
    let event = NewEvent {
        actor: Actor::System("outbound"),
        action: "OUTBOUND_RUN_FINISHED",
        entity_type: "outbound_run",
        entity_id: run.to_string(),
        request_id: None,
        data: serde_json::json!({"status": status, "detail": detail}),
    };
    audit::record(conn, tenant, now, event).await?;
    Ok(())
}

impl Turn {
    fn label(&self) -> &'static str {
        match self {
            Turn::Taken => "taken",
            Turn::Idle => "idle",
            Turn::Paced(_) => "paced",
        }
    }
}

/// What one business's turn came to.
enum Turn {
    /// A job was dialled or skipped.
    Taken,
    /// Nothing to do for it now (caps full, nothing queued, another replica serving it).
    Idle,
    /// No token from the pace: the round ends; the next token is due after this long.
    Paced(chrono::Duration),
}

#[async_trait::async_trait]
impl Worker for Dialer {
    fn name(&self) -> &'static str {
        "outbound"
    }

    fn interval(&self) -> Duration {
        self.state.config.outbound.poll_interval
    }

    fn waker(&self) -> Option<Arc<Notify>> {
        Some(self.wake.clone())
    }

    fn coalesce(&self) -> Duration {
        Duration::from_millis(20)
    }

    async fn run_once(&self) -> anyhow::Result<u64> {
        let now = self.state.clock.now();
        let mut handled = self.start_and_fail(now).await?;
        handled += self.promote(now).await?;
        handled += settle::settle(&self.state, self.lease()).await?;
        handled += self.dial().await?;
        handled += self.finish(self.state.clock.now()).await?;
        self.gauges().await?;
        Ok(handled)
    }
}
