//! Signed recording links: the audio streamed from the fake Twilio (Basic auth, `Range`), on any
//! replica sharing the secret (and across a rotation), 403 when expired, tampered, unknown or
//! deleted; deletion reaching Twilio exactly once.

use crate::fake_twilio::AUDIO;
use crate::fixture::{PUBLIC, app_on, deliver};
use crate::helpers::TestApp;
use crate::recordings::{LINK_SECRET, recording_callback, recordings, started};
use crate::sessions::Sessions;
use crate::sessions_calls::in_progress;
use reqwest::Method;
use sqlx::PgPool;

/// A completed recording of a session in progress: (session id, recording id, its link).
async fn completed(s: &Sessions) -> (String, String, String) {
    let (id, _client, reader) = in_progress(s, "ord_1").await;
    started(s, &id).await;
    let re = format!("RE{:032x}", 0xDEF0_0001u64);
    assert_eq!(recording_callback(s, &reader.sid, &re, "completed").await.status(), 200);
    let list = recordings(s, &id).await;
    let item = &list["items"][0];
    let link = item["download_url"].as_str().expect("a link").to_owned();
    (id, item["id"].as_str().expect("id").to_owned(), link)
}

/// Fetches `link` (issued for [`PUBLIC`]) from `app`, with an optional `Range`.
async fn fetch(app: &TestApp, link: &str, range: Option<&str>) -> reqwest::Response {
    let path = link.strip_prefix(PUBLIC).expect("a public link");
    let mut request = app.client.get(app.url(path));
    if let Some(range) = range {
        request = request.header("range", range);
    }
    request.send().await.expect("fetch")
}

#[sqlx::test]
async fn a_link_streams_the_audio_with_ranges_on_any_replica_and_across_a_rotation(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, rid, link) = completed(&s).await;
    assert!(link.starts_with(&format!("{PUBLIC}/media/recordings/{rid}?expires=")), "{link}");

    let whole = fetch(&s.app, &link, None).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "audio/x-wav");
    assert_eq!(whole.headers()["content-length"], AUDIO.len().to_string().as_str());
    assert_eq!(whole.bytes().await.expect("bytes").as_ref(), AUDIO);
    let part = fetch(&s.app, &link, Some("bytes=0-3")).await;
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], format!("bytes 0-3/{}", AUDIO.len()).as_str());
    assert_eq!(part.bytes().await.expect("bytes").as_ref(), &AUDIO[..4]);
    let issued: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT actor_kind, entity_type, entity_id FROM audit_event WHERE action = 'RECORDING_LINK_ISSUED'",
    )
    .fetch_all(&s.app.state.db)
    .await
    .expect("audit");
    assert!(
        !issued.is_empty()
            && issued
                .iter()
                .all(|(actor, kind, entity)| actor == "operator" && kind == "recording" && entity == &rid)
    );
    let fetches = s.fake.media_fetches.lock().expect("lock").clone();
    assert!(fetches.iter().all(|(auth, _)| auth.starts_with("Basic ")));
    assert_eq!(fetches[1].1.as_deref(), Some("bytes=0-3"));

    // Another replica with the same secret, and one rotated to a new secret keeping the old one.
    let (base, db) = (s.base(), s.app.state.db.clone());
    let twin = s.twin().await;
    assert_eq!(fetch(&twin, &link, None).await.bytes().await.expect("bytes").as_ref(), AUDIO);
    let rotated = [
        ("SWITCHBOARD_MEDIA__LINK_SECRET", "a-brand-new-secret-0123456789abcdef"),
        ("SWITCHBOARD_MEDIA__LINK_SECRET_PREVIOUS", LINK_SECRET),
    ];
    let rotated = app_on(db.clone(), &base, s.clock.clone(), &rotated, vec![]).await;
    assert_eq!(fetch(&rotated, &link, None).await.status(), 200);
    let stranger = [("SWITCHBOARD_MEDIA__LINK_SECRET", "a-brand-new-secret-0123456789abcdef")];
    let stranger = app_on(db.clone(), &base, s.clock.clone(), &stranger, vec![]).await;
    assert_eq!(fetch(&stranger, &link, None).await.status(), 403);

    // Without a secret no link is issued, and the list says why.
    let unsigned = app_on(db, &base, s.clock.clone(), &[], vec![]).await;
    assert_eq!(fetch(&unsigned, &link, None).await.status(), 403);
    let (status, body) = s.call(Method::GET, &format!("/api/calls/{id}/recordings"), &s.admin, None).await;
    assert_eq!(status, 200, "{body}");
    let listed = unsigned.call(Method::GET, &format!("/api/calls/{id}/recordings"), &s.admin, None).await;
    assert_eq!(listed.status(), 503);
    let problem: serde_json::Value = listed.json().await.expect("problem");
    assert!(
        problem["detail"].as_str().is_some_and(|d| d.contains("SWITCHBOARD_MEDIA__LINK_SECRET")),
        "{problem}"
    );

    // An hour later the link has expired, on every replica.
    s.clock.advance(chrono::Duration::seconds(3600));
    assert_eq!(fetch(&s.app, &link, None).await.status(), 403);
    assert_eq!(fetch(&twin, &link, None).await.status(), 403);
}

