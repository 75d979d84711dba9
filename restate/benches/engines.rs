//! Engines compared in one run, against the same in-process sandbox: executions of the same
//! one-POST definition (`workflows/rebilly-create-usage.json`, the usage time left to the
//! connector) through
//! - `bare`: a reqwest POST of the body the connector sends (no engine, no connector);
//! - `local`: the local runner (`runner::Runner` over the executor);
//! - `floor`: a minimal Restate service doing one journaled POST per invocation (`ctx.run`),
//!   the engine's own floor;
//! - `restate`: the connector's `UsageWorkflow` on the same Restate node, the usage time left
//!   to the connector (the identity rides in it, so the time is journaled before the POST);
//! - `solvimon`: `UsageWorkflow` running `workflows/solvimon-ingest-charge.json` (one POST to
//!   an API that deduplicates by key): the clock read rides in the POST's own step;
//! - `floor-wf`: the floor as a Restate workflow (keyed, run once per key), given the request
//!   `UsageWorkflow` is given: what the service type and the input cost, without the connector;
//! - `shape`: that workflow with the journal `UsageWorkflow` keeps for the Solvimon run (the
//!   execution numbered by a one-way call to a counter object, its state written at start and
//!   end around the one journaled POST): the engine's cost of those semantics alone;
//! - `no-count`, `end-state`, `neither`: `shape` without the counter call, without the state
//!   written at the start, and without both: what each of those promises costs (every run
//!   counts toward `swf:sequenceNumber`; a resume finds a run that is still running).
//!
//! Rounds are interleaved (the order rotates) and the medians and spreads are printed, with
//! the ratios to `local` taken within a round. Two measures: throughput at [`CONCURRENCY`]
//! executions in flight, and the latency of one execution at a time, whose differences say
//! where the time of an execution goes. The Restate journal entries of one execution of each
//! service are counted from the server's `sys_journal` table.
//!
//! Run: `cargo bench -p usage-restate --bench engines` (needs `npm ci` in restate/server).

#![allow(clippy::print_stdout, clippy::print_stderr)]
#![allow(missing_docs)] // restate_sdk::service generates undocumented methods

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use restate_sdk::endpoint::{HandlerOptions, ServiceOptions};
use restate_sdk::prelude::*;
use restate_sdk::service::IntoServiceDefinition;
use serde_json::{Value, json};
use usage_connector::catalog::Catalog;
use usage_connector::runner::{RunStatus, Runner};
use usage_connector::simworkflow::WorkflowDefinition;
use usage_connector::validators::Validators;
use usage_restate::Connector;
use usage_test_support::Sandbox;

const CONCURRENCY: usize = 16;
const THROUGHPUT_RUNS: usize = 300;
const LATENCY_RUNS: usize = 40;
const ROUNDS: usize = 5;
const MODES: [&str; 10] = [
    "bare",
    "local",
    "floor",
    "restate",
    "solvimon",
    "floor-wf",
    "shape",
    "no-count",
    "end-state",
    "neither",
];

/// Where the floors post.
#[derive(Clone)]
struct Target {
    client: reqwest::Client,
    url: String,
    key: String,
}

impl Target {
    fn parts(&self) -> (reqwest::Client, String, String) {
        (self.client.clone(), self.url.clone(), self.key.clone())
    }
}

/// One POST of `body` (every floor's journaled step): the status and the usage id.
async fn post(
    (client, url, key): (reqwest::Client, String, String),
    body: Value,
) -> Result<Json<Value>, HandlerError> {
    let r = client
        .post(&url)
        .header("REB-APIKEY", key)
        .json(&body)
        .send()
        .await
        .map_err(|e| TerminalError::new(e.to_string()))?;
    let status = r.status().as_u16();
    let record: Value = r
        .json()
        .await
        .map_err(|e| TerminalError::new(e.to_string()))?;
    Ok(Json(json!({"status": status, "id": record["id"]})))
}

