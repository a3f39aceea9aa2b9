//! Session transitions. Each happens in one transaction under the session's row lock: the machine
//! is asked, the row moved conditionally, the Twilio requests queued as effects (their outbox keys
//! make each one unique per session), the change audited and the notification queued — so the API,
//! the conference events and the worker racing on several replicas produce one outcome.

use super::machine::{Dropper, Party, SessionEvent, SessionStatus};
use super::model::{Booking, SessionRow};
use super::repo::{self, Changes};
use super::{notify, requests};
use crate::audit::{self, Actor, NewEvent};
use crate::error::ApiError;
use crate::ids::TenantId;
use crate::redact::mask_phone;
use crate::tenants;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::PgConnection;

/// The owning domain of the legs and conference requests.
pub const DOMAIN: &str = "sessions";
/// How early before `scheduled_at` a session may be started.
pub const START_WINDOW: Duration = Duration::minutes(10);
/// How long past the dial timeout the worker waits for both parties before `no_answer` (the
/// creates are paced, and a leg that answered still has to join).
pub const DIAL_MARGIN: Duration = Duration::seconds(30);
/// Between the warning and the end.
pub const WARNING: Duration = Duration::minutes(1);

/// Why a session could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Before the start window.
    #[error("the session can be started from {0}")]
    TooEarly(DateTime<Utc>),
    /// It already ended (or was cancelled or dropped): never restarted.
    #[error("the session is {0} and cannot be started")]
    Ended(SessionStatus),
    /// Nothing to call from.
    #[error("the tenant has no active primary number to call from")]
    NoNumber,
    /// The conditional update found the session no longer scheduled (or no longer there) under
    /// the lock: it did not move.
    #[error("the session did not move from {0}")]
    NotMoved(SessionStatus),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<StartError> for ApiError {
    fn from(error: StartError) -> Self {
        match error {
            StartError::Database(e) => e.into(),
            StartError::Ended(_) | StartError::NotMoved(_) => ApiError::InvalidTransition(error.to_string()),
            StartError::TooEarly(_) | StartError::NoNumber => ApiError::Conflict(error.to_string()),
        }
    }
}

/// Why a session could not be cancelled.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    /// The machine refuses a cancel from the session's status (it started already).
    #[error("the session is {0} and cannot be cancelled")]
    Refused(SessionStatus),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<CancelError> for ApiError {
    fn from(error: CancelError) -> Self {
        match error {
            CancelError::Refused(_) => ApiError::InvalidTransition(error.to_string()),
            CancelError::Database(e) => e.into(),
        }
    }
}

/// What a start, end or drop came to.
#[derive(Debug)]
pub enum Outcome {
    /// The session moved.
    Moved(SessionRow),
    /// Nothing to do: it already was where the request wanted it (started, or ended).
    Already(SessionRow),
}

/// Records `action` on the session's audit trail.
pub async fn audit(
    conn: &mut PgConnection,
    session: &SessionRow,
    actor: Actor,
    action: &str,
    data: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let event = NewEvent {
        actor,
        action,
        entity_type: "session",
        entity_id: session.id.to_string(),
        request_id: None,
        data,
    };
    audit::record(conn, session.tenant(), now, event).await.map(|_| ())
}

/// Books a session; `None` when the order already has an active one.
pub async fn schedule(
    conn: &mut PgConnection,
    tenant: TenantId,
    actor: Actor,
    booking: &Booking,
    now: DateTime<Utc>,
) -> Result<Option<SessionRow>, sqlx::Error> {
    let Some(session) = repo::insert(conn, tenant, booking, now).await? else { return Ok(None) };
    let data = json!({"order_id": session.order_id, "scheduled_at": session.scheduled_at,
        "timezone": session.timezone, "duration_minutes": session.duration_minutes, "record": session.record,
        "auto_start": session.auto_start, "client": mask_phone(&session.client_address),
        "reader": mask_phone(&session.reader_address)});
    audit(conn, &session, actor, "SESSION_SCHEDULED", data, now).await?;
    Ok(Some(session))
}

