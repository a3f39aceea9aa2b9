//! Whether a connection reaches a server that takes writes. A leaf: the pool ([`crate::db`]),
//! the notification listeners ([`crate::worker`]) and `/ready` ([`crate::health`]) use it to
//! notice a failover that left them on a demoted primary (docs/scaling.md).

/// The query: true on a standby, or on a primary made read-only while it is demoted.
pub const READ_ONLY_SQL: &str =
    "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'";

/// Whether this connection's server takes no writes; logs it when so (the caller closes or
/// reconnects).
pub async fn is_read_only<'e>(conn: impl sqlx::PgExecutor<'e>) -> Result<bool, sqlx::Error> {
    let read_only: bool = sqlx::query_scalar(READ_ONLY_SQL).fetch_one(conn).await?;
    if read_only {
        tracing::warn!("a database connection reached a read-only server (a demoted primary?); closing it");
    }
    Ok(read_only)
}
