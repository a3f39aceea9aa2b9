//! The crisis state machine. Every transition happens in one transaction under the crisis's row
//! lock: the decision is checked (`pending_approval`, deadline open), applied, the dispatch queued
//! (its outbox key makes it unique per crisis) and audited — so a phone 6, an API approval and the
//! expiry worker racing on several replicas produce exactly one outcome.

use super::machine::{CrisisEvent, CrisisStatus};
use super::model::{Crisis, NewCrisis, dispatches_units};
use super::repo;
use crate::audit::{self, Actor, NewEvent};
use crate::effects::{self, CallRequest, Owner, priority};
use crate::ids::TenantId;
use crate::outbox::{self, NewMessage};
use crate::redact::mask_phone;
use crate::tenants;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;

/// Why a crisis could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CrisisError {
    /// The tenant named by the key no longer exists.
    #[error("the tenant no longer exists")]
    TenantNotFound,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<CrisisError> for crate::error::ApiError {
    fn from(error: CrisisError) -> Self {
        match error {
            CrisisError::TenantNotFound => crate::error::ApiError::NotFound,
            CrisisError::Database(e) => e.into(),
        }
    }
}

/// The owning domain of approval calls and dispatches.
pub const DOMAIN: &str = "crises";

/// A decision to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Dispatch.
    Approve,
    /// Do not dispatch.
    Reject,
}

/// A decision and who takes it.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    /// Approve or reject.
    pub verdict: Verdict,
    /// Who decides.
    pub actor: Actor,
    /// Audit details (the call, the masked officer, the digit; or the API reason).
    pub details: serde_json::Value,
    /// An operator's reason.
    pub reason: Option<&'a str>,
}

/// What a decision attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Taken now; the crisis's new status.
    Decided(Crisis),
    /// Already decided before: its status, unchanged.
    AlreadyDecided(Crisis),
    /// The deadline had passed: the crisis is (now) expired.
    Expired(Crisis),
}

fn event<'a>(actor: Actor, action: &'a str, crisis: &Crisis, data: serde_json::Value) -> NewEvent<'a> {
    NewEvent {
        actor,
        action,
        entity_type: "crisis",
        entity_id: crisis.id.to_string(),
        request_id: None,
        data,
    }
}

/// Creates a crisis: held for approval (and the first duty officer called) at or above the
/// tenant's threshold, dispatched at once below it.
pub async fn create(
    conn: &mut PgConnection,
    tenant: TenantId,
    actor: Actor,
    new: &NewCrisis,
    now: DateTime<Utc>,
) -> Result<Crisis, CrisisError> {
    let settings =
        tenants::repo::find_tenant(conn, tenant).await?.ok_or(CrisisError::TenantNotFound)?.settings;
    let needs_approval = new.risk_score >= settings.approval.risk_threshold;
    // Every crisis starts pending; one below the threshold is approved at once (same transaction).
    let deadline =
        needs_approval.then(|| now + chrono::Duration::seconds(settings.approval.timeout_secs.into()));
    let crisis =
        repo::insert(conn, tenant, new, CrisisStatus::PendingApproval.as_str(), deadline, now).await?;
    let data = json!({"type": crisis.kind, "risk_score": crisis.risk_score, "location": crisis.location});
    audit::record(conn, tenant, now, event(actor.clone(), "CRISIS_RECEIVED", &crisis, data)).await?;
    if needs_approval {
        call_officer(conn, tenant, &crisis, 0, now).await?;
        Ok(crisis)
    } else {
        Ok(dispatch(conn, tenant, crisis, actor, now).await?)
    }
}

/// Calls duty officer `index` of the crisis, or records that every officer was tried.
pub async fn call_officer(
    conn: &mut PgConnection,
    tenant: TenantId,
    crisis: &Crisis,
    index: i32,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // A tenant that is gone has no officer to call: the escalation ends, said in the audit.
    let settings = tenants::repo::find_tenant(conn, tenant).await?.map(|t| t.settings);
    let officer =
        settings.as_ref().and_then(|s| usize::try_from(index).ok().and_then(|i| s.duty_officers.get(i)));
    let from = tenants::repo::primary_number(conn, tenant).await?;
    let (Some(officer), Some(from)) = (officer, from) else {
        repo::set_escalation(conn, crisis.id, index, true, now).await?;
        let reason = match (&settings, officer) {
            (None, _) => "the tenant no longer exists",
            (Some(_), None) => "no more duty officers",
            (Some(_), Some(_)) => "the tenant has no active primary number",
        };
        let data = json!({"officers_tried": index, "reason": reason});
        audit::record(
            conn,
            tenant,
            now,
            event(Actor::System("crises"), "ESCALATION_EXHAUSTED", crisis, data),
        )
        .await?;
        return Ok(());
    };
    let call = CallRequest {
        to: officer.as_str().to_owned(),
        from,
        path: format!("/webhooks/twilio/crises/{}/voice", crisis.id),
        events: vec!["initiated".into(), "ringing".into(), "answered".into(), "completed".into()],
        timeout_secs: Some(30),
        machine_detection: None,
        record: false,
        prepaid: false,
    };
    let owner = Owner {
        domain: DOMAIN,
        id: crisis.id.to_string(),
        idempotency_key: format!("crisis:{}:officer:{index}", crisis.id),
        priority: priority::URGENT,
    };
    let Some(token) = effects::request_call(conn, tenant, now, owner, &call).await? else { return Ok(()) };
    repo::insert_call(conn, &token, crisis, officer.as_str(), index, now).await?;
    repo::set_escalation(conn, crisis.id, index, false, now).await?;
    let action = if index == 0 { "APPROVAL_REQUESTED" } else { "ESCALATED" };
    let data = json!({"officer": officer.masked(), "officer_index": index});
    audit::record(conn, tenant, now, event(Actor::System("crises"), action, crisis, data)).await.map(|_| ())
}

