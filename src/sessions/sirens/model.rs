//! The siren resource and the bodies that raise and resolve one.

use super::machine::{AlertType, Resolution, SirenStatus};
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A siren as stored and as answered.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct Siren {
    /// Its id.
    pub id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// The call session it was raised on.
    pub session_id: Uuid,
    /// `emergency`, `quality_issue`, `technical_problem`, `inappropriate_behavior`.
    #[sqlx(try_from = "String")]
    pub alert_type: AlertType,
    /// Why it was raised.
    pub reason: String,
    /// `active`, `acknowledged`, `resolved`, `false_alarm`.
    #[sqlx(try_from = "String")]
    pub status: SirenStatus,
    /// Who raised it (`operator:{key id}`).
    pub triggered_by: String,
    /// The role of the key that raised it.
    pub triggered_role: String,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// When.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who resolved it (or called it a false alarm).
    pub resolved_by: Option<String>,
    /// When.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The resolver's note.
    pub resolution_note: Option<String>,
    /// When an active emergency escalates to the duty officers.
    pub escalate_at: Option<DateTime<Utc>>,
    /// When it escalated.
    pub escalated_at: Option<DateTime<Utc>>,
    /// Raised.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Siren {
    /// Its tenant.
    pub fn tenant(&self) -> crate::ids::TenantId {
        crate::ids::TenantId(self.tenant_id)
    }
}

impl crate::pagination::Keyed for Siren {
    fn sort_key(&self) -> crate::pagination::Cursor {
        crate::pagination::Cursor { at: self.created_at, id: self.id.to_string() }
    }
}

/// Checks free text: trimmed, 1–1000 characters when given (`required`: must be given).
fn text(field: &str, value: Option<&str>, required: bool) -> Result<Option<String>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None if required => Err(ApiError::invalid(field, "is required")),
        Some(v) if v.chars().count() > 1000 => {
            Err(ApiError::invalid(field, "must be at most 1000 characters"))
        }
        v => Ok(v.map(str::to_owned)),
    }
}

/// `POST /api/calls/{id}/siren`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"alert_type": "emergency", "reason": "the client says they are unsafe"}))]
pub struct NewSiren {
    /// `emergency`, `quality_issue`, `technical_problem`, `inappropriate_behavior`.
    pub alert_type: AlertType,
    /// Why (1–1000 characters).
    #[serde(default)]
    pub reason: Option<String>,
}

impl NewSiren {
    /// The reason, checked.
    pub fn reason(&self) -> Result<String, ApiError> {
        Ok(text("reason", self.reason.as_deref(), true)?.unwrap_or_default())
    }
}

/// `POST /api/sirens/{id}/resolve`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ResolveSiren {
    /// `resolved` or `false_alarm`.
    pub resolution: Resolution,
    /// What was done (up to 1000 characters).
    #[serde(default)]
    #[schema(nullable)]
    pub note: Option<String>,
}

impl ResolveSiren {
    /// The note, checked.
    pub fn note(&self) -> Result<Option<String>, ApiError> {
        text("note", self.note.as_deref(), false)
    }
}
