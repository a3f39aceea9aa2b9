//! Writes that could not reach the database while a call rang. The caller must not hear an error
//! because bookkeeping is unavailable: the call is answered from the cached routing and its record
//! is kept here, bounded, and written when the database is back. Per-process by nature — a crash
//! loses at most these records, never a call — and counted by metrics.

use super::calls::NewCall;
use crate::state::AppState;
use crate::worker::Worker;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most records kept; beyond, the oldest are given up (and counted).
pub const CAPACITY: usize = 10_000;

/// Records waiting for the database.
#[derive(Debug, Default)]
pub struct PendingCalls {
    // A std Mutex: held only to push or pop, never across an await.
    queue: Mutex<VecDeque<NewCall>>,
}

impl PendingCalls {
    /// Keeps a record for later.
    pub fn push(&self, call: NewCall) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.len() >= CAPACITY {
            queue.pop_front();
            metrics::counter!("inbound_dropped_writes_total").increment(1);
        }
        queue.push_back(call);
        metrics::gauge!("inbound_pending_writes").set(queue.len() as f64);
    }

    fn pop(&self) -> Option<NewCall> {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let call = queue.pop_front();
        metrics::gauge!("inbound_pending_writes").set(queue.len() as f64);
        call
    }

    fn push_front(&self, call: NewCall) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.push_front(call);
        metrics::gauge!("inbound_pending_writes").set(queue.len() as f64);
    }

    /// How many records wait.
    pub fn len(&self) -> usize {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Writes the pending records once the database answers again.
pub struct PendingCallsWorker {
    state: AppState,
    pending: Arc<PendingCalls>,
}

impl PendingCallsWorker {
    /// A worker writing this instance's `pending` calls.
    pub fn new(state: &AppState, pending: Arc<PendingCalls>) -> Self {
        PendingCallsWorker { state: state.clone(), pending }
    }
}

#[async_trait::async_trait]
impl Worker for PendingCallsWorker {
    fn name(&self) -> &'static str {
        "inbound-pending-calls"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(2)
    }

    async fn run_once(&self) -> anyhow::Result<u64> {
        let mut written = 0;
        while let Some(call) = self.pending.pop() {
            if let Err(e) = super::voice::record_ringing(&self.state, &call).await {
                self.pending.push_front(call);
                return Err(e.into());
            }
            written += 1;
        }
        if written > 0 {
            crate::outbox::wake(&self.state);
        }
        Ok(written)
    }
}
