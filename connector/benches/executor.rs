//! Executor throughput vs a bare reqwest loop posting the same bodies to the same in-process
//! sandbox at the same concurrency, in the same run (target ≥ 0.8×).
//!
//! Run: `cargo bench -p usage-connector --bench executor`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::{Value, json};
use usage_connector::catalog::Vendor;
use usage_connector::execute::{Credential, Credentials, Executor, Secret, TaskContext};
use usage_connector::simworkflow::HttpTask;

const CONCURRENCY: usize = 32;
const CALLS: usize = 10_000;

fn body(i: usize) -> Value {
    json!({"subscriptionId": "sub_unlimited", "quantity": 1.5, "usageTime": format!("2025-05-01T12:{:02}:{:02}Z", (i / 60) % 60, i % 60)})
}

async fn run<F, Fut>(work: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (work, next) = (work.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= CALLS {
                    return;
                }
                assert!(work(i).await, "call {i} failed");
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    CALLS as f64 / start.elapsed().as_secs_f64()
}

#[allow(clippy::print_stdout)]
fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let sandbox = usage_sandbox::start(usage_sandbox::Config::default()).await.expect("sandbox");
        let url = format!("{}/usages", sandbox.url());
        let mut credentials = Credentials::new();
        credentials.insert("rebilly", Credential { header: "REB-APIKEY".into(), value: Secret::new("sk_sandbox_rebilly"), platform_id: None });
        let executor = Arc::new(Executor::new(credentials).with_server(Vendor::Rebilly, &sandbox.url()));
        let task: Arc<HttpTask> = Arc::new(
            serde_json::from_value(json!({
                "credentials": "rebilly", "end": true,
                "httpRequest": {"url": "https://api-sandbox.rebilly.com/usages", "method": "POST", "body": "${$}"}
            }))
            .expect("task"),
        );
        // The same timeouts the executor uses by default (5 s connect, 10 s per read): a bare
        // loop without them would not be a like-for-like baseline.
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .read_timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("client");
        let bare = |client: reqwest::Client, url: String| {
            move |i: usize| {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    let r = client.post(&url).header("REB-APIKEY", "sk_sandbox_rebilly").json(&body(i)).send().await;
                    match r {
                        Ok(r) => r.status().as_u16() == 201 && r.bytes().await.is_ok(),
                        Err(_) => false,
                    }
                }
            }
        };
        let through_executor = |executor: Arc<Executor>, task: Arc<HttpTask>| {
            move |i: usize| {
                let (executor, task) = (executor.clone(), task.clone());
                async move { executor.execute_http(&task, &body(i), &TaskContext::new("bench", "report")).await.is_ok() }
            }
        };
        // Warm up, then alternate rounds so both see the same machine and sandbox size.
        run(bare(client.clone(), url.clone())).await;
        run(through_executor(executor.clone(), task.clone())).await;
        let (mut b, mut e) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            b.push(run(bare(client.clone(), url.clone())).await);
            e.push(run(through_executor(executor.clone(), task.clone())).await);
        }
        b.sort_by(f64::total_cmp);
        e.sort_by(f64::total_cmp);
        let (b, e) = (b[1], e[1]);
        println!("bare reqwest: {b:.0} calls/s; executor (validate, prepare, send, classify): {e:.0} calls/s; {CONCURRENCY} concurrent");
        println!("RATIO executor/bare = {:.2}x (target >= 0.8x)", e / b);
        sandbox.shutdown().await;
    });
}
