//! `/webhooks/twilio/{calls,messages,recordings}/events`: status callbacks of what we created.
//! Signature-checked and deduplicated by the Twilio edge; here the first callback carrying an
//! attempt token binds the SID (even when the create's answer was lost), the ledger advances with
//! precedence, and the owning domain hears of every change — all in one transaction. While the
//! database is away a callback is answered as usual and kept ([`super::deferred`]).

use super::attempts::AttemptState;
use super::deferred::{DeferredCallback, DeferredCallbacks};
use super::{CallChange, EffectOwner, EffectOwners, MessageChange, RecordingChange, attempts, ledger};
use crate::audit::{self, Actor, NewEvent};
use crate::error::ApiQuery;
use crate::ids::TenantId;
use crate::outbox;
use crate::state::AppState;
use crate::twilio::receipts;
use crate::twilio::{
    CallStatusCallback, MessageStatusCallback, RecordingStatusCallback, TwilioWebhook, Twiml, WebhookError,
    WebhookReply,
};
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use serde::Deserialize;
use sqlx::PgConnection;
use std::sync::Arc;

/// `?attempt=<token>`: the effects attempt a callback or TwiML fetch belongs to.
#[derive(Debug, Deserialize)]
pub struct AttemptQuery {
    /// The token.
    pub attempt: Option<String>,
}

/// The owner of `domain`. One this binary does not know (a newer replica's, mid-deploy) is said
/// loudly: the ledger keeps the change, but the domain does not hear of it here.
fn owner_of<'a>(owners: &'a EffectOwners, domain: &str) -> Option<&'a Arc<dyn EffectOwner>> {
    let owner = owners.get(domain);
    if owner.is_none() {
        tracing::warn!(
            owner.domain = domain,
            "status change of an effect whose owning domain is unknown here"
        );
    }
    owner
}

fn empty() -> Result<WebhookReply, WebhookError> {
    Ok(WebhookReply::from(Twiml::new()))
}

/// Who owns a callback's call or message.
struct Owned {
    tenant: TenantId,
    domain: Option<String>,
    id: Option<String>,
    token: Option<String>,
}

/// Binds the SID to the attempt named by the token when it is the attempt's first callback.
async fn owned_by_attempt(
    state: &AppState,
    conn: &mut PgConnection,
    token: &str,
    kind: &str,
    sid: &str,
    parent: Option<&str>,
) -> Result<Option<Owned>, sqlx::Error> {
    let Some(attempt) = attempts::lock(conn, token).await? else { return Ok(None) };
    if attempt.kind != kind {
        return Ok(None);
    }
    let owned = |token| Owned {
        tenant: attempt.tenant(),
        domain: Some(attempt.owner_domain.clone()),
        id: Some(attempt.owner_id.clone()),
        token,
    };
    match attempt.sid.as_deref() {
        None if parent.is_none() => {
            attempts::bind(conn, token, sid, state.clock.now()).await?;
            if matches!(attempt.state, AttemptState::Sending | AttemptState::Unknown | AttemptState::Parked) {
                let event = NewEvent {
                    actor: Actor::Twilio(sid.to_owned()),
                    action: "TWILIO_BOUND_BY_CALLBACK",
                    entity_type: "twilio_attempt",
                    entity_id: attempt.token.clone(),
                    request_id: None,
                    data: serde_json::json!({"sid": sid, "was": attempt.state}),
                };
                audit::record(conn, attempt.tenant(), state.clock.now(), event).await?;
            }
            Ok(Some(owned(Some(token.to_owned()))))
        }
        Some(bound) if bound == sid => Ok(Some(owned(Some(token.to_owned())))),
        Some(bound) if parent == Some(bound) => Ok(Some(owned(None))),
        _ => {
            tracing::warn!(call.sid = sid, "callback token belongs to another call or message; ignored");
            Ok(None)
        }
    }
}

