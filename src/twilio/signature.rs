//! `X-Twilio-Signature` (TWILIO.md "Webhook signatures").
//!
//! The signed string is the URL exactly as Twilio requested it (raw path and query, never decoded
//! and re-encoded), followed — for form POSTs — by every parameter name and its decoded value,
//! names in byte order, each distinct value of a repeated name once, values in byte order. The
//! signature is base64(HMAC-SHA1(auth token, signed string)). Twilio is inconsistent about ports,
//! so the URL as received, without its port, and with the scheme's default port are all tried.
//! JSON bodies are signed over the URL alone, and their `bodySHA256` query value must match the
//! body. Comparison is constant-time; a primary and a secondary token are accepted (rotation).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

type HmacSha1 = Hmac<Sha1>;

/// Why a request was refused. Logged; never shown with the token or parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No `X-Twilio-Signature` header.
    #[error("signature missing")]
    Missing,
    /// No candidate URL and token produced the signature.
    #[error("signature mismatch")]
    Mismatch,
    /// A JSON body without `bodySHA256` in the URL.
    #[error("body hash missing")]
    BodyHashMissing,
    /// The body's SHA-256 differs from `bodySHA256`.
    #[error("body hash mismatch")]
    BodyHashMismatch,
}

/// The signed string for `url` and form parameters.
pub fn signed_string(url: &str, params: &[(String, String)]) -> String {
    // A BTreeSet of (name, value) sorts names, then values, by bytes and keeps each distinct
    // value of a repeated name once — exactly the official libraries' rule.
    let sorted: BTreeSet<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut out = String::with_capacity(url.len() + 32 * sorted.len());
    out.push_str(url);
    for (name, value) in sorted {
        out.push_str(name);
        out.push_str(value);
    }
    out
}

/// The signature Twilio would send for `url` and `params` with `token`.
pub fn sign(token: &[u8], url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(token, &signed_string(url, params)).finalize().into_bytes())
}

fn mac(token: &[u8], data: &str) -> HmacSha1 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha1 as Mac>::new_from_slice(token).unwrap_or_else(|_| unreachable!());
    mac.update(data.as_bytes());
    mac
}

/// The URLs to try: as received, with the port removed, and with the default port added.
pub fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else { return variants };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let (host, port) = split_port(hostport);
    if port.is_some() {
        variants.push(format!("{scheme}://{userinfo}{host}{tail}"));
    } else {
        let default = match scheme.to_ascii_lowercase().as_str() {
            "https" => "443",
            "http" => "80",
            _ => return variants,
        };
        variants.push(format!("{scheme}://{userinfo}{host}:{default}{tail}"));
    }
    variants
}

/// Splits `host:port` (IPv6 literals in brackets) into host and optional port.
fn split_port(hostport: &str) -> (&str, Option<&str>) {
    match hostport.rfind(':') {
        Some(i) if !hostport[i..].contains(']') && hostport[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            (&hostport[..i], Some(&hostport[i + 1..]))
        }
        _ => (hostport, None),
    }
}

/// Verifies a form-encoded POST (or, with no params, a GET) against every token and URL variant.
pub fn verify_form(
    tokens: &[&[u8]],
    url: &str,
    params: &[(String, String)],
    signature: Option<&str>,
) -> Result<(), Rejection> {
    let expected = decode(signature)?;
    let variants = url_variants(url);
    let matched = tokens.iter().any(|token| {
        variants
            .iter()
            .any(|candidate| mac(token, &signed_string(candidate, params)).verify_slice(&expected).is_ok())
    });
    if matched { Ok(()) } else { Err(Rejection::Mismatch) }
}

/// Verifies a JSON body: the signature covers the URL alone and `bodySHA256` must match.
pub fn verify_json(
    tokens: &[&[u8]],
    url: &str,
    body: &[u8],
    signature: Option<&str>,
) -> Result<(), Rejection> {
    verify_form(tokens, url, &[], signature)?;
    let claimed = query_value(url, "bodySHA256").ok_or(Rejection::BodyHashMissing)?;
    let claimed = hex::decode(claimed.to_ascii_lowercase()).map_err(|_| Rejection::BodyHashMismatch)?;
    let actual = Sha256::digest(body);
    // Constant-time: the hash is public, but there is no reason to leak where it differs.
    if claimed.len() == actual.len() && constant_time_eq(&claimed, &actual) {
        Ok(())
    } else {
        Err(Rejection::BodyHashMismatch)
    }
}

fn decode(signature: Option<&str>) -> Result<Vec<u8>, Rejection> {
    let signature = signature.filter(|s| !s.is_empty()).ok_or(Rejection::Missing)?;
    STANDARD.decode(signature.trim()).map_err(|_| Rejection::Mismatch)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A decoded query parameter of `url`.
pub fn query_value(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or("");
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests;
