//! The delivery worker: recover expired leases, claim a fair batch, ask each message's owner
//! whether it is still wanted, deliver outside any transaction with bounded concurrency, record
//! the outcome under the lease.

use super::http::HttpDestination;
use super::repo::{self, OutboxMessage, Outcome, Status};
use crate::config::OutboxConfig;
use crate::health::Heartbeat;
use crate::state::AppState;
use crate::worker::Worker;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Done.
    Delivered,
    /// Failed; try again later (or `dead` after the last attempt).
    Retry(String),
    /// Failed for good (e.g. HTTP 410).
    Dead(String),
    /// Keep for an operator.
    Park(String),
    /// No longer wanted.
    Cancel(String),
    /// Not attempted (paced, or waiting for a callback): look again after this long, without
    /// counting an attempt.
    Defer(chrono::Duration),
}

/// Where messages go.
#[async_trait::async_trait]
pub trait Destination: Send + Sync {
    /// Delivers one message.
    async fn deliver(&self, message: &OutboxMessage) -> Delivery;
    /// Whether this destination's messages are delivered one by one in priority order (paced
    /// destinations: the most urgent message must get the next token).
    fn sequential(&self) -> bool {
        false
    }
}

/// A domain's answer to "is this effect still wanted?" (a crisis that expired, a cancelled run).
#[async_trait::async_trait]
pub trait StillWanted: Send + Sync {
    /// `Ok(false)` cancels the message.
    async fn still_wanted(&self, message: &OutboxMessage) -> Result<bool, sqlx::Error>;
}

/// Destinations by name and "still wanted" hooks by owning domain.
#[derive(Default, Clone)]
pub struct Registry {
    destinations: HashMap<String, Arc<dyn Destination>>,
    hooks: HashMap<String, Arc<dyn StillWanted>>,
}

impl Registry {
    /// A registry with the downstream services' HTTP destinations (`call_service`, `bot`,
    /// `dispatch`; parked when their URL is unset). Startup adds the rest: the effects'
    /// destinations and hooks, and each domain's destinations.
    pub fn notifications(state: &AppState) -> Registry {
        let mut registry = Registry::default();
        let notify = &state.config.notify;
        for (name, url) in [
            ("call_service", &notify.call_service_url),
            ("bot", &notify.bot_url),
            ("dispatch", &notify.dispatch_url),
        ] {
            registry.destination(name, Arc::new(HttpDestination::new(state, url.clone())));
        }
        registry
    }

    /// Adds a destination.
    pub fn destination(&mut self, name: &str, destination: Arc<dyn Destination>) -> &mut Self {
        self.destinations.insert(name.to_owned(), destination);
        self
    }

    /// The names of the registered destinations.
    pub fn destination_names(&self) -> impl Iterator<Item = &str> {
        self.destinations.keys().map(String::as_str)
    }

    /// Adds a domain's hook.
    pub fn hook(&mut self, domain: &str, hook: Arc<dyn StillWanted>) -> &mut Self {
        self.hooks.insert(domain.to_owned(), hook);
        self
    }
}

/// Delivers the outbox.
pub struct OutboxWorker {
    state: AppState,
    registry: Registry,
    heartbeat: Arc<Heartbeat>,
    // When lease recovery and the backlog gauges last ran (application clock): at most once a
    // second, not on every round — a busy outbox runs many small rounds.
    housekept: std::sync::Mutex<Option<DateTime<Utc>>>,
}

/// Housekeeping (lease recovery, gauges) runs at most this often.
const HOUSEKEEPING_EVERY: chrono::Duration = chrono::Duration::seconds(1);

impl OutboxWorker {
    /// A worker delivering to the destinations and asking the hooks of `registry`.
    pub fn new(state: &AppState, registry: Registry) -> Self {
        OutboxWorker {
            state: state.clone(),
            registry,
            heartbeat: state.heartbeats.outbox.clone(),
            housekept: std::sync::Mutex::new(None),
        }
    }

    async fn deliver_one(&self, message: &OutboxMessage) -> Delivery {
        if let Some(domain) = message.owner_domain.as_deref() {
            // An owner this binary does not know (a domain forgotten, or a newer replica's during a
            // rolling deploy) must not be guessed at: park it until a replica that knows it runs.
            let Some(hook) = self.registry.hooks.get(domain) else {
                tracing::warn!(owner.domain = domain, "outbox message of an unknown owning domain parked");
                return Delivery::Park(repo::UNKNOWN_OWNER_DOMAIN.into());
            };
            match hook.still_wanted(message).await {
                Ok(false) => return Delivery::Cancel("no longer wanted".into()),
                Ok(true) => {}
                Err(e) => return Delivery::Retry(format!("still-wanted check failed: {e}")),
            }
        }
        match self.registry.destinations.get(&message.destination) {
            Some(destination) => destination.deliver(message).await,
            None => Delivery::Park("destination_not_configured".into()),
        }
    }

