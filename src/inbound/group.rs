//! Group commit of webhook writes. One writer per replica gathers the writes of concurrent
//! webhooks (ringing calls, call status callbacks) into one transaction, so a burst pays one
//! `BEGIN … COMMIT` (and one WAL flush) for many webhooks instead of one each. Each handler answers
//! only after its batch committed, so a 200 still means its rows are in PostgreSQL (the
//! database-down buffer of [`super::pending`] aside, as before).
//!
//! The writer holds no authoritative state: a write waits in its channel only while its handler
//! waits for the answer, and a replica killed meanwhile answered none of them. A batch is written
//! when it is full, or at once when the writer is idle; it lingers for more only while another
//! batch is committing or several writes already wait. Within a batch keys are taken in one order
//! (byte order of the `CallSid`, [`super::batch`]), so two replicas' batches wait for each other
//! instead of deadlocking; a duplicate inside a batch is answered from its first occurrence; a
//! batch that fails for any reason but the database being away is retried item by item, so one
//! bad row never fails its neighbours.

use super::batch;
use super::calls::NewCall;
use super::status::{self, StatusWrite};
use super::voice;
use crate::config::InboundConfig;
use crate::state::AppState;
use crate::twilio::WebhookError;
use futures::future::BoxFuture;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

/// Batches that failed and were retried write by write.
const RETRIED: &str = "inbound_group_commit_retried_total";

/// How long a batch's transaction took, from asking for a connection to its commit.
const WRITE_SECONDS: &str = "inbound_group_commit_write_seconds";

/// Writes waiting for a batch, at most (handlers wait beyond, which is the back-pressure).
const QUEUE: usize = 4096;

/// A webhook's write.
#[derive(Debug, Clone)]
pub(super) enum Write {
    /// A ringing call and, when new, its `call.incoming`.
    Ringing(NewCall),
    /// A number's call status callback.
    Status(Box<StatusWrite>),
}

impl Write {
    /// The call it writes.
    pub(super) fn sid(&self) -> &str {
        match self {
            Write::Ringing(call) => &call.sid,
            Write::Status(write) => write.update.call.call_sid.as_str(),
        }
    }

    /// Equal for the same webhook repeated (answered from its first occurrence in a batch).
    pub(super) fn same_as(&self, other: &Write) -> bool {
        match (self, other) {
            (Write::Ringing(a), Write::Ringing(b)) => a.sid == b.sid,
            (Write::Status(a), Write::Status(b)) => {
                a.update.call.call_sid == b.update.call.call_sid
                    && a.update.call.call_status == b.update.call.call_status
                    && a.update.sequence == b.update.sequence
            }
            _ => false,
        }
    }

    /// Writes it alone, in its own transaction (the item-by-item retry).
    async fn write_alone(&self, state: &AppState) -> Result<(), WebhookError> {
        match self {
            Write::Ringing(call) => Ok(voice::record_ringing(state, call).await?),
            Write::Status(write) => status::write_alone(state, write).await,
        }
    }
}

/// What a handler hears back: committed, or why not (shared by the duplicates of a batch).
pub(super) type Outcome = Result<(), Arc<WebhookError>>;

/// A write and the handler waiting for it.
pub(super) struct Job {
    pub(super) write: Write,
    pub(super) reply: oneshot::Sender<Outcome>,
}

/// A test-only hook into the writer (never set by the binary: [`crate::startup::Overrides`]).
pub trait GroupCommitProbe: Send + Sync {
    /// A write was handed to the writer.
    fn submitted(&self) {}
    /// A batch of these distinct calls (in the order their keys are taken) is about to be written.
    fn batch(&self, _sids: &[String]) {}
    /// Whether the next batch's commit is to be held: it is then written inside `BEGIN … COMMIT`
    /// (even a batch that would be one statement on its own) so [`Self::before_commit`] can hold
    /// it open.
    fn holds_commit(&self) -> bool {
        false
    }
    /// A batch of these calls is written and about to commit; the commit waits for the future
    /// (a failpoint: a test holds it open and kills the server).
    fn before_commit(&self, _sids: &[String]) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// The writer's settings.
#[derive(Debug, Clone, Copy)]
struct Settings {
    max_batch: usize,
    linger: Duration,
    in_flight: usize,
}

/// This replica's writer: started with the first write.
pub struct GroupCommit {
    settings: Settings,
    probe: Option<Arc<dyn GroupCommitProbe>>,
    sender: OnceLock<mpsc::Sender<Job>>,
}

impl GroupCommit {
    /// A writer with `config`'s settings and, in tests, a probe.
    pub fn new(config: &InboundConfig, probe: Option<Arc<dyn GroupCommitProbe>>) -> Self {
        let settings = Settings {
            max_batch: config.group_commit_max_batch.max(1),
            linger: config.group_commit_linger,
            in_flight: config.group_commit_in_flight.max(1),
        };
        GroupCommit { settings, probe, sender: OnceLock::new() }
    }

