//! The admin forms of the tenant page: create a key (its secret shown once, on the answer page
//! only), add a number, and change the tenant's settings. Each calls the API's own handler with
//! the session's operator; the forms are offered only to a role holding the permission.

use super::handlers;
use super::keys;
use crate::console::html::{self, View, esc};
use crate::console::{ConsoleForm, ConsoleUser, Pages};
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::state::AppState;
use crate::tenants::NumberDirectory;
use crate::tenants::model::Tenant;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The forms' routes.
pub(super) fn routes(router: Router<AppState>) -> Router<AppState> {
    use axum::routing::post;
    router
        .route("/console/tenants/{tenant}/keys", post(create_key))
        .route("/console/tenants/{tenant}/numbers", post(add_number))
        .route("/console/tenants/{tenant}/settings", post(settings))
}

/// The forms the role may use, for the tenant page.
pub(super) fn forms(user: &ConsoleUser, tenant: &Tenant) -> String {
    let slug = esc(&tenant.settings.slug);
    let csrf = html::csrf_field(user);
    let mut out = String::new();
    if user.may("tenants:update") {
        out.push_str(&settings_form(&slug, &csrf, tenant));
    }
    if user.may("numbers:write") {
        out.push_str(&format!(
            "<h2>Add a number</h2><form method=\"post\" action=\"/console/tenants/{slug}/numbers\" class=\"stacked\">{csrf}\
             <p><label for=\"number\">Number (E.164)</label><br><input id=\"number\" name=\"number\" required inputmode=\"tel\" placeholder=\"+12025550199\"></p>\
             <p><label for=\"number-label\">Label (optional)</label><br><input id=\"number-label\" name=\"label\" maxlength=\"100\"></p>\
             <p><label for=\"number-role\">Role</label><br><select id=\"number-role\" name=\"role\"><option value=\"\">default (primary if it is the first)</option>\
             <option value=\"primary\">primary</option><option value=\"secondary\">secondary</option></select></p>\
             <button type=\"submit\">Add number</button></form>"
        ));
    }
    if user.may("keys:write") {
        out.push_str(&format!(
            "<h2>Create a key</h2><form method=\"post\" action=\"/console/tenants/{slug}/keys\" class=\"stacked\">{csrf}\
             <p><label for=\"key-role\">Role</label><br><select id=\"key-role\" name=\"role\"><option>admin</option><option selected>monitor</option>\
             <option>reader</option><option>client</option></select></p>\
             <p><label for=\"key-name\">Name (optional)</label><br><input id=\"key-name\" name=\"name\" maxlength=\"100\"></p>\
             <p><label for=\"key-subject\">Subject (readers and clients: whose orders)</label><br><input id=\"key-subject\" name=\"subject\" maxlength=\"128\"></p>\
             <button type=\"submit\">Create key</button></form>"
        ));
    }
    out
}

