//! Outbox rows: claiming, recording outcomes, operator transitions.

use crate::ids::TenantId;
use crate::pagination::Keyset;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A message's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a worker (leased).
    Delivering,
    /// Done.
    Delivered,
    /// Kept for an operator (destination not configured, or an ambiguous outcome).
    Parked,
    /// Every attempt failed.
    Dead,
    /// No longer wanted.
    Cancelled,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Delivering => "delivering",
            Status::Delivered => "delivered",
            Status::Parked => "parked",
            Status::Dead => "dead",
            Status::Cancelled => "cancelled",
        }
    }

    /// Every stored name.
    pub const NAMES: &'static [&'static str] =
        &["pending", "delivering", "delivered", "parked", "dead", "cancelled"];

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Status> {
        [
            Status::Pending,
            Status::Delivering,
            Status::Delivered,
            Status::Parked,
            Status::Dead,
            Status::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// As a filter (`?status=`): a name that is not a status is refused with the list of them.
impl<'de> serde::Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::filters::one_of(d, Status::parse, Status::NAMES)
    }
}

/// A message as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, utoipa::ToSchema)]
pub struct OutboxMessage {
    /// Stable across retries: the `webhook-id`.
    pub id: Uuid,
    /// The tenant.
    pub tenant_id: Uuid,
    /// What it is.
    pub kind: String,
    /// Where it goes.
    pub destination: String,
    /// What it carries (not listed by the API: it may hold personal data).
    #[serde(skip)]
    pub payload: serde_json::Value,
    /// The owning domain.
    pub owner_domain: Option<String>,
    /// The owning entity.
    pub owner_id: Option<String>,
    /// Delivery priority.
    pub priority: i16,
    /// State.
    #[schema(value_type = Status)]
    pub status: String,
    /// Deliveries tried.
    pub attempts: i32,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// The current lease, while delivering.
    #[serde(skip)]
    pub lease_id: Option<Uuid>,
    /// Why the last attempt failed, or why it is parked.
    pub last_error: Option<String>,
    /// Enqueued.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

macro_rules! message_columns {
    ($p:literal) => {
        concat!(
            $p,
            "id, ",
            $p,
            "tenant_id, ",
            $p,
            "kind, ",
            $p,
            "destination, ",
            $p,
            "payload, ",
            $p,
            "owner_domain, ",
            $p,
            "owner_id, ",
            $p,
            "priority, ",
            $p,
            "status, ",
            $p,
            "attempts, ",
            $p,
            "next_attempt_at, ",
            $p,
            "lease_id, ",
            $p,
            "last_error, ",
            $p,
            "created_at, ",
            $p,
            "updated_at, ",
            $p,
            "delivered_at"
        )
    };
}

/// Returns deliveries whose lease expired (their worker died) to `pending`.
pub async fn recover_expired(db: &PgPool, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE outbox_message SET status = 'pending', lease_id = NULL, lease_expires_at = NULL,
           next_attempt_at = $1, last_error = COALESCE(last_error, 'lease expired'), updated_at = now()
         WHERE status = 'delivering' AND lease_expires_at <= $1",
    )
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// The reason a message waits for a replica that knows its owning domain.
pub const UNKNOWN_OWNER_DOMAIN: &str = "unknown_owner_domain";

/// Returns to `pending` the messages parked because their owning domain was unknown to the
/// replica that claimed them (a newer replica's domain during a rolling deploy), now that this
/// replica, which knows `domains`, runs.
pub async fn release_known_domains(
    db: &PgPool,
    domains: &[String],
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE outbox_message SET status = 'pending', next_attempt_at = $1, updated_at = now()
         WHERE status = 'parked' AND last_error = $2 AND owner_domain = ANY($3)",
    )
    .bind(now)
    .bind(UNKNOWN_OWNER_DOMAIN)
    .bind(domains)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Claims up to `batch` due messages, highest priority first, sharing the batch equally among
/// the tenants with pending messages: each gets `batch / tenants`, but never less than
/// `per_tenant` (so one tenant's backlog cannot hold back another's when many wait, and a round
/// is not left a fifth full when only two tenants wait: a round's claim and settle cost the same
/// for 20 messages as for 100). SKIP LOCKED lets several workers
/// and replicas claim side by side without waiting on each other.
///
/// The tenants with pending messages are found by a skip scan of `outbox_due_idx` (one index probe
/// per tenant), not by reading every pending row: a claim must cost the same with a backlog of a
/// million as with ten, or a burst slows delivery down exactly when it most needs to keep up. The
/// walk starts at a random tenant and wraps around, so when more tenants wait than one batch
/// holds, none is always last. The picked ids are updated by key (`= ANY`), never by a join the
/// planner could turn into a scan of the table.
pub async fn claim(
    db: &PgPool,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    batch: i64,
    per_tenant: i64,
) -> Result<Vec<OutboxMessage>, sqlx::Error> {
    sqlx::query_as(concat!(
        "WITH RECURSIVE from_pivot AS (
           (SELECT tenant_id FROM outbox_message WHERE status = 'pending' AND tenant_id >= $5 ORDER BY tenant_id LIMIT 1)
           UNION ALL
           SELECT (SELECT m.tenant_id FROM outbox_message m
                   WHERE m.status = 'pending' AND m.tenant_id > f.tenant_id ORDER BY m.tenant_id LIMIT 1)
           FROM from_pivot f WHERE f.tenant_id IS NOT NULL
         ), to_pivot AS (
           (SELECT tenant_id FROM outbox_message WHERE status = 'pending' ORDER BY tenant_id LIMIT 1)
           UNION ALL
           SELECT (SELECT m.tenant_id FROM outbox_message m
                   WHERE m.status = 'pending' AND m.tenant_id > t.tenant_id ORDER BY m.tenant_id LIMIT 1)
           FROM to_pivot t WHERE t.tenant_id < $5
         ), tenants AS (
           SELECT tenant_id FROM from_pivot WHERE tenant_id IS NOT NULL
           UNION ALL
           SELECT tenant_id FROM to_pivot WHERE tenant_id < $5
         )
         UPDATE outbox_message o SET status = 'delivering', attempts = o.attempts + 1, lease_id = gen_random_uuid(),
           lease_expires_at = $2, updated_at = now()
         WHERE o.id = ANY(ARRAY(
           SELECT m.id FROM tenants t
           CROSS JOIN LATERAL (
             SELECT id FROM outbox_message m
             WHERE m.tenant_id = t.tenant_id AND m.status = 'pending' AND m.next_attempt_at <= $1
             ORDER BY m.priority DESC, m.next_attempt_at
             LIMIT GREATEST($3, $4 / GREATEST((SELECT count(*) FROM tenants), 1)) FOR UPDATE SKIP LOCKED
           ) m LIMIT $4
         ))
         RETURNING ",
        message_columns!("o.")
    ))
    .bind(now)
    .bind(now + lease)
    .bind(per_tenant)
    .bind(batch)
    .bind(Uuid::new_v4())
    .fetch_all(db)
    .await
}

