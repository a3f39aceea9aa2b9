//! The session and leg state machines, as pure functions the service applies.
//!
//! ```text
//! scheduled ──start──▶ initiating ──ring──▶ ringing ──connect──▶ in_progress ──complete──▶ completed
//!     │                    │  └───────connect──────────────────▶     │
//!     └─cancel─▶ cancelled │ (initiating or ringing) no_answer ─▶ no_answer
//!                          │                         fail ──────▶ failed
//!                          └─ drop (also from in_progress) ─────▶ dropped_by_{monitor,reader,client}
//! ```
//!
//! Every terminal state is final, and nothing moves a session back: a repeated or late event
//! (a `ringing` after the join, a join after the end) finds no transition and changes nothing.
//! A leg follows its call's statuses forward by rank until the call ends (the rule shared with
//! approvals' officer calls: [`RequestedCall`]).

use crate::filters::closed_set;
use crate::twilio::order::RequestedCall;

closed_set!(
    /// Where a session stands.
    pub SessionStatus {
        /// Booked, not started.
        Scheduled => "scheduled",
        /// Start asked: both legs requested.
        Initiating => "initiating",
        /// A leg is ringing.
        Ringing => "ringing",
        /// Both parties joined the conference.
        InProgress => "in_progress",
        /// The call ended normally (a party left, or the time limit).
        Completed => "completed",
        /// Cancelled before it started.
        Cancelled => "cancelled",
        /// A party never joined within the dial timeout.
        NoAnswer => "no_answer",
        /// The call could not be set up.
        Failed => "failed",
        /// A monitor or admin dropped it.
        DroppedByMonitor => "dropped_by_monitor",
        /// The reader ended it.
        DroppedByReader => "dropped_by_reader",
        /// The client ended it.
        DroppedByClient => "dropped_by_client",
    }
);

/// Who drops a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropper {
    /// A monitor or admin (`POST …/drop`).
    Monitor,
    /// The reader (`POST …/end`).
    Reader,
    /// The client (`POST …/end`).
    Client,
}

/// What happens to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// Cancelled before the start.
    Cancel,
    /// Started (by a person or the auto-start worker).
    Start,
    /// A leg rings.
    Ring,
    /// Both parties joined.
    Connect,
    /// The conference ended (a party left, or the time limit).
    Complete,
    /// A party did not answer (or the dial timeout passed).
    NoAnswer,
    /// The call could not be set up.
    Fail,
    /// Ended early through the API.
    Drop(Dropper),
}

impl SessionStatus {
    /// Every status.
    pub const ALL: [SessionStatus; 11] = [
        SessionStatus::Scheduled,
        SessionStatus::Initiating,
        SessionStatus::Ringing,
        SessionStatus::InProgress,
        SessionStatus::Completed,
        SessionStatus::Cancelled,
        SessionStatus::NoAnswer,
        SessionStatus::Failed,
        SessionStatus::DroppedByMonitor,
        SessionStatus::DroppedByReader,
        SessionStatus::DroppedByClient,
    ];

    /// The statuses in which an order has its one active session.
    pub const ACTIVE: [SessionStatus; 4] = [
        SessionStatus::Scheduled,
        SessionStatus::Initiating,
        SessionStatus::Ringing,
        SessionStatus::InProgress,
    ];

    /// The status after `event`, or `None` when the event does not apply (never backwards).
    pub fn after(self, event: SessionEvent) -> Option<SessionStatus> {
        use SessionEvent as E;
        use SessionStatus as S;
        let dialling = matches!(self, S::Initiating | S::Ringing);
        match (self, event) {
            (S::Scheduled, E::Cancel) => Some(S::Cancelled),
            (S::Scheduled, E::Start) => Some(S::Initiating),
            (S::Initiating, E::Ring) => Some(S::Ringing),
            (_, E::Connect) if dialling => Some(S::InProgress),
            (S::InProgress, E::Complete) => Some(S::Completed),
            (_, E::NoAnswer) if dialling => Some(S::NoAnswer),
            (_, E::Fail) if dialling => Some(S::Failed),
            (_, E::Drop(by)) if dialling || self == S::InProgress => Some(match by {
                Dropper::Monitor => S::DroppedByMonitor,
                Dropper::Reader => S::DroppedByReader,
                Dropper::Client => S::DroppedByClient,
            }),
            _ => None,
        }
    }

