//! The crises page of the operator console: crises by state, each pending one with the time left
//! to its deadline and (for roles that may decide) approve/reject with a reason; a crisis's page
//! shows its officer calls and audit trail. Everything goes through the API's own handlers
//! ([`super::handlers`]) with the session's operator, so the rules are the API's.

use super::handlers::{self, CrisisDetail, DecisionBody, ListQuery};
use super::machine::CrisisStatus;
use super::model::Crisis;
use crate::console::html::{self, View, esc};
use crate::console::{ConsoleForm, ConsoleUser, Page, Pages, Section};
use crate::error::{ApiJson, ApiPath, ApiQuery, parse_query};
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use std::fmt::Write;
use uuid::Uuid;

/// Changes with any crisis created, decided or updated.
const WATERMARK: &str = "SELECT count(*) || '/' || count(*) FILTER (WHERE status = 'pending_approval') || '/' || \
     coalesce(max(updated_at)::text, '') FROM crisis WHERE tenant_id = $1";

/// The crises page and its routes.
pub fn section() -> Section {
    let page = Page {
        path: "/console/crises",
        title: "Crises",
        permission: "crises:read",
        topic: "crises",
        watermark: WATERMARK,
    };
    let router = Router::new()
        .route("/console/crises", get(list))
        .route("/console/crises/{id}", get(detail))
        .route("/console/crises/{id}/decide", post(decide));
    Section::new(vec![page], router)
}

/// `?notice=` beside the API's own filters.
async fn list(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    user: ConsoleUser,
    RawQuery(raw): RawQuery,
) -> Response {
    let raw = raw.unwrap_or_default();
    let notice: crate::console::Notice =
        serde_urlencoded::from_str(&raw).unwrap_or(crate::console::Notice { notice: None });
    let filters = strip(&raw, &["notice"]);
    let answer = match parse_query::<ListQuery>(&filters) {
        Ok(query) => handlers::list(State(state.clone()), user.operator.clone(), ApiQuery(query)).await,
        Err(error) => Err(error),
    };
    let ApiJson(page) = match answer {
        Ok(page) => page,
        Err(error) => return html::error(&user, &pages, &error),
    };
    let now = state.clock.now();
    let rows: Vec<String> = page.items.iter().map(|c| row(&user, c, now)).collect();
    let mut body = status_filter(&filters);
    body.push_str(&html::table("Crises, oldest first", &HEADINGS, &rows, "No crises."));
    if let Some(cursor) = &page.next_cursor {
        let status = parse_query::<StatusOnly>(&filters).ok().and_then(|s| s.status).unwrap_or_default();
        let _ = write!(
            body,
            "<p><a href=\"/console/crises?status={}&amp;cursor={}\">Next page</a></p>",
            esc(&status),
            esc(cursor)
        );
    }
    let notice = html::notice(notice.notice.as_deref());
    html::page(
        &user,
        &pages,
        View { title: "Crises", path: "/console/crises", topic: "crises", notice, body },
    )
}

#[derive(Deserialize)]
struct StatusOnly {
    status: Option<String>,
}

const HEADINGS: [&str; 6] = ["Crisis", "Risk", "Status", "Deadline", "Reported", "Decide"];

fn row(user: &ConsoleUser, c: &Crisis, now: chrono::DateTime<chrono::Utc>) -> String {
    let deadline = match (c.is_pending(), c.approval_deadline) {
        (true, Some(deadline)) => html::countdown(deadline, now),
        _ => "—".to_owned(),
    };
    format!(
        "<tr id=\"crisis-{id}\" data-status=\"{status}\"><td><a href=\"/console/crises/{id}\">{kind}</a><br>{location}</td>\
         <td>{risk:.1}</td><td><span class=\"status\">{status}</span></td><td>{deadline}</td><td>{created}</td><td>{form}</td></tr>",
        id = c.id,
        kind = esc(&c.kind),
        location = esc(&c.location),
        risk = c.risk_score,
        status = esc(&c.status.to_string()),
        created = html::time(user, c.created_at),
        form = decide_form(user, c),
    )
}

/// Approve/reject with a reason: only for a pending crisis and a role that may decide.
fn decide_form(user: &ConsoleUser, c: &Crisis) -> String {
    if !c.is_pending() || !user.may("crises:decide") {
        return String::new();
    }
    format!(
        "<form method=\"post\" action=\"/console/crises/{id}/decide\" class=\"inline\">{csrf}\
         <label for=\"reason-{id}\">Reason</label><input id=\"reason-{id}\" name=\"reason\" maxlength=\"1000\">\
         <button type=\"submit\" name=\"verdict\" value=\"approve\" aria-label=\"Approve {what}\">Approve</button>\
         <button type=\"submit\" name=\"verdict\" value=\"reject\" class=\"danger\" aria-label=\"Reject {what}\">Reject</button></form>",
        id = c.id,
        csrf = html::csrf_field(user),
        what = esc(&format!("{} at {}", c.kind, c.location)),
    )
}

