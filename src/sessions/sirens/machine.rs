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
        [Self::Active, Self::Acknowledged, Self::Resolved, Self::FalseAlarm]
            .into_iter()
            .filter(|s| s.after(event).is_some())
            .map(Self::as_str)
            .collect()
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
