//! What `twilio/` needs to know of the configuration, as its own types: the account settings
//! (filled by `config`, which depends on this module, never the other way round) and what the
//! webhook extractor needs, handed to it as axum substate ([`WebhookSettings`], `FromRef`).

use super::types::AccountSid;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// How REST requests authenticate (HTTP Basic).
#[derive(Debug, Clone)]
pub enum ApiCredentials {
    /// The account SID and auth token.
    AuthToken(SecretString),
    /// An API key SID (`SK…`) and its secret.
    ApiKey {
        /// The key's SID.
        sid: String,
        /// The key's secret.
        secret: SecretString,
    },
}

/// Twilio settings.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// The account; webhooks naming another are refused.
    pub account_sid: Option<AccountSid>,
    /// The primary auth token.
    pub auth_token: Option<SecretString>,
    /// A second token accepted during rotation.
    pub auth_token_secondary: Option<SecretString>,
    /// REST credentials, when the account is configured.
    pub credentials: Option<ApiCredentials>,
    /// REST base URL.
    pub api_base: Url,
    /// Per-request REST timeout.
    pub request_timeout: Duration,
    /// Retries for 429s and requests that never left.
    pub max_retries: u32,
    /// Fragment appended to callback URLs (`rc=…&rp=…`), without `#`.
    pub callback_connection_overrides: Option<String>,
    /// Development only: webhook signatures are not checked.
    pub insecure_skip_signature: bool,
}

/// What [`super::TwilioWebhook`] needs: the account and tokens, and how to rebuild the URL Twilio
/// signed. The application state provides it through `FromRef`.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The account and its tokens.
    pub twilio: Arc<TwilioConfig>,
    /// `PUBLIC_BASE_URL`: the URL Twilio reaches us at.
    pub public_base_url: Option<Url>,
    /// Take scheme and host from `X-Forwarded-*` when `public_base_url` is unset.
    pub trust_forwarded_headers: bool,
    /// The largest body read.
    pub body_limit_bytes: usize,
}
