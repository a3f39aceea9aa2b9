//! The emulator's clock: real time, scaled (`--clock scaled:10` runs ten times faster), or manual
//! (`--clock manual`: time moves only with `POST /_emulator/clock/advance`). Every delay of a call
//! script (ringing, talking, pauses) sleeps on this clock.

use chrono::{DateTime, Utc};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A clock whose speed is set at start and which can be pushed forward.
pub struct EmuClock {
    scale: f64,
    started: Instant,
    origin: DateTime<Utc>,
    offset: Mutex<chrono::Duration>,
    advanced: Notify,
}

impl EmuClock {
    /// Parses `real`, `scaled:N` or `manual`.
    pub fn parse(mode: &str) -> anyhow::Result<EmuClock> {
        let scale = match mode {
            "real" => 1.0,
            "manual" => 0.0,
            other => other
                .strip_prefix("scaled:")
                .and_then(|n| n.parse::<f64>().ok())
                .filter(|n| *n > 0.0)
                .ok_or_else(|| anyhow::anyhow!("--clock must be real, scaled:N or manual"))?,
        };
        Ok(EmuClock {
            scale,
            started: Instant::now(),
            origin: Utc::now(),
            offset: Mutex::new(chrono::Duration::zero()),
            advanced: Notify::new(),
        })
    }

    /// The emulated now.
    pub fn now(&self) -> DateTime<Utc> {
        let real = self.started.elapsed().as_secs_f64() * self.scale;
        let offset = *self.offset.lock().unwrap_or_else(|p| p.into_inner());
        self.origin + chrono::Duration::milliseconds((real * 1000.0) as i64) + offset
    }

    /// Moves the clock forward and wakes every sleeper.
    pub fn advance(&self, by: chrono::Duration) {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner()) += by;
        self.advanced.notify_waiters();
    }

    /// Sleeps `secs` of emulated time.
    pub async fn sleep(&self, secs: f64) {
        let target = self.now() + chrono::Duration::milliseconds((secs * 1000.0) as i64);
        loop {
            let now = self.now();
            if now >= target {
                return;
            }
            let remaining = (target - now).to_std().unwrap_or_default();
            let real =
                if self.scale > 0.0 { remaining.div_f64(self.scale) } else { Duration::from_secs(3600) };
            tokio::select! {
                () = tokio::time::sleep(real) => {}
                () = self.advanced.notified() => {}
            }
        }
    }
}
