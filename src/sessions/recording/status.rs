//! What Twilio tells the recording: the consent notice's TwiML fetch, its `announcement-end`
//! (which lets the first start go), and the recording status callbacks (the recording's rows).

use super::repo;
use super::{control, delivery};
use crate::audit::Actor;
use crate::effects::RecordingChange;
use crate::sessions::machine::SessionStatus;
use crate::sessions::model::SessionRow;
use crate::sessions::requests::parse_owner_id;
use crate::sessions::{repo as sessions, service};
use crate::twilio::{AnnouncementFetch, RecordingStatus, TwilioWebhook, Twiml};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// What both parties hear before a session's first recording starts.
pub const NOTICE: &str = "This call will be recorded from now on.";

/// `POST /webhooks/twilio/sessions/{id}/recording-notice`: the consent notice's TwiML. The
/// extractor has checked the signature; the text names nothing personal.
pub async fn notice(_signed: TwilioWebhook<AnnouncementFetch>) -> Response {
    Twiml::new().say(NOTICE).into_response()
}

/// The conference finished an announcement: if the consent notice was asked for and has not
/// played yet, it just did — record when, and let the start request go.
pub async fn on_announcement_end(
    conn: &mut PgConnection,
    session: &SessionRow,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut row = repo::lock(conn, session.tenant_id, session.id, now).await?;
    let waiting = row.requested.as_deref() == Some("recording")
        && row.notice_requested_at.is_some()
        && row.notice_played_at.is_none();
    if !waiting {
        return Ok(());
    }
    row.notice_played_at = Some(now);
    let actor = Actor::Twilio(session.conference_sid.clone().unwrap_or_default());
    // The announcement can end after the session did (a party hung up meanwhile): nothing to
    // record then, whatever leg is still up.
    let leg = match session.status {
        SessionStatus::InProgress => control::recorded_leg(conn, session).await?,
        _ => None,
    };
    match leg {
        Some((party, call)) => delivery::request_start(conn, session, row.seq, party, &call, now).await?,
        None => {
            // Nobody is left to record: the request fails visibly.
            row.requested = None;
            let reason = if session.status.is_terminal() { "session_ended" } else { "no_leg" };
            let data = serde_json::json!({"action": "start", "reason": reason});
            service::audit(conn, session, actor.clone(), "SESSION_RECORDING_FAILED", data, now).await?;
        }
    }
    repo::save(conn, session.id, &row, now).await?;
    service::audit(conn, session, actor, "SESSION_RECORDING_NOTICE_PLAYED", serde_json::json!({}), now).await
}

/// A recording status callback of one of the session's legs.
pub async fn on_recording_status(
    conn: &mut PgConnection,
    change: &RecordingChange,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let Some((id, party)) = parse_owner_id(&change.owner_id) else { return Ok(()) };
    let Some(session) = sessions::lock(conn, change.tenant, id).await? else { return Ok(()) };
    let mut row = repo::lock(conn, session.tenant_id, id, now).await?;
    let sid = change.sid.as_str();
    let new =
        repo::upsert(conn, session.tenant_id, id, sid, &party.to_string(), row.notice_played_at, now).await?;
    let done = match change.status {
        RecordingStatus::Completed => Some("completed"),
        RecordingStatus::Absent => Some("absent"),
        RecordingStatus::Failed => Some("failed"),
        _ => None,
    };
    let Some(done) = done else {
        // A start whose answer was lost (parked, not repeated): its recording, first heard of
        // here, is the one being recorded, and the controls work on it again.
        if new && row.current_sid.is_none() && row.requested.as_deref() == Some("recording") {
            row.current_sid = Some(sid.to_owned());
            row.status = "recording".into();
            row.requested = None;
            repo::save(conn, id, &row, now).await?;
        }
        return Ok(());
    };
    let url = change.url.as_deref();
    repo::finish(conn, sid, done, change.duration_secs, change.channels, url, now).await?;
    // The recording ended by itself (the call ended): nothing is being recorded any more.
    if row.current_sid.as_deref() == Some(sid) {
        row.current_sid = None;
        row.status = "stopped".into();
        row.requested = None;
        repo::save(conn, id, &row, now).await?;
    }
    Ok(())
}
