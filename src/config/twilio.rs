//! The `[twilio]` section: the account, the tokens that verify webhooks, the REST credentials.

use super::{Purpose, setting_name};
pub use crate::twilio::settings::{ApiCredentials, TwilioConfig};
use crate::twilio::types::AccountSid;
use secrecy::SecretString;
use serde::Deserialize;
use std::time::Duration;
use url::Url;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTwilio {
    account_sid: String,
    auth_token: String,
    auth_token_secondary: String,
    api_key_sid: String,
    api_key_secret: String,
    api_base: String,
    request_timeout_secs: u64,
    max_retries: u32,
    callback_connection_overrides: String,
    insecure_skip_signature: bool,
}

fn secret(value: String) -> Option<SecretString> {
    (!value.is_empty()).then(|| SecretString::from(value))
}

impl TwilioConfig {
    pub(super) fn from_raw(raw: RawTwilio, purpose: Purpose, problems: &mut Vec<String>) -> Self {
        let name = |key| setting_name("twilio", key);
        let account_sid = match raw.account_sid.as_str() {
            "" => None,
            value => AccountSid::parse(value)
                .map_err(|_| {
                    problems.push(format!(
                        "{} \"{value}\" is not an account SID (AC + 32 hex digits)",
                        name("account_sid")
                    ))
                })
                .ok(),
        };
        let auth_token = secret(raw.auth_token);
        if purpose == Purpose::Serve {
            if auth_token.is_none() && !raw.insecure_skip_signature {
                problems.push(format!(
                    "{} is not set (webhook signatures cannot be verified; for development only, set {}=true)",
                    name("auth_token"),
                    name("insecure_skip_signature")
                ));
            }
            if auth_token.is_some() && raw.account_sid.is_empty() {
                problems.push(format!("{} is not set", name("account_sid")));
            }
        }
        let credentials = match (secret(raw.api_key_sid), secret(raw.api_key_secret), &auth_token) {
            (Some(sid), Some(secret), _) => Some(ApiCredentials::ApiKey {
                sid: secrecy::ExposeSecret::expose_secret(&sid).to_owned(),
                secret,
            }),
            (Some(_), None, _) | (None, Some(_), _) => {
                problems.push(format!(
                    "{} and {} must be set together",
                    name("api_key_sid"),
                    name("api_key_secret")
                ));
                None
            }
            (None, None, Some(token)) => Some(ApiCredentials::AuthToken(token.clone())),
            (None, None, None) => None,
        };
        let api_base = Url::parse(&raw.api_base)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .unwrap_or_else(|| {
                problems.push(format!("{} \"{}\" is not an http(s) URL", name("api_base"), raw.api_base));
                Url::parse("https://api.twilio.com").unwrap_or_else(|_| unreachable!())
            });
        if raw.request_timeout_secs == 0 {
            problems.push(format!("{} must be at least 1", name("request_timeout_secs")));
        }
        TwilioConfig {
            account_sid,
            auth_token,
            auth_token_secondary: secret(raw.auth_token_secondary),
            credentials,
            api_base,
            request_timeout: Duration::from_secs(raw.request_timeout_secs),
            max_retries: raw.max_retries,
            callback_connection_overrides: Some(raw.callback_connection_overrides)
                .filter(|v| !v.is_empty())
                .map(|v| v.trim_start_matches('#').to_owned()),
            insecure_skip_signature: raw.insecure_skip_signature,
        }
    }
}
