//! Named end-to-end flows against a running Switchboard and emulator. Each sets up its own tenant
//! and numbers through the operator API, scripts the people it simulates, triggers the flow,
//! waits (with a deadline) for the outcome, prints a readable timeline — every webhook with our
//! answer — and a verdict.

mod outbound_run;
mod recording;
mod scheduled_call;

use super::{timeline, wait};
use anyhow::{Context, anyhow};
use serde_json::{Value, json};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every scenario, in the order `scripts/demo` runs them.
pub const SCENARIOS: [&str; 9] = [
    "answered-call",
    "missed-call",
    "after-hours",
    "sms-conversation",
    "crisis-approval",
    "crisis-expiry",
    "concurrent-crises",
    "scheduled-call",
    "outbound-run",
];

/// The most exchanges a timeline prints.
const TIMELINE_MAX: usize = 150;

/// `simulate <scenario>`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// answered-call, missed-call, after-hours, sms-conversation, crisis-approval, crisis-expiry,
    /// concurrent-crises, scheduled-call, outbound-run.
    #[arg(required_unless_present = "list")]
    scenario: Option<String>,
    /// Print the scenarios' names, one a line, and exit.
    #[arg(long)]
    list: bool,
    /// How long to wait for Switchboard's `/ready` and the emulator before giving up.
    #[arg(long, env = "SIMULATE_WAIT_SECS", default_value_t = 60)]
    wait_secs: u64,
    /// Switchboard's base URL.
    #[arg(long, env = "SWITCHBOARD_URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The emulator's base URL.
    #[arg(long, env = "EMULATOR_URL", default_value = "http://127.0.0.1:3300")]
    emulator: String,
    /// A superadmin token; without one, `switchboard keys create --superadmin` is run.
    #[arg(long, env = "SWITCHBOARD_TOKEN")]
    key: Option<String>,
}

/// A running scenario.
struct Sim {
    http: reqwest::Client,
    server: String,
    emulator: String,
    root: String,
    tag: String,
    /// Every phone number this scenario made up: its timeline shows only what involves them. A
    /// mutex because a scenario's steps may run concurrently (`tokio::join!`) on one `&Sim`.
    numbers: Mutex<Vec<String>>,
}

fn random_number() -> String {
    format!("+1202555{:04}", rand::random::<u16>() % 10_000)
}

