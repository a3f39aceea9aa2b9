//! Status callbacks of what we created (calls, messages, recordings), answered while the
//! database was away. Their answer, an empty `<Response/>`, never needs the database, and Twilio
//! does not retry a status callback that failed: a 503 would lose the change for good (a missed
//! `completed` leaves a crisis officer's call "in progress", a lost `failed` never opts a caller
//! out). So the callback is answered as usual and kept in a write-behind buffer (and the spool,
//! when one is configured), then applied by [`DeferredCallbacksWorker`] through the same code as
//! the live webhook, claiming the same receipt key — a retry that reached another replica is
//! harmless.

use super::EffectOwners;
use super::webhooks::{apply_call, apply_message, apply_recording};
use crate::config::InboundConfig;
use crate::error::error_chain;
use crate::state::AppState;
use crate::twilio::{
    CallStatusCallback, DeferredError, DeferredWebhook, MessageStatusCallback, RecordingStatusCallback,
};
use crate::worker::Worker;
use crate::writebehind::{Applied, Names, SpoolError, WriteBehind};
use futures::FutureExt;
use std::sync::Arc;
use std::time::Duration;

/// The buffer's file (in `SWITCHBOARD_INBOUND__SPOOL_DIR`) and metric names.
pub const NAMES: Names = Names {
    file: "effect-callbacks.jsonl",
    buffered: "effects_buffered_callbacks",
    dropped: "effects_callbacks_dropped_total",
    spooled: "effects_spooled_callbacks",
    spool_errors: "effects_spool_errors_total",
};

/// A status callback kept for later, with what its route carried besides the form.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum DeferredCallback {
    /// `/webhooks/twilio/calls/events` (or its alias), with its `?attempt=` token.
    Call {
        /// The attempt token of the URL.
        token: Option<String>,
        /// The webhook.
        hook: DeferredWebhook,
    },
    /// `/webhooks/twilio/messages/events`, with its `?attempt=` token.
    Message {
        /// The attempt token of the URL.
        token: Option<String>,
        /// The webhook.
        hook: DeferredWebhook,
    },
    /// `/webhooks/twilio/recordings/events`.
    Recording {
        /// The webhook.
        hook: DeferredWebhook,
    },
}

impl DeferredCallback {
    /// Applies the callback as the live webhook would have.
    async fn apply(self, state: &AppState, owners: &Arc<EffectOwners>) -> Result<(), DeferredError> {
        let (s, owners) = (state.clone(), owners.clone());
        match self {
            DeferredCallback::Call { token, hook } => {
                hook.once::<CallStatusCallback, _>(&state.db, move |conn, cb| {
                    apply_call(s, owners, token, conn, cb).boxed()
                })
                .await?;
            }
            DeferredCallback::Message { token, hook } => {
                let to = hook.params().get("To").map(str::to_owned);
                hook.once::<MessageStatusCallback, _>(&state.db, move |conn, cb| {
                    apply_message(s, owners, token, to, conn, cb).boxed()
                })
                .await?;
            }
            DeferredCallback::Recording { hook } => {
                hook.once::<RecordingStatusCallback, _>(&state.db, move |conn, cb| {
                    apply_recording(s, owners, conn, cb).boxed()
                })
                .await?;
            }
        }
        Ok(())
    }
}

/// Status callbacks waiting for the database, oldest first (and on disk with a spool).
pub type DeferredCallbacks = WriteBehind<DeferredCallback>;

/// The buffer, on disk as well when `config` names a spool directory (replaying what it holds).
pub fn open(config: &InboundConfig) -> Result<DeferredCallbacks, SpoolError> {
    match &config.spool_dir {
        Some(dir) => DeferredCallbacks::with_spool(NAMES, dir),
        None => Ok(DeferredCallbacks::in_memory(NAMES)),
    }
}

/// Applies the kept status callbacks, in order, once the database answers again.
pub struct DeferredCallbacksWorker {
    state: AppState,
    owners: Arc<EffectOwners>,
    deferred: Arc<DeferredCallbacks>,
}

impl DeferredCallbacksWorker {
    /// A worker applying this instance's `deferred` callbacks for `owners`.
    pub fn new(state: &AppState, owners: Arc<EffectOwners>, deferred: Arc<DeferredCallbacks>) -> Self {
        deferred.export_metrics();
        DeferredCallbacksWorker { state: state.clone(), owners, deferred }
    }
}

#[async_trait::async_trait]
impl Worker for DeferredCallbacksWorker {
    fn name(&self) -> &'static str {
        "effects-deferred-callbacks"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(2)
    }

    async fn run_once(&self) -> anyhow::Result<u64> {
        let (state, owners) = (&self.state, &self.owners);
        let applied = self
            .deferred
            .drain(|callback| async move {
                match callback.apply(state, owners).await {
                    Ok(()) => Applied::Done,
                    Err(DeferredError::Effect(e)) if e.is_unavailable() => Applied::Unavailable(e),
                    Err(e) => Applied::Refused(error_chain(&e)),
                }
            })
            .await?;
        if applied > 0 {
            crate::outbox::wake(&self.state);
        }
        Ok(applied)
    }
}
