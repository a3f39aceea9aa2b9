//! `scheduled-call`: an admin books a call between a client and a reader, the reader starts it,
//! both legs join the conference, the client hangs up and the session completes with its
//! duration; a second session is dropped by a monitor, which ends the conference by its `CF…` SID.

use super::Sim;
use anyhow::Context;
use serde_json::{Value, json};

/// A key of `role` with `subject` for the scenario's tenant.
async fn key(sim: &Sim, role: &str, subject: Option<&str>) -> anyhow::Result<String> {
    let path = format!("/api/tenants/sim-{}/keys", sim.tag);
    let (status, key) = sim
        .api(reqwest::Method::POST, &path, &sim.root, Some(json!({"role": role, "subject": subject})))
        .await?;
    anyhow::ensure!(status == 201, "creating a {role} key answered {status}: {key}");
    key["token"].as_str().map(str::to_owned).context("token")
}

/// Books `order` between the two numbers, two minutes from now; the session's id.
async fn book(sim: &Sim, admin: &str, order: &str, client: &str, reader: &str) -> anyhow::Result<String> {
    let at = (chrono::Utc::now() + chrono::Duration::minutes(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = json!({"order_id": order, "client": {"subject": "client-1", "number": client},
        "reader": {"subject": "reader-1", "number": reader}, "scheduled_at": at, "duration_minutes": 30});
    let (status, session) = sim.api(reqwest::Method::POST, "/api/calls/schedule", admin, Some(body)).await?;
    anyhow::ensure!(status == 201, "booking answered {status}: {session}");
    println!("  {order} booked for {at}");
    session["id"].as_str().map(str::to_owned).context("session id")
}

async fn session_in(sim: &Sim, token: &str, id: &str, wanted: &str) -> anyhow::Result<Value> {
    sim.until(60, &format!("the session to be {wanted}"), || async {
        let (_, s) = sim.api(reqwest::Method::GET, &format!("/api/calls/{id}"), token, None).await?;
        Ok((s["status"] == wanted).then_some(s))
    })
    .await
}

pub(super) async fn scheduled_call(sim: &Sim) -> anyhow::Result<String> {
    let (_, admin) = sim.tenant(json!({})).await?;
    let reader_key = key(sim, "reader", Some("reader-1")).await?;
    let monitor = key(sim, "monitor", None).await?;
    let (client, reader) = (sim.number(), sim.number());
    sim.script(&client, json!({"answer": "human", "answer_after_secs": 1, "hangup_after_secs": 40})).await?;
    sim.script(&reader, json!({"answer": "human", "answer_after_secs": 2, "hangup_after_secs": 600})).await?;
    let order = format!("ord-{}", sim.tag);
    let id = book(sim, &admin, &order, &client, &reader).await?;
    let (status, started) =
        sim.api(reqwest::Method::POST, &format!("/api/calls/{order}/start"), &reader_key, None).await?;
    anyhow::ensure!(status == 200, "the reader's start answered {status}: {started}");
    println!("  the reader starts it: both parties are dialled");
    session_in(sim, &admin, &id, "in_progress").await?;
    println!("  both joined the conference: in_progress");
    let done = session_in(sim, &admin, &id, "completed").await?;
    anyhow::ensure!(done["ended_reason"] == "client_left", "ended_reason {}", done["ended_reason"]);
    let cf = done["conference_sid"].as_str().unwrap_or_default().to_owned();
    anyhow::ensure!(cf.starts_with("CF"), "no conference SID: {done}");
    println!("  the client hangs up: completed after {} s", done["duration_sec"]);

    // A second session, dropped by a monitor while both talk.
    let (client2, reader2) = (sim.number(), sim.number());
    for number in [&client2, &reader2] {
        sim.script(number, json!({"answer": "human", "answer_after_secs": 1, "hangup_after_secs": 600}))
            .await?;
    }
    let order2 = format!("ord2-{}", sim.tag);
    let id2 = book(sim, &admin, &order2, &client2, &reader2).await?;
    sim.api(reqwest::Method::POST, &format!("/api/calls/{order2}/start"), &admin, None).await?;
    let live = session_in(sim, &admin, &id2, "in_progress").await?;
    let cf2 = live["conference_sid"].as_str().unwrap_or_default().to_owned();
    let body = json!({"reason": "inappropriate behaviour"});
    let (status, dropped) =
        sim.api(reqwest::Method::POST, &format!("/api/calls/{id2}/drop"), &monitor, Some(body)).await?;
    anyhow::ensure!(
        status == 200 && dropped["status"] == "dropped_by_monitor",
        "drop answered {status}: {dropped}"
    );
    println!("  a monitor drops the second call");
    let request = format!("POST Conferences/{cf2}");
    sim.until(60, "the conference to be ended by its SID, and both legs to hang up", || async {
        let calls = sim.emulator_list("calls").await?;
        let ended = calls
            .iter()
            .filter(|c| (c["to"] == client2 || c["to"] == reader2) && c["status"] == "completed")
            .count();
        let asked = sim
            .emulator_list("requests")
            .await?
            .iter()
            .any(|r| r["url"].as_str().is_some_and(|u| u.starts_with(&request)));
        Ok((ended == 2 && asked).then_some(()))
    })
    .await?;
    Ok(format!(
        "completed in conference {cf} (client_left, {} s); the second dropped by a monitor via {cf2}",
        done["duration_sec"]
    ))
}
