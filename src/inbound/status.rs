//! Status callbacks of a number's calls (`/webhooks/twilio/call` with a status other than
//! ringing): the call's status advances by the one ordering rule, so a repeat or a late callback
//! is harmless. A call with no record yet (its ringing record waits in another replica's buffer,
//! or was lost with it) is recorded from the callback. The answer, an empty `<Response/>`, never
//! needs the database: while it is away the callback waits in [`PendingEffects`].

use super::calls::{self, NewCall};
use super::notify;
use super::pending::{PendingEffect, PendingEffects, is_unavailable};
use super::voice::insert_call;
use crate::ids::TenantId;
use crate::state::AppState;
use crate::tenants::{NumberDirectory, NumberRoute, Route};
use crate::twilio::{CallStatus, TwilioWebhook, Twiml, VoiceRequest, WebhookError};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A status callback of a number's call, as kept when the database is away.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StatusUpdate {
    /// The parameters.
    pub call: VoiceRequest,
    /// `SequenceNumber`.
    pub sequence: Option<i32>,
    /// `CallDuration`.
    pub duration: Option<i32>,
}

impl StatusUpdate {
    /// The update a webhook carries.
    pub fn new(hook: &TwilioWebhook<VoiceRequest>) -> Self {
        StatusUpdate {
            call: hook.payload.clone(),
            sequence: hook.params.get("SequenceNumber").and_then(|s| s.parse().ok()),
            duration: hook.params.get("CallDuration").and_then(|s| s.parse().ok()),
        }
    }
}

/// A later status of a number's call: applied, or kept until the database is back (the answer,
/// an empty `<Response/>`, does not depend on it).
pub(super) async fn status_update(
    state: &AppState,
    directory: &NumberDirectory,
    pending: &Arc<PendingEffects>,
    update: StatusUpdate,
) -> Response {
    match apply_status(state, directory, &update).await {
        Ok(()) => crate::outbox::wake(state),
        Err(e) if is_unavailable(&e) => {
            tracing::warn!(call.sid = %update.call.call_sid, "the status callback waits for the database");
            pending.push(PendingEffect::CallStatus(update)).await;
        }
        Err(e) => return crate::twilio::receipts::failure_response(&e, false),
    }
    Twiml::new().into_response()
}

/// Advances the call's status (the ordering rule makes a repeat harmless); a call with no record
/// yet is recorded from the callback when its number routes to an active tenant.
pub(super) async fn apply_status(
    state: &AppState,
    directory: &NumberDirectory,
    update: &StatusUpdate,
) -> Result<(), WebhookError> {
    let request = &update.call;
    // Routed before the transaction: a cache hit mostly, and never a second connection inside it.
    let route = match request.to.number() {
        Some(to) => Some(directory.lookup(&state.db, to).await?.0),
        None => None,
    };
    let now = state.clock.now();
    let mut tx = crate::system::system_tx(&state.db).await?;
    if let Some(Route::Active(routed)) = &route
        && calls::find(&mut tx, request.call_sid.as_str()).await?.is_none()
    {
        tracing::info!(call.sid = %request.call_sid, "status callback for a call with no record: recorded from it");
        insert_call(&mut tx, &call_from_status(request, routed, now)).await?;
    }
    let status = request.call_status.as_str();
    let rank = request.call_status.rank();
    let changed = calls::advance(
        &mut tx,
        request.call_sid.as_str(),
        status,
        rank,
        update.sequence,
        update.duration,
        now,
    )
    .await?;
    if let Some(call) = changed.filter(|_| request.call_status.is_terminal()) {
        let tenant = TenantId(call.tenant_id);
        let mut data =
            notify::call_data(tenant, &call.call_sid, &call.from_address, &call.to_number, status, now);
        data["duration_secs"] = serde_json::json!(call.duration_secs);
        data["outcome"] = serde_json::json!(call.outcome);
        let key = format!("call.completed:{}", call.call_sid);
        notify::send(&mut tx, tenant, now, "call.completed", "call_service", key, data).await?;
    }
    Ok(tx.commit().await?)
}

/// The record of a call first heard of by a status callback: as it rang (the callback's status
/// then advances it by the ordering rule).
fn call_from_status(request: &VoiceRequest, routed: &NumberRoute, now: DateTime<Utc>) -> NewCall {
    let settings = &routed.tenant.settings;
    NewCall {
        sid: request.call_sid.to_string(),
        tenant: routed.tenant.id,
        from: request.from.to_string(),
        to: request.to.number().map_or_else(|| request.to.to_string(), |n| n.as_str().to_owned()),
        status: CallStatus::Ringing.as_str().to_owned(),
        after_hours: !settings.is_open(now),
        screened: settings.screen_forwarded_calls,
        at: now,
    }
}
