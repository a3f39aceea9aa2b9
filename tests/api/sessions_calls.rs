//! A session's call against the fake Twilio: the legs created exactly once, their TwiML, signed
//! conference events moving the session, no answer, the time limit, end and drop racing.

use crate::fake_twilio::Mode;
use crate::fixture::{PUBLIC, deliver, post_signed};
use crate::helpers::ACCOUNT_SID;
use crate::sessions::{CLIENT_NUMBER, READER_NUMBER, Sessions};
use crate::xml::parse;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

pub const CONFERENCE: &str = "CF0123456789abcdef0123456789abcdef";
const EVENTS: &str = "/webhooks/twilio/conferences/events";

/// A leg as the fake received it: (TwiML path with its token, the token, the CallSid it made).
pub struct Leg {
    pub path: String,
    pub token: String,
    pub sid: String,
}

pub fn leg(s: &Sessions, to: &str) -> Leg {
    let creates = s.fake.creates();
    let (_, fields) = creates.iter().find(|(kind, f)| kind == "call" && f["To"][0] == to).expect("created");
    let path = fields["Url"][0].strip_prefix(PUBLIC).expect("absolute").to_owned();
    let token = path.split("attempt=").nth(1).expect("token").to_owned();
    let existing = s.fake.existing.lock().expect("lock").clone();
    let sid = existing.iter().find(|e| e.0 == "call" && e.2 == to).expect("exists").1.clone();
    Leg { path, token, sid }
}

fn creates_to(s: &Sessions, to: &str) -> usize {
    s.fake.creates().iter().filter(|(kind, f)| kind == "call" && f["To"][0] == to).count()
}

