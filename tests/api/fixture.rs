//! The shared fixture: the app behind its public URL, with a fake Twilio and a frozen clock, and
//! the signed webhooks and outbox rounds the tests drive it with.

use crate::fake_twilio::FakeTwilio;
use crate::helpers::{TestApp, frozen_clock, spawn_with, test_config};
use crate::signing::Hook;
use sqlx::PgPool;
use std::sync::Arc;
use switchboard::clock::ManualClock;
use switchboard::domain::Domain;
use switchboard::startup::Overrides;
use switchboard::worker::Worker;

/// The public base URL the app believes it has: Twilio signs webhooks for it.
pub const PUBLIC: &str = "https://sb.example.com";

/// The app on `pool` behind [`PUBLIC`], its Twilio at `base` (1 s request timeout), its time from
/// `clock`, with `extra` configuration and `domains` beside its own.
pub async fn app_on(
    pool: PgPool,
    base: &str,
    clock: Arc<ManualClock>,
    extra: &[(&str, &str)],
    domains: Vec<Arc<dyn Domain>>,
) -> TestApp {
    let mut vars = vec![
        ("PUBLIC_BASE_URL", PUBLIC),
        ("TWILIO_API_BASE", base),
        ("SWITCHBOARD_TWILIO__REQUEST_TIMEOUT_SECS", "1"),
    ];
    vars.extend_from_slice(extra);
    let overrides = Overrides { pool: Some(pool), clock: Some(clock), domains, ..Overrides::default() };
    spawn_with(test_config(&vars), overrides).await
}

/// The app behind [`PUBLIC`] on a fresh fake Twilio, its clock frozen (Monday 2026-11-23 15:00 UTC).
pub async fn on_fake_twilio(
    pool: PgPool,
    extra: &[(&str, &str)],
    domains: Vec<Arc<dyn Domain>>,
) -> (TestApp, FakeTwilio, Arc<ManualClock>) {
    let (fake, base) = FakeTwilio::start().await;
    let clock = frozen_clock();
    let app = app_on(pool, &base, clock.clone(), extra, domains).await;
    (app, fake, clock)
}

/// A webhook to `path`, signed as Twilio signs it: for its public URL.
pub async fn post_signed(app: &TestApp, path: &str, params: &[(&str, &str)]) -> reqwest::Response {
    let mut hook = Hook::new(path, params);
    hook.signed_url = Some(format!("{PUBLIC}{path}"));
    hook.send(app).await
}

/// One round of a fresh outbox worker.
pub async fn deliver(app: &TestApp) {
    app.outbox().run_once().await.expect("outbox round");
}
