//! The local runner and the sample workflows: every file in `workflows/` validates and runs to
//! Completed on the embedded sandbox (the partial-quantity path included), the trace holds no
//! secret, conditions outside the language are rejected by `validate`, and the runner's own
//! rules (Simple without a handler, failing Parallel branches, Terminate Failed, timeouts).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use usage_connector::execute::{ErrorCode, TaskContext, TaskError, TaskHandler, TaskOutput};
use usage_connector::runner::{RunStatus, Runner};
use usage_connector::simworkflow::{Task, WorkflowDefinition};

use crate::common;

use common::{bin, root};

/// The sample workflows' names (stems of `workflows/*.json`).
fn samples() -> Vec<String> {
    common::json_files(&root().join("workflows"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_sample_validates() {
    let out = bin()
        .arg("validate")
        .arg(root().join("workflows"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("11 file(s): 0 invalid; 0 error(s), 0 warning(s)")
    );
}

#[test]
fn every_sample_runs_to_completed_on_the_embedded_sandbox() {
    let names = samples();
    assert_eq!(
        names.len(),
        11,
        "one per endpoint plus six composites: {names:?}"
    );
    for name in names {
        let trace = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{name}.trace.jsonl"));
        let out = bin()
            .arg("run")
            .arg(root().join(format!("workflows/{name}.json")))
            .arg("--input")
            .arg(root().join(format!("workflows/examples/{name}.input.json")))
            .arg("--trace")
            .arg(&trace)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}:\n{stderr}\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            stderr.contains("workflow Completed") && stderr.contains("[Completed]"),
            "{name}: {stderr}"
        );
        let output: Value = serde_json::from_slice(&out.stdout).unwrap();
        let trace = std::fs::read_to_string(&trace).unwrap();
        assert!(
            !trace.is_empty() && !trace.contains("sk_sandbox"),
            "{name}: trace missing or leaking a key"
        );
        for line in trace.lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            assert!(
                record["status"].is_u64() && record["requestBody"].is_object(),
                "{name}: {record}"
            );
        }
        match name.as_str() {
            "usage-with-overage" => {
                assert_eq!(
                    output["result"], "partial",
                    "the hard limit clamps the usage: {output}"
                );
                assert_eq!(output["overageUnits"], "2.5");
                assert!(
                    stderr.contains("Report usage (Http)")
                        && stderr.contains("partial")
                        && stderr.contains("→ Charge overage"),
                    "{stderr}"
                );
            }
            "meter-and-price" => assert!(
                output["persisted"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("prsd_")),
                "{output}"
            ),
            "fan-out-both-vendors" => assert_eq!(
                (output["rebilly"].as_str(), output["solvimon"].as_str()),
                (Some("created"), Some("created"))
            ),
            // Data carried along the chain: the input, the charge beside it, and the usage
            // fed the decimal string "2.5" as Rebilly's exact number.
            "charge-then-usage" => {
                assert_eq!(output["orderId"], "o-1001", "{output}");
                assert_eq!(output["charge"]["outcome"], "created", "{output}");
                assert_eq!(output["usage"]["outcome"], "created", "{output}");
                assert_eq!(output["usage"]["quantity"]["accepted"], "2.5", "{output}");
                assert!(
                    stderr.contains("[  Started] Report usage (Http)"),
                    "a line as each task starts: {stderr}"
                );
            }
            // JSONata: the plan mapped to its pricing id, the lines summed exactly (JSONata's
            // 2.3000000000000003 is rounded half-even for Rebilly, `$round` for Solvimon).
            "order-lines-to-usage" => {
                assert_eq!(output["charge"]["outcome"], "created", "{output}");
                assert_eq!(output["usage"]["quantity"]["accepted"], "2.3", "{output}");
                let bodies: Vec<Value> = trace
                    .lines()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap()["requestBody"].clone())
                    .collect();
                let charge = bodies.iter().find(|b| b["pricing_id"].is_string()).unwrap();
                assert_eq!(charge["pricing_id"], "prc_pro");
                assert_eq!(charge["value"]["number"], "2.3");
                assert_eq!(charge["description"], "3 lines for order o-2001");
                let usage = bodies
                    .iter()
                    .find(|b| b["subscriptionId"].is_string())
                    .unwrap();
                assert_eq!(
                    usage["quantity"].to_string(),
                    "2.3",
                    "never the double: {usage}"
                );
            }
            // Priced, then the usage fed from the workflow input, then persisted.
            "price-report-persist" => {
                assert_eq!(output["cost"]["status"], "READY", "{output}");
                assert_eq!(output["usage"]["quantity"]["accepted"], "4.25", "{output}");
                assert!(
                    output["persist"]["id"]
                        .as_str()
                        .is_some_and(|id| id.starts_with("prsd_")),
                    "{output}"
                );
            }
            _ => assert_eq!(output["statusCode"], 201, "{name}: {output}"),
        }
    }
}