    async fn handle(&self, message: OutboxMessage) -> Outcome {
        let delivery = self.deliver_one(&message).await;
        self.outcome(&message, &delivery)
    }

    fn outcome(&self, message: &OutboxMessage, delivery: &Delivery) -> Outcome {
        let now = self.state.clock.now();
        let config = &self.state.config.outbox;
        let (status, next, error, label) = match delivery {
            Delivery::Delivered => (Status::Delivered, now, None, "delivered"),
            Delivery::Defer(wait) => (Status::Pending, now + *wait, None, "deferred"),
            Delivery::Retry(e) if message.attempts >= config.max_attempts => {
                (Status::Dead, now, Some(e), "dead")
            }
            Delivery::Retry(e) => {
                (Status::Pending, now + backoff(config, message.attempts), Some(e), "retry")
            }
            Delivery::Dead(e) => (Status::Dead, now, Some(e), "dead"),
            Delivery::Park(e) => (Status::Parked, now, Some(e), "parked"),
            Delivery::Cancel(e) => (Status::Cancelled, now, Some(e), "cancelled"),
        };
        metrics::counter!("outbox_deliveries_total", "destination" => message.destination.clone(), "result" => label)
            .increment(1);
        Outcome {
            id: message.id,
            lease_id: message.lease_id,
            status,
            next_attempt_at: next,
            error: error.cloned(),
            refund: matches!(delivery, Delivery::Defer(_)),
        }
    }

    /// Lease recovery and gauges, at most once a second.
    async fn housekeeping(&self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        {
            let mut last = self.housekept.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| now - t < HOUSEKEEPING_EVERY) {
                return Ok(());
            }
            *last = Some(now);
        }
        let recovered = repo::recover_expired(&self.state.db, now).await?;
        if recovered > 0 {
            tracing::warn!(recovered, "outbox deliveries whose lease expired are due again");
        }
        let domains: Vec<String> = self.registry.hooks.keys().cloned().collect();
        let released = repo::release_known_domains(&self.state.db, &domains, now).await?;
        if released > 0 {
            tracing::info!(released, "parked messages of a domain this replica knows are due again");
        }
        self.update_gauges(now).await
    }

    async fn update_gauges(&self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let (pending, oldest) = repo::backlog(&self.state.db).await?;
        metrics::gauge!("outbox_pending").set(pending as f64);
        let age = oldest.map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
        metrics::gauge!("outbox_oldest_pending_seconds").set(age);
        Ok(())
    }
}

/// Full jitter: a random wait up to `base · 2^(attempt-1)`, capped (seconds, minutes, hours).
pub fn backoff(config: &OutboxConfig, attempt: i32) -> chrono::Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(20);
    let step = config.backoff_base.saturating_mul(1 << exponent).min(config.backoff_max);
    let millis = u64::try_from(step.as_millis()).unwrap_or(u64::MAX).max(1);
    let wait = rand::rng().random_range(0..=millis);
    chrono::Duration::milliseconds(i64::try_from(wait).unwrap_or(i64::MAX))
}

