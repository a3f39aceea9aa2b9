//! Route guards and database policies agree, against a matrix written here by hand (not derived
//! from the code): every sessions and sirens endpoint × role × object (a session of the key's own
//! subject, one of another subject in the same tenant, one of another tenant with the same
//! subjects) → the status the route must answer. Then, for each role and subject, a `SELECT` with
//! no `WHERE` on each table as `switchboard_app` with that tenant, role and subject set must
//! return exactly the rows the same matrix lets the role read. And a deliberately unfiltered
//! query through the application's own scoped transaction under a client key returns only that
//! client's rows.
//!
//! The recordings' tables are in [`TABLES`] (their rows written directly for each session); to
//! extend it further, add the endpoints to [`MATRIX`] and the table to [`TABLES`].

use crate::sessions::{BUSINESS_NUMBER, CLIENT_NUMBER, READER_NUMBER, Sessions, key};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{PgPool, Row};
use std::collections::{BTreeMap, BTreeSet};
use switchboard::auth::{Operator, Role};
use uuid::Uuid;

/// The roles, in the matrix's column order.
const ROLES: [&str; 5] = ["superadmin", "admin", "monitor", "client", "reader"];

/// Which object a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Object {
    /// The key's own subject (client `u_1`, reader `u_2`) in its tenant.
    Own,
    /// Another subject (client `u_9`, reader `u_8`) in the same tenant.
    Other,
    /// Another tenant, with the same subjects `u_1` and `u_2`.
    Foreign,
}
use Object::{Foreign, Other, Own};
const OBJECTS: [Object; 3] = [Own, Other, Foreign];

/// What an endpoint answers for one role and object: a status, or for a list whether the object
/// is in it (`L`: 200 and listed, `H`: 200 and hidden).
const L: u16 = 1;
const H: u16 = 2;

