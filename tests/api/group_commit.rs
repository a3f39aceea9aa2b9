//! Group commit of webhook writes (issue 22): concurrent ringing webhooks share one transaction
//! and each is answered once it committed; a duplicate inside a batch is answered from its first
//! occurrence; one poisoned write does not fail its neighbours; and a replica killed while a
//! batch's commit is held open answered none of that batch, while every earlier 200 has its rows.

use crate::fixture::PUBLIC;
use crate::helpers::{ACCOUNT_SID, TestApp, eventually, frozen_clock, spawn_with, test_config};
use crate::inbound::{ACME_MAIN, CALLER, setup, sid};
use crate::signing::Hook;
use futures::future::BoxFuture;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use switchboard::inbound::GroupCommitProbe;
use switchboard::startup::Overrides;
use tokio::sync::Semaphore;

/// Watches the writer and, while `hold` is set, holds each batch's commit open until released.
struct Probe {
    submitted: AtomicUsize,
    batches: Mutex<Vec<Vec<String>>>,
    hold: AtomicBool,
    held: AtomicUsize,
    /// Batches written inside `BEGIN … COMMIT` (only those reach `before_commit`).
    in_transaction: AtomicUsize,
    release: Arc<Semaphore>,
}

impl GroupCommitProbe for Probe {
    fn submitted(&self) {
        self.submitted.fetch_add(1, Ordering::SeqCst);
    }

    fn batch(&self, sids: &[String]) {
        self.batches.lock().expect("lock").push(sids.to_vec());
    }

    fn holds_commit(&self) -> bool {
        self.hold.load(Ordering::SeqCst)
    }
    fn before_commit(&self, _sids: &[String]) -> BoxFuture<'static, ()> {
        self.in_transaction.fetch_add(1, Ordering::SeqCst);
        if !self.hold.load(Ordering::SeqCst) {
            return Box::pin(async {});
        }
        self.held.fetch_add(1, Ordering::SeqCst);
        let release = self.release.clone();
        Box::pin(async move {
            release.acquire().await.expect("open").forget();
        })
    }
}

impl Probe {
    /// A probe holding the next commit (`hold`) or none yet.
    fn new(hold: bool) -> Arc<Probe> {
        Arc::new(Probe {
            submitted: AtomicUsize::new(0),
            batches: Mutex::default(),
            hold: AtomicBool::new(hold),
            held: AtomicUsize::new(0),
            in_transaction: AtomicUsize::new(0),
            release: Arc::new(Semaphore::new(0)),
        })
    }
}

/// The settings of a replica whose writer commits one batch at a time, of up to `max` writes.
fn group_settings(max: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PUBLIC_BASE_URL", PUBLIC.to_owned()),
        ("SWITCHBOARD_INBOUND__GROUP_COMMIT_MAX_BATCH", max.to_owned()),
        ("SWITCHBOARD_INBOUND__GROUP_COMMIT_IN_FLIGHT", "1".to_owned()),
        ("SWITCHBOARD_INBOUND__GROUP_COMMIT_LINGER_MS", "2000".to_owned()),
    ]
}

/// Another replica on `pool`, its writer watched by `probe`.
async fn replica(pool: PgPool, probe: Arc<Probe>, max: &str) -> TestApp {
    let settings = group_settings(max);
    let vars: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    replica_with(pool, probe, &vars).await
}

/// A replica on `pool` with the configuration `vars`, its writer watched by `probe`.
async fn replica_with(pool: PgPool, probe: Arc<Probe>, vars: &[(&str, &str)]) -> TestApp {
    let overrides = Overrides {
        pool: Some(pool),
        clock: Some(frozen_clock()),
        group_commit_probe: Some(probe),
        ..Overrides::default()
    };
    spawn_with(test_config(vars), overrides).await
}

/// A signed ringing webhook for `sid` to the app at `address`.
fn ringing(client: &reqwest::Client, address: &str, sid: &str) -> reqwest::RequestBuilder {
    let path = "/webhooks/twilio/call";
    let params = [
        ("CallSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", CALLER),
        ("To", ACME_MAIN),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ];
    Hook::public(path, &params).request_to(client, address)
}

