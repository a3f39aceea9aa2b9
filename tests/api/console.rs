//! The operator console over plain HTTP: the session cookie, CSRF refusals, what each role is
//! offered and refused, sign-out and key revocation, the event stream's resumption. The browser
//! tests (`console_browser.rs`) drive the same pages in Chromium.

use crate::fixture::World;
use crate::helpers::TestApp;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use sqlx::PgPool;

/// A tenant with an admin and a monitor key; the app believes it is served over https.
pub struct Console {
    world: World,
    pub admin: String,
    pub monitor: String,
}

impl std::ops::Deref for Console {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

pub async fn console(pool: PgPool, extra: &[(&str, &str)]) -> Console {
    let tenant = json!({"slug": "city", "name": "City Safety", "timezone": "America/New_York"});
    let world =
        World::builder(pool).vars(extra).tenant_body(tenant).keys(&["admin", "monitor"]).start().await;
    let (admin, monitor) = (world.key("admin").to_owned(), world.key("monitor").to_owned());
    Console { world, admin, monitor }
}

const FORM: &str = "application/x-www-form-urlencoded";

/// A form body.
pub fn encode(form: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(form).expect("encodable")
}

/// A client that shows redirects instead of following them.
pub fn no_redirects() -> reqwest::Client {
    switchboard::net::client_builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// Signs in with `key`; the `Cookie` header value of the session.
pub async fn sign_in(app: &TestApp, key: &str) -> String {
    let response = no_redirects()
        .post(app.url("/console/session"))
        .header(CONTENT_TYPE, FORM)
        .body(encode(&[("key", key)]))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set = response.headers()[SET_COOKIE].to_str().expect("ascii").to_owned();
    set.split(';').next().expect("name=value").to_owned()
}

pub async fn get_page(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let response = no_redirects().get(app.url(path)).header(COOKIE, cookie).send().await.expect("sent");
    (response.status(), response.text().await.expect("body"))
}

/// The CSRF token the page's forms carry.
pub fn csrf_of(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    page[start..].split('"').next().expect("value").to_owned()
}

pub async fn post_form(app: &TestApp, cookie: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    no_redirects()
        .post(app.url(path))
        .header(COOKIE, cookie)
        .header(CONTENT_TYPE, FORM)
        .body(encode(form))
        .send()
        .await
        .expect("sent")
}

pub async fn new_crisis(app: &TestApp, key: &str) -> String {
    let body = json!({"type": "fire", "description": "smoke on floor 3", "location": "5th and Main",
        "risk_score": 4.5, "decision": {"units": ["engine-7"]}});
    let response = app.post_json("/api/crises", key, body).await;
    assert_eq!(response.status(), 201);
    let crisis: Value = response.json().await.expect("json");
    crisis["id"].as_str().expect("id").to_owned()
}

async fn status_of(app: &TestApp, key: &str, id: &str) -> String {
    let crisis: Value = app.get_auth(&format!("/api/crises/{id}"), key).await.json().await.expect("json");
    crisis["status"].as_str().expect("status").to_owned()
}

#[sqlx::test]
async fn signing_in_gives_a_strict_http_only_secure_cookie_that_is_not_the_key(pool: PgPool) {
    let c = console(pool, &[]).await;
    let response = no_redirects()
        .post(c.app.url("/console/session"))
        .header(CONTENT_TYPE, FORM)
        .body(encode(&[("key", &c.admin)]))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/console");
    let cookie = response.headers()[SET_COOKIE].to_str().expect("ascii").to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/console", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{attribute} missing from {cookie}");
    }
    assert!(!cookie.contains(&c.admin) && !cookie.contains(&c.admin[3..]), "the cookie carries the key");
    let session = cookie.split(';').next().expect("pair");
    let (status, page) = get_page(&c.app, session, "/console/crises").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("city · admin") && !page.contains(&c.admin));
    // The server keeps only a hash of the session's token: its table never holds the token.
    let token = session.split_once('=').expect("name=value").1;
    let stored: Vec<String> = sqlx::query_scalar("SELECT row_to_json(s)::text FROM console_session s")
        .fetch_all(&c.app.state.db)
        .await
        .expect("sessions");
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(token) && !stored[0].contains(&c.admin), "{}", stored[0]);

    let wrong = no_redirects()
        .post(c.app.url("/console/session"))
        .header(CONTENT_TYPE, FORM)
        .body(encode(&[("key", "sb_nope")]))
        .send()
        .await;
    let wrong = wrong.expect("sent");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
}

