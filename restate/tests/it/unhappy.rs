//! When something is wrong, on a real Restate node: a run that would fail before its first
//! write is refused before it (by `submit`, and by the service for a run submitted straight to
//! the ingress); a failed run prints the command that resumes it, and that command finishes it
//! (one calculation, one usage, one persist), also after an unknown outcome (looked up, not
//! sent twice; an edited definition that would send it as another request is refused); one
//! failing Parallel branch cancels the others.

use crate::common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use usage_sandbox::{Config, FaultSpec};
use usage_test_support::Sandbox;

const DEFINITION: &str = "workflows/price-report-persist.json";

/// What one run of it records: a calculation, a usage, a persist.
const PRICED_REPORTED_PERSISTED: [&str; 3] = ["meter-data", "usages", "persist-data"];

fn input() -> Value {
    common::definition("workflows/examples/price-report-persist.input.json")
}

/// `usage-restate ARGS` (stdout, stderr, exit code).
fn restate(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_usage-restate"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A sandbox at `addr` keeping its state in `state`, with `faults`, logging its requests.
async fn sandbox_at(addr: SocketAddr, state: &Path, faults: &str) -> Sandbox {
    Sandbox::with(Config {
        addr,
        state: Some(state.to_owned()),
        faults: FaultSpec::parse(faults).unwrap(),
        record_requests: true,
        ..Config::default()
    })
    .await
}

/// How many requests `sandbox` saw for `method path`.
async fn requests_to(sandbox: &Sandbox, method: &str, path: &str) -> usize {
    let log = sandbox.requests().await;
    log.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == method && r["path"] == path)
        .count()
}

