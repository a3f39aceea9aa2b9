//! The crisis resource, its states and the validation of a new crisis.

use super::machine::{CrisisStatus, OfficerCallStatus};
use crate::error::{ApiError, FieldError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Largest accepted decision, in bytes of JSON.
pub const MAX_DECISION_BYTES: usize = 16 * 1024;

/// `POST /api/crises`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"type": "fire", "description": "smoke on floor 3", "location": "5th and Main", "risk_score": 4.5, "decision": {"units": ["engine-7", "ladder-2"]}}))]
pub struct NewCrisis {
    /// `fire`, `flood`, … (1–64 characters).
    #[serde(rename = "type")]
    #[schema(min_length = 1, max_length = 64)]
    pub kind: String,
    /// What is happening (≤ 2000 characters).
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: String,
    /// Where (≤ 500 characters).
    #[serde(default)]
    #[schema(max_length = 500)]
    pub location: String,
    /// 0–5.
    #[schema(minimum = 0, maximum = 5)]
    pub risk_score: f64,
    /// What to dispatch: `{"units": [...], …}` (≤ 16 KiB); no units means nothing is dispatched.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub decision: serde_json::Value,
}

impl NewCrisis {
    /// Every invalid field, or the trimmed crisis.
    pub fn validate(mut self) -> Result<NewCrisis, ApiError> {
        let mut errors = Vec::new();
        self.kind = self.kind.trim().to_owned();
        if !(1..=64).contains(&self.kind.chars().count()) {
            errors.push(FieldError::new("type", "must be 1 to 64 characters"));
        }
        if self.description.chars().count() > 2000 {
            errors.push(FieldError::new("description", "must be at most 2000 characters"));
        }
        if self.location.chars().count() > 500 {
            errors.push(FieldError::new("location", "must be at most 500 characters"));
        }
        if !(0.0..=5.0).contains(&self.risk_score) || self.risk_score.is_nan() {
            errors.push(FieldError::new("risk_score", "must be a number from 0 to 5"));
        }
        if self.decision.is_null() {
            self.decision = serde_json::json!({});
        }
        if !self.decision.is_object() {
            errors.push(FieldError::new("decision", "must be a JSON object"));
        } else if serde_json::to_vec(&self.decision).map_or(0, |b| b.len()) > MAX_DECISION_BYTES {
            errors.push(FieldError::new("decision", "must be at most 16 KiB of JSON"));
        }
        if errors.is_empty() { Ok(self) } else { Err(ApiError::Validation(errors)) }
    }
}

/// Whether a decision sends any unit (else the dispatch is skipped).
pub fn dispatches_units(decision: &serde_json::Value) -> bool {
    decision.get("units").and_then(|u| u.as_array()).is_some_and(|u| !u.is_empty())
}

/// A crisis as stored and shown.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, utoipa::ToSchema)]
pub struct Crisis {
    /// Its id.
    pub id: Uuid,
    /// The tenant.
    #[serde(skip)]
    pub tenant_id: Uuid,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// What is happening.
    pub description: String,
    /// Where.
    pub location: String,
    /// 0–5.
    pub risk_score: f64,
    /// What to dispatch.
    #[schema(value_type = Object)]
    pub decision: serde_json::Value,
    /// Where it stands.
    #[sqlx(try_from = "String")]
    pub status: CrisisStatus,
    /// When an undecided crisis expires.
    pub approval_deadline: Option<DateTime<Utc>>,
    /// When it was decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// Who decided (`operator:<key>`, `phone:<call sid>`, `system:expiry`).
    pub decided_by: Option<String>,
    /// Why (API decisions).
    pub decision_reason: Option<String>,
    /// Which duty officer is being called.
    #[serde(skip)]
    pub officer_index: i32,
    /// Whether every duty officer was tried.
    #[serde(skip)]
    pub escalation_exhausted: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl crate::pagination::Keyed for Crisis {
    fn sort_key(&self) -> crate::pagination::Cursor {
        crate::pagination::Cursor { at: self.created_at, id: self.id.to_string() }
    }
}

impl Crisis {
    /// The tenant.
    pub fn tenant(&self) -> crate::ids::TenantId {
        crate::ids::TenantId(self.tenant_id)
    }

    /// Whether a decision may still be taken.
    pub fn is_pending(&self) -> bool {
        self.status == CrisisStatus::PendingApproval
    }

    /// Whether the deadline has passed at `now`.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.approval_deadline.is_some_and(|d| now >= d)
    }

    /// How the status reads to a person on the phone.
    pub fn spoken_status(&self) -> &'static str {
        self.status.spoken()
    }
}

/// An officer call of a crisis.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, utoipa::ToSchema)]
pub struct ApprovalCall {
    /// The effects attempt token (in the call's URLs).
    #[serde(skip)]
    pub attempt_token: String,
    /// The crisis.
    pub crisis_id: Uuid,
    /// The officer's number.
    pub officer_number: String,
    /// Position in the duty officer list.
    pub officer_index: i32,
    /// The call, once known.
    pub call_sid: Option<String>,
    /// `requested`, then the call's status.
    #[sqlx(try_from = "String")]
    #[schema(value_type = String, example = "ringing")]
    pub status: OfficerCallStatus,
    /// Requested.
    pub created_at: DateTime<Utc>,
}
