//! One group-commit batch ([`super::group`]) in SQL: its writes deduplicated and put in one order
//! (ringing calls first, then status callbacks; each by `CallSid` in byte order), the ringing
//! calls as one multi-row insert and their new calls' `call.incoming` as another, the status
//! callbacks one after the other, all in one transaction.

use super::calls::NewCall;
use super::group::{GroupCommitProbe, Job, Outcome, Write};
use super::{status, voice};
use crate::outbox;
use crate::state::AppState;
use crate::twilio::WebhookError;
use sqlx::PgConnection;
use std::collections::HashSet;
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

/// Writes the batch in one transaction.
pub(super) async fn write(
    state: &AppState,
    entries: &[Entry],
    probe: Option<&dyn GroupCommitProbe>,
) -> Result<(), WebhookError> {
    let mut tx = crate::system::system_tx(&state.db).await?;
    let ringing: Vec<&NewCall> = entries
        .iter()
        .filter_map(|e| match &e.write {
            Write::Ringing(call) => Some(call),
            Write::Status(_) => None,
        })
        .collect();
    insert_calls(&mut tx, &ringing).await?;
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

/// Inserts ringing calls (sorted by `CallSid`) and the `call.incoming` of those that are new —
/// the notification's body is built only for them.
async fn insert_calls(conn: &mut PgConnection, calls: &[&NewCall]) -> Result<(), sqlx::Error> {
    match calls {
        [] => return Ok(()),
        // One call: the statements of a lone webhook, as without group commit.
        [call] => return voice::insert_call(conn, call).await.map(drop),
        _ => {}
    }
    let new: HashSet<String> = sqlx::query_scalar(
        "INSERT INTO inbound_call (call_sid, tenant_id, from_address, to_number, status, status_rank, after_hours,
           screened, started_at, created_at, updated_at)
         SELECT sid, tenant, caller, called, status, 1, after_hours, screened, at, at, at
         FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::bool[],
           $8::timestamptz[]) WITH ORDINALITY AS c(sid, tenant, caller, called, status, after_hours, screened, at, n)
         ORDER BY n
         ON CONFLICT (call_sid) DO NOTHING RETURNING call_sid",
    )
    .bind(calls.iter().map(|c| c.sid.as_str()).collect::<Vec<_>>())
    .bind(calls.iter().map(|c| c.tenant.uuid()).collect::<Vec<_>>())
    .bind(calls.iter().map(|c| c.from.as_str()).collect::<Vec<_>>())
    .bind(calls.iter().map(|c| c.to.as_str()).collect::<Vec<_>>())
    .bind(calls.iter().map(|c| c.status.as_str()).collect::<Vec<_>>())
    .bind(calls.iter().map(|c| c.after_hours).collect::<Vec<_>>())
    .bind(calls.iter().map(|c| c.screened).collect::<Vec<_>>())
    .bind(calls.iter().map(|c| c.at).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let messages: Vec<_> = calls
        .iter()
        .filter(|c| new.contains(&c.sid))
        .map(|c| (c.tenant, c.at, voice::call_incoming(c)))
        .collect();
    if messages.is_empty() {
        return Ok(());
    }
    outbox::enqueue_many(conn, &messages).await
}
