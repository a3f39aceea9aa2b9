//! The one ordering rule for a call's status callbacks, shared by the effects ledger and inbound
//! calls. Twilio delivers them duplicated and out of order: a callback with a `SequenceNumber`
//! is placed by it; without one (or against a row that has none), the status rank decides; and
//! an ended call never moves again. The rule exists twice by necessity — here, pure and property-
//! tested, and as the SQL function `call_status_supersedes` (migration 20261129000002) that the
//! conditional updates use so a row changes in one statement — and a test holds the two equal.
//!
//! A call a domain asked for (an approval's officer call, a session's leg) is followed by
//! [`RequestedCall`]: requested, then forward by rank until the call ends — one rule for every
//! domain, here next to the ranks it uses.

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

/// Where a call a domain asked for stands: requested, then its call's latest status. The ledger
/// already dropped regressions; [`RequestedCall::after`] holds on its own too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedCall {
    /// Asked of the effects layer; no status from Twilio yet.
    Requested,
    /// The call's latest status.
    Call(CallStatus),
}

impl RequestedCall {
    /// The status after Twilio reports `status`, or `None` when it is not a step forward (a lower
    /// or equal rank, or anything after the call ended).
    pub fn after(&self, status: &CallStatus) -> Option<RequestedCall> {
        let forward = match self {
            RequestedCall::Requested => true,
            RequestedCall::Call(current) => current.rank() < TERMINAL_RANK && status.rank() > current.rank(),
        };
        forward.then(|| RequestedCall::Call(status.clone()))
    }

    /// Whether the call has ended (nothing to hang up).
    pub fn has_ended(&self) -> bool {
        matches!(self, RequestedCall::Call(status) if status.is_terminal())
    }

    /// Whether the person called did not take the call.
    pub fn unanswered(&self) -> bool {
        matches!(
            self,
            RequestedCall::Call(
                CallStatus::NoAnswer | CallStatus::Busy | CallStatus::Failed | CallStatus::Canceled
            )
        )
    }

    /// The stored name: `requested`, or Twilio's status.
    pub fn as_str(&self) -> &str {
        match self {
            RequestedCall::Requested => "requested",
            RequestedCall::Call(status) => status.as_str(),
        }
    }
}

impl From<String> for RequestedCall {
    fn from(value: String) -> Self {
        match value.as_str() {
            "requested" => RequestedCall::Requested,
            other => RequestedCall::Call(CallStatus::parse(other)),
        }
    }
}

impl serde::Serialize for RequestedCall {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn call_status() -> impl Strategy<Value = CallStatus> {
        proptest::sample::select([CallStatus::KNOWN, &["paused"]].concat()).prop_map(CallStatus::parse)
    }

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

        #[test]
        fn a_requested_call_only_moves_forward_and_never_after_it_ended(
            statuses in proptest::collection::vec(call_status(), 0..30)
        ) {
            let mut status = RequestedCall::Requested;
            let mut ended = false;
            let mut rank = -1;
            for next in statuses {
                if let Some(moved) = status.after(&next) {
                    prop_assert!(!ended, "moved after the call ended");
                    prop_assert!(next.rank() > rank || rank < 0);
                    rank = next.rank();
                    status = moved;
                    ended = status.has_ended();
                } else {
                    // Refused only when it is no step forward: nothing that should move is skipped.
                    prop_assert!(ended || next.rank() <= rank, "{:?} refused from {:?}", next, status);
                }
            }
        }
    }

    #[test]
    fn requested_calls_round_trip_through_storage() {
        for stored in ["requested", "ringing", "no-answer", "something-new"] {
            assert_eq!(RequestedCall::from(stored.to_owned()).as_str(), stored);
        }
        assert!(RequestedCall::from("busy".to_owned()).unanswered());
        assert!(RequestedCall::from("completed".to_owned()).has_ended());
        assert!(!RequestedCall::Requested.has_ended());
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