/// Cancels a session that has not started (the caller holds its lock): the cancelled session,
/// or [`CancelError::Refused`] when it already had.
pub async fn cancel(
    conn: &mut PgConnection,
    session: &SessionRow,
    actor: Actor,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<SessionRow, CancelError> {
    let changes = Changes { ended_reason: Some("cancelled"), ..Changes::default() };
    let Some(moved) = repo::transition(conn, session, SessionEvent::Cancel, &changes, None, now).await?
    else {
        return Err(CancelError::Refused(session.status));
    };
    audit(conn, session, actor, "SESSION_CANCELLED", json!({"reason": reason}), now).await?;
    Ok(moved)
}

/// Starts a session (the caller holds its lock): both legs requested as effects (one per party,
/// ever: the keys are per session), `initiating`, the dial deadline set. A session already
/// started is left as it is; one that ended is refused.
pub async fn start(
    conn: &mut PgConnection,
    session: SessionRow,
    actor: Actor,
    initiated_by: &str,
    now: DateTime<Utc>,
) -> Result<Outcome, StartError> {
    match session.status {
        SessionStatus::Scheduled => {}
        status if status.is_terminal() => return Err(StartError::Ended(status)),
        _ => return Ok(Outcome::Already(session)),
    }
    if now < session.scheduled_at - START_WINDOW {
        return Err(StartError::TooEarly(session.scheduled_at - START_WINDOW));
    }
    let tenant = session.tenant();
    let from = tenants::repo::primary_number(conn, tenant).await?.ok_or(StartError::NoNumber)?;
    let timeout =
        tenants::repo::find_tenant(conn, tenant).await?.map_or(20, |t| t.settings.dial_timeout_secs);
    for party in Party::BOTH {
        requests::dial(conn, &session, party, &from, timeout, now).await?;
    }
    let deadline = now + Duration::seconds(timeout.into()) + DIAL_MARGIN;
    let changes = Changes { initiated_by: Some(initiated_by), started: true, ..Changes::default() };
    let moved = repo::transition(conn, &session, SessionEvent::Start, &changes, Some(deadline), now)
        .await?
        .ok_or(StartError::NotMoved(session.status))?;
    let data = json!({"initiated_by": initiated_by, "dial_timeout_secs": timeout});
    audit(conn, &session, actor, "SESSION_STARTED", data, now).await?;
    Ok(Outcome::Moved(moved))
}

/// Ends a session early (`…/end` by a party, `…/drop` by a monitor; the caller holds the lock).
/// The conference is ended by its SID, once; before it exists the legs are hung up instead.
/// Racing requests: the first moves it, the others find it ended and are answered with it.
pub async fn drop_session(
    conn: &mut PgConnection,
    session: SessionRow,
    by: Dropper,
    actor: Actor,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Outcome>, sqlx::Error> {
    if session.status.is_terminal() {
        return Ok(Some(Outcome::Already(session)));
    }
    let ended_reason = match by {
        Dropper::Monitor => "monitor_drop",
        Dropper::Reader => "reader_ended",
        Dropper::Client => "client_ended",
    };
    let changes = Changes { ended_reason: Some(ended_reason), ended: true, ..Changes::default() };
    let Some(moved) = repo::transition(conn, &session, SessionEvent::Drop(by), &changes, None, now).await?
    else {
        // Not started yet: there is nothing to end (cancel it instead).
        return Ok(None);
    };
    requests::end_call(conn, &session, now).await?;
    repo::close_presence(conn, session.id, now).await?;
    let data = json!({"status": moved.status, "reason": reason, "was": session.status});
    audit(conn, &session, actor, "SESSION_DROPPED", data, now).await?;
    notify::completed(conn, &moved, now).await?;
    Ok(Some(Outcome::Moved(moved)))
}

/// Both parties are in the conference: `in_progress`, the time limit's warning as the deadline,
/// `session.started`.
pub async fn connect(
    conn: &mut PgConnection,
    session: &SessionRow,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let limit = now + Duration::minutes(session.duration_minutes.into());
    let changes = Changes { connected: true, ..Changes::default() };
    let Some(moved) =
        repo::transition(conn, session, SessionEvent::Connect, &changes, Some(limit), now).await?
    else {
        return Ok(());
    };
    audit(conn, session, Actor::System("sessions"), "SESSION_IN_PROGRESS", json!({}), now).await?;
    notify::started(conn, &moved, now).await
}

/// The call ended while in progress (`reason`: a party left, the time limit, the conference
/// ended): `completed` with its duration, `session.completed`.
pub async fn complete(
    conn: &mut PgConnection,
    session: &SessionRow,
    actor: Actor,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let changes = Changes { ended_reason: Some(reason), ended: true, ..Changes::default() };
    let Some(session) = repo::transition(conn, session, SessionEvent::Complete, &changes, None, now).await?
    else {
        return Ok(false);
    };
    repo::close_presence(conn, session.id, now).await?;
    let data = json!({"ended_reason": reason, "duration_sec": session.duration_sec});
    audit(conn, &session, actor, "SESSION_COMPLETED", data, now).await?;
    notify::completed(conn, &session, now).await?;
    Ok(true)
}

/// A party never joined (its leg was not answered, or the dial deadline passed): `no_answer`,
/// the other leg hung up, `session.no_answer`.
pub async fn no_answer(
    conn: &mut PgConnection,
    session: &SessionRow,
    actor: Actor,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let changes = Changes { ended_reason: Some(reason), ..Changes::default() };
    let Some(moved) = repo::transition(conn, session, SessionEvent::NoAnswer, &changes, None, now).await?
    else {
        return Ok(());
    };
    requests::hang_up_legs(conn, session, now).await?;
    audit(conn, session, actor, "SESSION_NO_ANSWER", json!({"ended_reason": reason}), now).await?;
    notify::no_answer(conn, &moved, now).await
}

/// The call could not be set up (the conference ended before both joined): `failed`, the legs
/// still up hung up.
pub async fn fail(
    conn: &mut PgConnection,
    session: &SessionRow,
    actor: Actor,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let changes = Changes { ended_reason: Some(reason), ..Changes::default() };
    if repo::transition(conn, session, SessionEvent::Fail, &changes, None, now).await?.is_none() {
        return Ok(());
    }
    requests::hang_up_legs(conn, session, now).await?;
    audit(conn, session, actor, "SESSION_FAILED", json!({"ended_reason": reason}), now).await
}

/// The time limit's warning is due: the conference hears it, the end follows [`WARNING`] later.
pub async fn warn(
    conn: &mut PgConnection,
    session: &SessionRow,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    requests::announce_time_warning(conn, session, now).await?;
    repo::set_warned(conn, session.id, now + WARNING, now).await?;
    let data = json!({"duration_minutes": session.duration_minutes, "ends_at": now + WARNING});
    audit(conn, session, Actor::System("sessions"), "SESSION_TIME_WARNING", data, now).await
}

/// The time limit passed: `completed` (`time_limit`), and the conference ended by its SID.
pub async fn time_limit(
    conn: &mut PgConnection,
    session: &SessionRow,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if complete(conn, session, Actor::System("sessions"), "time_limit", now).await? {
        requests::end_call(conn, session, now).await?;
    }
    Ok(())
}