#[async_trait::async_trait]
impl Worker for OutboxWorker {
    fn name(&self) -> &'static str {
        "outbox"
    }

    fn interval(&self) -> Duration {
        self.state.config.outbox.poll_interval
    }

    fn waker(&self) -> Option<Arc<Notify>> {
        Some(self.state.outbox_wake.clone())
    }

    fn coalesce(&self) -> Duration {
        // Commits wake the worker one by one; a short wait turns a burst into one round.
        Duration::from_millis(20)
    }

    async fn run_once(&self) -> anyhow::Result<u64> {
        self.heartbeat.beat();
        let config = &self.state.config.outbox;
        let now = self.state.clock.now();
        self.housekeeping(now).await?;
        let lease = chrono::Duration::from_std(config.lease).unwrap_or(chrono::Duration::seconds(60));
        let batch = repo::claim(&self.state.db, now, lease, config.batch_size, config.per_tenant).await?;
        let handled = batch.len() as u64;
        let (mut in_order, concurrent): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|m| self.registry.destinations.get(&m.destination).is_some_and(|d| d.sequential()));
        // Most urgent first: a paced destination's next token goes to the highest priority.
        in_order.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.next_attempt_at.cmp(&b.next_attempt_at)));
        let sequential = async {
            let mut outcomes = Vec::with_capacity(in_order.len());
            for message in in_order {
                outcomes.push(self.handle(message).await);
            }
            outcomes
        };
        let parallel = futures::stream::iter(concurrent)
            .map(|message| self.handle(message))
            .buffer_unordered(config.concurrency)
            .collect::<Vec<_>>();
        let (mut outcomes, parallel) = tokio::join!(sequential, parallel);
        outcomes.extend(parallel);
        let recorded = repo::finish_all(&self.state.db, &outcomes, self.state.clock.now()).await?;
        if recorded < handled {
            tracing::warn!(lost = handled - recorded, "outbox leases lost before the outcomes were recorded");
        }
        Ok(handled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Draws per attempt: enough that a bound never reached (or one value always drawn) is
    /// a certainty, not a chance (each has probability 2^-SAMPLES at most).
    const SAMPLES: usize = 2000;

    /// The defaults: a first step of 5 s, capped at 6 h.
    const BASE_MS: i64 = 5_000;
    const CAP_MS: i64 = 6 * 3600 * 1000;

    fn config(base: Duration, max: Duration) -> OutboxConfig {
        OutboxConfig {
            max_attempts: 12,
            backoff_base: base,
            backoff_max: max,
            batch_size: 100,
            per_tenant: 10,
            lease: Duration::from_secs(60),
            concurrency: 16,
            poll_interval: Duration::from_secs(1),
            http_timeout: Duration::from_secs(10),
        }
    }

    fn defaults() -> OutboxConfig {
        config(Duration::from_millis(BASE_MS as u64), Duration::from_millis(CAP_MS as u64))
    }

    /// `SAMPLES` waits before retrying after `attempt` failed attempts, in milliseconds.
    fn waits(config: &OutboxConfig, attempt: i32) -> Vec<i64> {
        (0..SAMPLES).map(|_| backoff(config, attempt).num_milliseconds()).collect()
    }

    #[test]
    fn each_retry_waits_a_random_time_up_to_a_step_that_doubles() {
        let config = defaults();
        // 5 s · 2^12 = 5.7 h: attempts 1 to 13 are below the cap.
        for attempt in 1..=13 {
            let step = BASE_MS << (attempt - 1);
            assert!(step < CAP_MS);
            let drawn = waits(&config, attempt);
            let (least, most) = (drawn.iter().min().copied(), drawn.iter().max().copied());
            assert!(
                drawn.iter().all(|w| (0..=step).contains(w)),
                "attempt {attempt}: every wait within [0, {step}] ms, saw {least:?}..{most:?}"
            );
            assert!(
                most.is_some_and(|m| m > step / 2),
                "attempt {attempt}: the waits reach towards {step} ms, the largest was {most:?}"
            );
            assert!(
                least.is_some_and(|l| l < step / 2),
                "attempt {attempt}: full jitter reaches down towards 0, the least was {least:?}"
            );
            let distinct = drawn.iter().collect::<HashSet<_>>().len();
            assert!(distinct > 100, "attempt {attempt}: jittered, not one wait ({distinct} distinct)");
        }
    }

    #[test]
    fn the_first_retry_waits_at_most_the_base() {
        let config = config(Duration::from_secs(2), Duration::from_secs(3600));
        let drawn = waits(&config, 1);
        assert!(drawn.iter().all(|w| (0..=2_000).contains(w)), "{:?}", drawn.iter().max());
        assert!(drawn.iter().any(|w| *w > 1_000), "{:?}", drawn.iter().max());
    }

    #[test]
    fn however_many_attempts_a_wait_never_exceeds_the_cap() {
        let config = defaults();
        for attempt in [14, 15, 20, 21, 22, 31, 32, 64, 1_000, i32::MAX] {
            let drawn = waits(&config, attempt);
            let most = drawn.iter().max().copied();
            assert!(
                drawn.iter().all(|w| (0..=CAP_MS).contains(w)),
                "attempt {attempt}: capped at {CAP_MS} ms, saw up to {most:?}"
            );
            assert!(
                most.is_some_and(|m| m > CAP_MS / 2),
                "attempt {attempt}: at the cap the waits still spread up to it, the largest was {most:?}"
            );
            let distinct = drawn.iter().collect::<HashSet<_>>().len();
            assert!(distinct > 100, "attempt {attempt}: still jittered at the cap ({distinct} distinct)");
        }
    }

    #[test]
    fn a_cap_below_the_doubled_step_holds_from_the_second_attempt() {
        // A cap of 7 s over a base of 5 s: the second step (10 s) is already capped.
        let config = config(Duration::from_secs(5), Duration::from_secs(7));
        for attempt in 2..=6 {
            let drawn = waits(&config, attempt);
            let most = drawn.iter().max().copied();
            assert!(drawn.iter().all(|w| (0..=7_000).contains(w)), "attempt {attempt}: {most:?}");
            assert!(most.is_some_and(|m| m > 5_000), "attempt {attempt}: beyond the base, {most:?}");
        }
    }
}
