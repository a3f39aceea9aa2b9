//! API keys: generation, hashing, and the tenant-scoped repository functions. Lookups by token
//! hash (authentication) and cross-tenant listings go through [`crate::system`].

use super::{Operator, Role};
use crate::ids::TenantId;
use crate::pagination::Keyset;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Every token starts with this, so leaked tokens are easy to search for.
pub const TOKEN_PREFIX: &str = "sb_";

/// A stored key (never the token).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq, utoipa::ToSchema)]
pub struct ApiKey {
    /// The key's id.
    pub id: Uuid,
    /// Its tenant; `None` for superadmin keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    /// Its role.
    pub role: String,
    /// For clients and readers: whose orders.
    pub subject: Option<String>,
    /// A label.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last used (coarse: updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key to create.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// `None` only for superadmin keys.
    pub tenant: Option<TenantId>,
    /// The role.
    pub role: Role,
    /// Required for clients and readers.
    pub subject: Option<String>,
    /// A label.
    pub name: String,
}

/// A freshly created key and its token (shown once).
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The stored key.
    pub key: ApiKey,
    /// The token: `sb_` + 32 random bytes, base64url.
    pub token: String,
}

/// A new random token.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// What is stored for a token.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

macro_rules! key_columns {
    () => {
        "id, tenant_id, role, subject, name, created_at, last_used_at, revoked_at"
    };
}

/// Inserts a key (tenant-scoped or system connection alike).
pub async fn insert(
    conn: &mut PgConnection,
    new: &NewKey,
    now: DateTime<Utc>,
) -> Result<CreatedKey, sqlx::Error> {
    let token = generate_token();
    let key: ApiKey = sqlx::query_as(concat!(
        "INSERT INTO api_key (id, tenant_id, role, subject, name, token_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        key_columns!()
    ))
    .bind(Uuid::new_v4())
    .bind(new.tenant.map(TenantId::uuid))
    .bind(new.role.as_str())
    .bind(&new.subject)
    .bind(&new.name)
    .bind(hash_token(&token))
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(CreatedKey { key, token })
}

/// A tenant's keys, oldest first, after the cursor.
pub async fn list(
    conn: &mut PgConnection,
    tenant: TenantId,
    keys: &Keyset<Uuid>,
) -> Result<Vec<ApiKey>, sqlx::Error> {
    let (at, id) = keys.after.unzip();
    sqlx::query_as(concat!(
        "SELECT ",
        key_columns!(),
        " FROM api_key WHERE tenant_id = $1
           AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
         ORDER BY created_at, id LIMIT $4"
    ))
    .bind(tenant.uuid())
    .bind(at)
    .bind(id)
    .bind(keys.fetch())
    .fetch_all(conn)
    .await
}

/// Revokes one of a tenant's keys; `false` if there is no such key.
pub async fn revoke(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE api_key SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND tenant_id = $2",
    )
    .bind(id)
    .bind(tenant.uuid())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The operator a token belongs to, if it is known and not revoked (system path: the caller's
/// tenant is not known yet).
pub async fn authenticate(
    db: &PgPool,
    now: DateTime<Utc>,
    token: &str,
) -> Result<Option<Operator>, sqlx::Error> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let Some(key) = find_key_by_hash(db, &hash_token(token)).await? else { return Ok(None) };
    if key.revoked_at.is_some() {
        return Ok(None);
    }
    let Some(role) = Role::parse(&key.role) else { return Ok(None) };
    if key.last_used_at.is_none_or(|t| now - t > chrono::Duration::minutes(1)) {
        touch_key(db, key.id, now).await?;
    }
    Ok(Some(Operator { key_id: key.id, tenant: key.tenant_id.map(TenantId), role, subject: key.subject }))
}

/// The key with this token hash (authentication).
///
/// Unscoped (system path).
pub async fn find_key_by_hash(db: &PgPool, hash: &[u8]) -> Result<Option<ApiKey>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, tenant_id, role, subject, name, created_at, last_used_at, revoked_at
         FROM api_key WHERE token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(db)
    .await
}

/// Records that a key was used (coarse: the caller limits this to once a minute).
///
/// Unscoped (system path).
pub async fn touch_key(db: &PgPool, id: Uuid, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_key SET last_used_at = $2 WHERE id = $1").bind(id).bind(now).execute(db).await?;
    Ok(())
}

/// Keys of one tenant, or of all tenants (CLI listing).
///
/// Unscoped (system path).
pub async fn list_keys(db: &PgPool, tenant: Option<TenantId>) -> Result<Vec<ApiKey>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, tenant_id, role, subject, name, created_at, last_used_at, revoked_at FROM api_key
         WHERE $1::uuid IS NULL OR tenant_id = $1 ORDER BY created_at, id",
    )
    .bind(tenant.map(TenantId::uuid))
    .fetch_all(db)
    .await
}

/// Revokes any key by id (CLI); `false` if there is none.
///
/// Unscoped (system path).
pub async fn revoke_key(db: &PgPool, id: Uuid, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE api_key SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

impl crate::pagination::Keyed for ApiKey {
    fn sort_key(&self) -> crate::pagination::Cursor {
        crate::pagination::Cursor { at: self.created_at, id: self.id.to_string() }
    }
}
