//! The attempt state machine: what may happen to a call or message we mean to create. Every
//! state change of `twilio_attempt` goes through [`AttemptState::after`]: the conditional update
//! in `attempts` moves a row only from the states this function allows for the event
//! ([`AttemptEvent::sources`]), so a racing replica or a late callback can never skip a rule.
//!
//! ```text
//! queued ──send──▶ sending ──answer/callback──▶ created (terminal)
//!   ▲  │             ├──refused──▶ failed (terminal)
//!   │  veto          ├──not sent (429, unreachable)──▶ queued
//!   │  ▼             ├──ambiguous (timeout, 5xx)──▶ unknown ──callback──▶ created
//!   │ cancelled      │                                  │
//!   │ (terminal)     └───────────┬──────────────────────┘
//!   │                            ├──reconciled absent (once)──▶ queued
//!   └──────── send ◀── parked ◀──┴──doubt──
//! ```

use serde::Serialize;

/// Where an attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    /// Not sent.
    Queued,
    /// Sent; its answer not yet saved (a crash here is an unknown outcome, never "not sent").
    Sending,
    /// Twilio's SID is bound.
    Created,
    /// Timeout or 5xx: waiting for a callback or reconciliation.
    Unknown,
    /// Twilio refused it.
    Failed,
    /// Ambiguous: waiting for an operator.
    Parked,
    /// Not wanted any more, or the recipient vetoed.
    Cancelled,
}

/// What happens to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptEvent {
    /// The create is about to leave.
    Send,
    /// Twilio's SID became known (the create's answer, a callback, reconciliation).
    Bind,
    /// Twilio answered with an error.
    Refuse,
    /// The create never left (429, connection refused): it may be sent again.
    NotSent,
    /// The create may or may not have happened (timeout, 5xx).
    Ambiguous,
    /// The owning domain vetoed the recipient before sending.
    Veto,
    /// Reconciliation could not decide: an operator must.
    Park,
    /// Reconciliation proved nothing was created: send again (once).
    Retry,
}

impl AttemptState {
    /// Every state.
    pub const ALL: [AttemptState; 7] = [
        AttemptState::Queued,
        AttemptState::Sending,
        AttemptState::Created,
        AttemptState::Unknown,
        AttemptState::Failed,
        AttemptState::Parked,
        AttemptState::Cancelled,
    ];

    /// The state after `event`, or `None` when the event does not apply here.
    pub fn after(self, event: AttemptEvent) -> Option<AttemptState> {
        use AttemptEvent as E;
        use AttemptState as S;
        match (self, event) {
            (S::Queued | S::Parked, E::Send) => Some(S::Sending),
            (S::Queued | S::Parked, E::Veto) => Some(S::Cancelled),
            // A late callback may prove a create that reconciliation had requeued: bind it then too.
            (S::Queued | S::Sending | S::Unknown | S::Parked, E::Bind) => Some(S::Created),
            (S::Sending, E::Refuse) => Some(S::Failed),
            (S::Sending, E::NotSent) => Some(S::Queued),
            (S::Sending, E::Ambiguous) => Some(S::Unknown),
            (S::Sending | S::Unknown, E::Park) => Some(S::Parked),
            (S::Sending | S::Unknown, E::Retry) => Some(S::Queued),
            _ => None,
        }
    }

    /// No event moves it.
    pub fn is_terminal(self) -> bool {
        AttemptEvent::ALL.iter().all(|e| self.after(*e).is_none())
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Queued => "queued",
            AttemptState::Sending => "sending",
            AttemptState::Created => "created",
            AttemptState::Unknown => "unknown",
            AttemptState::Failed => "failed",
            AttemptState::Parked => "parked",
            AttemptState::Cancelled => "cancelled",
        }
    }
}

impl TryFrom<String> for AttemptState {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        AttemptState::ALL.into_iter().find(|s| s.as_str() == value).ok_or(value)
    }
}

impl AttemptEvent {
    /// Every event.
    pub const ALL: [AttemptEvent; 8] = [
        AttemptEvent::Send,
        AttemptEvent::Bind,
        AttemptEvent::Refuse,
        AttemptEvent::NotSent,
        AttemptEvent::Ambiguous,
        AttemptEvent::Veto,
        AttemptEvent::Park,
        AttemptEvent::Retry,
    ];

