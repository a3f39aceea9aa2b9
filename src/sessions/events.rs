//! What Twilio tells a session: its conference's events (the SID bound, joins, leaves, the end)
//! and its legs' call statuses. Each applies under the session's row lock in the webhook's
//! transaction; a repeated or late event finds no transition and changes nothing.

use super::machine::{LegStatus, Party, SessionStatus};
use super::model::SessionRow;
use super::{repo, requests, service};
use crate::audit::Actor;
use crate::effects::CallChange;
use crate::twilio::ConferenceEvent;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// The session a conference's friendly name (`call-{id}`) names.
fn session_of(name: &str) -> Option<Uuid> {
    name.strip_prefix("call-").and_then(|id| Uuid::parse_str(id).ok())
}

/// Applies one conference event.
pub async fn on_conference(
    conn: &mut PgConnection,
    event: &ConferenceEvent,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let cf = event.conference_sid.as_str();
    let Some(id) = session_of(&event.friendly_name) else {
        tracing::warn!(conference.sid = cf, "conference event for a room that is not a session's; ignored");
        return Ok(());
    };
    let Some(mut session) = repo::lock_any(conn, id).await? else {
        tracing::warn!(conference.sid = cf, "conference event for an unknown session; ignored");
        return Ok(());
    };
    match session.conference_sid.as_deref() {
        None => {
            repo::bind_conference(conn, id, cf, now).await?;
            session.conference_sid = Some(cf.to_owned());
        }
        Some(bound) if bound != cf => {
            tracing::warn!(
                conference.sid = cf,
                "event of a second conference with a session's name; ignored"
            );
            return Ok(());
        }
        Some(_) => {}
    }
    let actor = Actor::Twilio(cf.to_owned());
    match event.event.as_str() {
        "participant-join" => {
            let party = party_of(conn, &session, event).await?;
            joined(conn, &session, party, now).await?;
        }
        "participant-leave" => {
            let party = party_of(conn, &session, event).await?;
            left(conn, &session, party, actor, now).await?;
        }
        "conference-end" => ended(conn, &session, actor, now).await?,
        "announcement-end" => super::recording::on_announcement_end(conn, &session, now).await?,
        "conference-start" => {}
        other => tracing::debug!(conference.sid = cf, event = other, "conference event not used"),
    }
    // A conference that (re)appears after the session was ended on purpose — a leg answered as it
    // was dropped or declared unanswered — is ended at once, by the same key as the drop's: one
    // request at most. A completed session's conference ended by itself.
    let ended_on_purpose = session.status.is_terminal() && session.status != SessionStatus::Completed;
    if ended_on_purpose && matches!(event.event.as_str(), "conference-start" | "participant-join") {
        requests::end_conference(conn, &session, cf, now).await?;
    }
    Ok(())
}

/// The party whose call the participant event names.
async fn party_of(
    conn: &mut PgConnection,
    session: &SessionRow,
    event: &ConferenceEvent,
) -> Result<Option<Party>, sqlx::Error> {
    let Some(call) = event.call_sid.as_ref() else { return Ok(None) };
    let legs = repo::legs(conn, session.id).await?;
    let party = legs.iter().find(|l| l.call_sid.as_deref() == Some(call.as_str())).map(|l| l.party);
    if party.is_none() {
        tracing::warn!(
            call.sid = call.as_str(),
            "participant event for a call that is not one of the session's legs"
        );
    }
    Ok(party)
}

async fn joined(
    conn: &mut PgConnection,
    session: &SessionRow,
    party: Option<Party>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let Some(party) = party else { return Ok(()) };
    repo::mark_presence(conn, session.id, party, true, now).await?;
    let legs = repo::legs(conn, session.id).await?;
    let both = Party::BOTH.iter().all(|p| legs.iter().any(|l| l.party == *p && l.joined_at.is_some()));
    if both && !session.status.is_terminal() {
        service::connect(conn, session, now).await?;
    }
    Ok(())
}

async fn left(
    conn: &mut PgConnection,
    session: &SessionRow,
    party: Option<Party>,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let Some(party) = party else { return Ok(()) };
    if !repo::mark_presence(conn, session.id, party, false, now).await? {
        return Ok(());
    }
    match session.status {
        SessionStatus::InProgress => {
            service::complete(conn, session, actor, party.left_reason(), now).await?;
        }
        SessionStatus::Initiating | SessionStatus::Ringing => {
            service::fail(conn, session, actor, party.left_reason(), now).await?;
        }
        _ => {}
    }
    Ok(())
}

async fn ended(
    conn: &mut PgConnection,
    session: &SessionRow,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    match session.status {
        SessionStatus::InProgress => {
            service::complete(conn, session, actor, "conference_ended", now).await?;
        }
        SessionStatus::Initiating | SessionStatus::Ringing => {
            service::fail(conn, session, actor, "conference_ended", now).await?;
        }
        _ => repo::close_presence(conn, session.id, now).await?,
    }
    Ok(())
}

/// A leg's call status changed (the ledger already dropped regressions).
pub async fn on_leg_status(
    conn: &mut PgConnection,
    change: &CallChange,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let Some(token) = change.attempt_token.as_deref() else { return Ok(()) };
    let Some(leg) = repo::leg_by_token(conn, token).await? else { return Ok(()) };
    repo::bind_leg(conn, token, &change.sid, now).await?;
    let Some(status) = leg.status.after(&change.status) else { return Ok(()) };
    repo::set_leg_status(conn, token, &status, now).await?;
    let Some(session) = repo::lock(conn, change.tenant, leg.session_id).await? else { return Ok(()) };
    let actor = Actor::Twilio(change.sid.clone());
    match session.status {
        // Ended while this leg was being created: hang it up now that it has a SID (same key as
        // the drop's hang-ups, so once). Ending the conference took down the legs in it, not
        // one still ringing that never joined.
        s if s.is_terminal()
            && s.was_started()
            && (session.conference_sid.is_none() || leg.joined_at.is_none()) =>
        {
            requests::hang_up(conn, &session, &change.sid, &status, now).await?;
        }
        SessionStatus::Initiating if status == LegStatus::Call(crate::twilio::CallStatus::Ringing) => {
            let changes = repo::Changes::default();
            repo::transition(
                conn,
                &session,
                super::machine::SessionEvent::Ring,
                &changes,
                session.deadline_at,
                now,
            )
            .await?;
        }
        SessionStatus::Initiating | SessionStatus::Ringing if status.unanswered() => {
            let reason = format!("{}_no_answer", leg.party);
            service::no_answer(conn, &session, actor, &reason, now).await?;
        }
        _ => {}
    }
    Ok(())
}
