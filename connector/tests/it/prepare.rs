//! One prepare path: every sample workflow and every valid corpus definition, with its example
//! input, gets the same verdict from `validate --input` (binary and library) as from the
//! runner handing each entry task to the executor's prepare, and where valid the same request
//! body; and `run` itself (embedded sandbox) sends every request `validate --input` prepared,
//! and stops before its first write exactly when validate finds errors. The half-even rounding cases are in the corpus: `validate --input` passes them and
//! `run` sends the rounded quantity.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};
use usage_connector::execute::{
    Credential, Credentials, Executor, PreparedRequest, Secret, TaskContext, TaskError,
    TaskHandler, TaskOutput,
};
use usage_connector::runner::Runner;
use usage_connector::simworkflow::{Task, WorkflowDefinition};
use usage_connector::validate::{Severity, VALIDATE_WORKFLOW_ID, validate_definition};
use usage_connector::validators::Validators;

/// Every definition the test covers: the samples and the valid corpus.
fn definitions() -> Vec<PathBuf> {
    let mut all = common::json_files(&common::root().join("workflows"));
    all.extend(common::corpus("valid"));
    all
}

/// An executor with a dummy secret for every credentials id the definition uses.
fn executor_for(definition: &WorkflowDefinition) -> Executor {
    let mut credentials = Credentials::new();
    for (_, task) in definition.http_tasks() {
        if let Some(id) = &task.credentials {
            credentials.insert(
                id.clone(),
                Credential {
                    header: "X-API-KEY".into(),
                    value: Secret::new("dummy"),
                    platform_id: None,
                },
            );
        }
    }
    Executor::new(credentials)
}

/// `a` and `b` with a `usageTime` the connector generated (the input had none) removed, after
/// checking both are whole-second times within a minute of each other.
fn without_generated_time(mut a: Value, mut b: Value) -> (Value, Value) {
    if a["usageTime"] != b["usageTime"] {
        let at = |v: &Value| {
            let text = v["usageTime"].as_str().expect("usageTime is set");
            assert!(!text.contains('.'), "whole seconds: {text}");
            chrono::DateTime::parse_from_rfc3339(text).expect("RFC 3339")
        };
        assert!((at(&a) - at(&b)).num_seconds().abs() <= 60);
        a.as_object_mut().unwrap().remove("usageTime");
        b.as_object_mut().unwrap().remove("usageTime");
    }
    (a, b)
}

/// A handler that records the request the executor would send for each task (built by
/// `Executor::prepare`, nothing sent) and passes `{}` on, so the runner goes on to the next task.
struct Recorder {
    executor: Executor,
    seen: Mutex<Vec<(String, Result<PreparedRequest, TaskError>)>>,
}

#[async_trait]
impl TaskHandler for Recorder {
    async fn execute(
        &self,
        task: &Task,
        input: &Value,
        ctx: &TaskContext,
    ) -> Result<TaskOutput, TaskError> {
        if let Task::Http(http) = task {
            let prepared = self.executor.prepare(http, input, ctx);
            self.seen
                .lock()
                .unwrap()
                .push((ctx.task_name.clone(), prepared));
        }
        Ok(TaskOutput::value(json!({})))
    }
}

async fn check(path: &Path) {
    let shown = path.display().to_string();
    let input_path = common::example_input(path)
        .unwrap_or_else(|| panic!("{shown} has no examples/<name>.input.json"));
    let input = common::read_json(&input_path);
    let bytes = std::fs::read(path).unwrap();

    // The binary and the library agree on the verdict.
    let out = common::bin()
        .args(["validate"])
        .arg(path)
        .arg("--input")
        .arg(&input_path)
        .output()
        .unwrap();
    let report = validate_definition(&shown, &bytes, Validators::builtin(), Some(&input));
    assert_eq!(
        out.status.code(),
        Some(if report.has_errors() { 1 } else { 0 }),
        "{shown}: {}",
        common::text(&out.stdout)
    );

    // The runner (its own input mapping) hands each entry task to the executor's prepare:
    // the same verdict and body as validate's.
    let definition: WorkflowDefinition = serde_json::from_slice(&bytes).unwrap();
    let recorder = Arc::new(Recorder {
        executor: executor_for(&definition),
        seen: Mutex::default(),
    });
    let mut simple = Vec::new();
    definition.walk(|t| {
        if matches!(t.task, Task::Simple(_)) {
            simple.push(t.name.to_owned());
        }
    });
    let mut runner = Runner::new(recorder.clone());
    for name in &simple {
        runner = runner.with_simple_handler(name, recorder.clone());
    }
    runner
        .run(&definition, input.clone(), VALIDATE_WORKFLOW_ID)
        .await;
    let seen = std::mem::take(&mut *recorder.seen.lock().unwrap());
    let mut entries = 0;
    for name in definition.entry_tasks() {
        let Some((_, prepared)) = seen.iter().find(|(task, _)| task == name) else {
            continue;
        };
        entries += 1;
        let findings: Vec<_> = report
            .diagnostics
            .iter()
            .filter(|d| d.task.as_deref() == Some(name))
            .collect();
        let errors = findings.iter().any(|d| d.severity == Severity::Error);
        match prepared {
            Ok(sent) => {
                assert!(!errors, "{shown}/{name}: validate rejects what run sends");
                let checked = report
                    .requests
                    .iter()
                    .find(|r| r.task == name)
                    .unwrap_or_else(|| panic!("{shown}/{name}: validate kept no request"));
                assert_eq!(checked.request.url, sent.url, "{shown}/{name}");
                assert_eq!(
                    checked.request.identity.idempotency_key,
                    sent.identity.idempotency_key
                );
                let (a, b) = match (checked.request.body_json(), sent.body_json()) {
                    (Some(a), Some(b)) => without_generated_time(a, b),
                    other => (json!(other.0), json!(other.1)),
                };
                assert_eq!(
                    a, b,
                    "{shown}/{name}: validate and run prepare different bodies"
                );
            }
            // JSONata is not evaluated by the connector: run refuses it, and so does validate
            // (before the run's first write).
            Err(e) => assert!(
                errors,
                "{shown}/{name}: validate passes what run refuses: {e}"
            ),
        }
    }
    // An entry task whose inputParameters cannot resolve never reaches the handler; validate
    // must have said so.
    if entries == 0 {
        assert!(
            report.has_errors(),
            "{shown}: no entry Http task was prepared"
        );
    }
}

