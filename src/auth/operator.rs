//! Who is calling the operator API, and what their role allows.

use super::keys;
use crate::error::ApiError;
use crate::ids::TenantId;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Operator roles (DESIGN.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every tenant.
    Superadmin,
    /// Everything in their tenant.
    Admin,
    /// Watches and acts on their tenant's operations (crises, calls), no configuration.
    Monitor,
    /// Their own orders' calls only.
    Client,
    /// Their own orders' calls, read-only.
    Reader,
}

impl Role {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Superadmin => "superadmin",
            Role::Admin => "admin",
            Role::Monitor => "monitor",
            Role::Client => "client",
            Role::Reader => "reader",
        }
    }

    /// Parses a stored or wire name.
    pub fn parse(value: &str) -> Option<Role> {
        [Role::Superadmin, Role::Admin, Role::Monitor, Role::Client, Role::Reader]
            .into_iter()
            .find(|r| r.as_str() == value)
    }

    /// Whether keys of this role are scoped to a subject (their own orders).
    pub fn needs_subject(self) -> bool {
        matches!(self, Role::Client | Role::Reader)
    }
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The key used.
    pub key_id: Uuid,
    /// The tenant; `None` for a superadmin.
    pub tenant: Option<TenantId>,
    /// The role.
    pub role: Role,
    /// For clients and readers, whose orders they may see.
    pub subject: Option<String>,
}

impl Operator {
    /// The tenant this operator may act on, given the tenant a path names. Another tenant's id is
    /// a 404 — never a 403 that would confirm it exists.
    pub fn tenant_for(&self, requested: TenantId) -> Result<TenantId, ApiError> {
        match self.tenant {
            None if self.role == Role::Superadmin => Ok(requested),
            Some(own) if own == requested => Ok(own),
            _ => Err(ApiError::NotFound),
        }
    }

    /// The operator's own tenant (tenant-scoped endpoints without a tenant in the path).
    pub fn own_tenant(&self) -> Result<TenantId, ApiError> {
        self.tenant
            .ok_or_else(|| ApiError::invalid("tenant", "a superadmin key has no tenant; use a tenant key"))
    }

    /// The operator's own tenant, if its role is one of `roles` (tenant-scoped endpoints).
    pub fn own_tenant_as(&self, roles: &[Role]) -> Result<TenantId, ApiError> {
        let tenant = self.own_tenant()?;
        self.require(roles)?;
        Ok(tenant)
    }

    /// 403 unless the operator has one of `roles` (superadmin always may).
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.role == Role::Superadmin || roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// 403 unless superadmin.
    pub fn require_superadmin(&self) -> Result<(), ApiError> {
        if self.role == Role::Superadmin { Ok(()) } else { Err(ApiError::Forbidden) }
    }
}

/// Where a request's authenticated key is written for a layer that logs after the handler (the
/// sensitive-action log): present only on the routes that ask for it.
#[derive(Debug, Clone, Default)]
pub struct SeenOperator(pub std::sync::Arc<std::sync::OnceLock<(Uuid, Role)>>);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        let operator =
            keys::authenticate(&state.db, state.clock.now(), token).await?.ok_or(ApiError::Unauthorized)?;
        if let Some(tenant) = operator.tenant {
            tracing::Span::current().record("tenant.id", tracing::field::display(tenant));
        }
        if let Some(seen) = parts.extensions.get::<SeenOperator>() {
            let _ = seen.0.set((operator.key_id, operator.role));
        }
        Ok(operator)
    }
}
