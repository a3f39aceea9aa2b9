//! The outbound pages of the operator console: runs with progress bars by job state and by call
//! outcome, a run's controls (start, pause, resume, cancel, stop), its leads upload (CSV pasted
//! or read from a file), its live and latest calls, and a form to create a run; and the
//! outbound calls on the "Live now" page. Every read and action calls the API's own handlers
//! ([`super::handlers`], [`super::upload`]) with the session's operator, so roles, validation
//! and audit are the API's. Counts are rendered from whatever keys the run's progress has, so a
//! new state or outcome shows without a change here.

use super::handlers::{self, JobQuery, NewRun, RunQuery, StopQueue};
use super::model::{Job, Run};
use super::upload::{self, UploadQuery};
use crate::console::html::{self, View, esc};
use crate::console::{ConsoleForm, ConsoleUser, LivePanel, Page, Pages, Section};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, parse_query};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use futures::FutureExt;
use serde::Deserialize;
use serde_json::{Value, json};
use std::fmt::Write;
use uuid::Uuid;

/// Changes with every run created or moved, every job taken from the queue and every call that
/// ends (the counts use the queue's and the live calls' partial indexes, not a scan of the leads).
const WATERMARK: &str = "SELECT (SELECT count(*) || '/' || coalesce(max(updated_at)::text, '') FROM outbound_run \
     WHERE tenant_id = $1) || '/' || (SELECT count(*) FROM outbound_job WHERE tenant_id = $1 AND status = 'in_progress') \
     || '/' || (SELECT count(*) FROM outbound_job j JOIN outbound_run r ON r.id = j.run_id \
     WHERE r.tenant_id = $1 AND r.status IN ('pending', 'running', 'paused') AND j.status = 'queued')";

/// The page, its routes and its part of "Live now".
pub(super) fn section() -> Section {
    let page = Page {
        path: "/console/outbound",
        title: "Outbound runs",
        permission: "outbound:read",
        topic: "outbound",
        watermark: WATERMARK,
    };
    let router = Router::new()
        .route("/console/outbound", get(list).post(create))
        .route("/console/outbound/{id}", get(detail))
        .route("/console/outbound/{id}/leads", post(leads))
        .route("/console/outbound/{id}/{action}", post(act));
    let live =
        LivePanel { permission: "outbound:read", topic: "outbound", render: |s, u| live(s, u).boxed() };
    Section { pages: vec![page], router, live: vec![live] }
}

/// The messages of this page's actions (no text is reflected).
fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "created" => "Run created: upload its leads, then start it.",
        "uploaded" => "Leads uploaded.",
        "start" => "Run started.",
        "pause" => "Run paused: live calls finish, no new ones.",
        "resume" => "Run resumed.",
        "cancel" => "Cancel asked: queued leads are cancelled, live calls finish.",
        "stop" => "Run stopped: queued leads cancelled, live calls hung up.",
        _ => return None,
    })
}

fn runs_query(state: &str) -> ApiResult<RunQuery> {
    parse_query(&format!("limit=200{state}"))
}

async fn list(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    user: ConsoleUser,
    Query(q): Query<crate::console::Notice>,
) -> Response {
    let answer = match runs_query("") {
        Ok(query) => handlers::list(State(state), user.operator.clone(), ApiQuery(query)).await,
        Err(error) => Err(error),
    };
    let ApiJson(page) = match answer {
        Ok(page) => page,
        Err(error) => return html::error(&user, &pages, &error),
    };
    let rows: Vec<String> = page.items.iter().rev().map(|r| run_row(&user, r)).collect();
    let mut body =
        html::table("Runs, newest first", &["Run", "State", "Progress", "Created"], &rows, "No runs yet.");
    if user.may("outbound:write") {
        body.push_str(&create_form(&user));
    }
    let notice = notice(q.notice.as_deref());
    let view = View { title: "Outbound runs", path: "/console/outbound", topic: "outbound", notice, body };
    html::page(&user, &pages, view)
}

