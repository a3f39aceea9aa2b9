//! The one ordering rule for a call's status callbacks, shared by the effects ledger and inbound
//! calls. Twilio delivers them duplicated and out of order: a callback with a `SequenceNumber`
//! is placed by it; without one (or against a row that has none), the status rank decides; and
//! an ended call never moves again. The rule exists twice by necessity — here, pure and property-
//! tested, and as the SQL function `call_status_supersedes` (migration 20261129000002) that the
//! conditional updates use so a row changes in one statement — and a test holds the two equal.

use super::CallStatus;

/// The rank of an ended call: nothing supersedes it.
pub const TERMINAL_RANK: i16 = 4;

impl CallStatus {
    /// Precedence when no sequence number decides: queued/initiated 1, ringing 2, in progress 3,
    /// ended 4; a value this version does not know 0 (it never displaces a known one).
    pub fn rank(&self) -> i16 {
        match self {
            CallStatus::Queued | CallStatus::Initiated => 1,
            CallStatus::Ringing => 2,
            CallStatus::InProgress => 3,
            s if s.is_terminal() => TERMINAL_RANK,
            _ => 0,
        }
    }
}

/// Where a call stands: its status rank and the callback's sequence number, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallProgress {
    /// [`CallStatus::rank`].
    pub rank: i16,
    /// Twilio's `SequenceNumber`.
    pub sequence: Option<i32>,
}

impl CallProgress {
    /// A callback's place.
    pub fn of(status: &CallStatus, sequence: Option<i32>) -> Self {
        CallProgress { rank: status.rank(), sequence }
    }
}

/// Whether `incoming` replaces `current`.
pub fn supersedes(current: CallProgress, incoming: CallProgress) -> bool {
    if current.rank >= TERMINAL_RANK {
        return false;
    }
    match (current.sequence, incoming.sequence) {
        (Some(current), Some(incoming)) => incoming > current,
        _ => incoming.rank > current.rank,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn progress() -> impl Strategy<Value = CallProgress> {
        (0i16..=4, proptest::option::of(0i32..20))
            .prop_map(|(rank, sequence)| CallProgress { rank, sequence })
    }

    /// Applies callbacks in order, as the conditional update does.
    fn apply(start: CallProgress, events: &[CallProgress]) -> Vec<CallProgress> {
        let mut states = vec![start];
        for event in events {
            let current = *states.last().unwrap_or(&start);
            if supersedes(current, *event) {
                let sequence = event.sequence.or(current.sequence);
                states.push(CallProgress { rank: event.rank, sequence });
            }
        }
        states
    }

    proptest! {
        #[test]
        fn an_ended_call_never_moves(events in proptest::collection::vec(progress(), 0..30), start in progress()) {
            let states = apply(start, &events);
            if let Some(ended) = states.iter().position(|s| s.rank >= TERMINAL_RANK) {
                prop_assert_eq!(ended, states.len() - 1, "a state after the end: {:?}", states);
            }
        }

        #[test]
        fn without_sequence_numbers_the_rank_only_rises(events in proptest::collection::vec(0i16..=4, 0..30)) {
            let events: Vec<CallProgress> = events.into_iter().map(|rank| CallProgress { rank, sequence: None }).collect();
            let states = apply(CallProgress { rank: 0, sequence: None }, &events);
            prop_assert!(states.windows(2).all(|w| w[1].rank > w[0].rank));
        }

        #[test]
        fn with_sequence_numbers_a_later_callback_wins_whatever_its_rank(
            start in 0i16..4, rank in 0i16..=4, current in 0i32..10, later in 1i32..10
        ) {
            let current = CallProgress { rank: start, sequence: Some(current) };
            let next = CallProgress { rank, sequence: current.sequence.map(|s| s + later) };
            prop_assert!(supersedes(current, next));
            prop_assert!(!supersedes(next, current), "an earlier callback never wins back");
        }

        #[test]
        fn a_replayed_callback_changes_nothing(current in progress()) {
            prop_assert!(!supersedes(current, current));
        }
    }

    #[test]
    fn every_known_status_has_its_rank() {
        let ranks: Vec<i16> =
            [CallStatus::KNOWN, &["paused"]].concat().iter().map(|s| CallStatus::parse(s).rank()).collect();
        assert_eq!(
            ranks,
            [1, 1, 2, 3, 4, 4, 4, 4, 4, 0],
            "in the order of CallStatus::KNOWN, then an unknown value"
        );
    }
}
