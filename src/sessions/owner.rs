//! How sessions hear about their legs (the effects ledger) and drop legs no longer wanted.

use super::machine::SessionStatus;
use super::{events, repo, requests};
use crate::clock::Clock;
use crate::effects::{CallChange, EffectOwner};
use crate::ids::TenantId;
use sqlx::PgConnection;
use std::sync::Arc;

/// The `sessions` domain's side of the effects registry.
pub struct SessionsOwner {
    /// The application clock.
    pub clock: Arc<dyn Clock>,
}

#[async_trait::async_trait]
impl EffectOwner for SessionsOwner {
    async fn on_call_status(&self, conn: &mut PgConnection, change: &CallChange) -> Result<(), sqlx::Error> {
        events::on_leg_status(conn, change, self.clock.now()).await
    }

    /// A leg whose session is no longer dialling (dropped, timed out) is not created.
    async fn still_wanted(
        &self,
        conn: &mut PgConnection,
        tenant: TenantId,
        owner_id: &str,
    ) -> Result<bool, sqlx::Error> {
        // An id that names no session's leg cannot be wanted by one.
        let Some((id, _party)) = requests::parse_owner_id(owner_id) else { return Ok(false) };
        let session = repo::find(conn, tenant, id).await?;
        Ok(session.is_some_and(|s| matches!(s.status, SessionStatus::Initiating | SessionStatus::Ringing)))
    }
}