/// The leg answers: Twilio fetches its TwiML.
pub async fn answer(s: &Sessions, leg: &Leg, to: &str) -> String {
    let params = [
        ("CallSid", leg.sid.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("From", crate::sessions::BUSINESS_NUMBER),
        ("To", to),
        ("CallStatus", "in-progress"),
        ("Direction", "outbound-api"),
    ];
    let response = post_signed(&s.app, &leg.path, &params).await;
    assert_eq!(response.status(), 200);
    response.text().await.expect("twiml")
}

/// A status callback of the leg's call.
pub async fn leg_status(s: &Sessions, leg: &Leg, to: &str, status: &str, seq: &str) {
    let path = format!("/webhooks/twilio/calls/events?attempt={}", leg.token);
    let params = [
        ("CallSid", leg.sid.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("From", crate::sessions::BUSINESS_NUMBER),
        ("To", to),
        ("CallStatus", status),
        ("Direction", "outbound-api"),
        ("SequenceNumber", seq),
    ];
    assert_eq!(post_signed(&s.app, &path, &params).await.status(), 200);
}

/// A conference event for session `id`.
pub async fn conference(s: &Sessions, id: &str, event: &str, call: Option<&str>, seq: &str) {
    let name = format!("call-{id}");
    let mut params = vec![
        ("ConferenceSid", CONFERENCE),
        ("AccountSid", ACCOUNT_SID),
        ("FriendlyName", name.as_str()),
        ("StatusCallbackEvent", event),
        ("SequenceNumber", seq),
    ];
    if let Some(call) = call {
        params.push(("CallSid", call));
    }
    assert_eq!(post_signed(&s.app, EVENTS, &params).await.status(), 200);
}

/// Books and starts `order` as the admin, delivers the creates and lets both legs answer and join.
pub async fn in_progress(s: &Sessions, order: &str) -> (String, Leg, Leg) {
    let id = s.book(order).await;
    let started = s.call(Method::POST, &format!("/api/calls/{order}/start"), &s.admin, None).await;
    assert_eq!(started.0, 200, "{}", started.1);
    deliver(&s.app).await;
    let (client, reader) = (leg(s, CLIENT_NUMBER), leg(s, READER_NUMBER));
    answer(s, &client, CLIENT_NUMBER).await;
    answer(s, &reader, READER_NUMBER).await;
    conference(s, &id, "conference-start", None, "1").await;
    conference(s, &id, "participant-join", Some(&client.sid), "2").await;
    conference(s, &id, "participant-join", Some(&reader.sid), "3").await;
    assert_eq!(s.session(&id).await["status"], "in_progress");
    (id, client, reader)
}

async fn notifications(s: &Sessions) -> Vec<(String, Value)> {
    sqlx::query_as("SELECT kind, payload FROM outbox_message WHERE destination = 'call_service' ORDER BY created_at, kind")
        .fetch_all(&s.app.state.db)
        .await
        .expect("notifications")
}

#[sqlx::test]
async fn start_twice_with_a_lost_answer_dials_each_party_once_and_the_call_completes_with_its_duration(
    pool: PgPool,
) {
    let s = Sessions::new(pool).await;
    let id = s.book("ord_1").await;
    let path = "/api/calls/ord_1/start";
    let (a, b) =
        tokio::join!(s.call(Method::POST, path, &s.reader, None), s.call(Method::POST, path, &s.admin, None));
    assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
    s.fake.push(Mode::LoseAnswer);
    deliver(&s.app).await;
    deliver(&s.app).await;
    assert_eq!((creates_to(&s, CLIENT_NUMBER), creates_to(&s, READER_NUMBER)), (1, 1));
    let (client, reader) = (leg(&s, CLIENT_NUMBER), leg(&s, READER_NUMBER));
    let twiml = parse(&answer(&s, &client, CLIENT_NUMBER).await);
    let conf = &twiml.children[0].children[0];
    assert_eq!((conf.name.as_str(), conf.text.clone()), ("Conference", format!("call-{id}")));
    assert_eq!(conf.attr("startConferenceOnEnter").unwrap_or_default(), "true");
    assert_eq!(conf.attr("endConferenceOnExit").unwrap_or_default(), "true");
    assert_eq!(conf.attr("statusCallback").unwrap_or_default(), format!("{PUBLIC}{EVENTS}"));
    assert_eq!(conf.attr("statusCallbackEvent").unwrap_or_default(), "start end join leave announcement");
    answer(&s, &reader, READER_NUMBER).await;
    leg_status(&s, &reader, READER_NUMBER, "ringing", "1").await;
    conference(&s, &id, "conference-start", None, "1").await;
    conference(&s, &id, "participant-join", Some(&client.sid), "2").await;
    assert_eq!(s.session(&id).await["status"], "ringing");
    conference(&s, &id, "participant-join", Some(&reader.sid), "3").await;
    conference(&s, &id, "participant-join", Some(&reader.sid), "3").await;
    s.clock.advance(chrono::Duration::seconds(754));
    leg_status(&s, &reader, READER_NUMBER, "ringing", "1").await;
    conference(&s, &id, "participant-leave", Some(&client.sid), "4").await;
    conference(&s, &id, "conference-end", None, "5").await;
    conference(&s, &id, "participant-join", Some(&client.sid), "2").await;
    // Another round after the reconcile window: the lost answer was bound by the TwiML fetch.
    s.clock.advance(chrono::Duration::seconds(600));
    deliver(&s.app).await;
    assert_eq!((creates_to(&s, CLIENT_NUMBER), creates_to(&s, READER_NUMBER)), (1, 1));
    let session = s.session(&id).await;
    assert_eq!(session["status"], "completed", "{session}");
    assert_eq!(
        (session["ended_reason"].as_str(), session["duration_sec"].as_i64()),
        (Some("client_left"), Some(754))
    );
    assert_eq!(session["conference_sid"], CONFERENCE);
    assert_eq!(session["reader"]["leg"]["call_sid"], reader.sid.as_str());
    let kinds: Vec<String> = notifications(&s).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["session.started", "session.completed"]);
    let completed = &notifications(&s).await[1].1;
    assert_eq!(
        (completed["duration_sec"].as_i64(), completed["ended_reason"].as_str()),
        (Some(754), Some("client_left"))
    );
    assert!(
        completed["client"]["joined_at"].is_string() && completed["reader"]["left_at"].is_string(),
        "{completed}"
    );
    assert!(s.fake.conference_updates().is_empty(), "a party hanging up ended it; nothing to request");
}

#[sqlx::test]
async fn the_auto_start_worker_dials_each_party_once_with_two_replicas(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let mut body = Sessions::booking("ord_auto", "2026-11-23T15:30:00Z");
    body["auto_start"] = json!(true);
    let (status, booked) = s.schedule(body).await;
    assert_eq!(status, 201);
    let worker = s.app.worker("session-deadlines");
    assert_eq!(worker.run_once().await.expect("round"), 0);
    s.clock.advance(chrono::Duration::minutes(30));
    let twin = s.app.worker("session-deadlines");
    let (a, b) = tokio::join!(worker.run_once(), twin.run_once());
    assert_eq!(a.expect("round") + b.expect("round"), 1);
    deliver(&s.app).await;
    assert_eq!((creates_to(&s, CLIENT_NUMBER), creates_to(&s, READER_NUMBER)), (1, 1));
    let (_, fields) = &s.fake.creates()[0];
    assert_eq!(fields["From"][0], crate::sessions::BUSINESS_NUMBER);
    let session = s.session(booked["id"].as_str().expect("id")).await;
    assert_eq!(
        (session["status"].as_str(), session["initiated_by"].as_str()),
        (Some("initiating"), Some("system:auto_start"))
    );
}

/// After a start: the legs are dialled, the leg to `answering` answers and joins, the one to
/// `silent` rings and says `no-answer` (twice: Twilio retries), and the deadlines pass. Returns
/// the answered leg.
async fn one_leg_does_not_answer(s: &Sessions, id: &str, answering: &str, silent: &str) -> Leg {
    deliver(&s.app).await;
    let (answered, unanswered) = (leg(s, answering), leg(s, silent));
    answer(s, &answered, answering).await;
    conference(s, id, "participant-join", Some(&answered.sid), "1").await;
    leg_status(s, &unanswered, silent, "ringing", "1").await;
    leg_status(s, &unanswered, silent, "no-answer", "2").await;
    leg_status(s, &unanswered, silent, "no-answer", "2").await;
    s.clock.advance(chrono::Duration::minutes(5));
    s.app.worker("session-deadlines").run_once().await.expect("round");
    deliver(&s.app).await;
    answered
}

#[sqlx::test]
async fn a_client_who_does_not_answer_makes_it_no_answer_and_the_readers_leg_is_hung_up_once(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let id = s.book("ord_na").await;
    s.call(Method::POST, "/api/calls/ord_na/start", &s.reader, None).await;
    let reader = one_leg_does_not_answer(&s, &id, READER_NUMBER, CLIENT_NUMBER).await;
    let session = s.session(&id).await;
    assert_eq!(
        (session["status"].as_str(), session["ended_reason"].as_str()),
        (Some("no_answer"), Some("client_no_answer"))
    );
    let hangups: Vec<_> =
        s.fake.updates().into_iter().map(|(sid, f)| (sid, f["Status"][0].clone())).collect();
    assert_eq!(hangups, [(reader.sid.clone(), "completed".to_owned())]);
    let kinds: Vec<String> = notifications(&s).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["session.no_answer"]);
    assert_eq!(audited(&s, &id, "SESSION_STARTED").await.len(), 1);
    assert_eq!(audited(&s, &id, "SESSION_NO_ANSWER").await, [json!({"ended_reason": "client_no_answer"})]);
    assert!(audited(&s, &id, "SESSION_IN_PROGRESS").await.is_empty(), "both parties never joined");
    assert!(audited(&s, &id, "SESSION_TIME_WARNING").await.is_empty());
}

