//! How the outbound domain hears about the calls it creates, and refuses a create that is no
//! longer wanted. A job's outcome comes from the ledger's status changes: the parent call's
//! terminal status ends the job and frees its slot; a `connect` agent leg (a child) is part of the
//! same call and changes nothing.

use super::{dnc, slots};
use crate::clock::Clock;
use crate::effects::{CallChange, EffectOwner};
use crate::ids::TenantId;
use sqlx::PgConnection;
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

/// The `outbound` domain's side of the effects registry.
pub struct OutboundOwner {
    /// The application clock.
    pub clock: Arc<dyn Clock>,
    /// Wakes this instance's dialer when a slot may have freed (after the callback commits the
    /// dialer's own poll finds it anyway).
    pub wake: Arc<Notify>,
}

#[async_trait::async_trait]
impl EffectOwner for OutboundOwner {
    async fn on_call_status(&self, conn: &mut PgConnection, change: &CallChange) -> Result<(), sqlx::Error> {
        if change.parent_sid.is_some() {
            return Ok(());
        }
        let Ok(id) = Uuid::parse_str(&change.owner_id) else { return Ok(()) };
        let Some(held) = slots::lock(conn, change.tenant, id).await? else {
            tracing::warn!(call.sid = %change.sid, "status of an outbound call whose job is unknown");
            return Ok(());
        };
        // A callback of an earlier attempt's call must not end the current attempt.
        if change.attempt_token.is_some() && change.attempt_token != held.attempt_token {
            return Ok(());
        }
        let now = self.clock.now();
        slots::bind_sid(conn, held.id, &change.sid, now).await?;
        let answered_by = change.answered_by.as_ref().map(|a| a.as_str());
        if change.status.is_terminal() {
            if slots::end_with_call(conn, &held, &change.sid, &change.status, answered_by, now).await? {
                self.wake.notify_one();
            }
        } else if held.hangup_requested && held.call_sid.is_none() && held.status == "in_progress" {
            // Stop arrived while the create was ambiguous: its SID is known now, hang it up.
            slots::hang_up_call(conn, &held, &change.sid, now).await?;
        }
        Ok(())
    }

    /// A create still queued in the outbox for a job that was cancelled or stopped meanwhile is
    /// dropped at delivery.
    async fn still_wanted(
        &self,
        conn: &mut PgConnection,
        tenant: TenantId,
        owner_id: &str,
    ) -> Result<bool, sqlx::Error> {
        let Ok(id) = Uuid::parse_str(owner_id) else { return Ok(false) };
        // A create already sent with its outcome unknown stays wanted: reconciliation must find
        // it (a stopped job's call is hung up when its SID binds).
        let row: Option<(bool, bool, String)> = sqlx::query_as(
            "SELECT j.status = 'in_progress' AND NOT j.hangup_requested,
                    COALESCE(a.state IN ('sending', 'unknown'), false), j.number
             FROM outbound_job j LEFT JOIN twilio_attempt a ON a.token = j.attempt_token
             WHERE j.tenant_id = $1 AND j.id = $2",
        )
        .bind(tenant.uuid())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((live, in_doubt, number)) = row else { return Ok(false) };
        if in_doubt {
            return Ok(true);
        }
        // Checked again at delivery: a number put on the do-not-call list (or opted out) while
        // its create waited is not called; the settle step then marks the job skipped.
        Ok(live && dnc::blocked(conn, tenant.uuid(), &number).await?.is_none())
    }
}
