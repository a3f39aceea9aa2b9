//! The recording part of `scheduled-call`: the reader starts a recording (the conference hears
//! the consent notice first), pauses, resumes and stops it; the signed link downloads the audio
//! with no key, and after an admin deletes it the link is refused.

use super::Sim;
use anyhow::Context;
use serde_json::Value;

async fn recordings(sim: &Sim, token: &str, id: &str) -> anyhow::Result<Value> {
    let (status, list) =
        sim.api(reqwest::Method::GET, &format!("/api/calls/{id}/recordings"), token, None).await?;
    anyhow::ensure!(status == 200, "listing recordings answered {status}: {list}");
    Ok(list)
}

/// Asks `action` and waits until Twilio confirmed `wanted`.
async fn control(sim: &Sim, token: &str, id: &str, action: &str, wanted: &str) -> anyhow::Result<()> {
    let path = format!("/api/calls/{id}/recording/{action}");
    let (status, body) = sim.api(reqwest::Method::POST, &path, token, None).await?;
    anyhow::ensure!(status == 202, "recording {action} answered {status}: {body}");
    sim.until(60, &format!("the recording to be {wanted}"), || async {
        let list = recordings(sim, token, id).await?;
        anyhow::ensure!(list["recording_error_code"].is_null(), "Twilio refused {action}: {list}");
        Ok((list["recording_status"] == wanted && list["recording_requested"].is_null()).then_some(()))
    })
    .await
}

/// Records session `id` live, downloads the recording by its link, deletes it.
pub(super) async fn record_live(sim: &Sim, admin: &str, reader: &str, id: &str) -> anyhow::Result<String> {
    control(sim, reader, id, "start", "recording").await?;
    let list = recordings(sim, admin, id).await?;
    anyhow::ensure!(list["notice_played_at"].is_string(), "no consent notice before the start: {list}");
    println!("  the consent notice plays, then the reader's leg is recorded (both parties, dual channel)");
    control(sim, admin, id, "pause", "paused").await?;
    control(sim, admin, id, "resume", "recording").await?;
    control(sim, reader, id, "stop", "stopped").await?;
    println!("  paused, resumed and stopped");
    let item = sim
        .until(60, "the recording to complete", || async {
            let list = recordings(sim, admin, id).await?;
            let item = list["items"][0].clone();
            Ok((item["status"] == "completed" && item["download_url"].is_string()).then_some(item))
        })
        .await?;
    let link = item["download_url"].as_str().context("link")?.to_owned();
    let audio = sim.http.get(&link).send().await?;
    anyhow::ensure!(audio.status() == 200, "the link answered {}", audio.status());
    let bytes = audio.bytes().await?;
    anyhow::ensure!(bytes.starts_with(b"RIFF"), "the link did not download the audio");
    println!("  the signed link downloads {} bytes of audio, no key needed", bytes.len());
    let rid = item["id"].as_str().context("recording id")?;
    let path = format!("/api/calls/{id}/recordings/{rid}");
    let (status, body) = sim.api(reqwest::Method::DELETE, &path, admin, None).await?;
    anyhow::ensure!(status == 204, "delete answered {status}: {body}");
    let after = sim.http.get(&link).send().await?.status();
    anyhow::ensure!(after == 403, "the link still answered {after} after the delete");
    println!("  an admin deletes it: the link is refused");
    Ok(format!("recorded {} s, downloaded {} bytes, deleted", item["duration_sec"], bytes.len()))
}
