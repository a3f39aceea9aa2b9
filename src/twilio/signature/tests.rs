//! The official libraries' known-answer vectors (TWILIO.md), tampering, and a property test
//! against an independent implementation of the algorithm written here from its description.

use super::*;
use proptest::prelude::*;

const TOKEN: &[u8] = b"12345";
const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn params() -> Vec<(String, String)> {
    p(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ])
}

fn ok(url: &str, params: &[(String, String)], sig: &str) -> bool {
    verify_form(&[TOKEN], url, params, Some(sig)).is_ok()
}

#[test]
fn known_answer_vectors_verify() {
    assert_eq!(sign(TOKEN, URL, &params()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    assert!(ok(URL, &params(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    assert!(ok("https://mycompany.com:443/myapp.php?foo=1&bar=2", &params(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    assert!(ok(URL, &params(), "kvajT1Ptam85bY51eRf/AJRuM3w="));
    assert!(ok("http://mycompany.com:80/myapp.php?foo=1&bar=2", &params(), "0ZXoZLH/DfblKGATFgpif+LLRf4="));
    assert!(ok("http://mycompany.com:1234/myapp.php?foo=1&bar=2", &params(), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="));
    let repeated = p(&[
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]);
    assert!(ok(URL, &repeated, "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
    assert!(ok(URL, &[], "zYQTYrRWXE7LtzbG4PfP7/bkkGo="));
}

#[test]
fn json_vector_verifies_and_a_forged_body_fails() {
    let body = br#"{"property": "value", "boolean": true}"#;
    let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    let url = format!("{URL}&bodySHA256={hash}");
    let sig = Some("a9nBmqA0ju/hNViExpshrM61xv4=");
    assert_eq!(verify_json(&[TOKEN], &url, body, sig), Ok(()));
    assert_eq!(
        verify_json(&[TOKEN], &url, br#"{"property": "evil"}"#, sig),
        Err(Rejection::BodyHashMismatch)
    );
    let no_hash_sig = sign(TOKEN, URL, &[]);
    assert_eq!(verify_json(&[TOKEN], URL, body, Some(&no_hash_sig)), Err(Rejection::BodyHashMissing));
}

#[test]
fn tampering_fails() {
    let sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
    let mut changed = params();
    changed[2].1 = "1235".into();
    assert!(!ok(URL, &changed, sig));
    assert!(!ok("https://mycompany.com/myapp.php?foo=1&bar=3", &params(), sig));
    assert_eq!(verify_form(&[b"54321"], URL, &params(), Some(sig)), Err(Rejection::Mismatch));
    assert_eq!(verify_form(&[TOKEN], URL, &params(), None), Err(Rejection::Missing));
    assert_eq!(verify_form(&[TOKEN], URL, &params(), Some("not base64!")), Err(Rejection::Mismatch));
}

#[test]
fn a_secondary_token_is_accepted() {
    let sig = sign(b"new-token", URL, &params());
    assert!(verify_form(&[b"old-token", b"new-token"], URL, &params(), Some(&sig)).is_ok());
}

#[test]
fn port_variants_keep_the_raw_path() {
    assert_eq!(
        url_variants("https://h.example/a%27b?x=it%27s+ok"),
        vec!["https://h.example/a%27b?x=it%27s+ok", "https://h.example:443/a%27b?x=it%27s+ok"]
    );
    assert_eq!(url_variants("http://u:p@h:8080/x"), vec!["http://u:p@h:8080/x", "http://u:p@h/x"]);
    assert_eq!(url_variants("http://[::1]:8080/x"), vec!["http://[::1]:8080/x", "http://[::1]/x"]);
}

/// An independent signer: written from TWILIO.md's description, sharing no code with ours.
fn reference_sign(token: &[u8], url: &str, params: &[(String, String)]) -> String {
    let mut names: Vec<&String> = params.iter().map(|(k, _)| k).collect();
    names.sort();
    names.dedup();
    let mut data = url.to_string();
    for name in names {
        let mut values: Vec<&String> = params.iter().filter(|(k, _)| k == name).map(|(_, v)| v).collect();
        values.sort();
        values.dedup();
        for value in values {
            data.push_str(name);
            data.push_str(value);
        }
    }
    let mut mac = <hmac::Hmac<sha1::Sha1> as hmac::Mac>::new_from_slice(token).expect("key");
    hmac::Mac::update(&mut mac, data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hmac::Mac::finalize(mac).into_bytes())
}

fn arb_params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[A-Za-z][A-Za-z0-9]{0,8}", "[ -~é+%&=]{0,12}"), 0..8)
}

proptest! {
    #[test]
    fn random_requests_signed_independently_verify(
        path in "/[a-z0-9/%'+]{0,20}",
        query in "([a-z]{1,4}=[a-z0-9%+']{0,6}&?){0,3}",
        params in arb_params(),
        token in "[a-f0-9]{32}",
    ) {
        let url = format!("https://sb.example.com{path}?{query}");
        let sig = reference_sign(token.as_bytes(), &url, &params);
        prop_assert!(verify_form(&[token.as_bytes()], &url, &params, Some(&sig)).is_ok());
    }

    #[test]
    fn any_one_byte_change_fails(
        params in arb_params(),
        token in "[a-f0-9]{32}",
        which in 0usize..1000,
        delta in 1u8..=255,
    ) {
        let url = "https://sb.example.com/webhooks/twilio/sms".to_string();
        let sig = reference_sign(token.as_bytes(), &url, &params);
        // Flip one byte of the URL, of a parameter name or of a value.
        let mut bytes = url.clone().into_bytes();
        let mut owned = params.clone();
        let total = bytes.len() + owned.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        let mut at = which % total;
        if at < bytes.len() {
            bytes[at] = bytes[at].wrapping_add(delta) & 0x7f;
            prop_assume!(bytes != url.as_bytes());
        } else {
            at -= bytes.len();
            for (k, v) in owned.iter_mut() {
                let target = if at < k.len() { k } else { at -= k.len(); if at < v.len() { v } else { at -= v.len(); continue } };
                let mut b = target.clone().into_bytes();
                b[at] = b[at].wrapping_add(delta) & 0x7f;
                *target = String::from_utf8_lossy(&b).into_owned();
                break;
            }
            let before = reference_sign(token.as_bytes(), &url, &params);
            let after = reference_sign(token.as_bytes(), &url, &owned);
            // A change that the algorithm itself cannot see (a duplicate collapsing) is not a change.
            prop_assume!(before != after);
        }
        let changed_url = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert_eq!(verify_form(&[token.as_bytes()], &changed_url, &owned, Some(&sig)), Err(Rejection::Mismatch));
    }
}
