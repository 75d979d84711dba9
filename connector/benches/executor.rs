//! Executor throughput vs a bare reqwest loop posting the same bodies to the same in-process
//! sandbox at the same concurrency, in the same run (goal ≥ 0.9×); also the same call through
//! the plugin trait, whose output is a JSON `Value`.
//!
//! Run: `cargo bench -p usage-connector --bench executor`. To profile one loop alone (e.g.
//! under `perf stat`), set `BENCH_ONLY` to `bare`, `executor` or `plugin`: that loop runs five
//! times and prints its rate each time. Four more take the executor apart: `transport` (one
//! request prepared once, sent through the transport alone), `send` (that request through the
//! send loop: attempts, verdict, output), `prepare` (preparing alone, one thread, no I/O) and
//! `output` (the plugin's output of one call written as JSON, one thread).
//!
//! Each round is also reported by CPU time per call: what a call costs the whole process
//! (client, in-process sandbox and kernel), a second view of the same rounds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::{Value, json};
use usage_connector::catalog::Vendor;
use usage_connector::execute::transport::{Exchange, ReqwestTransport, Transport};
use usage_connector::execute::{
    Credential, Credentials, Executor, PreparedRequest, Secret, TaskContext, TaskHandler,
};
use usage_connector::simworkflow::{HttpTask, Task};

/// The allocator the shipped binary runs on (`src/main.rs`), under all three loops alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONCURRENCY: usize = 32;
const CALLS: usize = 10_000;
const ROUNDS: usize = 9;

fn body(i: usize) -> Value {
    json!({"subscriptionId": "sub_unlimited", "quantity": 1.5, "usageTime": format!("2025-05-01T12:{:02}:{:02}Z", (i / 60) % 60, i % 60)})
}