/// An endpoint: method, path (`{id}` the session, `{order}` its order, `{siren}` its siren), body.
type Endpoint = (&'static str, &'static str, Option<&'static str>);

/// Rows: endpoint, then per role (superadmin, admin, monitor, client, reader) the answers for
/// (own, other, foreign). Superadmin requests name `?tenant=tarot`.
#[rustfmt::skip]
const MATRIX: &[(Endpoint, [[u16; 3]; 5])] = &[
    (("GET", "/api/calls?limit=200", None),
        [[L, L, H], [L, L, H], [L, L, H], [L, H, H], [L, H, H]]),
    (("GET", "/api/calls/{id}", None),
        [[200, 200, 404], [200, 200, 404], [200, 200, 404], [200, 404, 404], [200, 404, 404]]),
    // Started sessions cannot be cancelled: 409 means the guards let it through.
    (("POST", "/api/calls/{id}/cancel", Some("{}")),
        [[409, 409, 404], [409, 409, 404], [403, 403, 403], [403, 403, 403], [403, 403, 403]]),
    (("POST", "/api/calls/{order}/start", None),
        [[200, 200, 404], [200, 200, 404], [403, 403, 403], [403, 403, 403], [200, 404, 404]]),
    (("POST", "/api/calls/{id}/end", Some("{}")),
        [[403, 403, 403], [403, 403, 403], [403, 403, 403], [200, 404, 404], [200, 404, 404]]),
    (("POST", "/api/calls/{id}/drop", Some(r#"{"reason": "test"}"#)),
        [[200, 200, 404], [200, 200, 404], [200, 200, 404], [403, 403, 403], [403, 403, 403]]),
    (("POST", "/api/calls/{id}/siren", Some(r#"{"alert_type": "quality_issue", "reason": "echo"}"#)),
        [[201, 201, 404], [201, 201, 404], [201, 201, 404], [201, 404, 404], [201, 404, 404]]),
    (("GET", "/api/sirens?call_id={id}", None),
        [[L, L, H], [L, L, H], [L, L, H], [403, 403, 403], [403, 403, 403]]),
    (("POST", "/api/sirens/{siren}/acknowledge", None),
        [[200, 200, 404], [200, 200, 404], [200, 200, 404], [403, 403, 403], [403, 403, 403]]),
    (("POST", "/api/sirens/{siren}/resolve", Some(r#"{"resolution": "false_alarm"}"#)),
        [[200, 200, 404], [200, 200, 404], [200, 200, 404], [403, 403, 403], [403, 403, 403]]),
];

/// Booking has no object: per role.
const SCHEDULE: [u16; 5] = [201, 201, 403, 403, 403];

/// The tables whose rows belong to a session, and the query (no `WHERE`) naming each row's
/// session. Each must show a role exactly the rows of the sessions `GET /api/calls/{id}` lets it
/// read.
const TABLES: &[(&str, &str)] = &[
    ("call_session", "SELECT id FROM call_session"),
    ("call_session_leg", "SELECT session_id FROM call_session_leg"),
    ("siren", "SELECT session_id FROM siren"),
    ("session_recording", "SELECT session_id FROM session_recording"),
    ("session_recording_control", "SELECT session_id FROM session_recording_control"),
];

struct World {
    s: Sessions,
    keys: BTreeMap<&'static str, String>,
    /// Every session created, and which object it is (for a client `u_1` / reader `u_2` key).
    objects: BTreeMap<Uuid, Object>,
    next: usize,
}

/// One session of each object, started, with a siren raised by its tenant's admin.
struct Set {
    sessions: BTreeMap<Object, (Uuid, String)>,
    sirens: BTreeMap<Object, String>,
}

impl World {
    async fn new(pool: PgPool) -> World {
        let s = Sessions::new(pool).await;
        let numbers = json!({"number": "+12025550101"});
        let response = s.app.post_json("/api/tenants/other/numbers", &s.root, numbers).await;
        assert_eq!(response.status(), 201);
        let foreign_client = key(&s.app, &s.root, "other", "client", Some("u_1")).await;
        let keys = BTreeMap::from([
            ("superadmin", s.root.clone()),
            ("admin", s.admin.clone()),
            ("monitor", s.monitor.clone()),
            ("client", s.client.clone()),
            ("reader", s.reader.clone()),
            ("foreign_client", foreign_client),
        ]);
        World { s, keys, objects: BTreeMap::new(), next: 0 }
    }

    async fn set(&mut self) -> Set {
        let mut set = Set { sessions: BTreeMap::new(), sirens: BTreeMap::new() };
        for object in OBJECTS {
            self.next += 1;
            let order = format!("ord_{}", self.next);
            let (client, reader) = if object == Other { ("u_9", "u_8") } else { ("u_1", "u_2") };
            let admin = if object == Foreign { self.s.foreign_admin.clone() } else { self.s.admin.clone() };
            let body = json!({"order_id": order, "client": {"subject": client, "number": CLIENT_NUMBER},
                "reader": {"subject": reader, "number": READER_NUMBER}, "scheduled_at": "2026-11-23T15:05:00Z",
                "duration_minutes": 30});
            let response = self.s.app.post_json("/api/calls/schedule", &admin, body).await;
            assert_eq!(response.status(), 201);
            let id = response.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
            let (status, _) =
                self.s.call(Method::POST, &format!("/api/calls/{order}/start"), &admin, None).await;
            assert_eq!(status, 200);
            let siren = json!({"alert_type": "technical_problem", "reason": "static"});
            let (status, siren) =
                self.s.call(Method::POST, &format!("/api/calls/{id}/siren"), &admin, Some(siren)).await;
            assert_eq!(status, 201, "{siren}");
            let id = Uuid::parse_str(&id).expect("uuid");
            recording_of(&self.s.app.state.db, id).await;
            self.objects.insert(id, object);
            set.sessions.insert(object, (id, order));
            set.sirens.insert(object, siren["id"].as_str().expect("id").to_owned());
        }
        set
    }
}

/// A completed recording and its control row for session `id`, written as the table owner (no
/// policies) the way the status callback writes them: the recordings' policies are then checked
/// against the same matrix.
async fn recording_of(db: &PgPool, id: Uuid) {
    sqlx::query(
        "INSERT INTO session_recording (id, tenant_id, session_id, sid, party, status, created_at, updated_at)
         SELECT gen_random_uuid(), tenant_id, id, 'RE' || replace(gen_random_uuid()::text, '-', ''), 'reader',
                'completed', now(), now()
         FROM call_session WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await
    .expect("recording");
    sqlx::query(
        "INSERT INTO session_recording_control (session_id, tenant_id, updated_at)
         SELECT id, tenant_id, now() FROM call_session WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await
    .expect("control");
}

fn listed(page: &Value, id: &str) -> bool {
    page["items"].as_array().is_some_and(|items| items.iter().any(|i| i["id"] == id || i["session_id"] == id))
}

#[sqlx::test]
async fn the_routes_and_the_policies_both_match_the_hand_written_matrix(pool: PgPool) {
    let mut w = World::new(pool.clone()).await;
    let mut mismatches = Vec::new();

    for (r, role) in ROLES.iter().enumerate() {
        let token = w.keys[role].clone();
        let suffix = if *role == "superadmin" { "?tenant=tarot" } else { "" };
        let body = json!({"order_id": format!("ord_book_{role}"), "client": {"subject": "u_1", "number": CLIENT_NUMBER},
            "reader": {"subject": "u_2", "number": READER_NUMBER}, "scheduled_at": "2026-11-23T16:00:00Z",
            "duration_minutes": 30});
        let path = format!("/api/calls/schedule{suffix}");
        let (status, booked) = w.s.call(Method::POST, &path, &token, Some(body)).await;
        if let Some(id) = booked["id"].as_str().filter(|_| status == 201) {
            // Booked for u_1 and u_2 in tarot: the keys' own subjects.
            w.objects.insert(Uuid::parse_str(id).expect("uuid"), Own);
        }
        if status != SCHEDULE[r] {
            mismatches
                .push(format!("POST /api/calls/schedule as {role}: {status}, expected {}", SCHEDULE[r]));
        }
    }

    for ((method, template, body), expected) in MATRIX {
        for (r, role) in ROLES.iter().enumerate() {
            // Fresh objects for each row and role: a success changes them.
            let set = w.set().await;
            let token = w.keys[role].clone();
            for (o, object) in OBJECTS.iter().enumerate() {
                let (id, order) = &set.sessions[object];
                let siren = &set.sirens[object];
                let mut path = template
                    .replace("{id}", &id.to_string())
                    .replace("{order}", order)
                    .replace("{siren}", siren);
                if *role == "superadmin" {
                    path.push_str(if path.contains('?') { "&tenant=tarot" } else { "?tenant=tarot" });
                }
                let method = Method::from_bytes(method.as_bytes()).expect("method");
                let body = body.map(|b| serde_json::from_str::<Value>(b).expect("body"));
                let (status, answer) = w.s.call(method.clone(), &path, &token, body).await;
                let want = expected[r][o];
                let got = match (want, status) {
                    (L | H, 200) => {
                        let needle = if template.contains("sirens") { siren.clone() } else { id.to_string() };
                        if listed(&answer, &needle) { L } else { H }
                    }
                    (_, status) => status,
                };
                if got != want {
                    let answer: String = answer.to_string().chars().take(300).collect();
                    mismatches.push(format!(
                        "{method} {template} as {role} on {object:?}: {got}, expected {want} ({answer})"
                    ));
                }
            }
        }
    }
    assert!(mismatches.is_empty(), "routes disagree with the matrix:\n{}", mismatches.join("\n"));

    // The database: every table, as switchboard_app with each role and subject set, no WHERE.
    let tenant: Uuid = sqlx::query_scalar("SELECT id FROM tenant WHERE slug = 'tarot'")
        .fetch_one(&pool)
        .await
        .expect("tenant");
    let read =
        MATRIX.iter().find(|((m, p, _), _)| *m == "GET" && *p == "/api/calls/{id}").expect("read row").1;
    for (r, role) in ROLES.iter().enumerate() {
        let subject = match *role {
            "client" => "u_1",
            "reader" => "u_2",
            _ => "",
        };
        let may_read =
            |object: Object| read[r][OBJECTS.iter().position(|o| *o == object).expect("object")] == 200;
        for (table, select) in TABLES {
            // Everything there is, seen by the owner (no policies), kept to what the test made.
            let all: Vec<Uuid> = sqlx::query_scalar(*select).fetch_all(&pool).await.expect("all");
            let expected: Vec<Uuid> =
                all.iter().copied().filter(|id| w.objects.get(id).is_some_and(|o| may_read(*o))).collect();
            let mut tx = pool.begin().await.expect("begin");
            sqlx::query(
                "SELECT set_config('role', 'switchboard_app', true), set_config('switchboard.tenant_id', $1, true),
                        set_config('switchboard.role', $2, true), set_config('switchboard.subject', $3, true)",
            )
            .bind(tenant.to_string())
            .bind(role)
            .bind(subject)
            .execute(&mut *tx)
            .await
            .expect("scope");
            let seen: Vec<Uuid> = sqlx::query(*select)
                .fetch_all(&mut *tx)
                .await
                .expect("select")
                .iter()
                .map(|row| row.get::<Uuid, _>(0))
                .collect();
            tx.rollback().await.expect("rollback");
            let (mut seen, mut expected) = (seen, expected);
            seen.sort();
            expected.sort();
            assert!(!expected.is_empty(), "{table} as {role}: the test made nothing to see");
            assert_eq!(seen, expected, "{table} as {role} ({subject}) disagrees with the matrix");
        }
    }
}

#[sqlx::test]
async fn an_unfiltered_query_under_a_client_key_returns_only_that_clients_rows(pool: PgPool) {
    let mut w = World::new(pool.clone()).await;
    let set = w.set().await;
    let tenant: Uuid = sqlx::query_scalar("SELECT id FROM tenant WHERE slug = 'tarot'")
        .fetch_one(&pool)
        .await
        .expect("tenant");
    let client = Operator {
        key_id: Uuid::new_v4(),
        tenant: Some(switchboard::ids::TenantId(tenant)),
        role: Role::Client,
        subject: Some("u_1".into()),
    };
    // The application's own request transaction, and queries that forget the subject.
    let mut tx = switchboard::auth::scope::operator_tx(&pool, switchboard::ids::TenantId(tenant), &client)
        .await
        .expect("scope");
    let sessions: BTreeSet<Uuid> = sqlx::query_scalar("SELECT id FROM call_session")
        .fetch_all(&mut *tx)
        .await
        .expect("sessions")
        .into_iter()
        .collect();
    let sirens: BTreeSet<Uuid> = sqlx::query_scalar("SELECT session_id FROM siren")
        .fetch_all(&mut *tx)
        .await
        .expect("sirens")
        .into_iter()
        .collect();
    let own = BTreeSet::from([set.sessions[&Own].0]);
    assert_eq!((sessions, sirens), (own.clone(), own));
    // Nor can it write another subject's rows.
    let other = set.sessions[&Other].0;
    let updated = sqlx::query("UPDATE call_session SET siren_triggered = true WHERE id = $1")
        .bind(other)
        .execute(&mut *tx)
        .await
        .expect("update")
        .rows_affected();
    assert_eq!(updated, 0);
    tx.rollback().await.expect("rollback");
    let _ = BUSINESS_NUMBER;
}
