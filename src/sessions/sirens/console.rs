//! The sirens page of the operator console: sirens still open (active, then acknowledged) with
//! acknowledge and resolve (resolved or false alarm, with a note), then the latest handled ones;
//! and the active sirens on the "Live now" page. Every read and action calls the API's own
//! handlers ([`super::handlers`]) with the session's operator.

use super::handlers::{self, ListQuery, TenantQuery};
use super::machine::{Resolution, SirenStatus};
use super::model::{ResolveSiren, Siren};
use crate::console::html::{self, View, esc};
use crate::console::{ConsoleForm, ConsoleUser, LivePanel, Page, Pages, Section};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, parse_query};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use futures::FutureExt;
use serde::Deserialize;
use uuid::Uuid;

/// Changes with every siren raised, acknowledged, resolved or escalated.
const WATERMARK: &str =
    "SELECT count(*) || '/' || coalesce(max(updated_at)::text, '') FROM siren WHERE tenant_id = $1";

/// The page, its routes and its part of "Live now".
pub(super) fn section() -> Section {
    let page = Page {
        path: "/console/sirens",
        title: "Sirens",
        permission: "sirens:read",
        topic: "sirens",
        watermark: WATERMARK,
    };
    let router = Router::new()
        .route("/console/sirens", get(list))
        .route("/console/sirens/{id}/acknowledge", post(acknowledge))
        .route("/console/sirens/{id}/resolve", post(resolve));
    let live = LivePanel { permission: "sirens:read", topic: "sirens", render: |s, u| live(s, u).boxed() };
    Section { pages: vec![page], router, live: vec![live] }
}

/// The messages of this page's actions (no text is reflected).
fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "acknowledged" => "Siren acknowledged: its escalation is stopped.",
        "resolved" => "Siren resolved.",
        _ => return None,
    })
}

async fn sirens(state: &AppState, user: &ConsoleUser, status: SirenStatus) -> ApiResult<Vec<Siren>> {
    let query: ListQuery = parse_query(&format!("limit=200&status={}", status.as_str()))?;
    Ok(handlers::list(State(state.clone()), user.operator.clone(), ApiQuery(query)).await?.0.items)
}

async fn list(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    user: ConsoleUser,
    Query(q): Query<crate::console::Notice>,
) -> Response {
    let mut open = Vec::new();
    let mut closed = Vec::new();
    for status in SirenStatus::NAMES.iter().filter_map(|n| SirenStatus::parse(n)) {
        match sirens(&state, &user, status).await {
            Ok(items) if matches!(status, SirenStatus::Active | SirenStatus::Acknowledged) => {
                open.extend(items)
            }
            Ok(items) => closed.extend(items),
            Err(error) => return html::error(&user, &pages, &error),
        }
    }
    closed.sort_by_key(|s| std::cmp::Reverse(s.updated_at));
    closed.truncate(50);
    let mut body = String::from("<h2>Open</h2>");
    body.push_str(&table(&user, &open, "No siren is open."));
    body.push_str("<h2>Latest handled</h2>");
    body.push_str(&table(&user, &closed, "No siren was handled yet."));
    let notice = notice(q.notice.as_deref());
    html::page(
        &user,
        &pages,
        View { title: "Sirens", path: "/console/sirens", topic: "sirens", notice, body },
    )
}

/// Sirens as a table, with the actions the role may take on each (also on a session's page).
pub(crate) fn table(user: &ConsoleUser, sirens: &[Siren], empty: &str) -> String {
    let rows: Vec<String> = sirens.iter().map(|s| row(user, s)).collect();
    html::table("Sirens", &["Alert", "Reason", "State", "Raised", "Session", "Act"], &rows, empty)
}