/// `POST /webhooks/twilio/calls/events` (and `/api/calls/webhook/twilio`).
pub async fn call_events(
    State(state): State<AppState>,
    Extension(owners): Extension<Arc<EffectOwners>>,
    Extension(deferred): Extension<Arc<DeferredCallbacks>>,
    ApiQuery(q): ApiQuery<AttemptQuery>,
    hook: TwilioWebhook<CallStatusCallback>,
) -> Response {
    let kept = DeferredCallback::Call { token: q.attempt.clone(), hook: hook.deferred() };
    let s = state.clone();
    let result =
        hook.try_once(&state.db, move |conn, cb| apply_call(s, owners, q.attempt, conn, cb).boxed()).await;
    answer(&state, &deferred, result, kept).await
}

/// The answer to a status callback: what its effect gave, or — the database being away — the
/// usual empty answer, the callback kept to be applied when it is back.
async fn answer(
    state: &AppState,
    deferred: &Arc<DeferredCallbacks>,
    result: Result<WebhookReply, WebhookError>,
    kept: DeferredCallback,
) -> Response {
    match result {
        Ok(reply) => {
            outbox::wake(state);
            reply.into_response()
        }
        Err(e) if e.is_unavailable() => {
            tracing::warn!("a status callback waits for the database");
            deferred.push(kept).await;
            Twiml::new().into_response()
        }
        Err(e) => receipts::failure_response(&e, false),
    }
}

/// The effect of one call status callback: bind, ledger, owner — one transaction.
pub(super) async fn apply_call(
    state: AppState,
    owners: Arc<EffectOwners>,
    token: Option<String>,
    conn: &mut PgConnection,
    cb: CallStatusCallback,
) -> Result<WebhookReply, WebhookError> {
    let (state, owners) = (&state, &*owners);
    let sid = cb.call.call_sid.as_str();
    let parent = cb.call.parent_call_sid.as_ref().map(|p| p.as_str());
    let mut owned = match &token {
        Some(token) => owned_by_attempt(state, conn, token, "call", sid, parent).await?,
        None => None,
    };
    if owned.is_none() {
        let known = match ledger::call_owner(conn, sid).await? {
            Some(found) => Some(found),
            None => match parent {
                Some(parent) => ledger::call_owner(conn, parent).await?,
                None => None,
            },
        };
        owned = known.map(|(tenant, domain, id)| Owned { tenant: TenantId(tenant), domain, id, token: None });
    }
    let Some(owned) = owned else {
        tracing::info!(call.sid = sid, "status callback for a call we do not track");
        return empty();
    };
    let answered_by = cb.answered_by.clone();
    let duration = cb.call_duration.and_then(|d| i32::try_from(d).ok());
    let (from, to) = (cb.call.from.to_string(), cb.call.to.to_string());
    let row = ledger::CallRow {
        sid,
        tenant: owned.tenant,
        parent_sid: parent,
        direction: Some(cb.call.direction.as_str()),
        from: Some(&from),
        to: Some(&to),
        status: &cb.call.call_status,
        sequence_number: cb.sequence_number.and_then(|n| i32::try_from(n).ok()),
        answered_by: answered_by.as_ref().map(|a| a.as_str()),
        duration_secs: duration,
        owner: owned.domain.as_deref().zip(owned.id.as_deref()),
        attempt_token: owned.token.as_deref(),
    };
    let Some((domain, owner_id)) = ledger::upsert_call(conn, &row, state.clock.now()).await? else {
        return empty();
    };
    if let (Some(domain), Some(owner_id)) = (domain, owner_id)
        && let Some(owner) = owner_of(owners, &domain)
    {
        let change = CallChange {
            tenant: owned.tenant,
            sid: sid.to_owned(),
            parent_sid: parent.map(str::to_owned),
            owner_id,
            status: cb.call.call_status.clone(),
            answered_by,
            duration_secs: duration,
            attempt_token: owned.token,
        };
        owner.on_call_status(conn, &change).await?;
    }
    empty()
}

/// `POST /webhooks/twilio/messages/events`.
pub async fn message_events(
    State(state): State<AppState>,
    Extension(owners): Extension<Arc<EffectOwners>>,
    Extension(deferred): Extension<Arc<DeferredCallbacks>>,
    ApiQuery(q): ApiQuery<AttemptQuery>,
    hook: TwilioWebhook<MessageStatusCallback>,
) -> Response {
    let kept = DeferredCallback::Message { token: q.attempt.clone(), hook: hook.deferred() };
    let s = state.clone();
    let to = hook.params.get("To").map(str::to_owned);
    let result = hook
        .try_once(&state.db, move |conn, cb| apply_message(s, owners, q.attempt, to, conn, cb).boxed())
        .await;
    answer(&state, &deferred, result, kept).await
}

