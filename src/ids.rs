//! Identifiers every layer passes around. A leaf: the tenancy, audit, outbox and effects modules
//! all name a tenant, and none of them should depend on `tenants` (which depends on them) for it.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// A tenant's id.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    sqlx::Type,
    utoipa::ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = uuid::Uuid)]
#[sqlx(transparent)]
pub struct TenantId(pub Uuid);

impl TenantId {
    /// The raw UUID.
    pub fn uuid(self) -> Uuid {
        self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
