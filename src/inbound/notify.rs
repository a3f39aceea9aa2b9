//! Notifications to the call service and the bot, through the outbox. Each has a stable key so a
//! repeated webhook never notifies twice.

use crate::ids::TenantId;
use crate::outbox::{self, NewMessage};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;

/// Enqueues a notification of `kind` to `destination`, once per `key`.
pub async fn send(
    conn: &mut PgConnection,
    tenant: TenantId,
    now: DateTime<Utc>,
    kind: &str,
    destination: &str,
    key: String,
    data: Value,
) -> Result<(), sqlx::Error> {
    outbox::enqueue(conn, tenant, now, message(kind, destination, key, data)).await.map(|_| ())
}

/// A notification of `kind` to `destination`, once per `key` (enqueued by [`send`], or with its
/// neighbours by a group commit).
pub fn message<'a>(kind: &'a str, destination: &'a str, key: String, data: Value) -> NewMessage<'a> {
    NewMessage {
        kind,
        destination,
        payload: data,
        idempotency_key: key,
        owner: None,
        priority: crate::effects::priority::NORMAL,
    }
}

/// The body of a call notification.
pub fn call_data(
    tenant: TenantId,
    sid: &str,
    from: &str,
    to: &str,
    status: &str,
    at: DateTime<Utc>,
) -> Value {
    json!({"call_sid": sid, "from": from, "to": to, "tenant_id": tenant, "status": status, "direction": "inbound",
        "at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)})
}
