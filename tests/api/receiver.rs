//! An in-process receiver of our notifications (the call service, the bot).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use hmac::Mac;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

/// The webhook secret the test apps sign with.
pub const SECRET: [u8; 32] = [7; 32];

/// `SWITCHBOARD_WEBHOOK_SECRET` for [`SECRET`].
pub fn secret_setting() -> String {
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(SECRET))
}

/// The Standard Webhooks signature of message `id` sent at `timestamp`, computed here from the spec.
pub fn expected_signature(id: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&SECRET).expect("key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// Checks a request's Standard Webhooks signature.
pub fn signature_is_valid(headers: &HeaderMap, body: &[u8]) -> bool {
    let (Some(id), Some(ts), Some(sig)) =
        (headers.get("webhook-id"), headers.get("webhook-timestamp"), headers.get("webhook-signature"))
    else {
        return false;
    };
    let expected = expected_signature(id.to_str().unwrap_or(""), ts.to_str().unwrap_or(""), body);
    sig.to_str().is_ok_and(|s| s == expected)
}

#[derive(Clone, Default)]
pub struct Receiver {
    pub status: Arc<AtomicU16>,
    pub accepted: Arc<Mutex<HashMap<String, usize>>>,
    pub requests: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let status = StatusCode::from_u16(r.status.load(Ordering::SeqCst)).expect("status");
    r.requests.lock().expect("lock").push((headers.clone(), body));
    if status.is_success() {
        let id = headers["webhook-id"].to_str().expect("id").to_owned();
        *r.accepted.lock().expect("lock").entry(id).or_default() += 1;
    }
    status
}

impl Receiver {
    pub async fn start() -> (Receiver, String) {
        let receiver = Receiver { status: Arc::new(AtomicU16::new(200)), ..Receiver::default() };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        let app = Router::new().fallback(receive).with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    pub fn set(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}
