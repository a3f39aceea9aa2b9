//! Live recording controls against the fake Twilio: the consent notice and its
//! `announcement-end` before the first start, every transition and refusal, Twilio refusing, the
//! recording rows from signed status callbacks.

use crate::fake_twilio::Mode;
use crate::fixture::{PUBLIC, deliver, post_signed};
use crate::helpers::ACCOUNT_SID;
use crate::sessions::Sessions;
use crate::sessions_calls::{CONFERENCE, conference, in_progress};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

/// The link secret of every test app (the same on every replica).
pub const LINK_SECRET: &str = "link-secret-0123456789abcdef0123456789";

pub async fn control(s: &Sessions, id: &str, action: &str, token: &str) -> (u16, Value) {
    s.call(Method::POST, &format!("/api/calls/{id}/recording/{action}"), token, None).await
}

pub async fn recordings(s: &Sessions, id: &str) -> Value {
    let (status, body) = s.call(Method::GET, &format!("/api/calls/{id}/recordings"), &s.admin, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn announce_urls(s: &Sessions) -> Vec<String> {
    s.fake
        .conference_updates()
        .iter()
        .filter_map(|(_, f)| f.get("AnnounceUrl").map(|v| v[0].clone()))
        .collect()
}

fn field(fields: &std::collections::HashMap<String, Vec<String>>, key: &str) -> Option<String> {
    fields.get(key).map(|v| v[0].clone())
}

/// Starts the session's first recording: the notice, its end, the start request.
pub async fn started(s: &Sessions, id: &str) {
    let (status, body) = control(s, id, "start", &s.reader).await;
    assert_eq!(status, 202, "{body}");
    deliver(&s.app).await;
    conference(s, id, "announcement-end", None, "10").await;
    deliver(&s.app).await;
    assert_eq!(recordings(s, id).await["recording_status"], "recording");
}

pub async fn recording_callback(s: &Sessions, call: &str, sid: &str, status: &str) -> reqwest::Response {
    let base = s.fake.base.get().expect("listening");
    let url = format!("{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}");
    let params = [
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", call),
        ("RecordingSid", sid),
        ("RecordingUrl", url.as_str()),
        ("RecordingStatus", status),
        ("RecordingDuration", "42"),
        ("RecordingChannels", "2"),
        ("RecordingSource", "StartCallRecordingAPI"),
    ];
    post_signed(&s.app, "/webhooks/twilio/recordings/events", &params).await
}

#[sqlx::test]
async fn the_notice_and_its_end_precede_the_start_and_every_transition_sends_one_request(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, _client, reader) = in_progress(&s, "ord_1").await;

    let (status, body) = control(&s, &id, "start", &s.reader).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (body["recording_status"].as_str(), body["recording_requested"].as_str()),
        (Some("stopped"), Some("recording"))
    );
    deliver(&s.app).await;
    let notice = format!("{PUBLIC}/webhooks/twilio/sessions/{id}/recording-notice");
    assert_eq!(announce_urls(&s), vec![notice.clone()]);
    assert_eq!(s.fake.conference_updates()[0].0, CONFERENCE);
    // No start without the notice's end, however often the outbox runs.
    deliver(&s.app).await;
    assert!(s.fake.recordings().is_empty());
    assert_eq!(control(&s, &id, "stop", &s.admin).await.0, 409, "a control is pending");
    let path = notice.strip_prefix(PUBLIC).expect("ours");
    let twiml =
        post_signed(&s.app, path, &[("AccountSid", ACCOUNT_SID), ("ConferenceSid", CONFERENCE)]).await;
    assert_eq!(twiml.status(), 200);
    assert!(twiml.text().await.expect("twiml").contains("<Say>This call will be recorded"));

    conference(&s, &id, "announcement-end", None, "10").await;
    deliver(&s.app).await;
    let sent = s.fake.recordings();
    assert_eq!(sent.len(), 1);
    let start = &sent[0];
    assert_eq!((start.call.as_str(), start.recording.as_deref()), (reader.sid.as_str(), None));
    assert_eq!(field(&start.fields, "RecordingTrack").as_deref(), Some("both"));
    assert_eq!(field(&start.fields, "RecordingChannels").as_deref(), Some("dual"));
    let callback = format!("{PUBLIC}/webhooks/twilio/recordings/events");
    assert_eq!(field(&start.fields, "RecordingStatusCallback"), Some(callback));
    let list = recordings(&s, &id).await;
    assert_eq!(
        (list["recording_status"].as_str(), &list["recording_requested"]),
        (Some("recording"), &Value::Null)
    );
    assert!(list["notice_played_at"].is_string());
    let item = &list["items"][0];
    assert_eq!((item["status"].as_str(), item["party"].as_str()), (Some("in_progress"), Some("reader")));
    assert_eq!(item["notice_played_at"], list["notice_played_at"]);

    // pause (monitor), a control while it is pending, resume (admin), stop (reader).
    let (status, body) = control(&s, &id, "pause", &s.monitor).await;
    assert_eq!((status, body["recording_requested"].as_str()), (202, Some("paused")));
    let (status, body) = control(&s, &id, "resume", &s.admin).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("conflict")), "{body}");
    deliver(&s.app).await;
    assert_eq!(control(&s, &id, "pause", &s.admin).await.1["code"], "invalid_transition");
    assert_eq!(control(&s, &id, "resume", &s.admin).await.0, 202);
    deliver(&s.app).await;
    assert_eq!(control(&s, &id, "stop", &s.reader).await.0, 202);
    deliver(&s.app).await;
    let sent = s.fake.recordings();
    let re = sent[0].recording.clone();
    let updates: Vec<_> = sent[1..]
        .iter()
        .map(|r| (r.recording.is_some(), field(&r.fields, "Status"), field(&r.fields, "PauseBehavior")))
        .collect();
    assert_eq!(
        updates,
        vec![
            (true, Some("paused".into()), Some("skip".into())),
            (true, Some("in-progress".into()), None),
            (true, Some("stopped".into()), None),
        ]
    );
    assert!(
        sent[1..]
            .iter()
            .all(|r| r.call == reader.sid && r.recording.as_deref().is_some_and(|x| x.starts_with("RE")))
    );
    assert_eq!(re, None);
    assert_eq!(recordings(&s, &id).await["recording_status"], "stopped");

    // Resume and pause after stop are refused and send nothing.
    for action in ["resume", "pause", "stop"] {
        let (status, body) = control(&s, &id, action, &s.admin).await;
        assert_eq!((status, body["code"].as_str()), (409, Some("invalid_transition")), "{action}");
    }
    deliver(&s.app).await;
    assert_eq!(s.fake.recordings().len(), 4);
    // A start after stop opens a new recording, without a second notice.
    assert_eq!(control(&s, &id, "start", &s.admin).await.0, 202);
    deliver(&s.app).await;
    let sent = s.fake.recordings();
    assert_eq!((sent.len(), sent[4].recording.as_deref()), (5, None));
    assert_eq!(announce_urls(&s).len(), 1);
    assert_eq!(recordings(&s, &id).await["items"].as_array().map(Vec::len), Some(2));
}