/// The body the connector would send for a run's input.
fn body_for(input: &Value) -> Value {
    let quantity: Value =
        serde_json::from_str(input["quantity"].as_str().unwrap_or("0")).unwrap_or_default();
    json!({"subscriptionId": input["subscriptionId"], "quantity": quantity, "usageTime": chrono::Utc::now().to_rfc3339()})
}

/// The engine's floor: one journaled POST per invocation.
struct Floor(Target);

#[restate_sdk::service]
impl Floor {
    #[handler]
    async fn post(&self, ctx: Context<'_>, body: Json<Value>) -> HandlerResult<Json<Value>> {
        let (target, body) = (self.0.parts(), body.into_inner());
        Ok(ctx.run(|| post(target, body)).name("post").await?)
    }
}

/// A floor workflow's reply: `Completed` when the usage was created.
fn completed(answer: Value) -> Json<Value> {
    let status = if answer["status"] == 201 {
        "Completed"
    } else {
        "Failed"
    };
    Json(json!({"status": status, "output": answer}))
}

/// The floor as a workflow: one journaled POST per key.
struct FloorWorkflow(Target);

#[restate_sdk::workflow]
impl FloorWorkflow {
    #[handler]
    async fn run(
        &self,
        ctx: WorkflowContext<'_>,
        request: Json<Value>,
    ) -> HandlerResult<Json<Value>> {
        let request = request.into_inner();
        let (target, body) = (self.0.parts(), body_for(&request["input"]));
        let answer = ctx.run(|| post(target, body)).name("post").await?;
        Ok(completed(answer.into_inner()))
    }
}

/// The floor workflow with the journal shape of `UsageWorkflow`'s Solvimon run around its
/// POST.
struct ShapedWorkflow(Target);

#[restate_sdk::workflow]
impl ShapedWorkflow {
    #[handler]
    async fn run(
        &self,
        ctx: WorkflowContext<'_>,
        request: Json<Value>,
    ) -> HandlerResult<Json<Value>> {
        let request = request.into_inner();
        // What of the journal to keep (all of it unless the request says otherwise).
        let keeps = |part: &str| request["keep"][part].as_bool().unwrap_or(true);
        if keeps("count") {
            ctx.object_client::<FloorCounterClient>("executions")
                .next()
                .send();
        }
        if keeps("start") {
            ctx.set(
                "attempt",
                Json(json!({"status": "Running", "request": &request})),
            );
        }
        let (target, body) = (self.0.parts(), body_for(&request["input"]));
        let answer = ctx.run(|| post(target, body)).name("post").await?;
        ctx.set(
            "attempt",
            Json(json!({"status": "Completed", "request": &request})),
        );
        Ok(completed(answer.into_inner()))
    }
}

/// The counter `shape` numbers executions with (as `UsageSequence` does).
struct FloorCounter;

#[restate_sdk::object]
impl FloorCounter {
    #[handler]
    async fn next(&self, ctx: ObjectContext<'_>) -> HandlerResult<u64> {
        let next = ctx.get::<u64>("last").await?.unwrap_or(0) + 1;
        ctx.set("last", next);
        Ok(next)
    }
}

/// What the bench drives.
struct Setup {
    client: reqwest::Client,
    sandbox_usages: String,
    rebilly_key: String,
    runner: Runner,
    definition: WorkflowDefinition,
    document: Value,
    /// `workflows/solvimon-ingest-charge.json` and its example input.
    solvimon: (Value, Value),
    ingress: String,
}

fn input(i: usize) -> Value {
    json!({"organizationId": "org_sandbox", "subscriptionId": "sub_unlimited", "quantity": format!("1.{:03}", i % 1000)})
}

