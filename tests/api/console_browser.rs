//! The operator console in a real browser: headless Chromium driven over WebDriver (Debian's
//! `chromium` and `chromium-driver`, which `scripts/test` installs when missing; without them
//! this test fails, it never skips). The browser reaches the app through a recording proxy, so
//! the test sees every request the console makes; the app's log lines are captured too, so the
//! test can say the key is in neither.

use crate::console::{Console, console, new_crisis};
use crate::fixture::{Captured, deliver};
use crate::helpers::TestApp;
use crate::receiver::{Receiver, secret_setting};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// A request the browser made: method, URI, headers and body, as text.
type Seen = Arc<Mutex<Vec<String>>>;

#[sqlx::test]
async fn an_operator_works_the_console_in_a_browser(pool: PgPool) {
    let logs = Captured::default();
    let _logs = tracing::subscriber::set_default(debug_subscriber(&logs));
    let (dispatcher, url) = Receiver::start().await;
    let secret = secret_setting();
    let vars = [
        ("SWITCHBOARD_DISPATCH_URL", url.as_str()),
        ("SWITCHBOARD_WEBHOOK_SECRET", secret.as_str()),
        // Outbound calls are not held back by the account-wide pace.
        ("SWITCHBOARD_EFFECTS__CALLS_PER_SECOND", "1000"),
    ];
    let c = console(pool, &vars).await;
    let number = json!({"number": "+12025550100"});
    assert_eq!(c.app.post_json("/api/tenants/city/numbers", &c.root, number).await.status(), 201);
    let (seen, base) = proxy(&c.app).await;
    let browser = Browser::start().await;
    let b = &browser.client;

    // Sign in as an admin: the key goes in the form once.
    b.goto(&format!("{base}/console")).await.expect("goto");
    sign_in_with(b, &c.admin).await;
    assert!(b.current_url().await.expect("url").path().starts_with("/console/crises"));
    let storage = b
        .execute("return [document.cookie, localStorage.length, sessionStorage.length];", vec![])
        .await
        .expect("script");
    assert_eq!(storage, json!(["", 0, 0]), "no key (nor session) readable by scripts or kept in storage");

    approve_a_crisis_that_appears_live(&c, b, &dispatcher).await;
    pages_are_accessible(b, &base).await;
    redeliver_a_parked_message(&c, b, &base).await;
    let run = stop_an_outbound_run_from_its_page(&c, b, &base).await;
    acknowledge_a_siren(&c, b, &base).await;
    sign_out(&c, b).await;
    as_a_monitor_no_decision_is_offered_or_accepted(&c, b).await;
    pages_fit_a_phone(b, &base, &run).await;
    browser.close().await;
    nothing_carries_a_key(&c, &seen, &logs);
}

/// A crisis created through the API appears without a reload; approving it dispatches it.
async fn approve_a_crisis_that_appears_live(c: &Console, b: &Client, dispatcher: &Receiver) {
    // A crisis created through the API appears without a reload.
    let id = new_crisis(&c.app, &c.admin).await;
    let row = format!("#crisis-{id}");
    b.wait().at_most(WAIT).for_element(Locator::Css(&row)).await.expect("the crisis appears live");
    screenshot(b, "console-crises").await;

    // A reason half typed survives a live update: the update waits until the form is sent.
    let reason = format!("#reason-{id}");
    b.find(Locator::Css(&reason)).await.expect("reason").send_keys("confirmed").await.expect("typed");
    b.execute("document.activeElement.blur();", vec![]).await.expect("the field is left");
    let refreshes = b.execute("return document.body.dataset.refreshes;", vec![]).await.expect("script");
    let other = new_crisis(&c.app, &c.admin).await;
    let waiting = Locator::XPath("//*[@id='live'][contains(., 'once your form is sent')]");
    b.wait().at_most(WAIT).for_element(waiting).await.expect("the update is announced, not applied");
    assert!(b.find(Locator::Css(&format!("#crisis-{other}"))).await.is_err(), "the page was not replaced");
    let kept = b.find(Locator::Css(&reason)).await.expect("reason").prop("value").await.expect("value");
    assert_eq!(kept.as_deref(), Some("confirmed"), "what was typed is still there");
    let after = b.execute("return document.body.dataset.refreshes;", vec![]).await.expect("script");
    assert_eq!(after, refreshes);

    // Approve it with a reason: the dispatch reaches the dispatcher.
    b.find(Locator::Css(&reason)).await.expect("reason").send_keys(" by camera").await.expect("typed");
    let approve = format!("{row} button[value=approve]");
    b.find(Locator::Css(&approve)).await.expect("approve").click().await.expect("clicked");
    b.wait().at_most(WAIT).for_element(Locator::Css(".notice")).await.expect("a notice");
    assert_eq!(
        b.find(Locator::Css(".notice")).await.expect("notice").text().await.expect("text"),
        "Crisis approved."
    );
    b.find(Locator::Css(&format!("#crisis-{other}")))
        .await
        .expect("the held update shows once the form is sent");
    deliver(&c.app).await;
    let sent: Vec<String> = dispatcher
        .requests
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, body)| String::from_utf8_lossy(body).into())
        .collect();
    assert!(sent.iter().any(|n| n.contains("crisis.dispatch") && n.contains(&id)), "dispatched: {sent:?}");
}

