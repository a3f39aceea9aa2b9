//! `POST /webhooks/twilio/sms`: the customer's message joins their conversation (one per tenant
//! and customer), opt-out keywords are honoured, and the call service and the bot are notified.

use super::pending::{PendingEffect, PendingEffects, is_unavailable};
use super::{conversations, notify};
use crate::ids::TenantId;
use crate::state::AppState;
use crate::tenants::NumberDirectory;
use crate::tenants::Route;
use crate::twilio::params::WebhookPayload;
use crate::twilio::receipts::{self, failure_response};
use crate::twilio::{InboundSms, TwilioWebhook, Twiml, WebhookError, WebhookReply};
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use serde_json::json;
use sqlx::PgConnection;
use std::sync::Arc;

/// Twilio's single-word opt-out and opt-in keywords.
const STOP: [&str; 6] = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
const START: [&str; 2] = ["START", "UNSTOP"];

/// What a message's text asks for, if it is a keyword.
fn keyword(body: &str) -> Option<&'static str> {
    let word = body.trim().to_ascii_uppercase();
    if STOP.contains(&word.as_str()) {
        Some("STOP")
    } else if START.contains(&word.as_str()) {
        Some("START")
    } else if word == "HELP" {
        Some("HELP")
    } else {
        None
    }
}

/// `POST /webhooks/twilio/sms`: stored, or kept until the database is back (the answer, an
/// empty `<Response/>`, does not depend on it).
pub async fn sms(
    State(state): State<AppState>,
    Extension(directory): Extension<Arc<NumberDirectory>>,
    Extension(pending): Extension<Arc<PendingEffects>>,
    hook: TwilioWebhook<InboundSms>,
) -> Response {
    let key = hook.receipt_key();
    let sms = hook.payload;
    let response = match settle(&state, &directory, key.clone(), sms.clone()).await {
        Ok(reply) => reply.into_response(),
        Err(e) if is_unavailable(&e) => {
            tracing::warn!(message.sid = %sms.message_sid, "the message waits for the database");
            pending.push(PendingEffect::Sms { key, sms }).await;
            Twiml::new().into_response()
        }
        Err(e) => failure_response(&e, InboundSms::ANSWERS_TWIML),
    };
    crate::outbox::wake(&state);
    response
}

/// Routes the message by the number it was sent to and stores it once per receipt `key`.
pub async fn settle(
    state: &AppState,
    directory: &NumberDirectory,
    key: Option<String>,
    sms: InboundSms,
) -> Result<WebhookReply, WebhookError> {
    let Some(to) = sms.to.number() else { return Ok(WebhookReply::from(Twiml::new())) };
    let tenant = match directory.lookup(&state.db, to).await?.0 {
        Route::Active(r) => r.tenant.id,
        // A suspended tenant's or inactive number's messages are still kept: nothing is lost.
        Route::Suspended(t) | Route::NumberInactive(t) => t,
        Route::Unknown => {
            tracing::warn!(number = %to.masked(), "message to a number no tenant owns");
            return Ok(WebhookReply::from(Twiml::new()));
        }
    };
    let s = state.clone();
    receipts::run_once(&state.db, key.as_deref(), InboundSms::KIND, move |conn| {
        receive_sms(s, tenant, conn, sms).boxed()
    })
    .await
}

/// An inbound SMS, once: threaded into its conversation and handed on.
async fn receive_sms(
    state: AppState,
    tenant: TenantId,
    conn: &mut PgConnection,
    sms: InboundSms,
) -> Result<WebhookReply, WebhookError> {
    store(&state, conn, tenant, &sms).await?;
    Ok(WebhookReply::from(Twiml::new()))
}

async fn store(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
    tenant: TenantId,
    sms: &InboundSms,
) -> Result<(), sqlx::Error> {
    let now = state.clock.now();
    let customer = sms.from.to_string();
    let business = sms.to.to_string();
    let conversation = conversations::upsert(conn, tenant, &customer, &business, now).await?;
    let media = json!(
        sms.media.iter().map(|m| json!({"url": m.url, "content_type": m.content_type})).collect::<Vec<_>>()
    );
    let Some(message_id) =
        conversations::insert_inbound(conn, &conversation, sms.message_sid.as_str(), &sms.body, &media, now)
            .await?
    else {
        return Ok(());
    };
    let keyword = keyword(&sms.body);
    match keyword {
        Some("STOP") => conversations::opt_out(conn, tenant, &customer, "keyword", now).await?,
        Some("START") => {
            conversations::opt_in(conn, tenant, &customer).await?;
        }
        _ => {}
    }
    let message = json!({"id": message_id, "message_sid": sms.message_sid, "from": customer, "to": business, "body": sms.body,
        "media": media, "keyword": keyword, "at": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)});
    let received = json!({"tenant_id": tenant, "conversation_id": conversation.id, "message": message});
    let key = format!("message.received:{}", sms.message_sid);
    notify::send(conn, tenant, now, "message.received", "call_service", key, received).await?;
    let recent = conversations::recent(conn, conversation.id, 10).await?;
    let for_bot = json!({"tenant_id": tenant, "conversation_id": conversation.id, "customer": customer,
        "business_number": business, "message": message, "recent": recent});
    notify::send(
        conn,
        tenant,
        now,
        "conversation.message",
        "bot",
        format!("conversation.message:{}", sms.message_sid),
        for_bot,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::keyword;

    #[test]
    fn keywords_are_single_words_in_any_case() {
        assert_eq!(keyword(" stop "), Some("STOP"));
        assert_eq!(keyword("Unsubscribe"), Some("STOP"));
        assert_eq!(keyword("unstop"), Some("START"));
        assert_eq!(keyword("help"), Some("HELP"));
        assert_eq!(keyword("please stop calling"), None);
    }
}