/// Runs execution `id` (number `i`) in `mode`; true when it completed with a created usage.
async fn execute(setup: &Setup, mode: &str, id: &str, i: usize) -> bool {
    let body = || {
        // The body the connector sends: the quantity a JSON number, a usage time of its own.
        let quantity: Value = serde_json::from_str(&format!("1.{:03}", i % 1000)).unwrap();
        json!({"subscriptionId": "sub_unlimited", "quantity": quantity, "usageTime": chrono::Utc::now().to_rfc3339()})
    };
    match mode {
        "bare" => setup
            .client
            .post(&setup.sandbox_usages)
            .header("REB-APIKEY", &setup.rebilly_key)
            .json(&body())
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 201),
        "local" => {
            let result = setup.runner.run(&setup.definition, input(i), id).await;
            if result.status != RunStatus::Completed {
                eprintln!("{id}: {}", result.output);
            }
            result.status == RunStatus::Completed
        }
        "floor" => {
            let reply = setup
                .client
                .post(format!("{}/Floor/post", setup.ingress))
                .header("idempotency-key", id)
                .json(&body())
                .send()
                .await;
            match reply {
                Ok(r) => r.json::<Value>().await.is_ok_and(|v| v["status"] == 201),
                Err(_) => false,
            }
        }
        _ => {
            let service = match mode {
                "floor-wf" => "FloorWorkflow",
                "shape" | "no-count" | "end-state" | "neither" => "ShapedWorkflow",
                _ => "UsageWorkflow",
            };
            let request = if mode == "solvimon" {
                let (definition, input) = &setup.solvimon;
                let mut input = input.clone();
                input["reference"] = json!(id);
                json!({"definition": definition, "input": input})
            } else {
                let mut request = json!({"definition": setup.document, "input": input(i)});
                let keep = match mode {
                    "no-count" => Some((false, true)),
                    "end-state" => Some((true, false)),
                    "neither" => Some((false, false)),
                    _ => None,
                };
                if let Some((count, start)) = keep {
                    request["keep"] = json!({"count": count, "start": start});
                }
                request
            };
            let reply = setup
                .client
                .post(format!("{}/{service}/{id}/run", setup.ingress))
                .json(&request)
                .send()
                .await;
            match reply {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["status"] == "Completed"),
                Err(_) => false,
            }
        }
    }
}

/// `runs` executions of `mode` with `concurrency` in flight: executions per second and the
/// median latency of one.
async fn measure(
    setup: &Arc<Setup>,
    mode: &'static str,
    tag: &str,
    runs: usize,
    concurrency: usize,
) -> (f64, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (setup, next, tag) = (setup.clone(), next.clone(), tag.to_owned());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= runs {
                    return latencies;
                }
                let t = Instant::now();
                let id = format!("{tag}-{mode}-{i}");
                assert!(execute(&setup, mode, &id, i).await, "{id} failed");
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.expect("worker"));
    }
    let rate = runs as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    (rate, latencies[latencies.len() / 2])
}