#[sqlx::test]
async fn past_its_duration_the_conference_hears_a_warning_then_ends(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, _, _) = in_progress(&s, "ord_tl").await;
    let worker = s.app.worker("session-deadlines");
    s.clock.advance(chrono::Duration::minutes(29));
    assert_eq!(worker.run_once().await.expect("round"), 0);
    s.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(worker.run_once().await.expect("round"), 1);
    deliver(&s.app).await;
    let announce = format!("{PUBLIC}/webhooks/twilio/sessions/{id}/announce");
    let updates = s.fake.conference_updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(
        (updates[0].0.as_str(), updates[0].1["AnnounceUrl"][0].as_str()),
        (CONFERENCE, announce.as_str())
    );
    let heard = post_signed(
        &s.app,
        &format!("/webhooks/twilio/sessions/{id}/announce"),
        &[("AccountSid", ACCOUNT_SID), ("ConferenceSid", CONFERENCE)],
    )
    .await;
    assert!(heard.text().await.expect("twiml").contains("One minute remaining"));
    conference(&s, &id, "announcement-end", None, "4").await;
    assert_eq!(s.session(&id).await["status"], "in_progress");
    s.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(worker.run_once().await.expect("round"), 1);
    deliver(&s.app).await;
    let updates = s.fake.conference_updates();
    assert_eq!(updates.len(), 2);
    assert_eq!((updates[1].0.as_str(), updates[1].1["Status"][0].as_str()), (CONFERENCE, "completed"));
    conference(&s, &id, "conference-end", None, "5").await;
    let session = s.session(&id).await;
    assert_eq!(
        (session["status"].as_str(), session["ended_reason"].as_str()),
        (Some("completed"), Some("time_limit"))
    );
    assert_eq!(session["duration_sec"], 31 * 60);
    assert_eq!(worker.run_once().await.expect("round"), 0);
}

#[sqlx::test]
async fn a_monitor_drop_racing_the_readers_end_makes_one_request_and_one_final_state(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, _, _) = in_progress(&s, "ord_race").await;
    let (drop_path, end_path) = (format!("/api/calls/{id}/drop"), format!("/api/calls/{id}/end"));
    let (drop, end) = tokio::join!(
        s.call(Method::POST, &drop_path, &s.monitor, Some(json!({"reason": "abuse reported"}))),
        s.call(Method::POST, &end_path, &s.reader, Some(json!({})))
    );
    assert_eq!((drop.0, end.0), (200, 200));
    assert_eq!(drop.1["status"], end.1["status"]);
    let final_state = drop.1["status"].as_str().expect("status").to_owned();
    assert!(["dropped_by_monitor", "dropped_by_reader"].contains(&final_state.as_str()), "{final_state}");
    deliver(&s.app).await;
    conference(&s, &id, "conference-end", None, "9").await;
    deliver(&s.app).await;
    let updates = s.fake.conference_updates();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!((updates[0].0.as_str(), updates[0].1["Status"][0].as_str()), (CONFERENCE, "completed"));
    assert!(s.fake.updates().is_empty(), "legs are not hung up one by one once the conference exists");
    assert_eq!(s.session(&id).await["status"], final_state.as_str());
    let restart = s.call(Method::POST, "/api/calls/ord_race/start", &s.admin, None).await;
    assert_eq!((restart.0, restart.1["code"].as_str()), (409, Some("invalid_transition")));
    let dropped: Vec<Value> = sqlx::query_scalar(
        "SELECT data FROM audit_event WHERE entity_id = $1 AND action = 'SESSION_DROPPED'",
    )
    .bind(&id)
    .fetch_all(&s.app.state.db)
    .await
    .expect("audit");
    assert_eq!(dropped.len(), 1);
    let missing = s.call(Method::POST, &format!("/api/calls/{id}/drop"), &s.monitor, Some(json!({}))).await;
    assert_eq!((missing.0, missing.1["errors"][0]["field"].as_str()), (422, Some("reason")));
}

