//! The missed-call text-back: once per caller per sliding window, never to an opted-out,
//! anonymous or non-textable caller, from the number the caller dialled, opening the caller's
//! conversation.

use super::calls::{self, InboundCall};
use super::conversations;
use crate::effects::{self, MessageRequest, Owner, priority};
use crate::tenants::Tenant;
use crate::twilio::Address;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// The owning domain of text-backs and replies.
pub const DOMAIN: &str = "inbound";

/// Texts the caller of a missed call back, if the rules allow; whether a text was queued.
pub async fn text_back(
    conn: &mut PgConnection,
    tenant: &Tenant,
    call: &InboundCall,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let settings = &tenant.settings.text_back;
    if !settings.enabled {
        return Ok(false);
    }
    let Some(caller) = Address::parse(&call.from_address).number().cloned() else { return Ok(false) };
    if conversations::is_opted_out(conn, tenant.id, caller.as_str()).await? {
        return Ok(false);
    }
    let window = chrono::Duration::hours(settings.window_hours.into());
    if !calls::claim_text_back(conn, tenant.id, caller.as_str(), &call.call_sid, window, now).await? {
        return Ok(false);
    }
    let body = settings.template.replace("{business}", &tenant.settings.name);
    let conversation = conversations::upsert(conn, tenant.id, caller.as_str(), &call.to_number, now).await?;
    let message = conversations::insert_outbound(conn, &conversation, &body, now).await?;
    let owner = Owner {
        domain: DOMAIN,
        id: message.id.to_string(),
        idempotency_key: format!("textback:{}", call.call_sid),
        priority: priority::NORMAL,
    };
    let request = MessageRequest {
        to: caller.as_str().to_owned(),
        from: call.to_number.clone(),
        body,
        media: Vec::new(),
    };
    effects::request_message(conn, tenant.id, now, owner, &request).await?;
    Ok(true)
}