#[test]
fn a_condition_outside_the_language_is_rejected_with_a_pointer() {
    let path = root().join("tests/workflows/invalid/decision-condition-unsupported.json");
    let out = bin()
        .args(["validate", "--format", "json"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let diagnostics: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0]["code"], "E-CONDITION");
    assert_eq!(
        diagnostics[0]["pointer"],
        "/tasks/Check/choices/0/condition"
    );
    assert!(diagnostics[0]["line"].as_u64().is_some());
    // run refuses it too, before any task runs.
    let out = bin().arg("run").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("E-CONDITION"));
}

/// A handler that answers from a table, for the runner's own rules.
struct Table;

#[async_trait]
impl TaskHandler for Table {
    async fn execute(
        &self,
        task: &Task,
        input: &Value,
        ctx: &TaskContext,
    ) -> Result<TaskOutput, TaskError> {
        match (task, ctx.task_name.as_str()) {
            (_, "Fail") => Err(TaskError::new(ErrorCode::HttpError, "HTTP 503")),
            (_, "Slow") => {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                Ok(TaskOutput::value(json!({})))
            }
            _ => Ok(TaskOutput::value(
                json!({"seen": input, "by": ctx.task_name}),
            )),
        }
    }
}

/// A handler that counts its calls.
#[derive(Default)]
struct Counting(std::sync::atomic::AtomicUsize);

#[async_trait]
impl TaskHandler for Counting {
    async fn execute(
        &self,
        _task: &Task,
        input: &Value,
        _ctx: &TaskContext,
    ) -> Result<TaskOutput, TaskError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(TaskOutput::value(input.clone()))
    }
}