#[sqlx::test]
async fn a_drop_while_ringing_hangs_up_both_legs(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let id = s.book("ord_ring").await;
    s.call(Method::POST, "/api/calls/ord_ring/start", &s.admin, None).await;
    deliver(&s.app).await;
    let (client, reader) = (leg(&s, CLIENT_NUMBER), leg(&s, READER_NUMBER));
    leg_status(&s, &client, CLIENT_NUMBER, "ringing", "1").await;
    leg_status(&s, &reader, READER_NUMBER, "ringing", "1").await;
    assert_eq!(s.session(&id).await["status"], "ringing");
    let dropped = s
        .call(
            Method::POST,
            &format!("/api/calls/{id}/drop"),
            &s.admin,
            Some(json!({"reason": "booked twice"})),
        )
        .await;
    assert_eq!((dropped.0, dropped.1["status"].as_str()), (200, Some("dropped_by_monitor")));
    deliver(&s.app).await;
    leg_status(&s, &client, CLIENT_NUMBER, "in-progress", "2").await;
    deliver(&s.app).await;
    let mut hung: Vec<String> = s.fake.updates().into_iter().map(|(sid, _)| sid).collect();
    hung.sort();
    let mut legs = vec![client.sid.clone(), reader.sid.clone()];
    legs.sort();
    assert_eq!(hung, legs);
    assert!(s.fake.conference_updates().is_empty());
    let twiml = answer(&s, &client, CLIENT_NUMBER).await;
    assert!(twiml.contains("<Hangup"), "{twiml}");
    // A leg that joined as the drop happened: its conference is ended once, by its SID.
    conference(&s, &id, "conference-start", None, "1").await;
    conference(&s, &id, "participant-join", Some(&reader.sid), "2").await;
    deliver(&s.app).await;
    let updates = s.fake.conference_updates();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!((updates[0].0.as_str(), updates[0].1["Status"][0].as_str()), (CONFERENCE, "completed"));
    assert_eq!(s.session(&id).await["status"], "dropped_by_monitor");
}

#[sqlx::test]
async fn nobody_answering_within_the_dial_timeout_is_no_answer_and_ringing_legs_are_hung_up(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let id = s.book("ord_silent").await;
    s.call(Method::POST, "/api/calls/ord_silent/start", &s.reader, None).await;
    deliver(&s.app).await;
    let (client, reader) = (leg(&s, CLIENT_NUMBER), leg(&s, READER_NUMBER));
    leg_status(&s, &client, CLIENT_NUMBER, "ringing", "1").await;
    leg_status(&s, &reader, READER_NUMBER, "ringing", "1").await;
    let worker = s.app.worker("session-deadlines");
    // The tenant's dial timeout (20 s) and the margin (30 s) have not passed yet.
    s.clock.advance(chrono::Duration::seconds(45));
    assert_eq!(worker.run_once().await.expect("round"), 0);
    s.clock.advance(chrono::Duration::seconds(10));
    assert_eq!(worker.run_once().await.expect("round"), 1);
    deliver(&s.app).await;
    let session = s.session(&id).await;
    assert_eq!(
        (session["status"].as_str(), session["ended_reason"].as_str()),
        (Some("no_answer"), Some("dial_timeout"))
    );
    let mut hung: Vec<String> = s.fake.updates().into_iter().map(|(sid, _)| sid).collect();
    hung.sort();
    let mut legs = vec![client.sid.clone(), reader.sid.clone()];
    legs.sort();
    assert_eq!(hung, legs);
}

#[sqlx::test]
async fn conference_events_are_signed_checked_validated_and_deduplicated(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, _, _) = in_progress(&s, "ord_hooks").await;
    let name = format!("call-{id}");
    let end = [
        ("ConferenceSid", CONFERENCE),
        ("AccountSid", ACCOUNT_SID),
        ("FriendlyName", name.as_str()),
        ("StatusCallbackEvent", "conference-end"),
        ("SequenceNumber", "7"),
    ];
    let mut forged = crate::signing::Hook::public(EVENTS, &end);
    forged.token = "not-the-auth-token";
    assert_eq!(forged.send(&s.app).await.status(), 403);
    let broken = post_signed(&s.app, EVENTS, &end[1..]).await;
    assert_eq!(broken.status(), 422);
    let problem: Value = broken.json().await.expect("json");
    assert_eq!(problem["errors"][0]["field"], "ConferenceSid");
    assert_eq!(s.session(&id).await["status"], "in_progress");
    assert_eq!(post_signed(&s.app, EVENTS, &end).await.status(), 200);
    assert_eq!(post_signed(&s.app, EVENTS, &end).await.status(), 200);
    let receipts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_receipt WHERE key LIKE 'conference:%conference-end%'",
    )
    .fetch_one(&s.app.state.db)
    .await
    .expect("receipts");
    assert_eq!(receipts, 1);
    let completed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_event WHERE entity_id = $1 AND action = 'SESSION_COMPLETED'",
    )
    .bind(&id)
    .fetch_one(&s.app.state.db)
    .await
    .expect("audit");
    assert_eq!(completed, 1);
    assert_eq!(s.session(&id).await["ended_reason"], "conference_ended");
}

