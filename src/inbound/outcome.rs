//! What became of an inbound call, decided once from its `<Dial>` result: answered, or missed
//! with the reason. A pure function decides; the first dial result settles it for good (the
//! conditional update writes only when no outcome is stored — Twilio retries dial results).

use crate::twilio::DialCallStatus;

/// Why a call counts as missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissedReason {
    /// A screened call was picked up (by voicemail, say) but nobody pressed 1.
    NotAccepted,
    /// The owner's phone did not pick up: Twilio's `DialCallStatus` (`no-answer`, `busy`,
    /// `failed`, `canceled`, or a value this version does not know).
    Dial(DialCallStatus),
}

/// The outcome of an inbound call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// The owner took it.
    Answered,
    /// Nobody took it: text the caller back.
    Missed(MissedReason),
}

impl CallOutcome {
    /// Decides from the dial result and the screening: picked up and (not screened, or the owner
    /// pressed 1) is answered; anything else is missed.
    pub fn from_dial(status: &DialCallStatus, screened: bool, accepted: bool) -> CallOutcome {
        let picked_up = matches!(status, DialCallStatus::Answered | DialCallStatus::Completed);
        match (picked_up, !screened || accepted) {
            (true, true) => CallOutcome::Answered,
            (true, false) => CallOutcome::Missed(MissedReason::NotAccepted),
            (false, _) => CallOutcome::Missed(MissedReason::Dial(status.clone())),
        }
    }

    /// The outcome once `self` is reported: the first one stays (`None`: nothing changes).
    pub fn settle(current: Option<&CallOutcome>, reported: CallOutcome) -> Option<CallOutcome> {
        current.is_none().then_some(reported)
    }

    /// Whether the caller is owed a text-back.
    pub fn is_missed(&self) -> bool {
        matches!(self, CallOutcome::Missed(_))
    }

    /// The stored `outcome`.
    pub fn as_str(&self) -> &'static str {
        match self {
            CallOutcome::Answered => "answered",
            CallOutcome::Missed(_) => "missed",
        }
    }

    /// The stored `missed_reason`.
    pub fn reason(&self) -> Option<&str> {
        match self {
            CallOutcome::Answered => None,
            CallOutcome::Missed(MissedReason::NotAccepted) => Some("not_accepted"),
            CallOutcome::Missed(MissedReason::Dial(status)) => Some(status.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dial_status() -> impl Strategy<Value = DialCallStatus> {
        proptest::sample::select(vec![
            "completed",
            "answered",
            "busy",
            "no-answer",
            "failed",
            "canceled",
            "queued",
        ])
        .prop_map(DialCallStatus::parse)
    }

    proptest! {
        #[test]
        fn answered_exactly_when_picked_up_and_not_held_by_screening(
            status in dial_status(), screened in any::<bool>(), accepted in any::<bool>()
        ) {
            let outcome = CallOutcome::from_dial(&status, screened, accepted);
            let picked_up = matches!(status.as_str(), "completed" | "answered");
            prop_assert_eq!(outcome == CallOutcome::Answered, picked_up && (!screened || accepted));
            prop_assert_eq!(outcome.reason().is_some(), outcome.is_missed());
        }

        #[test]
        fn the_first_dial_result_settles_the_outcome_for_good(
            results in proptest::collection::vec((dial_status(), any::<bool>(), any::<bool>()), 1..10)
        ) {
            let mut stored: Option<CallOutcome> = None;
            for (status, screened, accepted) in &results {
                let reported = CallOutcome::from_dial(status, *screened, *accepted);
                if let Some(settled) = CallOutcome::settle(stored.as_ref(), reported) {
                    stored = Some(settled);
                }
            }
            let (status, screened, accepted) = &results[0];
            prop_assert_eq!(stored, Some(CallOutcome::from_dial(status, *screened, *accepted)));
        }
    }

    #[test]
    fn reasons_are_stored_as_the_readme_lists_them() {
        let reason = |s: &str, screened| CallOutcome::from_dial(&DialCallStatus::parse(s), screened, false);
        assert_eq!(reason("completed", true).reason(), Some("not_accepted"));
        assert_eq!(reason("no-answer", false).reason(), Some("no-answer"));
        assert_eq!(reason("busy", false).reason(), Some("busy"));
        assert_eq!(reason("completed", false).reason(), None);
    }
}