/// CPU time (ns) the whole process has spent so far: every thread's, the sandbox's included
/// (`/proc/self/task/*/schedstat`, user and system alike).
fn cpu_ns() -> u64 {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
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

fn context() -> TaskContext {
    TaskContext::new("bench", "report")
}

/// A loop's work for call `i` (a boxed future, so a named function can return it).
type Work = Box<
    dyn Fn(usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>
        + Send
        + Sync,
>;

/// The request of call 0, prepared once.
fn prepared_once(executor: &Executor, task: &HttpTask) -> Arc<PreparedRequest> {
    Arc::new(
        executor
            .prepare(task, &body(0), &context())
            .expect("prepared"),
    )
}

/// One request, prepared once, sent again and again through the transport alone.
fn transport_only(executor: &Executor, task: &HttpTask) -> Work {
    let (prepared, transport) = (
        prepared_once(executor, task),
        Arc::new(ReqwestTransport::new()),
    );
    Box::new(move |_| {
        let (p, transport) = (prepared.clone(), transport.clone());
        Box::pin(async move {
            let exchange = Exchange {
                method: p.method,
                url: &p.url,
                headers: &p.headers,
                body: p.body.as_ref(),
                connect_timeout: p.connect_timeout,
                read_timeout: p.read_timeout,
            };
            transport
                .exchange(exchange)
                .await
                .is_ok_and(|r| r.status == 201)
        })
    })
}

/// That request through the send loop (attempts, the verdict, the output).
fn send_only(executor: &Arc<Executor>, task: &HttpTask) -> Work {
    let (prepared, executor) = (prepared_once(executor, task), executor.clone());
    Box::new(move |_| {
        let (p, executor) = (prepared.clone(), executor.clone());
        Box::pin(async move { executor.send(&p, &context()).await.is_ok() })
    })
}

/// Requests prepared one after another on one thread, nothing sent: prepares per second.
fn prepare_only(executor: &Executor, task: &HttpTask) -> f64 {
    let start = Instant::now();
    for i in 0..CALLS * 10 {
        std::hint::black_box(
            executor
                .prepare(task, &body(i), &context())
                .expect("prepared"),
        );
    }
    (CALLS * 10) as f64 / start.elapsed().as_secs_f64()
}

/// The plugin's output of one call written as JSON again and again on one thread: writes per
/// second (what `TaskHandler` callers that pass JSON on pay beyond the executor).
async fn output_only(executor: &Executor, task: &Task) -> f64 {
    let out = executor
        .execute(task, &body(0), &context())
        .await
        .expect("executed");
    let start = Instant::now();
    for _ in 0..CALLS * 10 {
        std::hint::black_box(serde_json::to_vec(&out).expect("JSON"));
    }
    (CALLS * 10) as f64 / start.elapsed().as_secs_f64()
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
        // The plugin API: the same call through `TaskHandler::execute`, its output written as
        // JSON bytes once (what a runtime that passes JSON on does; one that reads the typed
        // output does less).
        let plugin_task: Arc<Task> = Arc::new(Task::Http((*task).clone()));
        let through_plugin = |executor: Arc<Executor>, task: Arc<Task>| {
            move |i: usize| {
                let (executor, task) = (executor.clone(), task.clone());
                async move {
                    match executor.execute(&task, &body(i), &TaskContext::new("bench", "report")).await {
                        Ok(out) => serde_json::to_vec(&out).is_ok_and(|json| !json.is_empty()),
                        Err(_) => false,
                    }
                }
            }
        };
        if let Ok(only) = std::env::var("BENCH_ONLY") {
            for _ in 0..5 {
                let rate = match only.as_str() {
                    "bare" => run(bare(client.clone(), url.clone())).await,
                    "executor" => run(through_executor(executor.clone(), task.clone())).await,
                    "plugin" => run(through_plugin(executor.clone(), plugin_task.clone())).await,
                    "transport" => run(transport_only(&executor, &task)).await,
                    "send" => run(send_only(&executor, &task)).await,
                    "prepare" => prepare_only(&executor, &task),
                    "output" => output_only(&executor, &plugin_task).await,
                    other => panic!("BENCH_ONLY={other}: bare, executor, plugin, transport, send, prepare or output"),
                };
                println!("{only}: {rate:.0} calls/s");
            }
            sandbox.shutdown().await;
            return;
        }
        // Warm up, then measure rounds of the three, rotating which goes first so none always
        // meets a warmer machine or a larger sandbox; ratios are taken within a round.
        run(bare(client.clone(), url.clone())).await;
        run(through_executor(executor.clone(), task.clone())).await;
        let (mut b, mut e, mut p, mut ratios, mut plugin_ratios) = (vec![], vec![], vec![], vec![], vec![]);
        // The same rounds by CPU time: what each call costs the process (client, sandbox and
        // kernel alike).
        let (mut cost, mut plugin_cost) = (vec![], vec![]);
        for round in 0..ROUNDS {
            let mut rate = [0.0; 3];
            let mut cpu = [0u64; 3];
            for k in 0..3 {
                let which = (round + k) % 3;
                let before = cpu_ns();
                rate[which] = match which {
                    0 => run(bare(client.clone(), url.clone())).await,
                    1 => run(through_executor(executor.clone(), task.clone())).await,
                    _ => run(through_plugin(executor.clone(), plugin_task.clone())).await,
                };
                cpu[which] = cpu_ns().saturating_sub(before) / CALLS as u64;
            }
            cost.push(cpu[0] as f64 / cpu[1] as f64);
            plugin_cost.push(cpu[0] as f64 / cpu[2] as f64);
            b.push(rate[0]);
            e.push(rate[1]);
            p.push(rate[2]);
            ratios.push(rate[1] / rate[0]);
            plugin_ratios.push(rate[2] / rate[0]);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (bm, em, pm) = (median(&mut b), median(&mut e), median(&mut p));
        let (rm, prm) = (median(&mut ratios), median(&mut plugin_ratios));
        let (cm, pcm) = (median(&mut cost), median(&mut plugin_cost));
        println!("{CONCURRENCY} concurrent, median of {ROUNDS} rounds of {CALLS} calls each");
        println!("bare reqwest: {bm:.0} calls/s; executor (validate, prepare, send, classify): {em:.0} calls/s; TaskHandler::execute (output written as JSON once): {pm:.0} calls/s");
        println!("ratio per round: executor {:.2}..{:.2}; TaskHandler {:.2}..{:.2}", ratios[0], ratios[ROUNDS - 1], plugin_ratios[0], plugin_ratios[ROUNDS - 1]);
        println!("TaskHandler::execute/bare = {prm:.2}x (median per-round ratio)");
        // Only where the kernel tells each thread's CPU time (`/proc`: Linux).
        if cm.is_finite() && pcm.is_finite() {
            println!("by CPU time per call (bare's / the loop's, per round): executor {cm:.2}x ({:.2}..{:.2}); TaskHandler {pcm:.2}x ({:.2}..{:.2})", cost[0], cost[ROUNDS - 1], plugin_cost[0], plugin_cost[ROUNDS - 1]);
        } else {
            println!("by CPU time per call: not measured here (no /proc/self/task)");
        }
        println!("RATIO executor/bare = {rm:.2}x (median per-round ratio; goal >= 0.9x)");
        sandbox.shutdown().await;
    });
}
