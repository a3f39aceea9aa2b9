//! `POST /api/calls/{id}/recording/{start|pause|resume|stop}` and `GET /api/calls/{id}/recordings`.
//! Roles: reader (its own sessions), monitor, admin, superadmin (naming `?tenant=`); a client
//! gets 403. A control is accepted (202) when the machine allows it and no other is pending; the
//! Twilio request leaves through the outbox, and the status moves when Twilio confirms.

use super::machine::{Control, RecordingState};
use super::repo::{self, ControlRow, Recording};
use super::{delivery, link};
use crate::audit::{self, Actor, NewEvent, query_tenant};
use crate::auth::scope::operator_tx;
use crate::auth::{Operator, Role};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::sessions::machine::{Party, SessionStatus};
use crate::sessions::model::SessionRow;
use crate::sessions::{access, repo as sessions, service};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

/// `?tenant=` (superadmin).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// Superadmin: the tenant (id or slug).
    tenant: Option<String>,
}

/// Where a session's recording stands.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordingControl {
    /// What Twilio last confirmed.
    pub recording_status: RecordingState,
    /// What was asked and is not yet confirmed (`null` when nothing is pending).
    pub recording_requested: Option<RecordingState>,
    /// Twilio's error code when it refused the last control.
    pub recording_error_code: Option<i64>,
    /// When the consent notice played (the first start waits for it).
    pub notice_played_at: Option<DateTime<Utc>>,
}

impl From<&ControlRow> for RecordingControl {
    fn from(row: &ControlRow) -> Self {
        RecordingControl {
            recording_status: RecordingState::parse(&row.status).unwrap_or(RecordingState::Stopped),
            recording_requested: row.requested.as_deref().and_then(RecordingState::parse),
            recording_error_code: row.error_code,
            notice_played_at: row.notice_played_at,
        }
    }
}

/// The session's recording status and its recordings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordingList {
    /// Where the recording stands.
    #[serde(flatten)]
    pub control: RecordingControl,
    /// Oldest first.
    pub items: Vec<Recording>,
}

const ROLES: &[Role] = &[Role::Superadmin, Role::Admin, Role::Monitor, Role::Reader];

/// The session (locked) if the operator may see it.
async fn visible(
    conn: &mut PgConnection,
    operator: &Operator,
    tenant: crate::ids::TenantId,
    id: Uuid,
) -> ApiResult<SessionRow> {
    let row = sessions::lock(conn, tenant, id).await?;
    row.filter(|s| access::sees(operator, s)).ok_or(ApiError::NotFound)
}

/// `POST /api/calls/{id}/recording/{action}`.
#[utoipa::path(post, path = "/api/calls/{id}/recording/{action}", tag = "calls", operation_id = "control_recording",
    summary = "Start, pause, resume or stop a session's recording",
    description = "Roles: reader (its sessions), monitor, admin (superadmin naming `tenant`); client 403. `action`: `start`, `pause`, `resume`, `stop`. 202 with `recording_status` (what Twilio confirmed) and `recording_requested`. The first start plays the consent notice to the conference and starts only after it ended. 409 `invalid_transition` when the machine refuses (resume after stop), 409 `conflict` while another control is pending, when the session was booked with `record: false`, or when it is not in progress.",
    params(("id" = Uuid, Path), ("action" = String, Path), TenantQuery),
    responses((status = 202, description = "Accepted", body = RecordingControl), (status = 409, response = inline(crate::openapi::ConflictResponse))))]
