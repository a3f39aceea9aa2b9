//! The console's domain pages over plain HTTP: outbound runs (progress by state and by outcome
//! from whatever keys the API reports, upload, start, pause, resume, stop, and what a monitor is
//! offered), call sessions and sirens (acknowledge, resolve, drop, recording controls), the
//! "Live now" page with sessions and outbound calls, the admin forms (a key shown once, a number,
//! settings) and the session lifetime setting. The browser drives some of them in
//! `console_browser.rs`.

use crate::console::{console, csrf_of, get_page, post_form, sign_in};
use crate::outbound_support::{ACME_FROM, setup};
use crate::sessions::Sessions;
use crate::sessions_calls::in_progress;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use sqlx::PgPool;

/// Posts a console form with the page's CSRF token: the status and where it leads.
async fn submit(
    app: &crate::helpers::TestApp,
    cookie: &str,
    page: &str,
    action: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let (_, html) = get_page(app, cookie, page).await;
    let csrf = csrf_of(&html);
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend_from_slice(form);
    let response = post_form(app, cookie, action, &fields).await;
    let status = response.status();
    let location = response.headers().get(LOCATION).map(|l| l.to_str().expect("ascii").to_owned());
    (status, location.unwrap_or_else(|| response_text(status)))
}

fn response_text(status: StatusCode) -> String {
    format!("(no redirect: {status})")
}

