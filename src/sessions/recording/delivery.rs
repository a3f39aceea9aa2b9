//! The recording's Twilio requests, as outbox messages (one key per control, so each leaves
//! once): the consent notice (a conference `AnnounceUrl`, through the sessions' conference
//! destination), `POST Calls/{CA…}/Recordings.json` to start and
//! `POST Calls/{CA…}/Recordings/{RE…}.json` to pause, resume or stop. Twilio's answer confirms
//! the control; a refusal clears it visibly (the error code on the control and in the audit).

use super::machine::{Control, RecordingState};
use super::repo;
use crate::audit::Actor;
use crate::auth::scope::tenant_tx;
use crate::effects::priority;
use crate::ids::TenantId;
use crate::outbox::{self, Delivery, Destination, NewMessage, OutboxMessage};
use crate::sessions::machine::Party;
use crate::sessions::model::SessionRow;
use crate::sessions::requests::CONFERENCE_DESTINATION;
use crate::sessions::{repo as sessions, service};
use crate::state::AppState;
use crate::twilio::rest::{PauseBehavior, RecordingRef, RecordingUpdate, StartRecording};
use crate::twilio::{CallSid, RecordingSid, TwilioError};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

/// The outbox destination of recording requests.
pub const RECORDING_DESTINATION: &str = "twilio_recording";

/// The path the conference fetches the consent notice from.
pub fn notice_path(session: Uuid) -> String {
    format!("/webhooks/twilio/sessions/{session}/recording-notice")
}

/// The consent notice, once per session.
pub async fn request_notice(
    conn: &mut PgConnection,
    session: &SessionRow,
    conference: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let payload = json!({"conference_sid": conference, "announce_path": notice_path(session.id)});
    let message = NewMessage {
        kind: "twilio.conference_update",
        destination: CONFERENCE_DESTINATION,
        payload,
        idempotency_key: format!("session:{}:recording-notice", session.id),
        owner: None,
        priority: priority::URGENT,
    };
    outbox::enqueue(conn, session.tenant(), now, message).await.map(|_| ())
}

async fn enqueue(
    conn: &mut PgConnection,
    session: &SessionRow,
    seq: i32,
    payload: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let message = NewMessage {
        kind: "twilio.recording",
        destination: RECORDING_DESTINATION,
        payload,
        idempotency_key: format!("session:{}:recording:{seq}", session.id),
        owner: None,
        priority: priority::URGENT,
    };
    outbox::enqueue(conn, session.tenant(), now, message).await.map(|_| ())
}

/// `start` on `call` (the `party`'s leg).
pub async fn request_start(
    conn: &mut PgConnection,
    session: &SessionRow,
    seq: i32,
    party: Party,
    call: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let payload =
        json!({"session_id": session.id, "action": "start", "party": party.to_string(), "call_sid": call});
    enqueue(conn, session, seq, payload, now).await
}

/// `pause`, `resume` or `stop` of recording `sid` on `call`.
pub async fn request_update(
    conn: &mut PgConnection,
    session: &SessionRow,
    seq: i32,
    control: Control,
    call: &str,
    sid: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let payload = json!({"session_id": session.id, "action": control.as_str(), "call_sid": call,
        "recording_sid": sid});
    enqueue(conn, session, seq, payload, now).await
}

/// Delivers recording requests and applies Twilio's answer.
pub struct RecordingDestination {
    state: AppState,
}

impl RecordingDestination {
    /// The destination for the application.
    pub fn new(state: &AppState) -> Self {
        RecordingDestination { state: state.clone() }
    }

    async fn send(
        &self,
        control: Control,
        call: &CallSid,
        payload: &serde_json::Value,
    ) -> Result<String, TwilioError> {
        let twilio = &self.state.twilio;
        if control == Control::Start {
            let request = StartRecording {
                recording_status_callback: Some(self.state.public_url("/webhooks/twilio/recordings/events")),
                recording_status_callback_event: vec![
                    "in-progress".into(),
                    "completed".into(),
                    "absent".into(),
                ],
                recording_channels: Some("dual".into()),
                recording_track: Some("both".into()),
            };
            return twilio.start_recording(call, &request).await.map(|r| r.sid.to_string());
        }
        let sid = payload["recording_sid"].as_str().and_then(|s| RecordingSid::parse(s).ok());
        let Some(sid) = sid else {
            return Err(TwilioError::OutcomeUnknown { reason: "no recording sid".into() });
        };
        let update = match control {
            Control::Pause => RecordingUpdate::Pause(PauseBehavior::Skip),
            Control::Resume => RecordingUpdate::Resume,
            _ => RecordingUpdate::Stop,
        };
        twilio.update_recording(call, &RecordingRef::Sid(sid), &update).await.map(|r| r.sid.to_string())
    }

