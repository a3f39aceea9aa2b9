//! Effects of inbound webhooks that could not reach the database. Neither the caller nor Twilio
//! must see an error because bookkeeping is unavailable: a webhook whose answer does not need the
//! database (a ringing call or a dial result of a cached number, a number's status callback, an
//! inbound SMS) is answered as usual and its effect is kept here, bounded, and applied in order
//! when the database is back.
//!
//! Applying is idempotent by the effect's own keys (the call's SID, the webhook receipt key, the
//! `MessageSid`), so a Twilio retry that reached another replica is harmless. Per-process by
//! nature: a replica killed while effects wait here loses them — the one loss left, counted by
//! `inbound_buffered_effects` (waiting now) and `inbound_buffer_dropped_total` (given up for room)
//! — unless `SWITCHBOARD_INBOUND__SPOOL_DIR` names a [`Spool`] that keeps them on disk as well.

use super::calls::NewCall;
use super::spool::{Spool, SpoolError};
use super::{sms, status, voice};
use crate::error::error_chain;
use crate::state::AppState;
use crate::tenants::NumberDirectory;
use crate::twilio::{DialResult, InboundSms, WebhookError};
use crate::worker::Worker;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Most effects kept; beyond, the oldest are given up (and counted).
pub const CAPACITY: usize = 10_000;

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
    crate::error::database::is_unavailable(e)
}

/// Effects waiting for the database, oldest first, and their copy on disk when a spool is set.
#[derive(Debug, Default)]
pub struct PendingEffects {
    // A std Mutex: never held across an await. With a spool, it is held while a line is written
    // and synced (on a blocking thread), so the file's order is the queue's.
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    queue: VecDeque<PendingEffect>,
    spool: Option<Spool>,
}

impl PendingEffects {
    /// Effects kept in memory only.
    pub fn in_memory() -> Self {
        PendingEffects::default()
    }

    /// Effects kept in memory and in the spool in `dir`, starting with those the spool holds
    /// (answered before this process last stopped, maybe not applied).
    pub fn with_spool(dir: &Path) -> Result<Self, SpoolError> {
        let (spool, effects) = Spool::open(dir)?;
        if !effects.is_empty() {
            tracing::info!(effects = effects.len(), "inbound effects replayed from the spool");
        }
        metrics::gauge!("inbound_spooled_effects").set(spool.lines() as f64);
        let inner = Inner { queue: effects.into(), spool: Some(spool) };
        Ok(PendingEffects { inner: Mutex::new(inner) })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps an effect for later; with a spool, returns once it is on disk.
    pub async fn push(self: &Arc<Self>, effect: PendingEffect) {
        let this = self.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || this.push_blocking(effect)).await {
            tracing::error!(error = %e, "keeping an inbound effect failed");
        }
    }

    fn push_blocking(&self, effect: PendingEffect) {
        let mut inner = self.lock();
        if let Some(spool) = inner.spool.as_mut() {
            // Not on disk, still in memory: only a kill during the outage can lose it now.
            if let Err(e) = spool.append(&effect) {
                metrics::counter!("inbound_spool_errors_total").increment(1);
                tracing::error!(error = %e, "the inbound spool cannot be written: the effect is kept in memory only");
            }
            metrics::gauge!("inbound_spooled_effects").set(spool.lines() as f64);
        }
        if inner.queue.len() >= CAPACITY {
            inner.queue.pop_front();
            metrics::counter!("inbound_buffer_dropped_total").increment(1);
            tracing::error!("the inbound buffer is full: the oldest waiting effect is given up");
        }
        inner.queue.push_back(effect);
        metrics::gauge!("inbound_buffered_effects").set(inner.queue.len() as f64);
    }

    fn pop(&self) -> Option<PendingEffect> {
        let mut inner = self.lock();
        let effect = inner.queue.pop_front();
        metrics::gauge!("inbound_buffered_effects").set(inner.queue.len() as f64);
        effect
    }

    fn push_front(&self, effect: PendingEffect) {
        let mut inner = self.lock();
        inner.queue.push_front(effect);
        metrics::gauge!("inbound_buffered_effects").set(inner.queue.len() as f64);
    }

    /// Empties the spool if nothing waits any more (checked under the same lock as `push`, so a
    /// line written meanwhile is never cut).
    fn clear_spool_if_drained(&self) {
        let mut inner = self.lock();
        let Inner { queue, spool } = &mut *inner;
        if let Some(spool) = spool.as_mut().filter(|s| queue.is_empty() && s.lines() > 0) {
            match spool.clear() {
                Ok(()) => metrics::gauge!("inbound_spooled_effects").set(0.0),
                Err(e) => {
                    metrics::counter!("inbound_spool_errors_total").increment(1);
                    tracing::error!(error = %e, "the inbound spool cannot be emptied: it is replayed (harmlessly) at the next start");
                }
            }
        }
    }

    /// How many effects wait.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
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
        metrics::counter!("inbound_spool_errors_total").increment(0);
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
        let pending = self.pending.clone();
        tokio::task::spawn_blocking(move || pending.clear_spool_if_drained()).await?;
        Ok(applied)
    }
}
