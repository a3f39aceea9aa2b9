//! Twilio's Call and Message resources as Twilio writes them (2010-04-01): every field of
//! `api.v2010.account.call` and `api.v2010.account.message` in Twilio's OpenAPI document,
//! snake_case, string-typed numbers, RFC 2822 dates, `uri` and `subresource_uris`.
//!
//! The app only reads these shapes ([`super::CallResource`], [`super::MessageResource`]); they are
//! written here, in one place, for what plays Twilio: the emulator and the tests' fake Twilio.

use serde_json::{Value, json};

/// A call resource's state; [`Call::json`] writes it as Twilio does.
#[derive(Debug, Clone, Default)]
pub struct Call<'a> {
    /// The account (`AC…`).
    pub account_sid: &'a str,
    /// `CA…`.
    pub sid: &'a str,
    /// The parent of a `<Dial>` leg.
    pub parent_call_sid: Option<&'a str>,
    /// Caller.
    pub from: &'a str,
    /// Callee.
    pub to: &'a str,
    /// `queued`, `ringing`, `in-progress`, `completed`, …
    pub status: &'a str,
    /// `inbound`, `outbound-api`, `outbound-dial`.
    pub direction: &'a str,
    /// The answering machine detection's verdict.
    pub answered_by: Option<&'a str>,
    /// Seconds, once ended.
    pub duration: Option<u64>,
    /// RFC 2822.
    pub date_created: &'a str,
    /// RFC 2822.
    pub date_updated: &'a str,
    /// RFC 2822, once answered.
    pub start_time: Option<&'a str>,
    /// RFC 2822, once ended.
    pub end_time: Option<&'a str>,
}

impl Call<'_> {
    /// The resource's JSON.
    pub fn json(&self) -> Value {
        let base = format!("/2010-04-01/Accounts/{}/Calls/{}", self.account_sid, self.sid);
        json!({
            "sid": self.sid, "date_created": self.date_created, "date_updated": self.date_updated,
            "parent_call_sid": self.parent_call_sid, "account_sid": self.account_sid, "to": self.to,
            "to_formatted": self.to, "from": self.from, "from_formatted": self.from, "phone_number_sid": null,
            "status": self.status, "start_time": self.start_time, "end_time": self.end_time,
            "duration": self.duration.map(|d| d.to_string()), "price": null, "price_unit": "USD",
            "direction": self.direction, "answered_by": self.answered_by, "api_version": "2010-04-01",
            "forwarded_from": null, "group_sid": null, "caller_name": null, "queue_time": "0", "trunk_sid": null,
            "uri": format!("{base}.json"),
            "subresource_uris": {"recordings": format!("{base}/Recordings.json"),
                "notifications": format!("{base}/Notifications.json"), "events": format!("{base}/Events.json")}
        })
    }
}

/// A message resource's state; [`Message::json`] writes it as Twilio does.
#[derive(Debug, Clone, Default)]
pub struct Message<'a> {
    /// The account (`AC…`).
    pub account_sid: &'a str,
    /// `SM…`.
    pub sid: &'a str,
    /// Sender.
    pub from: &'a str,
    /// Recipient.
    pub to: &'a str,
    /// Text.
    pub body: &'a str,
    /// `queued`, `sent`, `delivered`, `failed`, …
    pub status: &'a str,
    /// `inbound` or `outbound-api`.
    pub direction: &'a str,
    /// Twilio's error code on failure (with a generic `error_message`).
    pub error_code: Option<i64>,
    /// RFC 2822.
    pub date_created: &'a str,
    /// RFC 2822.
    pub date_updated: &'a str,
    /// RFC 2822, once sent.
    pub date_sent: Option<&'a str>,
}

impl Message<'_> {
    /// The resource's JSON.
    pub fn json(&self) -> Value {
        let base = format!("/2010-04-01/Accounts/{}/Messages/{}", self.account_sid, self.sid);
        json!({
            "body": self.body, "num_segments": "1", "direction": self.direction, "from": self.from, "to": self.to,
            "date_updated": self.date_updated, "price": null,
            "error_message": self.error_code.map(|_| "The message could not be delivered"),
            "uri": format!("{base}.json"), "account_sid": self.account_sid, "num_media": "0", "status": self.status,
            "messaging_service_sid": null, "sid": self.sid, "date_sent": self.date_sent,
            "date_created": self.date_created, "error_code": self.error_code, "price_unit": "USD",
            "api_version": "2010-04-01", "subresource_uris": {"media": format!("{base}/Media.json")}
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twilio::rest::{CallResource, MessageResource};

    const DATE: &str = "Mon, 23 Nov 2026 15:00:00 +0000";
    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

    #[test]
    fn the_client_reads_what_is_written_here() {
        let call = Call {
            account_sid: ACCOUNT,
            sid: "CA0123456789abcdef0123456789abcdef",
            from: "+12025550100",
            to: "+12025550111",
            status: "completed",
            direction: "outbound-api",
            answered_by: Some("human"),
            duration: Some(42),
            date_created: DATE,
            date_updated: DATE,
            start_time: Some(DATE),
            end_time: Some(DATE),
            ..Call::default()
        };
        let read: CallResource = serde_json::from_value(call.json()).expect("a call");
        assert_eq!((read.sid.as_str(), read.duration), ("CA0123456789abcdef0123456789abcdef", Some(42)));
        assert_eq!(call.json()["duration"], "42", "numbers are strings");
        let message = Message {
            account_sid: ACCOUNT,
            sid: "SM0123456789abcdef0123456789abcdef",
            from: "+12025550100",
            to: "+12025550111",
            body: "hello",
            status: "failed",
            direction: "outbound-api",
            error_code: Some(30003),
            date_created: DATE,
            date_updated: DATE,
            date_sent: None,
        };
        let read: MessageResource = serde_json::from_value(message.json()).expect("a message");
        assert_eq!((read.body.as_deref(), read.error_code), (Some("hello"), Some(30003)));
        assert!(read.date_created.is_some(), "RFC 2822 dates");
    }
}