    /// Applies Twilio's answer (`Ok`: the recording's SID; `Err`: its refusal code).
    async fn apply(
        &self,
        message: &OutboxMessage,
        control: Control,
        answer: Result<String, Option<i64>>,
    ) -> Result<(), sqlx::Error> {
        let tenant = TenantId(message.tenant_id);
        let Some(id) = message.payload["session_id"].as_str().and_then(|s| Uuid::parse_str(s).ok()) else {
            return Ok(());
        };
        let now = self.state.clock.now();
        let mut tx = tenant_tx(&self.state.db, tenant).await?;
        let Some(session) = sessions::lock(&mut tx, tenant, id).await? else { return Ok(()) };
        let mut row = repo::lock(&mut tx, session.tenant_id, id, now).await?;
        row.requested = None;
        let (action, data) = match answer {
            Ok(sid) => {
                row.error_code = None;
                confirm(&mut tx, &session, &mut row, control, &sid, message, now).await?;
                let action = match control {
                    Control::Start => "SESSION_RECORDING_STARTED",
                    Control::Pause => "SESSION_RECORDING_PAUSED",
                    Control::Resume => "SESSION_RECORDING_RESUMED",
                    Control::Stop => "SESSION_RECORDING_STOPPED",
                };
                (action, json!({}))
            }
            Err(code) => {
                row.error_code = Some(code.unwrap_or(0));
                ("SESSION_RECORDING_FAILED", json!({"action": control.as_str(), "error_code": code}))
            }
        };
        repo::save(&mut tx, id, &row, now).await?;
        let actor = Actor::Twilio(message.payload["call_sid"].as_str().unwrap_or_default().to_owned());
        service::audit(&mut tx, &session, actor, action, data, now).await?;
        tx.commit().await
    }
}

/// Twilio accepted the control: the state moves, and a start's recording is recorded.
async fn confirm(
    conn: &mut PgConnection,
    session: &SessionRow,
    row: &mut repo::ControlRow,
    control: Control,
    sid: &str,
    message: &OutboxMessage,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let state = match control {
        Control::Start | Control::Resume => RecordingState::Recording,
        Control::Pause => RecordingState::Paused,
        Control::Stop => RecordingState::Stopped,
    };
    row.status = state.as_str().to_owned();
    if control == Control::Start {
        row.current_sid = Some(sid.to_owned());
        let party = message.payload["party"].as_str().unwrap_or("reader");
        repo::upsert(conn, session.tenant_id, session.id, sid, party, row.notice_played_at, now).await?;
    }
    if control == Control::Stop {
        row.current_sid = None;
    }
    Ok(())
}

/// Deletes recording `sid` at Twilio, once (its key names the recording).
pub async fn request_delete(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: Uuid,
    sid: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let message = NewMessage {
        kind: "twilio.recording_delete",
        destination: RECORDING_DESTINATION,
        payload: json!({"action": "delete", "recording_sid": sid}),
        idempotency_key: format!("recording:{id}:delete"),
        owner: None,
        priority: priority::NORMAL,
    };
    outbox::enqueue(conn, tenant, now, message).await.map(|_| ())
}

impl RecordingDestination {
    async fn delete(&self, message: &OutboxMessage) -> Delivery {
        let sid = message.payload["recording_sid"].as_str().and_then(|s| RecordingSid::parse(s).ok());
        let Some(sid) = sid else { return Delivery::Dead("no recording sid".into()) };
        match self.state.twilio.delete_recording(&sid).await {
            Ok(()) => Delivery::Delivered,
            // Already gone at Twilio: nothing left to delete.
            Err(TwilioError::Api { status: 404, .. }) => Delivery::Delivered,
            Err(e @ TwilioError::Api { status, .. }) if status < 500 => Delivery::Dead(e.to_string()),
            Err(TwilioError::NotConfigured) => Delivery::Park("twilio_not_configured".into()),
            Err(e) => Delivery::Retry(e.to_string()),
        }
    }
}

#[async_trait::async_trait]
impl Destination for RecordingDestination {
    async fn deliver(&self, message: &OutboxMessage) -> Delivery {
        if message.payload["action"].as_str() == Some("delete") {
            return self.delete(message).await;
        }
        let control = message.payload["action"].as_str().and_then(Control::parse);
        let call = message.payload["call_sid"].as_str().and_then(|s| CallSid::parse(s).ok());
        let (Some(control), Some(call)) = (control, call) else {
            return Delivery::Dead("not a recording request".into());
        };
        let answer = match self.send(control, &call, &message.payload).await {
            Ok(sid) => Ok(sid),
            Err(TwilioError::Api { status, code, .. }) if status < 500 => Err(code),
            Err(TwilioError::NotConfigured) => return Delivery::Park("twilio_not_configured".into()),
            // A start whose answer was lost may have opened a recording: its status callback binds
            // it; an operator decides rather than a blind second start.
            Err(e @ TwilioError::OutcomeUnknown { .. }) if control == Control::Start => {
                return Delivery::Park(e.to_string());
            }
            // Pause, resume and stop are idempotent at Twilio: repeating them is safe.
            Err(e) => return Delivery::Retry(e.to_string()),
        };
        match self.apply(message, control, answer).await {
            Ok(()) => Delivery::Delivered,
            Err(e) => Delivery::Retry(e.to_string()),
        }
    }
}