/// Issue 12 (typed errors, not `RowNotFound`): a start whose conditional update does not move
/// the session (a trigger stands in for whatever could) is 409 `invalid_transition` and dials
/// nobody — it used to answer 200 with the session still scheduled; a cancel whose session is
/// gone right after it moved is answered as cancelled — it used to be a 500 from a reload that
/// found nothing. The update returns the moved row: nothing is read again.
#[sqlx::test]
async fn a_session_that_does_not_move_is_409_and_one_gone_after_its_move_is_answered_as_moved(pool: PgPool) {
    let s = Sessions::new(pool.clone()).await;
    s.book("ord_stuck").await;
    let skip_start = "IF NEW.status = 'initiating' THEN RETURN NULL; END IF; RETURN NEW;";
    crate::sirens::install_trigger(&pool, "call_session", "BEFORE UPDATE", skip_start).await;
    let (status, refused) = s.call(Method::POST, "/api/calls/ord_stuck/start", &s.admin, None).await;
    assert_eq!((status, refused["code"].as_str()), (409, Some("invalid_transition")), "{refused}");
    deliver(&s.app).await;
    assert!(s.fake.creates().is_empty(), "nobody was dialled: {:?}", s.fake.creates());

    sqlx::query("DROP TRIGGER test_interfere ON call_session").execute(&pool).await.expect("dropped");
    sqlx::query("DROP FUNCTION test_interfere").execute(&pool).await.expect("dropped");
    let id = s.book("ord_vanishing").await;
    let vanish = "DELETE FROM call_session WHERE id = NEW.id; RETURN NULL;";
    crate::sirens::install_trigger(&pool, "call_session", "AFTER UPDATE", vanish).await;
    let path = format!("/api/calls/{id}/cancel");
    let (status, cancelled) = s.call(Method::POST, &path, &s.admin, Some(json!({"reason": "moved"}))).await;
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("cancelled")), "{cancelled}");
}

/// The data of the session's audit events named `action`.
async fn audited(s: &Sessions, id: &str, action: &str) -> Vec<Value> {
    sqlx::query_scalar("SELECT data FROM audit_event WHERE entity_id = $1 AND action = $2 ORDER BY sequence")
        .bind(id)
        .bind(action)
        .fetch_all(&s.app.state.db)
        .await
        .expect("audit")
}

#[sqlx::test]
async fn a_conference_that_ends_before_both_joined_fails_the_session_once(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let id = s.book("ord_f").await;
    s.call(Method::POST, "/api/calls/ord_f/start", &s.admin, None).await;
    deliver(&s.app).await;
    let (client, reader) = (leg(&s, CLIENT_NUMBER), leg(&s, READER_NUMBER));
    answer(&s, &client, CLIENT_NUMBER).await;
    conference(&s, &id, "conference-start", None, "1").await;
    conference(&s, &id, "participant-join", Some(&client.sid), "2").await;
    assert_ne!(s.session(&id).await["status"], "in_progress", "only one party joined");
    conference(&s, &id, "conference-end", None, "3").await;
    conference(&s, &id, "conference-end", None, "3").await; // Twilio's retry
    deliver(&s.app).await;
    let session = s.session(&id).await;
    assert_eq!(
        (session["status"].as_str(), session["ended_reason"].as_str()),
        (Some("failed"), Some("conference_ended"))
    );
    assert_eq!(audited(&s, &id, "SESSION_FAILED").await, [json!({"ended_reason": "conference_ended"})]);
    // The reader's leg, still ringing (its first callback comes after the end), is hung up once.
    leg_status(&s, &reader, READER_NUMBER, "ringing", "1").await;
    leg_status(&s, &reader, READER_NUMBER, "ringing", "1").await;
    deliver(&s.app).await;
    let hangups: Vec<String> = s.fake.updates().into_iter().map(|(sid, _)| sid).collect();
    assert_eq!(hangups.iter().filter(|sid| **sid == reader.sid).count(), 1, "{hangups:?}");
}

#[sqlx::test]
async fn a_client_leaving_before_the_reader_joined_fails_the_session_as_client_left(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let id = s.book("ord_cl").await;
    s.call(Method::POST, "/api/calls/ord_cl/start", &s.admin, None).await;
    deliver(&s.app).await;
    let client = leg(&s, CLIENT_NUMBER);
    answer(&s, &client, CLIENT_NUMBER).await;
    conference(&s, &id, "participant-join", Some(&client.sid), "1").await;
    conference(&s, &id, "participant-leave", Some(&client.sid), "2").await;
    let session = s.session(&id).await;
    assert_eq!(
        (session["status"].as_str(), session["ended_reason"].as_str()),
        (Some("failed"), Some("client_left"))
    );
    assert_eq!(audited(&s, &id, "SESSION_FAILED").await, [json!({"ended_reason": "client_left"})]);
}

