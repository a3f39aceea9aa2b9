//! Plugging domains in: a domain that requests Twilio effects without an owner, or two domains
//! claiming one owner name, stop the application from building, with a message that says which.

use crate::helpers::{owner_domain, test_config};
use std::sync::Arc;
use switchboard::clock::Clock;
use switchboard::domain::{Domain, Effects};
use switchboard::effects::EffectOwner;
use switchboard::startup::{Application, Overrides};
use switchboard::state::AppState;

/// Requests calls as `calls` and forgets the owner.
struct Ownerless;

impl Domain for Ownerless {
    fn name(&self) -> &'static str {
        "forgetful"
    }
    fn effects(&self, _clock: &Arc<dyn Clock>) -> Option<Effects> {
        Some(Effects { domain: "calls", owner: None })
    }
    fn router(&self) -> axum::Router<AppState> {
        axum::Router::new()
    }
}

struct Silent;

#[async_trait::async_trait]
impl EffectOwner for Silent {}

async fn build_error(domains: Vec<Arc<dyn Domain>>) -> String {
    let overrides = Overrides { domains, ..Overrides::default() };
    match Application::build_with(test_config(&[]), overrides).await {
        Ok(_) => panic!("the application built"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn a_domain_requesting_calls_without_an_owner_is_refused_at_startup() {
    let error = build_error(vec![Arc::new(Ownerless)]).await;
    assert_eq!(
        error,
        "the `forgetful` domain requests Twilio calls or messages as `calls` but registers no effect owner"
    );
}

#[tokio::test]
async fn two_domains_claiming_one_owner_name_are_refused_at_startup() {
    let error = build_error(vec![owner_domain("inbound", Arc::new(Silent))]).await;
    assert_eq!(error, "two domains request Twilio effects as `inbound`");
}

#[tokio::test]
async fn a_domain_with_its_owner_builds() {
    let overrides =
        Overrides { domains: vec![owner_domain("extra", Arc::new(Silent))], ..Overrides::default() };
    let app = Application::build_with(test_config(&[]), overrides).await.expect("builds");
    let names: Vec<&str> = app.workers().iter().map(|w| w.name()).collect();
    assert!(names.contains(&"inbound-pending-effects") && names.contains(&"crisis-expiry"), "{names:?}");
}
