//! How crises hear about their officer calls (the effects ledger) and veto stale ones.

use super::repo;
use super::service;
use crate::clock::Clock;
use crate::effects::{CallChange, EffectOwner};
use crate::ids::TenantId;
use sqlx::PgConnection;
use std::sync::Arc;

/// The `crises` domain's side of the effects registry.
pub struct CrisesOwner {
    /// The application clock.
    pub clock: Arc<dyn Clock>,
}

#[async_trait::async_trait]
impl EffectOwner for CrisesOwner {
    /// An officer who does not answer (no-answer, busy, failed) hands the crisis to the next one.
    async fn on_call_status(&self, conn: &mut PgConnection, change: &CallChange) -> Result<(), sqlx::Error> {
        let Some(token) = change.attempt_token.as_deref() else { return Ok(()) };
        let now = self.clock.now();
        let Some(call) = repo::find_call(conn, token).await? else { return Ok(()) };
        let Some(status) = call.status.after(&change.status) else { return Ok(()) };
        repo::set_call_status(conn, token, &status, now).await?;
        if !status.unanswered() {
            return Ok(());
        }
        let Some(crisis) = repo::lock(conn, change.tenant, call.crisis_id).await? else { return Ok(()) };
        // Only the officer currently being called escalates, and only while a decision is open.
        if crisis.is_pending()
            && !crisis.is_overdue(now)
            && crisis.officer_index == call.officer_index
            && !crisis.escalation_exhausted
        {
            service::call_officer(conn, change.tenant, &crisis, call.officer_index + 1, now).await?;
        }
        Ok(())
    }

    /// A queued officer call whose crisis is no longer pending is cancelled at delivery.
    async fn still_wanted(
        &self,
        conn: &mut PgConnection,
        tenant: TenantId,
        owner_id: &str,
    ) -> Result<bool, sqlx::Error> {
        // An id that names no crisis cannot be wanted by one.
        let Ok(id) = uuid::Uuid::parse_str(owner_id) else { return Ok(false) };
        let crisis = repo::find(conn, tenant, id).await?;
        Ok(crisis.is_some_and(|c| c.is_pending() && !c.is_overdue(self.clock.now())))
    }
}
