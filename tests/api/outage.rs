//! The database goes away and comes back: a TCP proxy that the test cuts, so the shared test
//! cluster keeps serving the other tests.

use crate::helpers::{eventually, spawn_with, test_config};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard::startup::Overrides;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards connections to the database until cut; while cut, new connections are dropped.
pub struct Proxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start(target_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cut = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (cut2, links2) = (cut.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if cut2.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target_port)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links2.lock().expect("lock").push(link);
            }
        });
        Proxy { port, cut, links }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().expect("lock").drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// A pool of `max` connections to the test's database through a [`Proxy`] the test can cut (a
/// second's wait for a connection, so a cut database answers fast).
pub async fn proxied(connect: &PgConnectOptions, max: u32) -> (sqlx::PgPool, Proxy) {
    let proxy = Proxy::start(connect.get_port()).await;
    let via_proxy = connect.clone().host("127.0.0.1").port(proxy.port);
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy_with(via_proxy);
    (pool, proxy)
}

/// Waits until `pool` answers again after [`Proxy::restore`].
pub async fn reconnected(pool: &sqlx::PgPool) {
    eventually(15, "the pool reconnects", || async { sqlx::query("SELECT 1").execute(pool).await.is_ok() })
        .await;
}

async fn ready_status(client: &reqwest::Client, url: &str) -> u16 {
    client.get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
}

#[sqlx::test]
async fn ready_recovers_after_the_database_comes_back(_opts: PgPoolOptions, connect: PgConnectOptions) {
    let (pool, proxy) = proxied(&connect, 2).await;
    let app = spawn_with(test_config(&[]), Overrides { pool: Some(pool), ..Overrides::default() }).await;
    let url = app.url("/ready");
    assert_eq!(ready_status(&app.client, &url).await, 200);

    proxy.cut();
    eventually(10, "/ready reports the outage", || async {
        let response = app.client.get(&url).send().await.expect("answer");
        if response.status() != 503 {
            return false;
        }
        let body: serde_json::Value = response.json().await.expect("json");
        body["checks"]["database"]["status"] == "error"
    })
    .await;

    proxy.restore();
    eventually(15, "/ready recovers", || async { ready_status(&app.client, &url).await == 200 }).await;
}

#[sqlx::test]
async fn the_operator_api_answers_503_while_the_database_is_away(
    _opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let (pool, proxy) = proxied(&connect, 2).await;
    let app = spawn_with(test_config(&[]), Overrides { pool: Some(pool), ..Overrides::default() }).await;
    let root = app.superadmin().await;
    assert_eq!(app.get_auth("/api/tenants", &root).await.status(), 200);

    proxy.cut();
    let response = app.get_auth("/api/tenants", &root).await;
    assert_eq!(response.status(), 503, "a retryable answer, not a 500");
    let problem: serde_json::Value = response.json().await.expect("problem+json");
    assert_eq!(problem["code"], "unavailable");

    proxy.restore();
    eventually(15, "the API recovers", || async {
        app.get_auth("/api/tenants", &root).await.status() == 200
    })
    .await;
}
