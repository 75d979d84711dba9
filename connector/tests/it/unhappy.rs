//! When something is wrong, as a user meets it with the real binary and a sandbox over
//! loopback: a mistake knowable before the first write stops the run before it (nothing
//! reaches the sandbox); a failed run prints the command that resumes it, and that command
//! finishes it without sending a completed task again; a duplicate answers with the record the
//! API had; a journal sends what it delivered elsewhere to a new server.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use usage_sandbox::{Config, FaultSpec};

use common::{Sandbox, root, text};

/// What one run of `price-report-persist` records: a calculation, a usage, a persist.
const PRICED_REPORTED_PERSISTED: [&str; 3] = ["meter-data", "usages", "persist-data"];

fn definition() -> PathBuf {
    root().join("workflows/price-report-persist.json")
}

fn good_input() -> Value {
    common::read_json(&root().join("workflows/examples/price-report-persist.input.json"))
}

/// `run DEFINITION --input INPUT` against `sandbox`, with the vendors' key variables set, in
/// `cwd`, plus `extra` arguments.
fn run(sandbox: &Sandbox, definition: &Path, input: &Value, cwd: &Path, extra: &[&str]) -> Output {
    common::bin()
        .arg("run")
        .arg(definition)
        .arg("--input")
        .arg(input.to_string())
        .args(["--server", &format!("solvimon={}", sandbox.url())])
        .args(["--server", &format!("rebilly={}", sandbox.url())])
        .args(extra)
        .current_dir(cwd)
        .env("SOLVIMON_API_KEY", sandbox.dev_key("solvimon"))
        .env("REBILLY_API_KEY", sandbox.dev_key("rebilly"))
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mistake_knowable_before_the_first_write_stops_the_run_before_it() {
    let sandbox = Sandbox::start().await;
    let cwd = common::scratch("unhappy-preflight");
    let empty = sandbox.stats().await;
    let mut four_decimals = good_input();
    four_decimals["quantity"] = json!("4.2555");
    let mut missing = good_input();
    missing.as_object_mut().unwrap().remove("quantity");
    let typo = cwd.join("typo.json");
    std::fs::write(
        &typo,
        std::fs::read_to_string(definition()).unwrap().replace(
            r#""credentials": "rebilly""#,
            r#""credentials": "rebilly-prod""#,
        ),
    )
    .unwrap();
    let cases: [(&Path, &Value, &[&str]); 3] = [
        (
            &definition(),
            &four_decimals,
            &[
                "error[E-DECIMALS]: task `Report usage`",
                "4.2555 has more than 3 decimal places",
            ],
        ),
        (
            &definition(),
            &missing,
            &[
                "error[E-INPUT-SCHEMA]",
                "\"quantity\" is a required property",
                "at /inputSchema/required",
                "`$$.Execution.Input.quantity` names no value in the workflow input",
            ],
        ),
        (
            &typo,
            &good_input(),
            &[
                "error[E-CREDENTIALS]: task `Report usage`",
                "no credentials `rebilly-prod`",
            ],
        ),
    ];
    for (def, input, expected) in cases {
        // REBILLY_API_KEY is set: a misspelled id must not fall back to it.
        let out = run(&sandbox, def, input, &cwd, &[]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        for e in expected {
            assert!(stderr.contains(e), "`{e}` not in:\n{stderr}");
        }
        assert!(stderr.contains("nothing was sent"), "{stderr}");
        assert!(
            !stderr.contains("to resume:"),
            "nothing ran, nothing to resume: {stderr}"
        );
        assert_eq!(
            sandbox.stats().await,
            empty,
            "something was written:\n{stderr}"
        );

        // `validate --input` runs the same pre-flight (inline JSON accepted).
        let out = common::bin()
            .arg("validate")
            .arg(def)
            .arg("--input")
            .arg(input.to_string())
            .output()
            .unwrap();
        let shown = text(&out.stdout);
        // (It has no credentials: those are the run's to check.)
        if !expected[0].contains("E-CREDENTIALS") {
            assert_eq!(out.status.code(), Some(1), "{shown}");
            assert!(
                shown.contains(expected[0]),
                "`{}` not in:\n{shown}",
                expected[0]
            );
        }
        assert!(
            !shown.contains("N-RUNTIME-SKIPPED]: task `Report usage`"),
            "a task that reads only the workflow input is checked: {shown}"
        );
    }

    // On the embedded sandbox too, an id that is neither `rebilly` nor in a credentials file
    // is refused before the first write.
    let out = common::bin()
        .arg("run")
        .arg(&typo)
        .arg("--input")
        .arg(good_input().to_string())
        .current_dir(&cwd)
        .env("REBILLY_API_KEY", "sk_anything")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error[E-CREDENTIALS]"), "{stderr}");
    assert!(!stderr.contains("[  Started]"), "no task started: {stderr}");
}

/// The `to resume:` line of a run's stderr, as words (the binary's path has no spaces).
fn resume_words(stderr: &str) -> Vec<String> {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("to resume: "))
        .unwrap_or_else(|| panic!("no `to resume:` line in:\n{stderr}"));
    line.split_whitespace().map(str::to_owned).collect()
}

/// Runs a printed command as a user would paste it, in `cwd`, with the vendors' keys.
fn pasted(words: &[String], cwd: &Path, sandbox: &Sandbox, extra: &[&str]) -> Output {
    let mut command = common::bin();
    assert_eq!(
        Path::new(&words[0]),
        Path::new(env!("CARGO_BIN_EXE_usage-connector")),
        "the command names this binary as it was invoked"
    );
    command
        .args(&words[1..])
        .args(extra)
        .current_dir(cwd)
        .env("SOLVIMON_API_KEY", sandbox.dev_key("solvimon"))
        .env("REBILLY_API_KEY", sandbox.dev_key("rebilly"));
    command.output().unwrap()
}

/// The sample run as `workflow_id` against a sandbox with `faults` (its state in `cwd`), which
/// fails (exit 1); then the same sandbox (state, address) without faults. Returns the run's
/// stderr and that sandbox.
async fn failed_run(cwd: &Path, faults: &str, workflow_id: &str) -> (String, Sandbox) {
    let state = cwd.join("sandbox.state");
    let faulty = Sandbox::with(Config {
        state: Some(state.clone()),
        faults: FaultSpec::parse(faults).unwrap(),
        ..Config::default()
    })
    .await;
    let addr = faulty.running().addr();
    let args = ["--workflow-id", workflow_id];
    let out = run(&faulty, &definition(), &good_input(), cwd, &args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    faulty.shutdown().await;
    let healthy = Sandbox::with(Config {
        state: Some(state),
        addr,
        ..Config::default()
    })
    .await;
    (stderr, healthy)
}

/// The sample definition with `from` replaced by `to`, written in `cwd`.
fn edited(cwd: &Path, from: &str, to: &str) -> PathBuf {
    let path = cwd.join("edited.json");
    let text = std::fs::read_to_string(definition()).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path
}

/// The pasted resume command `words` with `--definition edited` is refused, saying `says`,
/// and sends nothing.
async fn resume_refused(
    words: &[String],
    cwd: &Path,
    sandbox: &Sandbox,
    edited: &Path,
    says: &str,
) {
    let before = sandbox.stats().await;
    let out = pasted(
        words,
        cwd,
        sandbox,
        &["--definition", edited.to_str().unwrap()],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(says), "{stderr}");
    assert_eq!(sandbox.stats().await, before, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_resumes_from_the_failed_task_without_sending_a_completed_one_again() {
    let cwd = common::scratch("unhappy-resume");
    let (stderr, sandbox) = failed_run(&cwd, "503=1,prefix=/usages", "resume-me").await;
    assert!(stderr.contains("[Completed] Calculate cost"), "{stderr}");
    assert!(stderr.contains("[   Failed] Report usage"), "{stderr}");
    let words = resume_words(&stderr);
    assert_eq!(words[1..], ["resume", "resume-me"], "{stderr}");
    let written = sandbox.stats().await;
    assert_eq!(written["meter-data"], 1, "{written}");
    assert!(written.get("usages").is_none_or(|u| u == 0), "{written}");

    // An edited definition that would change the completed calculation is refused first.
    let edited = edited(
        &cwd,
        r#""meter_reference": "api_calls""#,
        r#""meter_reference": "api_calls_v2""#,
    );
    let says = "error[E-REQUEST-CHANGED]: task `Calculate cost`";
    resume_refused(&words, &cwd, &sandbox, &edited, says).await;

    let out = pasted(&words, &cwd, &sandbox, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("[   Reused] Calculate cost (Http)"),
        "the completed task is not sent again: {stderr}"
    );
    let output: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        output["cost"]["status"], "READY",
        "resultSelector/resultPath see the recorded answer: {output}"
    );
    assert_eq!(
        sandbox.counts(&PRICED_REPORTED_PERSISTED).await,
        [1, 1, 1],
        "one calculation, one usage, one persist"
    );
    let stats = sandbox.stats().await;
    // A completed run has nothing to resume.
    let out = pasted(&words, &cwd, &sandbox, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nothing to resume"));
    assert_eq!(sandbox.stats().await, stats);
}

/// A usage whose answer was lost may have been recorded: a run under the same id or a resume
/// with a definition that would send it as another request is refused before anything is sent
/// (a lookup would not find the first for it); the resume as recorded finds it, and there is
/// one usage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_that_would_change_a_request_that_may_have_left_is_refused() {
    let cwd = common::scratch("unhappy-resume-unknown");
    let faults = "lost-response=1,prefix=/usages";
    let (stderr, sandbox) = failed_run(&cwd, faults, "lost-usage").await;
    assert!(stderr.contains("OUTCOME_UNKNOWN"), "{stderr}");
    let words = resume_words(&stderr);
    let written = sandbox.stats().await;
    assert_eq!(
        written["usages"], 1,
        "the lost answer's usage was written: {written}"
    );

    let edited = edited(
        &cwd,
        r#""quantity": "${$$.Execution.Input.quantity}""#,
        r#""quantity": "${$$.Execution.Input.calls}""#,
    );
    let says = "error[E-REQUEST-CHANGED]: task `Report usage`: the task's request began in an earlier attempt";
    // Run again under that id: refused before anything is sent, the run's record kept (so the
    // resume below still runs it as it began).
    let args = ["--workflow-id", "lost-usage"];
    let out = run(&sandbox, &edited, &good_input(), &cwd, &args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(says), "{stderr}");
    assert_eq!(sandbox.stats().await, written, "nothing was sent");
    resume_refused(&words, &cwd, &sandbox, &edited, says).await;

    let out = pasted(&words, &cwd, &sandbox, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("[Completed] Report usage") && l.ends_with("recovered")),
        "{stderr}"
    );
    assert_eq!(sandbox.counts(&PRICED_REPORTED_PERSISTED).await, [1, 1, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_answers_with_the_record_the_api_had() {
    let sandbox = Sandbox::start().await;
    let cwd = common::scratch("unhappy-duplicate");
    let first = run(&sandbox, &definition(), &good_input(), &cwd, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let first: Value = serde_json::from_slice(&first.stdout).unwrap();

    // The same input under a new workflow id: Solvimon has the event's reference already.
    let again = run(&sandbox, &definition(), &good_input(), &cwd, &[]);
    let stderr = text(&again.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("[Completed] Calculate cost (Http)")
                && l.ends_with(", duplicate")),
        "{stderr}"
    );
    // The persist's 409 names the original, which Solvimon offers no read of: the task fails
    // with the response named, never `Completed` then a failed workflow.
    assert!(stderr.contains("[   Failed] Persist (Http)"), "{stderr}");
    assert!(!stderr.contains("[Completed] Persist"), "{stderr}");
    let failed: Value = serde_json::from_slice(&again.stdout).unwrap();
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("names no value in the task's response")
            && message.contains("Solvimon documents no read of PERSIST_DATA"),
        "{message}"
    );

    // The calculation's output is the original record read back: the same id and price.
    let out = common::bin()
        .args(["call", "--task"])
        .arg(format!("{}#Calculate cost", definition().display()))
        .arg("--input")
        .arg(good_input().to_string())
        .arg("--server")
        .arg(sandbox.url())
        .current_dir(&cwd)
        .env("SOLVIMON_API_KEY", sandbox.dev_key("solvimon"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let result = &report["result"];
    assert_eq!(result["outcome"], "duplicate");
    assert_eq!(result["duplicateOf"]["body"], "readBack", "{result}");
    assert_eq!(result["body"]["id"], first["cost"]["id"], "{result}");
    assert_eq!(result["body"]["cost_prediction"]["status"], "READY");
    assert_eq!(
        result["duplicateOf"]["answer"]["cost_prediction"]["status"], "DUPLICATE",
        "the duplicate answer is kept beside it"
    );
    assert_eq!(report["output"]["cost"]["amount"], first["cost"]["amount"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_sends_what_it_delivered_elsewhere_to_a_new_server() {
    let dir = common::scratch("unhappy-destination");
    let usages = dir.join("usages.ndjson");
    std::fs::copy(root().join("workflows/examples/usages.ndjson"), &usages).unwrap();
    let ingest = |sandbox: &Sandbox| {
        common::rebilly_ingest(sandbox, &usages, &[])
            .output()
            .unwrap()
    };
    let a = Sandbox::start().await;
    let out = ingest(&a);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(a.usages(&[]).await.total, 3);
    let out = ingest(&a);
    assert!(
        text(&out.stderr).contains("3 done before"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        a.usages(&[]).await.total,
        3,
        "nothing twice at the same server"
    );

    // A new server gets every record, though the journal says they were delivered (to A).
    let b = Sandbox::start().await;
    let out = ingest(&b);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("3 created"), "{stderr}");
    assert_eq!(b.usages(&[]).await.total, 3);
    assert_eq!(a.usages(&[]).await.total, 3);
    let journal = std::fs::read_to_string(dir.join("usages.ndjson.journal")).unwrap();
    assert_eq!(
        journal.matches("\"destination\"").count(),
        2,
        "one section per destination: {journal}"
    );
    assert!(!journal.contains("sk_sandbox"), "no secret in the journal");
    let out = ingest(&a);
    assert!(
        text(&out.stderr).contains("3 done before"),
        "{}",
        text(&out.stderr)
    );

    // The run journal too: the same execution id run against a new server sends there, once.
    let cwd = common::scratch("unhappy-destination-run");
    let input = good_input();
    for sandbox in [&a, &b, &b] {
        let out = run(
            sandbox,
            &definition(),
            &input,
            &cwd,
            &["--workflow-id", "one-run"],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    for sandbox in [&a, &b] {
        let stats = sandbox.stats().await;
        assert_eq!(stats["usages"], 4, "{stats}");
        assert_eq!(stats["persist-data"], 1, "{stats}");
    }
    let journal = std::fs::read_to_string(common::state_dir().join("runs/one-run.jsonl")).unwrap();
    for server in [a.url(), b.url()] {
        assert!(
            journal.contains(&format!("\"server\":\"{server}\"")),
            "each request's destination is recorded: {journal}"
        );
    }
}

#[test]
fn a_run_keeps_its_journal_next_to_the_work() {
    let here = common::scratch("unhappy-journal-here");
    let there = common::scratch("unhappy-journal-there");
    let sample = root().join("workflows/rebilly-create-usage.json");
    let input = root().join("workflows/examples/rebilly-create-usage.input.json");
    for cwd in [&here, &there] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_usage-connector"))
            .arg("run")
            .arg(&sample)
            .arg("--input")
            .arg(&input)
            .args(["--workflow-id", "same-id"])
            .current_dir(cwd)
            .env_remove("USAGE_CONNECTOR_STATE_DIR")
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(
            stderr.contains("journal .usage-connector/runs/same-id.jsonl"),
            "the run says where its journal is: {stderr}"
        );
        let journal = cwd.join(".usage-connector/runs/same-id.jsonl");
        let lines = std::fs::read_to_string(&journal).unwrap();
        assert_eq!(
            lines.matches("\"event\":\"run\"").count(),
            1,
            "each folder keeps its own runs: {lines}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_checks_each_record_against_the_definitions_input_schema() {
    let sandbox = Sandbox::start().await;
    let dir = common::scratch("unhappy-ingest-schema");
    let file = dir.join("orders.ndjson");
    // Each record is the input of an execution of `charge-then-usage`, whose start task it
    // reaches: good; without `customer`; `quantity` a number where inputSchema says string.
    let good = json!({"orderId": "o-1", "customer": "cust-42", "subscriptionId": "sub_unlimited", "quantity": "2.5"});
    let mut no_customer = good.clone();
    no_customer["orderId"] = json!("o-2");
    no_customer.as_object_mut().unwrap().remove("customer");
    let mut number = good.clone();
    number["orderId"] = json!("o-3");
    number["quantity"] = json!(2.5);
    std::fs::write(&file, format!("{good}\n{no_customer}\n{number}\n")).unwrap();
    let report = dir.join("report.ndjson");
    let out = common::bin()
        .arg("ingest")
        .arg(&file)
        .arg("--task")
        .arg(format!(
            "{}#Charge",
            root().join("workflows/charge-then-usage.json").display()
        ))
        .args(["--server", &sandbox.url(), "--report"])
        .arg(&report)
        .env("SOLVIMON_API_KEY", sandbox.dev_key("solvimon"))
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("1 created") && stderr.contains("2 invalid"),
        "{stderr}"
    );
    let reports: Vec<Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let error = |n: u64| reports.iter().find(|r| r["line"] == n).unwrap()["error"].clone();
    assert_eq!(error(2)["code"], "INVALID_INPUT", "{reports:?}");
    assert!(
        error(2)["message"]
            .as_str()
            .unwrap()
            .contains("\"customer\" is a required property"),
        "{reports:?}"
    );
    assert_eq!(error(3)["code"], "INVALID_INPUT", "{reports:?}");
    assert!(
        error(3)["message"].as_str().unwrap().contains("`type`"),
        "{reports:?}"
    );
    assert_eq!(
        sandbox.stats().await["charge-data"],
        1,
        "only the valid record was sent"
    );
}
