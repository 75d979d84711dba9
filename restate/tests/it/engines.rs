//! The same definitions, two engines: every sample in `workflows/` runs through the local
//! runner and through the Restate service (a real Restate server, the service process), each
//! against a fresh sandbox of its own, and the outputs are the same but for ids and times.
//! Submitting an execution id again runs nothing new.

use crate::common;

use std::sync::Arc;

use serde_json::Value;
use usage_connector::runner::{RunStatus, Runner};
use usage_connector::simworkflow::WorkflowDefinition;
use usage_test_support::Sandbox;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_runs_the_same_on_restate_as_locally() {
    let local_sandbox = Sandbox::start().await;
    let restate_sandbox = Sandbox::start().await;
    let node = tokio::task::spawn_blocking(|| common::single_node("samples"))
        .await
        .unwrap();
    let service = common::Service::for_sandbox(&node.admin, &restate_sandbox).await;
    let ingress = common::Ingress::new(&node.ingress);
    let runner = Runner::new(Arc::new(common::executor_for(&local_sandbox)));

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
            common::masked(&reply["output"]),
            common::masked(&local.output),
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