/// The effect of one message status callback: bind, ledger, owner — one transaction.
pub(super) async fn apply_message(
    state: AppState,
    owners: Arc<EffectOwners>,
    token: Option<String>,
    to: Option<String>,
    conn: &mut PgConnection,
    cb: MessageStatusCallback,
) -> Result<WebhookReply, WebhookError> {
    let (state, owners) = (&state, &*owners);
    let sid = cb.message_sid.as_str();
    let mut owned = match &token {
        Some(token) => owned_by_attempt(state, conn, token, "message", sid, None).await?,
        None => None,
    };
    if owned.is_none() {
        owned = ledger::message_owner(conn, sid).await?.map(|(tenant, domain, id)| Owned {
            tenant: TenantId(tenant),
            domain,
            id,
            token: None,
        });
    }
    let Some(owned) = owned else {
        tracing::info!(message.sid = sid, "status callback for a message we do not track");
        return empty();
    };
    let error_code = cb.error_code.map(i64::from);
    let owner = owned.domain.as_deref().zip(owned.id.as_deref());
    let changed = ledger::upsert_message(
        conn,
        sid,
        owned.tenant,
        &cb.message_status,
        error_code,
        owner,
        owned.token.as_deref(),
        state.clock.now(),
    )
    .await?;
    let Some((Some(domain), Some(owner_id))) = changed else { return empty() };
    if let Some(owner) = owner_of(owners, &domain) {
        let change = MessageChange {
            tenant: owned.tenant,
            sid: Some(sid.to_owned()),
            owner_id,
            status: cb.message_status.clone(),
            error_code,
            to,
        };
        owner.on_message_status(conn, &change).await?;
    }
    empty()
}

/// `POST /webhooks/twilio/recordings/events`.
pub async fn recording_events(
    State(state): State<AppState>,
    Extension(owners): Extension<Arc<EffectOwners>>,
    Extension(deferred): Extension<Arc<DeferredCallbacks>>,
    hook: TwilioWebhook<RecordingStatusCallback>,
) -> Response {
    let kept = DeferredCallback::Recording { hook: hook.deferred() };
    let s = state.clone();
    let result = hook.try_once(&state.db, move |conn, cb| apply_recording(s, owners, conn, cb).boxed()).await;
    answer(&state, &deferred, result, kept).await
}

/// The effect of one recording status callback: ledger, owner — one transaction.
pub(super) async fn apply_recording(
    state: AppState,
    owners: Arc<EffectOwners>,
    conn: &mut PgConnection,
    cb: RecordingStatusCallback,
) -> Result<WebhookReply, WebhookError> {
    let (state, owners) = (&state, &*owners);
    let call_sid = cb.call_sid.as_ref().map(|c| c.as_str());
    let Some((tenant, domain, owner_id)) = (match call_sid {
        Some(call) => ledger::call_owner(conn, call).await?,
        None => None,
    }) else {
        tracing::info!(
            recording.sid = cb.recording_sid.as_str(),
            "recording callback for a call we do not track"
        );
        return empty();
    };
    let tenant = TenantId(tenant);
    let duration = cb.recording_duration.and_then(|d| i32::try_from(d).ok());
    let status = cb.recording_status.as_str();
    if !ledger::upsert_recording(
        conn,
        cb.recording_sid.as_str(),
        tenant,
        call_sid,
        status,
        duration,
        state.clock.now(),
    )
    .await?
    {
        return empty();
    }
    if let (Some(domain), Some(owner_id)) = (domain, owner_id)
        && let Some(owner) = owner_of(owners, &domain)
    {
        let change = RecordingChange {
            tenant,
            sid: cb.recording_sid.to_string(),
            call_sid: call_sid.map(str::to_owned),
            owner_id,
            status: cb.recording_status.clone(),
            duration_secs: duration,
            channels: cb.recording_channels.and_then(|c| i32::try_from(c).ok()),
            url: cb.recording_url.clone(),
        };
        owner.on_recording_status(conn, &change).await?;
    }
    empty()
}