#[tokio::test]
async fn validate_and_run_prepare_every_entry_request_alike() {
    let all = definitions();
    assert!(all.len() >= 15, "{} definitions", all.len());
    for path in all {
        check(&path).await;
    }
}

/// `validate --input` and `run` give the same answer: for every sample and valid corpus
/// definition with its example input, `run` (embedded sandbox, a fresh state folder, so the
/// same execution id and number as validate's) stops before its first write exactly when
/// `validate` finds errors, and otherwise sends, for every task validate prepared, that very
/// request (method, path, body; a generated `usageTime` aside).
#[test]
fn validate_with_an_input_and_run_give_the_same_answer() {
    let all = definitions();
    assert!(all.len() >= 16, "{} definitions", all.len());
    for path in all {
        let shown = path.display().to_string();
        let input_path = common::example_input(&path).unwrap();
        let input = common::read_json(&input_path);
        let report = validate_definition(
            &shown,
            &std::fs::read(&path).unwrap(),
            Validators::builtin(),
            Some(&input),
        );
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let state = common::scratch(&format!("agree-{name}"));
        let trace = state.join("trace.jsonl");
        let out = common::bin()
            .env("USAGE_CONNECTOR_STATE_DIR", &state)
            .args(["run", "--workflow-id", VALIDATE_WORKFLOW_ID])
            .arg(&path)
            .arg("--input")
            .arg(&input_path)
            .arg("--trace")
            .arg(&trace)
            .output()
            .unwrap();
        let stderr = common::text(&out.stderr);
        let sent: Vec<Value> = std::fs::read_to_string(&trace)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if report.has_errors() {
            assert!(
                out.status.code() == Some(1)
                    && stderr.contains("nothing was sent")
                    && sent.is_empty(),
                "{shown}: validate finds errors, and run got past its check:\n{stderr}"
            );
            continue;
        }
        assert!(
            !stderr.contains("before the run's first write"),
            "{shown}: validate passes, and run stops before its first write:\n{stderr}"
        );
        let definition: WorkflowDefinition =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let entries = definition.entry_tasks();
        for checked in &report.requests {
            // A task after a Decision on a response may be one the run did not take.
            let Some(first) = sent.iter().find(|r| r["task"] == checked.task.as_str()) else {
                assert!(
                    !entries.contains(&checked.task.as_str()),
                    "{shown}: run sent nothing for `{}`:\n{stderr}",
                    checked.task
                );
                continue;
            };
            let url = reqwest::Url::parse(first["url"].as_str().unwrap()).unwrap();
            let (path_of, query_of) = (url.path(), url.query());
            assert_eq!(
                (
                    checked.request.method,
                    checked.request.url.path(),
                    checked.request.url.query()
                ),
                (first["method"].as_str().unwrap(), path_of, query_of),
                "{shown}/{}",
                checked.task
            );
            let (mut a, mut b) = (
                checked.request.body_json().unwrap_or(Value::Null),
                first["requestBody"].clone(),
            );
            // A usage time the connector stamped (the input gave none) is the moment's: each
            // side's own, within a minute of the other.
            if a["usageTime"] != b["usageTime"] {
                let at = |v: &Value| {
                    chrono::DateTime::parse_from_rfc3339(v["usageTime"].as_str().unwrap()).unwrap()
                };
                assert!((at(&a) - at(&b)).num_seconds().abs() <= 60, "{shown}");
                a.as_object_mut().unwrap().remove("usageTime");
                b.as_object_mut().unwrap().remove("usageTime");
            }
            assert_eq!(
                a, b,
                "{shown}/{}: validate prepared another body than run sent",
                checked.task
            );
        }
    }
}

#[test]
fn half_even_rounding_validates_and_runs_with_the_rounded_quantity() {
    let definition = common::root().join("tests/workflows/valid/rebilly-rounding-half-even.json");
    let input = common::example_input(&definition).unwrap();
    assert_eq!(common::read_json(&input)["quantity"], json!(5.1255));
    let validated = common::bin()
        .arg("validate")
        .arg(&definition)
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(
        validated.status.code(),
        Some(0),
        "{}",
        common::text(&validated.stdout)
    );
    let ran = common::bin()
        .arg("run")
        .arg(&definition)
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(0), "{}", common::text(&ran.stderr));
    let output: Value = serde_json::from_slice(&ran.stdout).unwrap();
    assert_eq!(output["body"]["quantity"], json!(5.126), "{output}");
    assert_eq!(
        output["quantity"],
        json!({"requested": "5.126", "accepted": "5.126", "remainder": "0", "roundedAway": "-0.0005"})
    );
}