fn settings_form(slug: &str, csrf: &str, tenant: &Tenant) -> String {
    let s = &tenant.settings;
    let field = |id: &str, label: &str, value: String, extra: &str| {
        format!(
            "<p><label for=\"set-{id}\">{label}</label><br><input id=\"set-{id}\" name=\"{id}\" value=\"{}\"{extra}></p>",
            esc(&value)
        )
    };
    let officers: Vec<&str> = s.duty_officers.iter().map(|n| n.as_str()).collect();
    let after_hours = wire(&s.after_hours);
    let options: String = ["voicemail", "message", "forward"]
        .iter()
        .map(|o| {
            let selected = if *o == after_hours { " selected" } else { "" };
            format!("<option value=\"{o}\"{selected}>{o}</option>")
        })
        .collect();
    let screen = if s.screen_forwarded_calls { " checked" } else { "" };
    [
        format!("<h2>Settings</h2><form method=\"post\" action=\"/console/tenants/{slug}/settings\" class=\"stacked\">{csrf}"),
        field("name", "Name", s.name.clone(), " required maxlength=\"200\""),
        field("timezone", "Timezone (IANA, e.g. America/New_York)", s.timezone.clone(), " required"),
        field(
            "owner_number",
            "Owner's phone (E.164; empty for none)",
            s.owner_number.as_ref().map(|n| n.as_str().to_owned()).unwrap_or_default(),
            " inputmode=\"tel\"",
        ),
        field("dial_timeout_secs", "Seconds the owner's phone rings", s.dial_timeout_secs.to_string(), " type=\"number\" min=\"5\" max=\"600\""),
        format!("<p><label for=\"set-after_hours\">After hours</label><br><select id=\"set-after_hours\" name=\"after_hours\">{options}</select></p>"),
        format!("<p><input type=\"hidden\" name=\"screen_forwarded_calls\" value=\"false\"><input id=\"set-screen\" type=\"checkbox\" name=\"screen_forwarded_calls\" value=\"true\"{screen}> \
                 <label for=\"set-screen\">Ask the owner to press 1 before connecting</label></p>"),
        field("duty_officers", "Duty officers (E.164, comma-separated, in order)", officers.join(", "), ""),
        field("risk_threshold", "Crises at or above this risk need approval (0–5)", s.approval.risk_threshold.to_string(), " inputmode=\"decimal\""),
        field("timeout_secs", "Seconds to decide a crisis", s.approval.timeout_secs.to_string(), " type=\"number\" min=\"10\" max=\"86400\""),
        field("siren_escalate_after_secs", "Seconds before an unacknowledged emergency siren texts the duty officers", s.siren_escalate_after_secs.to_string(), " type=\"number\" min=\"10\" max=\"86400\""),
        field("outbound_max_concurrent", "Live outbound calls at once", s.outbound_max_concurrent.to_string(), " type=\"number\" min=\"1\" max=\"1000\""),
        field(
            "recording_retention_days",
            "Days recordings are kept (empty: until deleted)",
            s.recording_retention_days.map(|d| d.to_string()).unwrap_or_default(),
            " type=\"number\" min=\"1\" max=\"3650\"",
        ),
        "<button type=\"submit\">Save settings</button></form>".to_owned(),
    ]
    .concat()
}

/// A serialised enum's wire name.
fn wire<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The key form.
#[derive(Deserialize)]
struct NewKey {
    role: String,
    name: Option<String>,
    subject: Option<String>,
}

async fn create_key(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    ApiPath(tenant): ApiPath<String>,
    ConsoleForm(user, form): ConsoleForm<NewKey>,
) -> Response {
    let some = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let body = json!({"role": form.role, "name": some(form.name), "subject": some(form.subject)});
    let body = match serde_json::from_value(body) {
        Ok(body) => body,
        Err(error) => return html::error(&user, &pages, &ApiError::invalid("role", error.to_string())),
    };
    let answer =
        keys::create(State(state), user.operator.clone(), ApiPath(tenant.clone()), None, ApiJson(body)).await;
    let created = match answer {
        Ok(response) => body_of(response).await,
        Err(error) => return html::error(&user, &pages, &error),
    };
    let token = created.get("token").and_then(Value::as_str).unwrap_or_default();
    let name = created.get("name").and_then(Value::as_str).unwrap_or_default();
    let role = created.get("role").and_then(Value::as_str).unwrap_or_default();
    let body = format!(
        "<p class=\"notice\" role=\"status\">Key “{}” ({}) created.</p>\
         <p><label for=\"new-key\">Its secret — copy it now: it is shown this once and never stored</label><br>\
         <input id=\"new-key\" class=\"secret\" readonly value=\"{}\" size=\"50\" spellcheck=\"false\" autocomplete=\"off\"></p>\
         <p><a href=\"/console/tenants/{}\">Back to the tenant</a></p>",
        esc(name),
        esc(role),
        esc(token),
        esc(&urlencode(&tenant))
    );
    html::page(
        &user,
        &pages,
        View { title: "Key created", path: "/console/tenants", topic: "", notice: None, body },
    )
}

async fn body_of(response: Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// The number form.
#[derive(Deserialize)]
struct NewNumber {
    number: String,
    label: Option<String>,
    role: Option<String>,
}

async fn add_number(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    Extension(directory): Extension<Arc<NumberDirectory>>,
    ApiPath(tenant): ApiPath<String>,
    ConsoleForm(user, form): ConsoleForm<NewNumber>,
) -> Response {
    let mut body = Map::new();
    body.insert("number".into(), json!(form.number.trim()));
    if let Some(label) = form.label.map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()) {
        body.insert("label".into(), json!(label));
    }
    if let Some(role) = form.role.filter(|r| !r.is_empty()) {
        body.insert("role".into(), json!(role));
    }
    let op = user.operator.clone();
    let answer = handlers::add_number(
        State(state),
        Extension(directory),
        op,
        ApiPath(tenant.clone()),
        None,
        ApiJson(body),
    )
    .await;
    match answer {
        Ok(_) => Redirect::to(&format!("/console/tenants/{}?notice=number_added", urlencode(&tenant)))
            .into_response(),
        Err(error) => html::error(&user, &pages, &error),
    }
}

