//! The `[media]` section: the secret signing recording links.

use secrecy::SecretString;
use serde::Deserialize;

/// A link secret shorter than this is refused: it would be guessable.
const MIN_SECRET_LEN: usize = 32;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMedia {
    link_secret: String,
    link_secret_previous: String,
}

/// Media settings.
#[derive(Debug, Clone, Default)]
pub struct MediaConfig {
    /// Signs recording links (HMAC-SHA256), the same on every replica. Without it no recording
    /// link is issued (the list says so) and every media request is refused.
    pub link_secret: Option<SecretString>,
    /// The secret before a rotation: links it signed are still accepted (never used to sign).
    pub link_secret_previous: Option<SecretString>,
}

impl MediaConfig {
    pub(super) fn from_raw(raw: RawMedia, problems: &mut Vec<String>) -> Self {
        let mut secret = |value: String, key: &str| {
            let value = value.trim().to_owned();
            if value.is_empty() {
                return None;
            }
            if value.len() < MIN_SECRET_LEN {
                let name = super::setting_name("media", key);
                problems.push(format!("{name} must be at least {MIN_SECRET_LEN} characters"));
            }
            Some(SecretString::from(value))
        };
        let link_secret = secret(raw.link_secret, "link_secret");
        let link_secret_previous = secret(raw.link_secret_previous, "link_secret_previous");
        if link_secret.is_none() && link_secret_previous.is_some() {
            problems.push(
                "SWITCHBOARD_MEDIA__LINK_SECRET_PREVIOUS is set without SWITCHBOARD_MEDIA__LINK_SECRET"
                    .to_owned(),
            );
        }
        MediaConfig { link_secret, link_secret_previous }
    }
}
