//! How the inbound domain hears about the messages it sends (text-backs, replies) and vetoes
//! recipients who opted out.

use super::conversations;
use crate::clock::Clock;
use crate::effects::{EffectOwner, MessageChange};
use crate::ids::TenantId;
use sqlx::PgConnection;
use std::sync::Arc;

/// Twilio's error for a recipient who replied STOP to the sending number.
pub const OPTED_OUT: i64 = 21610;

/// The `inbound` domain's side of the effects registry.
pub struct InboundOwner {
    /// The application clock.
    pub clock: Arc<dyn Clock>,
}

#[async_trait::async_trait]
impl EffectOwner for InboundOwner {
    async fn on_message_status(
        &self,
        conn: &mut PgConnection,
        change: &MessageChange,
    ) -> Result<(), sqlx::Error> {
        let now = self.clock.now();
        if let Ok(id) = uuid::Uuid::parse_str(&change.owner_id) {
            conversations::set_status(conn, id, change.status.as_str(), change.error_code, now).await?;
        }
        if let (Some(OPTED_OUT), Some(to)) = (change.error_code, change.to.as_deref()) {
            conversations::opt_out(conn, change.tenant, to, "twilio_21610", now).await?;
        }
        Ok(())
    }

    async fn may_send_message(
        &self,
        conn: &mut PgConnection,
        tenant: TenantId,
        to: &str,
    ) -> Result<bool, sqlx::Error> {
        Ok(!conversations::is_opted_out(conn, tenant, to).await?)
    }
}
