//! `GET /api/me`: who the calling key is and what it may do. The permissions are named after
//! the role checks of the handlers (each handler's OpenAPI description names the one it needs),
//! so a client or the console can show only what will not be refused.

use super::{Operator, Role};
use crate::error::{ApiJson, ApiResult};
use uuid::Uuid;

/// Every permission: its name, the tenant roles that hold it, and whether a superadmin key holds
/// it (a superadmin has no tenant, so it cannot act on tenant-scoped endpoints without one in
/// the path or query).
pub const PERMISSIONS: &[(&str, &[Role], bool)] = &[
    ("tenants:create", &[], true),
    ("tenants:list", &[], true),
    ("tenants:read", &[Role::Admin], true),
    ("tenants:update", &[Role::Admin], true),
    ("numbers:read", &[Role::Admin], true),
    ("numbers:write", &[Role::Admin], true),
    ("keys:read", &[Role::Admin], true),
    ("keys:write", &[Role::Admin], true),
    ("audit:read", &[Role::Admin, Role::Monitor], true),
    ("notifications:read", &[Role::Admin, Role::Monitor], true),
    ("notifications:manage", &[Role::Admin], false),
    ("crises:create", &[Role::Admin, Role::Monitor], false),
    ("crises:read", &[Role::Admin, Role::Monitor], false),
    ("crises:decide", &[Role::Admin], false),
    ("inbound_calls:read", &[Role::Admin, Role::Monitor], false),
    ("conversations:read", &[Role::Admin, Role::Monitor], false),
    ("conversations:reply", &[Role::Admin, Role::Monitor], false),
    ("opt_outs:read", &[Role::Admin, Role::Monitor], false),
    ("opt_outs:delete", &[Role::Admin], false),
    ("sessions:schedule", &[Role::Admin], true),
    ("sessions:read", &[Role::Admin, Role::Monitor, Role::Reader, Role::Client], true),
    ("sessions:cancel", &[Role::Admin], true),
    ("sessions:start", &[Role::Admin, Role::Reader], true),
    ("sessions:end", &[Role::Reader, Role::Client], false),
    ("sessions:drop", &[Role::Admin, Role::Monitor], true),
    ("sirens:trigger", &[Role::Admin, Role::Monitor, Role::Reader, Role::Client], true),
    ("sirens:read", &[Role::Admin, Role::Monitor], true),
    ("sirens:handle", &[Role::Admin, Role::Monitor], true),
    ("recordings:read", &[Role::Admin, Role::Monitor, Role::Reader], true),
    ("recordings:control", &[Role::Admin, Role::Monitor, Role::Reader], true),
    ("recordings:delete", &[Role::Admin], true),
    ("outbound:read", &[Role::Admin, Role::Monitor], false),
    ("outbound:write", &[Role::Admin], false),
    ("outbound:stop", &[Role::Admin, Role::Monitor], false),
];

/// The permissions of a role.
pub fn permissions(role: Role) -> Vec<&'static str> {
    PERMISSIONS
        .iter()
        .filter(
            |(_, roles, superadmin)| {
                if role == Role::Superadmin { *superadmin } else { roles.contains(&role) }
            },
        )
        .map(|(name, _, _)| *name)
        .collect()
}

/// The calling key.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(example = json!({"key_id": "0b6f…", "tenant_id": "5f1e…", "role": "admin", "subject": null,
    "permissions": ["tenants:read", "crises:create"]}))]
pub struct Me {
    /// The key's id.
    pub key_id: Uuid,
    /// Its tenant; `null` for a superadmin.
    pub tenant_id: Option<Uuid>,
    /// `superadmin`, `admin`, `monitor`, `client` or `reader`.
    #[schema(pattern = "^(superadmin|admin|monitor|client|reader)$")]
    pub role: String,
    /// For client and reader keys: whose orders.
    pub subject: Option<String>,
    /// What it may do.
    pub permissions: Vec<String>,
}

/// `GET /api/me`.
#[utoipa::path(get, path = "/api/me", tag = "me", operation_id = "me",
    summary = "The calling key", description = "Roles: any. The key's tenant, role, subject and permissions.",
    responses((status = 200, description = "The calling key", body = Me)))]
pub async fn me(operator: Operator) -> ApiResult<ApiJson<Me>> {
    Ok(ApiJson(Me {
        key_id: operator.key_id,
        tenant_id: operator.tenant.map(|t| t.uuid()),
        role: operator.role.as_str().to_owned(),
        subject: operator.subject.clone(),
        permissions: permissions(operator.role).into_iter().map(str::to_owned).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monitor_may_read_and_report_crises_but_not_decide_them() {
        let monitor = permissions(Role::Monitor);
        assert!(monitor.contains(&"crises:create") && monitor.contains(&"crises:read"));
        assert!(!monitor.contains(&"crises:decide"));
        assert!(!monitor.contains(&"tenants:update"));
    }

    #[test]
    fn clients_and_readers_hold_only_their_sessions_permissions() {
        assert_eq!(permissions(Role::Client), ["sessions:read", "sessions:end", "sirens:trigger"]);
        assert_eq!(
            permissions(Role::Reader),
            [
                "sessions:read",
                "sessions:start",
                "sessions:end",
                "sirens:trigger",
                "recordings:read",
                "recordings:control"
            ]
        );
    }
}
