//! The session's Twilio requests, all through the effects machinery: the legs are effect calls
//! (exactly once per party, bound by their attempt token, reconciled when an answer is lost), and
//! hang-ups and conference updates are outbox messages whose keys make each one unique per
//! session. The conference is always addressed by its SID (`CF…`), never its friendly name.

use super::machine::{LegStatus, Party};
use super::model::SessionRow;
use super::repo;
use super::service::DOMAIN;
use crate::effects::{self, CallRequest, Owner, priority};
use crate::outbox::{self, Delivery, Destination, NewMessage, OutboxMessage};
use crate::state::AppState;
use crate::twilio::rest::UpdateConference;
use crate::twilio::{ConferenceSid, TwilioError};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// The outbox destination of conference updates.
pub const CONFERENCE_DESTINATION: &str = "twilio_conference";

/// The owner id of a leg's effects: `{session id}:{party}`.
pub fn leg_owner_id(session: uuid::Uuid, party: Party) -> String {
    format!("{session}:{party}")
}

/// Parses [`leg_owner_id`].
pub fn parse_owner_id(owner_id: &str) -> Option<(uuid::Uuid, Party)> {
    let (id, party) = owner_id.split_once(':')?;
    Some((uuid::Uuid::parse_str(id).ok()?, Party::parse(party)?))
}

/// Requests the party's leg (once per session and party) and records it.
pub async fn dial(
    conn: &mut PgConnection,
    session: &SessionRow,
    party: Party,
    from: &str,
    timeout_secs: i32,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let call = CallRequest {
        to: session.address(party).to_owned(),
        from: from.to_owned(),
        path: format!("/webhooks/twilio/sessions/{}/voice", session.id),
        events: vec!["initiated".into(), "ringing".into(), "answered".into(), "completed".into()],
        timeout_secs: u32::try_from(timeout_secs).ok(),
        machine_detection: None,
        record: false,
        prepaid: false,
    };
    let owner = Owner {
        domain: DOMAIN,
        id: leg_owner_id(session.id, party),
        idempotency_key: format!("session:{}:leg:{party}", session.id),
        priority: priority::URGENT,
    };
    let Some(token) = effects::request_call(conn, session.tenant(), now, owner, &call).await? else {
        return Ok(());
    };
    repo::insert_leg(conn, session, party, &token, now).await
}

/// Ends the call: the conference by its SID once it exists; before that, the legs.
pub async fn end_call(
    conn: &mut PgConnection,
    session: &SessionRow,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    match session.conference_sid.as_deref() {
        Some(sid) => end_conference(conn, session, sid, now).await,
        None => hang_up_legs(conn, session, now).await,
    }
}

/// `Conferences/{CF…}.json Status=completed`, once per session.
pub async fn end_conference(
    conn: &mut PgConnection,
    session: &SessionRow,
    sid: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let payload = serde_json::json!({"conference_sid": sid, "status": "completed"});
    update_conference(conn, session, payload, format!("session:{}:end", session.id), now).await
}

/// The one-minute warning: the conference fetches our announcement's TwiML, once per session.
pub async fn announce_time_warning(
    conn: &mut PgConnection,
    session: &SessionRow,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let Some(sid) = session.conference_sid.as_deref() else { return Ok(()) };
    let path = format!("/webhooks/twilio/sessions/{}/announce", session.id);
    let payload = serde_json::json!({"conference_sid": sid, "announce_path": path});
    update_conference(conn, session, payload, format!("session:{}:warn", session.id), now).await
}

async fn update_conference(
    conn: &mut PgConnection,
    session: &SessionRow,
    payload: serde_json::Value,
    key: String,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let message = NewMessage {
        kind: "twilio.conference_update",
        destination: CONFERENCE_DESTINATION,
        payload,
        idempotency_key: key,
        owner: None,
        priority: priority::URGENT,
    };
    outbox::enqueue(conn, session.tenant(), now, message).await.map(|_| ())
}

/// Hangs up every leg that has a CallSid and has not ended (once per leg). A leg still being
/// created is dropped at delivery (the session no longer wants it) or hung up when its SID binds.
pub async fn hang_up_legs(
    conn: &mut PgConnection,
    session: &SessionRow,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for leg in repo::legs(conn, session.id).await? {
        if let Some(sid) = leg.call_sid.as_deref() {
            hang_up(conn, session, sid, &leg.status, now).await?;
        }
    }
    Ok(())
}

/// Hangs up one leg unless it ended (once per leg).
pub async fn hang_up(
    conn: &mut PgConnection,
    session: &SessionRow,
    sid: &str,
    status: &LegStatus,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if status.has_ended() {
        return Ok(());
    }
    let key = format!("session:{}:hangup:{sid}", session.id);
    effects::request_hangup(conn, session.tenant(), now, sid, key).await.map(|_| ())
}

/// Delivers conference updates (`POST Conferences/{CF…}.json`).
pub struct ConferenceDestination {
    state: AppState,
}

impl ConferenceDestination {
    /// The destination for the application.
    pub fn new(state: &AppState) -> Self {
        ConferenceDestination { state: state.clone() }
    }

    fn update(&self, payload: &serde_json::Value) -> Option<UpdateConference> {
        if let Some(path) = payload["announce_path"].as_str() {
            let base = self.state.config.server.public_base_url.as_ref()?;
            let url = format!("{}{path}", base.as_str().trim_end_matches('/'));
            return Some(UpdateConference::announce(url));
        }
        (payload["status"].as_str() == Some("completed")).then(UpdateConference::end)
    }
}

#[async_trait::async_trait]
impl Destination for ConferenceDestination {
    async fn deliver(&self, message: &OutboxMessage) -> Delivery {
        let Some(sid) = message.payload["conference_sid"].as_str().and_then(|s| ConferenceSid::parse(s).ok())
        else {
            return Delivery::Dead("no conference sid".into());
        };
        let Some(update) = self.update(&message.payload) else {
            return Delivery::Park("public_base_url_not_configured".into());
        };
        let ending = update.status.is_some();
        match self.state.twilio.update_conference(&sid, &update).await {
            Ok(_) => Delivery::Delivered,
            // The conference already ended: nothing left to end.
            Err(TwilioError::Api { status, .. }) if status < 500 && ending => Delivery::Delivered,
            Err(e @ TwilioError::Api { status, .. }) if status < 500 => Delivery::Dead(e.to_string()),
            Err(TwilioError::NotConfigured) => Delivery::Park("twilio_not_configured".into()),
            // Ending twice is harmless; a repeated warning is the worst a retry can do.
            Err(e) => Delivery::Retry(e.to_string()),
        }
    }
}
