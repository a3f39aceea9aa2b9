//! `session.started`, `session.completed` and `session.no_answer` to the call service, through
//! the outbox; each once per session (its key), whatever replays the transition.

use super::machine::Party;
use super::model::SessionRow;
use super::repo;
use crate::outbox::{self, NewMessage};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;

/// The call service's destination name.
const CALL_SERVICE: &str = "call_service";

async fn send(
    conn: &mut PgConnection,
    session: &SessionRow,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let data = data(conn, session).await?;
    let message = NewMessage {
        kind,
        destination: CALL_SERVICE,
        payload: data,
        idempotency_key: format!("{kind}:{}", session.id),
        owner: None,
        priority: crate::effects::priority::NORMAL,
    };
    outbox::enqueue(conn, session.tenant(), now, message).await.map(|_| ())
}

/// What billing needs: the session, how and when it ended, each party's join and leave times.
async fn data(conn: &mut PgConnection, session: &SessionRow) -> Result<Value, sqlx::Error> {
    let legs = repo::legs(conn, session.id).await?;
    let party = |party: Party| {
        let leg = legs.iter().find(|l| l.party == party);
        json!({"subject": session.subject(party), "call_sid": leg.and_then(|l| l.call_sid.clone()),
            "joined_at": leg.and_then(|l| l.joined_at), "left_at": leg.and_then(|l| l.left_at)})
    };
    Ok(json!({"session_id": session.id, "tenant_id": session.tenant_id, "order_id": session.order_id,
        "status": session.status, "ended_reason": session.ended_reason, "duration_sec": session.duration_sec,
        "scheduled_at": session.scheduled_at, "started_at": session.started_at,
        "connected_at": session.connected_at, "ended_at": session.ended_at,
        "conference_sid": session.conference_sid,
        "client": party(Party::Client), "reader": party(Party::Reader)}))
}

/// Both parties joined.
pub async fn started(
    conn: &mut PgConnection,
    session: &SessionRow,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    send(conn, session, "session.started", now).await
}

/// The call ended (completed or dropped).
pub async fn completed(
    conn: &mut PgConnection,
    session: &SessionRow,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    send(conn, session, "session.completed", now).await
}

/// A party never joined.
pub async fn no_answer(
    conn: &mut PgConnection,
    session: &SessionRow,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    send(conn, session, "session.no_answer", now).await
}