/// The settings form, every field as text: turned into the API's JSON and sent only where it
/// differs from the tenant's current value (so a save never undoes someone else's change to a
/// field this form did not touch).
type SettingsForm = Vec<(String, String)>;

/// Fields holding numbers: sent as JSON numbers when they parse (else as text, for the API to
/// refuse by name).
const NUMBERS: [&str; 6] = [
    "dial_timeout_secs",
    "risk_threshold",
    "timeout_secs",
    "siren_escalate_after_secs",
    "outbound_max_concurrent",
    "recording_retention_days",
];

fn to_json(key: &str, value: &str) -> Value {
    let value = value.trim();
    match key {
        "owner_number" | "recording_retention_days" if value.is_empty() => Value::Null,
        "duty_officers" => Value::Array(
            value.split(',').map(str::trim).filter(|v| !v.is_empty()).map(|v| json!(v)).collect(),
        ),
        "screen_forwarded_calls" => json!(value == "true"),
        k if NUMBERS.contains(&k) => value
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| value.parse::<f64>().map(Value::from))
            .unwrap_or(json!(value)),
        _ => json!(value),
    }
}

/// The patch: each field (the last value of a repeated one, as a checkbox after its hidden
/// default) that differs from `current`.
fn patch(form: &SettingsForm, current: &Value) -> Map<String, Value> {
    let mut wanted = Map::new();
    for (key, value) in form.iter().filter(|(k, _)| k != "csrf") {
        wanted.insert(key.clone(), to_json(key, value));
    }
    let mut patch = Map::new();
    let mut approval = Map::new();
    for (key, value) in wanted {
        let same = |now: Option<&Value>| {
            now.is_some_and(|n| n == &value || n.as_f64().zip(value.as_f64()).is_some_and(|(a, b)| a == b))
        };
        if key == "risk_threshold" || key == "timeout_secs" {
            if !same(current.get("approval").and_then(|a| a.get(&key))) {
                approval.insert(key, value);
            }
        } else if !same(current.get(&key)) {
            patch.insert(key, value);
        }
    }
    if !approval.is_empty() {
        patch.insert("approval".into(), Value::Object(approval));
    }
    patch
}

async fn settings(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    Extension(directory): Extension<Arc<NumberDirectory>>,
    ApiPath(tenant): ApiPath<String>,
    ConsoleForm(user, form): ConsoleForm<SettingsForm>,
) -> Response {
    let op = || user.operator.clone();
    let current = match handlers::get_tenant(State(state.clone()), op(), ApiPath(tenant.clone())).await {
        Ok(ApiJson(current)) => serde_json::to_value(current).unwrap_or(Value::Null),
        Err(error) => return html::error(&user, &pages, &error),
    };
    let body = patch(&form, &current);
    let answer =
        handlers::patch_tenant(State(state), Extension(directory), op(), ApiPath(tenant), ApiJson(body))
            .await;
    match answer {
        // The slug may not change here, but the answer names the tenant either way.
        Ok(ApiJson(t)) => {
            Redirect::to(&format!("/console/tenants/{}?notice=saved", urlencode(&t.settings.slug)))
                .into_response()
        }
        Err(error) => html::error(&user, &pages, &error),
    }
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_fields_are_sent_with_numbers_as_numbers() {
        let current = json!({"name": "City", "dial_timeout_secs": 20, "owner_number": null,
            "approval": {"risk_threshold": 3.0, "timeout_secs": 300}, "screen_forwarded_calls": false});
        let form: SettingsForm = [
            ("csrf", "x"),
            ("name", "City"),
            ("dial_timeout_secs", "25"),
            ("owner_number", ""),
            ("risk_threshold", "3"),
            ("timeout_secs", "600"),
            ("screen_forwarded_calls", "false"),
            ("screen_forwarded_calls", "true"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let patch = Value::Object(patch(&form, &current));
        assert_eq!(
            patch,
            json!({"dial_timeout_secs": 25, "approval": {"timeout_secs": 600}, "screen_forwarded_calls": true})
        );
    }
}
