//! The crisis and officer-call state machines, as pure functions the service applies.
//!
//! ```text
//! pending_approval ──approve (units)──▶ dispatched
//!                  ──approve (none)───▶ dispatch_skipped
//!                  ──reject───────────▶ rejected
//!                  ──deadline─────────▶ expired          (all four terminal)
//! ```
//!
//! An officer call is `requested`, then follows its call's statuses forward by rank (the ledger
//! already dropped regressions; the rule here holds on its own too) until the call ends.

use crate::filters::closed_set;
use crate::twilio::order::RequestedCall;

closed_set!(
    /// Where a crisis stands.
    pub CrisisStatus {
        /// Held for a duty officer's decision.
        PendingApproval => "pending_approval",
        /// Approved and dispatched.
        Dispatched => "dispatched",
        /// Approved, but the decision said not to dispatch.
        DispatchSkipped => "dispatch_skipped",
        /// Rejected.
        Rejected => "rejected",
        /// Undecided before its deadline.
        Expired => "expired",
    }
);

/// What happens to a crisis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrisisEvent {
    /// Approved (by phone or the API); whether its decision sends any unit.
    Approve {
        /// The decision names units to send.
        dispatches: bool,
    },
    /// Rejected.
    Reject,
    /// The deadline passed undecided.
    Expire,
}

impl CrisisStatus {
    /// Every status.
    pub const ALL: [CrisisStatus; 5] = [
        CrisisStatus::PendingApproval,
        CrisisStatus::Dispatched,
        CrisisStatus::DispatchSkipped,
        CrisisStatus::Rejected,
        CrisisStatus::Expired,
    ];

    /// The status after `event`, or `None`: only a pending crisis moves, once.
    pub fn after(self, event: CrisisEvent) -> Option<CrisisStatus> {
        match (self, event) {
            (CrisisStatus::PendingApproval, CrisisEvent::Approve { dispatches: true }) => {
                Some(CrisisStatus::Dispatched)
            }
            (CrisisStatus::PendingApproval, CrisisEvent::Approve { dispatches: false }) => {
                Some(CrisisStatus::DispatchSkipped)
            }
            (CrisisStatus::PendingApproval, CrisisEvent::Reject) => Some(CrisisStatus::Rejected),
            (CrisisStatus::PendingApproval, CrisisEvent::Expire) => Some(CrisisStatus::Expired),
            _ => None,
        }
    }

    /// The statuses `event` moves from (for the conditional update).
    pub fn sources(event: CrisisEvent) -> Vec<&'static str> {
        Self::ALL.into_iter().filter(|s| s.after(event).is_some()).map(CrisisStatus::as_str).collect()
    }

    /// How the status reads to a person on the phone.
    pub fn spoken(self) -> &'static str {
        match self {
            CrisisStatus::PendingApproval => "pending",
            CrisisStatus::Dispatched => "approved and dispatched",
            CrisisStatus::DispatchSkipped => "approved, with no unit to dispatch",
            CrisisStatus::Rejected => "rejected",
            CrisisStatus::Expired => "expired",
        }
    }
}

impl TryFrom<String> for CrisisStatus {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        CrisisStatus::parse(&value).ok_or(value)
    }
}

/// Where an officer call stands: requested, then its call's status, forward by rank until the
/// call ends — the rule every requested call follows ([`RequestedCall`]).
pub type OfficerCallStatus = RequestedCall;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn crisis_event() -> impl Strategy<Value = CrisisEvent> {
        prop_oneof![
            Just(CrisisEvent::Approve { dispatches: true }),
            Just(CrisisEvent::Approve { dispatches: false }),
            Just(CrisisEvent::Reject),
            Just(CrisisEvent::Expire),
        ]
    }

    proptest! {
        #[test]
        fn a_crisis_is_decided_at_most_once(events in proptest::collection::vec(crisis_event(), 0..20)) {
            let mut status = CrisisStatus::PendingApproval;
            let mut moves = 0;
            for event in events {
                if let Some(next) = status.after(event) {
                    moves += 1;
                    status = next;
                }
            }
            prop_assert!(moves <= 1);
            prop_assert_eq!(moves == 1, status != CrisisStatus::PendingApproval);
        }

        #[test]
        fn the_first_decision_is_the_one_that_counts(first in crisis_event(), rest in proptest::collection::vec(crisis_event(), 0..10)) {
            let decided = CrisisStatus::PendingApproval.after(first);
            prop_assert!(decided.is_some());
            let mut status = decided.unwrap_or(CrisisStatus::PendingApproval);
            for event in rest {
                prop_assert_eq!(status.after(event), None);
                status = status.after(event).unwrap_or(status);
            }
            prop_assert_eq!(Some(status), decided);
        }
    }

    #[test]
    fn each_event_moves_only_from_pending() {
        for event in [CrisisEvent::Reject, CrisisEvent::Expire, CrisisEvent::Approve { dispatches: true }] {
            assert_eq!(CrisisStatus::sources(event), ["pending_approval"]);
        }
    }
}