/// A parked notification (no bot configured) is redelivered from its page.
async fn redeliver_a_parked_message(c: &Console, b: &Client, base: &str) {
    // A parked notification (no bot configured) is redelivered from its page.
    crate::inbound::sms(
        &c.app,
        "SM00000000000000000000000000000001",
        "+12025550177",
        "+12025550100",
        "hello",
    )
    .await;
    deliver(&c.app).await;
    let parked = parked_ids(&c.app).await;
    assert!(!parked.is_empty(), "the customer's message waits for a bot");
    b.goto(&format!("{base}/console/notifications")).await.expect("goto");
    live(b).await;
    let redeliver = format!("#message-{} button", parked[0]);
    b.wait().at_most(WAIT).for_element(Locator::Css(&redeliver)).await.expect("a parked message");
    screenshot(b, "console-notifications").await;
    b.find(Locator::Css(&redeliver)).await.expect("redeliver").click().await.expect("clicked");
    b.wait().at_most(WAIT).for_element(Locator::Css(".notice")).await.expect("a notice");
    assert_eq!(status_of_message(&c.app, &parked[0]).await, "pending");
}

/// A run created and started through the API dials through the fake Twilio; the operator stops
/// it from its page: the run is `stopped` and no further call reaches Twilio.
async fn stop_an_outbound_run_from_its_page(c: &Console, b: &Client, base: &str) -> String {
    let run = json!({"name": "Renewals", "from_number": "+12025550100", "script": {"say": "Hello."}});
    let response = c.app.post_json("/api/outbound/runs", &c.admin, run).await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    let leads: Vec<Value> =
        (0..6).map(|i| json!({"lead_id": format!("l{i}"), "number": format!("+1415555{:04}", i)})).collect();
    let path = format!("/api/outbound/runs/{id}/leads");
    assert_eq!(c.app.post_json(&path, &c.admin, json!({"leads": leads})).await.status(), 200);
    let start = c.app.post_json(&format!("/api/outbound/runs/{id}/start"), &c.admin, json!({})).await;
    assert_eq!(start.status(), 200);
    dial(&c.app).await;
    let dialled = calls_created(c);
    assert_eq!(dialled, 3, "the business's cap: three calls, three leads queued");

    b.goto(&format!("{base}/console/outbound/{id}")).await.expect("goto");
    live(b).await;
    b.wait().at_most(WAIT).for_element(Locator::Css("progress")).await.expect("progress bars");
    screenshot(b, "console-outbound-run").await;
    b.find(Locator::Css("#run-stop")).await.expect("stop").click().await.expect("clicked");
    b.wait().at_most(WAIT).for_element(Locator::Css(".notice")).await.expect("a notice");
    let run: Value =
        c.app.get_auth(&format!("/api/outbound/runs/{id}"), &c.admin).await.json().await.expect("json");
    assert_eq!(run["status"], "stopped", "{run}");
    assert_eq!(run["queued"], 0, "{run}");
    dial(&c.app).await;
    dial(&c.app).await;
    assert_eq!(calls_created(c), dialled, "no call after the stop");
    // The page says so too (live updates may replace its content meanwhile: wait, do not hold).
    let stopped = Locator::Css("#run[data-status=stopped] #run-status");
    b.wait().at_most(WAIT).for_element(stopped).await.expect("the page shows the run stopped");
    id
}