#[sqlx::test]
async fn roles_record_false_and_sessions_not_in_progress_are_refused_without_a_request(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, ..) = in_progress(&s, "ord_1").await;
    assert_eq!(control(&s, &id, "start", &s.client).await.0, 403);
    let path = format!("/api/calls/{id}/recordings");
    assert_eq!(s.call(Method::GET, &path, &s.client, None).await.0, 403);
    assert_eq!(control(&s, &id, "start", &s.other_reader).await.0, 404);
    assert_eq!(control(&s, &id, "start", &s.foreign_admin).await.0, 404);
    assert_eq!(control(&s, &id, "rewind", &s.admin).await.0, 404);
    assert_eq!(control(&s, &id, "pause", &s.admin).await.1["code"], "invalid_transition");

    let mut booking = Sessions::booking("ord_2", "2026-11-23T15:05:00Z");
    booking["record"] = json!(false);
    let (_, body) = s.schedule(booking).await;
    let unrecorded = body["id"].as_str().expect("id").to_owned();
    let (status, body) = control(&s, &unrecorded, "start", &s.admin).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("conflict")), "{body}");
    let scheduled = s.book("ord_3").await;
    assert_eq!(control(&s, &scheduled, "start", &s.admin).await.0, 409);
    deliver(&s.app).await;
    assert!(s.fake.recordings().is_empty());
    assert!(s.fake.conference_updates().is_empty());
}

