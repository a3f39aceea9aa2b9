//! Idempotent creates on the operator API (DESIGN.md §4): every creating POST accepts an
//! `Idempotency-Key`; a repeat from the same caller within 24 h gets the first answer (status and
//! body) and creates nothing, also when the two race. The key is claimed with
//! `INSERT … ON CONFLICT` inside the creating transaction, so a racing repeat blocks until the
//! first commits and then reads its answer (or, if the first failed and rolled back, creates).

use crate::auth::Operator;
use crate::auth::scope::tenant_tx;
use crate::error::{ApiError, ApiResult};
use crate::ids::TenantId;
use crate::state::AppState;
use crate::system;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// How long an answer is replayed.
pub const REPLAY_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// The `Idempotency-Key` header: 1–255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get("idempotency-key")
            .ok_or_else(|| ApiError::invalid("Idempotency-Key", "is missing"))?;
        let text = value
            .to_str()
            .ok()
            .filter(|v| (1..=255).contains(&v.len()) && v.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        text.map(|t| IdempotencyKey(t.to_owned()))
            .ok_or_else(|| ApiError::invalid("Idempotency-Key", "must be 1-255 visible ASCII characters"))
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, ApiError> {
        if parts.headers.contains_key("idempotency-key") {
            <Self as FromRequestParts<S>>::from_request_parts(parts, state).await.map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Whose data the create writes.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// One tenant's (a tenant-scoped transaction).
    Tenant(TenantId),
    /// The system path (superadmin collection operations).
    System,
}

/// A successful create: 201, a `Location`, a JSON body.
#[derive(Debug, Clone)]
pub struct Created {
    /// Where the new resource lives.
    pub location: String,
    /// The resource.
    pub body: Vec<u8>,
    /// What a repeat gets, when it must differ from `body` (a secret shown only once).
    pub replay_body: Option<Vec<u8>>,
}

impl Created {
    /// A created resource at `location`.
    pub fn new(location: String, resource: &impl Serialize) -> Created {
        Created { location, body: serde_json::to_vec(resource).unwrap_or_default(), replay_body: None }
    }

    /// A repeat gets `replay` instead of the resource (which holds a secret that is never stored).
    pub fn with_replay(mut self, replay: &impl Serialize) -> Created {
        self.replay_body = Some(serde_json::to_vec(replay).unwrap_or_default());
        self
    }
}

fn respond(status: StatusCode, location: Option<&str>, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Runs `create` in a transaction of `scope`, once per (caller, key) within the replay window.
/// `request` identifies what was asked (a repeat with another request is a 409).
pub async fn create_once<F>(
    state: &AppState,
    operator: &Operator,
    scope: Scope,
    key: Option<IdempotencyKey>,
    request: &[u8],
    create: F,
) -> ApiResult<Response>
where
    F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, ApiResult<Created>> + Send,
{
    let mut tx = match scope {
        Scope::Tenant(tenant) => tenant_tx(&state.db, tenant).await?,
        Scope::System => system::system_tx(&state.db).await?,
    };
    let now = state.clock.now();
    let fingerprint = Sha256::digest(request).to_vec();
    if let Some(IdempotencyKey(key)) = &key {
        let tenant = match scope {
            Scope::Tenant(t) => Some(t.uuid()),
            Scope::System => None,
        };
        // Claim, or take over an answer older than the window. A concurrent claim of the same key
        // makes this wait for the other transaction's outcome.
        let claimed = sqlx::query(
            "INSERT INTO idempotent_request (api_key_id, key, tenant_id, fingerprint, status, location, body, created_at)
             VALUES ($1, $2, $3, $4, 0, NULL, '', $5)
             ON CONFLICT (api_key_id, key) DO UPDATE
               SET fingerprint = EXCLUDED.fingerprint, status = 0, location = NULL, body = '', created_at = EXCLUDED.created_at
               WHERE idempotent_request.created_at < $6",
        )
        .bind(operator.key_id)
        .bind(key)
        .bind(tenant)
        .bind(&fingerprint)
        .bind(now)
        .bind(now - REPLAY_WINDOW)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !claimed {
            tx.rollback().await?;
            return replay(state, operator, key, &fingerprint).await;
        }
    }
    let created = create(&mut tx).await?;
    if let Some(IdempotencyKey(key)) = &key {
        sqlx::query("UPDATE idempotent_request SET status = 201, location = $3, body = $4 WHERE api_key_id = $1 AND key = $2")
            .bind(operator.key_id)
            .bind(key)
            .bind(&created.location)
            .bind(created.replay_body.as_ref().unwrap_or(&created.body))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(respond(StatusCode::CREATED, Some(&created.location), created.body))
}

async fn replay(state: &AppState, operator: &Operator, key: &str, fingerprint: &[u8]) -> ApiResult<Response> {
    let stored = find_idempotent_answer(&state.db, operator.key_id, key).await?;
    let Some((stored_fingerprint, status, location, body)) = stored else {
        return Err(ApiError::Conflict(
            "the first request with this Idempotency-Key is still in progress".into(),
        ));
    };
    if stored_fingerprint != fingerprint {
        return Err(ApiError::Conflict("this Idempotency-Key was used with a different request".into()));
    }
    let status =
        u16::try_from(status).ok().and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::CREATED);
    Ok(respond(status, location.as_deref(), body))
}

/// Deletes idempotent-create answers past their 24 h replay window.
pub struct IdempotencySweeper {
    state: AppState,
}

impl IdempotencySweeper {
    /// A sweeper over the application's database.
    pub fn new(state: &AppState) -> Self {
        IdempotencySweeper { state: state.clone() }
    }
}

#[async_trait::async_trait]
impl crate::worker::Worker for IdempotencySweeper {
    fn name(&self) -> &'static str {
        "idempotency-sweeper"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(3600)
    }

    async fn run_once(&self) -> anyhow::Result<u64> {
        let cutoff = self.state.clock.now() - crate::idempotency::REPLAY_WINDOW;
        Ok(sweep_idempotent_requests(&self.state.db, cutoff).await?)
    }
}

/// A stored idempotent answer of this caller (keyed by the caller's own key id).
///
/// Unscoped (system path).
pub async fn find_idempotent_answer(
    db: &PgPool,
    key_id: Uuid,
    key: &str,
) -> Result<Option<(Vec<u8>, i16, Option<String>, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as("SELECT fingerprint, status, location, body FROM idempotent_request WHERE api_key_id = $1 AND key = $2")
        .bind(key_id)
        .bind(key)
        .fetch_optional(db)
        .await
}

/// Deletes idempotent answers older than `cutoff` (all tenants: a worker).
///
/// Unscoped (system path).
pub async fn sweep_idempotent_requests(db: &PgPool, cutoff: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM idempotent_request WHERE created_at < $1").bind(cutoff).execute(db).await?;
    Ok(done.rows_affected())
}