fn row(user: &ConsoleUser, s: &Siren) -> String {
    format!(
        "<tr id=\"siren-{id}\" data-status=\"{status}\"><td>{alert}</td><td>{reason}</td><td><span class=\"status\">{status}</span>{note}</td>\
         <td>{raised}</td><td><a href=\"/console/sessions/{session}\">session</a></td><td>{act}</td></tr>",
        id = s.id,
        alert = esc(&s.alert_type.as_str().replace('_', " ")),
        reason = esc(&s.reason),
        status = esc(s.status.as_str()),
        note = s.resolution_note.as_deref().map(|n| format!("<br>{}", esc(n))).unwrap_or_default(),
        raised = html::time(user, s.created_at),
        session = s.session_id,
        act = actions(user, s),
    )
}

/// Acknowledge (an active siren) and resolve (an open one), for a role that may handle sirens.
fn actions(user: &ConsoleUser, s: &Siren) -> String {
    if !user.may("sirens:handle") || !matches!(s.status, SirenStatus::Active | SirenStatus::Acknowledged) {
        return String::new();
    }
    let csrf = html::csrf_field(user);
    let what = esc(&format!("{} siren", s.alert_type.as_str().replace('_', " ")));
    let mut out = String::new();
    if s.status == SirenStatus::Active {
        out.push_str(&format!(
            "<form method=\"post\" action=\"/console/sirens/{id}/acknowledge\" class=\"inline\">{csrf}\
             <button type=\"submit\" aria-label=\"Acknowledge {what}\">Acknowledge</button></form>",
            id = s.id
        ));
    }
    out.push_str(&format!(
        "<form method=\"post\" action=\"/console/sirens/{id}/resolve\" class=\"inline\">{csrf}\
         <label for=\"resolution-{id}\">Outcome</label><select id=\"resolution-{id}\" name=\"resolution\">\
         <option value=\"resolved\">resolved</option><option value=\"false_alarm\">false alarm</option></select>\
         <label for=\"note-{id}\">Note</label><input id=\"note-{id}\" name=\"note\" maxlength=\"1000\">\
         <button type=\"submit\" class=\"secondary\" aria-label=\"Resolve {what}\">Resolve</button></form>",
        id = s.id
    ));
    out
}

/// Only the CSRF token.
#[derive(Deserialize)]
struct Nothing {}

async fn acknowledge(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    ApiPath(id): ApiPath<Uuid>,
    ConsoleForm(user, Nothing {}): ConsoleForm<Nothing>,
) -> Response {
    let tenant = ApiQuery(TenantQuery::default());
    let answer =
        handlers::acknowledge(State(state), user.operator.clone(), HeaderMap::new(), ApiPath(id), tenant)
            .await;
    match answer {
        Ok(_) => Redirect::to("/console/sirens?notice=acknowledged").into_response(),
        Err(error) => html::error(&user, &pages, &error),
    }
}

/// The resolve form.
#[derive(Deserialize)]
struct ResolveForm {
    resolution: String,
    note: Option<String>,
}

async fn resolve(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    ApiPath(id): ApiPath<Uuid>,
    ConsoleForm(user, form): ConsoleForm<ResolveForm>,
) -> Response {
    let Some(resolution) = Resolution::parse(&form.resolution) else {
        let error = ApiError::invalid("resolution", "must be resolved or false_alarm");
        return html::error(&user, &pages, &error);
    };
    let body = ApiJson(ResolveSiren { resolution, note: form.note });
    let tenant = ApiQuery(TenantQuery::default());
    let answer =
        handlers::resolve(State(state), user.operator.clone(), HeaderMap::new(), ApiPath(id), tenant, body)
            .await;
    match answer {
        Ok(_) => Redirect::to("/console/sirens?notice=resolved").into_response(),
        Err(error) => html::error(&user, &pages, &error),
    }
}

/// "Live now": the sirens nobody has acknowledged yet.
async fn live(state: AppState, user: ConsoleUser) -> Result<String, ApiError> {
    let active = sirens(&state, &user, SirenStatus::Active).await?;
    Ok(format!("<h2>Sirens waiting for a monitor</h2>{}", table(&user, &active, "No siren is waiting.")))
}
