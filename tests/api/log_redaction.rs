//! What the server logs while it handles a caller's SMS and call, an operator's reply through the
//! API, the reply's create at Twilio and the notifications to the call service: no message body,
//! no unmasked phone number, no API key, Twilio token or webhook secret (README, "Logs").

use crate::fixture::deliver;
use crate::helpers::AUTH_TOKEN;
use crate::inbound::{ACME_MAIN, CALLER, ring, setup, sms};
use crate::receiver::secret_setting;
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test]
async fn bodies_numbers_and_secrets_are_in_no_log_line(pool: PgPool) {
    let s = setup(pool).await;
    let admin = s.app.tenant_key(&s.root, "acme", "admin").await;
    let captured = crate::fixture::Captured::default();
    let guard = tracing::subscriber::set_default(captured.json(tracing::Level::TRACE));

    let inbound = "Is the plumber coming before noon?";
    assert_eq!(sms(&s.app, "SM00000000000000000000000000000042", CALLER, ACME_MAIN, inbound).await, 200);
    ring(&s.app, "CA00000000000000000000000000000042", ACME_MAIN).await;
    let list: Value = s.app.get_auth("/api/conversations", &admin).await.json().await.expect("json");
    let id = list["items"][0]["id"].as_str().expect("conversation").to_owned();
    let reply = "Yes, Daniel arrives at eleven";
    let path = format!("/api/conversations/{id}/messages");
    assert_eq!(s.app.post_json(&path, &admin, json!({"body": reply})).await.status(), 201);
    deliver(&s.app).await;
    drop(guard);

    let sent: Vec<String> = crate::inbound::sms_sent(&s).await.into_iter().map(|(_, _, body)| body).collect();
    assert_eq!(sent, [reply], "the reply reached Twilio");
    assert!(!s.calls.requests.lock().expect("lock").is_empty(), "the call service was notified");
    let text = captured.text();
    assert!(text.contains("/webhooks/twilio/sms"), "the capture works: the webhook's span is in it");
    let digits = CALLER.trim_start_matches('+');
    for (what, secret) in [
        ("the inbound body", inbound),
        ("the reply's body", reply),
        ("the caller's number", digits),
        ("the admin key", admin.as_str()),
        ("the Twilio auth token", AUTH_TOKEN),
        ("the webhook secret", secret_setting().trim_start_matches("whsec_")),
    ] {
        assert!(!text.contains(secret), "{what} is logged");
    }
}
