//! One prepare path: every sample workflow and every valid corpus definition, with its example
//! input, gets the same verdict from `validate --input` (binary and library) as from the
//! executor's prepare, and where valid the same request body. The half-even rounding case is
//! in the corpus: `validate --input` passes it and `run` sends the rounded quantity.

mod common;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use usage_connector::execute::{Credential, Credentials, ErrorCode, Executor, Secret, TaskContext};
use usage_connector::simworkflow::{Task, WorkflowDefinition};
use usage_connector::template;
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

fn check(path: &Path) {
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

    // The executor's prepare gives each entry task the same verdict and body.
    let definition: WorkflowDefinition = serde_json::from_slice(&bytes).unwrap();
    let executor = executor_for(&definition);
    let mut entries = 0;
    for name in definition.entry_tasks() {
        let mut found = None;
        definition.walk(|t| {
            if t.name == name {
                found = Some(t.task.clone());
            }
        });
        let Some(Task::Http(task)) = found else {
            continue;
        };
        entries += 1;
        let task_input = match &task.input_parameters {
            Some(p) => match template::resolve_value(&Value::Object(p.clone()), &input) {
                Ok(v) => v,
                Err(_) => {
                    assert!(report.has_errors(), "{shown}/{name}: inputParameters");
                    continue;
                }
            },
            None => input.clone(),
        };
        let findings: Vec<_> = report
            .diagnostics
            .iter()
            .filter(|d| d.task.as_deref() == Some(name))
            .collect();
        let errors = findings.iter().any(|d| d.severity == Severity::Error);
        let ctx = TaskContext::new(VALIDATE_WORKFLOW_ID, name);
        match executor.prepare(&task, &task_input, &ctx) {
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
            // JSONata is SimWorkflow's to evaluate: validate says so in a note.
            Err(e) if e.code == ErrorCode::UnsupportedExpression => {
                assert!(!errors, "{shown}/{name}");
                assert!(findings.iter().any(|d| d.code == "N-RUNTIME-SKIPPED"));
            }
            Err(e) => assert!(
                errors,
                "{shown}/{name}: validate passes what run refuses: {e}"
            ),
        }
    }
    assert!(entries > 0, "{shown} has no entry Http task to compare");
}

#[test]
fn validate_and_run_prepare_every_entry_request_alike() {
    let all = definitions();
    assert!(all.len() >= 14, "{} definitions", all.len());
    for path in all {
        check(&path);
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
