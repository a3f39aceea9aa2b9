//! The operator console at `/console`: server-rendered HTML for the person on duty, served from
//! assets embedded in the binary (one small script of our own, no build toolchain, no CDN).
//!
//! - **Sign-in** ([`session`]): the operator pastes an API key once; `POST /console/session`
//!   exchanges it for a random session token kept only as a hash in `console_session`, tied to
//!   the key (revoking the key ends the session), expiring after `SWITCHBOARD_CONSOLE__SESSION_TTL_SECS`
//!   (default 12 h). The
//!   cookie is `HttpOnly`, `SameSite=Strict`, and `Secure` when `PUBLIC_BASE_URL` is https. The
//!   key is never put in a URL, a cookie, a log line or browser storage.
//! - **Acting**: every page and form calls the same handler functions as the operator API with the
//!   session's [`crate::auth::Operator`], so permissions, validation, audit and wake-ups are the
//!   API's own — the console holds no business rule. Every state-changing form carries the
//!   session's CSRF token ([`session::ConsoleForm`] refuses a form without it). A page or button
//!   the role may not use is not offered ([`Page::permission`], [`session::ConsoleUser::may`]); the
//!   handlers refuse it anyway.
//! - **Pages** are contributed as [`Section`]s: core modules (notifications, tenants, audit) and
//!   each domain through [`crate::domain::Domain::console`], so a new domain adds its page
//!   without touching this module. A section may also add a [`LivePanel`] to the "Live now" page
//!   (what its domain has going on right now), which refreshes on any of the panels' topics.
//! - **Live updates** ([`events`]): `GET /console/events` is a server-sent event stream that polls
//!   each visible page's change [`Page::watermark`] in PostgreSQL; see its docs for why polling.

pub mod events;
pub mod html;
pub mod live;
pub mod session;

pub use live::{LivePanel, LivePanels};
pub use session::{ConsoleForm, ConsoleUser};

/// `?notice=`: the code of what a page's last action did (each page maps codes to its own fixed
/// messages, so no text from the URL is reflected).
#[derive(Debug, serde::Deserialize)]
pub struct Notice {
    /// The action's code.
    pub notice: Option<String>,
}

use crate::state::AppState;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use std::sync::Arc;

/// A page in the console's navigation.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Its path (`/console/crises`).
    pub path: &'static str,
    /// Its label in the navigation.
    pub title: &'static str,
    /// The [`crate::auth::me`] permission that shows it; a role without it does not see the page.
    pub permission: &'static str,
    /// The server-sent event name announcing a change to what it shows.
    pub topic: &'static str,
    /// SQL returning at most one text value (no row or NULL counts as empty) that changes whenever what the page shows changes, for the
    /// tenant bound as `$1`; run in a tenant-scoped transaction.
    pub watermark: &'static str,
}

/// What a module or domain adds to the console: its pages and the routes that serve them (under
/// `/console/…`).
pub struct Section {
    /// Its navigation entries.
    pub pages: Vec<Page>,
    /// Its routes.
    pub router: Router<AppState>,
    /// Its part of the "Live now" page, if it has calls going on.
    pub live: Vec<LivePanel>,
}

impl Section {
    /// A section of pages and their routes, with no part of the "Live now" page.
    pub fn new(pages: Vec<Page>, router: Router<AppState>) -> Section {
        Section { pages, router, live: Vec::new() }
    }
}

/// Every page, shared by the layout (navigation) and the event stream.
#[derive(Debug, Clone, Default)]
pub struct Pages(pub Arc<Vec<Page>>);

/// The embedded script.
const SCRIPT: &str = include_str!("assets/console.js");
/// The embedded style sheet.
const STYLE: &str = include_str!("assets/console.css");

/// The console's router: sign-in and out, the event stream, the assets and every section.
pub fn router(sections: Vec<Section>) -> Router<AppState> {
    let mut pages = Vec::new();
    let mut live = Vec::new();
    let mut router = Router::new()
        .route("/console", get(home))
        .route("/console/sign-in", get(session::sign_in_page))
        .route("/console/session", post(session::sign_in))
        .route("/console/sign-out", post(session::sign_out))
        .route("/console/events", get(events::stream))
        .route("/console/assets/console.js", get(script))
        .route("/console/assets/console.css", get(style));
    for section in sections {
        pages.extend(section.pages);
        live.extend(section.live);
        router = router.merge(section.router);
    }
    router.layer(Extension(Pages(Arc::new(pages)))).layer(Extension(LivePanels(Arc::new(live))))
}

/// `/console`: the first page the role may see.
async fn home(user: ConsoleUser, Extension(pages): Extension<Pages>) -> Response {
    match pages.0.iter().find(|p| user.may(p.permission)) {
        Some(page) => Redirect::to(page.path).into_response(),
        None => {
            let view = html::View {
                title: "Console",
                path: "",
                topic: "",
                notice: None,
                body: html::nothing_for_role(),
            };
            html::page(&user, &pages, view)
        }
    }
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, content_type), (axum::http::header::CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response()
}