impl Sim {
    /// A new phone number for this scenario.
    fn number(&self) -> String {
        let number = random_number();
        self.numbers.lock().unwrap_or_else(|p| p.into_inner()).push(number.clone());
        number
    }

    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.server)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn emu(&self, method: reqwest::Method, path: &str, body: Value) -> anyhow::Result<Value> {
        let response =
            self.http.request(method, format!("{}{path}", self.emulator)).json(&body).send().await?;
        Ok(response.json().await.unwrap_or(Value::Null))
    }

    async fn script(&self, number: &str, script: Value) -> anyhow::Result<()> {
        self.emu(reqwest::Method::PUT, &format!("/_emulator/numbers/{}", number.replace('+', "%2B")), script)
            .await
            .map(|_| ())
    }

    /// A tenant with `settings`, a business number, and an admin key.
    async fn tenant(&self, settings: Value) -> anyhow::Result<(String, String)> {
        let mut body =
            json!({"slug": format!("sim-{}", self.tag), "name": "Simulated Plumbing", "timezone": "UTC"});
        body.as_object_mut().context("object")?.extend(settings.as_object().cloned().unwrap_or_default());
        let (status, tenant) =
            self.api(reqwest::Method::POST, "/api/tenants", &self.root, Some(body)).await?;
        anyhow::ensure!(status == 201, "creating the tenant answered {status}: {tenant}");
        let slug = tenant["slug"].as_str().context("slug")?.to_owned();
        let number = self.number();
        let (status, _) = self
            .api(
                reqwest::Method::POST,
                &format!("/api/tenants/{slug}/numbers"),
                &self.root,
                Some(json!({"number": number})),
            )
            .await?;
        anyhow::ensure!(status == 201, "adding the number answered {status}");
        let (_, key) = self
            .api(
                reqwest::Method::POST,
                &format!("/api/tenants/{slug}/keys"),
                &self.root,
                Some(json!({"role": "admin"})),
            )
            .await?;
        let admin = key["token"].as_str().context("admin token")?.to_owned();
        println!("  setup: tenant {slug}, number {number}");
        Ok((number, admin))
    }

    /// Polls until `check` yields a value, or fails after `secs`.
    async fn until<T, F, Fut>(&self, secs: u64, what: &str, mut check: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
    {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(value) = check().await? {
                return Ok(value);
            }
            if Instant::now() > deadline {
                return Err(anyhow!("timed out waiting for {what}"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn inbound_call(&self, from: &str, to: &str) -> anyhow::Result<String> {
        let call = self
            .emu(reqwest::Method::POST, "/_emulator/inbound/call", json!({"from": from, "to": to}))
            .await?;
        println!("  caller {from} dials {to}");
        call["call_sid"].as_str().map(str::to_owned).context("call sid")
    }

    async fn inbound_call_of(&self, token: &str, sid: &str) -> anyhow::Result<Option<Value>> {
        let (_, page) = self.api(reqwest::Method::GET, "/api/inbound-calls", token, None).await?;
        Ok(page["items"].as_array().and_then(|items| items.iter().find(|c| c["call_sid"] == sid).cloned()))
    }

    /// Waits until none of the tenant's notifications (text-backs included) is still to be
    /// delivered, so that an absence seen afterwards is not a delivery still on its way. One
    /// listing, so that no message is missed while it moves between states.
    async fn outbox_drained(&self, token: &str) -> anyhow::Result<()> {
        self.until(60, "the outbox to drain", || async {
            let (status, page) =
                self.api(reqwest::Method::GET, "/api/notifications?limit=200", token, None).await?;
            anyhow::ensure!(status == 200, "listing the notifications answered {status}: {page}");
            let items = page["items"].as_array().context("notification items")?;
            anyhow::ensure!(page["next_cursor"].is_null(), "more than one page of notifications");
            let waiting = items.iter().any(|n| n["status"] == "pending" || n["status"] == "delivering");
            Ok((!waiting).then_some(()))
        })
        .await
    }

    async fn messages_to(&self, number: &str) -> anyhow::Result<Vec<Value>> {
        Ok(self
            .emulator_list("messages")
            .await?
            .into_iter()
            .filter(|m| m["to"] == number && m["direction"] == "outbound-api")
            .collect())
    }

    async fn emulator_list(&self, what: &str) -> anyhow::Result<Vec<Value>> {
        let all = self
            .http
            .get(format!("{}/_emulator/{what}", self.emulator))
            .send()
            .await?
            .json::<Value>()
            .await?;
        Ok(all[what].as_array().cloned().unwrap_or_default())
    }

    /// Prints every webhook the emulator sent for this scenario, with the server's answer, and
    /// every REST request about its calls and messages, condensed.
    async fn timeline(&self) -> anyhow::Result<()> {
        let numbers = self.numbers.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let keys = timeline::own_keys(
            &numbers,
            &self.emulator_list("calls").await?,
            &self.emulator_list("messages").await?,
        );
        println!("  timeline:");
        let requests = self.emulator_list("requests").await?;
        let own: Vec<&Value> = requests.iter().filter(|e| timeline::belongs(e, &keys)).collect();
        for entry in own.iter().take(TIMELINE_MAX) {
            println!("{}", timeline::render(entry));
        }
        // A bulk scenario (outbound-run) makes thousands: the start shows the shape.
        if own.len() > TIMELINE_MAX {
            println!("    … and {} more exchanges", own.len() - TIMELINE_MAX);
        }
        Ok(())
    }
}

/// Runs a scenario; `Ok(true)` when it passed.
pub async fn run(args: SimulateArgs) -> anyhow::Result<bool> {
    let Some(scenario) = args.scenario.clone().filter(|_| !args.list) else {
        SCENARIOS.iter().for_each(|name| println!("{name}"));
        return Ok(true);
    };
    let (server, emulator) = (args.server.trim_end_matches('/'), args.emulator.trim_end_matches('/'));
    if let Err(advice) = wait::until_up(server, emulator, Duration::from_secs(args.wait_secs)).await {
        eprintln!("twilio-emulator: {advice}");
        return Ok(false);
    }
    let http = switchboard::net::client_builder().timeout(Duration::from_secs(20)).build()?;
    let root = match args.key.clone() {
        Some(key) => key,
        None => create_key()?,
    };
    let tag = format!("{scenario}-{:06x}", rand::random::<u32>() % 0xFF_FFFF);
    let sim =
        Sim { http, server: server.into(), emulator: emulator.into(), root, tag, numbers: Mutex::default() };
    println!("scenario {scenario}");
    let result = match scenario.as_str() {
        "answered-call" => answered_call(&sim).await,
        "missed-call" => missed_call(&sim).await,
        "after-hours" => after_hours(&sim).await,
        "sms-conversation" => sms_conversation(&sim).await,
        "crisis-approval" => crisis_approval(&sim).await,
        "crisis-expiry" => crisis_expiry(&sim).await,
        "concurrent-crises" => concurrent_crises(&sim).await,
        "scheduled-call" => scheduled_call::scheduled_call(&sim).await,
        "outbound-run" => outbound_run::outbound_run(&sim).await,
        other => Err(anyhow!("unknown scenario {other} (one of: {})", SCENARIOS.join(", "))),
    };
    sim.timeline().await.ok();
    match result {
        Ok(summary) => {
            println!("PASS {scenario}: {summary}");
            Ok(true)
        }
        Err(e) => {
            println!("FAIL {scenario}: {e:#}");
            Ok(false)
        }
    }
}

/// `switchboard keys create --superadmin`, from the directory of this binary or the PATH.
fn create_key() -> anyhow::Result<String> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("switchboard")))
        .filter(|p| p.exists());
    let program = beside.unwrap_or_else(|| "switchboard".into());
    let output = std::process::Command::new(program)
        .args(["keys", "create", "--superadmin", "--name", "simulate"])
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "switchboard keys create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)?.lines().last().map(str::to_owned).context("no token printed")
}

async fn answered_call(sim: &Sim) -> anyhow::Result<String> {
    let owner = sim.number();
    let (number, admin) = sim.tenant(json!({"owner_number": owner})).await?;
    sim.script(&owner, json!({"answer": "human", "answer_after_secs": 2, "hangup_after_secs": 5})).await?;
    let caller = sim.number();
    let sid = sim.inbound_call(&caller, &number).await?;
    let call = sim
        .until(60, "the call to be answered", || async {
            Ok(sim.inbound_call_of(&admin, &sid).await?.filter(|c| !c["outcome"].is_null()))
        })
        .await?;
    anyhow::ensure!(call["outcome"] == "answered", "the call was {}", call["outcome"]);
    // A text-back would be queued with the outcome: once the outbox is drained, none is on its way.
    sim.outbox_drained(&admin).await?;
    anyhow::ensure!(sim.messages_to(&caller).await?.is_empty(), "an answered call must not text the caller");
    Ok(format!(
        "the owner answered after ringing; no text-back ({}s on the line)",
        call["dial_duration_secs"]
    ))
}

async fn missed_call(sim: &Sim) -> anyhow::Result<String> {
    let owner = sim.number();
    let (number, admin) = sim.tenant(json!({"owner_number": owner, "dial_timeout_secs": 5})).await?;
    sim.script(&owner, json!({"answer": "no-answer"})).await?;
    let caller = sim.number();
    let sid = sim.inbound_call(&caller, &number).await?;
    let text = sim
        .until(60, "the text-back", || async { Ok(sim.messages_to(&caller).await?.into_iter().next()) })
        .await?;
    anyhow::ensure!(text["from"] == number.as_str(), "the text-back must come from the number dialled");
    let call = sim.inbound_call_of(&admin, &sid).await?.context("the call was recorded")?;
    anyhow::ensure!(call["outcome"] == "missed", "the call was {}", call["outcome"]);
    let reason = call["missed_reason"].as_str().unwrap_or("?");
    Ok(format!("missed ({reason}), texted back: {:?}", text["body"].as_str().unwrap_or("")))
}

async fn after_hours(sim: &Sim) -> anyhow::Result<String> {
    // Open one minute a week, at a time that is not now: closed.
    let now = chrono::Utc::now();
    let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [(chrono::Datelike::weekday(&now).num_days_from_monday() as usize + 3) % 7];
    let owner = sim.number();
    let settings = json!({"owner_number": owner, "business_hours": {day: [["03:00", "03:01"]]}, "after_hours": "voicemail"});
    let (number, admin) = sim.tenant(settings).await?;
    let caller = sim.number();
    let sid = sim.inbound_call(&caller, &number).await?;
    let call = sim
        .until(60, "the voicemail", || async {
            Ok(sim.inbound_call_of(&admin, &sid).await?.filter(|c| !c["voicemail_recording_sid"].is_null()))
        })
        .await?;
    anyhow::ensure!(call["after_hours"] == true, "the call must be marked after hours");
    Ok(format!("closed: the caller left a voicemail ({})", call["voicemail_recording_sid"]))
}

async fn sms(sim: &Sim, from: &str, to: &str, body: &str) -> anyhow::Result<()> {
    let answer = sim
        .emu(reqwest::Method::POST, "/_emulator/inbound/sms", json!({"from": from, "to": to, "body": body}))
        .await?;
    println!("  {from} texts {body:?}: server answered {}", answer["status"]);
    anyhow::ensure!(answer["status"] == 200, "the SMS webhook answered {}", answer["status"]);
    Ok(())
}

async fn sms_conversation(sim: &Sim) -> anyhow::Result<String> {
    let (number, admin) = sim.tenant(json!({})).await?;
    let customer = sim.number();
    sms(sim, &customer, &number, "Hi, is the plumber coming today?").await?;
    let (_, list) = sim.api(reqwest::Method::GET, "/api/conversations", &admin, None).await?;
    let id = list["items"][0]["id"].as_str().context("a conversation")?.to_owned();
    sms(sim, &customer, &number, "STOP").await?;
    let reply_path = format!("/api/conversations/{id}/messages");
    let (refused, _) =
        sim.api(reqwest::Method::POST, &reply_path, &admin, Some(json!({"body": "Yes, at 3pm"}))).await?;
    anyhow::ensure!(refused == 409, "a reply to an opted-out customer answered {refused}");
    sms(sim, &customer, &number, "START").await?;
    let (accepted, _) =
        sim.api(reqwest::Method::POST, &reply_path, &admin, Some(json!({"body": "Yes, at 3pm"}))).await?;
    anyhow::ensure!(accepted == 201, "the reply answered {accepted}");
    let reply = sim
        .until(30, "the reply to arrive", || async {
            Ok(sim.messages_to(&customer).await?.into_iter().next())
        })
        .await?;
    Ok(format!(
        "conversation {id}: STOP blocked replies, START allowed {:?}",
        reply["body"].as_str().unwrap_or("")
    ))
}

async fn crisis(sim: &Sim, token: &str, kind: &str, risk: f64) -> anyhow::Result<String> {
    let body = json!({"type": kind, "description": "reported by the simulator", "location": "5th and Main", "risk_score": risk,
        "decision": {"units": [format!("{kind}-unit-1")]}});
    let (status, crisis) = sim.api(reqwest::Method::POST, "/api/crises", token, Some(body)).await?;
    anyhow::ensure!(status == 201, "creating the crisis answered {status}: {crisis}");
    println!("  crisis {kind} (risk {risk}): {}", crisis["status"]);
    crisis["id"].as_str().map(str::to_owned).context("crisis id")
}

async fn crisis_status(sim: &Sim, token: &str, id: &str, wanted: &str) -> anyhow::Result<Value> {
    sim.until(90, &format!("the crisis to be {wanted}"), || async {
        let (_, c) = sim.api(reqwest::Method::GET, &format!("/api/crises/{id}"), token, None).await?;
        Ok((c["status"] == wanted).then_some(c))
    })
    .await
}

async fn crisis_approval(sim: &Sim) -> anyhow::Result<String> {
    let officer = sim.number();
    let (_, admin) = sim.tenant(json!({"duty_officers": [officer]})).await?;
    sim.script(&officer, json!({"answer": "human", "answer_after_secs": 2, "digits": ["6"]})).await?;
    let id = crisis(sim, &admin, "fire", 4.5).await?;
    let done = crisis_status(sim, &admin, &id, "dispatched").await?;
    let actions: Vec<&str> = done["audit"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    anyhow::ensure!(actions.contains(&"APPROVAL_EXECUTED"), "no APPROVAL_EXECUTED in {actions:?}");
    Ok(format!("the officer pressed 6: dispatched; audit {actions:?}"))
}

async fn crisis_expiry(sim: &Sim) -> anyhow::Result<String> {
    let officer = sim.number();
    let settings = json!({"duty_officers": [officer], "approval": {"timeout_secs": 10}});
    let (_, admin) = sim.tenant(settings).await?;
    sim.script(&officer, json!({"answer": "busy"})).await?;
    let id = crisis(sim, &admin, "flood", 4.8).await?;
    let done = crisis_status(sim, &admin, &id, "expired").await?;
    let actions: Vec<&str> = done["audit"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    anyhow::ensure!(
        actions.iter().filter(|a| **a == "APPROVAL_TIMEOUT").count() == 1,
        "APPROVAL_TIMEOUT not recorded once: {actions:?}"
    );
    Ok(format!("nobody decided: expired; audit {actions:?}"))
}

async fn concurrent_crises(sim: &Sim) -> anyhow::Result<String> {
    let officer = sim.number();
    let (_, admin) = sim.tenant(json!({"duty_officers": [officer]})).await?;
    sim.script(&officer, json!({"answer": "human", "answer_after_secs": 1, "digits": ["6"]})).await?;
    let (a, b) = tokio::join!(crisis(sim, &admin, "fire", 4.5), crisis(sim, &admin, "flood", 4.2));
    let (a, b) = (a?, b?);
    let (da, db) = tokio::join!(
        crisis_status(sim, &admin, &a, "dispatched"),
        crisis_status(sim, &admin, &b, "dispatched")
    );
    let (da, db) = (da?, db?);
    let executed = |c: &Value| {
        c["audit"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["action"] == "APPROVAL_EXECUTED").cloned())
            .unwrap_or_default()
    };
    let (ea, eb) = (executed(&da), executed(&db));
    anyhow::ensure!(
        ea["data"]["crisis_id"] == a.as_str() && eb["data"]["crisis_id"] == b.as_str(),
        "a decision was applied to the wrong crisis"
    );
    anyhow::ensure!(ea["data"]["call_sid"] != eb["data"]["call_sid"], "both crises were decided on one call");
    Ok(format!(
        "two crises, two calls ({} and {}), each dispatched with its own decision",
        ea["data"]["call_sid"], eb["data"]["call_sid"]
    ))
}
