//! The inbound pages of the operator console: live now (inbound calls ringing and in progress,
//! then every other domain's [`crate::console::LivePanel`] — call sessions, outbound calls —
//! then the latest inbound calls) and conversations (threads, their opt-out state, replies). Reads and the reply go
//! through the API's handlers ([`super::api`]) with the session's operator.

use super::api::{self, CallQuery, ConversationDetail, Reply};
use super::calls::InboundCall;
use crate::auth::scope::tenant_tx;
use crate::console::html::{self, View, esc};
use crate::console::{ConsoleForm, ConsoleUser, LivePanels, Page, Pages, Section};
use crate::error::{ApiJson, ApiPath, ApiQuery, ApiResult, parse_query};
use crate::pagination::PageQuery;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use uuid::Uuid;

/// Changes with every call that arrives or changes state.
const CALLS: &str = "SELECT count(*) || '/' || coalesce(max(updated_at)::text, '') || '/' || \
     string_agg(status, ',' ORDER BY call_sid) FILTER (WHERE ended_at IS NULL) FROM inbound_call WHERE tenant_id = $1";
/// Changes with every conversation message and opt-out.
const CONVERSATIONS: &str = "SELECT (SELECT count(*) || '/' || coalesce(max(last_message_at)::text, '') FROM conversation \
     WHERE tenant_id = $1) || '/' || (SELECT count(*) FROM opt_out WHERE tenant_id = $1)";

/// The pages and their routes.
pub(super) fn section() -> Section {
    let calls = Page {
        path: "/console/calls",
        title: "Live now",
        permission: "inbound_calls:read",
        topic: "calls",
        watermark: CALLS,
    };
    let conversations = Page {
        path: "/console/conversations",
        title: "Conversations",
        permission: "conversations:read",
        topic: "conversations",
        watermark: CONVERSATIONS,
    };
    let router = Router::new()
        .route("/console/calls", get(live_calls))
        .route("/console/conversations", get(conversations_page))
        .route("/console/conversations/{id}", get(thread))
        .route("/console/conversations/{id}/reply", post(reply));
    Section::new(vec![calls, conversations], router)
}

async fn calls_with(state: &AppState, user: &ConsoleUser, query: &str) -> ApiResult<Vec<InboundCall>> {
    let query: CallQuery = parse_query(query)?;
    Ok(api::list_calls(State(state.clone()), user.operator.clone(), ApiQuery(query)).await?.0.items)
}

async fn live_calls(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    Extension(panels): Extension<LivePanels>,
    user: ConsoleUser,
) -> Response {
    let mut now = Vec::new();
    for status in ["ringing", "in-progress"] {
        match calls_with(&state, &user, &format!("status={status}&limit=200")).await {
            Ok(mut calls) => now.append(&mut calls),
            Err(error) => return html::error(&user, &pages, &error),
        }
    }
    let recent = match calls_with(&state, &user, "limit=20").await {
        Ok(calls) => calls,
        Err(error) => return html::error(&user, &pages, &error),
    };
    let headings = ["Caller", "Number called", "Status", "Outcome", "Started"];
    let rows = |calls: &[InboundCall]| calls.iter().map(|c| call_row(&user, c)).collect::<Vec<_>>();
    let (others, topics) = match panels.render(&state, &user, "calls").await {
        Ok(rendered) => rendered,
        Err(error) => return html::error(&user, &pages, &error),
    };
    let mut body = String::from("<h2>Inbound calls now</h2>");
    body.push_str(&html::table(
        "Inbound calls ringing and in progress",
        &headings,
        &rows(&now),
        "No inbound call is ringing or in progress.",
    ));
    body.push_str(&others);
    body.push_str("<h2>Latest inbound calls</h2>");
    body.push_str(&html::table("Latest calls, newest first", &headings, &rows(&recent), "No calls yet."));
    html::page(
        &user,
        &pages,
        View { title: "Live now", path: "/console/calls", topic: &topics, notice: None, body },
    )
}

fn call_row(user: &ConsoleUser, c: &InboundCall) -> String {
    format!(
        "<tr><td>{}</td><td>{}</td><td><span class=\"status\">{}</span></td><td>{}</td><td>{}</td></tr>",
        esc(&c.from_address),
        esc(&c.to_number),
        esc(&c.status),
        esc(c.outcome.as_deref().or(c.missed_reason.as_deref()).unwrap_or("—")),
        html::time(user, c.started_at)
    )
}