fn run_row(user: &ConsoleUser, r: &Run) -> String {
    let (total, counts) = counts(r);
    let ended: i64 =
        counts.iter().filter(|(k, _)| !matches!(k.as_str(), "queued" | "in_progress")).map(|(_, n)| n).sum();
    format!(
        "<tr id=\"run-{id}\" data-status=\"{status}\"><td><a href=\"/console/outbound/{id}\">{name}</a></td>\
         <td><span class=\"status\">{status}</span></td>\
         <td><progress value=\"{ended}\" max=\"{max}\" aria-label=\"{name}: {ended} of {total} leads done\"></progress> {ended}/{total}</td>\
         <td>{created}</td></tr>",
        id = r.id,
        name = esc(&r.name),
        status = esc(r.status.as_str()),
        max = total.max(1),
        created = html::time(user, r.created_at),
    )
}

/// The run's total and its count per job state: every integer the API's progress carries but
/// the total, so states added later show too (waiting and live first, then the rest by name).
fn counts(r: &Run) -> (i64, Vec<(String, i64)>) {
    let value = serde_json::to_value(&r.counts).unwrap_or(Value::Null);
    let total = value.get("total").and_then(Value::as_i64).unwrap_or(0);
    let mut counts: Vec<(String, i64)> = value
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| k.as_str() != "total")
                .filter_map(|(k, v)| v.as_i64().map(|n| (k.clone(), n)))
                .collect()
        })
        .unwrap_or_default();
    counts.sort_by_key(|(k, _)| (!matches!(k.as_str(), "queued" | "in_progress"), k != "queued", k.clone()));
    (total, counts)
}

/// One labelled progress bar per key.
fn bars(caption: &str, id: &str, total: i64, counts: &[(String, i64)], empty: &str) -> String {
    if counts.is_empty() {
        return format!("<p class=\"empty\">{}</p>", esc(empty));
    }
    let mut out =
        format!("<h2 id=\"{id}\">{}</h2><dl class=\"bars\" aria-labelledby=\"{id}\">", esc(caption));
    for (key, n) in counts {
        let label = key.replace('_', " ");
        let _ = write!(
            out,
            "<dt id=\"{id}-{key}\">{label}</dt><dd><progress value=\"{n}\" max=\"{max}\" aria-labelledby=\"{id}-{key}\"></progress> \
             <span class=\"count\" data-key=\"{key}\">{n}</span></dd>",
            key = esc(key),
            label = esc(&label),
            max = total.max(1),
        );
    }
    out.push_str("</dl>");
    out
}

async fn detail(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    user: ConsoleUser,
    ApiPath(id): ApiPath<Uuid>,
    Query(q): Query<crate::console::Notice>,
) -> Response {
    let run = handlers::get(State(state.clone()), user.operator.clone(), ApiPath(id)).await;
    let ApiJson(run) = match run {
        Ok(run) => run,
        Err(error) => return html::error(&user, &pages, &error),
    };
    let mut body = summary(&user, &run);
    let (total, by_state) = counts(&run);
    body.push_str(&bars("Leads by state", "by-state", total, &by_state, "No leads yet."));
    let outcomes: Vec<(String, i64)> = run.counts.outcomes.iter().map(|(k, n)| (k.clone(), *n)).collect();
    body.push_str(&bars("Ended calls by outcome", "by-outcome", total, &outcomes, "No call has ended yet."));
    body.push_str(&controls(&user, &run));
    if user.may("outbound:write") && run.can_cancel && !run.cancel_requested {
        body.push_str(&upload_form(&user, run.id));
    }
    for (heading, filter, empty) in
        [("Calls now", "&status=in_progress", "No call of this run is live."), ("Leads", "", "No leads yet.")]
    {
        match jobs(&state, &user, run.id, filter).await {
            Ok(items) => {
                body.push_str(&format!("<h2>{heading}</h2>"));
                body.push_str(&jobs_table(&user, heading, &items, empty));
            }
            Err(error) => return html::error(&user, &pages, &error),
        }
    }
    let title = format!("Run: {}", run.name);
    let notice = notice(q.notice.as_deref());
    html::page(
        &user,
        &pages,
        View { title: &title, path: "/console/outbound", topic: "outbound", notice, body },
    )
}

