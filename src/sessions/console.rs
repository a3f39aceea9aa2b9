//! The call-session pages of the operator console: sessions by state, a session's parties, legs
//! and sirens (acknowledge and resolve through the sirens pages), dropping a session with a
//! reason, and its recording page (status, start/pause/resume/stop, and the signed one-hour
//! download links); and the sessions on the "Live now" page. Every read and action calls the
//! API's own handlers ([`super::handlers`], [`super::recording`]) with the session's operator,
//! so roles, subject scoping, validation and audit are the API's.

use super::handlers::{self, ListQuery, ReasonBody, TenantQuery};
use super::machine::SessionStatus;
use super::model::{PartyView, Session};
use super::recording::control::{RecordingList, TenantQuery as RecordingTenant};
use super::recording::machine::{Control, RecordingState};
use crate::console::html::{self, View, esc};
use crate::console::{ConsoleForm, ConsoleUser, LivePanel, Page, Pages, Section};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, parse_query};
use crate::redact::mask_phone;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use futures::FutureExt;
use serde::Deserialize;
use std::fmt::Write;
use uuid::Uuid;

/// Changes with every session booked or moved, every recording control and recording, and every
/// siren raised or handled.
const WATERMARK: &str = "SELECT (SELECT count(*) || '/' || coalesce(max(updated_at)::text, '') FROM call_session \
     WHERE tenant_id = $1) || '/' || (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') \
     FROM session_recording_control WHERE tenant_id = $1) || '/' || (SELECT count(*) || ':' || \
     coalesce(max(updated_at)::text, '') FROM session_recording WHERE tenant_id = $1) || '/' || \
     (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM siren WHERE tenant_id = $1)";

/// The statuses of a session going on now.
const NOW: [&str; 3] = ["initiating", "ringing", "in_progress"];

/// The page, its routes and its part of "Live now".
pub(super) fn section() -> Section {
    let page = Page {
        path: "/console/sessions",
        title: "Call sessions",
        permission: "sessions:read",
        topic: "sessions",
        watermark: WATERMARK,
    };
    let router = Router::new()
        .route("/console/sessions", get(list))
        .route("/console/sessions/{id}", get(detail))
        .route("/console/sessions/{id}/drop", post(drop_session))
        .route("/console/sessions/{id}/recording", get(recording))
        .route("/console/sessions/{id}/recording/{action}", post(control));
    let live =
        LivePanel { permission: "sessions:read", topic: "sessions", render: |s, u| live(s, u).boxed() };
    Section { pages: vec![page], router, live: vec![live] }
}

#[derive(Deserialize)]
struct Notice {
    notice: Option<String>,
    status: Option<String>,
}

/// The messages of this page's actions (no text is reflected).
fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "dropped" => "Session dropped: the call is being ended.",
        "recording" => "Recording control sent: the state changes when Twilio confirms.",
        _ => return None,
    })
}

async fn sessions(state: &AppState, user: &ConsoleUser, query: &str) -> ApiResult<Vec<Session>> {
    let query: ListQuery = parse_query(query)?;
    Ok(handlers::list(State(state.clone()), user.operator.clone(), ApiQuery(query)).await?.0.items)
}

async fn list(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    user: ConsoleUser,
    Query(q): Query<Notice>,
) -> Response {
    let status = q.status.as_deref().filter(|s| SessionStatus::parse(s).is_some());
    let query = match status {
        Some(status) => format!("limit=200&status={status}"),
        None => "limit=200".to_owned(),
    };
    let items = match sessions(&state, &user, &query).await {
        Ok(items) => items,
        Err(error) => return html::error(&user, &pages, &error),
    };
    let rows: Vec<String> = items.iter().map(|s| row(&user, s)).collect();
    let mut body = filter(status.unwrap_or(""));
    body.push_str(&html::table("Sessions by scheduled time", &HEADINGS, &rows, "No sessions."));
    let notice = notice(q.notice.as_deref());
    let view = View { title: "Call sessions", path: "/console/sessions", topic: "sessions", notice, body };
    html::page(&user, &pages, view)
}

const HEADINGS: [&str; 6] = ["Order", "State", "Scheduled", "Client", "Reader", "Siren"];

fn row(user: &ConsoleUser, s: &Session) -> String {
    format!(
        "<tr id=\"session-{id}\" data-status=\"{status}\"><td><a href=\"/console/sessions/{id}\">{order}</a></td>\
         <td><span class=\"status\">{status}</span></td><td>{when}</td><td>{client}</td><td>{reader}</td><td>{siren}</td></tr>",
        id = s.id,
        order = esc(&s.order_id),
        status = esc(s.status.as_str()),
        when = html::time(user, s.scheduled_at),
        client = esc(&s.client.subject),
        reader = esc(&s.reader.subject),
        siren = if s.siren_triggered { "<strong>raised</strong>" } else { "—" },
    )
}

