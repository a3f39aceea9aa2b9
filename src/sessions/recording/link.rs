//! Signed recording links: `{PUBLIC_BASE_URL}/media/recordings/{id}?expires=…&sig=…`, valid one
//! hour, `sig` = hex HMAC-SHA256 over `{id}.{expires}` with `SWITCHBOARD_MEDIA__LINK_SECRET` (the
//! same on every replica, so any replica serves a link another signed). During a rotation the
//! previous secret is still accepted, never used to sign.

use crate::config::MediaConfig;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use uuid::Uuid;

/// How long a link works.
pub const LINK_TTL_SECS: i64 = 3600;

fn mac(secret: &SecretString, id: Uuid, expires: i64) -> Hmac<Sha256> {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).expect("any key length");
    mac.update(format!("{id}.{expires}").as_bytes());
    mac
}

/// The link to recording `id`, valid one hour from `now`; `None` without a link secret.
pub fn sign(config: &MediaConfig, base: &str, id: Uuid, now: DateTime<Utc>) -> Option<String> {
    let secret = config.link_secret.as_ref()?;
    let expires = now.timestamp() + LINK_TTL_SECS;
    let sig = hex::encode(mac(secret, id, expires).finalize().into_bytes());
    Some(format!("{}/media/recordings/{id}?expires={expires}&sig={sig}", base.trim_end_matches('/')))
}

/// Whether `sig` signs `id` until `expires`, and `expires` has not passed.
pub fn verify(config: &MediaConfig, id: Uuid, expires: i64, sig: &str, now: DateTime<Utc>) -> bool {
    if expires <= now.timestamp() {
        return false;
    }
    let Ok(sig) = hex::decode(sig) else { return false };
    [config.link_secret.as_ref(), config.link_secret_previous.as_ref()]
        .into_iter()
        .flatten()
        .any(|secret| mac(secret, id, expires).verify_slice(&sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(secret: &str, previous: Option<&str>) -> MediaConfig {
        MediaConfig {
            link_secret: Some(secret.to_owned().into()),
            link_secret_previous: previous.map(|p| p.to_owned().into()),
        }
    }

    fn parts(link: &str) -> (i64, String) {
        let query = link.split_once('?').expect("query").1;
        let mut expires = 0;
        let mut sig = String::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "expires" => expires = v.parse().expect("number"),
                "sig" => sig = v.into_owned(),
                _ => {}
            }
        }
        (expires, sig)
    }

    #[test]
    fn a_link_works_for_an_hour_and_only_for_its_recording_and_secrets() {
        let (a, b) = ("a".repeat(32), "b".repeat(32));
        let now = Utc::now();
        let id = Uuid::new_v4();
        let link = sign(&config(&a, None), "https://x", id, now).expect("signed");
        let (expires, sig) = parts(&link);
        assert!(verify(&config(&a, None), id, expires, &sig, now));
        assert!(verify(&config(&b, Some(&a)), id, expires, &sig, now), "the previous secret still verifies");
        assert!(!verify(&config(&b, None), id, expires, &sig, now));
        assert!(!verify(&config(&a, None), Uuid::new_v4(), expires, &sig, now));
        assert!(!verify(&config(&a, None), id, expires + 1, &sig, now));
        assert!(!verify(
            &config(&a, None),
            id,
            expires,
            &sig,
            now + chrono::Duration::seconds(LINK_TTL_SECS)
        ));
    }
}
