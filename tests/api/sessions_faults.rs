//! A session's conference events while the database is away (issue 20): Twilio does not retry a
//! status callback, so each is answered as usual, kept, and applied once the database is back.

use crate::helpers::eventually;
use crate::sessions::{CLIENT_NUMBER, Sessions};
use crate::sessions_calls::{answer, conference, in_progress, leg};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[sqlx::test]
async fn a_conference_that_ends_during_an_outage_completes_its_session_when_the_database_returns(
    _o: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let (pool, proxy) = crate::outage::proxied(&connect, 4).await;
    let s = Sessions::new(pool).await;
    let (id, client, _reader) = in_progress(&s, "ord_outage").await;
    proxy.cut();
    // `conference` asserts the 200: the answer does not wait for the database.
    conference(&s, &id, "participant-leave", Some(&client.sid), "4").await;
    conference(&s, &id, "conference-end", None, "5").await;
    conference(&s, &id, "conference-end", None, "5").await; // a duplicate, kept and harmless
    proxy.restore();
    let worker = s.app.worker("sessions-deferred-events");
    eventually(15, "the kept events are applied", || async { worker.run_once().await.is_ok() }).await;
    let session = s.session(&id).await;
    assert_eq!(
        (session["status"].as_str(), session["ended_reason"].as_str()),
        (Some("completed"), Some("client_left")),
        "{session}"
    );
    let completed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox_message WHERE kind = 'session.completed'")
            .fetch_one(&s.app.state.db)
            .await
            .expect("count");
    assert_eq!(completed, 1, "the call service hears of it once");
}

#[sqlx::test]
async fn a_legs_twiml_while_the_database_is_away_is_an_apology(_o: PgPoolOptions, connect: PgConnectOptions) {
    let (pool, proxy) = crate::outage::proxied(&connect, 4).await;
    let s = Sessions::new(pool).await;
    s.book("ord_away").await;
    let started = s.call(reqwest::Method::POST, "/api/calls/ord_away/start", &s.admin, None).await;
    assert_eq!(started.0, 200, "{}", started.1);
    crate::fixture::deliver(&s.app).await;
    let client = leg(&s, CLIENT_NUMBER);
    proxy.cut();
    // Which room the leg joins, or whether the session already ended, is the database's to say.
    let twiml = answer(&s, &client, CLIENT_NUMBER).await;
    assert!(twiml.contains("We are sorry") && twiml.contains("<Hangup"), "{twiml}");
    assert!(!twiml.contains("<Conference"), "{twiml}");
    proxy.restore();
    crate::outage::reconnected(&s.app.state.db).await;
    let retried = answer(&s, &client, CLIENT_NUMBER).await;
    assert!(retried.contains("<Conference"), "Twilio's retry joins the room: {retried}");
}
