//! Worker heartbeats: each round of a worker beats, and `/ready` fails when this instance's
//! worker has not beaten for too long (stuck, or its task died). Per-process by nature: it
//! describes this instance.

use super::ready::{CheckResult, ReadinessCheck};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The last time a worker completed (or started) a round.
#[derive(Debug)]
pub struct Heartbeat {
    origin: Instant,
    // Milliseconds since `origin`; atomics because the worker and the probe run concurrently.
    last: AtomicU64,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat { origin: Instant::now(), last: AtomicU64::new(0) }
    }
}

impl Heartbeat {
    /// Records a beat now.
    pub fn beat(&self) {
        let elapsed = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(elapsed, Ordering::Relaxed);
    }

    /// Time since the last beat (since creation if it never beat).
    pub fn age(&self) -> Duration {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(now.saturating_sub(self.last.load(Ordering::Relaxed)))
    }
}

/// The heartbeats of this instance's workers.
#[derive(Debug, Default)]
pub struct Heartbeats {
    /// The outbox delivery worker.
    pub outbox: Arc<Heartbeat>,
}

/// Fails when a worker's heartbeat is older than `max_age`.
pub struct HeartbeatCheck {
    /// The `/ready` key.
    pub name: &'static str,
    /// The worker's heartbeat.
    pub heartbeat: Arc<Heartbeat>,
    /// How old it may get.
    pub max_age: Duration,
}

#[async_trait::async_trait]
impl ReadinessCheck for HeartbeatCheck {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn check(&self) -> CheckResult {
        let age = self.heartbeat.age();
        if age <= self.max_age {
            CheckResult::ok()
        } else {
            CheckResult::error(format!("no heartbeat for {} s", age.as_secs()))
        }
    }
}
