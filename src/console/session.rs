//! Console sessions: signing in with a pasted API key, the session cookie, the signed-in
//! operator extractor and the CSRF-checked form extractor.
//!
//! The cookie holds a random session token, never the key; only the token's SHA-256 is stored.
//! A session is valid while it has not ended, not expired, and its key is not revoked — checked
//! on every request, so revoking a key signs its sessions out at once on every replica.

use super::html;
use crate::auth::keys::{authenticate, hash_token};
use crate::auth::{Operator, Role, me};
use crate::ids::TenantId;
use crate::state::AppState;
use axum::Form;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rand::RngCore;
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

/// The session cookie's name.
pub const COOKIE: &str = "sb_console";

/// The signed-in operator, from the session cookie. Without a valid session a page redirects to
/// the sign-in form.
#[derive(Debug, Clone)]
pub struct ConsoleUser {
    /// Who acts: the session's key, exactly as the API would see it.
    pub operator: Operator,
    /// The session.
    pub session_id: Uuid,
    /// The token every state-changing form carries.
    pub csrf: String,
    /// Times are shown in the tenant's timezone (UTC for a superadmin).
    pub timezone: Tz,
    /// The tenant's slug, if any.
    pub tenant_slug: Option<String>,
    /// The role's permissions ([`crate::auth::me::permissions`]).
    pub permissions: Vec<&'static str>,
}

impl ConsoleUser {
    /// Whether the role holds `permission` (what is not held is not offered).
    pub fn may(&self, permission: &str) -> bool {
        self.permissions.contains(&permission)
    }

    /// The operator's tenant, if it has one.
    pub fn tenant(&self) -> Option<TenantId> {
        self.operator.tenant
    }
}

/// Why a request has no signed-in operator, or its form was refused.
#[derive(Debug)]
pub enum Refusal {
    /// No valid session: sign in.
    SignIn,
    /// A state-changing form without the session's CSRF token.
    Csrf,
    /// A form that cannot be read.
    Malformed,
    /// The database failed.
    Unavailable,
}

impl Refusal {
    /// The database failed: logged here, once, and answered 503.
    fn unavailable(error: &sqlx::Error) -> Refusal {
        tracing::error!(error = %crate::error::error_chain(error), "console: the database failed");
        Refusal::Unavailable
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::SignIn => Redirect::to("/console/sign-in").into_response(),
            Refusal::Csrf => html::bare(
                StatusCode::FORBIDDEN,
                "Refused",
                "This form was not sent by your console session. Reload the page and try again.",
            ),
            Refusal::Malformed => {
                html::bare(StatusCode::BAD_REQUEST, "Refused", "The form could not be read.")
            }
            Refusal::Unavailable => html::bare(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "The console cannot reach its database. Try again shortly.",
            ),
        }
    }
}

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refusal> {
        let token = session_token(&parts.headers).ok_or(Refusal::SignIn)?;
        let user = find(&state.db, &token, state.clock.now()).await.map_err(|e| Refusal::unavailable(&e))?;
        let user = user.ok_or(Refusal::SignIn)?;
        if let Some(tenant) = user.operator.tenant {
            tracing::Span::current().record("tenant.id", tracing::field::display(tenant));
        }
        Ok(user)
    }
}

/// A state-changing form from a signed-in operator, its `csrf` field checked against the
/// session's: the only way console handlers read a form, so none can skip the check.
pub struct ConsoleForm<T>(pub ConsoleUser, pub T);

#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

impl<T: serde::de::DeserializeOwned + Send> FromRequest<AppState> for ConsoleForm<T> {
    type Rejection = Refusal;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Refusal> {
        let (mut parts, body) = request.into_parts();
        let user = ConsoleUser::from_request_parts(&mut parts, state).await?;
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|_| Refusal::Malformed)?;
        let field: CsrfField = serde_urlencoded::from_bytes(&bytes).map_err(|_| Refusal::Malformed)?;
        if !field.csrf.is_some_and(|sent| same(sent.as_bytes(), user.csrf.as_bytes())) {
            return Err(Refusal::Csrf);
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|_| Refusal::Malformed)?;
        Ok(ConsoleForm(user, form))
    }
}

/// Constant-time equality (the CSRF token is a secret of the session).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `?signed_out=` on the sign-in page.
#[derive(Deserialize)]
pub struct SignInQuery {
    signed_out: Option<String>,
}

/// `GET /console/sign-in`.
pub async fn sign_in_page(Query(q): Query<SignInQuery>) -> Response {
    let notice = q.signed_out.map(|_| "You are signed out.");
    html::sign_in(StatusCode::OK, notice, None)
}

