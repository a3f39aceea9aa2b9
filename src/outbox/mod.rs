//! The outbox: every effect outside the database (an HTTP notification, a Twilio call or
//! message) is a row written with [`enqueue`] in the acting transaction, and delivered at least
//! once, outside any transaction, by the [`worker`]: claimed with `FOR UPDATE SKIP LOCKED` and a
//! lease, fairly across tenants, retried with exponential backoff and full jitter, `dead` after
//! the last attempt, `parked` when its destination is not configured, `cancelled` when the owning
//! domain no longer wants it. The message id is stable across retries (receivers dedupe on it).

mod console;
mod handlers;
pub mod http;
pub mod repo;
pub mod worker;

pub use handlers::KnownDestinations;
pub use repo::{OutboxMessage, Status};
pub use worker::{Delivery, Destination, OutboxWorker, Registry, StillWanted};

use crate::ids::TenantId;
use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// An effect to deliver.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// What it is (`call.incoming`, `twilio.message`, …).
    pub kind: &'a str,
    /// Where it goes (`call_service`, `bot`, `dispatch`, `twilio`).
    pub destination: &'a str,
    /// What it carries.
    pub payload: serde_json::Value,
    /// Enqueueing the same key twice creates one message.
    pub idempotency_key: String,
    /// The domain and entity asked before delivery whether it is still wanted.
    pub owner: Option<(&'a str, String)>,
    /// Higher is delivered first.
    pub priority: i16,
}

/// Enqueues a message in the caller's transaction; `None` when its key was already enqueued.
/// Call [`wake`] after the transaction commits so this instance delivers it at once.
pub async fn enqueue(
    conn: &mut PgConnection,
    tenant: TenantId,
    now: DateTime<Utc>,
    m: NewMessage<'_>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let (owner_domain, owner_id) = m.owner.unzip();
    sqlx::query_scalar(
        "INSERT INTO outbox_message (id, tenant_id, kind, destination, payload, idempotency_key, owner_domain,
           owner_id, priority, status, next_attempt_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $10, $10)
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(tenant.uuid())
    .bind(m.kind)
    .bind(m.destination)
    .bind(&m.payload)
    .bind(&m.idempotency_key)
    .bind(owner_domain)
    .bind(owner_id)
    .bind(m.priority)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Wakes this instance's outbox worker (after a commit that enqueued something). Other replicas
/// find the message on their next poll: no NOTIFY inside hot-path transactions (DESIGN.md §5).
pub fn wake(state: &AppState) {
    state.outbox_wake.notify_one();
}

/// The routes [`router`] serves.
pub const ROUTES: &[crate::openapi::Route] = &[
    ("GET", "/api/notifications"),
    ("POST", "/api/notifications/{id}/redeliver"),
    ("POST", "/api/notifications/{id}/cancel"),
];

/// The OpenAPI fragment of [`ROUTES`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(handlers::list, handlers::redeliver, handlers::cancel))]
    struct Api;
    <Api as utoipa::OpenApi>::openapi()
}

/// `/api/notifications…`.
pub fn router(registry: &Registry) -> Router<AppState> {
    Router::new()
        .route("/api/notifications", get(handlers::list))
        .route("/api/notifications/{id}/redeliver", post(handlers::redeliver))
        .route("/api/notifications/{id}/cancel", post(handlers::cancel))
        .layer(axum::Extension(known_destinations(registry)))
}

/// The notifications page of the operator console.
pub fn console_section(registry: &Registry) -> crate::console::Section {
    let mut section = console::section();
    section.router = section.router.layer(axum::Extension(known_destinations(registry)));
    section
}

fn known_destinations(registry: &Registry) -> KnownDestinations {
    let mut names: Vec<String> = registry.destination_names().map(str::to_owned).collect();
    names.sort();
    KnownDestinations(std::sync::Arc::new(names))
}
