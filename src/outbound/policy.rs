//! A run's policies (seed 003, part 2): when a lead may be called (the calling window, in the
//! lead's timezone), which ended attempts are tried again and when (retries by outcome), and what
//! an answering machine gets. All pure: the dialer and the callbacks pass "now" and the stored
//! settings in, and store what comes out.

use crate::error::FieldError;
use crate::tenants::{BusinessHours, DAYS, parse_time};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// When leads may be called, in each lead's own timezone (else the business's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"start": "09:00", "end": "20:00", "days": ["mon", "tue", "wed", "thu", "fri"]}))]
pub struct CallingWindow {
    /// `HH:MM`, local time.
    pub start: String,
    /// `HH:MM` after `start` (or `24:00`), local time.
    pub end: String,
    /// The weekdays (`mon`…`sun`); default every day.
    #[serde(default = "every_day")]
    pub days: Vec<String>,
}

fn every_day() -> Vec<String> {
    DAYS.iter().map(|d| (*d).to_owned()).collect()
}

/// One outcome's retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryRule {
    /// Minutes after the attempt ended (0–10080); default 0.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10080)]
    pub after_mins: i64,
    /// Retries at most (0–10): a lead is dialled at most `1 + max` times for this outcome.
    #[schema(minimum = 0, maximum = 10)]
    pub max: i32,
}

/// Retries by outcome; an outcome not named is final.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"busy": {"after_mins": 10, "max": 2}, "no_answer": {"after_mins": 60, "max": 1}, "failed": {"max": 0}}))]
pub struct Retry {
    /// The line was busy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy: Option<RetryRule>,
    /// Nobody answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_answer: Option<RetryRule>,
    /// The call failed (e.g. an unreachable number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<RetryRule>,
}

impl Retry {
    /// The rule for an attempt's outcome, if that outcome is retried at all.
    pub fn rule(&self, outcome: &str) -> Option<RetryRule> {
        match outcome {
            "busy" => self.busy,
            "no_answer" => self.no_answer,
            "failed" => self.failed,
            _ => None,
        }
    }
}

/// What an answering machine (or a fax) gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Machine {
    /// Hang up on `machine_*` and `fax` (outcome `machine` / `fax`); Twilio's `MachineDetection=Enable`.
    Hangup,
    /// Speak this text (1–4000 characters) once the greeting ended; Twilio's
    /// `MachineDetection=DetectMessageEnd`. A fax is hung up on.
    LeaveMessage(String),
}

impl Machine {
    /// Twilio's `MachineDetection` value for it.
    pub fn detection(&self) -> &'static str {
        match self {
            Machine::Hangup => "Enable",
            Machine::LeaveMessage(_) => "DetectMessageEnd",
        }
    }
}

/// A run's policies as stored (`outbound_run.policy`) and shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Policy {
    /// Absent: the business's hours (and holidays) in the lead's timezone; no hours set = any time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calling_window: Option<CallingWindow>,
    /// Absent: no retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// Absent: no machine detection (the outcome of an answered call is then `answered`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<Machine>,
}

impl Policy {
    /// Reads a stored policy; a row that does not parse (never written by this code) has none.
    pub fn from_stored(value: &serde_json::Value) -> Policy {
        serde_json::from_value(value.clone()).unwrap_or_else(|_| {
            tracing::error!("an outbound run's stored policy does not parse; no policy applies");
            Policy::default()
        })
    }

    /// Every problem, naming its field.
    pub fn problems(&self, redirects: bool) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Some(w) = &self.calling_window {
            let start = parse_time(&w.start);
            let end = if w.end == "24:00" { None } else { parse_time(&w.end) };
            if start.is_none() {
                errors.push(FieldError::new("calling_window.start", "must be HH:MM"));
            }
            if w.end != "24:00" && end.is_none() {
                errors.push(FieldError::new("calling_window.end", "must be HH:MM (or 24:00)"));
            }
            if let (Some(s), Some(e)) = (start, end)
                && s >= e
            {
                errors.push(FieldError::new("calling_window.end", "must be after start"));
            }
            if w.days.is_empty() || w.days.iter().any(|d| !DAYS.contains(&d.as_str())) {
                errors.push(FieldError::new("calling_window.days", "must be one or more of mon … sun"));
            }
        }
        if let Some(retry) = &self.retry {
            for (name, rule) in
                [("busy", retry.busy), ("no_answer", retry.no_answer), ("failed", retry.failed)]
            {
                let Some(rule) = rule else { continue };
                if !(0..=10).contains(&rule.max) {
                    errors.push(FieldError::new(field(name, "max"), "must be from 0 to 10"));
                }
                if !(0..=10_080).contains(&rule.after_mins) {
                    errors.push(FieldError::new(field(name, "after_mins"), "must be from 0 to 10080"));
                }
            }
        }
        match &self.machine {
            Some(_) if redirects => errors.push(FieldError::new(
                "machine",
                "does not apply to a twiml_url script (the script receives AnsweredBy and decides)",
            )),
            Some(Machine::LeaveMessage(text)) if text.trim().is_empty() || text.chars().count() > 4000 => {
                errors.push(FieldError::new("machine.leave_message", "must be 1 to 4000 characters"))
            }
            _ => {}
        }
        errors
    }
}