/// The sign-in form: the key travels in the POST body only.
#[derive(Deserialize)]
pub struct SignIn {
    key: String,
}

/// `POST /console/session`: exchanges a key for a session cookie.
pub async fn sign_in(State(state): State<AppState>, Form(form): Form<SignIn>) -> Response {
    let now = state.clock.now();
    let operator = match authenticate(&state.db, now, form.key.trim()).await {
        Ok(Some(operator)) => operator,
        Ok(None) => {
            let refused = "That key is not known or was revoked.";
            return html::sign_in(StatusCode::UNAUTHORIZED, None, Some(refused));
        }
        Err(error) => return Refusal::unavailable(&error).into_response(),
    };
    let token = random_token();
    if let Err(error) =
        insert(&state.db, &token, operator.key_id, now, state.config.console.session_ttl).await
    {
        return Refusal::unavailable(&error).into_response();
    }
    tracing::info!(key.id = %operator.key_id, "console: signed in");
    let secure = state.config.server.public_base_url.as_ref().is_some_and(|u| u.scheme() == "https");
    let ttl = state.config.console.session_ttl;
    let max_age = ttl.num_seconds();
    let cookie = format!(
        "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    with_cookie(Redirect::to("/console"), &cookie)
}

/// Nothing but the CSRF token.
#[derive(Deserialize)]
pub struct Nothing {}

/// `POST /console/sign-out`: ends the session and clears the cookie.
pub async fn sign_out(
    State(state): State<AppState>,
    ConsoleForm(user, Nothing {}): ConsoleForm<Nothing>,
) -> Response {
    if let Err(error) = end(&state.db, user.session_id, state.clock.now()).await {
        return Refusal::unavailable(&error).into_response();
    }
    let cookie = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    with_cookie(Redirect::to("/console/sign-in?signed_out=1"), &cookie)
}

fn with_cookie(redirect: Redirect, cookie: &str) -> Response {
    let mut response = redirect.into_response();
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Starts a session for a key, and forgets sessions that expired over a day ago (signing in is
/// rare enough to carry this small sweep).
///
/// Unscoped (system path): a session belongs to a key, looked up before the tenant is known.
async fn insert(
    db: &PgPool,
    token: &str,
    key_id: Uuid,
    now: DateTime<Utc>,
    ttl: chrono::Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM console_session WHERE expires_at < $1")
        .bind(now - chrono::Duration::days(1))
        .execute(db)
        .await?;
    sqlx::query(
        "INSERT INTO console_session (id, token_hash, key_id, csrf_token, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::new_v4())
    .bind(hash_token(token))
    .bind(key_id)
    .bind(random_token())
    .bind(now)
    .bind(now + ttl)
    .execute(db)
    .await?;
    Ok(())
}

/// Ends a session (sign-out).
///
/// Unscoped (system path).
async fn end(db: &PgPool, id: Uuid, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE console_session SET ended_at = COALESCE(ended_at, $2) WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}

type SessionRow = (Uuid, String, Uuid, Option<Uuid>, String, Option<String>, Option<String>, Option<String>);

/// The operator of a live session: not ended, not expired, its key not revoked.
///
/// Unscoped (system path): the session's tenant is what this finds out.
pub async fn find(db: &PgPool, token: &str, now: DateTime<Utc>) -> Result<Option<ConsoleUser>, sqlx::Error> {
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT s.id, s.csrf_token, k.id, k.tenant_id, k.role, k.subject, t.timezone, t.slug
         FROM console_session s JOIN api_key k ON k.id = s.key_id LEFT JOIN tenant t ON t.id = k.tenant_id
         WHERE s.token_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2 AND k.revoked_at IS NULL",
    )
    .bind(hash_token(token))
    .bind(now)
    .fetch_optional(db)
    .await?;
    let Some((session_id, csrf, key_id, tenant, role, subject, timezone, slug)) = row else {
        return Ok(None);
    };
    let Some(role) = Role::parse(&role) else { return Ok(None) };
    Ok(Some(ConsoleUser {
        operator: Operator { key_id, tenant: tenant.map(TenantId), role, subject },
        session_id,
        csrf,
        timezone: timezone.and_then(|tz| tz.parse().ok()).unwrap_or(Tz::UTC),
        tenant_slug: slug,
        permissions: me::permissions(role),
    }))
}

/// Whether the session is still live (the event stream re-checks it on every poll).
pub async fn still_live(db: &PgPool, session: Uuid, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM console_session s JOIN api_key k ON k.id = s.key_id
         WHERE s.id = $1 AND s.ended_at IS NULL AND s.expires_at > $2 AND k.revoked_at IS NULL)",
    )
    .bind(session)
    .bind(now)
    .fetch_one(db)
    .await
}