#[sqlx::test]
async fn the_cookie_is_not_secure_when_the_public_url_is_plain_http(pool: PgPool) {
    let c = console(pool, &[("PUBLIC_BASE_URL", "http://sb.example.com")]).await;
    let response = no_redirects()
        .post(c.app.url("/console/session"))
        .header(CONTENT_TYPE, FORM)
        .body(encode(&[("key", &c.admin)]))
        .send()
        .await
        .expect("sent");
    let cookie = response.headers()[SET_COOKIE].to_str().expect("ascii");
    assert!(cookie.contains("HttpOnly") && !cookie.contains("Secure"), "{cookie}");
}

#[sqlx::test]
async fn pages_without_a_session_send_to_sign_in(pool: PgPool) {
    let c = console(pool, &[]).await;
    for path in ["/console", "/console/crises", "/console/notifications", "/console/events"] {
        let (status, _) = get_page(&c.app, "sb_console=forged", path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
    }
    let (status, page) = get_page(&c.app, "", "/console/sign-in").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("method=\"post\" action=\"/console/session\"") && page.contains("type=\"password\"")
    );
}

#[sqlx::test]
async fn a_decision_without_the_session_csrf_token_is_refused(pool: PgPool) {
    let c = console(pool, &[]).await;
    let id = new_crisis(&c.app, &c.admin).await;
    let cookie = sign_in(&c.app, &c.admin).await;
    let path = format!("/console/crises/{id}/decide");
    for form in [vec![("verdict", "approve")], vec![("verdict", "approve"), ("csrf", "guessed")]] {
        let response = post_form(&c.app, &cookie, &path, &form).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(status_of(&c.app, &c.admin, &id).await, "pending_approval");

    let (_, page) = get_page(&c.app, &cookie, "/console/crises").await;
    let csrf = csrf_of(&page);
    let form = [("verdict", "approve"), ("reason", "confirmed by camera"), ("csrf", csrf.as_str())];
    let response = post_form(&c.app, &cookie, &path, &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/console/crises?notice=approved");
    let crisis: Value =
        c.app.get_auth(&format!("/api/crises/{id}"), &c.admin).await.json().await.expect("json");
    assert_eq!(
        (crisis["status"].as_str(), crisis["decision_reason"].as_str()),
        (Some("dispatched"), Some("confirmed by camera"))
    );
    let audit = crisis["audit"].as_array().expect("trail");
    assert!(
        audit
            .iter()
            .any(|e| e["actor_id"].as_str().is_some_and(|a| !a.is_empty()) && e["data"]["via"] == "api")
    );
}

#[sqlx::test]
async fn a_crisis_is_rejected_with_its_reason(pool: PgPool) {
    let c = console(pool, &[]).await;
    let id = new_crisis(&c.app, &c.admin).await;
    let cookie = sign_in(&c.app, &c.admin).await;
    let (_, page) = get_page(&c.app, &cookie, &format!("/console/crises/{id}")).await;
    let form = [("verdict", "reject"), ("reason", "false alarm"), ("csrf", &csrf_of(&page))];
    let response = post_form(&c.app, &cookie, &format!("/console/crises/{id}/decide"), &form).await;
    assert_eq!(response.headers()[LOCATION], "/console/crises?notice=rejected");
    let crisis: Value =
        c.app.get_auth(&format!("/api/crises/{id}"), &c.admin).await.json().await.expect("json");
    assert_eq!(
        (crisis["status"].as_str(), crisis["decision_reason"].as_str()),
        (Some("rejected"), Some("false alarm"))
    );
    let again = post_form(&c.app, &cookie, &format!("/console/crises/{id}/decide"), &form).await;
    assert_eq!(again.status(), StatusCode::CONFLICT, "the API's state machine answers");
}

#[sqlx::test]
async fn a_monitor_is_not_offered_decisions_and_a_forged_decision_is_refused(pool: PgPool) {
    let c = console(pool, &[]).await;
    let id = new_crisis(&c.app, &c.admin).await;
    let cookie = sign_in(&c.app, &c.monitor).await;
    let (status, page) = get_page(&c.app, &cookie, "/console/crises").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("id=\"crisis-{id}\"")), "the monitor sees the crisis");
    assert!(!page.contains("value=\"approve\"") && !page.contains("/decide"), "no decision offered");
    assert!(!page.contains("href=\"/console/tenants\""), "no tenant administration offered");

    let csrf = csrf_of(&page);
    let forged = [("verdict", "approve"), ("csrf", csrf.as_str())];
    let response = post_form(&c.app, &cookie, &format!("/console/crises/{id}/decide"), &forged).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.expect("body").contains("forbidden"));
    assert_eq!(status_of(&c.app, &c.admin, &id).await, "pending_approval");
    let (status, _) = get_page(&c.app, &cookie, "/console/tenants/city").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the tenant page is refused");
    let (_, notifications) = get_page(&c.app, &cookie, "/console/notifications?status=pending").await;
    assert!(
        notifications.contains("Pending")
            && !notifications.contains("/redeliver")
            && !notifications.contains("/cancel")
    );
}

