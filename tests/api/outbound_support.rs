//! What the outbound tests share: two businesses with a number and keys each, runs created and
//! fed through the API, the dialer and the outbox driven round by round, and the calls at the
//! fake Twilio ended by signed status callbacks.

use crate::fixture::{World, deliver, post_signed};
use crate::helpers::ACCOUNT_SID;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashSet;

pub const ACME_FROM: &str = "+12025550100";
pub const BRAVO_FROM: &str = "+13125550100";

/// The world with Acme (its admin and monitor keys) and Bravo (its admin key), a number each.
pub struct O {
    world: World,
    /// Acme's admin key.
    pub acme: String,
    #[allow(dead_code)]
    pub acme_monitor: String,
    /// Bravo's admin key.
    #[allow(dead_code)]
    pub bravo: String,
    /// Calls ended so far (by SID).
    pub ended: std::sync::Mutex<HashSet<String>>,
}

impl std::ops::Deref for O {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

/// No pacing in the way unless a test asks for it.
pub const FAST: (&str, &str) = ("SWITCHBOARD_EFFECTS__CALLS_PER_SECOND", "1000");

pub async fn setup_with(pool: PgPool, extra: &[(&str, &str)]) -> O {
    let world = World::builder(pool)
        .vars(extra)
        .tenant("acme")
        .numbers(&[ACME_FROM])
        .keys(&["admin", "monitor"])
        .start()
        .await;
    let (app, root) = (&world.app, &world.root);
    let bravo = app.create_tenant(root, "bravo").await;
    let response =
        app.post_json(&format!("/api/tenants/{bravo}/numbers"), root, json!({"number": BRAVO_FROM})).await;
    assert_eq!(response.status(), 201);
    let bravo = app.tenant_key(root, &bravo, "admin").await;
    let (acme, acme_monitor) = (world.key("admin").to_owned(), world.key("monitor").to_owned());
    O { world, acme, acme_monitor, bravo, ended: Default::default() }
}

pub async fn setup(pool: PgPool) -> O {
    setup_with(pool, &[FAST]).await
}

pub fn leads(prefix: &str, n: usize, first_number: u64) -> Value {
    let leads: Vec<Value> = (0..n)
        .map(|i| json!({"lead_id": format!("{prefix}{i}"), "number": format!("+1415555{:04}", first_number + i as u64)}))
        .collect();
    json!({"leads": leads})
}

impl O {
    /// Creates a run from `from` with `max_concurrent`; its id.
    pub async fn create_run(&self, token: &str, from: &str, cap: Option<i32>) -> String {
        let mut body =
            json!({"name": "Renewals", "from_number": from, "script": {"say": "Hello from Acme."}});
        if let Some(cap) = cap {
            body["max_concurrent"] = cap.into();
        }
        let response = self.app.post_json("/api/outbound/runs", token, body).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
        let run: Value = response.json().await.expect("json");
        assert_eq!(run["status"], "pending");
        run["id"].as_str().expect("id").to_owned()
    }

    pub async fn upload(&self, token: &str, run: &str, body: Value, skip_invalid: bool) -> reqwest::Response {
        let path = format!("/api/outbound/runs/{run}/leads?skip_invalid={skip_invalid}");
        self.app.post_json(&path, token, body).await
    }

    pub async fn upload_csv(
        &self,
        token: &str,
        run: &str,
        csv: &str,
        skip_invalid: bool,
    ) -> reqwest::Response {
        let url = self.app.url(&format!("/api/outbound/runs/{run}/leads?skip_invalid={skip_invalid}"));
        self.app
            .client
            .post(url)
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(csv.to_owned())
            .send()
            .await
            .expect("sent")
    }

    pub async fn action(&self, token: &str, run: &str, action: &str) -> reqwest::Response {
        self.app.post_json(&format!("/api/outbound/runs/{run}/{action}"), token, json!({})).await
    }

    pub async fn start(&self, token: &str, run: &str) {
        let response = self.action(token, run, "start").await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
    }

    pub async fn run(&self, token: &str, run: &str) -> Value {
        let response = self.app.get_auth(&format!("/api/outbound/runs/{run}"), token).await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    /// One dialer round, then one outbox round (the creates go out).
    pub async fn tick(&self) {
        self.app.worker("outbound").run_once().await.expect("dialer round");
        deliver(&self.app).await;
    }

    /// Jobs holding a slot, per business.
    pub async fn live(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM outbound_job WHERE status = 'in_progress'")
            .fetch_one(&self.app.state.db)
            .await
            .expect("count")
    }

    /// Creates at the fake, bound to their SID, whose calls were not ended yet: (token, sid, to).
    pub async fn live_at_fake(&self) -> Vec<(String, String, String)> {
        let mut live = Vec::new();
        for (kind, fields) in self.fake.creates() {
            if kind != "call" {
                continue;
            }
            let callback = fields["StatusCallback"][0].clone();
            let token = callback.split("attempt=").nth(1).expect("token").to_owned();
            let sid: Option<String> = sqlx::query_scalar("SELECT sid FROM twilio_attempt WHERE token = $1")
                .bind(&token)
                .fetch_one(&self.app.state.db)
                .await
                .expect("attempt");
            // A create whose answer was lost is not bound until a callback or reconciliation.
            let Some(sid) = sid else { continue };
            if !self.ended.lock().expect("lock").contains(&sid) {
                live.push((token, sid, fields["To"][0].clone()));
            }
        }
        live
    }

    /// A status callback of a call we created.
    pub async fn callback(&self, token: &str, sid: &str, to: &str, from: &str, status: &str) {
        let path = format!("/webhooks/twilio/calls/events?attempt={token}");
        let params = [
            ("CallSid", sid),
            ("AccountSid", ACCOUNT_SID),
            ("From", from),
            ("To", to),
            ("CallStatus", status),
            ("Direction", "outbound-api"),
        ];
        assert_eq!(post_signed(&self.app, &path, &params).await.status(), 200);
        if matches!(status, "completed" | "busy" | "no-answer" | "failed" | "canceled") {
            self.ended.lock().expect("lock").insert(sid.to_owned());
        }
    }

    /// Ends every live call at the fake with `status`; how many.
    pub async fn end_all(&self, from: &str, status: &str) -> usize {
        let live = self.live_at_fake().await;
        for (token, sid, to) in &live {
            self.callback(token, sid, to, from, status).await;
        }
        live.len()
    }

    /// Outbox messages of `kind`.
    pub async fn notifications(&self, kind: &str) -> Vec<Value> {
        sqlx::query_scalar("SELECT payload FROM outbox_message WHERE kind = $1 ORDER BY created_at")
            .bind(kind)
            .fetch_all(&self.app.state.db)
            .await
            .expect("rows")
    }

    /// Call creates at the fake, by caller id.
    pub fn creates_from(&self, from: &str) -> Vec<String> {
        self.fake
            .creates()
            .into_iter()
            .filter(|(kind, f)| kind == "call" && f["From"][0] == from)
            .map(|(_, f)| f["To"][0].clone())
            .collect()
    }
}