#[sqlx::test]
async fn expired_tampered_unknown_and_deleted_links_are_a_bare_403_and_delete_reaches_twilio_once(
    pool: PgPool,
) {
    let s = Sessions::new(pool).await;
    let (id, rid, link) = completed(&s).await;

    // One changed character of the signature, an unknown id, another tenant's id, no signature.
    let last = link.chars().last().expect("sig");
    let tampered = format!("{}{}", &link[..link.len() - 1], if last == '0' { '1' } else { '0' });
    let other = link.replace(&rid, &uuid::Uuid::new_v4().to_string());
    // Another tenant's completed recording, addressed with this link's (valid) signature.
    let foreign = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO session_recording (id, tenant_id, session_id, sid, party, status, media_url, created_at, updated_at)
         SELECT $1, t.id, r.session_id, 'RE' || md5($1::text), r.party, 'completed', r.media_url, r.created_at, r.updated_at
         FROM session_recording r, tenant t WHERE r.id = $2 AND t.slug = 'other'",
    )
    .bind(foreign)
    .bind(uuid::Uuid::parse_str(&rid).expect("id"))
    .execute(&s.app.state.db)
    .await
    .expect("a foreign recording");
    let foreign = link.replace(&rid, &foreign.to_string());
    let bare = link.split('?').next().expect("path").to_owned();
    for bad in [&tampered, &other, &foreign, &bare] {
        let response = fetch(&s.app, bad, None).await;
        assert_eq!(response.status(), 403, "{bad}");
        assert!(response.bytes().await.expect("body").is_empty(), "403 says nothing");
    }
    assert_eq!(fetch(&s.app, &link, None).await.status(), 200);

    // Deletion: admin only, at Twilio once, the link stops working, the list forgets it.
    let path = format!("/api/calls/{id}/recordings/{rid}");
    assert_eq!(s.call(Method::DELETE, &path, &s.reader, None).await.0, 403);
    assert_eq!(s.call(Method::DELETE, &path, &s.monitor, None).await.0, 403);
    assert_eq!(s.call(Method::DELETE, &path, &s.foreign_admin, None).await.0, 404);
    assert_eq!(s.call(Method::DELETE, &path, &s.admin, None).await.0, 204);
    assert_eq!(s.call(Method::DELETE, &path, &s.admin, None).await.0, 404);
    deliver(&s.app).await;
    deliver(&s.app).await;
    let re = format!("RE{:032x}", 0xDEF0_0001u64);
    assert_eq!(s.fake.deleted.lock().expect("lock").clone(), vec![re]);
    assert_eq!(fetch(&s.app, &link, None).await.status(), 403);
    assert_eq!(recordings(&s, &id).await["items"], serde_json::json!([]));
}

#[sqlx::test]
async fn the_retention_worker_deletes_recordings_older_than_the_tenants_setting(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, rid, link) = completed(&s).await;
    let retention = s.app.worker("recording-retention");
    assert_eq!(retention.run_once().await.expect("round"), 0, "no setting: kept");
    let patch = serde_json::json!({"recording_retention_days": 0});
    let response = s.app.patch_json("/api/tenants/tarot", &s.root, patch).await;
    assert_eq!(response.status(), 422);
    let patch = serde_json::json!({"recording_retention_days": 2});
    let response = s.app.patch_json("/api/tenants/tarot", &s.root, patch).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
    s.clock.advance(chrono::Duration::days(1));
    assert_eq!(retention.run_once().await.expect("round"), 0, "one day old: kept");
    s.clock.advance(chrono::Duration::days(1) + chrono::Duration::seconds(1));
    assert_eq!(retention.run_once().await.expect("round"), 1);
    assert_eq!(retention.run_once().await.expect("round"), 0);
    deliver(&s.app).await;
    assert_eq!(s.fake.deleted.lock().expect("lock").len(), 1);
    assert_eq!(recordings(&s, &id).await["items"], serde_json::json!([]));
    let _ = (rid, link);
}

#[sqlx::test]
async fn twilios_media_url_and_the_recording_sid_are_in_no_log_line(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let captured = crate::fixture::Captured::default();
    let guard = tracing::subscriber::set_default(captured.json(tracing::Level::TRACE));
    let (_id, _rid, link) = completed(&s).await;
    let whole = fetch(&s.app, &link, None).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().await.expect("bytes").as_ref(), AUDIO);
    drop(guard);

    let text = captured.text();
    assert!(
        text.contains(r#""route":"/media/recordings/{id}""#),
        "the capture works: the media request's span is in it"
    );
    let re = format!("RE{:032x}", 0xDEF0_0001u64);
    assert!(!text.contains(&re), "the recording SID is logged");
    assert!(!text.contains("/Recordings/"), "Twilio's media URL is logged");
    assert!(!text.contains("sig="), "a link's signature is logged");
}