/// Runs the `to resume:` line of `stderr` as printed (the binary's path has no spaces), with
/// `extra` arguments.
fn resume_as_printed(stderr: &str, extra: &[&str]) -> Output {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("to resume: "))
        .unwrap_or_else(|| panic!("no `to resume:` line in:\n{stderr}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        Path::new(words[0]),
        Path::new(env!("CARGO_BIN_EXE_usage-restate")),
        "{line}"
    );
    restate(&[&words[1..], extra].concat())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_resumes_on_restate_and_a_knowable_mistake_stops_it_before_any_write() {
    let dir = common::scratch("unhappy");
    let addr: SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    let state = dir.join("sandbox.state");
    let refusing = sandbox_at(addr, &state, "503=1,prefix=/usages").await;
    let node = tokio::task::spawn_blocking(|| common::single_node("unhappy-node"))
        .await
        .unwrap();
    let _service = common::Service::for_sandbox(&node.admin, &refusing).await;
    let empty = refusing.stats().await;
    let definition = common::root().join(DEFINITION);
    let definition = definition.to_str().unwrap();
    let submit = |id: &str, input: &Value| {
        restate(&[
            "submit",
            definition,
            "--input",
            &input.to_string(),
            "--id",
            id,
            "--ingress",
            &node.ingress,
        ])
    };

    // Pre-flight: a 4-decimal quantity is refused before anything is submitted …
    let mut bad = input();
    bad["quantity"] = json!("4.2555");
    let out = submit("bad-1", &bad);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[E-DECIMALS]: task `Report usage`") && stderr.contains("4.2555"),
        "{stderr}"
    );
    // … and by the service too, for a run submitted straight to the ingress.
    let ingress = common::Ingress::new(&node.ingress);
    let (status, reply) = ingress
        .run("bad-2", &common::definition(DEFINITION), &bad)
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "Failed", "{reply}");
    let message = reply["output"]["message"].as_str().unwrap();
    assert!(
        message.contains("pre-flight") && message.contains("nothing was sent"),
        "{message}"
    );
    assert_eq!(reply["output"]["task"], "Report usage", "{reply}");
    assert_eq!(refusing.stats().await, empty, "nothing was written");

    // The Rebilly server refuses every usage: the run fails at the usage, after the price.
    let out = submit("resume-1", &input());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("workflow Failed"), "{stderr}");
    let written = refusing.stats().await;
    assert_eq!(
        written["meter-data"],
        1,
        "{written}\n{stderr}\n{}",
        text(&out.stdout)
    );
    refusing.shutdown().await;

    // The same sandbox (address, state), healthy: the printed command finishes the run.
    let healthy = sandbox_at(addr, &state, "").await;
    assert_eq!(
        healthy.stats().await,
        written,
        "the state holds what was written"
    );
    let out = resume_as_printed(&stderr, &[]);
    let resumed = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{resumed}\n{}",
        text(&out.stdout)
    );
    let output: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(output["cost"]["status"], "READY", "{output}");
    assert_eq!(
        healthy.counts(&PRICED_REPORTED_PERSISTED).await,
        [1, 1, 1],
        "one calculation, one usage, one persist"
    );
    assert_eq!(
        requests_to(&healthy, "POST", "/v1/events/calculate").await,
        0,
        "the completed calculation was reused, not sent again"
    );
    // Resuming a completed run does nothing.
    let out = restate(&["resume", "resume-1", "--ingress", &node.ingress]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nothing to resume"));
    healthy.shutdown().await;

    // Every answer of the usage is lost: the outcome is unknown (it was written). The resume
    // looks it up and records the answer: one usage, not two.
    let state = dir.join("sandbox-2.state");
    let lossy = sandbox_at(addr, &state, "lost-response=1,prefix=/usages").await;
    let out = submit("unknown-1", &input());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let failed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(failed["code"], "OUTCOME_UNKNOWN", "{failed}");
    lossy.shutdown().await;
    let healthy = sandbox_at(addr, &state, "").await;
    assert_eq!(
        healthy.usages(&[]).await.total,
        1,
        "the lost answer's write happened"
    );
    // A definition that would send that usage as another request is refused before anything
    // is sent: a lookup would not find the first for it.
    let edited = dir.join("edited.json");
    let text_of = std::fs::read_to_string(common::root().join(DEFINITION)).unwrap();
    let from = r#""quantity": "${$$.Execution.Input.quantity}""#;
    assert!(text_of.contains(from));
    let to = r#""quantity": "${$$.Execution.Input.calls}""#;
    std::fs::write(&edited, text_of.replace(from, to)).unwrap();
    let out = resume_as_printed(&stderr, &["--definition", edited.to_str().unwrap()]);
    let refused = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{refused}");
    assert!(
        refused.contains(
            "error[E-REQUEST-CHANGED]: task `Report usage`: the task's request began in an earlier attempt"
        ),
        "{refused}"
    );
    assert_eq!(healthy.usages(&[]).await.total, 1, "nothing was sent");
    let out = resume_as_printed(&stderr, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let output: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(output["usage"]["usageId"].is_string(), "{output}");
    assert_eq!(
        healthy.counts(&PRICED_REPORTED_PERSISTED).await,
        [1, 1, 1],
        "the unknown usage was found, not sent again"
    );
}

/// A Parallel task: one branch fails at once (a usage over its hard limit), the other
/// charges (its faults decide how), then persists.
fn one_branch_fails() -> Value {
    json!({
        "name": "One branch fails",
        "startTask": "Both",
        "tasks": {
            "Done": {"type": "Terminate", "terminationStatus": "Completed"},
            "Both": {"type": "Parallel", "nextTask": "Done", "branches": [
                {"startTask": "Over the limit", "tasks": {"Over the limit": {
                    "type": "Http", "credentials": "rebilly", "end": true,
                    "httpRequest": {"url": "https://api-sandbox.rebilly.com/usages", "method": "POST",
                                    "body": {"subscriptionId": "sub_limit_100", "quantity": 1000}}}}},
                {"startTask": "Charge", "tasks": {
                    "Charge": {
                        "type": "Http", "credentials": "solvimon", "nextTask": "Persist",
                        "retry": {"intervalSeconds": 1, "maxAttempts": 8, "backoffRate": 1, "jitter": "none"},
                        "httpRequest": {"url": "https://test.api.solvimon.com/v1/ingest/charge-data", "method": "POST",
                                        "body": {"product_item_id": "pit_usage", "pricing_id": "prc_1",
                                                 "pricing_item_id": "prci_1", "pricing_item_config_id": "pric_1",
                                                 "customer_reference": "cust-42", "value": {"number": "1"}}}},
                    "Persist": {
                        "type": "Http", "credentials": "solvimon", "end": true,
                        "httpRequest": {"url": "https://test.api.solvimon.com/v1/ingest/persist-data", "method": "POST",
                                        "body": {"customer_id": "cust_sandbox_0001", "pricing_id": "prc_api",
                                                 "pricing_item_id": "prci_api", "pricing_item_config_id": "pric_api",
                                                 "pricing_plan_subscription_id": null, "persist_usage": "true"}}}}}
            ]}
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_branch_cancels_the_others_on_restate() {
    let node = tokio::task::spawn_blocking(|| common::single_node("unhappy-branches"))
        .await
        .unwrap();
    let ingress = common::Ingress::new(&node.ingress);
    let dir = common::scratch("unhappy-branches-sandboxes");
    // The charge is refused and retried every second (cancelled while it waits), then the
    // charge takes 2 s to answer (cancelled while its request is in flight).
    for (n, faults) in [
        "503=1,prefix=/v1/ingest/charge-data",
        "delay=2s,prefix=/v1/ingest/charge-data",
    ]
    .into_iter()
    .enumerate()
    {
        let addr: SocketAddr = format!("127.0.0.1:{}", common::free_port())
            .parse()
            .unwrap();
        let sandbox = sandbox_at(addr, &dir.join(format!("{n}.state")), faults).await;
        let service = common::Service::for_sandbox(&node.admin, &sandbox).await;
        let id = format!("branches-{n}");
        let (status, reply) = ingress.run(&id, &one_branch_fails(), &json!({})).await;
        assert_eq!(status, 200, "{faults}: {reply}");
        assert_eq!(reply["status"], "Failed", "{faults}: {reply}");
        assert_eq!(
            reply["output"]["code"], "USAGE_LIMIT_EXCEEDED",
            "{faults}: {reply}"
        );
        // Uncancelled, the charge branch would go on in the background: retrying every second,
        // or sending again after its lost answer and then persisting.
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        let charges = requests_to(&sandbox, "POST", "/v1/ingest/charge-data").await;
        assert_eq!(
            charges,
            1,
            "{faults}: the charge branch was cancelled after its first attempt: {}",
            sandbox.requests().await
        );
        let stats = sandbox.stats().await;
        assert!(
            stats.get("persist-data").is_none(),
            "{faults}: the cancelled branch's next task never ran: {stats}"
        );
        drop(service);
    }
}