/// One delivery's outcome, recorded with [`finish_all`].
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The message.
    pub id: Uuid,
    /// The lease it was delivered under.
    pub lease_id: Option<Uuid>,
    /// Its new state.
    pub status: Status,
    /// When it is due again (pending) or now.
    pub next_attempt_at: DateTime<Utc>,
    /// Why it failed or was parked.
    pub error: Option<String>,
    /// Whether the attempt does not count (deferred).
    pub refund: bool,
}

/// Records a round's outcomes in one statement, each only if its lease still holds the message
/// (a redelivered message is not overwritten by a worker that outlived its lease); how many were
/// recorded.
pub async fn finish_all(db: &PgPool, outcomes: &[Outcome], now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    if outcomes.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = outcomes.iter().map(|o| o.id).collect();
    let leases: Vec<Option<Uuid>> = outcomes.iter().map(|o| o.lease_id).collect();
    let statuses: Vec<&str> = outcomes.iter().map(|o| o.status.as_str()).collect();
    let next: Vec<DateTime<Utc>> = outcomes.iter().map(|o| o.next_attempt_at).collect();
    let errors: Vec<Option<&str>> = outcomes.iter().map(|o| o.error.as_deref()).collect();
    let refunds: Vec<bool> = outcomes.iter().map(|o| o.refund).collect();
    let done = sqlx::query(
        "UPDATE outbox_message m SET status = o.status, next_attempt_at = o.next_at, last_error = COALESCE(o.error, m.last_error),
           lease_id = NULL, lease_expires_at = NULL, updated_at = now(),
           delivered_at = CASE WHEN o.status = 'delivered' THEN $7 ELSE m.delivered_at END,
           attempts = CASE WHEN o.refund THEN m.attempts - 1 ELSE m.attempts END
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::text[], $6::bool[])
           AS o(id, lease, status, next_at, error, refund)
         WHERE m.id = o.id AND m.lease_id = o.lease",
    )
    .bind(&ids)
    .bind(&leases)
    .bind(&statuses)
    .bind(&next)
    .bind(&errors)
    .bind(&refunds)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Pending count and the oldest pending message's enqueue time (metrics).
pub async fn backlog(db: &PgPool) -> Result<(i64, Option<DateTime<Utc>>), sqlx::Error> {
    sqlx::query_as("SELECT count(*), min(created_at) FROM outbox_message WHERE status = 'pending'")
        .fetch_one(db)
        .await
}

/// A tenant's messages, filtered, after the cursor.
pub async fn list(
    conn: &mut PgConnection,
    tenant: TenantId,
    status: Option<&str>,
    destination: Option<&str>,
    keys: &Keyset<Uuid>,
) -> Result<Vec<OutboxMessage>, sqlx::Error> {
    let (at, id) = keys.after.unzip();
    sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(""),
        " FROM outbox_message
         WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR destination = $3)
           AND ($4::timestamptz IS NULL OR (created_at, id) > ($4, $5))
         ORDER BY created_at, id LIMIT $6"
    ))
    .bind(tenant.uuid())
    .bind(status)
    .bind(destination)
    .bind(at)
    .bind(id)
    .bind(keys.fetch())
    .fetch_all(conn)
    .await
}

/// Moves one of a tenant's messages from one of `from` to `to` (operator actions); the message
/// as it was before, or `None` if it does not exist. `Err(status)` if it is in another state.
pub async fn transition(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: Uuid,
    from: &[Status],
    to: Status,
    now: DateTime<Utc>,
) -> Result<Option<Result<OutboxMessage, String>>, sqlx::Error> {
    let current: Option<OutboxMessage> = sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(""),
        " FROM outbox_message WHERE id = $1 AND tenant_id = $2 FOR UPDATE"
    ))
    .bind(id)
    .bind(tenant.uuid())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(current) = current else { return Ok(None) };
    if !from.iter().any(|s| s.as_str() == current.status) {
        return Ok(Some(Err(current.status)));
    }
    sqlx::query(
        "UPDATE outbox_message SET status = $2, next_attempt_at = $3, updated_at = now(),
           attempts = CASE WHEN $2 = 'pending' THEN 0 ELSE attempts END
         WHERE id = $1",
    )
    .bind(id)
    .bind(to.as_str())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(Some(Ok(current)))
}

impl crate::pagination::Keyed for OutboxMessage {
    fn sort_key(&self) -> crate::pagination::Cursor {
        crate::pagination::Cursor { at: self.created_at, id: self.id.to_string() }
    }
}