/// At phone width (the monitor's window) the domain pages need no sideways scrolling: wide
/// tables scroll inside their own box.
async fn pages_fit_a_phone(b: &Client, base: &str, run: &str) {
    for page in
        ["/console/calls".to_owned(), "/console/sirens".to_owned(), format!("/console/outbound/{run}")]
    {
        b.goto(&format!("{base}{page}")).await.expect("goto");
        live(b).await;
        let fits = b
            .execute("return document.documentElement.scrollWidth <= window.innerWidth;", vec![])
            .await
            .expect("script");
        assert_eq!(fits, json!(true), "{page} overflows a phone's width");
    }
    screenshot(b, "console-outbound-phone").await;
}

/// What a page breaks of the README's accessibility promises, found in the rendered page: a
/// control without a label, no skip link first, text under 4.5:1 against its background.
const ACCESSIBILITY: &str = r##"
const problems = [];
const first = document.querySelector('a, button, input, select, textarea');
if (!first || !first.matches('a.skip[href="#main"]') || !document.getElementById('main')) {
  problems.push('no skip link to #main first');
}
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.type === 'hidden') continue;
  const named = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
  if (!named) problems.push('unlabelled ' + el.tagName + ' ' + (el.name || el.id));
}
const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
  .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
const background = (el) => {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length >= 3 && (c.length < 4 || c[3] > 0)) return c;
  }
  return [255, 255, 255];
};
for (const el of document.querySelectorAll('body *')) {
  const text = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
  const style = getComputedStyle(el);
  if (!text || style.visibility === 'hidden' || style.display === 'none' || el.offsetParent === null) continue;
  const [a, b] = [lum(rgb(style.color)), lum(background(el))];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5) problems.push(el.tagName + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
}
return problems;
"##;

/// Every page an admin opens keeps the accessibility promises.
async fn pages_are_accessible(b: &Client, base: &str) {
    for page in [
        "/console/crises",
        "/console/notifications",
        "/console/outbound",
        "/console/audit",
        "/console/tenants",
    ] {
        b.goto(&format!("{base}{page}")).await.expect("goto");
        live(b).await;
        let problems = b.execute(ACCESSIBILITY, vec![]).await.expect("script");
        assert_eq!(problems, json!([]), "{page}");
    }
}

/// One dialer round, then one outbox round (the creates go out).
async fn dial(app: &TestApp) {
    app.worker("outbound").run_once().await.expect("dialer round");
    deliver(app).await;
}

fn calls_created(c: &Console) -> usize {
    c.fake.creates().iter().filter(|(kind, _)| kind == "call").count()
}

/// A siren raised through the API appears on the sirens page without a reload; acknowledging it
/// there moves it as the API says.
async fn acknowledge_a_siren(c: &Console, b: &Client, base: &str) {
    b.goto(&format!("{base}/console/sirens")).await.expect("goto");
    live(b).await;
    let booking = json!({"order_id": "ord_console", "client": {"subject": "u_1", "number": "+33612345678"},
        "reader": {"subject": "u_2", "number": "+12025550143"}, "scheduled_at": "2026-11-23T16:00:00Z",
        "duration_minutes": 30, "record": true, "auto_start": false});
    let response = c.app.post_json("/api/calls/schedule", &c.admin, booking).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
    let session = response.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    let body = json!({"alert_type": "emergency", "reason": "the client is distressed"});
    let response = c.app.post_json(&format!("/api/calls/{session}/siren"), &c.monitor, body).await;
    assert_eq!(response.status(), 201);
    let siren = response.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    let acknowledge = format!("#siren-{siren} button[aria-label^=Acknowledge]");
    b.wait().at_most(WAIT).for_element(Locator::Css(&acknowledge)).await.expect("the siren appears live");
    screenshot(b, "console-sirens").await;
    // The keyboard is enough: Enter on the focused button.
    b.find(Locator::Css(&acknowledge))
        .await
        .expect("acknowledge")
        .send_keys("\u{E007}")
        .await
        .expect("pressed");
    b.wait().at_most(WAIT).for_element(Locator::Css(".notice")).await.expect("a notice");
    let list: Value =
        c.app.get_auth("/api/sirens?status=acknowledged", &c.admin).await.json().await.expect("json");
    assert_eq!(list["items"][0]["id"], siren.as_str(), "{list}");
}