/// Sends a ringing webhook on its own task: its status and body, or `None` without an answer.
fn spawn_ringing(app: &TestApp, sid: String) -> tokio::task::JoinHandle<Option<(u16, String)>> {
    let request = ringing(&app.client, &app.address, &sid);
    tokio::spawn(async move {
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    })
}

/// (calls, their `call.incoming`) recorded among `sids`.
async fn recorded(db: &PgPool, sids: &[String]) -> (i64, i64) {
    let calls = sqlx::query_scalar("SELECT count(*) FROM inbound_call WHERE call_sid = ANY($1)")
        .bind(sids)
        .fetch_one(db)
        .await
        .expect("calls");
    let keys: Vec<String> = sids.iter().map(|s| format!("call.incoming:{s}")).collect();
    let incoming = sqlx::query_scalar("SELECT count(*) FROM outbox_message WHERE idempotency_key = ANY($1)")
        .bind(&keys)
        .fetch_one(db)
        .await
        .expect("outbox");
    (calls, incoming)
}

/// Holds a first batch (one webhook) open, queues `sids` behind it, then lets the writer go: the
/// queued webhooks form the next batch together. Returns their answers.
async fn in_one_batch(app: &TestApp, probe: &Probe, sids: &[String]) -> Vec<Option<(u16, String)>> {
    let first = spawn_ringing(app, sid(999));
    eventually(10, "the first batch is held", || async { probe.held.load(Ordering::SeqCst) == 1 }).await;
    let queued: Vec<_> = sids.iter().map(|s| spawn_ringing(app, s.clone())).collect();
    let all = sids.len() + 1;
    eventually(10, "every webhook waits for the writer", || async {
        probe.submitted.load(Ordering::SeqCst) == all
    })
    .await;
    probe.hold.store(false, Ordering::SeqCst);
    probe.release.add_permits(1);
    assert_eq!(first.await.expect("task").map(|a| a.0), Some(200));
    let mut answers = Vec::new();
    for task in queued {
        answers.push(task.await.expect("task"));
    }
    answers
}

#[sqlx::test]
async fn concurrent_ringing_webhooks_share_one_commit_and_a_duplicate_is_answered_from_the_first(
    pool: PgPool,
) {
    let s = setup(pool.clone()).await;
    let probe = Probe::new(true);
    let app = replica(pool.clone(), probe.clone(), "5").await;
    let distinct: Vec<String> = (1..=4).map(sid).collect();
    let mut sent = distinct.clone();
    sent.push(sid(2)); // the same webhook again, in the same batch

    let answers = in_one_batch(&app, &probe, &sent).await;

    let mut batch = distinct.clone();
    batch.sort();
    assert_eq!(
        probe.batches.lock().expect("lock").last(),
        Some(&batch),
        "one batch, each call once, in key order"
    );
    for answer in &answers {
        let (status, body) = answer.clone().expect("answered");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("<Dial"), "{body}");
    }
    assert_eq!(answers[4], answers[1], "the duplicate has its first occurrence's answer");
    assert_eq!(recorded(&s.app.state.db, &distinct).await, (4, 4), "each call and its call.incoming once");
    assert_eq!(
        probe.in_transaction.load(Ordering::SeqCst),
        1,
        "only the held batch ran inside BEGIN … COMMIT; the released ringing batch was one statement"
    );
}

/// The call whose row the test's trigger refuses.
const POISONED: &str = "CA00000000000000000000000000000003";

