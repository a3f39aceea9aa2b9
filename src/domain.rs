//! The one place a domain plugs in. A domain (inbound calls, crisis approvals, and the ones to
//! come) is one value implementing [`Domain`]: it hands startup its routes, the owner of the
//! Twilio effects it requests, its workers and long-running tasks, its outbox destinations, its
//! readiness checks and its operator console pages. `startup.rs` lists the domains; nothing in `state`, `workers`, `http` or
//! `outbox` names one.
//!
//! Nothing defaults silently: a domain that requests Twilio effects must register an owner for
//! them (startup refuses otherwise, [`check_effects`]), and an effect whose owner no running
//! binary knows is parked, never sent.

use crate::clock::Clock;
use crate::effects::{EffectOwner, EffectOwners};
use crate::health::ReadinessCheck;
use crate::outbox::Destination;
use crate::state::AppState;
use crate::worker::Worker;
use axum::Router;
use futures::future::BoxFuture;
use std::collections::HashSet;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A domain's Twilio effects: the owner name its requests carry, and who hears about them.
pub struct Effects {
    /// The `owner_domain` of its attempts and outbox messages (`inbound`, `crises`, …).
    pub domain: &'static str,
    /// Hears status changes, vetoes recipients, says whether an effect is still wanted.
    pub owner: Option<Arc<dyn EffectOwner>>,
}

/// Everything a domain contributes. Every method but [`Domain::name`] and [`Domain::router`]
/// has an empty default.
pub trait Domain: Send + Sync {
    /// A short name for messages.
    fn name(&self) -> &'static str;

    /// The top-level module under `src/` that holds the domain, read from the implementing type's
    /// path (`switchboard::approvals::Approvals` → `approvals`): plumbing must never name it, and
    /// the architecture test learns every domain from here. Not meant to be overridden.
    fn module(&self) -> &'static str {
        let path = std::any::type_name::<Self>();
        path.split("::").nth(1).unwrap_or(path)
    }

    /// The Twilio effects this domain requests, if any.
    fn effects(&self, _clock: &Arc<dyn Clock>) -> Option<Effects> {
        None
    }

    /// Its routes (webhooks and operator API), with whatever it keeps of its own as `Extension`s.
    fn router(&self) -> Router<AppState>;

    /// The OpenAPI fragment of its routes (paths, schemas, and the notifications it sends in
    /// `webhooks`); startup merges it into the served document ([`crate::openapi::document`]).
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        utoipa::openapi::OpenApi::default()
    }

    /// Every route its router serves (method, path): checked against the document by a test.
    fn routes(&self) -> &'static [crate::openapi::Route] {
        &[]
    }

    /// Its background workers.
    fn workers(&self, _state: &AppState) -> Vec<Arc<dyn Worker>> {
        Vec::new()
    }

    /// Long-running tasks (listeners) that stop when `token` is cancelled.
    fn tasks(&self, _state: &AppState, _token: CancellationToken) -> Vec<BoxFuture<'static, ()>> {
        Vec::new()
    }

    /// Outbox destinations of its own, by name.
    fn destinations(&self, _state: &AppState) -> Vec<(&'static str, Arc<dyn Destination>)> {
        Vec::new()
    }

    /// Readiness checks of its own.
    fn readiness(&self, _db: &sqlx::PgPool) -> Vec<Arc<dyn ReadinessCheck>> {
        Vec::new()
    }

    /// Its pages in the operator console (routes under `/console/…` and navigation entries).
    fn console(&self) -> Option<crate::console::Section> {
        None
    }
}

/// Why a set of domains cannot run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlugError {
    /// Effects requested without an owner to hear about them.
    #[error(
        "the `{domain}` domain requests Twilio calls or messages as `{owner_domain}` but registers no effect owner"
    )]
    NoEffectOwner {
        /// The domain.
        domain: &'static str,
        /// The owner name its requests carry.
        owner_domain: &'static str,
    },
    /// Two domains claim the same owner name.
    #[error("two domains request Twilio effects as `{0}`")]
    DuplicateOwner(&'static str),
}

/// The effect owners of `domains`, by owner name; refuses a domain that requests effects without
/// an owner, and two domains sharing an owner name.
pub fn check_effects(domains: &[Arc<dyn Domain>], clock: &Arc<dyn Clock>) -> Result<EffectOwners, PlugError> {
    let mut seen = HashSet::new();
    let mut owners = EffectOwners::default();
    for domain in domains {
        let Some(effects) = domain.effects(clock) else { continue };
        if !seen.insert(effects.domain) {
            return Err(PlugError::DuplicateOwner(effects.domain));
        }
        let owner = effects
            .owner
            .ok_or(PlugError::NoEffectOwner { domain: domain.name(), owner_domain: effects.domain })?;
        owners.register(effects.domain, owner);
    }
    Ok(owners)
}
