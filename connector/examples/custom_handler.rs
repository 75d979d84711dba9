//! A workflow runtime built on the library: a custom `Simple` task handler next to the Http
//! executor, run by the local runner. This is the one path a runtime author takes:
//!
//! 1. validate the definition (`validate::validate_definition`) and refuse one with errors;
//! 2. build an `Executor` for Http tasks (credentials by id, a server per vendor);
//! 3. register a `TaskHandler` per Simple task name (`Runner::with_simple_handler`);
//! 4. compile the definition once (`Plan::compile`) and run it (`Runner::run_plan`).
//!
//! The Http task goes to the embedded sandbox (`usage-sandbox`, a dev-dependency of this crate),
//! so the example needs no network and no keys; a real runtime leaves out `with_server` (the
//! catalog's servers) and loads real keys. It depends only on the library: it builds with
//! `default-features = false`, as a library user does (CI runs it that way).
//!
//! Run: `cargo run -p usage-connector --no-default-features --example custom_handler`.
//! Exit 0 when the approved usage was reported and the over-budget one refused, else 1.

// A program: the workflow output and progress are its output.
#![allow(clippy::print_stdout)]

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use usage_connector::catalog::{Catalog, Vendor};
use usage_connector::decimal::{decimal_number, numeric};
use usage_connector::execute::{
    Credential, Credentials, ErrorCode, Executor, Secret, TaskContext, TaskError, TaskHandler,
    TaskOutput,
};
use usage_connector::runner::{Plan, RunStatus, Runner, TaskEvent};
use usage_connector::simworkflow::{Task, WorkflowDefinition};
use usage_connector::validate::{Severity, validate_definition};
use usage_connector::validators::Validators;

/// An approval step, SimWorkflow's `Simple` task: approves a usage report when its quantity
/// fits the budget, and passes on what is left of it.
struct BudgetApproval;

#[async_trait]
impl TaskHandler for BudgetApproval {
    async fn execute(
        &self,
        _task: &Task,
        input: &Value,
        _ctx: &TaskContext,
    ) -> Result<TaskOutput, TaskError> {
        // Exact decimals (never f64): `numeric` reads numbers and numeric strings.
        let (Some(quantity), Some(budget)) =
            (numeric(&input["quantity"]), numeric(&input["budget"]))
        else {
            // A runtime's own failure code (the connector's codes are `ErrorCode`'s others).
            return Err(TaskError::new(
                ErrorCode::Other("BAD_APPROVAL_INPUT".into()),
                "the approval step needs a numeric `quantity` and `budget`",
            ));
        };
        Ok(TaskOutput::value(json!({
            "subscriptionId": input["subscriptionId"],
            "quantity": input["quantity"],
            "approved": quantity <= budget,
            "budgetLeft": decimal_number(budget - quantity),
        })))
    }
}

/// Approve, then report the usage to Rebilly; a refused one ends the workflow `Failed`.
const DEFINITION: &str = r#"{
  "name": "Approved usage report",
  "startTask": "Approve",
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
      "httpRequest": {
        "url": "https://api-sandbox.rebilly.com/usages",
        "method": "POST",
        "body": { "subscriptionId": "${$.subscriptionId}", "quantity": "${$.quantity}" }
      },
      "nextTask": "Reported"
    },
    "Reported": {
      "type": "Terminate",
      "terminationStatus": "Completed",
      "workflowOutput": {
        "usage": "${$.body.id}",
        "accepted": "${$.quantity.accepted}",
        "outcome": "${$.outcome}"
      }
    },
    "Refused": {
      "type": "Terminate",
      "terminationStatus": "Failed",
      "workflowOutput": { "refused": "${$.quantity}", "budgetLeft": "${$.budgetLeft}" }
    }
  }
}"#;

/// One line per finished task, as a runtime would log it.
fn progress(e: &TaskEvent) {
    let detail = e
        .detail
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    println!("  [{}] {} ({}){detail}", e.status, e.task, e.kind);
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let catalog = Catalog::builtin();
    let validators = Arc::new(Validators::new(&catalog)?);

    // 1. Validate: a definition with errors never runs.
    let report = validate_definition(
        "approved-usage.json",
        DEFINITION.as_bytes(),
        &validators,
        None,
    );
    if report.has_errors() {
        for d in report
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
        {
            println!("{}", d.render(report.source.as_deref()));
        }
        return Err("the definition is invalid".into());
    }
    let definition: WorkflowDefinition = serde_json::from_str(DEFINITION)?;

    // 2. The Http executor: credentials id `rebilly` → the vendor's key header and a key.
    let sandbox = usage_sandbox::start(usage_sandbox::Config::default()).await?;
    let mut credentials = Credentials::new();
    let key = sandbox
        .dev_key(Vendor::Rebilly.as_str())
        .ok_or("no Rebilly dev key")?;
    credentials.insert(
        "rebilly",
        Credential {
            header: catalog.first_of(Vendor::Rebilly).key_header().to_owned(),
            value: Secret::new(key.key.clone()),
            platform_id: None,
        },
    );
    let executor = Executor::new(credentials)
        .with_validators(validators.clone())
        .with_server(Vendor::Rebilly, &sandbox.url());

    // 3. The runner: Http tasks through the executor, `Approve` through our handler.
    let runner = Runner::new(Arc::new(executor))
        .with_simple_handler("Approve", Arc::new(BudgetApproval))
        .on_task(progress);

    // 4. Compile once, run per execution (the workflow id feeds idempotency identities).
    let plan = Plan::compile(&definition).map_err(|(task, e)| format!("{task}: {}", e.message))?;
    let runs = [
        (
            "wf-approved",
            json!({"subscriptionId": "sub_limit_100", "quantity": 2.5, "budget": 10}),
        ),
        (
            "wf-over-budget",
            json!({"subscriptionId": "sub_limit_100", "quantity": 12, "budget": 10}),
        ),
    ];
    let mut results = Vec::new();
    for (workflow_id, input) in runs {
        println!("{workflow_id}:");
        let result = runner.run_plan(&plan, input, workflow_id).await;
        println!("  workflow {:?}: {}", result.status, result.output);
        results.push(result);
    }
    sandbox.shutdown().await;

    // What a runtime relies on: the approved usage was recorded, the other never sent.
    let (approved, refused) = (&results[0], &results[1]);
    if approved.status != RunStatus::Completed
        || approved.output["outcome"] != "created"
        || refused.status != RunStatus::Failed
        || refused.output["budgetLeft"] != -2
    {
        return Err("unexpected workflow results".into());
    }
    Ok(())
}
