//! The siren machine, as pure functions the service applies.
//!
//! ```text
//! active ──acknowledge──▶ acknowledged ──resolve──▶ resolved | false_alarm
//!    └────────────────────resolve─────────────────▶ resolved | false_alarm
//! ```
//!
//! Resolved and false alarms are final; acknowledging twice, or anything after the end, finds no
//! transition (a 409 `invalid_transition`).

use crate::filters::closed_set;

closed_set!(
    /// What the siren is about.
    pub AlertType {
        /// Someone is in danger: escalates to the duty officers if not acknowledged in time.
        Emergency => "emergency",
        /// The call's quality.
        QualityIssue => "quality_issue",
        /// A technical problem.
        TechnicalProblem => "technical_problem",
        /// A party's behaviour.
        InappropriateBehavior => "inappropriate_behavior",
    }
);

closed_set!(
    /// Where a siren stands.
    pub SirenStatus {
        /// Raised; nobody has taken it yet.
        Active => "active",
        /// A monitor took it.
        Acknowledged => "acknowledged",
        /// Dealt with.
        Resolved => "resolved",
        /// Nothing was wrong.
        FalseAlarm => "false_alarm",
    }
);

closed_set!(
    /// How a siren ends.
    pub Resolution {
        /// Dealt with.
        Resolved => "resolved",
        /// Nothing was wrong.
        FalseAlarm => "false_alarm",
    }
);

/// What happens to a siren.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SirenEvent {
    /// A monitor takes it.
    Acknowledge,
    /// A monitor closes it.
    Resolve(Resolution),
}

impl SirenStatus {
    /// Every status.
    pub const ALL: [SirenStatus; 4] =
        [SirenStatus::Active, SirenStatus::Acknowledged, SirenStatus::Resolved, SirenStatus::FalseAlarm];

    /// Whether nothing can move it any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, SirenStatus::Resolved | SirenStatus::FalseAlarm)
    }

    /// The status after `event`, or `None` when the machine refuses it.
    pub fn after(self, event: SirenEvent) -> Option<SirenStatus> {
        use SirenStatus::*;
        match (self, event) {
            (Active, SirenEvent::Acknowledge) => Some(Acknowledged),
            (Active | Acknowledged, SirenEvent::Resolve(Resolution::Resolved)) => Some(Resolved),
            (Active | Acknowledged, SirenEvent::Resolve(Resolution::FalseAlarm)) => Some(FalseAlarm),
            _ => None,
        }
    }

    /// The statuses `event` moves a siren from (the conditional update's guard).
    pub fn sources(event: SirenEvent) -> Vec<&'static str> {
        Self::ALL.into_iter().filter(|s| s.after(event).is_some()).map(Self::as_str).collect()
    }
}

impl TryFrom<String> for SirenStatus {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        SirenStatus::parse(&value).ok_or(value)
    }
}

impl TryFrom<String> for AlertType {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        AlertType::parse(&value).ok_or(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event() -> impl Strategy<Value = SirenEvent> {
        proptest::sample::select(vec![
            SirenEvent::Acknowledge,
            SirenEvent::Resolve(Resolution::Resolved),
            SirenEvent::Resolve(Resolution::FalseAlarm),
        ])
    }

    /// The order of the lifecycle: a move always goes to a later stage.
    fn stage(status: SirenStatus) -> u8 {
        match status {
            SirenStatus::Active => 0,
            SirenStatus::Acknowledged => 1,
            SirenStatus::Resolved | SirenStatus::FalseAlarm => 2,
        }
    }

    /// The machine's edges, written out: what each event may do from each status.
    fn edge(from: SirenStatus, event: SirenEvent) -> Option<SirenStatus> {
        use SirenStatus::*;
        match (from, event) {
            (Active, SirenEvent::Acknowledge) => Some(Acknowledged),
            (Active | Acknowledged, SirenEvent::Resolve(Resolution::Resolved)) => Some(Resolved),
            (Active | Acknowledged, SirenEvent::Resolve(Resolution::FalseAlarm)) => Some(FalseAlarm),
            _ => None,
        }
    }

    proptest! {
        #[test]
        fn a_siren_never_moves_backwards_nor_out_of_its_end(events in proptest::collection::vec(event(), 0..30)) {
            let mut status = SirenStatus::Active;
            let mut ended_as = None;
            for event in events {
                match status.after(event) {
                    Some(next) => {
                        prop_assert!(!status.is_terminal(), "moved out of {status}");
                        prop_assert!(stage(next) > stage(status), "{status} -> {next}");
                        status = next;
                        if status.is_terminal() {
                            ended_as = Some(status);
                        }
                    }
                    None => prop_assert_eq!(ended_as.is_some(), status.is_terminal()),
                }
            }
            // The first resolution is the one that stays.
            prop_assert_eq!(ended_as.unwrap_or(status), status);
        }

        #[test]
        fn every_edge_is_taken_and_no_other(events in proptest::collection::vec(event(), 0..30)) {
            let mut status = SirenStatus::Active;
            for event in events {
                // Neither a move the table lacks nor one it has and the machine skips.
                prop_assert_eq!(status.after(event), edge(status, event), "{} on {:?}", status, event);
                status = status.after(event).unwrap_or(status);
            }
        }

        #[test]
        fn the_sources_are_exactly_the_statuses_that_move(event in event()) {
            for status in SirenStatus::ALL {
                let listed = SirenStatus::sources(event).contains(&status.as_str());
                prop_assert_eq!(listed, status.after(event).is_some());
            }
        }
    }

    #[test]
    fn a_siren_moves_only_forward() {
        use SirenStatus::*;
        let resolve = SirenEvent::Resolve(Resolution::Resolved);
        let false_alarm = SirenEvent::Resolve(Resolution::FalseAlarm);
        assert_eq!(Active.after(SirenEvent::Acknowledge), Some(Acknowledged));
        assert_eq!(Active.after(resolve), Some(Resolved));
        assert_eq!(Acknowledged.after(false_alarm), Some(FalseAlarm));
        assert_eq!(Acknowledged.after(SirenEvent::Acknowledge), None);
        for done in [Resolved, FalseAlarm] {
            assert_eq!(done.after(SirenEvent::Acknowledge), None);
            assert_eq!(done.after(resolve), None);
        }
        assert_eq!(SirenStatus::sources(SirenEvent::Acknowledge), vec!["active"]);
    }
}
