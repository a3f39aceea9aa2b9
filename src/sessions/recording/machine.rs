//! The recording machine: `stopped → recording → paused → recording → stopped`; a start after a
//! stop opens a new recording, a resume after a stop is refused.

use serde::Serialize;

/// What a session's recording is doing (as Twilio last confirmed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    /// Nothing is being recorded.
    Stopped,
    /// Recording.
    Recording,
    /// Paused (the pause is cut out: `PauseBehavior=skip`).
    Paused,
}

impl RecordingState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingState::Stopped => "stopped",
            RecordingState::Recording => "recording",
            RecordingState::Paused => "paused",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "stopped" => Some(RecordingState::Stopped),
            "recording" => Some(RecordingState::Recording),
            "paused" => Some(RecordingState::Paused),
            _ => None,
        }
    }
}

/// A control an operator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Open a new recording.
    Start,
    /// Pause the current one.
    Pause,
    /// Resume it after a pause.
    Resume,
    /// Stop it for good.
    Stop,
}

impl Control {
    /// The path segment (`start`, `pause`, `resume`, `stop`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "start" => Some(Control::Start),
            "pause" => Some(Control::Pause),
            "resume" => Some(Control::Resume),
            "stop" => Some(Control::Stop),
            _ => None,
        }
    }

    /// The stored name of the control (the payload's `action`).
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Start => "start",
            Control::Pause => "pause",
            Control::Resume => "resume",
            Control::Stop => "stop",
        }
    }

    /// The state the control asks for, if allowed from `from`.
    pub fn target(self, from: RecordingState) -> Option<RecordingState> {
        use RecordingState::*;
        match (self, from) {
            (Control::Start, Stopped) => Some(Recording),
            (Control::Pause, Recording) => Some(Paused),
            (Control::Resume, Paused) => Some(Recording),
            (Control::Stop, Recording | Paused) => Some(Stopped),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RecordingState::*;
    use proptest::prelude::*;

    fn control() -> impl Strategy<Value = Control> {
        proptest::sample::select(vec![Control::Start, Control::Pause, Control::Resume, Control::Stop])
    }

    /// The machine's edges, written out.
    const EDGES: [(Control, RecordingState, RecordingState); 5] = [
        (Control::Start, Stopped, Recording),
        (Control::Pause, Recording, Paused),
        (Control::Resume, Paused, Recording),
        (Control::Stop, Recording, Stopped),
        (Control::Stop, Paused, Stopped),
    ];

    proptest! {
        /// Each recording (opened by a start) ends at most once and never comes back: after its
        /// stop only a start is taken, and that opens the next recording.
        #[test]
        fn a_stopped_recording_never_resumes(controls in proptest::collection::vec(control(), 0..40)) {
            let mut state = Stopped;
            let mut recordings = 0;
            let mut stopped = 0;
            for control in controls {
                let Some(next) = control.target(state) else { continue };
                match (state, next) {
                    (Stopped, _) => {
                        prop_assert_eq!(control, Control::Start, "only a start leaves stopped");
                        recordings += 1;
                    }
                    (_, Stopped) => stopped += 1,
                    _ => {}
                }
                state = next;
            }
            // Every recording but the current one was stopped, once.
            let open = usize::from(state != Stopped);
            prop_assert_eq!(stopped + open, recordings);
        }

        #[test]
        fn every_edge_is_taken_and_no_other(controls in proptest::collection::vec(control(), 0..40)) {
            let mut state = Stopped;
            for control in controls {
                let expected = EDGES.iter().find(|(c, from, _)| *c == control && *from == state).map(|e| e.2);
                prop_assert_eq!(control.target(state), expected, "{:?} from {:?}", control, state);
                state = expected.unwrap_or(state);
            }
        }
    }

    #[test]
    fn the_machine_allows_only_its_edges() {
        assert_eq!(Control::Start.target(Stopped), Some(Recording));
        assert_eq!(Control::Pause.target(Recording), Some(Paused));
        assert_eq!(Control::Resume.target(Paused), Some(Recording));
        assert_eq!(Control::Stop.target(Paused), Some(Stopped));
        assert_eq!(Control::Resume.target(Stopped), None);
        assert_eq!(Control::Pause.target(Paused), None);
        assert_eq!(Control::Start.target(Recording), None);
        assert_eq!(Control::Stop.target(Stopped), None);
    }
}
