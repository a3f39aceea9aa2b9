//! Uploading a run's leads: JSON and CSV in chunks, bad rows, `skip_invalid`, duplicates.

use crate::outbound_support::{ACME_FROM, leads, setup};
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test]
async fn json_and_csv_chunks_add_up_with_duplicates_by_id_and_by_number(pool: PgPool) {
    let o = setup(pool).await;
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    let response = o.upload(&o.acme, &run, leads("L", 3, 100), false).await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.expect("json");
    assert_eq!((report["added"].as_u64(), report["total"].as_i64()), (Some(3), Some(3)));

    // CSV: numbers normalized; L1 again (by id) is left alone; 415-555-0100 again (by number) is
    // added as a duplicate, and so is the repeat inside this chunk.
    let csv = "lead_id,number,name,timezone,source\nC1,+1 (415) 555-0200,Ann,America/Chicago,web\nL1,+14155550999,,,\nC2,+1 415 555 0100,,,\nC3,+14155550200,,,\n";
    let response = o.upload_csv(&o.acme, &run, csv, false).await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.expect("json");
    assert_eq!(report["added"], 1);
    assert_eq!(report["existing"], json!([{"row": 1, "lead_id": "L1", "reason": "lead_id_exists"}]));
    let dups: Vec<&str> = report["duplicates"]
        .as_array()
        .expect("list")
        .iter()
        .map(|d| d["lead_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(dups, vec!["C2", "C3"]);
    assert_eq!(report["total"], 6);

    let jobs: Value = o
        .app
        .get_auth(&format!("/api/outbound/runs/{run}/jobs?status=duplicate"), &o.acme)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(jobs["items"].as_array().map(Vec::len), Some(2));
    let all: Value = o
        .app
        .get_auth(&format!("/api/outbound/runs/{run}/jobs?limit=200"), &o.acme)
        .await
        .json()
        .await
        .expect("json");
    let c1 =
        all["items"].as_array().expect("items").iter().find(|j| j["lead_id"] == "C1").cloned().expect("C1");
    assert_eq!(c1["number"], "+14155550200");
    assert_eq!(c1["data"], json!({"source": "web"}));
    assert_eq!(c1["timezone"], "America/Chicago");

    o.start(&o.acme, &run).await;
    for _ in 0..10 {
        o.tick().await;
        o.end_all(ACME_FROM, "completed").await;
    }
    let view = o.run(&o.acme, &run).await;
    assert_eq!(view["status"], "completed");
    assert_eq!((view["completed"].as_i64(), view["duplicate"].as_i64()), (Some(4), Some(2)));
    assert_eq!(o.creates_from(ACME_FROM).len(), 4, "each number dialled once");
}

#[sqlx::test]
async fn bad_rows_are_refused_one_by_one_and_nothing_is_added(pool: PgPool) {
    let o = setup(pool).await;
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    let body = json!({"leads": [
        {"lead_id": "ok", "number": "+14155550100"},
        {"lead_id": "bad-number", "number": "555"},
        {"number": "+14155550101"},
        {"lead_id": "bad-zone", "number": "+14155550102", "timezone": "Mars/Base"},
    ]});
    let response = o.upload(&o.acme, &run, body.clone(), false).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "validation_failed");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(fields, vec!["leads[1].number", "leads[2].lead_id", "leads[3].timezone"]);
    assert_eq!(o.run(&o.acme, &run).await["total"], 0, "nothing added");

    let response = o.upload(&o.acme, &run, body, true).await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.expect("json");
    assert_eq!((report["added"].as_u64(), report["received"].as_u64()), (Some(1), Some(4)));
    assert_eq!(report["invalid"].as_array().map(Vec::len), Some(3));

    let csv = "lead_id,number\nx1,not-a-number\n";
    let response = o.upload_csv(&o.acme, &run, csv, false).await;
    assert_eq!(response.status(), 422);
    let response = o.upload_csv(&o.acme, &run, "id,phone\n1,+14155550100\n", false).await;
    assert_eq!(response.status(), 422, "a CSV without lead_id and number columns");
    let response = o
        .app
        .client
        .post(o.app.url(&format!("/api/outbound/runs/{run}/leads")))
        .bearer_auth(&o.acme)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 415);
}