#[sqlx::test]
async fn one_poisoned_write_does_not_fail_its_batch(pool: PgPool) {
    let s = setup(pool.clone()).await;
    // A row the database refuses, for one call only.
    let poisoned = sid(3);
    assert_eq!(poisoned, POISONED);
    sqlx::query(
        "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
           IF NEW.call_sid = 'CA00000000000000000000000000000003' THEN RAISE EXCEPTION 'poisoned'; END IF;
           RETURN NEW; END $$",
    )
    .execute(&pool)
    .await
    .expect("function");
    sqlx::query("CREATE TRIGGER poison BEFORE INSERT ON inbound_call FOR EACH ROW EXECUTE FUNCTION poison()")
        .execute(&pool)
        .await
        .expect("trigger");
    let probe = Probe::new(true);
    let app = replica(pool.clone(), probe.clone(), "5").await;
    let sids: Vec<String> = (1..=5).map(sid).collect();

    let answers = in_one_batch(&app, &probe, &sids).await;

    assert_eq!(probe.batches.lock().expect("lock").last(), Some(&sids), "the five were one batch");
    for answer in &answers {
        let (status, body) = answer.clone().expect("answered");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("<Dial"), "the caller is connected whatever the bookkeeping: {body}");
    }
    let healthy: Vec<String> = sids.iter().filter(|s| **s != poisoned).cloned().collect();
    assert_eq!(recorded(&s.app.state.db, &healthy).await, (4, 4), "the others committed");
    assert_eq!(recorded(&s.app.state.db, std::slice::from_ref(&poisoned)).await, (0, 0));
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(metrics.contains("inbound_group_commit_batch_size_count"), "{metrics}");
    // Sizes have buckets of writes (1, 2, 4 …), not of seconds; the write's time has its own.
    assert!(metrics.contains("inbound_group_commit_batch_size_bucket{le=\"4\"}"), "{metrics}");
    assert!(!metrics.contains("inbound_group_commit_batch_size_bucket{le=\"0.001\"}"), "{metrics}");
    assert!(metrics.contains("inbound_group_commit_write_seconds_count"), "{metrics}");
    let retried = metrics
        .lines()
        .find_map(|l| l.strip_prefix("inbound_group_commit_retried_total "))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert!(retried.is_some_and(|n| n >= 1), "the failed batch's retry is counted: {retried:?}");
}

/// A replica on a runtime of its own, so that stopping it drops every task mid-flight — its
/// server, its connections and its writer with the open transaction — as a kill would.
struct Doomed {
    address: String,
    kill: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Doomed {
    async fn start(connect: PgConnectOptions, probe: Arc<Probe>) -> Doomed {
        let (started, address) = tokio::sync::oneshot::channel();
        let (kill, killed) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let pool = PgPoolOptions::new().max_connections(4).connect_lazy_with(connect);
                let app = replica(pool, probe, "8").await;
                started.send(app.address.clone()).expect("test waits");
                let _ = killed.await;
            });
            drop(runtime);
        });
        Doomed { address: address.await.expect("started"), kill, thread }
    }

    async fn kill(self) {
        let _ = self.kill.send(());
        tokio::task::spawn_blocking(move || self.thread.join().expect("replica thread"))
            .await
            .expect("joined");
    }
}

