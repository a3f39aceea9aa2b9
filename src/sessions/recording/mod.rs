//! Live recording controls of a session (seed 001, part 2): start, pause, resume and stop, each a
//! Twilio request through the outbox (exactly once per control, by its key), on the reader's leg
//! (`RecordingTrack=both`, `RecordingChannels=dual`: both parties on one recording) — or the
//! client's if the reader's leg is gone. The first start of a session waits for the consent
//! notice: the conference hears it (`AnnounceUrl`) and only its `announcement-end` event lets the
//! start request go. The status moves when Twilio confirms (its answer, or the recording status
//! callback); a refusal clears the request and is kept on the control and in the audit.

pub mod control;
mod delivery;
pub mod link;
pub mod machine;
pub mod media;
mod repo;
mod retention;
mod status;

pub use control::{control, delete, list};
pub use delivery::{RECORDING_DESTINATION, RecordingDestination};
pub use media::media;
pub use retention::RetentionWorker;
pub use status::{notice, on_announcement_end, on_recording_status};