/// Dispatches (or skips) a crisis: status, a `dispatch` outbox message unique per crisis, audit.
async fn dispatch(
    conn: &mut PgConnection,
    tenant: TenantId,
    mut crisis: Crisis,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Crisis, sqlx::Error> {
    let sends = dispatches_units(&crisis.decision);
    let approval = CrisisEvent::Approve { dispatches: sends };
    let Some(status) = crisis.status.after(approval) else { return Ok(crisis) };
    let by = crisis.decided_by.clone().unwrap_or_else(|| actor_label(&actor));
    repo::decide(conn, crisis.id, approval, &by, crisis.decision_reason.as_deref(), now).await?;
    crisis.status = status;
    crisis.decided_at = Some(now);
    crisis.decided_by = Some(by);
    if sends {
        let message = NewMessage {
            kind: "crisis.dispatch",
            destination: "dispatch",
            payload: json!({"crisis_id": crisis.id, "type": crisis.kind, "location": crisis.location,
                "risk_score": crisis.risk_score, "description": crisis.description, "decision": crisis.decision}),
            idempotency_key: format!("crisis:{}:dispatch", crisis.id),
            owner: None,
            priority: priority::URGENT,
        };
        outbox::enqueue(conn, tenant, now, message).await?;
    }
    let action = if sends { "UNIT_DISPATCHED" } else { "DISPATCH_SKIPPED" };
    audit::record(conn, tenant, now, event(actor, action, &crisis, json!({"decision": crisis.decision})))
        .await?;
    Ok(crisis)
}

fn actor_label(actor: &Actor) -> String {
    match actor {
        Actor::Operator(key) => format!("operator:{key}"),
        Actor::Twilio(sid) => format!("phone:{sid}"),
        Actor::System(name) => format!("system:{name}"),
    }
}

/// Takes a decision: under the lock, only a pending crisis with an open deadline moves.
pub async fn decide(
    conn: &mut PgConnection,
    tenant: TenantId,
    crisis_id: uuid::Uuid,
    decision: Decision<'_>,
    now: DateTime<Utc>,
) -> Result<Option<Outcome>, sqlx::Error> {
    let Decision { verdict, actor, details, reason } = decision;
    let Some(mut crisis) = repo::lock(conn, tenant, crisis_id).await? else { return Ok(None) };
    if !crisis.is_pending() {
        return Ok(Some(Outcome::AlreadyDecided(crisis)));
    }
    if crisis.is_overdue(now) {
        return Ok(Some(Outcome::Expired(expire(conn, tenant, crisis, now).await?)));
    }
    crisis.decided_by = Some(actor_label(&actor));
    crisis.decision_reason = reason.map(str::to_owned);
    match verdict {
        Verdict::Approve => {
            audit::record(conn, tenant, now, event(actor.clone(), "APPROVAL_EXECUTED", &crisis, details))
                .await?;
            Ok(Some(Outcome::Decided(dispatch(conn, tenant, crisis, actor, now).await?)))
        }
        Verdict::Reject => {
            let by = actor_label(&actor);
            repo::decide(conn, crisis.id, CrisisEvent::Reject, &by, reason, now).await?;
            crisis.status = CrisisStatus::Rejected;
            crisis.decided_at = Some(now);
            audit::record(conn, tenant, now, event(actor, "APPROVAL_REJECTED", &crisis, details)).await?;
            Ok(Some(Outcome::Decided(crisis)))
        }
    }
}

/// Expires a pending crisis (the caller holds its lock): status, `APPROVAL_TIMEOUT` (once: only
/// a pending crisis gets here), and a hang-up of every officer call still live.
pub async fn expire(
    conn: &mut PgConnection,
    tenant: TenantId,
    mut crisis: Crisis,
    now: DateTime<Utc>,
) -> Result<Crisis, sqlx::Error> {
    repo::decide(conn, crisis.id, CrisisEvent::Expire, "system:expiry", None, now).await?;
    crisis.status = CrisisStatus::Expired;
    crisis.decided_at = Some(now);
    let data = json!({"deadline": crisis.approval_deadline});
    audit::record(conn, tenant, now, event(Actor::System("expiry"), "APPROVAL_TIMEOUT", &crisis, data))
        .await?;
    for call in repo::calls_of(conn, crisis.id).await? {
        if let (Some(sid), false) = (call.call_sid.as_deref(), call.status.has_ended()) {
            effects::request_hangup(conn, tenant, now, sid, format!("crisis:{}:hangup:{sid}", crisis.id))
                .await?;
        }
    }
    Ok(crisis)
}

/// Audit data of a phone decision: crisis, call, masked officer, digit.
pub fn phone_details(crisis: &Crisis, call_sid: &str, officer: &str, digit: &str) -> serde_json::Value {
    json!({"crisis_id": crisis.id, "call_sid": call_sid, "officer": mask_phone(officer), "digit": digit})
}
