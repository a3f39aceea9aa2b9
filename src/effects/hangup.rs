//! Hanging up a live call we created (an approval call whose crisis expired): an outbox message to
//! the `twilio_update` destination. Hanging up is idempotent at Twilio, so retries are safe.

use crate::ids::TenantId;
use crate::outbox::{self, Delivery, Destination, NewMessage, OutboxMessage};
use crate::state::AppState;
use crate::twilio::rest::UpdateCall;
use crate::twilio::{CallSid, TwilioError};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// Requests a hang-up of `sid` in the caller's transaction (once per key).
pub async fn request_hangup(
    conn: &mut PgConnection,
    tenant: TenantId,
    now: DateTime<Utc>,
    sid: &str,
    key: String,
) -> Result<bool, sqlx::Error> {
    let message = NewMessage {
        kind: "twilio.hangup",
        destination: "twilio_update",
        payload: serde_json::json!({"sid": sid}),
        idempotency_key: key,
        owner: None,
        priority: super::priority::URGENT,
    };
    Ok(outbox::enqueue(conn, tenant, now, message).await?.is_some())
}

/// Delivers hang-ups.
pub struct TwilioUpdateDestination {
    state: AppState,
}

impl TwilioUpdateDestination {
    /// The destination for the application.
    pub fn new(state: &AppState) -> Self {
        TwilioUpdateDestination { state: state.clone() }
    }
}

#[async_trait::async_trait]
impl Destination for TwilioUpdateDestination {
    async fn deliver(&self, message: &OutboxMessage) -> Delivery {
        let Some(sid) = message.payload["sid"].as_str().and_then(|s| CallSid::parse(s).ok()) else {
            return Delivery::Dead("no call sid".into());
        };
        match self.state.twilio.update_call(&sid, &UpdateCall::hang_up()).await {
            Ok(_) => Delivery::Delivered,
            // The call already ended (or never connected): nothing left to hang up.
            Err(TwilioError::Api { status, .. }) if status < 500 => Delivery::Delivered,
            Err(TwilioError::NotConfigured) => Delivery::Park("twilio_not_configured".into()),
            Err(e) => Delivery::Retry(e.to_string()),
        }
    }
}
