//! Signed webhook requests, computed here from TWILIO.md's algorithm (not with the app's signer).

use crate::helpers::{ACCOUNT_SID, AUTH_TOKEN, TestApp};
use base64::Engine;
use hmac::Mac;

/// The signature of a form POST to `url` with `params`.
pub fn signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).expect("key");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub fn form(params: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// A webhook request: the path on the app, the URL Twilio signed, the parameters, extra headers.
pub struct Hook<'a> {
    pub path: &'a str,
    pub signed_url: Option<String>,
    pub params: Vec<(&'a str, &'a str)>,
    pub token: &'a str,
    pub headers: Vec<(&'a str, String)>,
}

impl<'a> Hook<'a> {
    pub fn new(path: &'a str, params: &[(&'a str, &'a str)]) -> Self {
        Hook { path, signed_url: None, params: params.to_vec(), token: AUTH_TOKEN, headers: vec![] }
    }

    pub fn request(&self, app: &TestApp) -> reqwest::RequestBuilder {
        let signed_url = self.signed_url.clone().unwrap_or_else(|| app.url(self.path));
        let mut request = app
            .client
            .post(app.url(self.path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature(self.token, &signed_url, &self.params))
            .body(form(&self.params));
        for (k, v) in &self.headers {
            request = request.header(*k, v);
        }
        request
    }

    pub async fn send(&self, app: &TestApp) -> reqwest::Response {
        self.request(app).send().await.expect("sent")
    }
}

pub const CALL_SID: &str = "CA0123456789abcdef0123456789abcdef";
pub const MESSAGE_SID: &str = "SM0123456789abcdef0123456789abcdef";

pub fn voice_params(status: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("CallSid", CALL_SID),
        ("AccountSid", ACCOUNT_SID),
        ("From", "+12025550123"),
        ("To", "+12025550100"),
        ("CallStatus", status),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ]
}

pub fn sms_params(body: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("MessageSid", MESSAGE_SID),
        ("AccountSid", ACCOUNT_SID),
        ("From", "+12025550123"),
        ("To", "+12025550100"),
        ("Body", body),
        ("NumMedia", "0"),
    ]
}
