//! HTTP destinations (`call_service`, `bot`, `dispatch`): a JSON POST signed per the Standard
//! Webhooks spec. `webhook-id` is the outbox id (stable across retries, so the receiver can
//! deduplicate), `webhook-timestamp` the send time in Unix seconds, and `webhook-signature`
//! `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the decoded `whsec_` secret.

use super::repo::OutboxMessage;
use super::worker::{Delivery, Destination};
use crate::clock::Clock;
use crate::state::AppState;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;
use std::sync::Arc;
use url::Url;

/// A downstream service.
pub struct HttpDestination {
    url: Option<Url>,
    secret: Option<SecretSlice<u8>>,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl HttpDestination {
    /// A destination at `url` (none: messages are parked until it is configured).
    pub fn new(state: &AppState, url: Option<Url>) -> Self {
        HttpDestination {
            url,
            secret: state.config.notify.webhook_secret.clone(),
            client: state.http.clone(),
            clock: state.clock.clone(),
        }
    }
}

/// The body every notification has.
pub fn envelope(message: &OutboxMessage) -> serde_json::Value {
    serde_json::json!({
        "id": message.id,
        "type": message.kind,
        "created_at": message.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "tenant_id": message.tenant_id,
        "data": message.payload,
    })
}

/// `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

#[async_trait::async_trait]
impl Destination for HttpDestination {
    async fn deliver(&self, message: &OutboxMessage) -> Delivery {
        let Some(url) = &self.url else { return Delivery::Park("destination_not_configured".into()) };
        let Some(secret) = &self.secret else {
            return Delivery::Park("webhook_secret_not_configured".into());
        };
        let body = serde_json::to_vec(&envelope(message)).unwrap_or_default();
        let id = message.id.to_string();
        let timestamp = self.clock.now().timestamp();
        let signature = sign(secret.expose_secret(), &id, timestamp, &body);
        let sent = self
            .client
            .post(url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => Delivery::Delivered,
            Ok(response) if response.status() == reqwest::StatusCode::GONE => {
                Delivery::Dead("HTTP 410 Gone".into())
            }
            Ok(response) => Delivery::Retry(format!("HTTP {}", response.status().as_u16())),
            Err(e) if e.is_timeout() => Delivery::Retry("timed out".into()),
            Err(e) if e.is_connect() => Delivery::Retry("connection failed".into()),
            Err(_) => Delivery::Retry("request failed".into()),
        }
    }
}
