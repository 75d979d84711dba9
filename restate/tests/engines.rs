//! The same definitions, two engines: every sample in `workflows/` runs through the local
//! runner and through the Restate service (a real Restate server, the service process), each
//! against a fresh sandbox of its own, and the outputs are the same but for ids and times.
//! Submitting an execution id again runs nothing new.

mod common;

use std::sync::Arc;

use serde_json::{Value, json};
use usage_connector::catalog::Vendor;
use usage_connector::execute::{Credential, Credentials, Executor, Secret};
use usage_connector::runner::{RunStatus, Runner};
use usage_connector::simworkflow::WorkflowDefinition;
use usage_test_support::Sandbox;

/// An executor sending both vendors to `sandbox` with its dev keys.
fn local_executor(sandbox: &Sandbox) -> Executor {
    let mut credentials = Credentials::new();
    for (id, header) in [("solvimon", "X-API-KEY"), ("rebilly", "REB-APIKEY")] {
        credentials.insert(
            id,
            Credential {
                header: header.into(),
                value: Secret::new(sandbox.dev_key(id)),
                platform_id: None,
            },
        );
    }
    Executor::new(credentials)
        .with_server(Vendor::Solvimon, &sandbox.url())
        .with_server(Vendor::Rebilly, &sandbox.url())
}

/// `v` with what differs between two runs of the same execution masked: record ids
/// (`prefix_000…1`), times (the usage time derived from the run's clock, timestamps the
/// sandbox sets) and the `date` header.
fn masked(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if k == "date" {
                        json!("<date>")
                    } else {
                        masked(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(masked).collect()),
        Value::String(s) if is_record_id(s) => json!("<id>"),
        Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => json!("<time>"),
        other => other.clone(),
    }
}

fn is_record_id(s: &str) -> bool {
    s.rsplit_once('_').is_some_and(|(prefix, digits)| {
        !prefix.is_empty() && digits.len() >= 10 && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_runs_the_same_on_restate_as_locally() {
    let local_sandbox = Sandbox::start().await;
    let restate_sandbox = Sandbox::start().await;
    let node = tokio::task::spawn_blocking(|| common::single_node("samples"))
        .await
        .unwrap();
    let admin = node.admin.clone();
    let sandbox_for_service = restate_sandbox.url();
    let service = {
        let keys = (
            restate_sandbox.dev_key("solvimon").to_owned(),
            restate_sandbox.dev_key("rebilly").to_owned(),
        );
        tokio::task::spawn_blocking(move || {
            common::Service::start_with(&admin, &sandbox_for_service, &keys.0, &keys.1)
        })
        .await
        .unwrap()
    };
    let ingress = common::Ingress::new(&node.ingress);
    let runner = Runner::new(Arc::new(local_executor(&local_sandbox)));

    let mut compared = 0;
    for path in std::fs::read_dir(common::root().join("workflows")).unwrap() {
        let path = path.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let input_path = common::root().join(format!("workflows/examples/{name}.input.json"));
        let input: Value = serde_json::from_slice(&std::fs::read(&input_path).unwrap()).unwrap();
        let document: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let definition: WorkflowDefinition = serde_json::from_value(document.clone()).unwrap();
        let id = format!("sample-{name}");

        let local = runner.run(&definition, input.clone(), &id).await;
        let (status, reply) = ingress.run(&id, &document, &input).await;
        assert_eq!(status, 200, "{name}: {reply}");
        let expected_status = match local.status {
            RunStatus::Completed => "Completed",
            RunStatus::Failed => "Failed",
        };
        assert_eq!(reply["status"], expected_status, "{name}: {reply}");
        assert_eq!(
            masked(&reply["output"]),
            masked(&local.output),
            "{name}: Restate and the local runner disagree"
        );
        compared += 1;
    }
    assert!(compared >= 9, "only {compared} samples compared");

    // The same execution id again: Restate runs nothing new, and the sandbox gains nothing.
    let before = restate_sandbox.stats().await;
    let document = common::definition("workflows/charge-then-usage.json");
    let input = common::definition("workflows/examples/charge-then-usage.input.json");
    let (status, _) = ingress
        .run("sample-charge-then-usage", &document, &input)
        .await;
    assert_eq!(status, 409, "a second run of one id is refused");
    let (status, reply) = ingress.attach("sample-charge-then-usage").await;
    assert_eq!(status, 200);
    assert_eq!(
        reply["status"], "Completed",
        "the first run's result: {reply}"
    );
    assert_eq!(restate_sandbox.stats().await, before);
    drop(service);
    drop(node);
}
