//! Exactly once across processes and re-runs, with the real binary against the sandbox over
//! loopback: identical usages from two processes stay two usages, a re-run of one workflow id
//! records nothing twice, and an unknown outcome is reported as such and resolved by the
//! re-run.

use crate::common;

use std::collections::BTreeSet;
use std::process::Output;
use std::sync::Arc;

use serde_json::{Value, json};
use usage_sandbox::{Config, FaultSpec};

use common::Sandbox;

/// `call rebilly.create-usage` with `body` against `sandbox`; extra arguments after.
fn call(sandbox: &Sandbox, body: &Value, extra: &[&str]) -> Output {
    let mut command = common::bin();
    command
        .args(["call", "rebilly.create-usage", "--body", "-", "--server"])
        .arg(sandbox.url())
        .args(extra)
        .env("REBILLY_API_KEY", sandbox.dev_key("rebilly"));
    common::with_stdin(command, &body.to_string())
}

fn json_out(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            common::text(&out.stdout),
            common::text(&out.stderr)
        )
    })
}

/// One call to the end, as an operator would see it through: a failure (nothing recorded) or
/// an unknown outcome is run again under the same workflow id until the call is done. Returns
/// the usage id and the outcome of the last run.
fn call_to_the_end(sandbox: &Sandbox, body: &Value, workflow_id: &str) -> (String, String) {
    for _ in 0..10 {
        let out = call(sandbox, body, &["--workflow-id", workflow_id]);
        let v = json_out(&out);
        if out.status.code() == Some(0) {
            return (
                v["body"]["id"].as_str().unwrap().to_owned(),
                v["outcome"].as_str().unwrap().to_owned(),
            );
        }
        assert_eq!(out.status.code(), Some(1), "{v}");
        if v["code"] == "OUTCOME_UNKNOWN" {
            assert_eq!(v["replay"]["workflowId"], workflow_id, "{v}");
            assert!(common::text(&out.stderr).contains(&format!("--workflow-id {workflow_id}")));
        }
    }
    panic!("{workflow_id} did not finish in 10 runs");
}

/// Every usage, read through the sandbox's faults (a faulted read is simply read again).
async fn usages_through_faults(sandbox: &Sandbox) -> Vec<Value> {
    for _ in 0..50 {
        let answer = sandbox
            .http()
            .get(format!("{}/usages?limit=1000", sandbox.url()))
            .header("REB-APIKEY", sandbox.dev_key("rebilly"))
            .send()
            .await;
        if let Ok(r) = answer
            && r.status() == 200
            && let Ok(Value::Array(items)) = r.json::<Value>().await
        {
            return items;
        }
    }
    panic!("no read of /usages got through the faults in 50 tries");
}

/// 100 pairs of identical usages (same subscription, quantity and usage time) sent at the same
/// moment by two processes, under faults: 200 usages, none merged, none doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_usages_from_two_processes_stay_two() {
    let sandbox = Arc::new(
        Sandbox::with(Config {
            faults: FaultSpec::parse("503=0.2,429=0.1,reset=0.05,lost-response=0.1").unwrap(),
            seed: 14,
            ..Config::default()
        })
        .await,
    );
    let body = json!({"subscriptionId": "sub_unlimited", "quantity": 1.5, "usageTime": "2025-06-01T00:00:00Z"});
    let pairs = 100;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (sandbox, body, next) = (sandbox.clone(), body.clone(), next.clone());
        workers.push(tokio::task::spawn_blocking(move || {
            let mut done = Vec::new();
            loop {
                let pair = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if pair >= pairs {
                    return done;
                }
                // Both processes start together, each its own execution (its own new id).
                let spawn = |side: &str| {
                    let s = sandbox.clone();
                    let b = body.clone();
                    let first = format!("pair{pair}-{side}");
                    std::thread::spawn(move || {
                        let out = call(&s, &b, &[]);
                        let v = json_out(&out);
                        if out.status.code() == Some(0) {
                            return (
                                v["body"]["id"].as_str().unwrap().to_owned(),
                                v["outcome"].as_str().unwrap().to_owned(),
                            );
                        }
                        // Not finished: the operator re-runs it under the id it reported.
                        let id = v["replay"]["workflowId"]
                            .as_str()
                            .map_or(first, str::to_owned);
                        call_to_the_end(&s, &b, &id)
                    })
                };
                let (a, b) = (spawn("a"), spawn("b"));
                done.push(a.join().unwrap());
                done.push(b.join().unwrap());
            }
        }));
    }
    let mut reported = Vec::new();
    for w in workers {
        reported.extend(w.await.unwrap());
    }
    assert_eq!(reported.len(), 2 * pairs);
    let ids: BTreeSet<&str> = reported.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 2 * pairs, "merged: two calls reported one usage");
    assert_eq!(
        sandbox.stats().await["usages"],
        json!(2 * pairs),
        "lost or doubled"
    );
    let stored = usages_through_faults(&sandbox).await;
    let stored_ids: BTreeSet<&str> = stored.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(stored_ids, ids);
}

