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