#[sqlx::test]
async fn the_reader_hanging_up_completes_the_session_as_reader_left(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, _client, reader) = in_progress(&s, "ord_rl").await;
    s.clock.advance(chrono::Duration::seconds(60));
    conference(&s, &id, "participant-leave", Some(&reader.sid), "4").await;
    conference(&s, &id, "conference-end", None, "5").await;
    let session = s.session(&id).await;
    assert_eq!(
        (session["status"].as_str(), session["ended_reason"].as_str(), session["duration_sec"].as_i64()),
        (Some("completed"), Some("reader_left"), Some(60))
    );
    let completed =
        notifications(&s).await.into_iter().find(|(k, _)| k == "session.completed").expect("sent");
    assert_eq!(completed.1["ended_reason"], "reader_left");
    assert!(audited(&s, &id, "SESSION_FAILED").await.is_empty());
}

#[sqlx::test]
async fn an_auto_start_that_cannot_start_is_audited_once_and_stays_scheduled(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let mut body = Sessions::booking("ord_nf", "2026-11-23T15:30:00Z");
    body["auto_start"] = json!(true);
    let (status, booked) = s.schedule(body).await;
    assert_eq!(status, 201, "{booked}");
    let id = booked["id"].as_str().expect("id").to_owned();
    let number =
        format!("/api/tenants/tarot/numbers/{}", crate::sessions::BUSINESS_NUMBER.replace('+', "%2B"));
    assert_eq!(s.app.delete_auth(&number, &s.root).await.status(), 204);
    s.clock.advance(chrono::Duration::minutes(30));
    let worker = s.app.worker("session-deadlines");
    worker.run_once().await.expect("round");
    assert_eq!(s.session(&id).await["status"], "scheduled", "left for a person to start");
    deliver(&s.app).await;
    assert!(s.fake.creates().is_empty(), "nobody was dialled");
    let failed = audited(&s, &id, "SESSION_AUTO_START_FAILED").await;
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]["error"].as_str().is_some_and(|e| e.contains("no active primary number")),
        "{failed:?}"
    );
    s.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(worker.run_once().await.expect("round"), 0, "said once: the deadline is cleared");
    assert_eq!(audited(&s, &id, "SESSION_AUTO_START_FAILED").await.len(), 1);
}

/// Who recorded the session's audit events named `action`: (actor_kind, actor_id).
async fn audited_by(s: &Sessions, id: &str, action: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT actor_kind, actor_id FROM audit_event WHERE entity_id = $1 AND action = $2 ORDER BY sequence",
    )
    .bind(id)
    .bind(action)
    .fetch_all(&s.app.state.db)
    .await
    .expect("audit")
}

/// The id of the tarot key of `role` (and `subject`), as an operator's audit events name it.
async fn key_id(s: &Sessions, role: &str, subject: Option<&str>) -> String {
    let id: uuid::Uuid = sqlx::query_scalar(
        "SELECT k.id FROM api_key k JOIN tenant t ON t.id = k.tenant_id
         WHERE t.slug = 'tarot' AND k.role = $1 AND k.subject IS NOT DISTINCT FROM $2",
    )
    .bind(role)
    .bind(subject)
    .fetch_one(&s.app.state.db)
    .await
    .expect("key id");
    id.to_string()
}

#[sqlx::test]
async fn a_monitor_drop_sends_session_completed_and_audits_the_actor_and_reason(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, _, _) = in_progress(&s, "ord_drop").await;
    s.clock.advance(chrono::Duration::seconds(90));
    let path = format!("/api/calls/{id}/drop");
    let dropped = s.call(Method::POST, &path, &s.monitor, Some(json!({"reason": "abuse reported"}))).await;
    assert_eq!((dropped.0, dropped.1["status"].as_str()), (200, Some("dropped_by_monitor")), "{}", dropped.1);
    deliver(&s.app).await;
    let sent = notifications(&s).await;
    let kinds: Vec<&str> = sent.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["session.started", "session.completed"]);
    let completed = &sent[1].1;
    assert_eq!(
        (
            completed["session_id"].as_str(),
            completed["order_id"].as_str(),
            completed["status"].as_str(),
            completed["ended_reason"].as_str(),
            completed["duration_sec"].as_i64(),
        ),
        (Some(id.as_str()), Some("ord_drop"), Some("dropped_by_monitor"), Some("monitor_drop"), Some(90)),
        "{completed}"
    );
    assert!(completed["ended_at"].is_string(), "{completed}");
    assert_eq!(
        audited(&s, &id, "SESSION_DROPPED").await,
        [json!({"status": "dropped_by_monitor", "reason": "abuse reported", "was": "in_progress"})]
    );
    let monitor = key_id(&s, "monitor", None).await;
    assert_eq!(audited_by(&s, &id, "SESSION_DROPPED").await, [("operator".to_owned(), monitor)]);
    let session = s.session(&id).await;
    assert_eq!(
        (session["status"].as_str(), session["ended_reason"].as_str()),
        (Some("dropped_by_monitor"), Some("monitor_drop"))
    );
    // Dropping again changes nothing and says nothing more.
    let again = s.call(Method::POST, &path, &s.monitor, Some(json!({"reason": "twice"}))).await;
    assert_eq!((again.0, again.1["status"].as_str()), (200, Some("dropped_by_monitor")));
    deliver(&s.app).await;
    assert_eq!(audited(&s, &id, "SESSION_DROPPED").await.len(), 1);
    assert_eq!(notifications(&s).await.len(), 2, "session.completed once");
}