fn definition(v: Value) -> WorkflowDefinition {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn runner_rules() {
    let runner = Runner::new(Arc::new(Table)).with_simple_handler("Approve", Arc::new(Table));
    // inputParameters reshape the input; a Simple task runs through its handler; end ends.
    let def = definition(json!({"name": "n", "startTask": "Approve", "tasks": {
        "Approve": {"type": "Simple", "inputParameters": {"amount": "${$.order.total}"}, "nextTask": "Call"},
        "Call": {"type": "Http", "httpRequest": {"url": "https://api.example.com/x", "method": "POST"}, "end": true}}}));
    let r = runner
        .run(&def, json!({"order": {"total": 42}}), "wf")
        .await;
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!(
        r.output,
        json!({"seen": {"seen": {"amount": 42}, "by": "Approve"}, "by": "Call"})
    );

    // A Simple task without a handler fails clearly.
    let def = definition(
        json!({"name": "n", "startTask": "Sign", "tasks": {"Sign": {"type": "Simple", "end": true}}}),
    );
    let r = runner.run(&def, json!({}), "wf").await;
    assert_eq!(
        (r.status, r.output["code"].as_str()),
        (RunStatus::Failed, Some("NO_HANDLER"))
    );
    assert!(
        r.output["message"]
            .as_str()
            .unwrap()
            .contains("with_simple_handler")
    );

    // A Parallel fails when one branch fails; outputs come in branch order otherwise.
    let branches = |second: &str| {
        json!({"name": "n", "startTask": "P", "tasks": {
        "P": {"type": "Parallel", "branches": [
            {"startTask": "A", "tasks": {"A": {"type": "Http", "httpRequest": {"url": "https://x.example/a", "method": "GET"}, "end": true}}},
            {"startTask": second, "tasks": {second: {"type": "Http", "httpRequest": {"url": "https://x.example/b", "method": "GET"}, "end": true}}}],
            "nextTask": "Done"},
        "Done": {"type": "Terminate", "terminationStatus": "Completed", "workflowOutput": {"first": "${$[0].by}", "second": "${$[1].by}"}}}})
    };
    let r = runner
        .run(&definition(branches("B")), json!({}), "wf")
        .await;
    assert_eq!(
        (r.status, r.output.clone()),
        (RunStatus::Completed, json!({"first": "A", "second": "B"}))
    );
    let r = runner
        .run(&definition(branches("Fail")), json!({}), "wf")
        .await;
    assert_eq!(
        (r.status, r.output["task"].as_str()),
        (RunStatus::Failed, Some("Fail"))
    );

    // Decision routes on the previous output; Terminate Failed fails the workflow with its output.
    let def = definition(json!({"name": "n", "startTask": "D", "tasks": {
        "D": {"type": "Decision", "choices": [{"condition": "$.n > 2 && $.kind !== 'test'", "nextTask": "Big"}], "defaultTask": "Small"},
        "Big": {"type": "Terminate", "terminationStatus": "Completed", "workflowOutput": {"size": "big"}},
        "Small": {"type": "Terminate", "terminationStatus": "Failed", "workflowOutput": {"size": "small"}}}}));
    assert_eq!(
        runner
            .run(&def, json!({"n": 3, "kind": "prod"}), "wf")
            .await
            .output,
        json!({"size": "big"})
    );
    let r = runner
        .run(&def, json!({"n": 3, "kind": "test"}), "wf")
        .await;
    assert_eq!(
        (r.status, r.output.clone()),
        (RunStatus::Failed, json!({"size": "small"}))
    );

    // A condition the language cannot parse fails the run before any task runs (the
    // definition skipped validation): nothing is half-done.
    let calls = Arc::new(Counting::default());
    let counted = Runner::new(calls.clone());
    let def = definition(json!({"name": "n", "startTask": "Call", "tasks": {
        "Call": {"type": "Http", "httpRequest": {"url": "https://x.example", "method": "GET"}, "nextTask": "D"},
        "D": {"type": "Decision", "choices": [{"condition": "$.n.toFixed(2) > 1", "nextTask": "Call"}], "defaultTask": "Call"}}}));
    let r = counted.run(&def, json!({}), "wf").await;
    assert_eq!(
        (
            r.status,
            r.output["code"].as_str(),
            r.output["task"].as_str()
        ),
        (RunStatus::Failed, Some("E-CONDITION"), Some("D"))
    );
    assert_eq!(calls.0.load(std::sync::atomic::Ordering::SeqCst), 0);

    // timeoutSeconds bounds the run.
    let def = definition(
        json!({"name": "n", "startTask": "Slow", "timeoutSeconds": 1, "tasks": {
        "Slow": {"type": "Http", "httpRequest": {"url": "https://x.example", "method": "GET"}, "end": true}}}),
    );
    let r = runner.run(&def, json!({}), "wf").await;
    assert_eq!(
        (r.status, r.output["code"].as_str()),
        (RunStatus::Failed, Some("TIMED_OUT"))
    );
}

/// `swf:sequenceNumber` on the CLI: each new run of a state folder gets the next number, a
/// re-run of a pinned id keeps the one it was given, and processes running at once never
/// share one.
#[test]
fn runs_are_numbered_once_and_keep_their_number() {
    let state = common::scratch("numbered");
    let definition = state.join("numbered.json");
    std::fs::write(
        &definition,
        r#"{"name": "Numbered", "startTask": "Done", "tasks": {"Done": {"type": "Terminate",
            "terminationStatus": "Completed", "workflowOutput": {"n": "${swf:sequenceNumber}"}}}}"#,
    )
    .unwrap();
    let start = |id: Option<&str>| {
        let mut command = bin();
        command
            .env("USAGE_CONNECTOR_STATE_DIR", &state)
            .arg("run")
            .arg(&definition)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(id) = id {
            command.args(["--workflow-id", id]);
        }
        command.spawn().unwrap()
    };
    let number = |child: std::process::Child| {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["n"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(number(start(None)), 1);
    assert_eq!(number(start(Some("pinned"))), 2);
    assert_eq!(
        number(start(Some("pinned"))),
        2,
        "a re-run keeps its number"
    );
    let at_once: Vec<_> = (0..4).map(|_| start(None)).collect();
    let mut numbers: Vec<u64> = at_once.into_iter().map(number).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, [3, 4, 5, 6], "never shared, none skipped");
}