#[sqlx::test]
async fn a_replica_killed_during_a_commit_answered_none_of_that_batch(
    _opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = PgPoolOptions::new().max_connections(4).connect_with(connect.clone()).await.expect("pool");
    let s = setup(pool.clone()).await;
    let probe = Probe::new(false);
    let doomed = Doomed::start(connect, probe.clone()).await;
    let client = reqwest::Client::new();

    // Answered before: committed.
    let before: Vec<String> = (1..=5).map(sid).collect();
    for sid in &before {
        let response = ringing(&client, &doomed.address, sid).send().await.expect("answer");
        assert_eq!(response.status(), 200);
    }
    // Then every commit is held open, and the replica dies with webhooks waiting on it.
    probe.hold.store(true, Ordering::SeqCst);
    let during: Vec<String> = (6..=11).map(sid).collect();
    let waiting: Vec<_> = during
        .iter()
        .map(|sid| {
            let request = ringing(&client, &doomed.address, sid);
            tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    eventually(10, "a batch is held open with every webhook waiting", || async {
        probe.held.load(Ordering::SeqCst) >= 1
            && probe.submitted.load(Ordering::SeqCst) == before.len() + during.len()
    })
    .await;
    doomed.kill().await;

    for task in waiting {
        let answer = task.await.expect("task");
        assert!(answer.as_ref().map_or(true, |status| *status != 200), "no 200 without a commit: {answer:?}");
    }
    assert_eq!(recorded(&s.app.state.db, &before).await, (5, 5), "every 200 has its rows");
    assert_eq!(recorded(&s.app.state.db, &during).await, (0, 0), "nothing of the held batch");
}

#[sqlx::test]
async fn a_call_in_another_replicas_uncommitted_batch_waits_for_it_and_is_recorded_once(pool: PgPool) {
    let s = setup(pool.clone()).await;
    let holding = Probe::new(true);
    let first = replica(pool.clone(), holding.clone(), "5").await;
    let second = replica(pool.clone(), Probe::new(false), "5").await;
    let sids: Vec<String> = (1..=4).map(sid).collect();

    // The first replica's batch of the four calls is written and its commit held open.
    let opener = spawn_ringing(&first, sid(999));
    eventually(10, "the opening batch is held", || async { holding.held.load(Ordering::SeqCst) == 1 }).await;
    let on_first: Vec<_> = sids.iter().map(|s| spawn_ringing(&first, s.clone())).collect();
    eventually(10, "the four wait for the first writer", || async {
        holding.submitted.load(Ordering::SeqCst) == sids.len() + 1
    })
    .await;
    holding.release.add_permits(1);
    eventually(10, "the batch of the four is held", || async { holding.held.load(Ordering::SeqCst) == 2 })
        .await;
    assert_eq!(holding.batches.lock().expect("lock").last(), Some(&sids), "one batch, in key order");

    // The same calls reach the second replica, in the other order: its insert waits on the locks.
    let on_second: Vec<_> = sids.iter().rev().map(|s| spawn_ringing(&second, s.clone())).collect();
    eventually(10, "the second replica waits on the first one's rows", || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&pool)
        .await
        .expect("activity")
            >= 1
    })
    .await;
    assert_eq!(recorded(&s.app.state.db, &sids).await, (0, 0), "nothing is visible before the commit");

    holding.release.add_permits(1);
    assert_eq!(opener.await.expect("task").map(|a| a.0), Some(200));
    for task in on_first.into_iter().chain(on_second) {
        let (status, body) = task.await.expect("task").expect("answered");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("<Dial"), "{body}");
    }
    assert_eq!(recorded(&s.app.state.db, &sids).await, (4, 4), "each call and its call.incoming once");
}

#[sqlx::test]
async fn a_lone_webhook_is_written_at_once_whatever_the_linger(pool: PgPool) {
    setup(pool.clone()).await;
    let probe = Probe::new(false);
    let vars = [
        ("PUBLIC_BASE_URL", PUBLIC),
        ("SWITCHBOARD_INBOUND__GROUP_COMMIT_LINGER_MS", "600000"),
        ("SWITCHBOARD_INBOUND__GROUP_COMMIT_IN_FLIGHT", "2"),
    ];
    let app = replica_with(pool.clone(), probe.clone(), &vars).await;
    let sids: Vec<String> = (1..=3).map(sid).collect();
    for sid in &sids {
        // Ten minutes of linger would outlast the client's patience: a lone write does not wait.
        let response = ringing(&app.client, &app.address, sid)
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await
            .expect("answered at once");
        assert_eq!(response.status(), 200);
    }
    let batches = probe.batches.lock().expect("lock").clone();
    assert_eq!(batches, sids.iter().map(|s| vec![s.clone()]).collect::<Vec<_>>(), "each alone");
    assert_eq!(recorded(&pool, &sids).await, (3, 3));
}

