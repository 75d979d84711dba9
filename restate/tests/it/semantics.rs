//! What the samples do not exercise, on both engines with the same outputs: a Simple task
//! through a registered handler, a Decision on its result, `inputParameters` with the context
//! object, `resultPath`, a Terminate that fails the run, and `timeoutSeconds` cutting a retry
//! storm short; the sequence number, a spread and JSONata. The service runs in this process (the library), so it can hold a handler.

use crate::common;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use usage_connector::decimal::{decimal_number, numeric};
use usage_connector::execute::{TaskContext, TaskError, TaskHandler, TaskOutput};
use usage_connector::runner::{RunStatus, Runner};
use usage_connector::simworkflow::{Task, WorkflowDefinition};
use usage_connector::validate::validate_definition;
use usage_restate::Connector;
use usage_test_support::Sandbox;

/// Approves a quantity within the budget (exact decimals) and says what is left.
struct Approval;

#[async_trait]
impl TaskHandler for Approval {
    async fn execute(
        &self,
        _task: &Task,
        input: &Value,
        _ctx: &TaskContext,
    ) -> Result<TaskOutput, TaskError> {
        let quantity = numeric(&input["quantity"]).unwrap();
        let budget = numeric(&input["budget"]).unwrap();
        let mut out = input.clone();
        out["approved"] = json!(quantity <= budget);
        out["budgetLeft"] = decimal_number(budget - quantity);
        Ok(TaskOutput::value(out))
    }
}

/// Approve → Decision → a Rebilly usage fed by `inputParameters`, its result merged into the
/// task's input with `resultPath` → Terminate (the execution id from the context object); a
/// refusal fails the run.
fn approved_usage() -> Value {
    json!({
      "name": "Approved usage",
      "startTask": "Approve",
      "timeoutSeconds": 60,
      "tasks": {
        "Approve": { "type": "Simple", "nextTask": "Approved?" },
        "Approved?": {
          "type": "Decision",
          "choices": [ { "condition": "$.approved === true", "nextTask": "Report usage" } ],
          "defaultTask": "Refused"
        },
        "Report usage": {
          "type": "Http",
          "credentials": "rebilly",
          "inputParameters": {
            "subscriptionId": "${$.subscriptionId}",
            "quantity": "${$.quantity}"
          },
          "httpRequest": {
            "url": "https://api-sandbox.rebilly.com/usages",
            "method": "POST",
            "body": { "subscriptionId": "${$.subscriptionId}", "quantity": "${$.quantity}" }
          },
          "resultSelector": { "usageId": "${$.body.id}", "accepted": "${$.quantity.accepted}" },
          "resultPath": "$.usage",
          "nextTask": "Reported"
        },
        "Reported": {
          "type": "Terminate",
          "terminationStatus": "Completed",
          "workflowOutput": {
            "usage": "${$.usage}",
            "execution": "${$$.Execution.Id}",
            "budgetLeft": "${$.budgetLeft}"
          }
        },
        "Refused": {
          "type": "Terminate",
          "terminationStatus": "Failed",
          "workflowOutput": { "refused": "${$.quantity}", "budgetLeft": "${$.budgetLeft}" }
        }
      }
    })
}

