//! A scenario's timeline: the webhooks the emulator sent (with the server's answers) and the REST
//! requests it received, condensed to one or two lines each. The emulator's log is shared by every
//! scenario run against it, so a scenario keeps only the exchanges that name one of its own phone
//! numbers, or a call or message to or from one of them: a start marker would not do, since
//! scenarios may run side by side against one emulator.

use serde_json::Value;
use std::collections::HashSet;

/// The identifiers that belong to a scenario: its phone numbers, and the SIDs of every call and
/// message the emulator knows that is to or from one of them.
pub fn own_keys(numbers: &[String], calls: &[Value], messages: &[Value]) -> HashSet<String> {
    let mut keys: HashSet<String> = numbers.iter().cloned().collect();
    for record in calls.iter().chain(messages) {
        let involved = ["from", "to"]
            .iter()
            .any(|k| record[*k].as_str().is_some_and(|n| numbers.iter().any(|m| m == n)));
        if let (true, Some(sid)) = (involved, record["sid"].as_str()) {
            keys.insert(sid.to_owned());
        }
    }
    keys
}

/// Whether a logged exchange belongs to the scenario: one of its parameters is one of `keys`, or its
/// URL names one (`…/Calls/CA….json`).
pub fn belongs(entry: &Value, keys: &HashSet<String>) -> bool {
    let params: Vec<(String, String)> = serde_json::from_value(entry["params"].clone()).unwrap_or_default();
    let url = entry["url"].as_str().unwrap_or("");
    params.iter().any(|(_, value)| keys.contains(value))
        // Only SIDs appear in REST paths; a phone number (`+1…`) never does.
        || keys.iter().any(|key| !key.starts_with('+') && url.contains(key.as_str()))
}

/// One exchange, readable: the webhook's path and telling parameters with our answer, or the REST
/// request's URL.
pub fn render(entry: &Value) -> String {
    let params: Vec<(String, String)> = serde_json::from_value(entry["params"].clone()).unwrap_or_default();
    let pick = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let url = entry["url"].as_str().unwrap_or("");
    if entry["kind"].as_str() != Some("webhook") {
        return format!("    ⇐ REST {url}");
    }
    let path = url.find("/webhooks").or_else(|| url.find("/api")).map_or(url, |i| &url[i..]);
    let path = path.split('?').next().unwrap_or(path);
    let detail = ["CallStatus", "DialCallStatus", "Digits", "MessageStatus", "Body"]
        .iter()
        .filter_map(|k| pick(k).map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(" ");
    let answer =
        entry["response"].as_str().unwrap_or("").replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "");
    let answer: String = answer.chars().take(140).collect();
    format!("    → {path} {detail}\n      ← {} {answer}", entry["status"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_exchanges_naming_the_scenarios_numbers_or_their_calls_belong_to_it() {
        let numbers = vec!["+12025550001".to_owned()];
        let calls = vec![
            json!({"sid": "CAmine", "from": "+12025550001", "to": "+12025550002"}),
            json!({"sid": "CAother", "from": "+12025559998", "to": "+12025559999"}),
        ];
        let keys = own_keys(&numbers, &calls, &[]);
        let status = json!({"kind": "webhook", "url": "http://x/webhooks/twilio/call", "params": [["CallSid", "CAmine"]]});
        let foreign = json!({"kind": "webhook", "url": "http://x/webhooks/twilio/call", "params": [["CallSid", "CAother"]]});
        let fetch =
            json!({"kind": "rest", "url": "/2010-04-01/Accounts/AC1/Calls/CAmine.json", "params": []});
        let list = json!({"kind": "rest", "url": "/2010-04-01/Accounts/AC1/Calls.json", "params": []});
        assert!(belongs(&status, &keys) && belongs(&fetch, &keys));
        assert!(!belongs(&foreign, &keys) && !belongs(&list, &keys));
    }
}
