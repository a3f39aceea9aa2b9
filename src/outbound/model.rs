//! Runs, jobs and scripts as the API shows them.

use super::machine::RunStatus;
use super::policy::Policy;
use crate::pagination::{Cursor, Keyed};
use crate::twilio::E164;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// What a dialled lead hears: exactly one of `say`, `connect`, `twiml_url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Script {
    /// Speak this text (1–4000 characters), then hang up.
    Say(String),
    /// Connect the lead to this agent number (the agent leg is part of the same call).
    Connect(E164),
    /// Fetch TwiML from this `https://` URL.
    TwimlUrl(String),
}

impl Script {
    /// The script's problem, if any (the field name and the message).
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Script::Say(text) if text.trim().is_empty() || text.chars().count() > 4000 => {
                Some(("script.say", "must be 1 to 4000 characters"))
            }
            Script::TwimlUrl(url) if !url.starts_with("https://") || url::Url::parse(url).is_err() => {
                Some(("script.twiml_url", "must be an https:// URL"))
            }
            _ => None,
        }
    }
}

/// A job's state. `in_progress` holds one of its business's slots (create queued or sent, or the
/// call live).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a slot.
    Queued,
    /// Waiting for `next_attempt_at`: the calling window's next opening, or a retry's delay.
    Deferred,
    /// Being dialled or on the call.
    InProgress,
    /// The call was answered and ended.
    Completed,
    /// The call ended unanswered (busy, no answer, failed) or could not be created.
    Failed,
    /// Cancelled before it was dialled (or hung up by stop-queue).
    Cancelled,
    /// Never dialled (the number opted out).
    Skipped,
    /// Never dialled: the same number is another lead of the run.
    Duplicate,
}

impl JobStatus {
    /// Every status.
    pub const ALL: [JobStatus; 8] = [
        JobStatus::Queued,
        JobStatus::Deferred,
        JobStatus::InProgress,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
        JobStatus::Skipped,
        JobStatus::Duplicate,
    ];

    /// Every stored name.
    pub const NAMES: &'static [&'static str] =
        &["queued", "deferred", "in_progress", "completed", "failed", "cancelled", "skipped", "duplicate"];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Deferred => "deferred",
            JobStatus::InProgress => "in_progress",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Skipped => "skipped",
            JobStatus::Duplicate => "duplicate",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

impl TryFrom<String> for JobStatus {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        JobStatus::parse(&value).ok_or(value)
    }
}

/// As a filter (`?status=`): a name that is not a status is refused with the list of them.
impl<'de> Deserialize<'de> for JobStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::filters::one_of(d, JobStatus::parse, JobStatus::NAMES)
    }
}

/// A run as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    /// Its id.
    pub id: Uuid,
    /// The tenant.
    pub tenant_id: Uuid,
    /// Its name.
    pub name: String,
    /// The caller id.
    pub from_number: String,
    /// The script.
    pub script: serde_json::Value,
    /// Its own cap (the business's may be lower).
    pub max_concurrent: i32,
    /// Its state.
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    /// Graceful cancel asked.
    pub cancel_requested: bool,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// When dialling begins.
    pub start_at: Option<DateTime<Utc>>,
    /// When dialling began.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// The API key that created it.
    pub created_by: Uuid,
    /// Its policies (`calling_window`, `retry`, `machine`).
    pub policy: serde_json::Value,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Jobs per status, and ended calls per outcome.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Counts {
    /// Waiting for a slot.
    pub queued: i64,
    /// Being dialled or on the call.
    pub in_progress: i64,
    /// Answered and ended.
    pub completed: i64,
    /// Ended unanswered or not created.
    pub failed: i64,
    /// Cancelled.
    pub cancelled: i64,
    /// Waiting for the calling window or a retry.
    pub deferred: i64,
    /// Skipped (opted out, or on the do-not-call list).
    pub skipped: i64,
    /// Same number as another lead.
    pub duplicate: i64,
    /// Every lead.
    pub total: i64,
    /// Ended jobs by outcome (`human`, `machine`, `fax`, `answered`, `busy`, `no_answer`, `failed`, `canceled`, `opted_out`, …).
    pub outcomes: BTreeMap<String, i64>,
}

/// A run as the API shows it (the seed's shape plus counts and an ETA).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Run {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The caller id.
    pub from_number: String,
    /// The script.
    #[schema(value_type = Object)]
    pub script: serde_json::Value,
    /// The run's own cap; the business's `outbound_max_concurrent` still applies.
    pub max_concurrent: i32,
    /// Its state.
    pub status: RunStatus,
    /// Whether cancel/stop is still possible.
    pub can_cancel: bool,
    /// Graceful cancel asked (live calls finishing).
    pub cancel_requested: bool,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// When dialling begins (a scheduled start).
    pub start_at: Option<DateTime<Utc>>,
    /// When dialling began.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// The API key that created it.
    pub created_by: Uuid,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Policies, flattened (`calling_window`, `retry`, `machine`; absent = the default).
    #[serde(flatten)]
    pub policy: Policy,
    /// Counts, flattened (`queued`, `in_progress`, `completed`, …, `outcomes`).
    #[serde(flatten)]
    pub counts: Counts,
    /// When the queued leads will all have been dialled at the account's pace (running runs only).
    pub eta: Option<DateTime<Utc>>,
}

impl Run {
    /// The view of `row` with its counts.
    pub fn new(row: RunRow, counts: Counts, eta: Option<DateTime<Utc>>) -> Run {
        Run {
            id: row.id,
            name: row.name,
            from_number: row.from_number,
            script: row.script,
            max_concurrent: row.max_concurrent,
            status: row.status,
            can_cancel: !row.status.is_terminal(),
            cancel_requested: row.cancel_requested,
            failure_reason: row.failure_reason,
            start_at: row.start_at,
            started_at: row.started_at,
            ended_at: row.ended_at,
            created_by: row.created_by,
            created_at: row.created_at,
            policy: Policy::from_stored(&row.policy),
            counts,
            eta,
        }
    }
}

impl Keyed for Run {
    fn sort_key(&self) -> Cursor {
        Cursor { at: self.created_at, id: self.id.to_string() }
    }
}

/// A job (one lead of a run).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Job {
    /// Its id.
    pub id: Uuid,
    /// The run.
    pub run_id: Uuid,
    /// Its place in the run's upload order (the list's sort key).
    #[serde(skip)]
    pub seq: i64,
    /// The lead's id in the uploader's system.
    pub lead_id: String,
    /// The number (E.164).
    pub number: String,
    /// The lead's name.
    pub name: Option<String>,
    /// The lead's IANA timezone.
    pub timezone: Option<String>,
    /// The uploader's data.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    /// Its state.
    #[sqlx(try_from = "String")]
    pub status: JobStatus,
    /// How the call ended, or why it was not dialled.
    pub outcome: Option<String>,
    /// Details (a Twilio refusal, a lease settled).
    pub reason: Option<String>,
    /// Attempts made.
    pub attempts: i32,
    /// The latest attempt's outcome (also while a retry waits).
    pub last_outcome: Option<String>,
    /// When a `deferred` job is dialled next (the window's opening or the retry's time).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Twilio's call SID, once known.
    pub call_sid: Option<String>,
    /// When its call was requested.
    pub dialled_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl Keyed for Job {
    fn sort_key(&self) -> Cursor {
        Cursor { at: self.created_at, id: self.seq.to_string() }
    }
}
