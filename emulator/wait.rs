//! Before a scenario starts: wait (bounded) until Switchboard's `/ready` answers 200 and the
//! emulator answers, so `simulate` can be typed while both are still building or migrating. When
//! one never comes up, the error says what to start.

use std::time::{Duration, Instant};

/// Between two probes.
const POLL: Duration = Duration::from_millis(250);

/// What was seen of one service at the last probe: `None` once it is up.
struct Probe {
    url: String,
    problem: Option<String>,
}

impl Probe {
    async fn check(&mut self, http: &reqwest::Client) {
        self.problem = match http.get(&self.url).send().await {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => {
                let status = response.status();
                let body: String = response.text().await.unwrap_or_default().chars().take(300).collect();
                Some(format!("answered {status}: {body}"))
            }
            Err(e) if e.is_connect() => Some("nothing listens there yet".into()),
            Err(e) => Some(format!("{e}")),
        };
    }
}

/// Waits up to `limit` for both; on failure, a sentence per service still down saying what to do.
pub async fn until_up(server: &str, emulator: &str, limit: Duration) -> Result<(), String> {
    let http = switchboard::net::client_builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let mut switchboard = Probe { url: format!("{server}/ready"), problem: None };
    let mut emu = Probe { url: format!("{emulator}/_emulator/clock"), problem: None };
    let deadline = Instant::now() + limit;
    let mut announced = false;
    loop {
        switchboard.check(&http).await;
        emu.check(&http).await;
        if switchboard.problem.is_none() && emu.problem.is_none() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(advice(&switchboard, &emu, limit));
        }
        if !announced {
            // One line, so a user who typed `simulate` early knows it is not stuck.
            println!(
                "waiting up to {}s for Switchboard ({}) and the emulator ({emulator}) to be ready…",
                limit.as_secs(),
                switchboard.url
            );
            announced = true;
        }
        tokio::time::sleep(POLL).await;
    }
}

fn advice(switchboard: &Probe, emulator: &Probe, limit: Duration) -> String {
    let secs = limit.as_secs();
    let mut lines = Vec::new();
    if let Some(problem) = &switchboard.problem {
        lines.push(format!(
            "Switchboard is not ready after {secs}s ({} {problem}): start it with `scripts/run` (it applies \
             the migrations), or point --server (SWITCHBOARD_URL) at a running one",
            switchboard.url
        ));
    }
    if let Some(problem) = &emulator.problem {
        lines.push(format!(
            "the emulator does not answer after {secs}s ({} {problem}): start it with `twilio-emulator serve`, \
             or point --emulator (EMULATOR_URL) at a running one",
            emulator.url
        ));
    }
    lines.push(format!("(waited {secs}s: raise it with --wait-secs)"));
    lines.join("\n")
}