/// The same `call` twice, and the same `run` twice, under one workflow id: one record each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_call_or_run_with_one_workflow_id_records_once() {
    let sandbox = Sandbox::start().await;
    // No usageTime in the body: the re-run recalls the first run's time from the journal.
    let body = json!({"subscriptionId": "sub_unlimited", "quantity": 2});
    let first = json_out(&call(&sandbox, &body, &["--workflow-id", "order-42"]));
    let again = json_out(&call(&sandbox, &body, &["--workflow-id", "order-42"]));
    assert_eq!(
        (first["outcome"].as_str(), again["outcome"].as_str()),
        (Some("created"), Some("duplicate"))
    );
    assert_eq!(first["body"]["id"], again["body"]["id"]);
    assert_eq!(sandbox.usages(&[]).await.total, 1);
    // A call without a workflow id is a new execution: a second usage.
    let other = json_out(&call(&sandbox, &body, &[]));
    assert_eq!(other["outcome"], "created");
    assert_eq!(sandbox.usages(&[]).await.total, 2);

    // `run` of a sample that reports to both vendors, twice under one workflow id.
    let dir = common::scratch("repeated-run");
    let credentials = dir.join("credentials.json");
    std::fs::write(
        &credentials,
        json!({"solvimon": {"header": "X-API-KEY", "env": "SV_KEY"},
               "rebilly": {"header": "REB-APIKEY", "env": "RB_KEY"}})
        .to_string(),
    )
    .unwrap();
    let definition = common::root().join("workflows/fan-out-both-vendors.json");
    let input = common::example_input(&definition).unwrap();
    let run = || {
        common::bin()
            .arg("run")
            .arg(&definition)
            .arg("--input")
            .arg(&input)
            .args(["--workflow-id", "run-7", "--credentials"])
            .arg(&credentials)
            .args(["--server", &format!("solvimon={}", sandbox.url())])
            .args(["--server", &format!("rebilly={}", sandbox.url())])
            .env("SV_KEY", sandbox.dev_key("solvimon"))
            .env("RB_KEY", sandbox.dev_key("rebilly"))
            .output()
            .unwrap()
    };
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    let after_first = sandbox.stats().await;
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    assert_eq!(
        sandbox.stats().await,
        after_first,
        "the re-run recorded something again"
    );
    assert!(
        common::text(&out.stderr).contains("duplicate"),
        "{}",
        common::text(&out.stderr)
    );
}

/// Every answer lost: the call ends `OUTCOME_UNKNOWN` with its replay handle (the write did
/// happen); run again under that workflow id with another body, it is refused
/// (`REQUEST_CHANGED`); with the same body, it is `recovered`, and there is one usage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_outcome_is_resolved_by_the_rerun() {
    let dir = common::scratch("unknown-outcome");
    let state = dir.join("sandbox.state");
    let body = json!({"subscriptionId": "sub_unlimited", "quantity": 3});
    let lossy = Sandbox::with(Config {
        state: Some(state.clone()),
        faults: FaultSpec::parse("lost-response=1").unwrap(),
        ..Config::default()
    })
    .await;
    let out = call(&lossy, &body, &["--workflow-id", "unknown-1"]);
    let err = json_out(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(err["code"], "OUTCOME_UNKNOWN", "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("may have been recorded"),
        "{err}"
    );
    let last = err["attempts"].as_array().unwrap().last().unwrap().clone();
    assert!(last["error"].is_string(), "the last attempt's cause: {err}");
    assert_eq!(err["replay"]["workflowId"], "unknown-1");
    assert!(err["replay"]["usageTime"].is_string(), "{err}");
    assert!(common::text(&out.stderr).contains("--workflow-id unknown-1"));
    lossy.shutdown().await;

    let healthy = Sandbox::with(Config {
        state: Some(state),
        ..Config::default()
    })
    .await;
    assert_eq!(
        healthy.usages(&[]).await.total,
        1,
        "the lost answer's write happened"
    );
    // Another body under that id is another request, which a lookup would not find for the
    // one that may have been recorded: refused, nothing sent.
    let changed = json!({"subscriptionId": "sub_unlimited", "quantity": 4});
    let out = call(&healthy, &changed, &["--workflow-id", "unknown-1"]);
    let v = json_out(&out);
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert_eq!(v["code"], "REQUEST_CHANGED", "{v}");
    assert_eq!(healthy.usages(&[]).await.total, 1, "nothing sent: {v}");
    let out = call(&healthy, &body, &["--workflow-id", "unknown-1"]);
    let v = json_out(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["outcome"], "recovered");
    assert_eq!(
        healthy.usages(&[]).await.total,
        1,
        "resolved without a second usage"
    );
    assert_eq!(v["body"]["usageTime"], err["replay"]["usageTime"]);
}

