//! Reconciling a create whose outcome is unknown (timeout, 5xx, or a crash between sending and
//! saving). A callback carrying the attempt's token is the proof it exists and binds it at once
//! (see the webhooks). Without one, after the reconcile window the account's list is checked:
//! exactly one matching call or message created since the attempt was sent → bind it; none → send
//! once more (never twice); more than one, or any doubt → park for an operator.

use super::attempts::{self, Attempt, AttemptEvent};
use super::deliver::TwilioDestination;
use super::{CallRequest, MessageRequest};
use crate::outbox::Delivery;
use crate::twilio::rest::{ListCalls, ListMessages};

/// Decides what to do with a `sending` or `unknown` attempt.
pub(super) async fn reconcile(dest: &TwilioDestination, attempt: Attempt) -> Result<Delivery, sqlx::Error> {
    let state = &dest.state;
    let now = state.clock.now();
    if let Some(after) = attempt.reconcile_after
        && now < after
    {
        return Ok(Delivery::Defer(after - now));
    }
    let since = attempt.sent_at.unwrap_or(now) - chrono::Duration::minutes(1);
    let found = match candidates(dest, &attempt, since).await {
        Ok(found) => found,
        Err(e) => return Ok(Delivery::Retry(format!("listing at Twilio failed: {e}"))),
    };
    match found.as_slice() {
        [] if !attempt.retried => {
            dest.audit(&attempt, "TWILIO_RECONCILED_ABSENT", serde_json::json!({"action": "send once more"}))
                .await?;
            attempts::requeue_after_reconcile(&state.db, &attempt.token, now).await?;
            let Some(requeued) = attempts::find(&state.db, &attempt.token).await? else {
                return Ok(Delivery::Dead("attempt not found".into()));
            };
            dest.send(requeued).await
        }
        [sid] => {
            dest.bind(&attempt, sid, None).await?;
            dest.audit(&attempt, "TWILIO_RECONCILED_FOUND", serde_json::json!({"sid": sid})).await?;
            Ok(Delivery::Delivered)
        }
        _ => {
            let reason = if found.is_empty() {
                "no trace at Twilio after a retry".to_owned()
            } else {
                format!("{} candidate {}s at Twilio", found.len(), attempt.kind)
            };
            attempts::apply(&state.db, &attempt.token, AttemptEvent::Park, Some(&reason), now).await?;
            dest.audit(&attempt, "TWILIO_PARKED", serde_json::json!({"reason": reason})).await?;
            Ok(Delivery::Park(reason))
        }
    }
}

/// SIDs at Twilio that could be this attempt and are not bound to another attempt.
async fn candidates(
    dest: &TwilioDestination,
    attempt: &Attempt,
    since: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<String>> {
    let state = &dest.state;
    let mut sids = Vec::new();
    if attempt.kind == "call" {
        let request: CallRequest = serde_json::from_value(attempt.request.clone())?;
        let filter = ListCalls {
            to: Some(request.to.clone()),
            from: Some(request.from.clone()),
            start_time_after: Some(since.date_naive()),
            page_size: Some(100),
        };
        for call in state.twilio.list_calls(&filter).await? {
            if call.date_created.is_none_or(|created| created >= since) {
                sids.push(call.sid.to_string());
            }
        }
    } else {
        let request: MessageRequest = serde_json::from_value(attempt.request.clone())?;
        let filter = ListMessages {
            to: Some(request.to.clone()),
            from: Some(request.from.clone()),
            date_sent_after: Some(since.date_naive()),
            page_size: Some(100),
        };
        for message in state.twilio.list_messages(&filter).await? {
            let same_body = message.body.as_deref().is_none_or(|b| b == request.body);
            if same_body && message.date_created.is_none_or(|created| created >= since) {
                sids.push(message.sid.to_string());
            }
        }
    }
    let mut unbound = Vec::new();
    let mut conn = state.db.acquire().await?;
    for sid in sids {
        match attempts::find_by_sid(&mut conn, &sid).await? {
            Some(other) if other.token != attempt.token => {}
            _ => unbound.push(sid),
        }
    }
    Ok(unbound)
}
