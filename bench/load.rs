//! `switchboard-bench`: the load generator and HTTP ceiling of `bench/run` (not part of the
//! server). `load` sends correctly signed `ringing` webhooks with distinct CallSids to a set of
//! numbers at a fixed concurrency for a fixed time (or a number of requests) and prints one JSON
//! line of results, with the run's `CallSid` prefix so the rows it committed can be counted;
//! `ceiling` serves an endpoint that only verifies the signature and answers fixed TwiML;
//! `receiver` is the call service the notifications are delivered to (it answers 204, counting).
#![forbid(unsafe_code)]

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use hmac::Mac;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use switchboard::twilio::signature;

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial action="/x" method="POST" timeout="20"><Number>+12025550150</Number></Dial></Response>"#;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("load") => load(&args).await,
        Some("ceiling") => ceiling(&args).await,
        Some("receiver") => receiver().await,
        _ => anyhow::bail!(
            "usage: switchboard-bench load --url U --token T --numbers N1,N2 --concurrency C --seconds S [--requests N] | ceiling --listen ADDR --token T | receiver"
        ),
    }
}

fn sign(token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in &sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn load(args: &[String]) -> anyhow::Result<()> {
    let url = arg(args, "--url").ok_or_else(|| anyhow::anyhow!("--url"))?;
    let token = arg(args, "--token").ok_or_else(|| anyhow::anyhow!("--token"))?;
    let numbers: Vec<String> =
        arg(args, "--numbers").unwrap_or_default().split(',').map(str::to_owned).collect();
    let concurrency: usize = arg(args, "--concurrency").unwrap_or_else(|| "8".into()).parse()?;
    let seconds: u64 = arg(args, "--seconds").unwrap_or_else(|| "20".into()).parse()?;
    // With --requests, stop after that many (an idle-latency sample: --concurrency 1).
    let limit: u64 = arg(args, "--requests").map(|n| n.parse()).transpose()?.unwrap_or(u64::MAX);
    let run: u64 = rand::random::<u32>().into();
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let client = switchboard::net::client_builder().pool_max_idle_per_host(concurrency).build()?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, token, numbers, counter, errors) = (
                client.clone(),
                url.clone(),
                token.clone(),
                numbers.clone(),
                counter.clone(),
                errors.clone(),
            );
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(100_000);
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    if n >= limit {
                        break;
                    }
                    let params = vec![
                        ("CallSid".to_owned(), format!("CA{run:08x}{n:024x}")),
                        ("AccountSid".to_owned(), ACCOUNT.to_owned()),
                        // A distinct caller per request: no cache of the server's is measured warm.
                        ("From".to_owned(), format!("+1303{:07}", n % 10_000_000)),
                        ("To".to_owned(), numbers[(n as usize) % numbers.len()].clone()),
                        ("CallStatus".to_owned(), "ringing".to_owned()),
                        ("Direction".to_owned(), "inbound".to_owned()),
                        ("ApiVersion".to_owned(), "2010-04-01".to_owned()),
                    ];
                    let body =
                        form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter()).finish();
                    let signature = sign(&token, &url, &params);
                    let sent = Instant::now();
                    let response = client
                        .post(&url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .header("x-twilio-signature", signature)
                        .body(body)
                        .send()
                        .await;
                    let ok = match response {
                        Ok(r) => {
                            r.status() == StatusCode::OK
                                && r.bytes().await.is_ok_and(|b| b.starts_with(b"<?xml"))
                        }
                        Err(_) => false,
                    };
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0)
            as f64
            / 1000.0
    };
    println!(
        "{}",
        serde_json::json!({"run": format!("CA{run:08x}"), "requests": all.len(), "errors": errors.load(Ordering::Relaxed), "rps": all.len() as f64 / elapsed,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99)})
    );
    Ok(())
}

/// The HTTP ceiling: verify the signature over the raw body, answer fixed TwiML, touch nothing else.
async fn ceiling(args: &[String]) -> anyhow::Result<()> {
    let listen = arg(args, "--listen").unwrap_or_else(|| "127.0.0.1:0".into());
    let token = arg(args, "--token").ok_or_else(|| anyhow::anyhow!("--token"))?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let port = listener.local_addr()?.port();
    let public = format!("http://127.0.0.1:{port}/webhooks/twilio/call");
    println!("{port}");
    let app = axum::Router::new().route(
        "/webhooks/twilio/call",
        post(move |headers: HeaderMap, body: Bytes| {
            let (token, public) = (token.clone(), public.clone());
            async move {
                let params = switchboard::twilio::FormParams::from_form(&body);
                let presented = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok());
                match signature::verify_form(&[token.as_bytes()], &public, params.pairs(), presented) {
                    Ok(()) => (StatusCode::OK, [("content-type", "text/xml; charset=utf-8")], TWIML),
                    Err(_) => (StatusCode::FORBIDDEN, [("content-type", "text/xml; charset=utf-8")], ""),
                }
            }
        }),
    );
    axum::serve(listener, app).await?;
    Ok(())
}

/// The call service of the run: accepts every notification (204) and prints its port, then, once
/// a second, how many it received.
async fn receiver() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?.port());
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::Relaxed);
            StatusCode::NO_CONTENT
        }
    });
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            eprintln!("received {}", received.load(Ordering::Relaxed));
        }
    });
    axum::serve(listener, app).await?;
    Ok(())
}
