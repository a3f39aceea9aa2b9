//! Building and running the application.
//!
//! [`Application::build`] binds the listener (port 0 in tests) and assembles the state;
//! [`Application::run_until_stopped`] serves until the given token is cancelled, then shuts down
//! in order: `/ready` answers 503 at once, requests are still served for the drain delay (so load
//! balancers notice and stop sending), the listener closes, in-flight requests get a bounded time
//! to finish, background tasks stop between jobs, and the pool closes.

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::{self, Domain};
use crate::effects::EffectOwners;
use crate::health::{
    ConfigWarnings, DatabaseCheck, HeartbeatCheck, Heartbeats, MigrationsCheck, ReadinessRegistry,
};
use crate::state::AppState;
use crate::tenants::NumberDirectory;
use crate::twilio::{ReceiptSweeper, TwilioClient};
use crate::worker::Worker;
use crate::{
    approvals, audit, auth, console, db, effects, health, http, idempotency, inbound, openapi, outbound,
    outbox, sessions, tenants, workers,
};
use anyhow::Context;
use axum::Router;
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
    /// their own here).
    pub routes: Option<Router<AppState>>,
    /// Extra domains, plugged in like the built-in ones (tests register observing domains).
    pub domains: Vec<Arc<dyn Domain>>,
    /// A probe into the inbound group-commit writer (tests: a failpoint before its commit).
    pub group_commit_probe: Option<Arc<dyn inbound::GroupCommitProbe>>,
}

/// The domains this binary runs. Adding a domain is one line here (the architecture test reads
/// this list, so a new domain is held to its rules at once). `probe`: tests only.
pub fn domains(
    directory: &Arc<NumberDirectory>,
    config: &Config,
    probe: Option<Arc<dyn inbound::GroupCommitProbe>>,
) -> anyhow::Result<Vec<Arc<dyn Domain>>> {
    Ok(vec![
        Arc::new(approvals::Approvals::default()),
        Arc::new(inbound::Inbound::new(directory.clone(), &config.inbound, probe)?),
        Arc::new(sessions::Sessions::new(&config.inbound)?),
        Arc::new(crate::sessions::sirens::Sirens),
        Arc::new(outbound::Outbound::default()),
    ])
}

/// A built, not yet running, application.
pub struct Application {
    listener: TcpListener,
    port: u16,
    state: AppState,
    domains: Vec<Arc<dyn Domain>>,
    routers: Vec<Router<AppState>>,
    routes: Vec<openapi::Route>,
    document: Arc<utoipa::openapi::OpenApi>,
    workers: Vec<Arc<dyn Worker>>,
    registry: outbox::Registry,
    directory: Arc<NumberDirectory>,
}

