//! The audit page of the operator console: the tenant's events with the API's filters (entity
//! type, entity id, action), newest page links, and whether the chain verifies (the same check as
//! `switchboard audit verify`).

use super::AuditEvent;
use super::chain::verify_tenant;
use super::handlers::{self, AuditQuery};
use crate::console::html::{self, View, esc};
use crate::console::{ConsoleUser, Page, Pages, Section};
use crate::error::{ApiJson, ApiQuery, parse_query};
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;
use std::fmt::Write;

/// Changes with every event (the chain head moves).
const WATERMARK: &str = "SELECT sequence::text FROM audit_head WHERE tenant_id = $1";

/// The page and its route.
pub fn section() -> Section {
    let page = Page {
        path: "/console/audit",
        title: "Audit",
        permission: "audit:read",
        topic: "audit",
        watermark: WATERMARK,
    };
    Section::new(vec![page], Router::new().route("/console/audit", get(list)))
}

#[derive(Deserialize, Default)]
struct Filters {
    entity_type: Option<String>,
    entity_id: Option<String>,
    action: Option<String>,
    /// A superadmin names the tenant.
    tenant: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    user: ConsoleUser,
    RawQuery(raw): RawQuery,
) -> Response {
    let raw: String = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .filter(|(_, v)| !v.is_empty())
        .fold(form_urlencoded::Serializer::new(String::new()), |mut s, (k, v)| {
            s.append_pair(&k, &v);
            s
        })
        .finish();
    let filters: Filters = serde_urlencoded::from_str(&raw).unwrap_or_default();
    if user.tenant().is_none() && filters.tenant.is_none() {
        let body = format!("{}<p>Name a tenant to see its events.</p>", filter_form(&user, &filters));
        return html::page(
            &user,
            &pages,
            View { title: "Audit", path: "/console/audit", topic: "", notice: None, body },
        );
    }
    let answer = match parse_query::<AuditQuery>(&raw) {
        Ok(query) => handlers::list(State(state.clone()), user.operator.clone(), ApiQuery(query)).await,
        Err(error) => Err(error),
    };
    let ApiJson(page) = match answer {
        Ok(page) => page,
        Err(error) => return html::error(&user, &pages, &error),
    };
    let mut body = verification(&state, &user, filters.tenant.as_deref()).await;
    body.push_str(&filter_form(&user, &filters));
    let rows: Vec<String> = page.items.iter().map(|e| row(&user, e)).collect();
    body.push_str(&html::table(
        "Audit events, oldest first",
        &["#", "When", "Action", "Entity", "Actor", "Data"],
        &rows,
        "No events match.",
    ));
    if let Some(cursor) = &page.next_cursor {
        let mut next = form_urlencoded::Serializer::new(String::new());
        next.extend_pairs(form_urlencoded::parse(raw.as_bytes()).filter(|(k, _)| k != "cursor"));
        next.append_pair("cursor", cursor);
        let _ = write!(body, "<p><a href=\"/console/audit?{}\">Next page</a></p>", esc(&next.finish()));
    }
    html::page(
        &user,
        &pages,
        View { title: "Audit", path: "/console/audit", topic: "audit", notice: None, body },
    )
}

async fn verification(state: &AppState, user: &ConsoleUser, named: Option<&str>) -> String {
    let Ok(tenant) = super::query_tenant(state, &user.operator, named).await else { return String::new() };
    match verify_tenant(&state.db, tenant.uuid()).await {
        Ok(Ok(count)) => {
            format!("<p class=\"notice\" id=\"verify\">Chain intact: {count} events verified.</p>")
        }
        Ok(Err(broken)) => {
            format!("<p class=\"error\" id=\"verify\" role=\"alert\">Chain BROKEN: {}</p>", esc(&broken))
        }
        Err(_) => "<p class=\"error\" id=\"verify\">The chain could not be checked now.</p>".to_owned(),
    }
}

fn filter_form(user: &ConsoleUser, f: &Filters) -> String {
    let field = |name: &str, label: &str, value: &Option<String>| {
        format!(
            "<div><label for=\"{name}\">{label}</label><input id=\"{name}\" name=\"{name}\" value=\"{}\" maxlength=\"128\"></div>",
            esc(value.as_deref().unwrap_or(""))
        )
    };
    let tenant =
        if user.tenant().is_none() { field("tenant", "Tenant (slug)", &f.tenant) } else { String::new() };
    format!(
        "<form method=\"get\" action=\"/console/audit\" class=\"filters\">{tenant}{}{}{}<button type=\"submit\" class=\"secondary\">Filter</button></form>",
        field("entity_type", "Entity type", &f.entity_type),
        field("entity_id", "Entity id", &f.entity_id),
        field("action", "Action", &f.action)
    )
}

fn row(user: &ConsoleUser, e: &AuditEvent) -> String {
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td>{}:{}</td><td><code>{}</code></td></tr>",
        e.sequence,
        html::time(user, e.occurred_at),
        esc(&e.action),
        esc(&e.entity_type),
        esc(&e.entity_id),
        esc(&e.actor_kind),
        esc(&e.actor_id),
        esc(&e.data.to_string())
    )
}
