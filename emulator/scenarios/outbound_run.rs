//! `outbound-run`: 200 leads dialled under the outbound policies, the people at the numbers
//! scripted in the emulator (whose clock is scaled), each lead's end checked against its script:
//! a person, an answering machine (a message left after the greeting, `DetectMessageEnd`), busy
//! then a person (one retry), no answer (one retry, then final), opted out by SMS STOP, on the
//! do-not-call list, and outside the calling window in its own timezone (deferred, never called).
//! PASS when every lead ends as scripted, the business's cap was never exceeded at "Twilio" (the
//! emulator's live calls per caller id) and no number was called more often than its policy allows.

use super::{Sim, sms};
use anyhow::Context;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The business's cap on live calls.
const CAP: u64 = 5;

/// What a lead's number does, and how its job must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Human,
    Machine,
    BusyThenHuman,
    NoAnswer,
    OptedOut,
    DoNotCall,
    OutsideWindow,
}

impl Kind {
    /// (count, emulator script, expected status, expected outcome, most calls allowed).
    fn plan(self) -> (usize, Value, &'static str, &'static str, usize) {
        let human = json!({"answer": "human", "answer_after_secs": 1});
        match self {
            Kind::Human => (100, human, "completed", "human", 1),
            Kind::Machine => (
                30,
                json!({"answer": "machine", "answer_after_secs": 1, "greeting_secs": 4}),
                "completed",
                "machine",
                1,
            ),
            Kind::BusyThenHuman => {
                (25, json!({"answers": ["busy", "human"], "answer_after_secs": 1}), "completed", "human", 2)
            }
            Kind::NoAnswer => {
                (15, json!({"answer": "no-answer", "answer_after_secs": 1}), "failed", "no_answer", 2)
            }
            Kind::OptedOut => (10, human, "skipped", "opted_out", 0),
            Kind::DoNotCall => (10, human, "skipped", "do_not_call", 0),
            Kind::OutsideWindow => (10, human, "deferred", "", 0),
        }
    }

    const ALL: [Kind; 7] = [
        Kind::Human,
        Kind::Machine,
        Kind::BusyThenHuman,
        Kind::NoAnswer,
        Kind::OptedOut,
        Kind::DoNotCall,
        Kind::OutsideWindow,
    ];
}