    /// The states this event moves from (for the conditional update's `WHERE state = ANY`).
    pub fn sources(self) -> Vec<&'static str> {
        AttemptState::ALL.into_iter().filter(|s| s.after(self).is_some()).map(AttemptState::as_str).collect()
    }

    /// The state this event leads to (the same from every source).
    pub fn target(self) -> AttemptState {
        AttemptState::ALL
            .into_iter()
            .find_map(|s| s.after(self))
            .unwrap_or_else(|| unreachable!("every event applies somewhere"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event() -> impl Strategy<Value = AttemptEvent> {
        proptest::sample::select(AttemptEvent::ALL.to_vec())
    }

    /// The states visited from `queued` by the events that apply.
    fn run(events: &[AttemptEvent]) -> Vec<(AttemptEvent, AttemptState)> {
        let mut state = AttemptState::Queued;
        let mut visited = Vec::new();
        for event in events {
            if let Some(next) = state.after(*event) {
                visited.push((*event, next));
                state = next;
            }
        }
        visited
    }

    proptest! {
        #[test]
        fn created_failed_and_cancelled_are_terminal_and_never_left(events in proptest::collection::vec(event(), 0..40)) {
            let visited = run(&events);
            if let Some(i) = visited.iter().position(|(_, s)| s.is_terminal()) {
                prop_assert_eq!(i, visited.len() - 1, "moved after a terminal state: {:?}", visited);
            }
        }

        #[test]
        fn a_create_is_only_ever_sent_from_queued_or_parked(events in proptest::collection::vec(event(), 0..40)) {
            let mut state = AttemptState::Queued;
            for event in events {
                if let Some(next) = state.after(event) {
                    if next == AttemptState::Sending {
                        prop_assert!(matches!(state, AttemptState::Queued | AttemptState::Parked));
                    }
                    state = next;
                }
            }
        }

        #[test]
        fn an_unknown_outcome_is_never_sent_again_without_reconciliation(
            events in proptest::collection::vec(event(), 0..40)
        ) {
            // From `unknown`, the only way back to sending is Retry (reconciled absent) or Park
            // then an operator's Send — never Send directly.
            let mut state = AttemptState::Queued;
            for event in events {
                if state == AttemptState::Unknown && event == AttemptEvent::Send {
                    prop_assert_eq!(state.after(event), None);
                }
                if let Some(next) = state.after(event) {
                    state = next;
                }
            }
        }

        #[test]
        fn every_event_leads_to_one_state_from_wherever_it_applies(event in event()) {
            let targets: std::collections::HashSet<AttemptState> =
                AttemptState::ALL.into_iter().filter_map(|s| s.after(event)).collect();
            prop_assert_eq!(targets.len(), 1);
            prop_assert_eq!(targets.into_iter().next(), Some(event.target()));
        }
    }

    #[test]
    fn exactly_created_failed_and_cancelled_are_terminal() {
        let terminal: Vec<&str> =
            AttemptState::ALL.into_iter().filter(|s| s.is_terminal()).map(AttemptState::as_str).collect();
        assert_eq!(terminal, ["created", "failed", "cancelled"]);
    }

    #[test]
    fn stored_names_round_trip() {
        for state in AttemptState::ALL {
            assert_eq!(AttemptState::try_from(state.as_str().to_owned()), Ok(state));
        }
        assert_eq!(AttemptState::try_from("lost".to_owned()), Err("lost".to_owned()));
    }

    #[test]
    fn the_sources_of_each_event_are_what_the_diagram_says() {
        assert_eq!(AttemptEvent::Send.sources(), ["queued", "parked"]);
        assert_eq!(AttemptEvent::Bind.sources(), ["queued", "sending", "unknown", "parked"]);
        assert_eq!(AttemptEvent::Refuse.sources(), ["sending"]);
        assert_eq!(AttemptEvent::Retry.sources(), ["sending", "unknown"]);
        assert_eq!(AttemptEvent::Veto.sources(), ["queued", "parked"]);
    }
}
