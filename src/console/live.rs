//! The "Live now" page's parts: each domain with something going on right now (inbound calls,
//! call sessions, outbound calls) contributes a [`LivePanel`] through its [`super::Section`], so
//! the page shows them all without naming a domain, and refreshes on any of their topics.

use super::ConsoleUser;
use crate::error::ApiError;
use crate::state::AppState;
use futures::future::BoxFuture;
use std::sync::Arc;

/// What a panel renders: its HTML (a heading and a table, already escaped), or the API's refusal.
pub type Render = fn(AppState, ConsoleUser) -> BoxFuture<'static, Result<String, ApiError>>;

/// One domain's part of the "Live now" page.
#[derive(Clone, Copy)]
pub struct LivePanel {
    /// The permission that shows it (the same as its domain's page).
    pub permission: &'static str,
    /// The event topic announcing a change to it (its domain's page topic).
    pub topic: &'static str,
    /// Renders it for the signed-in operator, through the domain's API handlers.
    pub render: Render,
}

impl std::fmt::Debug for LivePanel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivePanel").field("topic", &self.topic).finish()
    }
}

/// Every panel, in the order the domains were listed.
#[derive(Debug, Clone, Default)]
pub struct LivePanels(pub Arc<Vec<LivePanel>>);

impl LivePanels {
    /// The panels `user` may see, rendered, and their topics (space-separated, after `first`).
    pub async fn render(
        &self,
        state: &AppState,
        user: &ConsoleUser,
        first: &str,
    ) -> Result<(String, String), ApiError> {
        let mut html = String::new();
        let mut topics = first.to_owned();
        for panel in self.0.iter().filter(|p| user.may(p.permission)) {
            html.push_str(&(panel.render)(state.clone(), user.clone()).await?);
            if !topics.split(' ').any(|t| t == panel.topic) {
                topics.push(' ');
                topics.push_str(panel.topic);
            }
        }
        Ok((html, topics))
    }
}