impl Application {
    /// Builds with the system clock and a pool from the configuration.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, Overrides::default()).await
    }

    /// Builds with replaced parts. Fails when a domain cannot be plugged in (one requesting Twilio
    /// effects without an owner).
    pub async fn build_with(config: Config, overrides: Overrides) -> anyhow::Result<Self> {
        let clock: Arc<dyn Clock> = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let directory = Arc::new(NumberDirectory::new(clock.clone()));
        let mut domains = domains(&directory, &config, overrides.group_commit_probe)?;
        domains.extend(overrides.domains);
        let owners = Arc::new(domain::check_effects(&domains, &clock)?);
        let deferred = Arc::new(effects::deferred::open(&config.inbound)?);
        let pool = match overrides.pool {
            Some(pool) => pool,
            None => db::pool(&config.db)?,
        };
        let listener = TcpListener::bind(&config.server.listen_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen_addr))?;
        let port = listener.local_addr()?.port();
        let heartbeats = Arc::new(Heartbeats::new(&clock));
        let readiness = readiness(&config, &pool, &heartbeats, &domains);
        if config.twilio.insecure_skip_signature {
            tracing::warn!(
                "SWITCHBOARD_INSECURE_SKIP_SIGNATURE=true: webhook signatures are NOT verified (development only)"
            );
        }
        let twilio = Arc::new(TwilioClient::new(&config.twilio).context("cannot build the Twilio client")?);
        let http = crate::net::client_builder().timeout(config.outbox.http_timeout).build()?;
        let listen_db = db::listen_pool(&config.db, &pool)?;
        let state = AppState {
            db: pool,
            listen_db,
            webhooks: Arc::new(crate::state::webhook_settings(&config)),
            config: Arc::new(config),
            clock,
            readiness: Arc::new(readiness),
            metrics: health::metrics::handle(),
            twilio,
            outbox_wake: Arc::default(),
            heartbeats,
            http,
        };
        let registry = outbox_registry(&state, &owners, &domains);
        // The core's routes, documents and route lists, then each domain's: a domain documents
        // its own routes, nothing here lists them.
        let core = [
            health::openapi(),
            auth::openapi(),
            tenants::openapi(),
            audit::openapi(),
            outbox::openapi(),
            effects::openapi(),
        ];
        let document =
            Arc::new(openapi::document(core.into_iter().chain(domains.iter().map(|d| d.openapi()))));
        let core_routes = [
            openapi::ROUTES,
            health::ROUTES,
            auth::ROUTES,
            tenants::ROUTES,
            audit::ROUTES,
            outbox::ROUTES,
            effects::ROUTES,
        ];
        let routes =
            core_routes.into_iter().chain(domains.iter().map(|d| d.routes())).flatten().copied().collect();
        let mut routers = vec![
            openapi::router(document.clone()),
            health::router(),
            auth::router(),
            tenants::router(directory.clone()),
            audit::router(),
            outbox::router(&registry),
            effects::router(owners.clone(), deferred.clone()),
        ];
        routers.extend(domains.iter().map(|d| d.router()));
        routers.push(console_router(&registry, &domains, directory.clone()));
        routers.extend(overrides.routes);
        let mut workers: Vec<Arc<dyn Worker>> = vec![
            Arc::new(outbox::OutboxWorker::new(&state, registry.clone())),
            Arc::new(ReceiptSweeper::new(state.db.clone(), state.clock.clone())),
            Arc::new(idempotency::IdempotencySweeper::new(&state)),
            Arc::new(effects::deferred::DeferredCallbacksWorker::new(&state, owners, deferred)),
        ];
        workers.extend(domains.iter().flat_map(|d| d.workers(&state)));
        Ok(Application {
            listener,
            port,
            state,
            domains,
            routers,
            routes,
            document,
            workers,
            registry,
            directory,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every route the router serves (method, path), from the lists kept next to each router.
    pub fn routes(&self) -> &[openapi::Route] {
        &self.routes
    }

    /// The OpenAPI document served at `/api/openapi.json`.
    pub fn openapi(&self) -> &utoipa::openapi::OpenApi {
        &self.document
    }

    /// The shared state (tests drive workers with it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Every worker, spawned or not (tests drive them with `run_once()`), by name.
    pub fn workers(&self) -> &[Arc<dyn Worker>] {
        &self.workers
    }

    /// The outbox's destinations and hooks (tests build workers with extra destinations).
    pub fn outbox_registry(&self) -> &outbox::Registry {
        &self.registry
    }

    /// The called-number directory (tests watch its cache).
    pub fn directory(&self) -> &Arc<NumberDirectory> {
        &self.directory
    }

    /// Serves until `shutdown` is cancelled, then shuts down gracefully.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Application { listener, state, domains, routers, workers, .. } = self;
        let server_config = state.config.server.clone();
        tracing::info!(port = listener.local_addr()?.port(), "listening");

        let tasks = TaskTracker::new();
        let workers_token = CancellationToken::new();
        if state.config.workers.enabled {
            let background = domains.iter().flat_map(|d| d.tasks(&state, workers_token.clone())).collect();
            workers::spawn_all(&workers, background, &tasks, &workers_token);
        }

        let stop_accepting = CancellationToken::new();
        let app = http::router(state.clone(), routers);
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

/// The operator console: each domain's pages (what is happening now), then the core modules'.
fn console_router(
    registry: &outbox::Registry,
    domains: &[Arc<dyn Domain>],
    directory: Arc<tenants::NumberDirectory>,
) -> Router<AppState> {
    let core =
        [outbox::console_section(registry), audit::console_section(), tenants::console_section(directory)];
    console::router(domains.iter().filter_map(|d| d.console()).chain(core).collect())
}

/// The readiness checks: the database, the migrations, configuration warnings, the outbox
/// worker's heartbeat (when workers run) and each domain's own.
fn readiness(
    config: &Config,
    pool: &sqlx::PgPool,
    heartbeats: &Heartbeats,
    domains: &[Arc<dyn Domain>],
) -> ReadinessRegistry {
    let mut readiness = ReadinessRegistry::default();
    readiness.register(Arc::new(DatabaseCheck(pool.clone())));
    readiness.register(Arc::new(MigrationsCheck(pool.clone())));
    for warning in ConfigWarnings::from_config(config) {
        readiness.register(Arc::new(warning));
    }
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
    for check in domains.iter().flat_map(|d| d.readiness(pool)) {
        readiness.register(check);
    }
    readiness
}

/// Where the outbox delivers: the downstream services, the effects' destinations and hooks, and
/// each domain's destinations.
fn outbox_registry(
    state: &AppState,
    owners: &Arc<EffectOwners>,
    domains: &[Arc<dyn Domain>],
) -> outbox::Registry {
    let mut registry = outbox::Registry::notifications(state);
    effects::register_outbox(state, owners, &mut registry);
    for (name, destination) in domains.iter().flat_map(|d| d.destinations(state)) {
        registry.destination(name, destination);
    }
    registry
}
