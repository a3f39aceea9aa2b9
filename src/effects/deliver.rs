//! The `twilio` outbox destination: creates the call or message of an attempt, exactly once.

use super::attempts::{self, Attempt, AttemptEvent, AttemptState};
use super::{CallRequest, EffectOwners, MessageChange, MessageRequest, ledger, pacing, reconcile};
use crate::audit::{self, Actor, NewEvent};
use crate::outbox::{Delivery, Destination, OutboxMessage};
use crate::state::AppState;
use crate::twilio::rest::{CreateCall, CreateMessage, callback_url};
use crate::twilio::{CallStatus, TwilioError};
use std::sync::Arc;

/// Delivers `twilio.call` and `twilio.message` outbox messages.
pub struct TwilioDestination {
    pub(super) state: AppState,
    owners: Arc<EffectOwners>,
}

impl TwilioDestination {
    /// The destination for the application, with the owners of the effects it sends.
    pub fn new(state: &AppState, owners: Arc<EffectOwners>) -> Self {
        TwilioDestination { state: state.clone(), owners }
    }

    /// How long an unknown outcome waits for its callback before the account's list is checked.
    fn reconcile_window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.state.config.effects.reconcile_window).unwrap_or_default()
    }

    fn rate(&self, kind: &str) -> f64 {
        let effects = &self.state.config.effects;
        if kind == "call" { effects.calls_per_second } else { effects.messages_per_second }
    }

    async fn deliver_attempt(&self, attempt: Attempt) -> Result<Delivery, sqlx::Error> {
        if self.owners.get(&attempt.owner_domain).is_none() {
            // Never "allowed" by default: the owner vetoes recipients and hears refusals.
            return Ok(Delivery::Park(crate::outbox::repo::UNKNOWN_OWNER_DOMAIN.into()));
        }
        match attempt.state {
            AttemptState::Created => Ok(Delivery::Delivered),
            AttemptState::Failed => Ok(Delivery::Dead("Twilio refused the create".into())),
            AttemptState::Cancelled => Ok(Delivery::Cancel("cancelled".into())),
            AttemptState::Sending | AttemptState::Unknown => reconcile::reconcile(self, attempt).await,
            // Parked and released by an operator's redeliver: sent again.
            AttemptState::Queued | AttemptState::Parked => self.send(attempt).await,
        }
    }

    /// Sends the create. Marked `sending` first: from then on a crash means "unknown", not "unsent".
    pub(super) async fn send(&self, attempt: Attempt) -> Result<Delivery, sqlx::Error> {
        let Some(base) = self.state.config.server.public_base_url.clone() else {
            return Ok(Delivery::Park("public_base_url_not_configured".into()));
        };
        if attempt.kind == "message" && !self.recipient_allowed(&attempt).await? {
            let now = self.state.clock.now();
            attempts::apply(
                &self.state.db,
                &attempt.token,
                AttemptEvent::Veto,
                Some("recipient vetoed"),
                now,
            )
            .await?;
            return Ok(Delivery::Cancel("recipient opted out".into()));
        }
        let now = self.state.clock.now();
        // A prepaid create's token was taken by its requester; one sent again after a
        // reconciliation that found nothing pays like any other.
        let prepaid = attempt.kind == "call" && attempt.request["prepaid"] == true && !attempt.retried;
        let paced = if prepaid {
            Ok(())
        } else {
            pacing::take(&self.state.db, &attempt.kind, self.rate(&attempt.kind), now).await?
        };
        if let Err(wait) = paced {
            return Ok(Delivery::Defer(wait));
        }
        let window = self.reconcile_window();
        if !attempts::mark_sending(&self.state.db, &attempt.token, now, now + window).await? {
            return Ok(Delivery::Defer(chrono::Duration::zero()));
        }
        let overrides = self.state.config.twilio.callback_connection_overrides.as_deref();
        let query = [("attempt", attempt.token.as_str())];
        let result = if attempt.kind == "call" {
            let request: CallRequest = serde_json::from_value(attempt.request.clone())
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            let create = CreateCall {
                to: request.to,
                from: request.from,
                url: Some(callback_url(&base, &request.path, &query, overrides)),
                status_callback: Some(callback_url(
                    &base,
                    "/webhooks/twilio/calls/events",
                    &query,
                    overrides,
                )),
                status_callback_event: request.events,
                timeout: request.timeout_secs,
                record: request.record.then_some(true),
                machine_detection: request.machine_detection,
                ..CreateCall::default()
            };
            self.state.twilio.create_call(&create).await.map(|c| (c.sid.to_string(), Some(c.status)))
        } else {
            let request: MessageRequest = serde_json::from_value(attempt.request.clone())
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            let create = CreateMessage {
                to: request.to,
                from: Some(request.from),
                body: Some(request.body),
                media_url: request.media,
                status_callback: Some(callback_url(
                    &base,
                    "/webhooks/twilio/messages/events",
                    &query,
                    overrides,
                )),
                ..CreateMessage::default()
            };
            self.state.twilio.create_message(&create).await.map(|m| (m.sid.to_string(), None))
        };
        self.after_send(attempt, result).await
    }

    async fn after_send(
        &self,
        attempt: Attempt,
        result: Result<(String, Option<CallStatus>), TwilioError>,
    ) -> Result<Delivery, sqlx::Error> {
        let now = self.state.clock.now();
        match result {
            Ok((sid, status)) => {
                self.bind(&attempt, &sid, status).await?;
                Ok(Delivery::Delivered)
            }
            Err(TwilioError::Api { code, message, .. }) => {
                attempts::apply(&self.state.db, &attempt.token, AttemptEvent::Refuse, Some(&message), now)
                    .await?;
                self.report_refusal(&attempt, code).await?;
                Ok(Delivery::Dead(format!("Twilio error {}: {message}", code.unwrap_or_default())))
            }
            Err(TwilioError::RateLimited { .. }) => {
                let penalty = self.state.config.effects.rate_limit_penalty;
                pacing::penalize(&self.state.db, &attempt.kind, self.rate(&attempt.kind), penalty).await?;
                attempts::apply(
                    &self.state.db,
                    &attempt.token,
                    AttemptEvent::NotSent,
                    Some("rate limited"),
                    now,
                )
                .await?;
                Ok(Delivery::Defer(chrono::Duration::from_std(penalty).unwrap_or_default()))
            }
            Err(TwilioError::Unreachable(_)) | Err(TwilioError::NotConfigured) => {
                attempts::apply(&self.state.db, &attempt.token, AttemptEvent::NotSent, Some("not sent"), now)
                    .await?;
                Ok(Delivery::Retry("Twilio could not be reached (nothing was sent)".into()))
            }
            Err(e @ (TwilioError::OutcomeUnknown { .. } | TwilioError::Decode(_))) => {
                let error = e.to_string();
                attempts::apply(&self.state.db, &attempt.token, AttemptEvent::Ambiguous, Some(&error), now)
                    .await?;
                self.audit(&attempt, "TWILIO_OUTCOME_UNKNOWN", serde_json::json!({"error": e.to_string()}))
                    .await?;
                Ok(Delivery::Defer(self.reconcile_window()))
            }
        }
    }

    /// Binds the SID and records the call or message in the ledger, in one transaction.
    pub(super) async fn bind(
        &self,
        attempt: &Attempt,
        sid: &str,
        status: Option<CallStatus>,
    ) -> Result<(), sqlx::Error> {
        let now = self.state.clock.now();
        let mut tx = self.state.db.begin().await?;
        attempts::bind(&mut tx, &attempt.token, sid, now).await?;
        let owner = Some((attempt.owner_domain.as_str(), attempt.owner_id.as_str()));
        if attempt.kind == "call" {
            let status = status.unwrap_or(CallStatus::Queued);
            let request: Option<CallRequest> = serde_json::from_value(attempt.request.clone()).ok();
            let row = ledger::CallRow {
                sid,
                tenant: attempt.tenant(),
                parent_sid: None,
                direction: Some("outbound-api"),
                from: request.as_ref().map(|r| r.from.as_str()),
                to: request.as_ref().map(|r| r.to.as_str()),
                status: &status,
                sequence_number: None,
                answered_by: None,
                duration_secs: None,
                owner,
                attempt_token: Some(&attempt.token),
            };
            ledger::upsert_call(&mut tx, &row, now).await?;
        } else {
            let status = crate::twilio::MessageStatus::Queued;
            ledger::upsert_message(
                &mut tx,
                sid,
                attempt.tenant(),
                &status,
                None,
                owner,
                Some(&attempt.token),
                now,
            )
            .await?;
        }
        tx.commit().await
    }

    async fn recipient_allowed(&self, attempt: &Attempt) -> Result<bool, sqlx::Error> {
        let Some(owner) = self.owners.get(&attempt.owner_domain) else { return Ok(false) };
        let to = attempt.request["to"].as_str().unwrap_or_default();
        let mut conn = self.state.db.acquire().await?;
        owner.may_send_message(&mut conn, attempt.tenant(), to).await
    }

    /// Tells the owning domain that Twilio refused a message (21610: the recipient opted out).
    async fn report_refusal(&self, attempt: &Attempt, code: Option<i64>) -> Result<(), sqlx::Error> {
        let Some(owner) = self.owners.get(&attempt.owner_domain) else { return Ok(()) };
        if attempt.kind != "message" {
            return Ok(());
        }
        let change = MessageChange {
            tenant: attempt.tenant(),
            sid: None,
            owner_id: attempt.owner_id.clone(),
            status: crate::twilio::MessageStatus::Failed,
            error_code: code,
            to: attempt.request["to"].as_str().map(str::to_owned),
        };
        let mut tx = self.state.db.begin().await?;
        owner.on_message_status(&mut tx, &change).await?;
        tx.commit().await
    }

    /// Audits a transition of an ambiguous create, in its own transaction.
    pub(super) async fn audit(
        &self,
        attempt: &Attempt,
        action: &str,
        data: serde_json::Value,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.state.db.begin().await?;
        let event = NewEvent {
            actor: Actor::System("effects"),
            action,
            entity_type: "twilio_attempt",
            entity_id: attempt.token.clone(),
            request_id: None,
            data: serde_json::json!({"kind": attempt.kind, "owner_domain": attempt.owner_domain, "owner_id": attempt.owner_id, "detail": data}),
        };
        audit::record(&mut tx, attempt.tenant(), self.state.clock.now(), event).await?;
        tx.commit().await
    }
}

#[async_trait::async_trait]
impl Destination for TwilioDestination {
    async fn deliver(&self, message: &OutboxMessage) -> Delivery {
        let Some(token) = message.payload["token"].as_str() else {
            return Delivery::Dead("no attempt token".into());
        };
        let attempt = match attempts::find(&self.state.db, token).await {
            Ok(Some(attempt)) => attempt,
            Ok(None) => return Delivery::Dead("attempt not found".into()),
            Err(e) => return Delivery::Retry(format!("database: {e}")),
        };
        match self.deliver_attempt(attempt).await {
            Ok(delivery) => delivery,
            Err(e) => Delivery::Retry(format!("database: {e}")),
        }
    }

    fn sequential(&self) -> bool {
        true
    }
}