/// Two processes never deliver from one journal at once. A second `call` of one execution
/// started while the first is sending, or a second `ingest` of one file, is refused before it
/// sends anything; the one that holds the journal delivers each record once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_one_journal_is_refused_and_sends_nothing() {
    use std::io::Write;
    use std::process::Stdio;
    let sandbox = Sandbox::with(Config {
        faults: FaultSpec::parse("delay=2s").unwrap(),
        ..Config::default()
    })
    .await;
    let body = json!({"subscriptionId": "sub_unlimited", "quantity": 1, "usageTime": "2025-07-01T00:00:00Z"});
    let pinned = ["--workflow-id", "one-execution"];
    let mut first = common::bin();
    first
        .args(["call", "rebilly.create-usage", "--body", "-", "--server"])
        .arg(sandbox.url())
        .args(pinned)
        .env("REBILLY_API_KEY", sandbox.dev_key("rebilly"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut first = common::Proc(first.spawn().unwrap());
    first
        .0
        .stdin
        .take()
        .unwrap()
        .write_all(body.to_string().as_bytes())
        .unwrap();
    // Once the first has begun its request (it holds the journal), the second starts.
    holds(
        &common::state_dir().join("runs/one-execution.jsonl"),
        r#""event":"begin""#,
    )
    .await;
    let second = tokio::task::block_in_place(|| call(&sandbox, &body, &pinned));
    let stderr = common::text(&second.stderr);
    assert!(
        second.status.code() == Some(2)
            && stderr.contains("execution `one-execution` cannot start")
            && stderr.contains("is in use by another process"),
        "{:?}: {stderr}",
        second.status.code()
    );
    succeeds(first);
    assert_eq!(sandbox.stats().await["usages"], 1);

    let dir = common::scratch("exactly-once-one-journal");
    let file = dir.join("usages.ndjson");
    let lines: String = (0..3)
        .map(|i| format!("{{\"subscriptionId\": \"sub_unlimited\", \"quantity\": \"2.{i:03}\"}}\n"))
        .collect();
    std::fs::write(&file, lines).unwrap();
    let first = common::rebilly_ingest(&sandbox, &file, &["--concurrency", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = common::Proc(first);
    // Once the first is delivering (its journal holds a begin), the second starts on the file.
    holds(&dir.join("usages.ndjson.journal"), r#""line":1,"#).await;
    let second =
        tokio::task::block_in_place(|| common::rebilly_ingest(&sandbox, &file, &[]).output())
            .unwrap();
    let stderr = common::text(&second.stderr);
    assert!(
        second.status.code() == Some(2) && stderr.contains("is in use by another process"),
        "{:?}: {stderr}",
        second.status.code()
    );
    succeeds(first);
    assert_eq!(
        sandbox.stats().await["usages"],
        4,
        "one call, then each record once"
    );
}

/// Waits (up to 30 s) until the journal at `path` holds `text`: the process writing it has
/// begun a request.
async fn holds(path: &std::path::Path, text: &str) {
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(path).is_ok_and(|t| t.contains(text)) {
        assert!(
            started.elapsed().as_secs() < 30,
            "{} never held {text}",
            path.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Waits for `process` and asserts that it succeeded (showing its stderr when not).
fn succeeds(mut process: common::Proc) {
    use std::io::Read;
    let status = tokio::task::block_in_place(|| process.0.wait()).unwrap();
    let mut text = String::new();
    if let Some(mut stderr) = process.0.stderr.take() {
        stderr.read_to_string(&mut text).unwrap();
    }
    assert!(status.success(), "{text}");
}