fn field(outcome: &str, key: &str) -> String {
    format!("retry.{outcome}.{key}")
}

/// The hours a lead may be called in, resolved from the run's window or the business's hours.
#[derive(Debug, Clone)]
pub struct Window {
    /// Per weekday intervals; `None` = any time.
    hours: Option<BusinessHours>,
    /// Closed days (the business's holidays; an explicit window has none).
    holidays: Vec<NaiveDate>,
}

impl Window {
    /// The run's window, else the business's hours and holidays.
    pub fn resolve(
        run: Option<&CallingWindow>,
        business: Option<BusinessHours>,
        holidays: Vec<NaiveDate>,
    ) -> Window {
        match run {
            Some(w) => {
                let map: BTreeMap<String, Vec<[String; 2]>> =
                    w.days.iter().map(|d| (d.clone(), vec![[w.start.clone(), w.end.clone()]])).collect();
                Window { hours: Some(BusinessHours(map)), holidays: Vec::new() }
            }
            None => Window { hours: business, holidays },
        }
    }

    /// `None` when a call may be placed at `now` in `tz`; otherwise the next opening (or `Err`
    /// when the window never opens within two weeks, e.g. every day a holiday).
    pub fn next_opening(&self, tz: Tz, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, NeverOpen> {
        let local = now.with_timezone(&tz);
        let Some(hours) = &self.hours else {
            return if self.holidays.contains(&local.date_naive()) {
                self.first_open_day(tz, now).map(Some)
            } else {
                Ok(None)
            };
        };
        if !self.holidays.contains(&local.date_naive()) && hours.is_open_at(local.weekday(), local.time()) {
            return Ok(None);
        }
        for offset in 0..15 {
            let date = local.date_naive() + Duration::days(offset);
            if self.holidays.contains(&date) {
                continue;
            }
            let day = DAYS[date.weekday().num_days_from_monday() as usize];
            let mut starts: Vec<_> =
                hours.0.get(day).into_iter().flatten().filter_map(|[start, _]| parse_time(start)).collect();
            starts.sort();
            for start in starts {
                let at = local_instant(tz, date.and_time(start));
                if at > now {
                    return Ok(Some(at));
                }
            }
        }
        Err(NeverOpen)
    }

    /// Midnight of the first day after `now` that is not a holiday (hours: any time).
    fn first_open_day(&self, tz: Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, NeverOpen> {
        let today = now.with_timezone(&tz).date_naive();
        (1..15)
            .map(|d| today + Duration::days(d))
            .find(|d| !self.holidays.contains(d))
            .map(|d| local_instant(tz, d.and_time(chrono::NaiveTime::MIN)))
            .ok_or(NeverOpen)
    }
}

/// The window never opens within two weeks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the calling window does not open within two weeks")]
pub struct NeverOpen;

/// A local wall time as an instant: the earlier of a fold; in a daylight-saving gap, the first
/// instant after it (a window opening at 02:30 on a spring-forward day opens at 03:00).
fn local_instant(tz: Tz, local: chrono::NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    for _ in 0..4 {
        if let Some(at) = tz.from_local_datetime(&probe).earliest() {
            return at.with_timezone(&Utc);
        }
        probe += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&local)
}

/// The lead's timezone, else the business's, else UTC (a stored zone is validated on upload and
/// on tenant update; a bad one is logged, never silently trusted).
pub fn zone(lead: Option<&str>, business: &str) -> Tz {
    lead.and_then(|z| z.parse().ok()).or_else(|| business.parse().ok()).unwrap_or_else(|| {
        tracing::error!("neither the lead's nor the business's timezone parses; UTC applies");
        Tz::UTC
    })
}

/// What an ended attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    /// The job ends with the attempt's outcome.
    Final,
    /// Tried again at this instant (the retry's count for that outcome goes up).
    RetryAt(DateTime<Utc>),
}

/// Whether an attempt ending with `outcome` at `now` is tried again, given the retries already
/// made for that outcome.
pub fn after_attempt(retry: Option<&Retry>, outcome: &str, made: i32, now: DateTime<Utc>) -> AfterAttempt {
    match retry.and_then(|r| r.rule(outcome)) {
        Some(rule) if made < rule.max => AfterAttempt::RetryAt(now + Duration::minutes(rule.after_mins)),
        _ => AfterAttempt::Final,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    fn window(days: &[&str]) -> Window {
        let w = CallingWindow {
            start: "09:00".into(),
            end: "20:00".into(),
            days: days.iter().map(|d| (*d).to_owned()).collect(),
        };
        Window::resolve(Some(&w), None, Vec::new())
    }

    #[test]
    fn a_window_is_evaluated_in_the_leads_timezone() {
        let w = window(&DAYS);
        // 15:00 UTC on a Monday is 09:00 in Chicago (CST): open; 14:59 UTC is not.
        let ny: Tz = "America/Chicago".parse().expect("tz");
        assert_eq!(w.next_opening(ny, at("2026-11-30T15:00:00Z")), Ok(None));
        assert_eq!(w.next_opening(ny, at("2026-11-30T14:59:00Z")), Ok(Some(at("2026-11-30T15:00:00Z"))));
        // After 20:00 local the next opening is tomorrow 09:00 local.
        assert_eq!(w.next_opening(ny, at("2026-12-01T02:30:00Z")), Ok(Some(at("2026-12-01T15:00:00Z"))));
    }

    #[test]
    fn closed_days_are_skipped() {
        let w = window(&["mon", "tue", "wed", "thu", "fri"]);
        // Saturday 2026-12-05 noon UTC → Monday 09:00 UTC.
        assert_eq!(w.next_opening(Tz::UTC, at("2026-12-05T12:00:00Z")), Ok(Some(at("2026-12-07T09:00:00Z"))));
    }

    #[test]
    fn no_hours_means_any_time_but_holidays() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 25).expect("date");
        let w = Window::resolve(None, None, vec![date]);
        assert_eq!(w.next_opening(Tz::UTC, at("2026-12-24T23:00:00Z")), Ok(None));
        assert_eq!(w.next_opening(Tz::UTC, at("2026-12-25T10:00:00Z")), Ok(Some(at("2026-12-26T00:00:00Z"))));
    }