/// A POST to a port nobody listens on, retried every second for longer than the run may take.
fn storm(dead_port: u16) -> Value {
    json!({
      "name": "Retry storm",
      "startTask": "Ping",
      "timeoutSeconds": 3,
      "tasks": {
        "Ping": {
          "type": "Http",
          "httpRequest": {
            "url": format!("http://127.0.0.1:{dead_port}/ping"),
            "method": "POST",
            "body": { "n": 1 }
          },
          "retry": { "intervalSeconds": 1, "maxAttempts": 30, "backoffRate": 1.0 },
          "end": true
        }
      }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_decision_data_and_timeouts_run_the_same_on_restate() {
    let local_sandbox = Sandbox::start().await;
    let restate_sandbox = Sandbox::start().await;
    let node = tokio::task::spawn_blocking(|| common::single_node("semantics"))
        .await
        .unwrap();
    let connector = Connector::new(common::executor_for(&restate_sandbox), common::validators())
        .with_simple_handler("Approve", Arc::new(Approval));
    common::serve_in_process(&node.admin, connector.endpoint()).await;
    let runner = Runner::new(Arc::new(common::executor_for(&local_sandbox)))
        .with_simple_handler("Approve", Arc::new(Approval));
    let ingress = common::Ingress::new(&node.ingress);
    let dead_port = common::free_port();

    let cases = [
        (
            "approved",
            approved_usage(),
            json!({"subscriptionId": "sub_unlimited", "quantity": "2.5", "budget": "10"}),
            "Completed",
        ),
        (
            "refused",
            approved_usage(),
            json!({"subscriptionId": "sub_unlimited", "quantity": "12.5", "budget": "10"}),
            "Failed",
        ),
        ("timed-out", storm(dead_port), json!({}), "Failed"),
    ];
    for (name, document, input, status) in cases {
        let report = validate_definition(
            name,
            document.to_string().as_bytes(),
            &common::validators(),
            None,
        );
        assert!(!report.has_errors(), "{name}: {:?}", report.diagnostics);
        let definition: WorkflowDefinition = serde_json::from_value(document.clone()).unwrap();
        let id = format!("semantics-{name}");
        let local = runner.run(&definition, input.clone(), &id).await;
        let (code, reply) = ingress.run(&id, &document, &input).await;
        assert_eq!(code, 200, "{name}: {reply}");
        let local_status = match local.status {
            RunStatus::Completed => "Completed",
            RunStatus::Failed => "Failed",
        };
        assert_eq!(
            (local_status, &reply["status"]),
            (status, &json!(status)),
            "{name}: {reply}"
        );
        assert_eq!(
            common::masked(&reply["output"]),
            common::masked(&local.output),
            "{name}: Restate and the local runner disagree"
        );
        match name {
            "approved" => {
                assert_eq!(reply["output"]["execution"], json!(id));
                assert_eq!(reply["output"]["usage"]["accepted"], json!("2.5"));
                assert_eq!(reply["output"]["budgetLeft"], json!(7.5));
            }
            "refused" => assert_eq!(reply["output"]["refused"], json!("12.5")),
            _ => assert_eq!(reply["output"]["code"], json!("TIMED_OUT"), "{reply}"),
        }
    }
    // The template language on both engines: `swf:sequenceNumber` (a branch reads its run's
    // number), a spread and JSONata. Each engine numbers the runs it was given: three above.
    let numbered = json!({
      "name": "Numbered",
      "startTask": "Fan out",
      "tasks": {
        "Fan out": {
          "type": "Parallel",
          "branches": [{"startTask": "Count", "tasks": {"Count": {
            "type": "Terminate", "terminationStatus": "Completed",
            "workflowOutput": {"n": "${swf:sequenceNumber}",
                               "items": ["${...$.items}", "jsonata:$sum(items)"]}}}}],
          "nextTask": "Done"
        },
        "Done": {
          "type": "Terminate", "terminationStatus": "Completed",
          "workflowOutput": {"branch": "${$[0]}", "n": "${swf:sequenceNumber}"}
        }
      }
    });
    let definition: WorkflowDefinition = serde_json::from_value(numbered.clone()).unwrap();
    let input = json!({"items": [1.5, 2]});
    for n in [4, 5] {
        let id = format!("semantics-numbered-{n}");
        let local = runner.run(&definition, input.clone(), &id).await;
        let (code, reply) = ingress.run(&id, &numbered, &input).await;
        assert_eq!(code, 200, "{reply}");
        let expected = json!({"branch": {"n": n, "items": [1.5, 2, 3.5]}, "n": n});
        assert_eq!(reply["output"], expected, "Restate: {reply}");
        assert_eq!(local.output, expected, "locally");
        let (code, _) = ingress.run(&id, &numbered, &input).await;
        assert_eq!(code, 409, "a second run of one id is refused");
        let (_, again) = ingress.attach(&id).await;
        assert_eq!(
            again["output"], expected,
            "the same execution keeps its number"
        );
    }
    // A service validates a definition's text once and then reuses its plan (the second
    // numbered run above): a copy of that definition with one mistake is new text, refused
    // before it runs.
    let mut broken = numbered.clone();
    broken["startTask"] = json!("Fan in");
    let (code, reply) = ingress
        .run("semantics-numbered-broken", &broken, &input)
        .await;
    assert_ne!(code, 200, "{reply}");
    assert!(reply.to_string().contains("E-START-MISSING"), "{reply}");
    // One approved usage on each side, none for the refused run.
    assert_eq!(local_sandbox.stats().await["usages"], json!(1));
    assert_eq!(restate_sandbox.stats().await["usages"], json!(1));
    drop(node);
}