fn filter(current: &str) -> String {
    let mut options = String::from("<option value=\"\">Any</option>");
    for status in SessionStatus::ALL {
        let name = status.as_str();
        let selected = if name == current { " selected" } else { "" };
        let _ = write!(options, "<option value=\"{name}\"{selected}>{}</option>", name.replace('_', " "));
    }
    format!(
        "<form method=\"get\" action=\"/console/sessions\" class=\"filters\"><div><label for=\"status\">State</label>\
         <select id=\"status\" name=\"status\">{options}</select></div><button type=\"submit\" class=\"secondary\">Show</button></form>"
    )
}

async fn detail(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    user: ConsoleUser,
    ApiPath(id): ApiPath<Uuid>,
    Query(q): Query<Notice>,
) -> Response {
    let answer =
        handlers::get(State(state), user.operator.clone(), ApiPath(id), ApiQuery(TenantQuery::default()))
            .await;
    let ApiJson(s) = match answer {
        Ok(session) => session,
        Err(error) => return html::error(&user, &pages, &error),
    };
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| html::time(&user, t)).unwrap_or_else(|| "—".into())
    };
    let mut body = format!(
        "<dl id=\"session\" data-status=\"{status}\"><dt>Order</dt><dd>{order}</dd><dt>State</dt><dd><span class=\"status\">{status}</span></dd>\
         <dt>Why it ended</dt><dd>{reason}</dd><dt>Scheduled</dt><dd>{scheduled} ({minutes} min)</dd><dt>Started</dt><dd>{started}</dd>\
         <dt>Connected</dt><dd>{connected}</dd><dt>Ended</dt><dd>{ended}</dd><dt>Recorded</dt><dd>{record}</dd></dl>",
        status = esc(s.status.as_str()),
        order = esc(&s.order_id),
        reason = esc(s.ended_reason.as_deref().unwrap_or("—")),
        scheduled = html::time(&user, s.scheduled_at),
        minutes = s.duration_minutes,
        started = when(s.started_at),
        connected = when(s.connected_at),
        ended = when(s.ended_at),
        record = if s.record { "yes" } else { "no" },
    );
    let parties = [party(&user, "Client", &s.client), party(&user, "Reader", &s.reader)];
    body.push_str("<h2>Parties</h2>");
    body.push_str(&html::table(
        "Parties",
        &["Party", "Who", "Number", "Leg", "Joined", "Left"],
        &parties,
        "",
    ));
    if user.may("recordings:read") && s.record {
        let _ = write!(
            body,
            "<p><a href=\"/console/sessions/{}/recording\">Recording controls and downloads</a></p>",
            s.id
        );
    }
    if user.may("sessions:drop") && !s.status.is_terminal() {
        body.push_str(&drop_form(&user, s.id));
    }
    body.push_str("<h2>Sirens</h2>");
    body.push_str(&crate::sessions::sirens::console::table(
        &user,
        &s.sirens,
        "No siren was raised on this session.",
    ));
    let title = format!("Session {}", s.order_id);
    let notice = notice(q.notice.as_deref());
    html::page(
        &user,
        &pages,
        View { title: &title, path: "/console/sessions", topic: "sessions", notice, body },
    )
}

fn party(user: &ConsoleUser, name: &str, p: &PartyView) -> String {
    let leg = p.leg.as_ref();
    let at = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| html::time(user, t)).unwrap_or_else(|| "—".into())
    };
    format!(
        "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(&p.subject),
        esc(&mask_phone(&p.number)),
        esc(&leg.map(|l| label(&l.status)).unwrap_or_else(|| "—".into())),
        at(leg.and_then(|l| l.joined_at)),
        at(leg.and_then(|l| l.left_at)),
    )
}

fn drop_form(user: &ConsoleUser, id: Uuid) -> String {
    format!(
        "<h2>Drop the call</h2><form method=\"post\" action=\"/console/sessions/{id}/drop\" class=\"inline\">{}\
         <label for=\"drop-reason\">Reason</label><input id=\"drop-reason\" name=\"reason\" maxlength=\"1000\" required>\
         <button type=\"submit\" class=\"danger\" id=\"drop\">Drop the call</button></form>",
        html::csrf_field(user)
    )
}

/// A serialised enum's wire name.
fn label<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The drop form.
#[derive(Deserialize)]
struct DropForm {
    reason: String,
}

