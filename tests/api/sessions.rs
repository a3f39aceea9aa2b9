//! Call sessions: booking (times, zones, numbers, one active session per order) and who may see
//! and do what. The call's lifecycle is in `sessions_calls.rs`; both share [`Sessions`].

use crate::fixture::World;
use crate::helpers::TestApp;
use serde_json::{Value, json};
use sqlx::PgPool;

pub const CLIENT_NUMBER: &str = "+33612345678";
pub const READER_NUMBER: &str = "+12025550143";
pub const BUSINESS_NUMBER: &str = "+12025550100";

/// A tenant with a primary number and keys of every role: client `u_1`, reader `u_2` (the
/// sessions' parties), another client `u_9` and reader `u_8`, and a second tenant's admin.
pub struct Sessions {
    world: World,
    pub admin: String,
    pub monitor: String,
    pub client: String,
    pub reader: String,
    pub other_client: String,
    pub other_reader: String,
    pub foreign_admin: String,
}

impl std::ops::Deref for Sessions {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

pub async fn key(app: &TestApp, root: &str, tenant: &str, role: &str, subject: Option<&str>) -> String {
    let body = json!({"role": role, "subject": subject, "name": format!("{role} key")});
    let response = app.post_json(&format!("/api/tenants/{tenant}/keys"), root, body).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
    response.json::<Value>().await.expect("json")["token"].as_str().expect("token").to_owned()
}

impl Sessions {
    pub async fn new(pool: PgPool) -> Sessions {
        Self::with(pool, &[]).await
    }

    /// As [`Sessions::new`], with `extra` configuration.
    pub async fn with(pool: PgPool, extra: &[(&str, &str)]) -> Sessions {
        // Both legs leave in one outbox round.
        let vars = [
            ("SWITCHBOARD_EFFECTS__CALLS_PER_SECOND", "50"),
            ("SWITCHBOARD_MEDIA__LINK_SECRET", crate::recordings::LINK_SECRET),
        ];
        let world = World::builder(pool)
            .vars(&vars)
            .vars(extra)
            .tenant("tarot")
            .numbers(&[BUSINESS_NUMBER])
            .start()
            .await;
        let (app, root) = (&world.app, world.root.as_str());
        app.create_tenant(root, "other").await;
        Sessions {
            admin: key(app, root, "tarot", "admin", None).await,
            monitor: key(app, root, "tarot", "monitor", None).await,
            client: key(app, root, "tarot", "client", Some("u_1")).await,
            reader: key(app, root, "tarot", "reader", Some("u_2")).await,
            other_client: key(app, root, "tarot", "client", Some("u_9")).await,
            other_reader: key(app, root, "tarot", "reader", Some("u_8")).await,
            foreign_admin: key(app, root, "other", "admin", None).await,
            world,
        }
    }

    /// A booking for `order` at `scheduled_at` (with an offset) between `u_1` and `u_2`.
    pub fn booking(order: &str, scheduled_at: &str) -> Value {
        json!({"order_id": order, "client": {"subject": "u_1", "number": CLIENT_NUMBER},
            "reader": {"subject": "u_2", "number": READER_NUMBER}, "scheduled_at": scheduled_at,
            "duration_minutes": 30, "record": true, "auto_start": false})
    }

    /// Books `body` as the admin: (status, body).
    pub async fn schedule(&self, body: Value) -> (u16, Value) {
        let response = self.app.post_json("/api/calls/schedule", &self.admin, body).await;
        (response.status().as_u16(), response.json().await.expect("json"))
    }