#[sqlx::test]
async fn signing_out_or_revoking_the_key_ends_the_session(pool: PgPool) {
    let c = console(pool, &[]).await;
    let cookie = sign_in(&c.app, &c.admin).await;
    let (_, page) = get_page(&c.app, &cookie, "/console/crises").await;
    let response = post_form(&c.app, &cookie, "/console/sign-out", &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(response.headers()[SET_COOKIE].to_str().expect("ascii").contains("Max-Age=0"));
    assert_eq!(get_page(&c.app, &cookie, "/console/crises").await.0, StatusCode::SEE_OTHER);

    let other = sign_in(&c.app, &c.monitor).await;
    assert_eq!(get_page(&c.app, &other, "/console/crises").await.0, StatusCode::OK);
    let keys: Value = c.app.get_auth("/api/tenants/city/keys", &c.root).await.json().await.expect("json");
    let monitor =
        keys["items"].as_array().expect("items").iter().find(|k| k["role"] == "monitor").expect("key");
    let revoke = format!("/api/tenants/city/keys/{}", monitor["id"].as_str().expect("id"));
    assert_eq!(c.app.delete_auth(&revoke, &c.root).await.status(), 204);
    assert_eq!(get_page(&c.app, &other, "/console/crises").await.0, StatusCode::SEE_OTHER);
}

#[sqlx::test]
async fn the_event_stream_resumes_from_the_last_event_id(pool: PgPool) {
    let c = console(pool, &[]).await;
    let cookie = sign_in(&c.app, &c.admin).await;
    let first = first_event(&c.app, &cookie, None).await;
    assert!(first.contains("event: ready"), "{first}");
    let id = first.lines().find_map(|l| l.strip_prefix("id: ")).expect("an id").to_owned();
    assert!(id.contains("crises:") && id.contains("notifications:") && id.contains("tenant:"), "{id}");
    let monitor = sign_in(&c.app, &c.monitor).await;
    let monitors = first_event(&c.app, &monitor, None).await;
    assert!(monitors.contains("crises:") && !monitors.contains("tenant:"), "scoped to the role: {monitors}");
    new_crisis(&c.app, &c.admin).await;
    // A reconnect announces at once what changed meanwhile.
    let resumed = events_until(&c.app, &cookie, Some(&id), "event: crises").await;
    assert!(!resumed.contains("event: ready"), "{resumed}");
    let unchanged_id = resumed.lines().rev().find_map(|l| l.strip_prefix("id: ")).expect("an id").to_owned();
    let again = first_event(&c.app, &cookie, Some(&unchanged_id)).await;
    assert!(again.contains("event: ready") && !again.contains("event: crises"), "{again}");
}

/// The stream's first event (up to its blank line).
async fn first_event(app: &TestApp, cookie: &str, last: Option<&str>) -> String {
    events_until(app, cookie, last, "\n\n").await
}

/// The stream's text until it contains `needle` (within 10 s).
async fn events_until(app: &TestApp, cookie: &str, last: Option<&str>, needle: &str) -> String {
    let mut request = no_redirects().get(app.url("/console/events")).header(COOKIE, cookie);
    if let Some(last) = last {
        request = request.header("Last-Event-ID", last);
    }
    let mut response = request.send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let mut text = String::new();
    while !text.contains(needle) {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), response.chunk())
            .await
            .unwrap_or_else(|_| panic!("an event in time after {text:?} (last {last:?})"))
            .expect("chunk")
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

#[sqlx::test]
async fn every_page_renders_and_a_reply_is_sent_through_the_api_rules(pool: PgPool) {
    let c = console(pool, &[]).await;
    let number = json!({"number": "+12025550100"});
    assert_eq!(c.app.post_json("/api/tenants/city/numbers", &c.root, number).await.status(), 201);
    let crisis = new_crisis(&c.app, &c.admin).await;
    crate::inbound::sms(
        &c.app,
        "SM00000000000000000000000000000001",
        "+12025550177",
        "+12025550100",
        "is it safe?",
    )
    .await;
    let cookie = sign_in(&c.app, &c.admin).await;
    let crisis_page = format!("/console/crises/{crisis}");
    for path in
        ["/console/calls", "/console/notifications", "/console/audit", "/console/tenants/city", &crisis_page]
    {
        let (status, page) = get_page(&c.app, &cookie, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        assert!(!page.contains("class=\"error\""), "{path}: {page}");
    }
    let (_, crisis_page) = get_page(&c.app, &cookie, &crisis_page).await;
    assert!(crisis_page.contains("2026-11-23 10:00:00 EST"), "times in the tenant's timezone");
    assert!(crisis_page.contains("CRISIS_RECEIVED") || crisis_page.contains("Audit trail"));
    let (_, audit) = get_page(&c.app, &cookie, "/console/audit").await;
    assert!(audit.contains("Chain intact"), "{audit}");

    let (_, list) = get_page(&c.app, &cookie, "/console/conversations").await;
    let start = list.find("href=\"/console/conversations/").expect("a conversation") + "href=\"".len();
    let thread_path = list[start..].split('"').next().expect("path").to_owned();
    let (_, thread) = get_page(&c.app, &cookie, &thread_path).await;
    assert!(thread.contains("is it safe?") && thread.contains("Not opted out."), "{thread}");
    let form = [("body", "Yes, stay inside."), ("csrf", &csrf_of(&thread))];
    let response = post_form(&c.app, &cookie, &format!("{thread_path}/reply"), &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let back = response.headers()[LOCATION].to_str().expect("ascii").to_owned();
    let (_, thread) = get_page(&c.app, &cookie, &back).await;
    assert!(thread.contains("Yes, stay inside.") && thread.contains("Reply queued."), "{thread}");
}

#[sqlx::test]
async fn a_superadmin_names_the_tenant_and_is_not_offered_tenant_actions(pool: PgPool) {
    let c = console(pool, &[]).await;
    let cookie = sign_in(&c.app, &c.root).await;
    let (status, page) = get_page(&c.app, &cookie, "/console/notifications").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Name a tenant") && !page.contains("href=\"/console/crises\""), "{page}");
    let (status, page) = get_page(&c.app, &cookie, "/console/audit?tenant=city").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Chain intact"), "{page}");
    let (status, page) = get_page(&c.app, &cookie, "/console/tenants").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("href=\"/console/tenants/city\""), "{page}");
}

