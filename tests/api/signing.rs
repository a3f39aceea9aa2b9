//! Signed webhook requests, computed here from TWILIO.md's algorithm (not with the app's signer).

use crate::fixture::PUBLIC;
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

/// A form POST of `params` to `url`.
fn form_post(client: &reqwest::Client, url: String, params: &[(&str, &str)]) -> reqwest::RequestBuilder {
    client.post(url).header("content-type", "application/x-www-form-urlencoded").body(form(params))
}

/// A form POST of `params` to `path` on the app, unsigned (as anyone but Twilio sends it).
pub fn unsigned(app: &TestApp, path: &str, params: &[(&str, &str)]) -> reqwest::RequestBuilder {
    form_post(&app.client, app.url(path), params)
}

/// A webhook request: the path on the app, the URL Twilio signed, the parameters, extra headers.
pub struct Hook<'a> {
    pub path: &'a str,
    pub signed_url: Option<String>,
    pub params: Vec<(&'a str, &'a str)>,
    pub token: &'a str,
    pub headers: Vec<(&'a str, String)>,
    /// The body as sent, when it is not the parameters' own encoding (the signature is still over
    /// the parameters).
    pub body: Option<Vec<u8>>,
}

impl<'a> Hook<'a> {
    /// A webhook signed for the URL it is sent to.
    pub fn new(path: &'a str, params: &[(&'a str, &'a str)]) -> Self {
        Hook {
            path,
            signed_url: None,
            params: params.to_vec(),
            token: AUTH_TOKEN,
            headers: vec![],
            body: None,
        }
    }

    /// A webhook signed for the app's public URL ([`PUBLIC`]), as Twilio signs what it sends there.
    pub fn public(path: &'a str, params: &[(&'a str, &'a str)]) -> Self {
        Hook { signed_url: Some(format!("{PUBLIC}{path}")), ..Hook::new(path, params) }
    }

    pub fn request(&self, app: &TestApp) -> reqwest::RequestBuilder {
        self.request_to(&app.client, &app.address)
    }

    /// The request to the app at `address` (which may run in another process), sent with `client`.
    pub fn request_to(&self, client: &reqwest::Client, address: &str) -> reqwest::RequestBuilder {
        let url = format!("{address}{}", self.path);
        let signed_url = self.signed_url.as_deref().unwrap_or(&url);
        let signature = signature(self.token, signed_url, &self.params);
        let mut request =
            form_post(client, url.clone(), &self.params).header("x-twilio-signature", signature);
        if let Some(body) = &self.body {
            request = request.body(body.clone());
        }
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