async fn drop_session(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    ApiPath(id): ApiPath<Uuid>,
    ConsoleForm(user, form): ConsoleForm<DropForm>,
) -> Response {
    let body: ReasonBody = match serde_json::from_value(serde_json::json!({"reason": form.reason})) {
        Ok(body) => body,
        Err(error) => return html::error(&user, &pages, &ApiError::invalid("reason", error.to_string())),
    };
    let tenant = ApiQuery(TenantQuery::default());
    let answer =
        handlers::drop_call(State(state), user.operator.clone(), ApiPath(id), tenant, ApiJson(body)).await;
    match answer {
        Ok(_) => Redirect::to(&format!("/console/sessions/{id}?notice=dropped")).into_response(),
        Err(error) => html::error(&user, &pages, &error),
    }
}

/// The recording page: only opened on purpose, because listing completed recordings issues
/// (and audits) their download links.
async fn recording(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    user: ConsoleUser,
    ApiPath(id): ApiPath<Uuid>,
    Query(q): Query<Notice>,
) -> Response {
    let tenant = ApiQuery(RecordingTenant::default());
    let answer = super::recording::list(State(state), user.operator.clone(), ApiPath(id), tenant).await;
    let ApiJson(RecordingList { control, items }) = match answer {
        Ok(list) => list,
        Err(error) => return html::error(&user, &pages, &error),
    };
    let mut body = format!(
        "<dl id=\"recording\" data-status=\"{status}\"><dt>Recording</dt><dd><span class=\"status\">{status}</span></dd>\
         <dt>Asked, not yet confirmed</dt><dd>{requested}</dd><dt>Twilio's last refusal</dt><dd>{error}</dd></dl>",
        status = control.recording_status.as_str(),
        requested = control.recording_requested.map(RecordingState::as_str).unwrap_or("—"),
        error = control.recording_error_code.map(|c| c.to_string()).unwrap_or_else(|| "—".into()),
    );
    if user.may("recordings:control") && control.recording_requested.is_none() {
        let mut buttons = String::new();
        for action in [Control::Start, Control::Pause, Control::Resume, Control::Stop] {
            if action.target(control.recording_status).is_none() {
                continue;
            }
            let _ = write!(
                buttons,
                "<form method=\"post\" action=\"/console/sessions/{id}/recording/{a}\" class=\"inline\">{csrf}\
                 <button type=\"submit\" id=\"recording-{a}\">{label} recording</button></form>",
                a = action.as_str(),
                csrf = html::csrf_field(&user),
                label = capitalised(action.as_str()),
            );
        }
        let _ = write!(body, "<h2>Controls</h2><div class=\"controls\">{buttons}</div>");
    }
    let rows: Vec<String> = items
        .iter()
        .map(|r| {
            let download = match &r.download_url {
                Some(url) => format!("<a href=\"{}\" download>Download (link valid one hour)</a>", esc(url)),
                None => "—".to_owned(),
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{download}</td></tr>",
                esc(&r.party),
                esc(&r.status),
                r.duration_sec.map(|d| format!("{d} s")).unwrap_or_else(|| "—".into()),
                r.started_at.map(|t| html::time(&user, t)).unwrap_or_else(|| "—".into()),
            )
        })
        .collect();
    body.push_str("<h2>Recordings</h2>");
    body.push_str(&html::table(
        "Recordings, oldest first",
        &["Leg", "State", "Length", "Started", "Audio"],
        &rows,
        "No recordings.",
    ));
    let _ = write!(body, "<p><a href=\"/console/sessions/{id}\">Back to the session</a></p>");
    let notice = notice(q.notice.as_deref());
    html::page(&user, &pages, View { title: "Recording", path: "/console/sessions", topic: "", notice, body })
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Only the CSRF token.
#[derive(Deserialize)]
struct Nothing {}

async fn control(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    ApiPath((id, action)): ApiPath<(Uuid, String)>,
    ConsoleForm(user, Nothing {}): ConsoleForm<Nothing>,
) -> Response {
    let tenant = ApiQuery(RecordingTenant::default());
    let answer =
        super::recording::control(State(state), user.operator.clone(), ApiPath((id, action)), tenant).await;
    match answer {
        Ok(_) => Redirect::to(&format!("/console/sessions/{id}/recording?notice=recording")).into_response(),
        Err(error) => html::error(&user, &pages, &error),
    }
}

/// "Live now": the sessions dialling, ringing or on the call.
async fn live(state: AppState, user: ConsoleUser) -> Result<String, ApiError> {
    let mut rows = Vec::new();
    for status in NOW {
        for s in sessions(&state, &user, &format!("limit=200&status={status}")).await? {
            rows.push(row(&user, &s));
        }
    }
    let table = html::table("Call sessions going on now", &HEADINGS, &rows, "No call session is going on.");
    Ok(format!("<h2>Call sessions now</h2>{table}"))
}