/// The answer of the server's SQL introspection (`POST /query` on the admin API).
async fn sql(client: &reqwest::Client, admin: &str, query: &str) -> Option<Value> {
    client
        .post(format!("{admin}/query"))
        .header("accept", "application/json")
        .json(&json!({ "query": query }))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Journal entries of the invocations of `service` in `mode`, per invocation (`None` when the
/// server kept no journal of finished invocations).
async fn journal_entries(
    client: &reqwest::Client,
    admin: &str,
    service: &str,
    mode: &str,
) -> Option<f64> {
    // Keyed services (the workflow) by the mode in their key; the floor has one mode.
    let keyed = if service == "Floor" {
        String::new()
    } else {
        format!(" AND i.target_service_key LIKE '%-{mode}-%'")
    };
    let query = format!(
        "SELECT count(*) AS entries, count(DISTINCT j.id) AS invocations FROM sys_journal j \
         JOIN sys_invocation i ON j.id = i.id WHERE i.target_service_name = '{service}'{keyed}"
    );
    let reply = sql(client, admin, &query).await?;
    let row = &reply["rows"][0];
    let (entries, invocations) = (row["entries"].as_f64()?, row["invocations"].as_f64()?);
    (invocations > 0.0).then(|| entries / invocations)
}

/// The journal entries of one finished `UsageWorkflow` execution in `mode`: `type(name)` in
/// order.
async fn journal_of_one(client: &reqwest::Client, admin: &str, mode: &str) -> String {
    let query = format!(
        "SELECT j.entry_type AS type, j.name AS name FROM sys_journal j WHERE j.id = \
         (SELECT id FROM sys_invocation WHERE target_service_name = 'UsageWorkflow' \
         AND status = 'completed' AND target_service_key LIKE '%-{mode}-%' LIMIT 1) \
         ORDER BY j.index"
    );
    let reply = sql(client, admin, &query).await;
    let rows = reply.as_ref().and_then(|r| r["rows"].as_array());
    rows.map_or("not retained".into(), |rows| {
        rows.iter()
            .map(|r| match r["name"].as_str().filter(|n| !n.is_empty()) {
                Some(name) => format!("{}({name})", r["type"].as_str().unwrap_or("?")),
                None => r["type"].as_str().unwrap_or("?").to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    })
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn spread(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(0.0, f64::max);
    format!("{min:.2}..{max:.2}")
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let sandbox = Sandbox::start().await;
        let node = tokio::task::spawn_blocking(|| common::single_node("bench"))
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let rebilly_key = sandbox.dev_key("rebilly").to_owned();

        let catalog = Catalog::builtin();
        let validators = Arc::new(Validators::new(&catalog).expect("validators"));
        // The same executor for both engines (both vendors on the sandbox, its dev keys).
        let executor = || common::executor_for(&sandbox);
        common::serve_in_process(
            &node.admin,
            Connector::new(executor(), validators.clone()).endpoint(),
        )
        .await;
        let target = Target {
            client: reqwest::Client::new(),
            url: format!("{}/usages", sandbox.url()),
            key: rebilly_key.clone(),
        };
        let floor = Floor(target.clone());
        let retained = || {
            ServiceOptions::new().handler(
                "run",
                HandlerOptions::new().workflow_retention(usage_restate::DEFAULT_RETENTION),
            )
        };
        common::serve_in_process(
            &node.admin,
            Endpoint::builder()
                .bind(floor)
                .bind(FloorWorkflow(target.clone()).into_service_definition().options(retained()))
                .bind(ShapedWorkflow(target).into_service_definition().options(retained()))
                .bind(FloorCounter)
                .build(),
        )
        .await;

        // The sample Rebilly usage, its usage time left to the connector (derived from the
        // execution: the identity exactly-once rests on).
        let mut document = common::definition("workflows/rebilly-create-usage.json");
        let task = &mut document["tasks"]["Report usage"]["httpRequest"]["body"];
        task.as_object_mut().unwrap().remove("usageTime");
        let setup = Arc::new(Setup {
            client: client.clone(),
            sandbox_usages: format!("{}/usages", sandbox.url()),
            rebilly_key: rebilly_key.clone(),
            runner: Runner::new(Arc::new(executor())),
            definition: serde_json::from_value(document.clone()).unwrap(),
            document,
            solvimon: (
                common::definition("workflows/solvimon-ingest-charge.json"),
                common::definition("workflows/examples/solvimon-ingest-charge.input.json"),
            ),
            ingress: node.ingress.clone(),
        });

        // Warm up every path once.
        for mode in MODES {
            measure(&setup, mode, "warm", 20, 4).await;
        }
        let mut rate = vec![Vec::new(); MODES.len()];
        let mut latency = vec![Vec::new(); MODES.len()];
        for round in 0..ROUNDS {
            for k in 0..MODES.len() {
                let m = (round + k) % MODES.len();
                let tag = format!("r{round}");
                let (r, _) = measure(&setup, MODES[m], &tag, THROUGHPUT_RUNS, CONCURRENCY).await;
                let (_, l) = measure(&setup, MODES[m], &format!("{tag}s"), LATENCY_RUNS, 1).await;
                rate[m].push(r);
                latency[m].push(l.as_secs_f64() * 1000.0);
            }
            eprintln!("round {round} done");
        }

        println!(
            "{ROUNDS} interleaved rounds; throughput: {THROUGHPUT_RUNS} executions at {CONCURRENCY} in flight; latency: median of {LATENCY_RUNS} one at a time"
        );
        let local = 1;
        for (m, mode) in MODES.iter().enumerate() {
            let ratios: Vec<f64> = (0..ROUNDS)
                .map(|r| rate[m][r] / rate[local][r])
                .collect();
            println!(
                "{mode:>8}: {:>7.0} executions/s (spread {}), {:.2}x local (per-round {}); latency {:.2} ms (spread {})",
                median(&rate[m]),
                spread(&rate[m]),
                median(&ratios),
                spread(&ratios),
                median(&latency[m]),
                spread(&latency[m]),
            );
        }
        let ms = |m: usize| median(&latency[m]);
        println!("where one execution's time goes (median latencies, one at a time):");
        println!(
            "  the POST itself (bare): {:.2} ms; the connector around it (local - bare): {:.2} ms",
            ms(0),
            ms(1) - ms(0)
        );
        println!(
            "  Restate's floor around one journaled POST (floor - bare): {:.2} ms",
            ms(2) - ms(0)
        );
        println!(
            "  the connector's workflow on Restate beyond the floor (restate - floor): {:.2} ms, of which the connector's own work (local - bare) {:.2} ms",
            ms(3) - ms(2),
            ms(1) - ms(0)
        );
        println!(
            "  the workflow type and its input (floor-wf - floor): {:.2} ms; the journal the semantics need (shape - floor-wf): {:.2} ms; the connector's Solvimon run beyond that journal (solvimon - shape): {:.2} ms",
            ms(5) - ms(2),
            ms(6) - ms(5),
            ms(4) - ms(6)
        );
        println!(
            "  of that journal, numbering every run (shape - no-count): {:.2} ms; the state written at the start (shape - end-state): {:.2} ms; both (shape - neither): {:.2} ms",
            ms(6) - ms(7),
            ms(6) - ms(8),
            ms(6) - ms(9)
        );
        for (service, mode) in [("UsageWorkflow", "restate"), ("UsageWorkflow", "solvimon"), ("Floor", "floor"), ("FloorWorkflow", "floor-wf"), ("ShapedWorkflow", "shape"), ("ShapedWorkflow", "no-count"), ("ShapedWorkflow", "end-state"), ("ShapedWorkflow", "neither")] {
            match journal_entries(&client, &node.admin, service, mode).await {
                Some(n) => println!("  journal entries per {service} execution ({mode}): {n:.1}"),
                None => println!("  journal entries per {service} execution ({mode}): not retained"),
            }
        }
        for mode in ["restate", "solvimon"] {
            println!("  one UsageWorkflow execution's journal ({mode}): {}", journal_of_one(&client, &node.admin, mode).await);
        }
        for (m, name) in [(3, "restate"), (4, "solvimon"), (5, "floor-wf"), (6, "shape"), (7, "no-count"), (8, "end-state"), (9, "neither")] {
            let throughput: Vec<f64> = (0..ROUNDS).map(|r| rate[2][r] / rate[m][r]).collect();
            let latency_ratio: Vec<f64> = (0..ROUNDS).map(|r| latency[m][r] / latency[2][r]).collect();
            println!(
                "COST {name}/floor = {:.2}x per execution by throughput (per-round spread {}), {:.2}x by latency (spread {})",
                median(&throughput),
                spread(&throughput),
                median(&latency_ratio),
                spread(&latency_ratio)
            );
        }
        for (m, mode) in MODES.iter().enumerate() {
            println!(
                "RATIO {mode}/local = {:.2}x (median per-round throughput ratio)",
                median(
                    &(0..ROUNDS)
                        .map(|r| rate[m][r] / rate[local][r])
                        .collect::<Vec<_>>()
                )
            );
        }
        drop(node);
    });
}
