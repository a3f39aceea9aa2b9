//! The dial result (`/webhooks/twilio/call/status/{CallSid}`): the owner answered, or the call
//! was missed. It stands on its own: it carries `From`, `To` and `CallSid`, so a call whose
//! ringing record is not there (it waits in another replica's buffer, or was lost with it) is
//! routed by the number called and recorded from the dial result. With the database away, a
//! cached number's caller hears the usual answer and the effect waits in [`PendingEffects`].

use super::calls::{self, InboundCall, NewCall};
use super::outcome::CallOutcome;
use super::pending::{self, PendingEffect, PendingEffects};
use super::voice::{NOT_IN_SERVICE, say_and_hang_up, voicemail};
use super::{notify, textback, voice};
use crate::ids::TenantId;
use crate::state::AppState;
use crate::tenants::{self, NumberDirectory, Route, Tenant};
use crate::twilio::params::WebhookPayload;
use crate::twilio::receipts::{self, failure_response};
use crate::twilio::{DialCallStatus, DialResult, TwilioWebhook, Twiml, WebhookError, WebhookReply};
use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use sqlx::PgConnection;
use std::sync::Arc;

/// `POST /webhooks/twilio/call/status/{CallSid}`.
pub async fn dial_status(
    State(state): State<AppState>,
    Extension(directory): Extension<Arc<NumberDirectory>>,
    Extension(pending): Extension<Arc<PendingEffects>>,
    Path(sid): Path<String>,
    hook: TwilioWebhook<DialResult>,
) -> Response {
    let key = hook.receipt_key();
    let result = hook.payload;
    let response = match settle(&state, &directory, key.clone(), sid.clone(), result.clone()).await {
        Ok(reply) => reply.into_response(),
        Err(e) if pending::is_unavailable(&e) => {
            tracing::warn!(call.sid = %sid, "the dial result waits for the database");
            let twiml = answer_from_cache(&state, &directory, &sid, &result);
            pending.push(PendingEffect::DialResult { key, sid, result }).await;
            twiml.into_response()
        }
        Err(e) => failure_response(&e, DialResult::ANSWERS_TWIML),
    };
    crate::outbox::wake(&state);
    response
}

/// Routes the dial result and applies it once per receipt `key`; the answer (stored with the
/// receipt, so a retry hears the same).
pub async fn settle(
    state: &AppState,
    directory: &NumberDirectory,
    key: Option<String>,
    sid: String,
    result: DialResult,
) -> Result<WebhookReply, WebhookError> {
    // Routed before the transaction: a cache hit mostly, and never a second connection inside it.
    let route = match result.call.to.number() {
        Some(to) => Some(directory.lookup(&state.db, to).await?.0),
        None => None,
    };
    let s = state.clone();
    receipts::run_once(&state.db, key.as_deref(), DialResult::KIND, move |conn| {
        apply(s, sid, route, conn, result).boxed()
    })
    .await
}

/// What the caller hears while the database is away: decided from the cached tenant and the
/// `DialCallStatus` alone; an apology when the number's routing is not cached.
fn answer_from_cache(state: &AppState, directory: &NumberDirectory, sid: &str, result: &DialResult) -> Twiml {
    match result.call.to.number().and_then(|to| directory.cached(to)) {
        Some(Route::Active(routed)) => {
            after_dial(state, Some(&routed.tenant), false, sid, &result.dial_call_status)
        }
        Some(_) => say_and_hang_up(NOT_IN_SERVICE),
        None => say_and_hang_up(voice::APOLOGY),
    }
}

/// Voicemail when nobody picked up, else hang up.
fn after_dial(
    state: &AppState,
    tenant: Option<&Tenant>,
    answered: bool,
    sid: &str,
    status: &DialCallStatus,
) -> Twiml {
    match (tenant, answered, status) {
        (Some(t), false, DialCallStatus::NoAnswer | DialCallStatus::Busy | DialCallStatus::Failed) => {
            voicemail(state, &t.settings, sid)
        }
        _ => Twiml::new().hangup(),
    }
}

/// The effect of a dial result, once: the call recorded if it was not, the outcome, its
/// notification, the text-back of a missed call; the caller hears the voicemail prompt when
/// nobody picked up.
async fn apply(
    state: AppState,
    sid: String,
    route: Option<Route>,
    conn: &mut PgConnection,
    result: DialResult,
) -> Result<WebhookReply, WebhookError> {
    if sid != result.call.call_sid.as_str() {
        tracing::warn!(call.sid = %sid, "dial result whose CallSid is not the URL's call");
        return Ok(WebhookReply::from(Twiml::new().hangup()));
    }
    let Some(call) = find_or_record(&state, conn, route, &result).await? else {
        tracing::warn!(call.sid = %sid, "dial result for a number no active tenant owns");
        return Ok(WebhookReply::from(say_and_hang_up(NOT_IN_SERVICE)));
    };
    let status = &result.dial_call_status;
    let outcome = CallOutcome::from_dial(status, call.screened, call.accepted);
    let answered = !outcome.is_missed();
    let now = state.clock.now();
    let duration = result.dial_call_duration.and_then(|d| i32::try_from(d).ok());
    let tenant = tenants::repo::find_tenant(conn, TenantId(call.tenant_id)).await?;
    if let Some(updated) = calls::set_outcome(conn, &sid, &outcome, duration, now).await? {
        let tenant_id = TenantId(call.tenant_id);
        let mut data =
            notify::call_data(tenant_id, &sid, &call.from_address, &call.to_number, &call.status, now);
        data["reason"] = serde_json::json!(outcome.reason());
        let kind = if answered { "call.answered" } else { "call.missed" };
        notify::send(conn, tenant_id, now, kind, "call_service", format!("{kind}:{sid}"), data).await?;
        if let (false, Some(tenant)) = (answered, &tenant) {
            textback::text_back(conn, tenant, &updated, now).await?;
        }
    }
    Ok(WebhookReply::from(after_dial(&state, tenant.as_ref(), answered, &sid, status)))
}

/// The call's row; recorded from the dial result when it has none and the number routes to an
/// active tenant (`None` otherwise).
async fn find_or_record(
    state: &AppState,
    conn: &mut PgConnection,
    route: Option<Route>,
    result: &DialResult,
) -> Result<Option<InboundCall>, sqlx::Error> {
    let sid = result.call.call_sid.as_str();
    if let Some(call) = calls::find(conn, sid).await? {
        return Ok(Some(call));
    }
    let Some(Route::Active(routed)) = route else { return Ok(None) };
    let now = state.clock.now();
    let settings = &routed.tenant.settings;
    let call = NewCall {
        sid: sid.to_owned(),
        tenant: routed.tenant.id,
        from: result.call.from.to_string(),
        to: routed_number(result),
        status: result.call.call_status.as_str().to_owned(),
        after_hours: !settings.is_open(now),
        // A dial happened, so the owner's number was set: screened as the tenant says.
        screened: settings.screen_forwarded_calls,
        at: now,
    };
    tracing::info!(call.sid = sid, "dial result for a call with no record: recorded from it");
    voice::insert_call(conn, &call).await?;
    calls::find(conn, sid).await
}

fn routed_number(result: &DialResult) -> String {
    result.call.to.number().map_or_else(|| result.call.to.to_string(), |n| n.as_str().to_owned())
}
