//! One group-commit batch ([`super::group`]) in SQL: its writes deduplicated and put in one order
//! (ringing calls first, then status callbacks; each by `CallSid` in byte order), the ringing
//! calls and their new calls' `call.incoming` as one statement, the status callbacks one after the
//! other, all in one transaction.

use super::calls::NewCall;
use super::group::{GroupCommitProbe, Job, Outcome, Write};
use super::{status, voice};
use crate::state::AppState;
use crate::twilio::WebhookError;
use tokio::sync::oneshot;

/// A distinct write of a batch and every handler that sent it.
pub(super) struct Entry {
    pub(super) write: Write,
    replies: Vec<oneshot::Sender<Outcome>>,
}

impl Entry {
    /// Tells every handler of this write.
    pub(super) fn answer(self, outcome: &Outcome) {
        for reply in self.replies {
            // A handler that gave up (its client went away) needs no answer.
            let _ = reply.send(outcome.clone());
        }
    }
}

/// The batch's distinct writes in the order their keys are taken.
pub(super) fn plan(jobs: Vec<Job>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::with_capacity(jobs.len());
    for job in jobs {
        // Batches are small (tens): a scan is cheaper than hashing here.
        match entries.iter_mut().find(|e| e.write.same_as(&job.write)) {
            Some(first) => first.replies.push(job.reply),
            None => entries.push(Entry { write: job.write, replies: vec![job.reply] }),
        }
    }
    // Stable: two callbacks of one call keep the order they came in.
    entries.sort_by(|a, b| {
        let rank = |w: &Write| matches!(w, Write::Status(_));
        (rank(&a.write), a.write.sid().as_bytes()).cmp(&(rank(&b.write), b.write.sid().as_bytes()))
    });
    entries
}

/// Answers every handler of the batch alike.
pub(super) fn answer_all(entries: Vec<Entry>, outcome: &Outcome) {
    for entry in entries {
        entry.answer(outcome);
    }
}

/// Writes the batch in one transaction. A batch of ringing calls alone is one statement, sent
/// on its own (its own transaction: one round trip instead of `BEGIN`, two inserts and `COMMIT`,
/// each waiting its turn on a busy server); a batch with status callbacks, or one whose commit a
/// test's probe holds open, runs the same statement inside `BEGIN … COMMIT`.
pub(super) async fn write(
    state: &AppState,
    entries: &[Entry],
    probe: Option<&dyn GroupCommitProbe>,
) -> Result<(), WebhookError> {
    let ringing: Vec<&NewCall> = entries
        .iter()
        .filter_map(|e| match &e.write {
            Write::Ringing(call) => Some(call),
            Write::Status(_) => None,
        })
        .collect();
    let held = probe.is_some_and(|p| p.holds_commit());
    if ringing.len() == entries.len() && !held {
        return Ok(insert_calls(&state.db, &ringing).await?);
    }
    let mut tx = crate::system::system_tx(&state.db).await?;
    if !ringing.is_empty() {
        insert_calls(&mut *tx, &ringing).await?;
    }
    for entry in entries {
        if let Write::Status(write) = &entry.write {
            status::write_status(&mut tx, write).await?;
        }
    }
    if let Some(probe) = probe {
        let sids: Vec<String> = entries.iter().map(|e| e.write.sid().to_owned()).collect();
        probe.before_commit(&sids).await;
    }
    Ok(tx.commit().await?)
}

/// The ringing calls (sorted by `CallSid`) and, for those that are new, their `call.incoming`,
/// in one statement. The notification's body is built by PostgreSQL from the inserted row, so
/// nothing is built for a call already recorded; it is the body [`voice::call_incoming`] builds
/// for the other paths (`notify::call_data`, pinned by a test). Notification keys are taken in
/// byte order (`COLLATE "C"`), so two replicas cannot deadlock.
const INSERT_CALLS: &str = r#"
WITH new_call AS (
  INSERT INTO inbound_call (call_sid, tenant_id, from_address, to_number, status, status_rank, after_hours,
    screened, started_at, created_at, updated_at)
  SELECT sid, tenant, caller, called, status, 1, after_hours, screened, at, at, at
  FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::bool[],
    $8::timestamptz[]) WITH ORDINALITY AS c(sid, tenant, caller, called, status, after_hours, screened, at, n)
  ORDER BY n
  ON CONFLICT (call_sid) DO NOTHING
  RETURNING call_sid, tenant_id, from_address, to_number, status, started_at
)
INSERT INTO outbox_message (id, tenant_id, kind, destination, payload, idempotency_key, owner_domain, owner_id,
  priority, status, next_attempt_at, created_at, updated_at)
SELECT gen_random_uuid(), tenant_id, $9, $10,
  jsonb_build_object('call_sid', call_sid, 'from', from_address, 'to', to_number, 'tenant_id', tenant_id,
    'status', status, 'direction', 'inbound',
    'at', to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
  $11 || call_sid, NULL, NULL, $12, 'pending', started_at, started_at, started_at
FROM new_call
ORDER BY call_sid COLLATE "C"
ON CONFLICT (idempotency_key) DO NOTHING"#;

/// Runs [`INSERT_CALLS`] for `calls`.
async fn insert_calls<'c, E>(conn: E, calls: &[&NewCall]) -> Result<(), sqlx::Error>
where
    E: sqlx::PgExecutor<'c>,
{
    sqlx::query(INSERT_CALLS)
        .bind(calls.iter().map(|c| c.sid.as_str()).collect::<Vec<_>>())
        .bind(calls.iter().map(|c| c.tenant.uuid()).collect::<Vec<_>>())
        .bind(calls.iter().map(|c| c.from.as_str()).collect::<Vec<_>>())
        .bind(calls.iter().map(|c| c.to.as_str()).collect::<Vec<_>>())
        .bind(calls.iter().map(|c| c.status.as_str()).collect::<Vec<_>>())
        .bind(calls.iter().map(|c| c.after_hours).collect::<Vec<_>>())
        .bind(calls.iter().map(|c| c.screened).collect::<Vec<_>>())
        .bind(calls.iter().map(|c| c.at).collect::<Vec<_>>())
        .bind(voice::CALL_INCOMING)
        .bind(voice::CALL_SERVICE)
        .bind(voice::CALL_INCOMING_KEY)
        .bind(crate::effects::priority::NORMAL)
        .execute(conn)
        .await?;
    Ok(())
}