#[sqlx::test]
async fn pages_forbid_inline_script_framing_and_caching(pool: PgPool) {
    let c = console(pool, &[]).await;
    let session = sign_in(&c.app, &c.admin).await;
    for path in ["/console/crises", "/console/notifications"] {
        let response =
            no_redirects().get(c.app.url(path)).header(COOKIE, &session).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        let policy = headers["content-security-policy"].to_str().expect("ascii");
        for directive in ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{path}: no inline script or style");
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        let page = response.text().await.expect("body");
        assert!(
            !page.contains("<script>") && !page.contains(" onclick="),
            "{path}: no inline script in the page"
        );
    }
}

/// Opens the event stream and reads its first event.
async fn open_stream(app: &TestApp, cookie: &str) -> reqwest::Response {
    let mut response =
        no_redirects().get(app.url("/console/events")).header(COOKIE, cookie).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), response.chunk()).await;
        text.push_str(&String::from_utf8_lossy(&chunk.expect("in time").expect("chunk").expect("open")));
    }
    assert!(text.contains("event: ready"), "{text}");
    response
}

/// Reads `stream` until it ends (within 10 s); the text it sent meanwhile.
async fn until_it_ends(mut stream: reqwest::Response) -> String {
    let mut text = String::new();
    loop {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("the stream did not end; it sent {text:?}"));
        match chunk.expect("chunk") {
            Some(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
            None => return text,
        }
    }
}