#[sqlx::test]
async fn an_upload_larger_than_the_general_body_limit_is_taken_up_to_its_own(pool: PgPool) {
    let o = crate::outbound_support::setup_with(
        pool,
        &[
            crate::outbound_support::FAST,
            ("SWITCHBOARD_SERVER__BODY_LIMIT_BYTES", "2048"),
            ("SWITCHBOARD_OUTBOUND__UPLOAD_LIMIT_BYTES", "200000"),
        ],
    )
    .await;
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    let mut csv = String::from("lead_id,number\n");
    for i in 0..500 {
        csv.push_str(&format!("{i},+1415556{i:04}\n"));
    }
    assert!(csv.len() > 2048);
    let response = o.upload_csv(&o.acme, &run, &csv, false).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
    let big = "x".repeat(300_000);
    let response = o.upload_csv(&o.acme, &run, &big, false).await;
    assert_eq!(response.status(), 413);
    assert_eq!(o.run(&o.acme, &run).await["total"], 500);
}

#[sqlx::test]
async fn jobs_are_listed_in_upload_order_page_by_page(pool: PgPool) {
    let o = setup(pool).await;
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    o.upload(&o.acme, &run, leads("L", 3, 100), false).await;
    o.upload_csv(&o.acme, &run, "lead_id,number\nC0,+14155550300\nC1,+14155550301\n", false).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let mut path = format!("/api/outbound/runs/{run}/jobs?limit=2");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Value = o.app.get_auth(&path, &o.acme).await.json().await.expect("json");
        for job in page["items"].as_array().expect("items") {
            seen.push(job["lead_id"].as_str().expect("lead").to_owned());
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, vec!["L0", "L1", "L2", "C0", "C1"]);
}

/// `n` leads all on one number (the parser remembers it, so even 100 000 rows parse cheaply; after
/// the first, each is a `duplicate`). `outbound_support::leads` does not scale this far: its
/// numbers outgrow their four digits past 10 000 leads.
fn on_one_number(prefix: &str, n: usize) -> Value {
    let leads: Vec<Value> =
        (0..n).map(|i| json!({"lead_id": format!("{prefix}{i}"), "number": "+14155550100"})).collect();
    json!({"leads": leads})
}

/// The businesses with room for uploads of 100 000 leads in one request on a slow machine.
async fn setup_for_big_uploads(pool: PgPool) -> crate::outbound_support::O {
    crate::outbound_support::setup_with(
        pool,
        &[crate::outbound_support::FAST, ("SWITCHBOARD_SERVER__REQUEST_TIMEOUT_SECS", "120")],
    )
    .await
}

/// The run's jobs as stored.
async fn stored_jobs(o: &crate::outbound_support::O, run: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbound_job WHERE run_id::text = $1")
        .bind(run)
        .fetch_one(&o.app.state.db)
        .await
        .expect("count")
}

/// The fields a 422 names.
fn named_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[sqlx::test]
async fn an_upload_of_more_than_100_000_leads_is_422_naming_leads_and_stores_nothing(pool: PgPool) {
    let o = setup_for_big_uploads(pool).await;
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    let response = o.upload(&o.acme, &run, on_one_number("L", 100_001), false).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "validation_failed");
    assert_eq!(named_fields(&problem), vec!["leads".to_owned()], "{}", problem["errors"]);
    assert_eq!(stored_jobs(&o, &run).await, 0, "nothing stored");
    assert_eq!(o.run(&o.acme, &run).await["total"], 0);
    let uploaded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_event WHERE entity_id = $1 AND action = 'OUTBOUND_LEADS_UPLOADED'",
    )
    .bind(&run)
    .fetch_one(&o.app.state.db)
    .await
    .expect("audit");
    assert_eq!(uploaded, 0, "a refused upload is not audited as uploaded");
}

#[sqlx::test]
async fn a_run_takes_exactly_100_000_leads_and_refuses_one_more_in_a_later_upload(pool: PgPool) {
    let o = setup_for_big_uploads(pool).await;
    let run = o.create_run(&o.acme, ACME_FROM, None).await;
    let response = o.upload(&o.acme, &run, on_one_number("L", 100_000), false).await;
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.expect("json");
    assert_eq!(
        (report["received"].as_u64(), report["added"].as_u64(), report["total"].as_i64()),
        (Some(100_000), Some(1), Some(100_000))
    );
    assert_eq!(report["duplicates"].as_array().map(Vec::len), Some(99_999));
    assert_eq!(stored_jobs(&o, &run).await, 100_000);

    // The limit is the run's, not the upload's: one more lead in a later chunk is refused.
    let one = json!({"leads": [{"lead_id": "one-more", "number": "+14155550199"}]});
    let response = o.upload(&o.acme, &run, one, false).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "validation_failed");
    assert_eq!(named_fields(&problem), vec!["leads".to_owned()], "{}", problem["errors"]);
    assert_eq!(stored_jobs(&o, &run).await, 100_000, "nothing added");
    let one_more: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbound_job WHERE run_id::text = $1 AND lead_id = 'one-more'",
    )
    .bind(&run)
    .fetch_one(&o.app.state.db)
    .await
    .expect("count");
    assert_eq!(one_more, 0);
}
