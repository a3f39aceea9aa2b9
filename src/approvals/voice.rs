//! The duty officer's call: `…/crises/{id}/voice` reads the crisis and gathers a digit;
//! `…/crises/{id}/gather` takes the decision. The attempt token in the URL must belong to this
//! crisis and to no other call, so a call of crisis A can never decide crisis B.

use super::model::{ApprovalCall, Crisis};
use super::repo;
use super::service::{self, Decision, Outcome, Verdict};
use crate::audit::Actor;
use crate::effects::{self, AttemptQuery};
use crate::error::ApiQuery;
use crate::state::AppState;
use crate::twilio::WebhookError;
use crate::twilio::twiml::{Gather, Say, Verb};
use crate::twilio::{GatherResult, TwilioWebhook, Twiml, VoiceRequest, WebhookReply};
use axum::extract::{Path, State};
use axum::response::Response;
use futures::FutureExt;
use sqlx::PgConnection;
use uuid::Uuid;

const NO_CRISIS: &str = "No valid crisis is associated with this call.";

fn hang_up_with(text: &str) -> Twiml {
    Twiml::new().say(text).hangup()
}

/// The crisis and officer call, if the token belongs to this crisis and not to another call.
async fn verified(
    conn: &mut PgConnection,
    id: &str,
    token: Option<&str>,
    call_sid: &str,
) -> Result<Option<(Crisis, ApprovalCall)>, sqlx::Error> {
    let (Ok(id), Some(token)) = (Uuid::parse_str(id), token) else { return Ok(None) };
    let Some(call) = repo::find_call(conn, token).await? else { return Ok(None) };
    if call.crisis_id != id || call.call_sid.as_deref().is_some_and(|sid| sid != call_sid) {
        return Ok(None);
    }
    Ok(repo::find_any(conn, id).await?.map(|crisis| (crisis, call)))
}

fn prompt(state: &AppState, crisis: &Crisis, token: &str) -> Twiml {
    let text = format!(
        "Crisis alert: {}, risk {:.1}, at {}. Press 6 to approve dispatch. Press 9 to reject.",
        crisis.kind,
        crisis.risk_score,
        if crisis.location.is_empty() { "an unknown location" } else { &crisis.location }
    );
    let action = state.public_url(&format!("/webhooks/twilio/crises/{}/gather?attempt={token}", crisis.id));
    let gather = || Gather {
        action: Some(action.clone()),
        num_digits: Some(1),
        timeout: Some(10),
        prompts: vec![Verb::Say(Say::new(text.clone()))],
        ..Gather::default()
    };
    // Asked at most twice without input, then the call ends.
    Twiml::new().verb(gather()).verb(gather()).say("No input received. Goodbye.").hangup()
}

/// `POST /webhooks/twilio/crises/{id}/voice?attempt=…`.
pub async fn voice(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AttemptQuery>,
    hook: TwilioWebhook<VoiceRequest>,
) -> Response {
    let s = state.clone();
    hook.once(&state.db, move |conn, call| answer_officer(s, id, q.attempt, conn, call).boxed()).await
}

/// The officer's call asks for its TwiML: bind the call, then prompt (or say why not).
async fn answer_officer(
    state: AppState,
    id: String,
    attempt: Option<String>,
    conn: &mut PgConnection,
    call: VoiceRequest,
) -> Result<WebhookReply, WebhookError> {
    let sid = call.call_sid.as_str();
    let Some((crisis, approval)) = verified(conn, &id, attempt.as_deref(), sid).await? else {
        tracing::warn!(call.sid = sid, "voice fetch for a crisis this call does not belong to");
        return Ok(WebhookReply::from(hang_up_with(NO_CRISIS)));
    };
    bind(&state, conn, &approval, sid).await?;
    let twiml = if crisis.is_pending() && !crisis.is_overdue(state.clock.now()) {
        prompt(&state, &crisis, &approval.attempt_token)
    } else if crisis.is_pending() {
        hang_up_with("This crisis decision has expired.")
    } else {
        hang_up_with(&format!("This crisis has already been {}.", crisis.spoken_status()))
    };
    Ok(WebhookReply::from(twiml))
}

/// The voice fetch can arrive before the create's answer: it proves the call exists, so it binds
/// the SID to the officer call and to the effects attempt.
async fn bind(
    state: &AppState,
    conn: &mut PgConnection,
    approval: &ApprovalCall,
    sid: &str,
) -> Result<(), sqlx::Error> {
    let now = state.clock.now();
    repo::bind_call(conn, &approval.attempt_token, sid, now).await?;
    effects::attempts::bind(conn, &approval.attempt_token, sid, now).await?;
    Ok(())
}

/// `POST /webhooks/twilio/crises/{id}/gather?attempt=…`.
pub async fn gather(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AttemptQuery>,
    hook: TwilioWebhook<GatherResult>,
) -> Response {
    let s = state.clone();
    let response =
        hook.once(&state.db, move |conn, result| take_keypress(s, id, q.attempt, conn, result).boxed()).await;
    crate::outbox::wake(&state);
    response
}

/// The officer pressed a key: 6 approves, 9 rejects, anything else asks again.
async fn take_keypress(
    state: AppState,
    id: String,
    attempt: Option<String>,
    conn: &mut PgConnection,
    result: GatherResult,
) -> Result<WebhookReply, WebhookError> {
    let sid = result.call.call_sid.as_str();
    let Some((crisis, approval)) = verified(conn, &id, attempt.as_deref(), sid).await? else {
        tracing::warn!(call.sid = sid, "keypad input for a crisis this call does not belong to");
        return Ok(WebhookReply::from(hang_up_with(NO_CRISIS)));
    };
    bind(&state, conn, &approval, sid).await?;
    let digit = result.digits.unwrap_or_default();
    let verdict = match digit.as_str() {
        "6" => Verdict::Approve,
        "9" => Verdict::Reject,
        _ => {
            let again = Twiml::new().say("That is not a valid choice.");
            let prompt = prompt(&state, &crisis, &approval.attempt_token);
            return Ok(WebhookReply::from(merge(again, prompt)));
        }
    };
    let details = service::phone_details(&crisis, sid, &approval.officer_number, &digit);
    let now = state.clock.now();
    let decision = Decision { verdict, actor: Actor::Twilio(sid.to_owned()), details, reason: None };
    let outcome = service::decide(conn, crisis.tenant(), crisis.id, decision, now).await?;
    Ok(WebhookReply::from(spoken(outcome)))
}

fn merge(first: Twiml, then: Twiml) -> Twiml {
    then.verbs().iter().cloned().fold(first, Twiml::verb)
}

fn spoken(outcome: Option<Outcome>) -> Twiml {
    match outcome {
        None => hang_up_with(NO_CRISIS),
        Some(Outcome::Decided(c)) if c.status == super::machine::CrisisStatus::Rejected => {
            hang_up_with("Dispatch rejected. Goodbye.")
        }
        Some(Outcome::Decided(_)) => hang_up_with("Dispatch approved. Goodbye."),
        Some(Outcome::Expired(_)) => hang_up_with("This crisis decision has expired."),
        Some(Outcome::AlreadyDecided(c)) => {
            hang_up_with(&format!("This crisis has already been {}.", c.spoken_status()))
        }
    }
}