fn summary(user: &ConsoleUser, run: &Run) -> String {
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| html::time(user, t)).unwrap_or_else(|| "—".into())
    };
    format!(
        "<dl id=\"run\" data-status=\"{status}\"><dt>State</dt><dd><span class=\"status\" id=\"run-status\">{status}</span>{cancelling}</dd>\
         <dt>Caller id</dt><dd>{from}</dd><dt>At most at once</dt><dd>{cap}</dd><dt>Starts</dt><dd>{start}</dd>\
         <dt>Started</dt><dd>{started}</dd><dt>Ended</dt><dd>{ended}</dd><dt>Done by (estimate)</dt><dd>{eta}</dd>{failure}</dl>",
        status = esc(run.status.as_str()),
        cancelling = if run.cancel_requested { " (cancel asked: live calls finishing)" } else { "" },
        from = esc(&run.from_number),
        cap = run.max_concurrent,
        start = when(run.start_at),
        started = when(run.started_at),
        ended = when(run.ended_at),
        eta = when(run.eta),
        failure = run
            .failure_reason
            .as_deref()
            .map(|r| format!("<dt>Why it failed</dt><dd>{}</dd>", esc(r)))
            .unwrap_or_default(),
    )
}

/// The actions the run's state allows and the role may use (the API refuses the rest anyway).
fn controls(user: &ConsoleUser, run: &Run) -> String {
    let write = user.may("outbound:write");
    let mut buttons = Vec::new();
    let status = run.status.as_str();
    if write && status == "pending" {
        buttons.push(("start", "Start now", ""));
    }
    if write && status == "running" {
        buttons.push(("pause", "Pause", "secondary"));
    }
    if write && status == "paused" {
        buttons.push(("resume", "Resume", ""));
    }
    if write && run.can_cancel && !run.cancel_requested {
        buttons.push(("cancel", "Cancel (let live calls finish)", "secondary"));
    }
    if user.may("outbound:stop") && run.can_cancel {
        buttons.push(("stop", "Stop now (hang up live calls)", "danger"));
    }
    if buttons.is_empty() {
        return String::new();
    }
    let mut out = String::from("<h2>Controls</h2><div class=\"controls\">");
    for (action, label, class) in buttons {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/console/outbound/{id}/{action}\" class=\"inline\">{csrf}\
             <button type=\"submit\" id=\"run-{action}\" class=\"{class}\">{label}</button></form>",
            id = run.id,
            csrf = html::csrf_field(user),
        );
    }
    out.push_str("</div>");
    out
}

fn upload_form(user: &ConsoleUser, run: Uuid) -> String {
    format!(
        "<h2>Upload leads</h2><form method=\"post\" action=\"/console/outbound/{run}/leads\" class=\"upload\">{csrf}\
         <p><label for=\"csv-file\">CSV file</label> <input id=\"csv-file\" type=\"file\" accept=\".csv,text/csv\" data-fills=\"csv\" aria-describedby=\"csv-help\"></p>\
         <p><label for=\"csv\">or paste the CSV</label><br><textarea id=\"csv\" name=\"csv\" rows=\"6\" cols=\"50\" required \
         spellcheck=\"false\" aria-describedby=\"csv-help\"></textarea></p>\
         <p id=\"csv-help\" class=\"help\">Header <code>lead_id,number,name,timezone</code>; other columns are kept as the lead's data. \
         Lists larger than the console's form limit go through the API.</p>\
         <p><input id=\"skip-invalid\" name=\"skip_invalid\" type=\"checkbox\" value=\"true\"> <label for=\"skip-invalid\">Add the valid rows and report the invalid ones</label></p>\
         <button type=\"submit\">Upload</button></form>",
        csrf = html::csrf_field(user),
    )
}