    #[test]
    fn a_gap_opens_after_it() {
        let w = Window::resolve(
            Some(&CallingWindow { start: "02:30".into(), end: "05:00".into(), days: every_day() }),
            None,
            Vec::new(),
        );
        let ny: Tz = "America/New_York".parse().expect("tz");
        // 2027-03-14: 02:00 → 03:00 in New York; 03:00 EDT is 07:00 UTC.
        assert_eq!(w.next_opening(ny, at("2027-03-14T06:00:00Z")), Ok(Some(at("2027-03-14T07:00:00Z"))));
    }

    #[test]
    fn retries_stop_at_max_and_unnamed_outcomes_are_final() {
        let retry: Retry =
            serde_json::from_value(json!({"busy": {"after_mins": 10, "max": 2}, "failed": {"max": 0}}))
                .expect("retry");
        let now = at("2026-11-30T10:00:00Z");
        assert_eq!(
            after_attempt(Some(&retry), "busy", 0, now),
            AfterAttempt::RetryAt(at("2026-11-30T10:10:00Z"))
        );
        assert_eq!(
            after_attempt(Some(&retry), "busy", 1, now),
            AfterAttempt::RetryAt(at("2026-11-30T10:10:00Z"))
        );
        assert_eq!(after_attempt(Some(&retry), "busy", 2, now), AfterAttempt::Final);
        assert_eq!(after_attempt(Some(&retry), "failed", 0, now), AfterAttempt::Final);
        assert_eq!(after_attempt(Some(&retry), "no_answer", 0, now), AfterAttempt::Final);
        assert_eq!(after_attempt(None, "busy", 0, now), AfterAttempt::Final);
    }

    #[test]
    fn machine_reads_both_shapes_and_refuses_a_redirect() {
        let hangup: Machine = serde_json::from_value(json!("hangup")).expect("hangup");
        assert_eq!(hangup.detection(), "Enable");
        let leave: Machine = serde_json::from_value(json!({"leave_message": "Hi"})).expect("leave");
        assert_eq!(leave.detection(), "DetectMessageEnd");
        let policy = Policy { machine: Some(hangup), ..Policy::default() };
        assert_eq!(policy.problems(true).len(), 1);
        assert!(policy.problems(false).is_empty());
    }
}