#[sqlx::test]
async fn a_stream_ends_with_its_session(pool: PgPool) {
    let c = console(pool, &[("SWITCHBOARD_CONSOLE__POLL_INTERVAL_MS", "100")]).await;
    let cookie = sign_in(&c.app, &c.admin).await;
    let stream = open_stream(&c.app, &cookie).await;
    let (_, page) = get_page(&c.app, &cookie, "/console/crises").await;
    let out = post_form(&c.app, &cookie, "/console/sign-out", &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    until_it_ends(stream).await;

    let monitor = sign_in(&c.app, &c.monitor).await;
    let stream = open_stream(&c.app, &monitor).await;
    let keys: Value = c.app.get_auth("/api/tenants/city/keys", &c.root).await.json().await.expect("json");
    let key = keys["items"].as_array().expect("items").iter().find(|k| k["role"] == "monitor").expect("key");
    let revoke = format!("/api/tenants/city/keys/{}", key["id"].as_str().expect("id"));
    assert_eq!(c.app.delete_auth(&revoke, &c.root).await.status(), 204);
    until_it_ends(stream).await;
}

#[sqlx::test]
async fn the_stream_polls_at_the_configured_interval(pool: PgPool) {
    let slow = console(pool, &[("SWITCHBOARD_CONSOLE__POLL_INTERVAL_MS", "60000")]).await;
    let cookie = sign_in(&slow.app, &slow.admin).await;
    let mut stream = open_stream(&slow.app, &cookie).await;
    new_crisis(&slow.app, &slow.admin).await;
    // A minute between polls: the new crisis is not announced within two seconds.
    let next = tokio::time::timeout(std::time::Duration::from_secs(2), stream.chunk()).await;
    if let Ok(chunk) = next {
        let text =
            chunk.expect("chunk").map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        assert!(!text.contains("event: crises"), "polled before its interval: {text}");
    }
    // A tenth of a second: it is (the control, on another app with the same data).
    let fast = slow.twin_with(&[("SWITCHBOARD_CONSOLE__POLL_INTERVAL_MS", "100")]).await;
    let cookie = sign_in(&fast, &slow.admin).await;
    let mut stream = open_stream(&fast, &cookie).await;
    new_crisis(&fast, &slow.admin).await;
    let mut text = String::new();
    while !text.contains("event: crises") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.chunk()).await;
        text.push_str(&String::from_utf8_lossy(&chunk.expect("announced").expect("chunk").expect("open")));
    }
}
