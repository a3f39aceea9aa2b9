//! The tenant page of the operator console (admins and superadmins): the tenant's settings at a
//! glance, its numbers, its keys (never their tokens) with revoke, and for admins the forms of
//! [`console_forms`] (settings, add a number, create a key); a superadmin first picks the
//! tenant. Everything goes through the API's handlers with the session's operator.

use super::handlers;
use super::keys;
use super::{NumberDirectory, console_forms};
use crate::console::html::{self, View, esc};
use crate::console::{ConsoleForm, ConsoleUser, Page, Pages, Section};
use crate::error::{ApiJson, ApiPath, ApiQuery};
use crate::pagination::PageQuery;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use std::sync::Arc;
use uuid::Uuid;

/// Changes with the tenant's settings, numbers and keys.
const WATERMARK: &str = "SELECT (SELECT updated_at::text FROM tenant WHERE id = $1) || '/' || \
     (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM tenant_number WHERE tenant_id = $1) || '/' || \
     (SELECT count(*) || ':' || count(revoked_at) FROM api_key WHERE tenant_id = $1)";

/// The page and its routes.
pub(super) fn section(directory: Arc<NumberDirectory>) -> Section {
    let page = Page {
        path: "/console/tenants",
        title: "Tenant",
        permission: "tenants:read",
        topic: "tenant",
        watermark: WATERMARK,
    };
    let router = Router::new()
        .route("/console/tenants", get(index))
        .route("/console/tenants/{tenant}", get(detail))
        .route("/console/tenants/{tenant}/keys/{key_id}/revoke", post(revoke));
    let router = console_forms::routes(router).layer(Extension(directory));
    Section::new(vec![page], router)
}

fn page_query() -> PageQuery {
    PageQuery { limit: Some(200), cursor: None }
}

/// An admin goes to their tenant; a superadmin picks one.
async fn index(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    user: ConsoleUser,
) -> Response {
    if let Some(tenant) = user.tenant() {
        return Redirect::to(&format!("/console/tenants/{tenant}")).into_response();
    }
    let answer = handlers::list_tenants(State(state), user.operator.clone(), ApiQuery(page_query())).await;
    let ApiJson(page) = match answer {
        Ok(page) => page,
        Err(error) => return html::error(&user, &pages, &error),
    };
    let rows: Vec<String> = page
        .items
        .iter()
        .map(|t| {
            format!(
                "<tr><td><a href=\"/console/tenants/{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                esc(&t.settings.slug),
                esc(&t.settings.name),
                esc(&t.settings.slug),
                esc(&t.settings.timezone)
            )
        })
        .collect();
    let body = html::table("Tenants", &["Name", "Slug", "Timezone"], &rows, "No tenants yet.");
    html::page(
        &user,
        &pages,
        View { title: "Tenants", path: "/console/tenants", topic: "", notice: None, body },
    )
}

async fn detail(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    user: ConsoleUser,
    ApiPath(id): ApiPath<String>,
    Query(q): Query<crate::console::Notice>,
) -> Response {
    let op = || user.operator.clone();
    let tenant = handlers::get_tenant(State(state.clone()), op(), ApiPath(id.clone())).await;
    let numbers =
        handlers::list_numbers(State(state.clone()), op(), ApiPath(id.clone()), ApiQuery(page_query())).await;
    let keys = keys::list(State(state.clone()), op(), ApiPath(id.clone()), ApiQuery(page_query())).await;
    let (tenant, numbers, keys) = match (tenant, numbers, keys) {
        (Ok(ApiJson(t)), Ok(ApiJson(n)), Ok(ApiJson(k))) => (t, n, k),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return html::error(&user, &pages, &e),
    };
    let s = &tenant.settings;
    let mut body = format!(
        "<dl><dt>Name</dt><dd>{}</dd><dt>Slug</dt><dd>{}</dd><dt>Status</dt><dd>{}</dd><dt>Timezone</dt><dd>{}</dd>\
         <dt>Owner's phone</dt><dd>{}</dd><dt>Approval threshold</dt><dd>{:.1} (decide within {} s)</dd></dl>",
        esc(&s.name),
        esc(&s.slug),
        esc(&label(&s.status)),
        esc(&s.timezone),
        esc(&s
            .owner_number
            .as_ref()
            .map(|n| crate::redact::mask_phone(n.as_str()))
            .unwrap_or_else(|| "—".into())),
        s.approval.risk_threshold,
        s.approval.timeout_secs
    );
    let rows: Vec<String> = numbers
        .items
        .iter()
        .map(|n| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&n.number),
                esc(&label(&n.role)),
                esc(&label(&n.status)),
                esc(n.label.as_deref().unwrap_or("—"))
            )
        })
        .collect();
    body.push_str("<h2>Numbers</h2>");
    body.push_str(&html::table("Numbers", &["Number", "Role", "Status", "Label"], &rows, "No numbers."));
    let rows: Vec<String> = keys.items.iter().map(|k| key_row(&user, &s.slug, k)).collect();
    body.push_str("<h2>Keys</h2>");
    body.push_str(&html::table(
        "Keys",
        &["Name", "Role", "Created", "Last used", "State"],
        &rows,
        "No keys.",
    ));
    body.push_str(&console_forms::forms(&user, &tenant));
    let notice = html::notice(q.notice.as_deref());
    html::page(
        &user,
        &pages,
        View { title: &s.name, path: "/console/tenants", topic: "tenant", notice, body },
    )
}

fn key_row(user: &ConsoleUser, slug: &str, k: &crate::auth::keys::ApiKey) -> String {
    let state = match (k.revoked_at, user.may("keys:write")) {
        (Some(at), _) => format!("revoked {}", html::time(user, at)),
        (None, true) => format!(
            "<form method=\"post\" action=\"/console/tenants/{}/keys/{}/revoke\" class=\"inline\">{}\
             <button type=\"submit\" class=\"danger\" aria-label=\"Revoke key {}\">Revoke</button></form>",
            esc(slug),
            k.id,
            html::csrf_field(user),
            esc(&k.name)
        ),
        (None, false) => "active".to_owned(),
    };
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{state}</td></tr>",
        esc(&k.name),
        esc(&k.role),
        html::time(user, k.created_at),
        k.last_used_at.map(|t| html::time(user, t)).unwrap_or_else(|| "never".into())
    )
}

/// A serialised enum's wire name.
fn label<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Only the CSRF token.
#[derive(Deserialize)]
struct Nothing {}

async fn revoke(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    ApiPath((tenant, key_id)): ApiPath<(String, Uuid)>,
    ConsoleForm(user, Nothing {}): ConsoleForm<Nothing>,
) -> Response {
    let answer = keys::revoke(State(state), user.operator.clone(), ApiPath((tenant.clone(), key_id))).await;
    match answer {
        Ok(_) => {
            Redirect::to(&format!("/console/tenants/{}?notice=revoked", urlencode(&tenant))).into_response()
        }
        Err(error) => html::error(&user, &pages, &error),
    }
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
