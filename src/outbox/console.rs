//! The notifications page of the operator console: parked and dead messages (or any state), each
//! with redeliver and cancel for roles that may manage them. It calls the API's own handlers
//! ([`super::handlers`]) with the session's operator. Payloads are not shown (as in the API).

use super::handlers::{self, KnownDestinations, ListQuery};
use super::repo::OutboxMessage;
use crate::console::html::{self, View, esc};
use crate::console::{ConsoleForm, ConsoleUser, Page, Pages, Section};
use crate::error::{ApiPath, ApiQuery, ApiResult, parse_query};
use crate::pagination::Page as ApiPage;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use std::fmt::Write;
use uuid::Uuid;

/// Changes whenever a message changes state.
const WATERMARK: &str = "SELECT string_agg(status || ':' || n || ':' || m, ',' ORDER BY status) FROM \
     (SELECT status, count(*) AS n, max(updated_at)::text AS m FROM outbox_message WHERE tenant_id = $1 GROUP BY status) s";

const STATES: [&str; 6] = ["pending", "delivering", "delivered", "parked", "dead", "cancelled"];

/// The page and its routes.
pub(super) fn section() -> Section {
    let page = Page {
        path: "/console/notifications",
        title: "Notifications",
        permission: "notifications:read",
        topic: "notifications",
        watermark: WATERMARK,
    };
    let router = Router::new()
        .route("/console/notifications", get(list))
        .route("/console/notifications/{id}/{action}", post(act));
    Section::new(vec![page], router)
}

#[derive(Deserialize)]
struct Filters {
    status: Option<String>,
    notice: Option<String>,
    /// A superadmin names the tenant.
    tenant: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    Extension(known): Extension<KnownDestinations>,
    user: ConsoleUser,
    Query(filters): Query<Filters>,
) -> Response {
    let chosen = filters.status.filter(|s| STATES.contains(&s.as_str()));
    let shown: Vec<&str> = match &chosen {
        Some(status) => vec![status.as_str()],
        None => vec!["parked", "dead"],
    };
    let tenant = filters.tenant.filter(|t| !t.is_empty());
    let mut body = status_filter(&user, chosen.as_deref(), tenant.as_deref());
    let shown = if user.tenant().is_none() && tenant.is_none() {
        body.push_str("<p>Name a tenant to see its messages.</p>");
        Vec::new()
    } else {
        shown
    };
    for status in shown {
        let answer = fetch(&state, &known, &user, status, tenant.as_deref()).await;
        let page = match answer {
            Ok(page) => page,
            Err(error) => return html::error(&user, &pages, &error),
        };
        let rows: Vec<String> = page.items.iter().map(|m| row(&user, m)).collect();
        let _ = write!(body, "<h2>{}</h2>", esc(&capitalised(status)));
        body.push_str(&html::table(
            &format!("{} messages, oldest first", capitalised(status)),
            &["Kind", "Destination", "Attempts", "Last error", "Created", "Act"],
            &rows,
            &format!("No {status} messages."),
        ));
    }
    let notice = html::notice(filters.notice.as_deref());
    let view =
        View { title: "Notifications", path: "/console/notifications", topic: "notifications", notice, body };
    html::page(&user, &pages, view)
}

async fn fetch(
    state: &AppState,
    known: &KnownDestinations,
    user: &ConsoleUser,
    status: &str,
    tenant: Option<&str>,
) -> ApiResult<ApiPage<OutboxMessage>> {
    let mut pairs = vec![("status", status), ("limit", "200")];
    pairs.extend(tenant.map(|t| ("tenant", t)));
    let query: ListQuery = parse_query(&serde_urlencoded::to_string(pairs).unwrap_or_default())?;
    let answer = handlers::list(
        State(state.clone()),
        Extension(known.clone()),
        user.operator.clone(),
        ApiQuery(query),
    )
    .await?;
    Ok(answer.0)
}

fn capitalised(status: &str) -> String {
    let mut chars = status.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn row(user: &ConsoleUser, m: &OutboxMessage) -> String {
    let mut actions = String::new();
    if user.may("notifications:manage") {
        let finished = ["parked", "dead", "cancelled", "delivered"].contains(&m.status.as_str());
        let open = ["pending", "parked", "dead"].contains(&m.status.as_str());
        for (allowed, action, label, class) in
            [(finished, "redeliver", "Redeliver", ""), (open, "cancel", "Cancel", " class=\"danger\"")]
        {
            if allowed {
                let _ = write!(
                    actions,
                    "<form method=\"post\" action=\"/console/notifications/{}/{action}\" class=\"inline\">{}\
                     <button type=\"submit\"{class} aria-label=\"{label} {} to {}\">{label}</button></form>",
                    m.id,
                    html::csrf_field(user),
                    esc(&m.kind),
                    esc(&m.destination)
                );
            }
        }
    }
    format!(
        "<tr id=\"message-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{actions}</td></tr>",
        m.id,
        esc(&m.kind),
        esc(&m.destination),
        m.attempts,
        esc(m.last_error.as_deref().unwrap_or("—")),
        html::time(user, m.created_at)
    )
}

fn status_filter(user: &ConsoleUser, current: Option<&str>, tenant: Option<&str>) -> String {
    let mut options = String::from("<option value=\"\">Parked and dead</option>");
    for status in STATES {
        let selected = if Some(status) == current { " selected" } else { "" };
        let _ = write!(options, "<option value=\"{status}\"{selected}>{status}</option>");
    }
    let tenant = match user.tenant() {
        Some(_) => String::new(),
        None => format!(
            "<div><label for=\"tenant\">Tenant (slug)</label><input id=\"tenant\" name=\"tenant\" value=\"{}\" required></div>",
            esc(tenant.unwrap_or(""))
        ),
    };
    format!(
        "<form method=\"get\" action=\"/console/notifications\" class=\"filters\">{tenant}<div><label for=\"status\">State</label>\
         <select id=\"status\" name=\"status\">{options}</select></div><button type=\"submit\" class=\"secondary\">Show</button></form>"
    )
}

/// Only the CSRF token.
#[derive(Deserialize)]
struct Nothing {}

async fn act(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    ApiPath((id, action)): ApiPath<(Uuid, String)>,
    ConsoleForm(user, Nothing {}): ConsoleForm<Nothing>,
) -> Response {
    let operator = user.operator.clone();
    let (answer, notice) = match action.as_str() {
        "redeliver" => (handlers::redeliver(State(state), operator, ApiPath(id)).await, "redelivered"),
        "cancel" => (handlers::cancel(State(state), operator, ApiPath(id)).await, "cancelled"),
        _ => return html::error(&user, &pages, &crate::error::ApiError::NotFound),
    };
    match answer {
        Ok(_) => Redirect::to(&format!("/console/notifications?notice={notice}")).into_response(),
        Err(error) => html::error(&user, &pages, &error),
    }
}