    /// Registers the writer's counter, so `/metrics` shows it at zero before the first retry.
    pub(super) fn export_metrics(&self) {
        metrics::counter!(RETRIED).increment(0);
    }

    /// Writes `write` with its neighbours; returns once its batch committed (or failed).
    pub(super) async fn submit(&self, state: &AppState, write: Write) -> Outcome {
        let sender = self.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(run(state.clone(), self.settings, self.probe.clone(), receiver));
            sender
        });
        let (reply, answer) = oneshot::channel();
        // The writer only goes away with the process: its writes are then as good as unanswered,
        // and the handler keeps the effect for later as it would with the database away.
        let gone = || Arc::new(WebhookError::Database(sqlx::Error::PoolClosed));
        sender.send(Job { write, reply }).await.map_err(|_| gone())?;
        if let Some(probe) = &self.probe {
            probe.submitted();
        }
        answer.await.map_err(|_| gone())?
    }
}

/// The writer: gathers a batch whenever a slot is free and commits it on its own task.
async fn run(
    state: AppState,
    settings: Settings,
    probe: Option<Arc<dyn GroupCommitProbe>>,
    mut receiver: mpsc::Receiver<Job>,
) {
    let slots = Arc::new(Semaphore::new(settings.in_flight));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let Some(jobs) = gather(&mut receiver, settings, &slots).await else { return };
        tokio::spawn(commit(state.clone(), jobs, probe.clone(), slot));
    }
}

/// The next batch: what waits now, and — when other batches are committing or several writes
/// wait — what comes within the linger, up to the batch size. `None` once no handler can write.
async fn gather(
    receiver: &mut mpsc::Receiver<Job>,
    settings: Settings,
    slots: &Semaphore,
) -> Option<Vec<Job>> {
    let first = receiver.recv().await?;
    let mut jobs = vec![first];
    while jobs.len() < settings.max_batch {
        match receiver.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
    // Our own slot is taken: any other missing one is a batch committing now.
    let busy = slots.available_permits() + 1 < settings.in_flight;
    if (busy || jobs.len() > 1) && !settings.linger.is_zero() {
        let deadline = tokio::time::Instant::now() + settings.linger;
        while jobs.len() < settings.max_batch {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(job)) => jobs.push(job),
                _ => break,
            }
        }
    }
    Some(jobs)
}

/// Commits a batch and answers its handlers; on failure retries item by item.
async fn commit(
    state: AppState,
    jobs: Vec<Job>,
    probe: Option<Arc<dyn GroupCommitProbe>>,
    _slot: OwnedSemaphorePermit,
) {
    let entries = batch::plan(jobs);
    metrics::histogram!(crate::health::metrics::BATCH_SIZE).record(entries.len() as f64);
    if let Some(probe) = &probe {
        probe.batch(&entries.iter().map(|e| e.write.sid().to_owned()).collect::<Vec<_>>());
    }
    let started = std::time::Instant::now();
    let written = batch::write(&state, &entries, probe.as_deref()).await;
    metrics::histogram!(WRITE_SECONDS).record(started.elapsed().as_secs_f64());
    match written {
        Ok(()) => batch::answer_all(entries, &Ok(())),
        Err(e) if entries.len() == 1 || super::pending::is_unavailable(&e) => {
            batch::answer_all(entries, &Err(Arc::new(e)));
        }
        Err(e) => {
            tracing::warn!(error = %crate::error::error_chain(&e), writes = entries.len(),
                "a group commit failed: retrying its writes one by one");
            metrics::counter!(RETRIED).increment(1);
            for entry in entries {
                let outcome = entry.write.write_alone(&state).await.map_err(Arc::new);
                entry.answer(&outcome);
            }
        }
    }
}
