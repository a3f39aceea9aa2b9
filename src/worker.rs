//! The `Worker` trait: a periodic background job with a public `run_once()`. A leaf, so any
//! module (`twilio/`, `outbox/`, the domains) can define a worker without depending on the loop
//! that runs it ([`crate::workers`]).

use std::sync::Arc;
use std::time::Duration;

/// A periodic background job.
#[async_trait::async_trait]
pub trait Worker: Send + Sync + 'static {
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// How long to wait between rounds.
    fn interval(&self) -> Duration;
    /// Does one round of work; returns how many items it handled.
    async fn run_once(&self) -> anyhow::Result<u64>;
    /// Something that wakes the worker before its interval is up (work was committed locally).
    fn waker(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }
    /// How long to wait after a wake-up before the round, so a burst of wake-ups is one round.
    fn coalesce(&self) -> Duration {
        Duration::ZERO
    }
}

/// How long a notification listener waits in silence before it checks its server still takes
/// writes.
const LISTENER_CHECK: Duration = Duration::from_secs(10);

/// Wakes `wake` on every PostgreSQL notification on `channel` (another replica committed work
/// this instance's worker should look at now, not at its next poll), reconnecting after a failure
/// (logged, naming `what`) until `token` is cancelled. Polling stays the guarantee; this only
/// shortens the wait.
pub async fn forward_notifications(
    db: sqlx::PgPool,
    channel: &'static str,
    wake: std::sync::Arc<tokio::sync::Notify>,
    what: &'static str,
    token: tokio_util::sync::CancellationToken,
) {
    while !token.is_cancelled() {
        let listened = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&db).await?;
            listener.listen(channel).await?;
            loop {
                match tokio::time::timeout(LISTENER_CHECK, listener.recv()).await {
                    Ok(notification) => {
                        notification?;
                        wake.notify_one();
                    }
                    // A quiet listener may be on a primary that was demoted (a failover moved
                    // the address, not this open connection): it would never hear the new
                    // primary's notifications. Reconnect when its server no longer takes writes.
                    Err(_) => {
                        if crate::primary::is_read_only(&mut listener).await? {
                            return Err(sqlx::Error::Protocol("the listener's server is read-only".into()));
                        }
                    }
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            () = token.cancelled() => break,
            result = listened => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, listener = what, "notification listener failed; reconnecting");
                }
                tokio::select! {
                    () = token.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }
    }
}