async fn conversations_page(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    user: ConsoleUser,
) -> Response {
    let query = PageQuery { limit: Some(100), cursor: None };
    let page = match api::list_conversations(State(state), user.operator.clone(), ApiQuery(query)).await {
        Ok(ApiJson(page)) => page,
        Err(error) => return html::error(&user, &pages, &error),
    };
    let rows: Vec<String> = page
        .items
        .iter()
        .map(|c| {
            format!(
                "<tr><td><a href=\"/console/conversations/{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                c.id,
                esc(&c.customer),
                esc(&c.business_number),
                html::time(&user, c.last_message_at)
            )
        })
        .collect();
    let body = html::table(
        "Conversations, most recent first",
        &["Customer", "Business number", "Last message"],
        &rows,
        "No conversations yet.",
    );
    let view = View {
        title: "Conversations",
        path: "/console/conversations",
        topic: "conversations",
        notice: None,
        body,
    };
    html::page(&user, &pages, view)
}

async fn thread(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    user: ConsoleUser,
    ApiPath(id): ApiPath<Uuid>,
    Query(q): Query<crate::console::Notice>,
) -> Response {
    let detail = api::get_conversation(State(state.clone()), user.operator.clone(), ApiPath(id)).await;
    let ApiJson(ConversationDetail { conversation, messages }) = match detail {
        Ok(detail) => detail,
        Err(error) => return html::error(&user, &pages, &error),
    };
    let opted_out = match (user.tenant(), opted_out(&state, &user, &conversation.customer).await) {
        (Some(_), Ok(opted)) => opted,
        (_, Err(error)) => return html::error(&user, &pages, &error.into()),
        (None, _) => false,
    };
    let mut body = format!(
        "<p>Customer {} writing to {}. {}</p><ol class=\"thread\">",
        esc(&conversation.customer),
        esc(&conversation.business_number),
        if opted_out {
            "<strong id=\"opt-out\">Opted out (STOP): replies are refused until they text START.</strong>"
        } else {
            "<span id=\"opt-out\">Not opted out.</span>"
        }
    );
    for m in messages.iter().rev() {
        body.push_str(&format!(
            "<li class=\"{}\"><p>{}</p><p class=\"help\">{} · {} · {}</p></li>",
            esc(&m.direction),
            esc(&m.body),
            esc(&m.direction),
            esc(&m.status),
            html::time(&user, m.created_at)
        ));
    }
    body.push_str("</ol>");
    if user.may("conversations:reply") && !opted_out {
        body.push_str(&format!(
            "<form method=\"post\" action=\"/console/conversations/{id}/reply\">{}\
             <p><label for=\"reply\">Reply</label><br><textarea id=\"reply\" name=\"body\" rows=\"3\" cols=\"40\" maxlength=\"1600\" required></textarea></p>\
             <button type=\"submit\">Send reply</button></form>",
            html::csrf_field(&user)
        ));
    }
    let notice = html::notice(q.notice.as_deref());
    let view =
        View { title: "Conversation", path: "/console/conversations", topic: "conversations", notice, body };
    html::page(&user, &pages, view)
}

async fn opted_out(state: &AppState, user: &ConsoleUser, customer: &str) -> Result<bool, sqlx::Error> {
    let Some(tenant) = user.tenant() else { return Ok(false) };
    let mut tx = tenant_tx(&state.db, tenant).await?;
    let opted = super::conversations::is_opted_out(&mut tx, tenant, customer).await?;
    tx.commit().await?;
    Ok(opted)
}

/// The reply form.
#[derive(Deserialize)]
struct ReplyForm {
    body: String,
}

async fn reply(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    ApiPath(id): ApiPath<Uuid>,
    ConsoleForm(user, form): ConsoleForm<ReplyForm>,
) -> Response {
    let body = ApiJson(Reply { body: form.body, media: Vec::new() });
    match api::reply(State(state), user.operator.clone(), ApiPath(id), None, body).await {
        Ok(_) => Redirect::to(&format!("/console/conversations/{id}?notice=replied")).into_response(),
        Err(error) => html::error(&user, &pages, &error),
    }
}
