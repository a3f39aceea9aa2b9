//! Status callbacks of a number's calls (`/webhooks/twilio/call` with a status other than
//! ringing): the call's status advances by the one ordering rule, so a repeat or a late callback
//! is harmless. A call with no record yet (its ringing record waits in another replica's buffer,
//! or was lost with it) is recorded from the callback. The answer, an empty `<Response/>`, never
//! needs the database: while it is away the callback waits in [`PendingEffects`].

use super::calls::{self, NewCall};
use super::group::{GroupCommit, Write};
use super::notify;
use super::pending::{PendingEffect, PendingEffects, is_unavailable};
use super::voice::insert_call;
use crate::ids::TenantId;
use crate::state::AppState;
use crate::tenants::{NumberDirectory, NumberRoute, Route};
use crate::twilio::{CallStatus, TwilioWebhook, Twiml, VoiceRequest, WebhookError};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
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

/// A status callback ready to write: the update, the record to create if the call has none yet
/// (its number routes to an active tenant), and when — resolved before any transaction.
#[derive(Debug, Clone)]
pub(super) struct StatusWrite {
    /// The callback.
    pub update: StatusUpdate,
    /// The call as it rang, written first if it has no record.
    pub record: Option<NewCall>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// A later status of a number's call: applied (with its neighbours, [`GroupCommit`]), or kept
/// until the database is back (the answer, an empty `<Response/>`, does not depend on it).
pub(super) async fn status_update(
    state: &AppState,
    directory: &NumberDirectory,
    pending: &Arc<PendingEffects>,
    group: &GroupCommit,
    update: StatusUpdate,
) -> Response {
    let written = match resolve(state, directory, update.clone()).await {
        Ok(write) => group.submit(state, Write::Status(Box::new(write))).await,
        Err(e) => Err(Arc::new(e)),
    };
    match written {
        Ok(()) => crate::outbox::wake(state),
        Err(e) if is_unavailable(&e) => {
            tracing::warn!(call.sid = %update.call.call_sid, "the status callback waits for the database");
            pending.push(PendingEffect::CallStatus(update)).await;
        }
        Err(e) => return crate::twilio::receipts::failure_response(&e, false),
    }
    Twiml::new().into_response()
}

/// Advances the call's status in its own transaction (the ordering rule makes a repeat harmless).
pub(super) async fn apply_status(
    state: &AppState,
    directory: &NumberDirectory,
    update: &StatusUpdate,
) -> Result<(), WebhookError> {
    let write = resolve(state, directory, update.clone()).await?;
    write_alone(state, &write).await
}

/// Writes one status callback in its own transaction.
pub(super) async fn write_alone(state: &AppState, write: &StatusWrite) -> Result<(), WebhookError> {
    let mut tx = crate::system::system_tx(&state.db).await?;
    write_status(&mut tx, write).await?;
    Ok(tx.commit().await?)
}

/// Routes the callback's number (before the transaction: a cache hit mostly, and never a second
/// connection inside it) and fixes what it writes.
pub(super) async fn resolve(
    state: &AppState,
    directory: &NumberDirectory,
    update: StatusUpdate,
) -> Result<StatusWrite, WebhookError> {
    let now = state.clock.now();
    let route = match update.call.to.number() {
        Some(to) => Some(directory.lookup(&state.db, to).await?.0),
        None => None,
    };
    let record = match &route {
        Some(Route::Active(routed)) => Some(call_from_status(&update.call, routed, now)),
        _ => None,
    };
    Ok(StatusWrite { update, record, now })
}

/// Advances the call's status in the caller's transaction; a call with no record yet is recorded
/// from the callback when its number routes to an active tenant. Builds a notification only when
/// the status changed to a terminal one.
pub(super) async fn write_status(conn: &mut PgConnection, write: &StatusWrite) -> Result<(), sqlx::Error> {
    let (request, now) = (&write.update.call, write.now);
    if let Some(record) = &write.record
        && !calls::exists(conn, request.call_sid.as_str()).await?
    {
        tracing::info!(call.sid = %request.call_sid, "status callback for a call with no record: recorded from it");
        insert_call(conn, record).await?;
    }
    let status = request.call_status.as_str();
    let rank = request.call_status.rank();
    let changed = calls::advance(
        conn,
        request.call_sid.as_str(),
        status,
        rank,
        write.update.sequence,
        write.update.duration,
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
        notify::send(conn, tenant, now, "call.completed", "call_service", key, data).await?;
    }
    Ok(())
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
