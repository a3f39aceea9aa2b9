//! `GET /console/events`: server-sent events telling an open console page that what it shows has
//! changed, so it refreshes itself without a reload.
//!
//! **Short polling, not LISTEN/NOTIFY.** Each stream polls, every `SWITCHBOARD_CONSOLE__POLL_INTERVAL_MS`
//! ([`crate::config::ConsoleConfig::poll_interval`], default 1 s), the change
//! watermark of every page its role may see (one small aggregate query per page, in a
//! transaction scoped to the key's tenant, role and subject, so row-level security scopes it to
//! what the session's key may see). Polling
//! is correct with any number of replicas without any domain doing anything: whichever replica
//! committed the change, the table says so. `NOTIFY` would have to be sent by every writer —
//! webhooks included — and DESIGN.md §5 keeps `NOTIFY` out of hot-path transactions because it
//! serialises commits database-wide; an operator console tolerates a two-second delay.
//!
//! Event ids carry every page's watermark (`topic:hash,…`): a browser that reconnects sends it
//! back as `Last-Event-ID`, and the stream at once announces each page that changed meanwhile.
//! A stream ends when its session ends (sign-out, expiry, revoked key) or the server shuts down.

use super::session::{ConsoleUser, still_live};
use super::{Page, Pages};
use crate::auth::Operator;
use crate::auth::scope::operator_tx;
use crate::state::AppState;
use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::convert::Infallible;

/// Watermarks by topic.
type Marks = BTreeMap<&'static str, String>;

/// `GET /console/events`.
pub async fn stream(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    user: ConsoleUser,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let visible: Vec<Page> = pages.0.iter().filter(|p| user.may(p.permission)).copied().collect();
    let previous =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(|id| parse_id(id, &visible));
    let watch =
        Watch { state, session: user.session_id, operator: user.operator.clone(), pages: visible, previous };
    let events = futures::stream::unfold((watch, true), |(mut watch, first)| async move {
        if !first {
            tokio::time::sleep(watch.state.config.console.poll_interval).await;
        }
        let events = watch.round(first).await?;
        Some((futures::stream::iter(events.into_iter().map(Ok)), (watch, false)))
    });
    Sse::new(futures::StreamExt::flatten(events)).keep_alive(KeepAlive::default())
}

struct Watch {
    state: AppState,
    session: uuid::Uuid,
    /// Whose stream: the watermarks run scoped to its tenant, role and subject, so a reader's or
    /// client's stream hears only of the sessions its key may see.
    operator: Operator,
    pages: Vec<Page>,
    /// The last watermarks sent (or received as `Last-Event-ID`).
    previous: Option<Marks>,
}

impl Watch {
    /// One poll: the events to send, or `None` to end the stream.
    async fn round(&mut self, first: bool) -> Option<Vec<Event>> {
        if self.state.readiness.shutdown.is_set() {
            return None;
        }
        let now = self.state.clock.now();
        match still_live(&self.state.db, self.session, now).await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(error) => return Some(self.failed(&error)),
        }
        let marks = match self.marks().await {
            Ok(marks) => marks,
            Err(error) => return Some(self.failed(&error)),
        };
        let id = encode_id(&marks);
        let mut events = Vec::new();
        match &self.previous {
            None => events.push(Event::default().event("ready").data("ready").id(id.clone())),
            Some(before) => {
                for (topic, mark) in &marks {
                    if before.get(topic) != Some(mark) {
                        events.push(Event::default().event(*topic).data("changed").id(id.clone()));
                    }
                }
                if first && events.is_empty() {
                    events.push(Event::default().event("ready").data("ready").id(id.clone()));
                }
            }
        }
        self.previous = Some(marks);
        Some(events)
    }

    /// A failed poll is logged and retried at the next one; the stream stays open.
    fn failed(&self, error: &sqlx::Error) -> Vec<Event> {
        tracing::warn!(error = %crate::error::error_chain(error), "console events: poll failed");
        Vec::new()
    }

    async fn marks(&self) -> Result<Marks, sqlx::Error> {
        let mut marks = Marks::new();
        let Some(tenant) = self.operator.tenant else { return Ok(marks) };
        let mut tx = operator_tx(&self.state.db, tenant, &self.operator).await?;
        for page in &self.pages {
            if page.watermark.is_empty() || marks.contains_key(page.topic) {
                continue;
            }
            let mark: Option<Option<String>> =
                sqlx::query_scalar(page.watermark).bind(tenant.uuid()).fetch_optional(&mut *tx).await?;
            let digest = Sha256::digest(mark.flatten().unwrap_or_default().as_bytes());
            marks.insert(page.topic, hex::encode(&digest[..8]));
        }
        tx.commit().await?;
        Ok(marks)
    }
}

fn encode_id(marks: &Marks) -> String {
    marks.iter().map(|(topic, mark)| format!("{topic}:{mark}")).collect::<Vec<_>>().join(",")
}

/// A `Last-Event-ID` back into watermarks of the visible pages' topics; a topic missing from it
/// counts as changed.
fn parse_id(id: &str, pages: &[Page]) -> Marks {
    let mut marks = Marks::new();
    for (topic, mark) in id.split(',').filter_map(|pair| pair.split_once(':')) {
        if let Some(page) = pages.iter().find(|p| p.topic == topic) {
            marks.insert(page.topic, mark.to_owned());
        }
    }
    marks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_parses_back_into_the_watermarks_it_encodes() {
        let page = Page { path: "/console/x", title: "X", permission: "p", topic: "x", watermark: "" };
        let marks: Marks = [("x", "00ff".to_owned())].into();
        assert_eq!(parse_id(&encode_id(&marks), &[page]), marks);
        assert!(parse_id("unknown:1,garbage", &[page]).is_empty());
    }
}
