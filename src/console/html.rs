//! HTML building blocks: escaping, the page layout (navigation the role may use, sign-out, a
//! live-region for updates), times in the tenant's timezone, and the security headers every
//! console answer carries (no inline script is ever sent, so the policy forbids it).

use super::{ConsoleUser, Pages};
use crate::error::ApiError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::fmt::Write;

/// Escapes text for HTML content and quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One console page.
pub struct View<'a> {
    /// The heading and title.
    pub title: &'a str,
    /// The navigation entry it belongs to (marked `aria-current`).
    pub path: &'a str,
    /// The event name that refreshes it ("" for none).
    pub topic: &'a str,
    /// A message about the last action (`?notice=`), from a fixed list.
    pub notice: Option<&'a str>,
    /// The content (already escaped).
    pub body: String,
}

/// The message for a `?notice=` code; unknown codes show nothing (no text is reflected).
pub fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "approved" => "Crisis approved.",
        "rejected" => "Crisis rejected.",
        "redelivered" => "The message will be delivered again.",
        "cancelled" => "The message was cancelled.",
        "replied" => "Reply queued.",
        "revoked" => "Key revoked.",
        "number_added" => "Number added.",
        "saved" => "Settings saved.",
        _ => return None,
    })
}

/// A full page for a signed-in operator.
pub fn page(user: &ConsoleUser, pages: &Pages, view: View<'_>) -> Response {
    let mut nav = String::new();
    for p in pages.0.iter().filter(|p| user.may(p.permission)) {
        let current = if p.path == view.path { " aria-current=\"page\"" } else { "" };
        let _ = write!(nav, "<li><a href=\"{}\"{current}>{}</a></li>", p.path, esc(p.title));
    }
    let who = match &user.tenant_slug {
        Some(slug) => format!("{} · {}", esc(slug), user.operator.role.as_str()),
        None => user.operator.role.as_str().to_owned(),
    };
    let notice = view
        .notice
        .map(|n| format!("<p class=\"notice\" role=\"status\">{}</p>", esc(n)))
        .unwrap_or_default();
    let body = format!(
        "<a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><p class=\"brand\">Switchboard <span class=\"who\">{who}</span></p>\
         <nav aria-label=\"Console\"><ul>{nav}</ul></nav>\
         <form method=\"post\" action=\"/console/sign-out\" class=\"sign-out\">{}<button type=\"submit\">Sign out</button></form></header>\
         <p id=\"live\" class=\"live\" role=\"status\" aria-live=\"polite\"></p>\
         <main id=\"main\" tabindex=\"-1\"><h1>{}</h1>{notice}<div id=\"content\">{}</div></main>",
        csrf_field(user),
        esc(view.title),
        view.body
    );
    document(StatusCode::OK, view.title, view.topic, &body)
}

/// A page without navigation (refusals, sign-in).
pub fn bare(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<main id=\"main\"><h1>{}</h1><p>{}</p><p><a href=\"/console\">Back to the console</a></p></main>",
        esc(title),
        esc(message)
    );
    document(status, title, "", &body)
}

/// The sign-in form. The key is sent in the POST body only; the field is a password field so it
/// is not shown on screen nor offered by autocomplete.
pub fn sign_in(status: StatusCode, notice: Option<&str>, error: Option<&str>) -> Response {
    let notice =
        notice.map(|n| format!("<p class=\"notice\" role=\"status\">{}</p>", esc(n))).unwrap_or_default();
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\" id=\"key-error\">{}</p>", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "<main id=\"main\"><h1>Sign in to Switchboard</h1>{notice}{error}\
         <form method=\"post\" action=\"/console/session\" class=\"sign-in\">\
         <label for=\"key\">API key</label>\
         <input id=\"key\" name=\"key\" type=\"password\" autocomplete=\"off\" required spellcheck=\"false\" aria-describedby=\"key-help\">\
         <p id=\"key-help\" class=\"help\">Paste your key once: it is exchanged for a session and not kept by the browser.</p>\
         <button type=\"submit\">Sign in</button></form></main>"
    );
    document(status, "Sign in", "", &body)
}

/// The answer to a refused or failed action: the API's own status and explanation.
pub fn error(user: &ConsoleUser, pages: &Pages, error: &ApiError) -> Response {
    let (status, code) = error.status_and_code();
    let mut detail = esc(&error.to_string());
    if let ApiError::Validation(fields) = error {
        for f in fields {
            let _ = write!(detail, "<br>{}: {}", esc(&f.field), esc(&f.message));
        }
    }
    let body = format!(
        "<p class=\"error\" role=\"alert\">{detail} <span class=\"code\">({})</span></p><p><a href=\"/console\">Back to the console</a></p>",
        esc(code)
    );
    let mut response = page(user, pages, View { title: "Not done", path: "", topic: "", notice: None, body });
    *response.status_mut() = status;
    response
}

/// The hidden CSRF field every state-changing form carries.
pub fn csrf_field(user: &ConsoleUser) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(&user.csrf))
}

/// A time in the operator's tenant's timezone.
pub fn time(user: &ConsoleUser, at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&user.timezone);
    format!("<time datetime=\"{}\">{}</time>", at.to_rfc3339(), local.format("%Y-%m-%d %H:%M:%S %Z"))
}

/// The time left until `deadline`, counted down in the browser from the server's clock.
pub fn countdown(deadline: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let left = (deadline - now).num_seconds().max(0);
    format!(
        "<span class=\"countdown\" data-deadline=\"{}\" data-now=\"{}\">{}</span>",
        deadline.to_rfc3339(),
        now.to_rfc3339(),
        if left == 0 { "expired".to_owned() } else { format!("{} min {:02} s left", left / 60, left % 60) }
    )
}

/// What a role without any console permission sees.
pub fn nothing_for_role() -> String {
    "<p>Your key's role has nothing to show in the console.</p>".to_owned()
}

/// A table, or a sentence when there are no rows.
pub fn table(caption: &str, headings: &[&str], rows: &[String], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\">{}</p>", esc(empty));
    }
    let head: String = headings.iter().map(|h| format!("<th scope=\"col\">{}</th>", esc(h))).collect();
    format!(
        "<div class=\"scroll\"><table><caption>{}</caption><thead><tr>{head}</tr></thead><tbody>{}</tbody></table></div>",
        esc(caption),
        rows.concat()
    )
}

fn document(status: StatusCode, title: &str, topic: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Switchboard</title><link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
         <script src=\"/console/assets/console.js\" defer></script></head>\
         <body data-topic=\"{}\">{body}</body></html>",
        esc(title),
        esc(topic)
    );
    let mut response = (status, axum::response::Html(html)).into_response();
    let headers = response.headers_mut();
    let policy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                  form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup_and_quotes() {
        assert_eq!(esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn unknown_notices_show_nothing() {
        assert_eq!(notice(Some("<script>")), None);
        assert_eq!(notice(Some("approved")), Some("Crisis approved."));
    }
}
