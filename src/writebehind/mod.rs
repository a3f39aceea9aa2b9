//! Write-behind buffers: effects of webhooks that were answered while the database was away.
//! Neither a caller nor Twilio must see an error because bookkeeping is unavailable: a webhook
//! whose answer does not need the database is answered as usual and its effect is kept in a
//! bounded buffer, applied in order when the database is back.
//!
//! Applying is idempotent by the effect's own keys (a SID, the webhook receipt key), so a Twilio
//! retry that reached another replica is harmless. Per-process by nature: a replica killed while
//! effects wait loses them — the one loss left, counted by the buffer's gauges and counters —
//! unless `SWITCHBOARD_INBOUND__SPOOL_DIR` names a directory where a [`Spool`] keeps them on disk.
//!
//! Each owner (the inbound domain, the effects' status callbacks) keeps its own buffer of its own
//! item type, with its own file and metric names; this module knows none of them.

mod spool;

pub use spool::{Spool, SpoolError};

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Most items kept per buffer; beyond, the oldest are given up (and counted).
pub const CAPACITY: usize = 10_000;

/// What a buffer is called on disk and in `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    /// The spool file inside the spool directory.
    pub file: &'static str,
    /// Gauge: items waiting now.
    pub buffered: &'static str,
    /// Counter: items given up (for room, or refused for good when applied).
    pub dropped: &'static str,
    /// Gauge: lines in the spool file.
    pub spooled: &'static str,
    /// Counter: spool writes or truncations that failed.
    pub spool_errors: &'static str,
}

/// How applying one item went.
pub enum Applied<E> {
    /// Done (or found already done).
    Done,
    /// The database is still away: the item stays first and the round stops.
    Unavailable(E),
    /// Refused for good (it would be on any retry), with why: given up, loudly, and counted.
    Refused(String),
}

/// Items waiting for the database, oldest first, and their copy on disk when a spool is set.
#[derive(Debug)]
pub struct WriteBehind<T> {
    names: Names,
    // A std Mutex: never held across an await. With a spool, it is held while a line is written
    // and synced (on a blocking thread), so the file's order is the queue's.
    inner: Mutex<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T> {
    queue: VecDeque<T>,
    spool: Option<Spool<T>>,
}

impl<T> WriteBehind<T>
where
    T: Serialize + DeserializeOwned + Send + 'static,
{
    /// Items kept in memory only.
    pub fn in_memory(names: Names) -> Self {
        WriteBehind { names, inner: Mutex::new(Inner { queue: VecDeque::new(), spool: None }) }
    }

    /// Items kept in memory and in the spool in `dir`, starting with those the spool holds
    /// (answered before this process last stopped, maybe not applied).
    pub fn with_spool(names: Names, dir: &Path) -> Result<Self, SpoolError> {
        let (spool, items) = Spool::open(dir, names.file)?;
        if !items.is_empty() {
            tracing::info!(
                items = items.len(),
                spool = names.file,
                "webhook effects replayed from the spool"
            );
        }
        let inner = Inner { queue: items.into(), spool: Some(spool) };
        Ok(WriteBehind { names, inner: Mutex::new(inner) })
    }

    /// Registers every series with the metrics recorder (installed after the buffers are opened),
    /// so `/metrics` shows them before the first outage. Called by the worker that drains it.
    pub fn export_metrics(&self) {
        let inner = self.lock();
        metrics::gauge!(self.names.buffered).set(inner.queue.len() as f64);
        metrics::counter!(self.names.dropped).increment(0);
        metrics::gauge!(self.names.spooled).set(inner.spool.as_ref().map_or(0, |s| s.lines()) as f64);
        metrics::counter!(self.names.spool_errors).increment(0);
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps an item for later; with a spool, returns once it is on disk.
    pub async fn push(self: &Arc<Self>, item: T) {
        let this = self.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || this.push_blocking(item)).await {
            tracing::error!(error = %e, buffer = self.names.buffered, "keeping a webhook effect failed");
        }
    }

    fn push_blocking(&self, item: T) {
        let names = self.names;
        let mut inner = self.lock();
        if let Some(spool) = inner.spool.as_mut() {
            // Not on disk, still in memory: only a kill during the outage can lose it now.
            if let Err(e) = spool.append(&item) {
                metrics::counter!(names.spool_errors).increment(1);
                tracing::error!(error = %e, spool = names.file, "the spool cannot be written: the effect is kept in memory only");
            }
            metrics::gauge!(names.spooled).set(spool.lines() as f64);
        }
        if inner.queue.len() >= CAPACITY {
            inner.queue.pop_front();
            metrics::counter!(names.dropped).increment(1);
            tracing::error!(
                buffer = names.buffered,
                "a write-behind buffer is full: the oldest waiting effect is given up"
            );
        }
        inner.queue.push_back(item);
        metrics::gauge!(names.buffered).set(inner.queue.len() as f64);
    }

    fn pop(&self) -> Option<T> {
        let mut inner = self.lock();
        let item = inner.queue.pop_front();
        metrics::gauge!(self.names.buffered).set(inner.queue.len() as f64);
        item
    }

    fn push_front(&self, item: T) {
        let mut inner = self.lock();
        inner.queue.push_front(item);
        metrics::gauge!(self.names.buffered).set(inner.queue.len() as f64);
    }

    /// Empties the spool if nothing waits any more (checked under the same lock as `push`, so a
    /// line written meanwhile is never cut).
    fn clear_spool_if_drained(&self) {
        let names = self.names;
        let mut inner = self.lock();
        let Inner { queue, spool } = &mut *inner;
        if let Some(spool) = spool.as_mut().filter(|s| queue.is_empty() && s.lines() > 0) {
            match spool.clear() {
                Ok(()) => metrics::gauge!(names.spooled).set(0.0),
                Err(e) => {
                    metrics::counter!(names.spool_errors).increment(1);
                    tracing::error!(error = %e, spool = names.file, "the spool cannot be emptied: it is replayed (harmlessly) at the next start");
                }
            }
        }
    }

    /// Applies the waiting items in order until one finds the database still away (it stays
    /// first, so the order holds, and that error is returned); then empties the spool if nothing
    /// waits. Returns how many were applied.
    pub async fn drain<E, F, Fut>(self: &Arc<Self>, mut apply: F) -> Result<u64, E>
    where
        T: Clone,
        F: FnMut(T) -> Fut,
        Fut: Future<Output = Applied<E>>,
    {
        let mut applied = 0;
        while let Some(item) = self.pop() {
            match apply(item.clone()).await {
                Applied::Done => applied += 1,
                Applied::Unavailable(e) => {
                    self.push_front(item);
                    return Err(e);
                }
                Applied::Refused(why) => {
                    tracing::error!(error = %why, buffer = self.names.buffered, "a waiting webhook effect was refused; given up");
                    metrics::counter!(self.names.dropped).increment(1);
                }
            }
        }
        let this = self.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || this.clear_spool_if_drained()).await {
            tracing::error!(error = %e, spool = self.names.file, "emptying the spool failed");
        }
        Ok(applied)
    }

