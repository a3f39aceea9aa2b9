//! The session's Twilio webhooks: a leg's TwiML (`…/sessions/{id}/voice`, joins the conference),
//! the time-limit announcement (`…/sessions/{id}/announce`) and the conference's events
//! (`/webhooks/twilio/conferences/events`). All signature-checked and deduplicated by the edge.

use super::deferred::DeferredEvents;
use super::model::room_name;
use super::{events, repo};
use crate::effects::{self, AttemptQuery};
use crate::error::ApiQuery;
use crate::state::AppState;
use crate::twilio::twiml::{Conference, Dial, DialTarget};
use crate::twilio::{
    AnnouncementFetch, ConferenceEvent, TwilioWebhook, Twiml, VoiceRequest, WebhookError, WebhookReply,
};
use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use sqlx::PgConnection;
use std::sync::Arc;
use uuid::Uuid;

/// The conference events Switchboard asks for.
const CONFERENCE_EVENTS: [&str; 5] = ["start", "end", "join", "leave", "announcement"];

fn goodbye(text: &str) -> WebhookReply {
    WebhookReply::from(Twiml::new().say(text).hangup())
}

/// `POST /webhooks/twilio/sessions/{id}/voice?attempt=…`: a leg answered.
pub async fn voice(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AttemptQuery>,
    hook: TwilioWebhook<VoiceRequest>,
) -> Response {
    let s = state.clone();
    hook.once(&state.db, move |conn, call| join(s, id, q.attempt, conn, call).boxed()).await
}

/// The leg's TwiML: bind its SID (the fetch proves the call exists, even when the create's answer
/// was lost), then `<Dial><Conference>` into the session's room — or hang up if it ended.
async fn join(
    state: AppState,
    id: String,
    attempt: Option<String>,
    conn: &mut PgConnection,
    call: VoiceRequest,
) -> Result<WebhookReply, WebhookError> {
    let sid = call.call_sid.as_str();
    let leg = match (Uuid::parse_str(&id), attempt.as_deref()) {
        (Ok(id), Some(token)) => repo::leg_by_token(conn, token).await?.filter(|l| l.session_id == id),
        _ => None,
    };
    let Some(leg) = leg.filter(|l| l.call_sid.as_deref().is_none_or(|bound| bound == sid)) else {
        tracing::warn!(call.sid = sid, "voice fetch for a session this call does not belong to");
        return Ok(goodbye("This call is not associated with a session."));
    };
    let now = state.clock.now();
    repo::bind_leg(conn, &leg.attempt_token, sid, now).await?;
    effects::attempts::bind(conn, &leg.attempt_token, sid, now).await?;
    let Some(session) = repo::lock_any(conn, leg.session_id).await? else {
        return Ok(goodbye("This call is not associated with a session."));
    };
    if session.status.is_terminal() {
        return Ok(goodbye("This call has ended. Goodbye."));
    }
    let conference = Conference {
        name: room_name(session.id),
        start_conference_on_enter: Some(true),
        end_conference_on_exit: Some(true),
        status_callback: Some(state.public_url("/webhooks/twilio/conferences/events")),
        status_callback_event: CONFERENCE_EVENTS.iter().map(|e| (*e).to_owned()).collect(),
        ..Conference::default()
    };
    let dial = Dial { targets: vec![DialTarget::Conference(conference)], ..Dial::default() };
    Ok(WebhookReply::from(Twiml::new().verb(dial)))
}

/// `POST /webhooks/twilio/sessions/{id}/announce`: what the conference hears a minute before the
/// time limit. The extractor has checked the signature; the text names nothing personal, so no
/// lookup is needed.
pub async fn announce(_signed: TwilioWebhook<AnnouncementFetch>) -> Response {
    Twiml::new().say("One minute remaining. This call will end in one minute.").into_response()
}

/// `POST /webhooks/twilio/conferences/events`. The answer never depends on the database: while it
/// is away the event is kept in [`DeferredEvents`] and applied when it is back.
pub async fn conference_events(
    State(state): State<AppState>,
    Extension(deferred): Extension<Arc<DeferredEvents>>,
    hook: TwilioWebhook<ConferenceEvent>,
) -> Response {
    let kept = hook.deferred();
    let s = state.clone();
    let result =
        hook.try_once(&state.db, move |conn, event| apply_conference_event(s, conn, event).boxed()).await;
    match result {
        Ok(reply) => {
            crate::outbox::wake(&state);
            reply.into_response()
        }
        Err(e) if e.is_unavailable() => {
            tracing::warn!("a conference event waits for the database");
            deferred.push(kept).await;
            Twiml::new().into_response()
        }
        Err(e) => crate::twilio::receipts::failure_response(&e, false),
    }
}

/// One conference event, once: the session moves (or the event is recorded as seen).
pub(super) async fn apply_conference_event(
    state: AppState,
    conn: &mut PgConnection,
    event: ConferenceEvent,
) -> Result<WebhookReply, WebhookError> {
    events::on_conference(conn, &event, state.clock.now()).await?;
    Ok(WebhookReply::from(Twiml::new()))
}
