//! Effects of inbound webhooks that could not reach the database. Neither the caller nor Twilio
//! must see an error because bookkeeping is unavailable: a webhook whose answer does not need the
//! database (a ringing call or a dial result of a cached number, a number's status callback, an
//! inbound SMS, the screened owner's key press, the voicemail's action and status) is answered as usual and its effect is kept here, bounded, and applied in order
//! when the database is back.
//!
//! Applying is idempotent by the effect's own keys (the call's SID, the webhook receipt key, the
//! `MessageSid`), so a Twilio retry that reached another replica is harmless. Per-process by
//! nature: a replica killed while effects wait here loses them — the one loss left, counted by
//! `inbound_buffered_effects` (waiting now) and `inbound_buffer_dropped_total` (given up for room)
//! — unless `SWITCHBOARD_INBOUND__SPOOL_DIR` names a [`Spool`](crate::writebehind::Spool) that keeps them on disk as well.

use super::calls::NewCall;
use super::{sms, status, voice};
use crate::state::AppState;
use crate::tenants::NumberDirectory;
use crate::twilio::{DeferredError, DeferredWebhook, DialResult, InboundSms, WebhookError};
use crate::worker::Worker;
use crate::writebehind::{Applied, Names, WriteBehind};
use std::sync::Arc;
use std::time::Duration;

/// The effect of one inbound webhook, as it was answered.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum PendingEffect {
    /// A ringing call's record and its `call.incoming`.
    Ringing(NewCall),
    /// A dial result (`/webhooks/twilio/call/status/{sid}`), with its receipt key.
    DialResult {
        /// The webhook receipt key, claimed when applied.
        key: Option<String>,
        /// The call of the URL.
        sid: String,
        /// The parameters.
        result: DialResult,
    },
    /// A status callback of a number's call (`/webhooks/twilio/call`, not ringing).
    CallStatus(status::StatusUpdate),
    /// An inbound SMS, with its receipt key.
    Sms {
        /// The webhook receipt key, claimed when applied.
        key: Option<String>,
        /// The message.
        sms: InboundSms,
    },
    /// The screened owner pressed 1 (`/webhooks/twilio/call/screen/{sid}/accept`).
    ScreenAccepted {
        /// The caller's call (the URL's).
        parent: String,
        /// The webhook.
        hook: DeferredWebhook,
    },
    /// The voicemail `<Record>` action (`/webhooks/twilio/call/voicemail/{sid}`).
    Voicemail {
        /// The call (the URL's).
        sid: String,
        /// The webhook.
        hook: DeferredWebhook,
    },
    /// The voicemail recording's status (`/webhooks/twilio/call/voicemail/{sid}/status`).
    VoicemailStatus {
        /// The call (the URL's).
        sid: String,
        /// The webhook.
        hook: DeferredWebhook,
    },
}

impl PendingEffect {
    /// Applies the effect, as the webhook would have with the database up.
    async fn apply(self, state: &AppState, directory: &NumberDirectory) -> Result<(), DeferredError> {
        match self {
            PendingEffect::Ringing(call) => {
                voice::record_ringing(state, &call).await.map_err(WebhookError::from)?
            }
            PendingEffect::DialResult { key, sid, result } => {
                super::dial::settle(state, directory, key, sid, result).await.map(drop)?
            }
            PendingEffect::CallStatus(update) => status::apply_status(state, directory, &update).await?,
            PendingEffect::Sms { key, sms } => sms::settle(state, directory, key, sms).await.map(drop)?,
            PendingEffect::ScreenAccepted { parent, hook } => {
                voice::apply_screen_accepted(state, parent, hook).await?
            }
            PendingEffect::Voicemail { sid, hook } => voice::apply_voicemail(state, sid, hook).await?,
            PendingEffect::VoicemailStatus { sid, hook } => {
                voice::apply_voicemail_status(state, sid, hook).await?
            }
        }
        Ok(())
    }
}

/// Whether `error` means the database could not be reached (the effect can wait for it), rather
/// than that it refused the effect (waiting would not help).
pub fn is_unavailable(error: &WebhookError) -> bool {
    error.is_unavailable()
}

/// The inbound buffer's file and metric names (the README's "When the database is down").
pub const NAMES: Names = Names {
    file: "inbound-effects.jsonl",
    buffered: "inbound_buffered_effects",
    dropped: "inbound_buffer_dropped_total",
    spooled: "inbound_spooled_effects",
    spool_errors: "inbound_spool_errors_total",
};

/// Inbound effects waiting for the database, oldest first (and on disk with a spool).
pub type PendingEffects = WriteBehind<PendingEffect>;

/// Applies the pending effects, in order, once the database answers again.
pub struct PendingEffectsWorker {
    state: AppState,
    directory: Arc<NumberDirectory>,
    pending: Arc<PendingEffects>,
}

impl PendingEffectsWorker {
    /// A worker applying this instance's `pending` effects, routing through `directory`.
    pub fn new(state: &AppState, directory: Arc<NumberDirectory>, pending: Arc<PendingEffects>) -> Self {
        pending.export_metrics();
        PendingEffectsWorker { state: state.clone(), directory, pending }
    }
}

#[async_trait::async_trait]
impl Worker for PendingEffectsWorker {
    fn name(&self) -> &'static str {
        "inbound-pending-effects"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(2)
    }

    async fn run_once(&self) -> anyhow::Result<u64> {
        let (state, directory) = (&self.state, &self.directory);
        let applied = self
            .pending
            .drain(|effect| async move {
                match effect.apply(state, directory).await {
                    Ok(()) => Applied::Done,
                    Err(DeferredError::Effect(e)) if e.is_unavailable() => Applied::Unavailable(e),
                    Err(e) => Applied::Refused(crate::error::error_chain(&e)),
                }
            })
            .await?;
        if applied > 0 {
            crate::outbox::wake(&self.state);
        }
        Ok(applied)
    }
}
