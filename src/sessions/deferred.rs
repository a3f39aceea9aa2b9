//! Conference events answered while the database was away. Their answer, an empty `<Response/>`,
//! never needs the database, and Twilio does not retry a status callback that failed: a lost
//! `conference-end` leaves a session `in_progress` until its time limit, a lost
//! `participant-join` never starts it. So the event is answered as usual and kept in a
//! write-behind buffer (and the spool, when one is configured), then applied by
//! [`DeferredEventsWorker`] through the same code as the live webhook, claiming the same receipt
//! key — a retry that reached another replica is harmless.

use super::webhooks::apply_conference_event;
use crate::config::InboundConfig;
use crate::error::error_chain;
use crate::state::AppState;
use crate::twilio::{ConferenceEvent, DeferredError, DeferredWebhook};
use crate::worker::Worker;
use crate::writebehind::{Applied, Names, SpoolError, WriteBehind};
use futures::FutureExt;
use std::sync::Arc;
use std::time::Duration;

/// The buffer's file (in `SWITCHBOARD_INBOUND__SPOOL_DIR`) and metric names.
pub const NAMES: Names = Names {
    file: "conference-events.jsonl",
    buffered: "sessions_buffered_events",
    dropped: "sessions_events_dropped_total",
    spooled: "sessions_spooled_events",
    spool_errors: "sessions_spool_errors_total",
};

/// Conference events waiting for the database, oldest first (and on disk with a spool).
pub type DeferredEvents = WriteBehind<DeferredWebhook>;

/// The buffer, on disk as well when `config` names a spool directory (replaying what it holds).
pub fn open(config: &InboundConfig) -> Result<DeferredEvents, SpoolError> {
    match &config.spool_dir {
        Some(dir) => DeferredEvents::with_spool(NAMES, dir),
        None => Ok(DeferredEvents::in_memory(NAMES)),
    }
}

/// Applies the kept conference events, in order, once the database answers again.
pub struct DeferredEventsWorker {
    state: AppState,
    deferred: Arc<DeferredEvents>,
}

impl DeferredEventsWorker {
    /// A worker applying this instance's `deferred` events.
    pub fn new(state: &AppState, deferred: Arc<DeferredEvents>) -> Self {
        deferred.export_metrics();
        DeferredEventsWorker { state: state.clone(), deferred }
    }
}

#[async_trait::async_trait]
impl Worker for DeferredEventsWorker {
    fn name(&self) -> &'static str {
        "sessions-deferred-events"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(2)
    }

    async fn run_once(&self) -> anyhow::Result<u64> {
        let state = &self.state;
        let applied = self
            .deferred
            .drain(|hook| async move {
                let s = state.clone();
                let applied = hook
                    .once::<ConferenceEvent, _>(&state.db, move |conn, event| {
                        apply_conference_event(s, conn, event).boxed()
                    })
                    .await;
                match applied {
                    Ok(_) => Applied::Done,
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