#[sqlx::test]
async fn twilio_refusing_a_control_clears_the_request_and_keeps_the_error_visible(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, ..) = in_progress(&s, "ord_1").await;
    assert_eq!(control(&s, &id, "start", &s.reader).await.0, 202);
    deliver(&s.app).await;
    conference(&s, &id, "announcement-end", None, "10").await;
    s.fake.push(Mode::Refuse(21220));
    deliver(&s.app).await;
    assert_eq!(s.fake.recordings().len(), 1);
    let list = recordings(&s, &id).await;
    assert_eq!(list["recording_status"], "stopped");
    assert_eq!(list["recording_requested"], Value::Null);
    assert_eq!(list["recording_error_code"], 21220);
    assert_eq!(list["items"], json!([]));
    let audited: Vec<(String, Value)> = sqlx::query_as(
        "SELECT action, data FROM audit_event WHERE action LIKE 'SESSION_RECORDING%' ORDER BY sequence",
    )
    .fetch_all(&s.app.state.db)
    .await
    .expect("audit");
    let failed = audited.iter().find(|(a, _)| a == "SESSION_RECORDING_FAILED").expect("audited");
    assert_eq!(failed.1["error_code"], 21220);
}

#[sqlx::test]
async fn status_callbacks_fill_the_recording_once_and_never_show_its_sid_or_url(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, _client, reader) = in_progress(&s, "ord_1").await;
    started(&s, &id).await;
    let sid = s.fake.recordings()[0].clone();
    let response = s.call(Method::GET, &format!("/api/calls/{id}/recordings"), &s.admin, None).await.1;
    let re = {
        // The fake's SID for the first start.
        let n = 1u64;
        format!("RE{:032x}", 0xDEF0_0000u64 + n)
    };
    assert_eq!(sid.recording, None);
    assert!(!response.to_string().contains(&re));
    for _ in 0..2 {
        assert_eq!(recording_callback(&s, &reader.sid, &re, "completed").await.status(), 200);
    }
    let list = recordings(&s, &id).await;
    let item = &list["items"][0];
    assert_eq!(
        (item["status"].as_str(), item["duration_sec"].as_i64(), item["channels"].as_i64()),
        (Some("completed"), Some(42), Some(2))
    );
    assert_eq!(
        list["recording_status"], "stopped",
        "a recording that completed by itself is no longer recording"
    );
    let text = list.to_string();
    let base = s.fake.base.get().expect("listening");
    assert!(!text.contains(base.as_str()) && !text.contains("/Recordings/") && !text.contains(&re), "{text}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM session_recording")
        .fetch_one(&s.app.state.db)
        .await
        .expect("count");
    assert_eq!(rows, 1);
}

/// The status and last error of the session's recording start request in the outbox.
async fn start_request(s: &Sessions) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, last_error FROM outbox_message WHERE kind = 'twilio.recording'")
        .fetch_one(&s.app.state.db)
        .await
        .expect("the start request")
}

#[sqlx::test]
async fn a_start_whose_answer_was_lost_is_parked_not_repeated_and_its_callback_binds_it(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, _client, reader) = in_progress(&s, "ord_lost").await;
    assert_eq!(control(&s, &id, "start", &s.reader).await.0, 202);
    deliver(&s.app).await;
    conference(&s, &id, "announcement-end", None, "10").await;
    s.fake.push(Mode::Fail500); // Twilio's 500: the recording may or may not have started
    deliver(&s.app).await;
    s.clock.advance(chrono::Duration::minutes(10));
    deliver(&s.app).await;
    assert_eq!(s.fake.recordings().len(), 1, "never a blind second start");
    let (status, error) = start_request(&s).await;
    assert_eq!(status, "parked");
    assert!(error.is_some_and(|e| e.contains("500")), "the reason is kept for the operator");
    let list = recordings(&s, &id).await;
    assert_eq!(list["recording_requested"], "recording", "still waiting to hear");
    // It had started: its first status callback binds it, and the controls work on it.
    let re = format!("RE{:032x}", 0xDEF0_0077u64);
    assert_eq!(recording_callback(&s, &reader.sid, &re, "in-progress").await.status(), 200);
    let list = recordings(&s, &id).await;
    assert_eq!(
        (list["recording_status"].as_str(), &list["recording_requested"]),
        (Some("recording"), &Value::Null)
    );
    assert_eq!(list["items"][0]["party"], "reader");
    assert_eq!(control(&s, &id, "stop", &s.admin).await.0, 202);
    deliver(&s.app).await;
    let stop = s.fake.recordings().last().cloned().expect("the stop");
    assert_eq!(
        (stop.recording.as_deref(), field(&stop.fields, "Status").as_deref()),
        (Some(re.as_str()), Some("stopped"))
    );
}