    /// Books `order` five minutes from the frozen now; its id.
    pub async fn book(&self, order: &str) -> String {
        let (status, body) = self.schedule(Self::booking(order, "2026-11-23T15:05:00Z")).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    /// `method path` with `token` (and a JSON body): (status, body or null).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let response = self.app.call(method, path, token, body).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The session as the admin sees it.
    pub async fn session(&self, id: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("/api/calls/{id}"), &self.admin, None).await.1
    }
}

fn field_of(body: &Value) -> Vec<&str> {
    body["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|f| f["field"].as_str()).collect())
        .unwrap_or_default()
}

#[sqlx::test]
async fn a_booking_with_an_offset_or_a_local_time_and_zone_stores_the_right_instant(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (status, offset) = s.schedule(Sessions::booking("ord_1", "2026-12-01T18:00:00+01:00")).await;
    assert_eq!(status, 201, "{offset}");
    assert_eq!(
        (offset["scheduled_at"].as_str(), offset["status"].as_str()),
        (Some("2026-12-01T17:00:00Z"), Some("scheduled"))
    );
    let mut local = Sessions::booking("ord_2", "2026-12-01T18:00:00");
    local["timezone"] = json!("Europe/Paris");
    local["client"]["number"] = json!("+33 6 12 34 56 78");
    let (status, body) = s.schedule(local).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["scheduled_at"], "2026-12-01T17:00:00Z");
    assert_eq!(
        (body["timezone"].as_str(), body["client"]["number"].as_str()),
        (Some("Europe/Paris"), Some(CLIENT_NUMBER))
    );
    assert_eq!(body["client"]["sip_or_pstn"], "pstn");
    let stored: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT scheduled_at FROM call_session WHERE order_id = 'ord_2'")
            .fetch_one(&s.app.state.db)
            .await
            .expect("row");
    assert_eq!(stored.to_rfc3339(), "2026-12-01T17:00:00+00:00");
    let mut sip = Sessions::booking("ord_3", "2026-12-01T18:00:00Z");
    sip["reader"]["number"] = json!("sip:reader@pbx.example.com");
    let (status, body) = s.schedule(sip).await;
    assert_eq!((status, body["reader"]["sip_or_pstn"].as_str()), (201, Some("sip")));
}

#[sqlx::test]
async fn a_local_time_in_a_daylight_saving_gap_or_fold_is_refused_saying_which(pool: PgPool) {
    let s = Sessions::new(pool).await;
    for (order, local, word) in
        [("gap", "2027-03-28T02:30:00", "gap"), ("fold", "2027-10-31T02:30:00", "ambiguous")]
    {
        let mut body = Sessions::booking(order, local);
        body["timezone"] = json!("Europe/Paris");
        let (status, problem) = s.schedule(body).await;
        assert_eq!((status, field_of(&problem)), (422, vec!["scheduled_at"]), "{problem}");
        let message = problem["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(word), "{message}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM call_session")
        .fetch_one(&s.app.state.db)
        .await
        .expect("count");
    assert_eq!(count, 0);
}

#[sqlx::test]
async fn bad_numbers_and_times_are_422_naming_the_field(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let cases = [
        (json!({"client": {"subject": "u_1", "number": "0612345678"}}), "client.number"),
        (json!({"reader": {"subject": "u_2", "number": "+1"}}), "reader.number"),
        (json!({"scheduled_at": "next tuesday"}), "scheduled_at"),
        (json!({"scheduled_at": "2026-12-01T18:00:00"}), "timezone"),
        (json!({"scheduled_at": "2026-12-01T18:00:00", "timezone": "Mars/Olympus"}), "timezone"),
        (json!({"scheduled_at": "2026-11-01T18:00:00Z"}), "scheduled_at"),
        (json!({"duration_minutes": 0}), "duration_minutes"),
        (json!({"order_id": ""}), "order_id"),
    ];
    for (patch, field) in cases {
        let mut body = Sessions::booking("ord_bad", "2026-12-01T18:00:00Z");
        for (k, v) in patch.as_object().expect("object") {
            body[k] = v.clone();
        }
        let (status, problem) = s.schedule(body).await;
        assert_eq!(
            (status, problem["code"].as_str(), field_of(&problem)),
            (422, Some("validation_failed"), vec![field]),
            "{problem}"
        );
    }
}

#[sqlx::test]
async fn a_second_active_session_for_an_order_is_409_and_a_cancelled_one_frees_it(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let first = s.book("ord_7").await;
    let (status, problem) = s.schedule(Sessions::booking("ord_7", "2026-12-02T18:00:00Z")).await;
    assert_eq!((status, problem["code"].as_str()), (409, Some("conflict")));
    let cancel = s
        .call(
            reqwest::Method::POST,
            &format!("/api/calls/{first}/cancel"),
            &s.admin,
            Some(json!({"reason": "rebooked"})),
        )
        .await;
    assert_eq!((cancel.0, cancel.1["status"].as_str()), (200, Some("cancelled")));
    let again =
        s.call(reqwest::Method::POST, &format!("/api/calls/{first}/cancel"), &s.admin, Some(json!({}))).await;
    assert_eq!((again.0, again.1["code"].as_str()), (409, Some("invalid_transition")));
    let (status, _) = s.schedule(Sessions::booking("ord_7", "2026-12-02T18:00:00Z")).await;
    assert_eq!(status, 201);
    let audit: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_event WHERE entity_id = $1 ORDER BY sequence")
            .bind(&first)
            .fetch_all(&s.app.state.db)
            .await
            .expect("audit");
    assert_eq!(audit, ["SESSION_SCHEDULED", "SESSION_CANCELLED"]);
}

#[sqlx::test]
async fn only_an_admin_books_a_session(pool: PgPool) {
    let s = Sessions::new(pool).await;
    for token in [&s.client, &s.reader, &s.monitor] {
        let response = s
            .app
            .post_json("/api/calls/schedule", token, Sessions::booking("ord_x", "2026-12-01T18:00:00Z"))
            .await;
        assert_eq!(response.status(), 403);
    }
    let tenant = s
        .app
        .post_json(
            "/api/calls/schedule?tenant=tarot",
            &s.root,
            Sessions::booking("ord_x", "2026-12-01T18:00:00Z"),
        )
        .await;
    assert_eq!(tenant.status(), 201);
}

/// Each role × its own subject's session, another subject's, another tenant's → the status the
/// roles paragraph gives, for reading, listing, starting, ending, dropping and cancelling.
#[sqlx::test]
async fn every_role_sees_and_does_exactly_what_the_roles_allow(pool: PgPool) {
    use reqwest::Method;
    let s = Sessions::new(pool).await;
    let mine = s.book("ord_mine").await;
    let foreign = {
        let response = s
            .app
            .post_json(
                "/api/calls/schedule",
                &s.foreign_admin,
                Sessions::booking("ord_f", "2026-11-23T15:05:00Z"),
            )
            .await;
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned()
    };
    // (role, token, GET own, GET foreign tenant's, list count)
    let readers = [
        ("admin", &s.admin, 200, 404, 1),
        ("monitor", &s.monitor, 200, 404, 1),
        ("client u_1", &s.client, 200, 404, 1),
        ("reader u_2", &s.reader, 200, 404, 1),
        ("client u_9", &s.other_client, 404, 404, 0),
        ("reader u_8", &s.other_reader, 404, 404, 0),
    ];
    for (who, token, own, other, listed) in readers {
        assert_eq!(s.call(Method::GET, &format!("/api/calls/{mine}"), token, None).await.0, own, "{who} own");
        assert_eq!(
            s.call(Method::GET, &format!("/api/calls/{foreign}"), token, None).await.0,
            other,
            "{who} foreign"
        );
        let list = s.call(Method::GET, "/api/calls", token, None).await.1;
        assert_eq!(list["items"].as_array().map(Vec::len), Some(listed), "{who} list");
    }
    let root = s.call(Method::GET, &format!("/api/calls/{foreign}?tenant=other"), &s.root, None).await;
    assert_eq!(root.0, 200);
    // Actions a role may never take: 403 before any lookup, whatever the session.
    let body = || Some(json!({"reason": "test"}));
    let forbidden = [
        (Method::POST, format!("/api/calls/{mine}/cancel"), &s.monitor),
        (Method::POST, format!("/api/calls/{mine}/cancel"), &s.client),
        (Method::POST, format!("/api/calls/{mine}/cancel"), &s.reader),
        (Method::POST, "/api/calls/ord_mine/start".to_owned(), &s.client),
        (Method::POST, "/api/calls/ord_mine/start".to_owned(), &s.monitor),
        (Method::POST, format!("/api/calls/{mine}/end"), &s.admin),
        (Method::POST, format!("/api/calls/{mine}/end"), &s.monitor),
        (Method::POST, format!("/api/calls/{mine}/drop"), &s.client),
        (Method::POST, format!("/api/calls/{mine}/drop"), &s.reader),
    ];
    for (method, path, token) in forbidden {
        assert_eq!(s.call(method, &path, token, body()).await.0, 403, "{path}");
    }
    // Allowed roles on a session they may not see: 404.
    let hidden = [
        (format!("/api/calls/{mine}/end"), &s.other_client),
        (format!("/api/calls/{mine}/end"), &s.other_reader),
        ("/api/calls/ord_mine/start".to_owned(), &s.other_reader),
        (format!("/api/calls/{foreign}/drop"), &s.monitor),
        (format!("/api/calls/{foreign}/cancel"), &s.admin),
        ("/api/calls/ord_f/start".to_owned(), &s.admin),
    ];
    for (path, token) in hidden {
        assert_eq!(s.call(Method::POST, &path, token, body()).await.0, 404, "{path}");
    }
    // Allowed and visible: ending before the start is a 409, the reader's start goes through.
    assert_eq!(s.call(Method::POST, &format!("/api/calls/{mine}/end"), &s.client, body()).await.0, 409);
    let started = s.call(Method::POST, "/api/calls/ord_mine/start", &s.reader, None).await;
    assert_eq!((started.0, started.1["status"].as_str()), (200, Some("initiating")));
}

#[sqlx::test]
async fn a_session_starts_from_ten_minutes_before_its_time_and_not_earlier(pool: PgPool) {
    use reqwest::Method;
    let s = Sessions::new(pool).await;
    // The clock is frozen at 15:00; the session is at 15:30, so it may start from 15:20.
    let (status, body) = s.schedule(Sessions::booking("ord_later", "2026-11-23T15:30:00Z")).await;
    assert_eq!(status, 201, "{body}");
    let early = s.call(Method::POST, "/api/calls/ord_later/start", &s.reader, None).await;
    assert_eq!((early.0, early.1["code"].as_str()), (409, Some("conflict")), "{}", early.1);
    s.clock.advance(chrono::Duration::minutes(20) - chrono::Duration::seconds(1));
    assert_eq!(s.call(Method::POST, "/api/calls/ord_later/start", &s.reader, None).await.0, 409);
    assert!(s.fake.creates().is_empty(), "nobody was dialled");
    s.clock.advance(chrono::Duration::seconds(1));
    let started = s.call(Method::POST, "/api/calls/ord_later/start", &s.reader, None).await;
    assert_eq!((started.0, started.1["status"].as_str()), (200, Some("initiating")), "{}", started.1);
}

#[sqlx::test]
async fn the_list_filters_by_status_and_scheduled_instants_and_refuses_bad_values(pool: PgPool) {
    use reqwest::Method;
    let s = Sessions::new(pool).await;
    let early = s.book("ord_a").await;
    let (status, late) = s.schedule(Sessions::booking("ord_b", "2026-12-24T18:00:00Z")).await;
    assert_eq!(status, 201);
    s.call(Method::POST, &format!("/api/calls/{early}/cancel"), &s.admin, Some(json!({}))).await;
    let ids = |page: Value| -> Vec<String> {
        page["items"]
            .as_array()
            .map(|i| i.iter().filter_map(|x| x["id"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let scheduled = s.call(Method::GET, "/api/calls?status=scheduled", &s.monitor, None).await.1;
    assert_eq!(ids(scheduled), [late["id"].as_str().expect("id")]);
    let window = "/api/calls?scheduled_from=2026-11-23T00:00:00Z&scheduled_to=2026-11-24T00:00:00Z";
    assert_eq!(ids(s.call(Method::GET, window, &s.admin, None).await.1), [early.as_str()]);
    let paged = s.call(Method::GET, "/api/calls?limit=1", &s.admin, None).await.1;
    assert_eq!(ids(paged.clone()), [early.as_str()]);
    let cursor = paged["next_cursor"].as_str().expect("more");
    let next = s.call(Method::GET, &format!("/api/calls?limit=1&cursor={cursor}"), &s.admin, None).await.1;
    assert_eq!(ids(next), [late["id"].as_str().expect("id")]);
    for (query, field) in [("status=done", "status"), ("scheduled_from=yesterday", "scheduled_from")] {
        let (code, problem) = s.call(Method::GET, &format!("/api/calls?{query}"), &s.admin, None).await;
        assert_eq!((code, problem["errors"][0]["field"].as_str()), (422, Some(field)), "{problem}");
    }
}

#[sqlx::test]
async fn a_superadmins_unknown_tenant_is_404_on_a_sessions_and_a_sirens_routes(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let id = s.book("ord_t").await;
    let (status, _) =
        s.call(reqwest::Method::GET, &format!("/api/calls/{id}?tenant=tarot"), &s.root, None).await;
    assert_eq!(status, 200, "the control: the right tenant finds it");
    let (status, body) =
        s.call(reqwest::Method::GET, &format!("/api/calls/{id}?tenant=no-such"), &s.root, None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let siren = json!({"alert_type": "technical_problem", "reason": "no audio"});
    let (status, body) =
        s.call(reqwest::Method::POST, &format!("/api/calls/{id}/siren"), &s.admin, Some(siren)).await;
    assert_eq!(status, 201, "{body}");
    let siren = body["id"].as_str().expect("id").to_owned();
    let unknown = format!("/api/sirens/{siren}/acknowledge?tenant=no-such");
    assert_eq!(s.call(reqwest::Method::POST, &unknown, &s.root, None).await.0, 404);
    let known = format!("/api/sirens/{siren}/acknowledge?tenant=tarot");
    assert_eq!(s.call(reqwest::Method::POST, &known, &s.root, None).await.0, 200);
}

/// The audit actions of a session, in order.
async fn session_actions(s: &Sessions, id: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT action FROM audit_event WHERE entity_id = $1 ORDER BY sequence")
        .bind(id)
        .fetch_all(&s.app.state.db)
        .await
        .expect("audit")
}

#[sqlx::test]
async fn start_by_order_acts_on_its_newest_session_and_a_started_one_cannot_be_cancelled(pool: PgPool) {
    use reqwest::Method;
    let s = Sessions::new(pool).await;
    let first = s.book("ord_re").await;
    let cancel = |id: &str| format!("/api/calls/{id}/cancel");
    let (code, cancelled) =
        s.call(Method::POST, &cancel(first.as_str()), &s.admin, Some(json!({"reason": "rebooked"}))).await;
    assert_eq!((code, cancelled["status"].as_str()), (200, Some("cancelled")), "{cancelled}");
    // Booked again a second later (on the frozen clock both would share their created_at).
    s.clock.advance(chrono::Duration::seconds(1));
    let second = s.book("ord_re").await;
    assert_ne!(first, second);
    let (code, started) = s.call(Method::POST, "/api/calls/ord_re/start", &s.admin, None).await;
    assert_eq!(
        (code, started["id"].as_str(), started["status"].as_str()),
        (200, Some(second.as_str()), Some("initiating")),
        "{started}"
    );
    assert_eq!(s.session(&first).await["status"], "cancelled", "the cancelled one stays cancelled");
    assert_eq!(session_actions(&s, &first).await, ["SESSION_SCHEDULED", "SESSION_CANCELLED"]);
    let actions = session_actions(&s, &second).await;
    assert!(actions.iter().any(|a| a == "SESSION_STARTED"), "{actions:?}");
    // Cancel is before the start only.
    let (code, problem) =
        s.call(Method::POST, &cancel(second.as_str()), &s.admin, Some(json!({"reason": "too late"}))).await;
    assert_eq!((code, problem["code"].as_str()), (409, Some("invalid_transition")), "{problem}");
    assert_eq!(s.session(&second).await["status"], "initiating");
    assert!(!session_actions(&s, &second).await.iter().any(|a| a == "SESSION_CANCELLED"));
}

/// README (booking): `duration_minutes` is 1–720: twelve hours are booked, a minute more is a 422
/// naming the field, and nothing is stored for it.
#[sqlx::test]
async fn a_duration_of_720_minutes_is_booked_and_721_is_422_naming_duration_minutes(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let mut longest = Sessions::booking("ord_long", "2026-12-01T18:00:00Z");
    longest["duration_minutes"] = json!(720);
    let (status, body) = s.schedule(longest).await;
    assert_eq!((status, body["duration_minutes"].as_i64()), (201, Some(720)), "{body}");
    let mut too_long = Sessions::booking("ord_too_long", "2026-12-01T18:00:00Z");
    too_long["duration_minutes"] = json!(721);
    let (status, problem) = s.schedule(too_long).await;
    assert_eq!(
        (status, problem["code"].as_str(), field_of(&problem)),
        (422, Some("validation_failed"), vec!["duration_minutes"]),
        "{problem}"
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM call_session WHERE order_id = 'ord_too_long'")
        .fetch_one(&s.app.state.db)
        .await
        .expect("count");
    assert_eq!(stored, 0);
}