#[sqlx::test]
async fn an_admin_runs_an_outbound_run_from_its_page_and_a_monitor_may_only_stop_it(pool: PgPool) {
    let o = setup(pool).await;
    let admin = sign_in(&o.app, &o.acme).await;
    let monitor = sign_in(&o.app, &o.acme_monitor).await;

    // Create a run and upload its leads as CSV through the forms.
    let create = [
        ("name", "Renewals"),
        ("from_number", ACME_FROM),
        ("say", "Hello from Acme."),
        ("max_concurrent", ""),
    ];
    let (status, location) = submit(&o.app, &admin, "/console/outbound", "/console/outbound", &create).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location}");
    let run = location.trim_start_matches("/console/outbound/").split('?').next().expect("id").to_owned();
    let page = format!("/console/outbound/{run}");
    let csv = "lead_id,number,name,timezone\nl1,+14155550001,Ann,\nl2,+14155550002,Bob,\nl3,+14155550003,Cy,\nl4,+14155550004,Di,\n";
    let (_, html) = get_page(&o.app, &admin, &page).await;
    let response =
        post_form(&o.app, &admin, &format!("{page}/leads"), &[("csrf", &csrf_of(&html)), ("csv", csv)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.expect("body").contains("4 added"));
    assert_eq!(o.run(&o.acme, &run).await["queued"], 4);

    // Start, pause and resume from the page; each moves the run as the API says.
    for (action, state) in [("start", "running"), ("pause", "paused"), ("resume", "running")] {
        let (_, html) = get_page(&o.app, &admin, &page).await;
        assert!(html.contains(&format!("id=\"run-{action}\"")), "{action} offered");
        let (status, _) = submit(&o.app, &admin, &page, &format!("{page}/{action}"), &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(o.run(&o.acme, &run).await["status"], state);
    }

    // Calls go out; one ends: every state and every outcome the API reports has its bar.
    o.tick().await;
    let live = o.live_at_fake().await;
    assert_eq!(live.len(), 3, "the business's cap");
    let (token, sid, to) = &live[0];
    o.callback(token, sid, to, ACME_FROM, "completed").await;
    let api = o.run(&o.acme, &run).await;
    let (_, html) = get_page(&o.app, &admin, &page).await;
    let mut keys: Vec<String> = api["outcomes"].as_object().expect("outcomes").keys().cloned().collect();
    keys.extend(["queued".to_owned(), "in_progress".to_owned()]);
    for key in keys {
        assert!(html.contains(&format!("data-key=\"{key}\"")), "a bar for {key}");
    }
    assert!(!api["outcomes"].as_object().expect("outcomes").is_empty());

    // Live now shows the outbound calls in progress (numbers masked).
    let (_, now) = get_page(&o.app, &admin, "/console/calls").await;
    assert!(now.contains("Outbound calls now") && now.contains(&format!("/console/outbound/{run}")));
    assert!(!now.contains(&live[1].2), "numbers are masked");

    // A monitor is offered stop only; a forged pause is refused by the API; stop works.
    let (_, html) = get_page(&o.app, &monitor, &page).await;
    assert!(html.contains("id=\"run-stop\""));
    for hidden in ["run-pause", "run-cancel", "run-start", "/leads\""] {
        assert!(!html.contains(hidden), "{hidden} not offered to a monitor");
    }
    let (status, _) = submit(&o.app, &monitor, &page, &format!("{page}/pause"), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(o.run(&o.acme, &run).await["status"], "running");
    let (status, _) = submit(&o.app, &monitor, &page, &format!("{page}/stop"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(o.run(&o.acme, &run).await["status"], "stopped");
}

#[sqlx::test]
async fn a_monitor_handles_sirens_controls_recording_and_drops_a_session_from_the_console(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, ..) = in_progress(&s, "ord_live").await;
    let monitor = sign_in(&s.app, &s.monitor).await;

    // Live now lists the session going on.
    let (_, now) = get_page(&s.app, &monitor, "/console/calls").await;
    assert!(now.contains("Call sessions now") && now.contains("ord_live"), "{now}");

    // A siren raised by the client waits on Live now and the sirens page; acknowledge, resolve.
    let body = json!({"alert_type": "emergency", "reason": "the client is distressed"});
    let (status, siren) =
        s.call(reqwest::Method::POST, &format!("/api/calls/{id}/siren"), &s.client, Some(body)).await;
    assert_eq!(status, 201, "{siren}");
    let siren = siren["id"].as_str().expect("id").to_owned();
    let (_, now) = get_page(&s.app, &monitor, "/console/calls").await;
    assert!(now.contains(&format!("siren-{siren}")));
    let page = "/console/sirens";
    let (status, _) =
        submit(&s.app, &monitor, page, &format!("/console/sirens/{siren}/acknowledge"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let sirens = |status: &'static str| {
        let app = &s.app;
        let key = s.monitor.clone();
        async move {
            let list: Value =
                app.get_auth(&format!("/api/sirens?status={status}"), &key).await.json().await.expect("json");
            list["items"].as_array().expect("items").len()
        }
    };
    assert_eq!(sirens("acknowledged").await, 1);
    let resolve = [("resolution", "false_alarm"), ("note", "checked with the client")];
    let (status, _) =
        submit(&s.app, &monitor, page, &format!("/console/sirens/{siren}/resolve"), &resolve).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(sirens("false_alarm").await, 1);

    // Recording: the page offers start only; starting asks Twilio through the API's rules.
    let recording = format!("/console/sessions/{id}/recording");
    let (_, html) = get_page(&s.app, &monitor, &recording).await;
    assert!(html.contains("id=\"recording-start\"") && !html.contains("id=\"recording-resume\""));
    let (status, _) = submit(&s.app, &monitor, &recording, &format!("{recording}/start"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, list) =
        s.call(reqwest::Method::GET, &format!("/api/calls/{id}/recordings"), &s.monitor, None).await;
    assert_eq!(list["recording_requested"], "recording", "{list}");

    // A client's console shows the session but no drop, no sirens page, no recording link.
    let client = sign_in(&s.app, &s.client).await;
    let (status, html) = get_page(&s.app, &client, &format!("/console/sessions/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !html.contains("id=\"drop\"")
            && !html.contains("/console/sirens\"")
            && !html.contains("/recording\"")
    );

    // Drop with a reason: the session ends as dropped by the monitor.
    let session = format!("/console/sessions/{id}");
    let (status, _) =
        submit(&s.app, &monitor, &session, &format!("{session}/drop"), &[("reason", "abuse")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(s.session(&id).await["status"], "dropped_by_monitor");
}

#[sqlx::test]
async fn an_admin_creates_a_key_shown_once_adds_a_number_and_changes_settings(pool: PgPool) {
    let c = console(pool, &[]).await;
    let admin = sign_in(&c.app, &c.admin).await;
    let page = "/console/tenants/city";

    // A key: its secret is on the answer page only, and it works.
    let (_, html) = get_page(&c.app, &admin, page).await;
    let form = [("csrf", csrf_of(&html)), ("role", "monitor".into()), ("name", "night shift".into())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = post_form(&c.app, &admin, "/console/tenants/city/keys", &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer = response.text().await.expect("body");
    let start = answer.find("value=\"sb_").expect("the secret") + "value=\"".len();
    let token = answer[start..].split('"').next().expect("token").to_owned();
    let me: Value = c.app.get_auth("/api/me", &token).await.json().await.expect("json");
    assert_eq!(me["role"], "monitor");
    let (_, again) = get_page(&c.app, &admin, page).await;
    assert!(again.contains("night shift") && !again.contains(&token), "shown once");

    // A number.
    let number = [("number", "+12025550199"), ("label", "night line"), ("role", "")];
    let (status, _) = submit(&c.app, &admin, page, "/console/tenants/city/numbers", &number).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let numbers: Value =
        c.app.get_auth("/api/tenants/city/numbers", &c.admin).await.json().await.expect("json");
    assert!(numbers["items"].as_array().expect("items").iter().any(|n| n["number"] == "+12025550199"));

    // Settings: only what changed is sent; a bad value is named; times follow the new zone.
    let before: Value = c.app.get_auth("/api/tenants/city", &c.admin).await.json().await.expect("json");
    let (_, html) = get_page(&c.app, &admin, page).await;
    let mut form = settings_fields(&html);
    set(&mut form, "timezone", "Europe/Paris");
    set(&mut form, "dial_timeout_secs", "25");
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let response = post_form(&c.app, &admin, "/console/tenants/city/settings", &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let after: Value = c.app.get_auth("/api/tenants/city", &c.admin).await.json().await.expect("json");
    assert_eq!(
        (after["timezone"].as_str(), after["dial_timeout_secs"].as_i64()),
        (Some("Europe/Paris"), Some(25))
    );
    assert_eq!(after["approval"], before["approval"], "untouched fields unchanged");
    let (_, html) = get_page(&c.app, &admin, page).await;
    assert!(html.contains(" CET<") || html.contains(" CEST<"), "times in the tenant's new zone");
    set(&mut form, "dial_timeout_secs", "2");
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let response = post_form(&c.app, &admin, "/console/tenants/city/settings", &fields).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.expect("body").contains("dial_timeout_secs"));

    // A monitor is offered none of the forms, and a forged one is refused.
    let monitor = sign_in(&c.app, &c.monitor).await;
    let (status, _) = get_page(&c.app, &monitor, page).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the tenant page is admins'");
    let (_, crises) = get_page(&c.app, &monitor, "/console/crises").await;
    let forged = [("csrf", csrf_of(&crises)), ("role", "admin".into())];
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = post_form(&c.app, &monitor, "/console/tenants/city/keys", &forged).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// Every named input and selected option of the settings form, in order.
fn settings_fields(html: &str) -> Vec<(String, String)> {
    let start = html.find("action=\"/console/tenants/city/settings\"").expect("settings form");
    let form = &html[start..start + html[start..].find("</form>").expect("end")];
    let mut fields = Vec::new();
    for tag in form.split('<').filter(|t| t.starts_with("input") || t.starts_with("select")) {
        let attr = |name: &str| {
            tag.find(&format!(" {name}=\""))
                .map(|i| tag[i + name.len() + 3..].split('"').next().unwrap_or("").to_owned())
        };
        let Some(name) = attr("name") else { continue };
        if tag.contains("type=\"checkbox\"") && !tag.contains(" checked") {
            continue;
        }
        let value = if tag.starts_with("select") {
            let rest = &form[form.find(tag).expect("tag")..];
            let selected = rest.find(" selected>").map(|i| &rest[..i]).unwrap_or(rest);
            selected.rsplit("value=\"").next().and_then(|v| v.split('"').next()).unwrap_or("").to_owned()
        } else {
            attr("value").unwrap_or_default().replace("&#39;", "'").replace("&amp;", "&")
        };
        fields.push((name, value));
    }
    fields
}

fn set(form: &mut [(String, String)], name: &str, value: &str) {
    form.iter_mut().find(|(k, _)| k == name).expect("field").1 = value.to_owned();
}

#[sqlx::test]
async fn the_session_lifetime_is_a_setting(pool: PgPool) {
    let c = console(pool, &[("SWITCHBOARD_CONSOLE__SESSION_TTL_SECS", "600")]).await;
    let response = crate::console::no_redirects()
        .post(c.app.url("/console/session"))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(crate::console::encode(&[("key", &c.admin)]))
        .send()
        .await
        .expect("sent");
    let set_cookie = response.headers()[SET_COOKIE].to_str().expect("ascii").to_owned();
    assert!(set_cookie.contains("Max-Age=600"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().expect("pair").to_owned();
    assert_eq!(get_page(&c.app, &cookie, "/console/crises").await.0, StatusCode::OK);
    c.clock.advance(chrono::Duration::seconds(601));
    assert_eq!(get_page(&c.app, &cookie, "/console/crises").await.0, StatusCode::SEE_OTHER, "expired");
}

#[sqlx::test]
async fn a_completed_recording_is_downloaded_through_its_signed_link(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, _client, reader) = in_progress(&s, "ord_rec").await;
    crate::recordings::started(&s, &id).await;
    // The SID the fake Twilio gave the recording it started.
    let sid = format!("RE{:032x}", 0xDEF0_0001u64);
    let done = crate::recordings::recording_callback(&s, &reader.sid, &sid, "completed");
    assert_eq!(done.await.status(), 200);
    let monitor = sign_in(&s.app, &s.monitor).await;
    let (status, html) = get_page(&s.app, &monitor, &format!("/console/sessions/{id}/recording")).await;
    assert_eq!(status, StatusCode::OK);
    let list = crate::recordings::recordings(&s, &id).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    let link = list["items"][0]["download_url"].as_str().unwrap_or_else(|| panic!("a signed link: {list}"));
    assert!(html.contains(&format!("href=\"{}\"", link.replace('&', "&amp;"))), "{html}");
    assert!(!html.contains(&sid), "never the recording's SID");
    let issued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_event WHERE action = 'RECORDING_LINK_ISSUED'")
            .fetch_one(&s.app.state.db)
            .await
            .expect("count");
    assert_eq!(issued, 2, "each issue audited: the console's and the API's");
}