/// Signing out: the session cookie no longer opens a page.
async fn sign_out(c: &Console, b: &Client) {
    // Sign out: the session cookie no longer opens a page.
    let cookies = b.get_all_cookies().await.expect("cookies");
    let session = cookies.iter().find(|k| k.name() == "sb_console").expect("session cookie");
    assert_eq!(session.http_only(), Some(true));
    let cookie = format!("sb_console={}", session.value());
    b.find(Locator::Css(".sign-out button")).await.expect("sign out").click().await.expect("clicked");
    b.wait().at_most(WAIT).for_element(Locator::Css("#key")).await.expect("the sign-in form again");
    assert_eq!(crate::console::get_page(&c.app, &cookie, "/console/crises").await.0, 303);
}

/// A monitor at phone width: crises shown, no decision offered, a forged one refused.
async fn as_a_monitor_no_decision_is_offered_or_accepted(c: &Console, b: &Client) {
    // A monitor at phone width: the crisis is shown, no decision is offered, and a forged decision
    // posted from the monitor's own page (with its valid CSRF token) is refused.
    let other = new_crisis(&c.app, &c.admin).await;
    b.set_window_size(390, 844).await.expect("phone width");
    sign_in_with(b, &c.monitor).await;
    b.wait().at_most(WAIT).for_element(Locator::Css(&format!("#crisis-{other}"))).await.expect("shown");
    assert!(b.find_all(Locator::Css("button[value=approve]")).await.expect("query").is_empty());
    screenshot(b, "console-monitor-phone").await;
    let forged = format!(
        "const csrf = document.querySelector('input[name=csrf]').value;
         const r = await fetch('/console/crises/{other}/decide', {{method: 'POST',
           headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, body: 'verdict=approve&csrf=' + csrf}});
         return r.status;"
    );
    let status = b.execute(&format!("return (async () => {{ {forged} }})();"), vec![]).await.expect("script");
    assert_eq!(status, json!(403));
    let crisis: Value =
        c.app.get_auth(&format!("/api/crises/{other}"), &c.admin).await.json().await.expect("json");
    assert_eq!(crisis["status"], "pending_approval");
}

/// No request the console made carried a key but the two sign-ins' bodies; no log line has one.
fn nothing_carries_a_key(c: &Console, seen: &Seen, logs: &Captured) {
    // No request the console made carried a key but the two sign-ins' bodies; no log line has one.
    let requests = seen.lock().expect("lock").clone();
    for key in [&c.admin, &c.monitor] {
        let carrying: Vec<&String> = requests.iter().filter(|r| r.contains(key.as_str())).collect();
        assert_eq!(carrying.len(), 1, "only the sign-in carries the key");
        assert!(carrying[0].starts_with("POST /console/session "), "{}", carrying[0]);
    }
    assert!(requests.len() > 10, "the proxy saw the console's requests");
    let lines = logs.text();
    assert!(lines.contains("console: signed in"), "the logs were captured");
    for key in [&c.admin, &c.monitor] {
        assert!(!lines.contains(key.as_str()) && !lines.contains(&key[3..]), "a key in the logs");
    }
}

/// Pastes `key` into the sign-in form and presses Enter (the keyboard is enough), then waits for
/// the first page's live updates.
async fn sign_in_with(b: &Client, key: &str) {
    b.wait().at_most(WAIT).for_element(Locator::Css("#key")).await.expect("sign-in form");
    let field = b.find(Locator::Css("#key")).await.expect("key field");
    field.send_keys(&format!("{key}\u{E007}")).await.expect("typed");
    live(b).await;
}