#[sqlx::test]
async fn the_clients_leg_is_recorded_when_the_readers_is_gone(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, client, _reader) = in_progress(&s, "ord_client").await;
    assert_eq!(control(&s, &id, "start", &s.reader).await.0, 202);
    deliver(&s.app).await;
    // No event leaves a session in progress without its reader (the reader leaving completes
    // it), so the state is made by hand: the fallback is a defence, checked here.
    sqlx::query(
        "UPDATE call_session_leg SET left_at = now() WHERE session_id = $1::uuid AND party = 'reader'",
    )
    .bind(&id)
    .execute(&s.app.state.db)
    .await
    .expect("reader gone");
    conference(&s, &id, "announcement-end", None, "10").await;
    deliver(&s.app).await;
    let sent = s.fake.recordings();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].call, client.sid);
    assert_eq!(recordings(&s, &id).await["items"][0]["party"], "client");
}

#[sqlx::test]
async fn an_announcement_ending_after_the_session_ended_starts_nothing(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, _client, reader) = in_progress(&s, "ord_late").await;
    assert_eq!(control(&s, &id, "start", &s.reader).await.0, 202);
    deliver(&s.app).await;
    conference(&s, &id, "participant-leave", Some(&reader.sid), "4").await;
    assert_eq!(s.session(&id).await["status"], "completed");
    conference(&s, &id, "announcement-end", None, "10").await;
    deliver(&s.app).await;
    assert!(s.fake.recordings().is_empty(), "nobody is recorded after the session");
    let failed: Vec<Value> = sqlx::query_scalar(
        "SELECT data FROM audit_event WHERE entity_id = $1 AND action = 'SESSION_RECORDING_FAILED'",
    )
    .bind(&id)
    .fetch_all(&s.app.state.db)
    .await
    .expect("audit");
    assert_eq!(failed, [json!({"action": "start", "reason": "session_ended"})]);
    assert_eq!(recordings(&s, &id).await["recording_requested"], Value::Null);
}

/// The session's `SESSION_RECORDING_NOTICE_PLAYED` audit rows: (actor kind, actor id, data).
async fn notices_played(s: &Sessions, id: &str) -> Vec<(String, String, Value)> {
    sqlx::query_as(
        "SELECT actor_kind, actor_id, data FROM audit_event
         WHERE entity_type = 'session' AND entity_id = $1 AND action = 'SESSION_RECORDING_NOTICE_PLAYED'
         ORDER BY sequence",
    )
    .bind(id)
    .fetch_all(&s.app.state.db)
    .await
    .expect("audit")
}

#[sqlx::test]
async fn the_notice_played_is_audited_once_at_its_announcement_end_and_not_again(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, ..) = in_progress(&s, "ord_notice").await;
    assert_eq!(control(&s, &id, "start", &s.reader).await.0, 202);
    deliver(&s.app).await;
    assert!(notices_played(&s, &id).await.is_empty(), "the notice has not played yet");

    conference(&s, &id, "announcement-end", None, "10").await;
    let once = vec![("twilio".to_owned(), CONFERENCE.to_owned(), json!({}))];
    assert_eq!(notices_played(&s, &id).await, once);
    deliver(&s.app).await;
    let played_at = recordings(&s, &id).await["notice_played_at"].clone();
    assert!(played_at.is_string(), "{played_at}");

    // The same event again (a retry) and a later announcement's end: no second row.
    s.clock.advance(chrono::Duration::seconds(5));
    conference(&s, &id, "announcement-end", None, "10").await;
    conference(&s, &id, "announcement-end", None, "11").await;
    deliver(&s.app).await;
    assert_eq!(notices_played(&s, &id).await, once);
    assert_eq!(recordings(&s, &id).await["notice_played_at"], played_at, "the moment is kept");
    assert_eq!(s.fake.recordings().len(), 1, "one start");
}