/// A fixed-offset zone in which it is `local_hour` o'clock now (`Etc/GMT-5` is UTC+5).
fn zone_at(local_hour: i64) -> String {
    let utc = i64::from(chrono::Timelike::hour(&chrono::Utc::now()));
    let offset = (local_hour - utc).rem_euclid(24);
    let offset = if offset > 12 { offset - 24 } else { offset };
    match offset {
        0 => "Etc/UTC".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

pub(super) async fn outbound_run(sim: &Sim) -> anyhow::Result<String> {
    let (business, admin) = sim.tenant(json!({"outbound_max_concurrent": CAP})).await?;
    // Lead numbers: a block of 200 from a random base, so two runs in one emulator do not share scripts.
    let base = 2000 + u32::from(rand::random::<u16>() % 7000);
    let (open_zone, closed_zone) = (zone_at(12), zone_at(0));
    let mut leads = Vec::new();
    let mut expected: HashMap<String, Kind> = HashMap::new();
    for kind in Kind::ALL {
        let (count, script, ..) = kind.plan();
        for _ in 0..count {
            let number = format!("+1415555{:04}", base + leads.len() as u32);
            sim.script(&number, script.clone()).await?;
            let zone = if kind == Kind::OutsideWindow { &closed_zone } else { &open_zone };
            let id = format!("lead-{}", leads.len());
            leads.push(json!({"lead_id": id, "number": number, "timezone": zone}));
            expected.insert(id, kind);
            match kind {
                Kind::OptedOut => sms(sim, &number, &business, "STOP").await?,
                Kind::DoNotCall => {
                    let body = json!({"number": number, "reason": "asked not to be called"});
                    let (status, _) =
                        sim.api(reqwest::Method::POST, "/api/outbound/dnc", &admin, Some(body)).await?;
                    anyhow::ensure!(status == 201, "adding to the do-not-call list answered {status}");
                }
                _ => {}
            }
        }
    }
    println!("  {} leads: in-window zone {open_zone}, outside-window zone {closed_zone}", leads.len());
    let body = json!({"name": "outbound-run", "from_number": business, "script": {"say": "Hello from Simulated Plumbing."},
        "calling_window": {"start": "09:00", "end": "17:00"},
        "retry": {"busy": {"after_mins": 0, "max": 1}, "no_answer": {"after_mins": 0, "max": 1}, "failed": {"max": 0}},
        "machine": {"leave_message": "Please call Simulated Plumbing back."}});
    let (status, run) = sim.api(reqwest::Method::POST, "/api/outbound/runs", &admin, Some(body)).await?;
    anyhow::ensure!(status == 201, "creating the run answered {status}: {run}");
    let id = run["id"].as_str().context("run id")?.to_owned();
    let (status, added) = sim
        .api(
            reqwest::Method::POST,
            &format!("/api/outbound/runs/{id}/leads"),
            &admin,
            Some(json!({"leads": leads})),
        )
        .await?;
    anyhow::ensure!(status == 200, "uploading answered {status}: {added}");
    let (status, _) =
        sim.api(reqwest::Method::POST, &format!("/api/outbound/runs/{id}/start"), &admin, None).await?;
    anyhow::ensure!(status == 200, "starting answered {status}");
    println!("  run {id} started: cap {CAP}");

    // Done when only the deferred leads are left.
    let outside = Kind::OutsideWindow.plan().0 as i64;
    let view = sim
        .until(240, "every lead in its window to end", || async {
            let (_, v) =
                sim.api(reqwest::Method::GET, &format!("/api/outbound/runs/{id}"), &admin, None).await?;
            let waiting = v["queued"].as_i64().unwrap_or(-1) + v["in_progress"].as_i64().unwrap_or(-1);
            Ok((waiting == 0 && v["deferred"] == outside).then_some(v))
        })
        .await?;
    println!(
        "  counts: {}",
        json!({"completed": view["completed"], "failed": view["failed"],
        "skipped": view["skipped"], "deferred": view["deferred"], "outcomes": view["outcomes"]})
    );
    let jobs = all_jobs(sim, &admin, &id).await?;
    let calls = calls_per_number(sim, &business).await?;
    check(&jobs, &expected, &calls)?;
    let peak = peak_live(sim, &business).await?;
    anyhow::ensure!(peak <= CAP, "{peak} calls were live at once from the business's number (cap {CAP})");
    let (status, _) =
        sim.api(reqwest::Method::POST, &format!("/api/outbound/runs/{id}/cancel"), &admin, None).await?;
    anyhow::ensure!(status == 200, "cancelling the deferred rest answered {status}");
    Ok(format!(
        "{} leads ended as scripted; at most {peak} live calls (cap {CAP}); {} calls placed, none beyond its policy",
        jobs.len(),
        calls.values().sum::<usize>()
    ))
}

/// Every job of the run, page by page.
async fn all_jobs(sim: &Sim, admin: &str, run: &str) -> anyhow::Result<Vec<Value>> {
    let mut jobs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/outbound/runs/{run}/jobs?limit=200");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (_, page) = sim.api(reqwest::Method::GET, &path, admin, None).await?;
        jobs.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(jobs),
        }
    }
}

/// Calls created from the business's number, per callee.
async fn calls_per_number(sim: &Sim, business: &str) -> anyhow::Result<HashMap<String, usize>> {
    let mut calls = HashMap::new();
    for call in sim.emulator_list("calls").await? {
        if call["from"] == business && call["direction"] == "outbound-api" {
            *calls.entry(call["to"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
        }
    }
    Ok(calls)
}

fn check(
    jobs: &[Value],
    expected: &HashMap<String, Kind>,
    calls: &HashMap<String, usize>,
) -> anyhow::Result<()> {
    anyhow::ensure!(jobs.len() == expected.len(), "{} jobs for {} leads", jobs.len(), expected.len());
    for job in jobs {
        let lead = job["lead_id"].as_str().unwrap_or_default();
        let kind = *expected.get(lead).context("a job of an unknown lead")?;
        let (_, _, status, outcome, most) = kind.plan();
        let number = job["number"].as_str().unwrap_or_default();
        let placed = calls.get(number).copied().unwrap_or(0);
        anyhow::ensure!(
            job["status"] == status,
            "{lead} ({kind:?}) is {} (want {status}): {job}",
            job["status"]
        );
        if !outcome.is_empty() {
            anyhow::ensure!(
                job["outcome"] == outcome,
                "{lead} ({kind:?}) ended {} (want {outcome})",
                job["outcome"]
            );
        }
        anyhow::ensure!(placed <= most, "{lead} ({kind:?}) was called {placed} times (at most {most})");
        anyhow::ensure!(
            placed as i64 == job["attempts"].as_i64().unwrap_or(-1),
            "{lead}: attempts differ from calls"
        );
        if kind == Kind::OutsideWindow {
            anyhow::ensure!(job["next_attempt_at"].is_string(), "{lead} is deferred without a time");
        }
    }
    Ok(())
}

async fn peak_live(sim: &Sim, business: &str) -> anyhow::Result<u64> {
    let all = sim.http.get(format!("{}/_emulator/live", sim.emulator)).send().await?.json::<Value>().await?;
    all["live"][business]["peak"].as_u64().context("no live count for the business's number")
}
