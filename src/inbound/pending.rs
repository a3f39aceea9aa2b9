//! Effects of inbound webhooks that could not reach the database. Neither the caller nor Twilio
//! must see an error because bookkeeping is unavailable: a webhook whose answer does not need the
//! database (a ringing call or a dial result of a cached number, a number's status callback, an
//! inbound SMS) is answered as usual and its effect is kept here, bounded, and applied in order
//! when the database is back.
//!
//! Applying is idempotent by the effect's own keys (the call's SID, the webhook receipt key, the
//! `MessageSid`), so a Twilio retry that reached another replica is harmless. Per-process by
//! nature: a replica killed while effects wait here loses them — the one loss left, counted by
//! `inbound_buffered_effects` (waiting now) and `inbound_buffer_dropped_total` (given up for room).

use super::calls::NewCall;
use super::{sms, status, voice};
use crate::error::error_chain;
use crate::state::AppState;
use crate::tenants::NumberDirectory;
use crate::twilio::{DialResult, InboundSms, WebhookError};
use crate::worker::Worker;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most effects kept; beyond, the oldest are given up (and counted).
pub const CAPACITY: usize = 10_000;

/// The effect of one inbound webhook, as it was answered.
#[derive(Debug, Clone)]
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
}

impl PendingEffect {
    /// Applies the effect, as the webhook would have with the database up.
    async fn apply(self, state: &AppState, directory: &NumberDirectory) -> Result<(), WebhookError> {
        match self {
            PendingEffect::Ringing(call) => Ok(voice::record_ringing(state, &call).await?),
            PendingEffect::DialResult { key, sid, result } => {
                super::dial::settle(state, directory, key, sid, result).await.map(drop)
            }
            PendingEffect::CallStatus(update) => status::apply_status(state, directory, &update).await,
            PendingEffect::Sms { key, sms } => sms::settle(state, directory, key, sms).await.map(drop),
        }
    }
}

/// Whether `error` means the database could not be reached (the effect can wait for it), rather
/// than that it refused the effect (waiting would not help).
pub fn is_unavailable(error: &WebhookError) -> bool {
    let WebhookError::Database(e) = error;
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // Class 08 (connection exception), 57P01–57P03 (shutdown, cannot connect now), 53300.
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P") || code == "53300")
        }
        _ => false,
    }
}

/// Effects waiting for the database, oldest first.
#[derive(Debug, Default)]
pub struct PendingEffects {
    // A std Mutex: held only to push or pop, never across an await.
    queue: Mutex<VecDeque<PendingEffect>>,
}

impl PendingEffects {
    /// Keeps an effect for later.
    pub fn push(&self, effect: PendingEffect) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.len() >= CAPACITY {
            queue.pop_front();
            metrics::counter!("inbound_buffer_dropped_total").increment(1);
            tracing::error!("the inbound buffer is full: the oldest waiting effect is given up");
        }
        queue.push_back(effect);
        metrics::gauge!("inbound_buffered_effects").set(queue.len() as f64);
    }

    fn pop(&self) -> Option<PendingEffect> {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let effect = queue.pop_front();
        metrics::gauge!("inbound_buffered_effects").set(queue.len() as f64);
        effect
    }

    fn push_front(&self, effect: PendingEffect) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.push_front(effect);
        metrics::gauge!("inbound_buffered_effects").set(queue.len() as f64);
    }

    /// How many effects wait.
    pub fn len(&self) -> usize {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Applies the pending effects, in order, once the database answers again.
pub struct PendingEffectsWorker {
    state: AppState,
    directory: Arc<NumberDirectory>,
    pending: Arc<PendingEffects>,
}

impl PendingEffectsWorker {
    /// A worker applying this instance's `pending` effects, routing through `directory`.
    pub fn new(state: &AppState, directory: Arc<NumberDirectory>, pending: Arc<PendingEffects>) -> Self {
        // Registered at once, so /metrics shows both before the first outage.
        metrics::gauge!("inbound_buffered_effects").set(pending.len() as f64);
        metrics::counter!("inbound_buffer_dropped_total").increment(0);
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
        let mut applied = 0;
        while let Some(effect) = self.pending.pop() {
            match effect.clone().apply(&self.state, &self.directory).await {
                Ok(()) => applied += 1,
                // Still away: it stays first, so the order holds.
                Err(e) if is_unavailable(&e) => {
                    self.pending.push_front(effect);
                    return Err(e.into());
                }
                // Refused for good (it would be on any retry): given up, loudly, and counted.
                Err(e) => {
                    tracing::error!(error = %error_chain(&e), "a pending inbound effect was refused; given up");
                    metrics::counter!("inbound_buffer_dropped_total").increment(1);
                }
            }
        }
        if applied > 0 {
            crate::outbox::wake(&self.state);
        }
        Ok(applied)
    }
}
