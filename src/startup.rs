//! Building and running the application.
//!
//! [`Application::build`] binds the listener (port 0 in tests) and assembles the state;
//! [`Application::run_until_stopped`] serves until the given token is cancelled, then shuts down
//! in order: `/ready` answers 503 at once, requests are still served for the drain delay (so load
//! balancers notice and stop sending), the listener closes, in-flight requests get a bounded time
//! to finish, background tasks stop between jobs, and the pool closes.

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::health::{
    ConfigWarnings, DatabaseCheck, HeartbeatCheck, Heartbeats, MigrationsCheck, ReadinessRegistry,
};
use crate::state::AppState;
use crate::twilio::TwilioClient;
use crate::{db, health, http, workers};
use anyhow::Context;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Replaceable parts, for tests and the emulator.
#[derive(Default)]
pub struct Overrides {
    /// The clock; the system clock when `None`.
    pub clock: Option<Arc<dyn Clock>>,
    /// A pool to use instead of one built from the configuration.
    pub pool: Option<sqlx::PgPool>,
    /// Extra routes merged into the application, behind the same layers (tests mount probes of
    /// their own here; the emulator's embedding does too).
    pub routes: Option<axum::Router<AppState>>,
    /// Extra owners of Twilio effects (tests register an observing domain).
    pub effect_owners: Vec<(String, Arc<dyn crate::effects::EffectOwner>)>,
}

/// A built, not yet running, application.
pub struct Application {
    listener: TcpListener,
    port: u16,
    state: AppState,
    extra_routes: Option<axum::Router<AppState>>,
}

impl Application {
    /// Builds with the system clock and a pool from the configuration.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, Overrides::default()).await
    }

    /// Builds with replaced parts.
    pub async fn build_with(config: Config, overrides: Overrides) -> anyhow::Result<Self> {
        let pool = match overrides.pool {
            Some(pool) => pool,
            None => db::pool(&config.db)?,
        };
        let listener = TcpListener::bind(&config.server.listen_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen_addr))?;
        let port = listener.local_addr()?.port();
        let mut readiness = ReadinessRegistry::default();
        readiness.register(Arc::new(DatabaseCheck(pool.clone())));
        readiness.register(Arc::new(MigrationsCheck(pool.clone())));
        for warning in ConfigWarnings::from_config(&config) {
            readiness.register(Arc::new(warning));
        }
        if config.twilio.insecure_skip_signature {
            tracing::warn!(
                "SWITCHBOARD_INSECURE_SKIP_SIGNATURE=true: webhook signatures are NOT verified (development only)"
            );
        }
        let twilio = Arc::new(TwilioClient::new(&config.twilio).context("cannot build the Twilio client")?);
        let heartbeats = Arc::new(Heartbeats::default());
        if config.workers.enabled {
            // A round at least every poll interval; allow for a slow round before calling it stuck.
            let max_age = config.outbox.poll_interval.max(std::time::Duration::from_secs(1)) * 5
                + config.outbox.http_timeout * 2;
            readiness.register(Arc::new(HeartbeatCheck {
                name: "outbox_worker",
                heartbeat: heartbeats.outbox.clone(),
                max_age,
            }));
        }
        let http = crate::net::client_builder().timeout(config.outbox.http_timeout).build()?;
        let clock: Arc<dyn Clock> = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let state = AppState {
            db: pool,
            config: Arc::new(config),
            clock: clock.clone(),
            readiness: Arc::new(readiness),
            metrics: health::metrics::handle(),
            twilio,
            directory: Arc::default(),
            outbox_wake: Arc::default(),
            heartbeats,
            http,
            effect_owners: Arc::new(effect_owners(&clock, overrides.effect_owners)),
            crisis_wake: Arc::default(),
            pending_calls: Arc::default(),
        };
        Ok(Application { listener, port, state, extra_routes: overrides.routes })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state (tests drive workers with it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` is cancelled, then shuts down gracefully.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Application { listener, state, extra_routes, .. } = self;
        let server_config = state.config.server.clone();
        tracing::info!(port = listener.local_addr()?.port(), "listening");

        let tasks = TaskTracker::new();
        let workers_token = CancellationToken::new();
        if state.config.workers.enabled {
            workers::spawn_all(&state, &tasks, &workers_token);
        }

        let stop_accepting = CancellationToken::new();
        let app = http::router(state.clone(), extra_routes);
        let server =
            axum::serve(listener, app).with_graceful_shutdown(stop_accepting.clone().cancelled_owned());
        let mut server = tokio::spawn(async move { server.await });

        tokio::select! {
            result = &mut server => {
                workers_token.cancel();
                return result.context("server task failed")?.context("server failed");
            }
            () = shutdown.cancelled() => {}
        }

        state.readiness.shutdown.begin();
        tracing::info!(drain_ms = server_config.drain_delay.as_millis() as u64, "shutdown: draining");
        tokio::time::sleep(server_config.drain_delay).await;
        stop_accepting.cancel();
        match tokio::time::timeout(server_config.shutdown_timeout, &mut server).await {
            Ok(result) => result.context("server task failed")?.context("server failed")?,
            Err(_) => {
                tracing::warn!("shutdown: in-flight requests did not finish in time");
                server.abort();
            }
        }

        workers_token.cancel();
        tasks.close();
        if tokio::time::timeout(server_config.shutdown_timeout, tasks.wait()).await.is_err() {
            tracing::warn!("shutdown: background tasks did not stop in time");
        }
        state.db.close().await;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

/// Every domain that creates calls or messages, plus the overrides'.
fn effect_owners(
    clock: &Arc<dyn Clock>,
    extra: Vec<(String, Arc<dyn crate::effects::EffectOwner>)>,
) -> crate::effects::EffectOwners {
    let mut owners = crate::effects::EffectOwners::default();
    owners
        .register(crate::approvals::DOMAIN, Arc::new(crate::approvals::CrisesOwner { clock: clock.clone() }));
    owners.register(crate::inbound::DOMAIN, Arc::new(crate::inbound::InboundOwner { clock: clock.clone() }));
    for (domain, owner) in extra {
        owners.register(&domain, owner);
    }
    owners
}