#[sqlx::test]
async fn the_client_ending_the_call_makes_it_dropped_by_client(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, _, _) = in_progress(&s, "ord_ce").await;
    let path = format!("/api/calls/{id}/end");
    let stranger = s.call(Method::POST, &path, &s.other_client, Some(json!({}))).await;
    assert_eq!(stranger.0, 404, "another client's session: {}", stranger.1);
    assert_eq!(s.session(&id).await["status"], "in_progress");
    let ended = s.call(Method::POST, &path, &s.client, Some(json!({"reason": "had to go"}))).await;
    assert_eq!((ended.0, ended.1["status"].as_str()), (200, Some("dropped_by_client")), "{}", ended.1);
    deliver(&s.app).await;
    let session = s.session(&id).await;
    assert_eq!(
        (session["status"].as_str(), session["ended_reason"].as_str()),
        (Some("dropped_by_client"), Some("client_ended"))
    );
    let updates = s.fake.conference_updates();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!((updates[0].0.as_str(), updates[0].1["Status"][0].as_str()), (CONFERENCE, "completed"));
    assert_eq!(
        audited(&s, &id, "SESSION_DROPPED").await,
        [json!({"status": "dropped_by_client", "reason": "had to go", "was": "in_progress"})]
    );
    let client = key_id(&s, "client", Some("u_1")).await;
    assert_eq!(audited_by(&s, &id, "SESSION_DROPPED").await, [("operator".to_owned(), client)]);
    let completed =
        notifications(&s).await.into_iter().find(|(k, _)| k == "session.completed").expect("sent");
    assert_eq!(
        (completed.1["status"].as_str(), completed.1["ended_reason"].as_str()),
        (Some("dropped_by_client"), Some("client_ended"))
    );
    // The reader ending it afterwards is answered with the session as it ended.
    let late = s.call(Method::POST, &path, &s.reader, Some(json!({}))).await;
    assert_eq!((late.0, late.1["status"].as_str()), (200, Some("dropped_by_client")));
    deliver(&s.app).await;
    assert_eq!(s.fake.conference_updates().len(), 1, "the conference is ended once");
    assert_eq!(audited(&s, &id, "SESSION_DROPPED").await.len(), 1);
}

#[sqlx::test]
async fn a_session_walked_to_its_time_warning_audits_each_step_once(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, _, _) = in_progress(&s, "ord_walk").await;
    let started = audited(&s, &id, "SESSION_STARTED").await;
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["dial_timeout_secs"], 20, "{started:?}");
    let admin = key_id(&s, "admin", None).await;
    assert_eq!(started[0]["initiated_by"], format!("operator:{admin}"), "{started:?}");
    assert_eq!(audited_by(&s, &id, "SESSION_STARTED").await, [("operator".to_owned(), admin)]);
    assert_eq!(audited(&s, &id, "SESSION_IN_PROGRESS").await, [json!({})]);
    assert_eq!(
        audited_by(&s, &id, "SESSION_IN_PROGRESS").await,
        [("system".to_owned(), "sessions".to_owned())]
    );
    assert!(audited(&s, &id, "SESSION_TIME_WARNING").await.is_empty());
    let worker = s.app.worker("session-deadlines");
    s.clock.advance(chrono::Duration::minutes(29));
    assert_eq!(worker.run_once().await.expect("round"), 0);
    assert!(audited(&s, &id, "SESSION_TIME_WARNING").await.is_empty(), "not before the time limit");
    s.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(worker.run_once().await.expect("round"), 1);
    assert_eq!(worker.run_once().await.expect("round"), 0, "warned once");
    assert_eq!(
        audited(&s, &id, "SESSION_TIME_WARNING").await,
        [json!({"duration_minutes": 30, "ends_at": "2026-11-23T15:31:00Z"})]
    );
    // To the end of the walk: the time limit completes it, and no step was said twice.
    deliver(&s.app).await;
    s.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(worker.run_once().await.expect("round"), 1);
    deliver(&s.app).await;
    assert_eq!(
        audited(&s, &id, "SESSION_COMPLETED").await,
        [json!({"ended_reason": "time_limit", "duration_sec": 31 * 60})]
    );
    assert_eq!(audited(&s, &id, "SESSION_STARTED").await.len(), 1);
    assert_eq!(audited(&s, &id, "SESSION_IN_PROGRESS").await.len(), 1);
    assert_eq!(audited(&s, &id, "SESSION_TIME_WARNING").await.len(), 1);
}

/// The keys of a JSON object, sorted.
fn sorted_keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().expect("an object").keys().cloned().collect();
    keys.sort();
    keys
}