#[sqlx::test]
async fn a_recording_already_gone_at_twilio_counts_as_deleted(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, rid, _link) = completed(&s).await;
    let path = format!("/api/calls/{id}/recordings/{rid}");
    assert_eq!(s.call(Method::DELETE, &path, &s.admin, None).await.0, 204);
    s.fake.push(crate::fake_twilio::Mode::Refuse(20404));
    deliver(&s.app).await;
    deliver(&s.app).await;
    let status: String =
        sqlx::query_scalar("SELECT status FROM outbox_message WHERE kind = 'twilio.recording_delete'")
            .fetch_one(&s.app.state.db)
            .await
            .expect("the delete request");
    assert_eq!(status, "delivered", "a 404 is what a deleted recording answers");
    assert_eq!(s.fake.deleted.lock().expect("lock").len(), 1, "asked once");
}

#[sqlx::test]
async fn retention_waits_for_a_recording_in_progress(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, _client, reader) = in_progress(&s, "ord_long").await;
    started(&s, &id).await;
    let patch = serde_json::json!({"recording_retention_days": 2});
    assert_eq!(s.app.patch_json("/api/tenants/tarot", &s.root, patch).await.status(), 200);
    s.clock.advance(chrono::Duration::days(3));
    let retention = s.app.worker("recording-retention");
    assert_eq!(retention.run_once().await.expect("round"), 0, "still recording: kept");
    deliver(&s.app).await;
    assert!(s.fake.deleted.lock().expect("lock").is_empty());
    let re = format!("RE{:032x}", 0xDEF0_0001u64);
    assert_eq!(recording_callback(&s, &reader.sid, &re, "completed").await.status(), 200);
    assert_eq!(retention.run_once().await.expect("round"), 1, "completed and past retention");
    deliver(&s.app).await;
    assert_eq!(s.fake.deleted.lock().expect("lock").clone(), vec![re]);
    let reasons: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT data->'reason' FROM audit_event WHERE action = 'RECORDING_DELETED'")
            .fetch_all(&s.app.state.db)
            .await
            .expect("audit");
    assert_eq!(reasons, [serde_json::json!("retention")]);
}

#[sqlx::test]
async fn the_audio_is_fetched_only_from_twilio_and_only_once_completed(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (_id, rid, link) = completed(&s).await;
    assert_eq!(fetch(&s.app, &link, None).await.status(), 200, "the control");
    let fetched = s.fake.media_fetches.lock().expect("lock").len();
    let set = |sql: &'static str| {
        let db = s.app.state.db.clone();
        let rid = uuid::Uuid::parse_str(&rid).expect("id");
        async move { sqlx::query(sql).bind(rid).execute(&db).await.expect("update") }
    };
    // A media URL elsewhere (whatever a callback claimed): the account's credentials never go there.
    set("UPDATE session_recording SET media_url = 'https://media.example.net/RE1' WHERE id = $1").await;
    let response = fetch(&s.app, &link, None).await;
    assert_eq!(response.status(), 403);
    assert!(response.bytes().await.expect("body").is_empty());
    assert_eq!(s.fake.media_fetches.lock().expect("lock").len(), fetched, "nothing was fetched");
    // A recording not completed yet: its (validly signed) link is a bare 403 too.
    let media = format!("{}/2010-04-01/Accounts/x/Recordings/RE1", s.fake.base.get().expect("listening"));
    sqlx::query("UPDATE session_recording SET media_url = $2, status = 'in_progress' WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&rid).expect("id"))
        .bind(media)
        .execute(&s.app.state.db)
        .await
        .expect("update");
    assert_eq!(fetch(&s.app, &link, None).await.status(), 403);
    assert_eq!(s.fake.media_fetches.lock().expect("lock").len(), fetched);
}

#[sqlx::test]
async fn an_admins_manual_deletion_is_audited_once_with_the_session_and_who(pool: PgPool) {
    let s = Sessions::new(pool).await;
    let (id, rid, _link) = completed(&s).await;
    let path = format!("/api/calls/{id}/recordings/{rid}");
    assert_eq!(s.call(Method::DELETE, &path, &s.admin, None).await.0, 204);
    // Repeated: 404, and no second audit row.
    assert_eq!(s.call(Method::DELETE, &path, &s.admin, None).await.0, 404);
    deliver(&s.app).await;

    let rows: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
        "SELECT actor_kind, entity_type, data FROM audit_event
         WHERE action = 'RECORDING_DELETED' AND entity_id = $1 ORDER BY sequence",
    )
    .bind(&rid)
    .fetch_all(&s.app.state.db)
    .await
    .expect("audit");
    assert_eq!(
        rows,
        vec![("operator".to_owned(), "recording".to_owned(), serde_json::json!({"session_id": id}))]
    );
    let all: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_event WHERE action = 'RECORDING_DELETED'")
        .fetch_one(&s.app.state.db)
        .await
        .expect("audit");
    assert_eq!(all, 1, "only the deleted recording is audited");
}
