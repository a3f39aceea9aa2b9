//! THE fixture of the integration tests: [`World`] is the app behind its public URL with a fake
//! Twilio, a frozen clock, a superadmin key and a tenant with the keys a test asks for; beside it
//! the signed webhooks and outbox rounds the tests drive it with. A file that needs more (a
//! receiver, seeded numbers, a second tenant) builds it on a [`World`] instead of spawning its own.

use crate::fake_twilio::FakeTwilio;
use crate::helpers::{TestApp, frozen_clock, spawn_with, test_config};
use crate::signing::Hook;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::Arc;
use switchboard::clock::ManualClock;
use switchboard::domain::Domain;
use switchboard::startup::Overrides;
use switchboard::tenants::TenantId;
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

/// The app behind [`PUBLIC`] on a fresh fake Twilio, its clock frozen (Monday 2026-11-23 15:00 UTC),
/// with a superadmin key and one tenant: what [`World::builder`] starts.
pub struct World {
    /// The app under test.
    pub app: TestApp,
    /// The Twilio it talks to.
    pub fake: FakeTwilio,
    /// Its time: moves only when a test advances it.
    pub clock: Arc<ManualClock>,
    /// A superadmin token.
    pub root: String,
    /// The tenant the world was built with.
    pub tenant: Tenant,
    /// What a [`World::twin`] is started with.
    pool: PgPool,
    vars: Vec<(String, String)>,
    domains: Vec<Arc<dyn Domain>>,
}

/// A tenant created through the API, with the keys its world was asked for.
pub struct Tenant {
    /// Its id (a UUID).
    pub id: String,
    /// (role, token), in the order asked.
    keys: Vec<(&'static str, String)>,
}

impl Tenant {
    /// Its id as the library takes it.
    pub fn tenant_id(&self) -> TenantId {
        TenantId(self.id.parse().expect("a uuid"))
    }

    /// Its key of `role` (one of those given to [`WorldBuilder::keys`]).
    pub fn key(&self, role: &str) -> &str {
        let key = self.keys.iter().find(|(r, _)| *r == role);
        key.map(|(_, token)| token.as_str()).unwrap_or_else(|| panic!("no {role} key was asked for"))
    }
}

/// How a [`World`] is started: extra configuration and domains, the tenant's body, numbers and keys.
pub struct WorldBuilder {
    pool: PgPool,
    vars: Vec<(String, String)>,
    domains: Vec<Arc<dyn Domain>>,
    tenant: Value,
    numbers: Vec<String>,
    roles: Vec<&'static str>,
}

impl World {
    /// A world on `pool`: tenant `acme` (New York), no numbers, no keys, unless told otherwise.
    pub fn builder(pool: PgPool) -> WorldBuilder {
        WorldBuilder {
            pool,
            vars: Vec::new(),
            domains: Vec::new(),
            tenant: tenant_body("acme"),
            numbers: Vec::new(),
            roles: Vec::new(),
        }
    }

    /// The tenant's key of `role`.
    pub fn key(&self, role: &str) -> &str {
        self.tenant.key(role)
    }

    /// The tenant's admin key.
    pub fn admin(&self) -> &str {
        self.key("admin")
    }

    /// Where the fake Twilio listens (`TWILIO_API_BASE`).
    pub fn base(&self) -> String {
        self.fake.base.get().expect("a started fake").clone()
    }

    /// A second instance on the same database, fake Twilio and clock, configured alike.
    pub async fn twin(&self) -> TestApp {
        self.twin_with(&[]).await
    }

    /// [`World::twin`] with `extra` configuration over the world's.
    pub async fn twin_with(&self, extra: &[(&str, &str)]) -> TestApp {
        let mut vars: Vec<(&str, &str)> = self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        vars.extend_from_slice(extra);
        app_on(self.pool.clone(), &self.base(), self.clock.clone(), &vars, self.domains.clone()).await
    }
}

/// The tenant `slug` (New York) as `POST /api/tenants` takes it.
pub fn tenant_body(slug: &str) -> Value {
    json!({"slug": slug, "name": format!("{slug} Inc"), "timezone": "America/New_York"})
}

impl WorldBuilder {
    /// Configuration over the fixture's.
    pub fn vars(mut self, vars: &[(&str, &str)]) -> Self {
        self.vars.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// A domain beside the app's own.
    pub fn domain(mut self, domain: Arc<dyn Domain>) -> Self {
        self.domains.push(domain);
        self
    }

    /// The tenant is `slug` (New York).
    pub fn tenant(mut self, slug: &str) -> Self {
        self.tenant = tenant_body(slug);
        self
    }

    /// The tenant is created with `body` (`POST /api/tenants`).
    pub fn tenant_body(mut self, body: Value) -> Self {
        self.tenant = body;
        self
    }

    /// The tenant's numbers.
    pub fn numbers(mut self, numbers: &[&str]) -> Self {
        self.numbers.extend(numbers.iter().map(|n| n.to_string()));
        self
    }

    /// The tenant's keys, one per role.
    pub fn keys(mut self, roles: &[&'static str]) -> Self {
        self.roles.extend_from_slice(roles);
        self
    }

    /// Starts the fake Twilio and the app; creates the superadmin key, the tenant, its numbers and keys.
    pub async fn start(self) -> World {
        let (fake, base) = FakeTwilio::start().await;
        let clock = frozen_clock();
        let vars: Vec<(&str, &str)> = self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let app = app_on(self.pool.clone(), &base, clock.clone(), &vars, self.domains.clone()).await;
        let root = app.superadmin().await;
        let response = app.post_json("/api/tenants", &root, self.tenant).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
        let created: Value = response.json().await.expect("json");
        let id = created["id"].as_str().expect("id").to_owned();
        for number in &self.numbers {
            let response =
                app.post_json(&format!("/api/tenants/{id}/numbers"), &root, json!({"number": number})).await;
            assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
        }
        let mut keys = Vec::new();
        for role in self.roles {
            keys.push((role, app.tenant_key(&root, &id, role).await));
        }
        let tenant = Tenant { id, keys };
        World { app, fake, clock, root, tenant, pool: self.pool, vars: self.vars, domains: self.domains }
    }
}

/// A webhook to `path`, signed as Twilio signs it: for its public URL.
pub async fn post_signed(app: &TestApp, path: &str, params: &[(&str, &str)]) -> reqwest::Response {
    Hook::public(path, params).send(app).await
}

/// One round of a fresh outbox worker.
pub async fn deliver(app: &TestApp) {
    app.outbox().run_once().await.expect("outbox round");
}

/// A writer collecting what a test's tracing subscriber writes (the server's log lines).
#[derive(Clone, Default)]
pub struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// A JSON subscriber up to `level` writing here. Installed with `set_default` on a test's
    /// thread it sees the app's lines too: the test runtime is single-threaded.
    pub fn json(&self, level: tracing::Level) -> impl tracing::Subscriber + Send + Sync + use<> {
        tracing_subscriber::fmt().json().with_writer(self.clone()).with_max_level(level).finish()
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf8")
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
