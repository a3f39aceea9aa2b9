//! Siren transitions. Each happens in one transaction: raised with the session marked
//! `siren_triggered`, acknowledged or resolved under the siren's row lock (the machine decides,
//! the update is conditional), each audited with who and when, each notified to the monitor team
//! once (its outbox key). An emergency left active escalates: one text per duty officer, an
//! effect keyed by siren and officer, so replicas racing on it send each text once.

use super::machine::{AlertType, SirenEvent, SirenStatus};
use super::model::Siren;
use super::repo::{self, NewRow};
use crate::audit::{self, Actor, NewEvent};
use crate::effects::{self, MessageRequest, Owner, priority};
use crate::error::ApiError;
use crate::ids::TenantId;
use crate::outbox::{self, NewMessage};
use crate::tenants;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

/// The owning domain of the escalation texts.
pub const DOMAIN: &str = "sirens";
/// The monitor team's outbox destination.
pub const MONITOR: &str = "monitor";

/// Why a siren could not be moved or escalated.
#[derive(Debug, thiserror::Error)]
pub enum SirenError {
    /// The machine refuses the event from the siren's status (409 `invalid_transition`).
    #[error("the siren is {0}")]
    Refused(SirenStatus),
    /// The siren, or the call session it names, is not there (any more) in this transaction.
    #[error("siren {0} or its call session is gone")]
    Gone(Uuid),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<SirenError> for ApiError {
    fn from(error: SirenError) -> Self {
        match error {
            SirenError::Refused(_) => ApiError::InvalidTransition(error.to_string()),
            SirenError::Gone(_) => ApiError::NotFound,
            SirenError::Database(e) => e.into(),
        }
    }
}

/// Who acts on a siren: the audit actor and the stored `operator:{key id}`.
#[derive(Debug, Clone)]
pub struct By {
    /// The audit actor.
    pub actor: Actor,
    /// As stored on the siren.
    pub label: String,
    /// The key's role.
    pub role: &'static str,
    /// The request, for the audit.
    pub request_id: Option<String>,
}

async fn audit(
    conn: &mut PgConnection,
    siren: &Siren,
    by: &By,
    action: &str,
    data: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let event = NewEvent {
        actor: by.actor.clone(),
        action,
        entity_type: "siren",
        entity_id: siren.id.to_string(),
        request_id: by.request_id.clone(),
        data,
    };
    audit::record(conn, siren.tenant(), now, event).await.map(|_| ())
}

/// `siren.{kind}` to the monitor team, once per siren and kind.
async fn notify(
    conn: &mut PgConnection,
    siren: &Siren,
    kind: &str,
    extra: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut payload = serde_json::to_value(siren).unwrap_or_default();
    if let (Some(map), serde_json::Value::Object(more)) = (payload.as_object_mut(), extra) {
        map.extend(more);
    }
    let message = NewMessage {
        kind,
        destination: MONITOR,
        payload,
        idempotency_key: format!("{kind}:{}", siren.id),
        owner: None,
        priority: priority::URGENT,
    };
    outbox::enqueue(conn, siren.tenant(), now, message).await.map(|_| ())
}

/// Raises a siren on a session the caller may see: `active`, the session `siren_triggered`, an
/// emergency's escalation time set, audited `SIREN_TRIGGERED`, `siren.triggered` sent.
pub async fn trigger(
    conn: &mut PgConnection,
    tenant: TenantId,
    session: Uuid,
    alert_type: AlertType,
    reason: &str,
    by: &By,
    now: DateTime<Utc>,
) -> Result<Siren, sqlx::Error> {
    let escalate_at = if alert_type == AlertType::Emergency {
        let secs = repo::escalate_after(conn, tenant).await?;
        Some(now + Duration::seconds(secs.into()))
    } else {
        None
    };
    let new = NewRow { tenant, session, alert_type, reason, by: &by.label, role: by.role, escalate_at };
    let siren = repo::insert(conn, &new, now).await?;
    let data =
        json!({"session_id": session, "alert_type": alert_type, "role": by.role, "escalate_at": escalate_at});
    audit(conn, &siren, by, "SIREN_TRIGGERED", data, now).await?;
    notify(conn, &siren, "siren.triggered", json!({}), now).await?;
    Ok(siren)
}

/// Acknowledges or resolves a siren (the caller holds its lock): the moved siren, or
/// [`SirenError::Refused`] when the machine refused (it is left as it was).
pub async fn transition(
    conn: &mut PgConnection,
    siren: &Siren,
    event: SirenEvent,
    note: Option<&str>,
    by: &By,
    now: DateTime<Utc>,
) -> Result<Siren, SirenError> {
    let Some(moved) = repo::transition(conn, siren, event, &by.label, note, now).await? else {
        return Err(SirenError::Refused(siren.status));
    };
    let status = moved.status;
    let (action, kind) = match status {
        SirenStatus::Acknowledged => ("SIREN_ACKNOWLEDGED", "siren.acknowledged"),
        SirenStatus::FalseAlarm => ("SIREN_FALSE_ALARM", "siren.resolved"),
        _ => ("SIREN_RESOLVED", "siren.resolved"),
    };
    let data = json!({"was": siren.status, "status": status, "role": by.role, "note": note});
    audit(conn, siren, by, action, data, now).await?;
    notify(conn, &moved, kind, json!({}), now).await?;
    Ok(moved)
}

/// The escalation text (no personal data: the order and the siren's id).
fn text(siren: &Siren, order_id: &str, waited_secs: i64) -> String {
    format!(
        "EMERGENCY siren on call order {order_id} not acknowledged after {waited_secs}s. Siren {}.",
        siren.id
    )
}

/// Escalates a due emergency (the caller holds its lock): each duty officer texted once,
/// audited `SIREN_ESCALATED` (or why nobody could be texted), `siren.escalated` sent.
/// A siren or session gone under the lock is [`SirenError::Gone`]: the round fails loudly.
pub async fn escalate(conn: &mut PgConnection, siren: &Siren, now: DateTime<Utc>) -> Result<(), SirenError> {
    if siren.status != SirenStatus::Active {
        // Only an active siren has an escalation time (every transition clears it): nothing to do.
        return Ok(());
    }
    let escalated = repo::set_escalated(conn, siren.id, now).await?.ok_or(SirenError::Gone(siren.id))?;
    let order_id =
        crate::sessions::repo::order_id(conn, siren.session_id).await?.ok_or(SirenError::Gone(siren.id))?;
    let tenant = siren.tenant();
    let officers = tenants::repo::find_tenant(conn, tenant).await?.map(|t| t.settings.duty_officers);
    let officers = officers.unwrap_or_default();
    let from = tenants::repo::primary_number(conn, tenant).await?;
    let waited = (now - siren.created_at).num_seconds();
    let mut texted = 0;
    if let Some(from) = from.as_deref() {
        for officer in &officers {
            let owner = Owner {
                domain: DOMAIN,
                id: siren.id.to_string(),
                idempotency_key: format!("siren:{}:officer:{}", siren.id, officer.as_str()),
                priority: priority::URGENT,
            };
            let message = MessageRequest {
                to: officer.as_str().to_owned(),
                from: from.to_owned(),
                body: text(siren, &order_id, waited),
                media: Vec::new(),
            };
            effects::request_message(conn, tenant, now, owner, &message).await?;
            texted += 1;
        }
    }
    // Nobody to text, or nothing to text from: said in the audit and the notification.
    let problem = match (officers.is_empty(), from.is_none()) {
        (true, _) => Some("the tenant has no duty officers"),
        (false, true) => Some("the tenant has no active primary number to text from"),
        _ => None,
    };
    let by = By {
        actor: Actor::System("sirens"),
        label: "system:escalation".into(),
        role: "system",
        request_id: None,
    };
    let data = json!({"officers_texted": texted, "waited_secs": waited, "problem": problem});
    audit(conn, siren, &by, "SIREN_ESCALATED", data, now).await?;
    let extra = json!({"officers_texted": texted, "problem": problem});
    Ok(notify(conn, &escalated, "siren.escalated", extra, now).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn a_refused_siren_is_409_and_a_gone_one_404_at_the_edge() {
        let refused = ApiError::from(SirenError::Refused(SirenStatus::Resolved));
        assert_eq!(refused.status_and_code(), (StatusCode::CONFLICT, "invalid_transition"));
        assert_eq!(refused.to_string(), "the siren is resolved");
        let gone = ApiError::from(SirenError::Gone(Uuid::nil()));
        assert_eq!(gone.status_and_code(), (StatusCode::NOT_FOUND, "not_found"));
    }
}