/// Waits for the page's event stream to connect and for the refresh that follows the connection
/// (which replaces the page's content: an element found before it would go stale).
async fn live(b: &Client) {
    let connected = Locator::Css("body[data-live=connected][data-refreshes]");
    b.wait().at_most(WAIT).for_element(connected).await.expect("live updates connect");
}

async fn parked_ids(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT id::text FROM outbox_message WHERE status = 'parked' ORDER BY created_at, id")
        .fetch_all(&app.state.db)
        .await
        .expect("parked")
}

async fn status_of_message(app: &TestApp, id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM outbox_message WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(&app.state.db)
        .await
        .expect("message")
}

/// Saves a screenshot under the target directory (the README shows two, copied to `docs/`).
async fn screenshot(b: &Client, name: &str) {
    let png = b.screenshot().await.expect("screenshot");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot saved");
}

/// Chromium under chromedriver, on a fresh profile.
struct Browser {
    client: Client,
    driver: Child,
    _profile: TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let port = free_port();
        // Its own process group, which the Chromium it starts joins: killing the group leaves no
        // browser behind, even when the test panics before closing the session.
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver runs (scripts/test installs Debian's chromium and chromium-driver)");
        let profile = TempDir::new();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ];
        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.0.display()));
        let mut capabilities = serde_json::Map::new();
        capabilities
            .insert("goog:chromeOptions".into(), json!({"binary": "/usr/bin/chromium", "args": args}));
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        let mut driver = driver;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&url).await {
                Ok(client) => return Browser { client, driver, _profile: profile },
                Err(error) => last_error = error.to_string(),
            }
            if let Ok(Some(status)) = driver.try_wait() {
                panic!("chromedriver exited ({status})");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        kill_group(&mut driver);
        panic!("no WebDriver session: {last_error}");
    }

    async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}

/// Kills chromedriver and every process of its group (the browser).
fn kill_group(driver: &mut Child) {
    let _ = Command::new("kill").arg("-KILL").arg("--").arg(format!("-{}", driver.id())).status();
    let _ = driver.kill();
    let _ = driver.wait();
}

/// A fresh directory, removed afterwards.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("chromium-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("profile dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[derive(Clone)]
struct Proxy {
    target: String,
    client: reqwest::Client,
    seen: Seen,
}

/// A recording reverse proxy in front of the app at `http://localhost:<port>` (a host Chromium
/// treats as secure, so the `Secure` cookie works over plain HTTP).
async fn proxy(app: &TestApp) -> (Seen, String) {
    let seen = Seen::default();
    let client = switchboard::net::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let state = Proxy { target: app.address.clone(), client, seen: seen.clone() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let router = axum::Router::new().fallback(forward).with_state(state);
    tokio::spawn(async move { axum::serve(listener, router).await });
    (seen, format!("http://localhost:{port}"))
}

async fn forward(State(p): State<Proxy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let path = parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    p.seen.lock().expect("lock").push(format!(
        "{} {path} {:?} {}",
        parts.method,
        parts.headers,
        String::from_utf8_lossy(&body)
    ));
    let mut request = p.client.request(parts.method, format!("{}{path}", p.target)).body(body);
    for (name, value) in &parts.headers {
        if !["host", "content-length", "connection"].contains(&name.as_str()) {
            request = request.header(name, value);
        }
    }
    let Ok(response) = request.send().await else {
        return Response::builder().status(502).body(Body::empty()).expect("response");
    };
    let mut builder = Response::builder().status(response.status());
    for (name, value) in response.headers() {
        if !["content-length", "connection", "transfer-encoding"].contains(&name.as_str()) {
            builder = builder.header(name, value);
        }
    }
    let chunks = futures::stream::unfold(response, |mut r| async move {
        r.chunk().await.ok().flatten().map(|chunk| (Ok::<_, std::io::Error>(chunk), r))
    });
    builder.body(Body::from_stream(chunks)).expect("response")
}

/// Every log line the app writes on this test's thread (the test runtime is single-threaded, so
/// the app's tasks run here too), at debug level, as JSON with the spans.
fn debug_subscriber(logs: &Captured) -> impl tracing::Subscriber + Send + Sync + use<> {
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(logs.clone())
        .finish()
}
