//! Worker heartbeats: each round of a worker beats, and `/ready` fails when this instance's
//! worker has not beaten for too long (stuck, or its task died). Per-process by nature: it
//! describes this instance.

use super::ready::{CheckResult, ReadinessCheck};
use crate::clock::Clock;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Stored in place of a beat before the first one.
const NEVER: i64 = i64::MIN;

/// The last time a worker completed (or started) a round, on the application clock (so tests
/// drive it with a manual clock instead of sleeping).
#[derive(Debug)]
pub struct Heartbeat {
    clock: Arc<dyn Clock>,
    created: DateTime<Utc>,
    // Microseconds since the epoch, or NEVER; an atomic because the worker and the probe run
    // concurrently.
    last: AtomicI64,
}

impl Heartbeat {
    /// A heartbeat that has not beaten yet; its age counts from now.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let created = clock.now();
        Heartbeat { clock, created, last: AtomicI64::new(NEVER) }
    }

    /// Records a beat now.
    pub fn beat(&self) {
        self.last.store(self.clock.now().timestamp_micros(), Ordering::Relaxed);
    }

    /// When it last beat, if ever.
    pub fn last_beat(&self) -> Option<DateTime<Utc>> {
        match self.last.load(Ordering::Relaxed) {
            NEVER => None,
            micros => DateTime::from_timestamp_micros(micros),
        }
    }

    /// Time since the last beat (since creation if it never beat); zero if the clock went back.
    pub fn age(&self) -> Duration {
        let since = self.last_beat().unwrap_or(self.created);
        (self.clock.now() - since).to_std().unwrap_or(Duration::ZERO)
    }
}

/// The heartbeats of this instance's workers.
#[derive(Debug)]
pub struct Heartbeats {
    /// The outbox delivery worker.
    pub outbox: Arc<Heartbeat>,
}

impl Heartbeats {
    /// Heartbeats on the application clock.
    pub fn new(clock: &Arc<dyn Clock>) -> Self {
        Heartbeats { outbox: Arc::new(Heartbeat::new(clock.clone())) }
    }
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