fn create_form(user: &ConsoleUser) -> String {
    format!(
        "<h2>New run</h2><form method=\"post\" action=\"/console/outbound\" class=\"stacked\">{csrf}\
         <p><label for=\"run-name\">Name</label><br><input id=\"run-name\" name=\"name\" maxlength=\"200\" required></p>\
         <p><label for=\"run-from\">Caller id (one of your numbers, E.164)</label><br><input id=\"run-from\" name=\"from_number\" required \
         inputmode=\"tel\" placeholder=\"+12025550100\"></p>\
         <p><label for=\"run-say\">What the lead hears</label><br><textarea id=\"run-say\" name=\"say\" rows=\"2\" cols=\"50\" maxlength=\"4000\" required></textarea></p>\
         <p><label for=\"run-cap\">At most this many calls at once (optional)</label><br><input id=\"run-cap\" name=\"max_concurrent\" type=\"number\" min=\"1\" max=\"1000\"></p>\
         <button type=\"submit\">Create run</button></form>",
        csrf = html::csrf_field(user),
    )
}

async fn jobs(state: &AppState, user: &ConsoleUser, run: Uuid, filter: &str) -> ApiResult<Vec<Job>> {
    let query: JobQuery = parse_query(&format!("limit=50{filter}"))?;
    let answer =
        handlers::jobs(State(state.clone()), user.operator.clone(), ApiPath(run), ApiQuery(query)).await?;
    Ok(answer.0.items)
}

fn jobs_table(user: &ConsoleUser, caption: &str, jobs: &[Job], empty: &str) -> String {
    let rows: Vec<String> = jobs
        .iter()
        .map(|j| {
            format!(
                "<tr><td>{}</td><td>{}</td><td><span class=\"status\">{}</span></td><td>{}</td><td>{}</td></tr>",
                esc(&j.lead_id),
                esc(&crate::redact::mask_phone(&j.number)),
                esc(&label(&j.status)),
                esc(j.outcome.as_deref().unwrap_or("—")),
                j.dialled_at.map(|t| html::time(user, t)).unwrap_or_else(|| "—".into())
            )
        })
        .collect();
    html::table(caption, &["Lead", "Number", "State", "Outcome", "Dialled"], &rows, empty)
}

/// A serialised enum's wire name.
fn label<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// "Live now": the outbound calls in progress, per running run.
async fn live(state: AppState, user: ConsoleUser) -> Result<String, ApiError> {
    let mut rows = Vec::new();
    for status in ["running", "paused"] {
        let query = runs_query(&format!("&status={status}"))?;
        let ApiJson(page) =
            handlers::list(State(state.clone()), user.operator.clone(), ApiQuery(query)).await?;
        for run in page.items.iter().filter(|r| r.counts.in_progress > 0) {
            for job in jobs(&state, &user, run.id, "&status=in_progress").await? {
                rows.push(format!(
                    "<tr><td><a href=\"/console/outbound/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    run.id,
                    esc(&run.name),
                    esc(&crate::redact::mask_phone(&job.number)),
                    esc(&job.lead_id),
                    job.dialled_at.map(|t| html::time(&user, t)).unwrap_or_else(|| "—".into())
                ));
            }
        }
    }
    let table = html::table(
        "Outbound calls in progress",
        &["Run", "Number", "Lead", "Dialled"],
        &rows,
        "No outbound call is in progress.",
    );
    Ok(format!("<h2>Outbound calls now</h2>{table}"))
}