#[sqlx::test]
async fn max_batch_one_writes_each_webhook_in_its_own_transaction(pool: PgPool) {
    let s = setup(pool.clone()).await;
    let probe = Probe::new(true);
    let app = replica(pool.clone(), probe.clone(), "1").await;
    let sent = [sid(1), sid(2), sid(3), sid(2)];

    let answers = in_one_batch(&app, &probe, &sent).await;

    let batches = probe.batches.lock().expect("lock").clone();
    assert_eq!(batches.len(), 5, "the held one and four more: {batches:?}");
    assert!(batches.iter().all(|b| b.len() == 1), "{batches:?}");
    for answer in &answers {
        let (status, body) = answer.clone().expect("answered");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("<Dial"), "{body}");
    }
    assert_eq!(answers[3], answers[1], "the repeat has the first one's answer");
    assert_eq!(recorded(&s.app.state.db, &sent[..3]).await, (3, 3));
}

#[sqlx::test]
async fn a_batch_failing_because_the_database_is_away_is_kept_and_applied_once(
    _o: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let s = setup(PgPoolOptions::new().max_connections(2).connect_with(connect.clone()).await.expect("pool"))
        .await;
    let (proxied, proxy) = crate::outage::proxied(&connect, 4).await;
    let probe = Probe::new(true);
    let app = replica(proxied, probe.clone(), "5").await;
    let first = spawn_ringing(&app, sid(999));
    eventually(10, "the first batch is held", || async { probe.held.load(Ordering::SeqCst) == 1 }).await;
    let sids: Vec<String> = (1..=4).map(sid).collect();
    let queued: Vec<_> = sids.iter().map(|s| spawn_ringing(&app, s.clone())).collect();
    eventually(10, "every webhook waits for the writer", || async {
        probe.submitted.load(Ordering::SeqCst) == sids.len() + 1
    })
    .await;
    // The database goes away under the held transaction, then the writer is let go.
    proxy.cut();
    probe.hold.store(false, Ordering::SeqCst);
    probe.release.add_permits(1);
    for task in std::iter::once(first).chain(queued) {
        let (status, body) = task.await.expect("task").expect("answered");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("<Dial"), "the caller is still connected: {body}");
    }
    let mut all = sids.clone();
    all.push(sid(999));
    assert_eq!(recorded(&s.app.state.db, &all).await, (0, 0), "nothing committed yet");
    proxy.restore();
    let pending = app.worker("inbound-pending-effects");
    eventually(15, "the kept writes are applied", || async {
        let _ = pending.run_once().await;
        recorded(&s.app.state.db, &all).await == (5, 5)
    })
    .await;
    assert_eq!(pending.run_once().await.expect("round"), 0, "nothing left, nothing twice");
}

#[sqlx::test]
async fn at_most_in_flight_batches_commit_at_once(pool: PgPool) {
    setup(pool.clone()).await;
    let probe = Probe::new(true);
    let vars = [
        ("PUBLIC_BASE_URL", PUBLIC),
        ("SWITCHBOARD_INBOUND__GROUP_COMMIT_IN_FLIGHT", "2"),
        ("SWITCHBOARD_INBOUND__GROUP_COMMIT_LINGER_MS", "0"),
    ];
    let app = replica_with(pool.clone(), probe.clone(), &vars).await;
    let first = spawn_ringing(&app, sid(1));
    eventually(10, "the first batch is held", || async { probe.held.load(Ordering::SeqCst) == 1 }).await;
    let second = spawn_ringing(&app, sid(2));
    eventually(10, "a second batch commits alongside", || async { probe.held.load(Ordering::SeqCst) == 2 })
        .await;
    let waiting: Vec<_> = (3..=5).map(|n| spawn_ringing(&app, sid(n))).collect();
    eventually(10, "the rest reach the writer", || async { probe.submitted.load(Ordering::SeqCst) == 5 })
        .await;
    // Both slots are taken: the writer gathers no third batch until one commits.
    assert_eq!(probe.batches.lock().expect("lock").len(), 2);
    probe.hold.store(false, Ordering::SeqCst);
    probe.release.add_permits(2);
    for task in [first, second].into_iter().chain(waiting) {
        assert_eq!(task.await.expect("task").map(|a| a.0), Some(200));
    }
    let batches = probe.batches.lock().expect("lock").clone();
    assert_eq!(batches[2], [sid(3), sid(4), sid(5)], "the three that waited, together: {batches:?}");
}