pub async fn control(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath((id, action)): ApiPath<(Uuid, String)>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<(StatusCode, ApiJson<RecordingControl>)> {
    if !ROLES.contains(&operator.role) {
        return Err(ApiError::Forbidden);
    }
    let control = Control::parse(&action).ok_or(ApiError::NotFound)?;
    let tenant = query_tenant(&state, &operator, q.tenant.as_deref()).await?;
    let now = state.clock.now();
    let mut tx = operator_tx(&state.db, tenant, &operator).await?;
    let session = visible(&mut tx, &operator, tenant, id).await?;
    if !session.record {
        return Err(ApiError::Conflict("the session was booked with record: false".into()));
    }
    if session.status != SessionStatus::InProgress {
        let status = session.status;
        return Err(ApiError::Conflict(format!(
            "the session is {status}: recording needs the call in progress"
        )));
    }
    let mut row = repo::lock(&mut tx, session.tenant_id, session.id, now).await?;
    if row.requested.is_some() {
        return Err(ApiError::Conflict("another recording control is still pending".into()));
    }
    let from = RecordingState::parse(&row.status).unwrap_or(RecordingState::Stopped);
    let Some(target) = control.target(from) else {
        let (action, from) = (control.as_str(), from.as_str());
        return Err(ApiError::InvalidTransition(format!("cannot {action} a recording that is {from}")));
    };
    row.requested = Some(target.as_str().to_owned());
    row.error_code = None;
    row.seq += 1;
    request(&mut tx, &session, &mut row, control, now).await?;
    repo::save(&mut tx, session.id, &row, now).await?;
    let data = serde_json::json!({"action": control.as_str()});
    service::audit(
        &mut tx,
        &session,
        Actor::Operator(operator.key_id),
        "SESSION_RECORDING_REQUESTED",
        data,
        now,
    )
    .await?;
    tx.commit().await?;
    crate::outbox::wake(&state);
    Ok((StatusCode::ACCEPTED, ApiJson(RecordingControl::from(&row))))
}

/// Queues what the control needs: the consent notice before a session's first start, else the
/// Twilio request itself.
async fn request(
    conn: &mut PgConnection,
    session: &SessionRow,
    row: &mut ControlRow,
    control: Control,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    if control == Control::Start && row.notice_played_at.is_none() {
        let Some(conference) = session.conference_sid.as_deref() else {
            return Err(ApiError::Conflict("the session's conference is not known yet".into()));
        };
        row.notice_requested_at.get_or_insert(now);
        delivery::request_notice(conn, session, conference, now).await?;
        return Ok(());
    }
    if control == Control::Start {
        let Some((party, call)) = recorded_leg(conn, session).await? else {
            return Err(ApiError::Conflict("no leg of the session is connected".into()));
        };
        delivery::request_start(conn, session, row.seq, party, &call, now).await?;
        return Ok(());
    }
    let Some(sid) = row.current_sid.clone() else {
        return Err(ApiError::Conflict("the recording is not known yet".into()));
    };
    let call = recorded_leg(conn, session).await?.map(|(_, call)| call);
    let call = call.ok_or_else(|| ApiError::Conflict("no leg of the session is connected".into()))?;
    delivery::request_update(conn, session, row.seq, control, &call, &sid, now).await?;
    Ok(())
}

/// The leg recorded: the reader's while connected (its audio holds both parties), else the
/// client's.
pub async fn recorded_leg(
    conn: &mut PgConnection,
    session: &SessionRow,
) -> Result<Option<(Party, String)>, sqlx::Error> {
    let legs = sessions::legs(conn, session.id).await?;
    let connected = |party: Party| {
        legs.iter()
            .find(|l| l.party == party && l.joined_at.is_some() && l.left_at.is_none())
            .and_then(|l| l.call_sid.clone().map(|sid| (party, sid)))
    };
    Ok(connected(Party::Reader).or_else(|| connected(Party::Client)))
}

/// `GET /api/calls/{id}/recordings`.
#[utoipa::path(get, path = "/api/calls/{id}/recordings", tag = "calls", operation_id = "list_recordings",
    summary = "A session's recordings",
    description = "Roles: reader (its sessions), monitor, admin (superadmin naming `tenant`); client 403. Each recording's status, duration, channels, start, end and when the consent notice played; a completed one carries `download_url`, a link valid one hour that needs no key (issuing it is audited, `RECORDING_LINK_ISSUED`). 503 when a link is due and `SWITCHBOARD_MEDIA__LINK_SECRET` is not configured. Twilio's recording SID and media URL are never shown.",
    params(("id" = Uuid, Path), TenantQuery),
    responses((status = 200, description = "The recordings", body = RecordingList)))]
pub async fn list(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<ApiJson<RecordingList>> {
    if !ROLES.contains(&operator.role) {
        return Err(ApiError::Forbidden);
    }
    let tenant = query_tenant(&state, &operator, q.tenant.as_deref()).await?;
    let mut tx = operator_tx(&state.db, tenant, &operator).await?;
    let session = visible(&mut tx, &operator, tenant, id).await?;
    let mut items = repo::list(&mut tx, session.id).await?;
    let now = state.clock.now();
    let base = state.public_url("");
    for item in items.iter_mut().filter(|i| i.status == "completed") {
        let Some(url) = link::sign(&state.config.media, &base, item.id, now) else {
            return Err(ApiError::Unavailable(
                "recording links need SWITCHBOARD_MEDIA__LINK_SECRET (the same on every replica)".into(),
            ));
        };
        item.download_url = Some(url);
        let event = NewEvent {
            actor: Actor::Operator(operator.key_id),
            action: "RECORDING_LINK_ISSUED",
            entity_type: "recording",
            entity_id: item.id.to_string(),
            request_id: None,
            data: serde_json::json!({"session_id": session.id}),
        };
        audit::record(&mut tx, tenant, now, event).await?;
    }
    let control = match repo::find(&mut tx, session.id).await? {
        Some(row) => RecordingControl::from(&row),
        None => RecordingControl {
            recording_status: RecordingState::Stopped,
            recording_requested: None,
            recording_error_code: None,
            notice_played_at: None,
        },
    };
    tx.commit().await?;
    Ok(ApiJson(RecordingList { control, items }))
}

/// `DELETE /api/calls/{id}/recordings/{rid}`.
#[utoipa::path(delete, path = "/api/calls/{id}/recordings/{rid}", tag = "calls", operation_id = "delete_recording",
    summary = "Delete a recording",
    description = "Role: admin (superadmin naming `tenant`). The recording is marked deleted at once (its links stop working, it leaves the list) and deleted at Twilio exactly once. Audited (`RECORDING_DELETED`). 404 for a recording the session does not have or already deleted.",
    params(("id" = Uuid, Path), ("rid" = Uuid, Path), TenantQuery),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(
    State(state): State<AppState>,
    operator: Operator,
    ApiPath((id, rid)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<StatusCode> {
    if !matches!(operator.role, Role::Superadmin | Role::Admin) {
        return Err(ApiError::Forbidden);
    }
    let tenant = query_tenant(&state, &operator, q.tenant.as_deref()).await?;
    let now = state.clock.now();
    let mut tx = operator_tx(&state.db, tenant, &operator).await?;
    let session = visible(&mut tx, &operator, tenant, id).await?;
    let sid = repo::mark_deleted(&mut tx, session.id, rid, now).await?.ok_or(ApiError::NotFound)?;
    delivery::request_delete(&mut tx, tenant, rid, &sid, now).await?;
    let event = NewEvent {
        actor: Actor::Operator(operator.key_id),
        action: "RECORDING_DELETED",
        entity_type: "recording",
        entity_id: rid.to_string(),
        request_id: None,
        data: serde_json::json!({"session_id": session.id}),
    };
    audit::record(&mut tx, tenant, now, event).await?;
    tx.commit().await?;
    crate::outbox::wake(&state);
    Ok(StatusCode::NO_CONTENT)
}