/// The new-run form.
#[derive(Deserialize)]
struct NewRunForm {
    name: String,
    from_number: String,
    say: String,
    max_concurrent: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    ConsoleForm(user, form): ConsoleForm<NewRunForm>,
) -> Response {
    let cap = form.max_concurrent.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let cap = match cap.map(str::parse::<i64>) {
        None => Value::Null,
        Some(Ok(n)) => json!(n),
        Some(Err(_)) => {
            let error = ApiError::invalid("max_concurrent", "must be a whole number from 1 to 1000");
            return html::error(&user, &pages, &error);
        }
    };
    let body = json!({"name": form.name, "from_number": form.from_number.trim(), "script": {"say": form.say}, "max_concurrent": cap});
    let new: NewRun = match serde_json::from_value(body) {
        Ok(new) => new,
        Err(error) => return html::error(&user, &pages, &ApiError::invalid("run", error.to_string())),
    };
    let answer = handlers::create(State(state), user.operator.clone(), None, ApiJson(new)).await;
    match answer {
        Ok(response) => match created_id(response).await {
            Some(id) => Redirect::to(&format!("/console/outbound/{id}?notice=created")).into_response(),
            None => Redirect::to("/console/outbound?notice=created").into_response(),
        },
        Err(error) => html::error(&user, &pages, &error),
    }
}

/// The id in a `201 Created` answer's body.
async fn created_id(response: Response) -> Option<Uuid> {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get("id")?.as_str()?.parse().ok()
}

/// The upload form.
#[derive(Deserialize)]
struct LeadsForm {
    csv: String,
    skip_invalid: Option<String>,
}

async fn leads(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    ApiPath(id): ApiPath<Uuid>,
    ConsoleForm(user, form): ConsoleForm<LeadsForm>,
) -> Response {
    let skip = form.skip_invalid.is_some_and(|v| v == "true");
    let query: UploadQuery = match parse_query(&format!("skip_invalid={skip}")) {
        Ok(query) => query,
        Err(error) => return html::error(&user, &pages, &error),
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
    let body = Body::from(form.csv);
    let answer =
        upload::upload(State(state), user.operator.clone(), ApiPath(id), ApiQuery(query), headers, body)
            .await;
    match answer {
        Ok(ApiJson(report)) => {
            let summary = format!(
                "<p class=\"notice\" role=\"status\">Read {} rows: {} added, {} duplicate numbers, {} already in the run, {} invalid. The run has {} leads.</p>",
                report.received,
                report.added,
                report.duplicates.len(),
                report.existing.len(),
                report.invalid.len(),
                report.total
            );
            let mut body = summary;
            for e in &report.invalid {
                let _ = write!(body, "<p class=\"error\">{}: {}</p>", esc(&e.field), esc(&e.message));
            }
            let _ = write!(body, "<p><a href=\"/console/outbound/{id}\">Back to the run</a></p>");
            html::page(
                &user,
                &pages,
                View { title: "Leads uploaded", path: "/console/outbound", topic: "", notice: None, body },
            )
        }
        Err(error) => html::error(&user, &pages, &error),
    }
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
    let op = user.operator.clone();
    let answer = match action.as_str() {
        "start" => handlers::start(State(state), op, ApiPath(id), Bytes::new()).await,
        "pause" => handlers::pause(State(state), op, ApiPath(id)).await,
        "resume" => handlers::resume(State(state), op, ApiPath(id)).await,
        "cancel" => handlers::cancel(State(state), op, ApiPath(id)).await,
        "stop" => match serde_json::from_value::<StopQueue>(json!({"run_id": id})) {
            Ok(body) => handlers::stop_queue(State(state), op, ApiJson(body)).await,
            Err(error) => Err(ApiError::invalid("run_id", error.to_string())),
        },
        _ => Err(ApiError::NotFound),
    };
    match answer {
        Ok(_) => Redirect::to(&format!("/console/outbound/{id}?notice={action}")).into_response(),
        Err(error) => html::error(&user, &pages, &error),
    }
}
