//! The run state machine: `pending → running ⇄ paused → completed | cancelled | stopped`, or
//! `failed` when it cannot go on. Every stored change goes through [`RunStatus::after`]; the
//! conditional updates in `repo` move a row only from the states this function allows
//! ([`RunEvent::sources`]), so two replicas or a late request can never skip a rule.

use serde::Serialize;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created; leads may be uploaded; not dialling (also while waiting for its start time).
    Pending,
    /// Dialling.
    Running,
    /// No new calls until resumed; live calls finish.
    Paused,
    /// Every lead reached an end.
    Completed,
    /// Cancelled gracefully: no new calls, live calls finished.
    Cancelled,
    /// Stopped at once: queued jobs cancelled, live calls hung up.
    Stopped,
    /// Could not go on (its from-number removed, the tenant suspended).
    Failed,
}

/// What happens to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunEvent {
    /// Its start time came.
    Start,
    /// An operator paused it.
    Pause,
    /// An operator resumed it.
    Resume,
    /// Graceful cancel finished (no live call left).
    Cancelled,
    /// Stop-queue.
    Stop,
    /// No lead left to dial or waiting for an end.
    Complete,
    /// It cannot go on.
    Fail,
}

impl RunStatus {
    /// Every status.
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Paused,
        RunStatus::Completed,
        RunStatus::Cancelled,
        RunStatus::Stopped,
        RunStatus::Failed,
    ];

    /// The status after `event`, or `None` when the event does not apply here.
    pub fn after(self, event: RunEvent) -> Option<RunStatus> {
        use RunEvent as E;
        use RunStatus as S;
        match (self, event) {
            (S::Pending, E::Start) => Some(S::Running),
            (S::Running, E::Pause) => Some(S::Paused),
            (S::Paused, E::Resume) => Some(S::Running),
            (S::Pending | S::Running | S::Paused, E::Cancelled) => Some(S::Cancelled),
            (S::Pending | S::Running | S::Paused, E::Stop) => Some(S::Stopped),
            (S::Running, E::Complete) => Some(S::Completed),
            (S::Pending | S::Running | S::Paused, E::Fail) => Some(S::Failed),
            _ => None,
        }
    }

    /// No event moves it.
    pub fn is_terminal(self) -> bool {
        RunEvent::ALL.iter().all(|e| self.after(*e).is_none())
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Paused => "paused",
            RunStatus::Completed => "completed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Stopped => "stopped",
            RunStatus::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

impl TryFrom<String> for RunStatus {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        RunStatus::parse(&value).ok_or(value)
    }
}

impl RunEvent {
    /// Every event.
    pub const ALL: [RunEvent; 7] = [
        RunEvent::Start,
        RunEvent::Pause,
        RunEvent::Resume,
        RunEvent::Cancelled,
        RunEvent::Stop,
        RunEvent::Complete,
        RunEvent::Fail,
    ];

    /// The stored names of the statuses this event moves a run from.
    pub fn sources(self) -> Vec<&'static str> {
        RunStatus::ALL.into_iter().filter(|s| s.after(self).is_some()).map(RunStatus::as_str).collect()
    }

    /// The status it leads to (the same from every source).
    pub fn target(self) -> RunStatus {
        RunStatus::ALL.into_iter().find_map(|s| s.after(self)).unwrap_or(RunStatus::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn status() -> impl Strategy<Value = RunStatus> {
        proptest::sample::select(RunStatus::ALL.to_vec())
    }

    fn events() -> impl Strategy<Value = Vec<RunEvent>> {
        proptest::collection::vec(proptest::sample::select(RunEvent::ALL.to_vec()), 0..20)
    }

    proptest! {
        /// A terminal run never moves again, whatever happens.
        #[test]
        fn terminal_runs_never_move(start in status(), events in events()) {
            let mut s = start;
            let mut ended = s.is_terminal();
            for e in events {
                if let Some(next) = s.after(e) {
                    prop_assert!(!ended, "{s:?} moved on {e:?}");
                    s = next;
                }
                ended |= s.is_terminal();
            }
        }

        /// Every event leads to one status, whichever source it moves from.
        #[test]
        fn each_event_has_one_target(s in status()) {
            for e in RunEvent::ALL {
                if let Some(next) = s.after(e) {
                    prop_assert_eq!(next, e.target());
                }
            }
        }
    }

    #[test]
    fn a_run_never_returns_to_pending() {
        for s in RunStatus::ALL {
            for e in RunEvent::ALL {
                assert_ne!(s.after(e), Some(RunStatus::Pending));
            }
        }
    }

    #[test]
    fn terminal_states_are_the_four_ends() {
        let ends: Vec<_> = RunStatus::ALL.into_iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(
            ends,
            vec![RunStatus::Completed, RunStatus::Cancelled, RunStatus::Stopped, RunStatus::Failed]
        );
    }
}
