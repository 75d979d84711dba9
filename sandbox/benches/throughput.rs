//! Sandbox throughput on loopback, as a ratio to a minimal axum handler answering 201 with the
//! same load generator in the same run (target ≥ 0.5×); then 60,000 requests at 64 concurrent
//! connections with faults on, checking that every non-201 answer is an injected fault.
//!
//! Run: `cargo bench -p usage-sandbox --bench throughput`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::json;
use usage_sandbox::{Config, FaultSpec};
use usage_test_support::Sandbox;

const CONCURRENCY: usize = 64;

#[derive(Default)]
struct Tally {
    created: AtomicU64,
    other_status: AtomicU64,
    connection_errors: AtomicU64,
}

/// Sends `total` POSTs with `key` from `CONCURRENCY` workers, each on its own connection;
/// returns req/s.
async fn load(url: &str, key: &str, total: usize, tally: &Arc<Tally>) -> f64 {
    let body = json!({"subscriptionId": "sub_unlimited", "quantity": 1, "usageTime": "2025-05-01T12:00:00Z"}).to_string();
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (url, key, body, next, tally) = (
            url.to_owned(),
            key.to_owned(),
            body.clone(),
            next.clone(),
            tally.clone(),
        );
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            while next.fetch_add(1, Ordering::Relaxed) < total as u64 {
                let sent = client
                    .post(&url)
                    .header("REB-APIKEY", &key)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        let _ = r.bytes().await;
                        tally.created.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        let _ = r.bytes().await;
                        tally.other_status.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        tally.connection_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

async fn minimal_server() -> String {
    let app = Router::new().route(
        "/usages",
        post(|| async {
            (
                StatusCode::CREATED,
                axum::Json(json!({"id": "sub_usg_1", "quantity": 1})),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}/usages")
}

#[allow(clippy::print_stdout)]
fn main() {
    usage_test_support::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let minimal = minimal_server().await;
        let sandbox = Sandbox::start().await;
        let sandbox_url = format!("{}/usages", sandbox.url());
        let key = sandbox.dev_key("rebilly");
        // Warm up both, then alternate rounds so both see the same machine.
        load(&minimal, key, 2_000, &Arc::default()).await;
        load(&sandbox_url, key, 2_000, &Arc::default()).await;
        let (mut m, mut s) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            m.push(load(&minimal, key, 20_000, &Arc::default()).await);
            s.push(load(&sandbox_url, key, 20_000, &Arc::default()).await);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (m, s) = (median(&mut m), median(&mut s));
        println!("minimal axum 201 handler: {m:.0} req/s; sandbox POST /usages: {s:.0} req/s");
        println!("RATIO sandbox/minimal = {:.2}x (target >= 0.5x), {CONCURRENCY} connections", s / m);
        sandbox.shutdown().await;

        let faults = FaultSpec::parse("503=0.01,429=0.01,reset=0.005,lost-response=0.005").expect("spec");
        let sandbox = Sandbox::with(Config { faults, seed: 7, ..Config::default() }).await;
        let tally = Arc::new(Tally::default());
        let started = Instant::now();
        let key = sandbox.dev_key("rebilly");
        let rate = load(&format!("{}/usages", sandbox.url()), key, 60_000, &tally).await;
        let log = sandbox.faults().await;
        let count = |kind: &str| log.as_array().expect("list").iter().filter(|f| f["fault"] == kind).count() as u64;
        let answered_faults = count("503") + count("429");
        let dropped_faults = count("reset") + count("lost-response");
        let (created, other, dropped) = (
            tally.created.load(Ordering::Relaxed),
            tally.other_status.load(Ordering::Relaxed),
            tally.connection_errors.load(Ordering::Relaxed),
        );
        println!(
            "60,000 requests at {CONCURRENCY} connections in {:.1?} ({rate:.0} req/s): {created} created, {other} non-201 (injected 503/429: {answered_faults}), {dropped} dropped connections (injected reset/lost-response: {dropped_faults})",
            started.elapsed()
        );
        let clean = other == answered_faults && dropped == dropped_faults;
        println!("errors other than injected faults: {}", if clean { "none" } else { "YES" });
        sandbox.shutdown().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(clean, "errors other than the injected faults");
    });
}
