//! A session's conference events while the database is away (issue 20): Twilio does not retry a
//! status callback, so each is answered as usual, kept, and applied once the database is back.

use crate::helpers::eventually;
use crate::sessions::Sessions;
use crate::sessions_calls::{conference, in_progress};
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
