//! Inbound calls and SMS (seed 002): a call to a business number rings the owner (or follows the
//! after-hours rules); a missed call texts the caller back exactly once per window; SMS thread into
//! conversations handed to the call service and the bot; opt-outs are honoured.

mod answers;
mod api;
mod batch;
pub mod calls;
mod console;
pub mod conversations;
mod dial;
mod docs;
mod group;
mod notify;
mod outcome;
mod owner;
pub mod pending;
mod sms;
mod status;
pub mod textback;
pub mod voice;

pub use crate::writebehind::SpoolError;
pub use group::{GroupCommit, GroupCommitProbe};
pub use owner::InboundOwner;
pub use pending::{PendingEffect, PendingEffects, PendingEffectsWorker};

/// The inbound spool's file name inside `SWITCHBOARD_INBOUND__SPOOL_DIR`.
pub const SPOOL_FILE: &str = pending::NAMES.file;
pub use textback::DOMAIN;

use crate::clock::Clock;
use crate::config::InboundConfig;
use crate::domain::{Domain, Effects};
use crate::state::AppState;
use crate::tenants::NumberDirectory;
use crate::worker::Worker;
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use std::sync::Arc;

/// The inbound domain: what it keeps of its own, and how it plugs in.
pub struct Inbound {
    /// Routing of called numbers to tenants (shared with the tenants API, which invalidates it).
    directory: Arc<NumberDirectory>,
    /// Effects of answered webhooks that wait for the database (it was away when they came).
    pending: Arc<PendingEffects>,
    /// This replica's group-commit writer of webhook writes.
    group: Arc<GroupCommit>,
    /// Ringing answers rendered per route (a cache: rebuilt when the route changes).
    answers: Arc<answers::RingingAnswers>,
}

impl Inbound {
    /// The domain, routing calls through `directory`, keeping what waits for the database in
    /// memory and, when `config` names a spool, on disk (replaying what it holds), writing webhooks
    /// by group commit (`probe`: tests only).
    pub fn new(
        directory: Arc<NumberDirectory>,
        config: &InboundConfig,
        probe: Option<Arc<dyn GroupCommitProbe>>,
    ) -> Result<Self, SpoolError> {
        let pending = match &config.spool_dir {
            Some(dir) => PendingEffects::with_spool(pending::NAMES, dir)?,
            None => PendingEffects::in_memory(pending::NAMES),
        };
        let group = Arc::new(GroupCommit::new(config, probe));
        Ok(Inbound { directory, pending: Arc::new(pending), group, answers: Arc::default() })
    }
}

impl Domain for Inbound {
    fn name(&self) -> &'static str {
        "inbound"
    }

    fn effects(&self, clock: &Arc<dyn Clock>) -> Option<Effects> {
        Some(Effects { domain: DOMAIN, owner: Some(Arc::new(InboundOwner { clock: clock.clone() })) })
    }

    fn router(&self) -> Router<AppState> {
        router()
            .layer(Extension(self.directory.clone()))
            .layer(Extension(self.pending.clone()))
            .layer(Extension(self.group.clone()))
            .layer(Extension(self.answers.clone()))
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        docs::openapi()
    }

    fn routes(&self) -> &'static [crate::openapi::Route] {
        ROUTES
    }

    fn workers(&self, state: &AppState) -> Vec<Arc<dyn Worker>> {
        // Called once the metrics recorder is installed (as the buffer's series are).
        self.group.export_metrics();
        vec![Arc::new(PendingEffectsWorker::new(state, self.directory.clone(), self.pending.clone()))]
    }

    fn console(&self) -> Option<crate::console::Section> {
        Some(console::section())
    }
}

/// The routes [`router`] serves.
pub const ROUTES: &[crate::openapi::Route] = &[
    ("POST", "/webhooks/twilio/call"),
    ("POST", "/webhooks/twilio/call/status/{sid}"),
    ("POST", "/webhooks/twilio/call/screen/{sid}"),
    ("POST", "/webhooks/twilio/call/screen/{sid}/accept"),
    ("POST", "/webhooks/twilio/call/voicemail/{sid}"),
    ("POST", "/webhooks/twilio/call/voicemail/{sid}/status"),
    ("POST", "/webhooks/twilio/fallback"),
    ("POST", "/webhooks/twilio/sms"),
    ("GET", "/api/inbound-calls"),
    ("GET", "/api/conversations"),
    ("GET", "/api/conversations/{id}"),
    ("POST", "/api/conversations/{id}/messages"),
    ("GET", "/api/opt-outs"),
    ("DELETE", "/api/opt-outs/{number}"),
];

/// The webhooks of business numbers and the operator API.
fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/twilio/call", post(voice::call))
        .route("/webhooks/twilio/call/status/{sid}", post(dial::dial_status))
        .route("/webhooks/twilio/call/screen/{sid}", post(voice::screen))
        .route("/webhooks/twilio/call/screen/{sid}/accept", post(voice::screen_accept))
        .route("/webhooks/twilio/call/voicemail/{sid}", post(voice::voicemail_recorded))
        .route("/webhooks/twilio/call/voicemail/{sid}/status", post(voice::voicemail_status))
        .route("/webhooks/twilio/fallback", post(voice::fallback))
        .route("/webhooks/twilio/sms", post(sms::sms))
        .route("/api/inbound-calls", get(api::list_calls))
        .route("/api/conversations", get(api::list_conversations))
        .route("/api/conversations/{id}", get(api::get_conversation))
        .route("/api/conversations/{id}/messages", post(api::reply))
        .route("/api/opt-outs", get(api::list_opt_outs))
        .route("/api/opt-outs/{number}", delete(api::delete_opt_out))
}