fn status_filter(filters: &str) -> String {
    let current = parse_query::<StatusOnly>(filters).ok().and_then(|s| s.status).unwrap_or_default();
    let mut options = String::from("<option value=\"\">Any</option>");
    for status in CrisisStatus::ALL {
        let name = status.to_string();
        let selected = if name == current { " selected" } else { "" };
        let _ = write!(options, "<option value=\"{name}\"{selected}>{}</option>", name.replace('_', " "));
    }
    format!(
        "<form method=\"get\" action=\"/console/crises\" class=\"filters\"><div><label for=\"status\">Status</label>\
         <select id=\"status\" name=\"status\">{options}</select></div><button type=\"submit\" class=\"secondary\">Show</button></form>"
    )
}

/// The query without the console's own parameters (the API's query type rejects unknown ones).
fn strip(raw: &str, own: &[&str]) -> String {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, v)| !own.contains(&k.as_ref()) && !v.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

async fn detail(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    user: ConsoleUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Response {
    let answer = handlers::get(State(state.clone()), user.operator.clone(), ApiPath(id)).await;
    let ApiJson(CrisisDetail { crisis, approval_calls, audit }) = match answer {
        Ok(detail) => detail,
        Err(error) => return html::error(&user, &pages, &error),
    };
    let now = state.clock.now();
    let mut body = format!(
        "<dl><dt>Type</dt><dd>{}</dd><dt>Location</dt><dd>{}</dd><dt>Description</dt><dd>{}</dd>\
         <dt>Risk</dt><dd>{:.1}</dd><dt>Status</dt><dd>{}</dd><dt>Decided</dt><dd>{}</dd><dt>Reason</dt><dd>{}</dd></dl>",
        esc(&crisis.kind),
        esc(&crisis.location),
        esc(&crisis.description),
        crisis.risk_score,
        esc(&crisis.status.to_string()),
        crisis.decided_at.map(|t| html::time(&user, t)).unwrap_or_else(|| "—".into()),
        esc(crisis.decision_reason.as_deref().unwrap_or("—")),
    );
    if let (true, Some(deadline)) = (crisis.is_pending(), crisis.approval_deadline) {
        let _ = write!(body, "<p>Deadline: {}</p>", html::countdown(deadline, now));
    }
    body.push_str(&decide_form(&user, &crisis));
    let calls: Vec<String> = approval_calls
        .iter()
        .map(|c| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&crate::redact::mask_phone(&c.officer_number)),
                esc(c.status.as_str()),
                html::time(&user, c.created_at)
            )
        })
        .collect();
    body.push_str("<h2>Officer calls</h2>");
    body.push_str(&html::table(
        "Officer calls",
        &["Officer", "Status", "Placed"],
        &calls,
        "No officer calls.",
    ));
    let trail: Vec<String> = audit
        .iter()
        .map(|e| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}:{}</td><td><code>{}</code></td></tr>",
                html::time(&user, e.occurred_at),
                esc(&e.action),
                esc(&e.actor_kind),
                esc(&e.actor_id),
                esc(&e.data.to_string())
            )
        })
        .collect();
    body.push_str("<h2>Audit trail</h2>");
    body.push_str(&html::table("Audit trail", &["When", "Action", "Actor", "Data"], &trail, "No events."));
    let title = format!("Crisis: {}", crisis.kind);
    html::page(
        &user,
        &pages,
        View { title: &title, path: "/console/crises", topic: "crises", notice: None, body },
    )
}

/// The decision form.
#[derive(Deserialize)]
struct Decide {
    verdict: String,
    reason: Option<String>,
}

async fn decide(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    ApiPath(id): ApiPath<Uuid>,
    ConsoleForm(user, form): ConsoleForm<Decide>,
) -> Response {
    let reason = form.reason.filter(|r| !r.trim().is_empty());
    let body = ApiJson(DecisionBody { reason });
    let (answer, notice) = match form.verdict.as_str() {
        "approve" => {
            (handlers::approve(State(state), user.operator.clone(), ApiPath(id), body).await, "approved")
        }
        "reject" => {
            (handlers::reject(State(state), user.operator.clone(), ApiPath(id), body).await, "rejected")
        }
        _ => (Err(crate::error::ApiError::invalid("verdict", "must be approve or reject")), ""),
    };
    match answer {
        Ok(_) => Redirect::to(&format!("/console/crises?notice={notice}")).into_response(),
        Err(error) => html::error(&user, &pages, &error),
    }
}