/// README (notifications to the call service): `session.completed` carries the session, its
/// times, its conference and each party's leg, plus how it ended — exactly those keys, with the
/// values the frozen clock makes: started at 15:00:00, both in at 15:00:10, the client gone at
/// 15:02:10. `session.started` carries the same keys, nothing ended yet.
#[sqlx::test]
async fn the_session_completed_payload_carries_every_field_the_readme_lists(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let id = s.book("ord_pay").await;
    let started = s.call(Method::POST, "/api/calls/ord_pay/start", &s.admin, None).await;
    assert_eq!(started.0, 200, "{}", started.1);
    deliver(&s.app).await;
    let (client, reader) = (leg(&s, CLIENT_NUMBER), leg(&s, READER_NUMBER));
    s.clock.advance(chrono::Duration::seconds(10));
    answer(&s, &client, CLIENT_NUMBER).await;
    answer(&s, &reader, READER_NUMBER).await;
    conference(&s, &id, "conference-start", None, "1").await;
    conference(&s, &id, "participant-join", Some(&client.sid), "2").await;
    conference(&s, &id, "participant-join", Some(&reader.sid), "3").await;
    assert_eq!(s.session(&id).await["status"], "in_progress");
    s.clock.advance(chrono::Duration::seconds(120));
    conference(&s, &id, "participant-leave", Some(&client.sid), "4").await;
    conference(&s, &id, "conference-end", None, "5").await;
    let sent = notifications(&s).await;
    let kinds: Vec<&str> = sent.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["session.started", "session.completed"]);
    let expected_keys = [
        "client",
        "conference_sid",
        "connected_at",
        "duration_sec",
        "ended_at",
        "ended_reason",
        "order_id",
        "reader",
        "scheduled_at",
        "session_id",
        "started_at",
        "status",
        "tenant_id",
    ];
    let completed = &sent.iter().find(|(k, _)| k == "session.completed").expect("sent").1;
    assert_eq!(sorted_keys(completed), expected_keys, "{completed}");
    assert_eq!(
        completed,
        &json!({
            "session_id": id,
            "tenant_id": s.tenant.id,
            "order_id": "ord_pay",
            "status": "completed",
            "ended_reason": "client_left",
            "duration_sec": 120,
            "scheduled_at": "2026-11-23T15:05:00Z",
            "started_at": "2026-11-23T15:00:00Z",
            "connected_at": "2026-11-23T15:00:10Z",
            "ended_at": "2026-11-23T15:02:10Z",
            "conference_sid": CONFERENCE,
            "client": {"subject": "u_1", "call_sid": client.sid, "joined_at": "2026-11-23T15:00:10Z",
                "left_at": "2026-11-23T15:02:10Z"},
            "reader": {"subject": "u_2", "call_sid": reader.sid, "joined_at": "2026-11-23T15:00:10Z",
                "left_at": "2026-11-23T15:02:10Z"},
        })
    );
    for party in ["client", "reader"] {
        assert_eq!(sorted_keys(&completed[party]), ["call_sid", "joined_at", "left_at", "subject"]);
    }
    let started = &sent.iter().find(|(k, _)| k == "session.started").expect("sent").1;
    assert_eq!(sorted_keys(started), expected_keys, "the same keys: {started}");
    assert_eq!(
        (
            started["status"].as_str(),
            started["connected_at"].as_str(),
            &started["ended_reason"],
            &started["duration_sec"],
            &started["ended_at"],
        ),
        (Some("in_progress"), Some("2026-11-23T15:00:10Z"), &Value::Null, &Value::Null, &Value::Null),
        "{started}"
    );
}

/// Issue: the reader's leg not answering (src/sessions/events.rs) — the mirror of the client's:
/// `no_answer` with `reader_no_answer`, the client's answered leg hung up once, said once.
#[sqlx::test]
async fn a_reader_who_does_not_answer_makes_it_no_answer_and_the_clients_leg_is_hung_up_once(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let id = s.book("ord_rna").await;
    let started = s.call(Method::POST, "/api/calls/ord_rna/start", &s.admin, None).await;
    assert_eq!(started.0, 200, "{}", started.1);
    let client = one_leg_does_not_answer(&s, &id, CLIENT_NUMBER, READER_NUMBER).await;
    let session = s.session(&id).await;
    assert_eq!(
        (session["status"].as_str(), session["ended_reason"].as_str()),
        (Some("no_answer"), Some("reader_no_answer")),
        "{session}"
    );
    let hangups: Vec<_> =
        s.fake.updates().into_iter().map(|(sid, f)| (sid, f["Status"][0].clone())).collect();
    assert_eq!(hangups, [(client.sid.clone(), "completed".to_owned())]);
    let sent = notifications(&s).await;
    let kinds: Vec<&str> = sent.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["session.no_answer"]);
    assert_eq!(
        (sent[0].1["status"].as_str(), sent[0].1["ended_reason"].as_str()),
        (Some("no_answer"), Some("reader_no_answer")),
        "{}",
        sent[0].1
    );
    assert_eq!(audited(&s, &id, "SESSION_STARTED").await.len(), 1);
    assert_eq!(audited(&s, &id, "SESSION_NO_ANSWER").await, [json!({"ended_reason": "reader_no_answer"})]);
    assert!(audited(&s, &id, "SESSION_IN_PROGRESS").await.is_empty(), "both parties never joined");
    assert!(audited(&s, &id, "SESSION_TIME_WARNING").await.is_empty());
}