    /// The statuses `event` moves from (for the conditional update).
    pub fn sources(event: SessionEvent) -> Vec<&'static str> {
        Self::ALL.into_iter().filter(|s| s.after(event).is_some()).map(SessionStatus::as_str).collect()
    }

    /// Whether nothing can move it any more.
    pub fn is_terminal(self) -> bool {
        !Self::ACTIVE.contains(&self)
    }

    /// Whether the call was started (legs were dialled).
    pub fn was_started(self) -> bool {
        !matches!(self, SessionStatus::Scheduled | SessionStatus::Cancelled)
    }
}

impl TryFrom<String> for SessionStatus {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        SessionStatus::parse(&value).ok_or(value)
    }
}

closed_set!(
    /// The two parties of a session.
    pub Party {
        /// The client who booked.
        Client => "client",
        /// The reader (the expert booked).
        Reader => "reader",
    }
);

impl Party {
    /// Both parties, client first.
    pub const BOTH: [Party; 2] = [Party::Client, Party::Reader];

    /// The other party.
    pub fn other(self) -> Party {
        match self {
            Party::Client => Party::Reader,
            Party::Reader => Party::Client,
        }
    }

    /// The `ended_reason` when this party hangs up.
    pub fn left_reason(self) -> &'static str {
        match self {
            Party::Client => "client_left",
            Party::Reader => "reader_left",
        }
    }
}

impl TryFrom<String> for Party {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        Party::parse(&value).ok_or(value)
    }
}

/// Where a leg stands: requested, then its call's latest status, forward by rank until the call
/// ends — the rule every requested call follows ([`RequestedCall`]).
pub type LegStatus = RequestedCall;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twilio::CallStatus;
    use proptest::prelude::*;

    fn event() -> impl Strategy<Value = SessionEvent> {
        proptest::sample::select(vec![
            SessionEvent::Cancel,
            SessionEvent::Start,
            SessionEvent::Ring,
            SessionEvent::Connect,
            SessionEvent::Complete,
            SessionEvent::NoAnswer,
            SessionEvent::Fail,
            SessionEvent::Drop(Dropper::Monitor),
            SessionEvent::Drop(Dropper::Reader),
            SessionEvent::Drop(Dropper::Client),
        ])
    }

    /// The order of the lifecycle: a move always goes to a later stage.
    fn stage(status: SessionStatus) -> u8 {
        match status {
            SessionStatus::Scheduled => 0,
            SessionStatus::Initiating => 1,
            SessionStatus::Ringing => 2,
            SessionStatus::InProgress => 3,
            _ => 4,
        }
    }

    proptest! {
        #[test]
        fn a_session_never_moves_backwards_nor_out_of_a_final_state(
            events in proptest::collection::vec(event(), 0..40)
        ) {
            let mut status = SessionStatus::Scheduled;
            for event in events {
                if let Some(next) = status.after(event) {
                    prop_assert!(!status.is_terminal(), "moved out of {status}");
                    prop_assert!(stage(next) > stage(status), "{status} -> {next}");
                    status = next;
                }
            }
        }

        #[test]
        fn the_sources_are_exactly_the_statuses_that_move(event in event()) {
            for status in SessionStatus::ALL {
                let listed = SessionStatus::sources(event).contains(&status.as_str());
                prop_assert_eq!(listed, status.after(event).is_some());
            }
        }
    }

    #[test]
    fn a_dropped_session_cannot_be_restarted() {
        for dropped in
            [SessionStatus::DroppedByMonitor, SessionStatus::DroppedByReader, SessionStatus::DroppedByClient]
        {
            assert_eq!(dropped.after(SessionEvent::Start), None);
        }
        assert_eq!(SessionStatus::Scheduled.after(SessionEvent::Drop(Dropper::Monitor)), None);
    }

    #[test]
    fn leg_statuses_only_move_forward() {
        let ringing = LegStatus::Requested.after(&CallStatus::Ringing).expect("forward");
        assert_eq!(ringing.after(&CallStatus::Queued), None);
        let done = ringing.after(&CallStatus::NoAnswer).expect("forward");
        assert!(done.unanswered() && done.has_ended());
        assert_eq!(done.after(&CallStatus::Completed), None);
        assert_eq!(LegStatus::from("in-progress".to_owned()).as_str(), "in-progress");
    }
}