    /// How many items wait.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const NAMES: Names = Names {
        file: "unit.jsonl",
        buffered: "unit_buffered",
        dropped: "unit_dropped_total",
        spooled: "unit_spooled",
        spool_errors: "unit_spool_errors_total",
    };

    /// An effect, or one the spool cannot write (JSON has no tuple keys).
    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
    enum Item {
        Ringing(u32),
        Unwritable(BTreeMap<(u32, u32), u32>),
    }

    /// The value of the series `name` in `rendered` Prometheus text.
    fn value(rendered: &str, name: &str) -> Option<f64> {
        rendered.lines().find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
    }

    #[test]
    fn the_spool_is_counted_and_a_failed_write_keeps_the_effect_in_memory() {
        let dir = std::env::temp_dir().join(format!("switchboard-writebehind-unit-{}", uuid::Uuid::new_v4()));
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let buffer = WriteBehind::<Item>::with_spool(NAMES, &dir).expect("spool");
            buffer.export_metrics();
            assert_eq!(value(&handle.render(), NAMES.spool_errors), Some(0.0), "shown before any error");
            buffer.push_blocking(Item::Ringing(1));
            buffer.push_blocking(Item::Ringing(2));
            assert_eq!(value(&handle.render(), NAMES.spooled), Some(2.0));
            buffer.push_blocking(Item::Unwritable(BTreeMap::from([((1, 2), 3)])));
            let rendered = handle.render();
            assert_eq!(value(&rendered, NAMES.spool_errors), Some(1.0));
            assert_eq!(value(&rendered, NAMES.spooled), Some(2.0), "the file holds what it could write");
            assert_eq!(buffer.len(), 3, "the unwritable effect is still kept, in memory");
            assert_eq!(value(&rendered, NAMES.buffered), Some(3.0));
        });
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_full_buffer_gives_up_its_oldest_and_a_refused_effect_is_counted() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let buffer = Arc::new(WriteBehind::<Item>::in_memory(NAMES));
            for n in 0..=CAPACITY as u32 {
                buffer.push_blocking(Item::Ringing(n));
            }
            assert_eq!(buffer.len(), CAPACITY);
            assert_eq!(value(&handle.render(), NAMES.dropped), Some(1.0), "the oldest was given up");
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            let mut seen = Vec::new();
            let applied = runtime.block_on(buffer.drain(|item| {
                seen.push(matches!(item, Item::Ringing(n) if n == 1 || n == 2).then_some(()).is_some());
                let refused = matches!(item, Item::Ringing(2));
                async move {
                    if refused {
                        Applied::Refused("the database refuses it".into())
                    } else {
                        Applied::<()>::Done
                    }
                }
            }));
            assert_eq!(applied, Ok(CAPACITY as u64 - 1), "all but the refused one");
            assert!(seen[0], "the first left is the second pushed: the oldest went");
            assert_eq!(value(&handle.render(), NAMES.dropped), Some(2.0), "the refused one is counted too");
            assert!(buffer.is_empty());
        });
    }
}
