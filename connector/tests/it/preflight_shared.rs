//! What pre-flight sees across a run's tasks, before its first write (the real binary against
//! a sandbox over loopback): two tasks the API would take as one (a Solvimon `reference` or an
//! `Idempotency-Key` they share with other bodies: the second charge was answered `duplicate`
//! and recorded nowhere, the run `Completed`), a loop no response can end (it went round
//! thousands of times until `timeoutSeconds`), and input data a `resultSelector` keeps beside
//! a response (it was left to the run, which failed after the first write).

use crate::common;
use crate::preflight::{run, usage};

use std::collections::BTreeMap;

use serde_json::{Value, json};
use usage_connector::journal::Recorded;
use usage_connector::preflight::{self, Subject};
use usage_connector::prepare::{Router, ValidatorSet};
use usage_connector::simworkflow::WorkflowDefinition;

use common::{Sandbox, text};

/// A Solvimon charge of `number` with `reference`, then `next` (`None`: the end).
fn charge(reference: &str, number: u32, next: Option<&str>) -> Value {
    let mut task = json!({"type": "Http", "credentials": "solvimon", "resultPath": null,
        "httpRequest": {"url": "https://test.api.solvimon.com/v1/ingest/charge-data",
            "method": "POST",
            "body": {"product_item_id": "p", "pricing_id": "p", "pricing_item_id": "p",
                     "pricing_item_config_id": "p", "reference": reference,
                     "value": {"number": number.to_string()}}}});
    match next {
        Some(next) => task["nextTask"] = json!(next),
        None => task["end"] = json!(true),
    }
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tasks_the_api_would_take_as_one_stop_the_run_before_its_first_write() {
    let sandbox = Sandbox::start().await;
    let cwd = common::scratch("preflight-shared");
    let input = json!({"id": "x"});
    let empty = sandbox.stats().await;
    let refused = |definition: &Value, says: &[&str]| {
        let out = run(&sandbox, definition, &input, &cwd);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        for expected in [
            &["error[E-REQUEST]: task `Second`", "nothing was sent"],
            says,
        ]
        .concat()
        {
            assert!(stderr.contains(expected), "`{expected}` not in:\n{stderr}");
        }
    };
    // The same reference, another number: the second would be a duplicate of the first.
    let same_reference = json!({"name": "Two charges", "startTask": "First", "tasks": {
        "First": charge("r-${$.id}", 1, Some("Second")),
        "Second": charge("r-${$.id}", 9, None)
    }});
    refused(
        &same_reference,
        &[
            "it sends reference `r-x`, as task `First` does",
            "${swf:taskName}",
        ],
    );
    // The same Idempotency-Key set by both tasks, other references.
    let mut same_key = json!({"name": "Two charges", "startTask": "First", "tasks": {
        "First": charge("r-1-${$.id}", 1, Some("Second")),
        "Second": charge("r-2-${$.id}", 1, None)
    }});
    for task in ["First", "Second"] {
        same_key["tasks"][task]["httpRequest"]["headers"] = json!({"Idempotency-Key": "k1"});
    }
    refused(
        &same_key,
        &["it sends Idempotency-Key `k1`, as task `First` does"],
    );
    assert_eq!(sandbox.stats().await, empty, "something was written");

    // One reference per task: both charges are recorded.
    let own = json!({"name": "Two charges", "startTask": "First", "tasks": {
        "First": charge("r-${swf:taskName}-${$.id}", 1, Some("Second")),
        "Second": charge("r-${swf:taskName}-${$.id}", 9, None)
    }});
    let out = run(&sandbox, &own, &input, &cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(sandbox.counts(&["charge-data"]).await, [2]);

    // A charge and an adjustment may share a reference: the API keeps one per kind.
    let both = json!({"name": "Charge and adjust", "startTask": "First", "tasks": {
        "First": charge("o-${$.id}", 1, Some("Adjust")),
        "Adjust": {"type": "Http", "credentials": "solvimon", "end": true,
            "httpRequest": {"url": "https://test.api.solvimon.com/v1/ingest/adjustment-data",
                "method": "POST",
                "body": {"product_item_id": "p", "customer_reference": "c",
                         "reference": "o-${$.id}", "description": "goodwill",
                         "amount": {"quantity": "-1.00", "currency": "EUR"}}}}
    }});
    let out = run(&sandbox, &both, &input, &cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        sandbox.counts(&["charge-data", "adjustment-data"]).await,
        [3, 1]
    );

    // Exclusive branches of a Decision on the response may share one: only one is sent.
    let mut branches = json!({"name": "Either", "startTask": "Report", "tasks": {
        "Report": usage("https://api-sandbox.rebilly.com/usages", Some("Created?")),
        "Created?": {"type": "Decision",
            "choices": [{"condition": "$.r.outcome == 'created'", "nextTask": "Second"}],
            "defaultTask": "Other"},
        "Second": charge("r-${$$.Execution.Input.id}", 9, None),
        "Other": charge("r-${$$.Execution.Input.id}", 1, None)
    }});
    branches["tasks"]["Report"]["resultPath"] = json!("$.r");
    let out = run(&sandbox, &branches, &input, &cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(sandbox.counts(&["charge-data", "usages"]).await, [4, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_data_kept_beside_a_response_is_checked_before_the_first_write() {
    let sandbox = Sandbox::start().await;
    let cwd = common::scratch("preflight-beside");
    // The first usage keeps its id (the response's) and a quantity (the input's, through a
    // JSONata expression over the response as a whole, or a path cut out by `outputPath`);
    // the second usage sends that quantity.
    let twice = |selector: Value, result_path: &str, output_path: Option<&str>, q: &str| {
        let mut first = usage("https://api-sandbox.rebilly.com/usages", Some("Second"));
        first["resultPath"] = json!(result_path);
        first["resultSelector"] = selector;
        if let Some(cut) = output_path {
            first["outputPath"] = json!(cut);
        }
        let mut second = usage("https://api-sandbox.rebilly.com/usages", None);
        second["httpRequest"]["body"]["quantity"] = json!(q);
        json!({"name": "Twice", "startTask": "First", "tasks": {"First": first, "Second": second}})
    };
    let definitions = [
        twice(
            json!({"id": "${$.body.id}", "q": "jsonata:$states.context.Execution.Input.quantity"}),
            "$.first",
            None,
            "${$.first.q}",
        ),
        twice(
            json!({"id": "${$.body.id}", "q": "${$$.Execution.Input.quantity}"}),
            "$.first",
            Some("$.first"),
            "${$.q}",
        ),
    ];
    let empty = sandbox.stats().await;
    for definition in &definitions {
        let out = run(&sandbox, definition, &json!({"quantity": "2.5555"}), &cwd);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{definition}\n{stderr}");
        for says in [
            "error[E-DECIMALS]: task `Second`",
            "2.5555 has more than 3 decimal places",
            "nothing was sent",
        ] {
            assert!(stderr.contains(says), "`{says}` not in:\n{stderr}");
        }
    }
    assert_eq!(sandbox.stats().await, empty, "something was written");
    for definition in &definitions {
        let out = run(&sandbox, definition, &json!({"quantity": "2.5"}), &cwd);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    assert_eq!(sandbox.counts(&["usages"]).await, [4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_no_response_can_end_stops_the_run_before_its_first_write() {
    let sandbox = Sandbox::start().await;
    let cwd = common::scratch("preflight-loop");
    let mut looped = json!({"name": "Again", "startTask": "Report", "timeoutSeconds": 60,
        "tasks": {
            "Report": usage("https://api-sandbox.rebilly.com/usages", Some("Again?")),
            "Again?": {"type": "Decision",
                "choices": [{"condition": "$.id == 'x'", "nextTask": "Report"}],
                "defaultTask": "Done"},
            "Done": {"type": "Terminate", "terminationStatus": "Completed"}
    }});
    let empty = sandbox.stats().await;
    let out = run(&sandbox, &looped, &json!({"id": "x"}), &cwd);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for says in [
        "error[E-NO-END]: task `Report`",
        "comes back to task `Report`, and no Decision on its way reads what only the run can tell",
        "nothing was sent",
    ] {
        assert!(stderr.contains(says), "`{says}` not in:\n{stderr}");
    }
    assert_eq!(sandbox.stats().await, empty, "something was written");
    // Another input leaves the loop at once.
    let out = run(&sandbox, &looped, &json!({"id": "y"}), &cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(sandbox.counts(&["usages"]).await, [1]);
    // A loop that reads the response may end: it runs (here once, the usage created).
    looped["tasks"]["Report"]["resultPath"] = json!("$.r");
    looped["tasks"]["Again?"]["choices"][0]["condition"] = json!("$.r.outcome != 'created'");
    let out = run(&sandbox, &looped, &json!({"id": "x"}), &cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(sandbox.counts(&["usages"]).await, [2]);
}

/// A resumed run reuses a task's recorded output on its first visit only, as the runner does:
/// a loop whose Decision reads that output ("pending") may end on a later visit, so it is not
/// an endless one.
#[test]
fn a_resumed_loop_on_a_recorded_output_is_not_endless() {
    let definition: WorkflowDefinition = serde_json::from_value(json!({
        "name": "Poll", "startTask": "Check", "tasks": {
            "Check": {"type": "Simple", "nextTask": "Pending?"},
            "Pending?": {"type": "Decision",
                "choices": [{"condition": "$.state == 'pending'", "nextTask": "Check"}],
                "defaultTask": "Done"},
            "Done": {"type": "Terminate", "terminationStatus": "Completed"}
    }}))
    .unwrap();
    let checked = |recorded: &BTreeMap<String, Recorded>| {
        let subject = Subject {
            definition: &definition,
            input: &json!({}),
            workflow_id: "wf",
            now: chrono::Utc::now(),
            recorded,
            sequence: None,
        };
        preflight::check(&subject, &Router::new(ValidatorSet::Builtin)).problems
    };
    let pending = Recorded {
        output: Some(json!({"state": "pending"})),
        ..Recorded::default()
    };
    assert_eq!(
        checked(&BTreeMap::from([("Check".into(), pending)])),
        vec![]
    );
    assert_eq!(checked(&BTreeMap::new()), vec![]);
}

/// A mistake with this input in the data passing around a request (here a spread in
/// `workflowOutput`) is the task's, not a request's: the message says the task fails there.
#[test]
fn a_mistake_in_data_passing_says_the_task_fails_there() {
    let cwd = common::scratch("preflight-output");
    let file = cwd.join("output.json");
    std::fs::write(
        &file,
        json!({"name": "Out", "startTask": "Done", "tasks": {"Done": {"type": "Terminate",
            "terminationStatus": "Completed", "workflowOutput": {"x": ["${...$.keep}"]}}}})
        .to_string(),
    )
    .unwrap();
    let out = common::bin()
        .arg("validate")
        .arg(&file)
        .args(["--input", r#"{"keep": {"a": 1}}"#])
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains(
            "task `Done`: with this input, the task fails here: the spread `${...$.keep}` gave an object"
        ),
        "{shown}"
    );
}

/// A Parallel's branches are walked as the run walks them: a branch that ends in a Terminate
/// `Completed` gives its `workflowOutput` as its output (it was unknown, so a resume did not
/// compare an edited completed task after the Parallel, and reused its old output), and one
/// that surely ends in a Terminate `Failed` fails the run there (the task after the Parallel
/// was checked, and refused a run that never reaches it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parallel_branch_s_terminate_is_walked_as_the_run_walks_it() {
    let sandbox = Sandbox::start().await;
    let cwd = common::scratch("preflight-branch-terminate");
    let charge = |reference: &str, description: &str, next: Option<&str>| {
        let mut task = charge(reference, 1, next);
        task["httpRequest"]["body"]["description"] = json!(description);
        task
    };
    let mut usage_d = usage("https://api-sandbox.rebilly.com/usages", None);
    usage_d["httpRequest"]["body"]["subscriptionId"] = json!("sub_exhausted");
    let mut usage_a = usage("https://api-sandbox.rebilly.com/usages", Some("Done A"));
    usage_a["resultPath"] = json!("$.r");
    let definition = json!({"name": "Parallel then charge", "startTask": "Fan", "tasks": {
        "Fan": {"type": "Parallel", "nextTask": "Charge C", "branches": [
            {"startTask": "Usage A", "tasks": {
                "Usage A": usage_a,
                "Done A": {"type": "Terminate", "terminationStatus": "Completed",
                           "workflowOutput": {"id": "${$.r.body.id}"}}}},
            {"startTask": "Charge B", "tasks": {"Charge B": charge("b-${$.id}", "b", None)}}]},
        "Charge C": charge("c-${$[0].id}", "first", Some("Usage D")),
        "Usage D": usage_d
    }});
    let out = run(&sandbox, &definition, &json!({"id": "x"}), &cwd);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let id = common::resume_id(&stderr);
    let written = sandbox.stats().await;
    // Charge C completed; an edit to it is refused, as one to Charge B inside the Parallel is.
    let mut edited = definition.clone();
    edited["tasks"]["Charge C"]["httpRequest"]["body"]["description"] = json!("edited");
    edited["tasks"]["Usage D"]["httpRequest"]["body"]["subscriptionId"] = json!("sub_unlimited");
    let file = cwd.join("edited.json");
    std::fs::write(&file, edited.to_string()).unwrap();
    let out = common::bin()
        .args(["resume", &id, "--definition"])
        .arg(&file)
        .current_dir(&cwd)
        .env("SOLVIMON_API_KEY", sandbox.dev_key("solvimon"))
        .env("REBILLY_API_KEY", sandbox.dev_key("rebilly"))
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[E-REQUEST-CHANGED]: task `Charge C`"),
        "{stderr}"
    );
    assert_eq!(sandbox.stats().await, written, "something was written");

    // A branch that surely ends in a Terminate `Failed` fails the run at the Parallel: the
    // task after it is not reached, so its bad quantity is no problem of this input.
    let guarded: WorkflowDefinition = serde_json::from_value(json!({
        "name": "Guard", "startTask": "Fan", "tasks": {
            "Fan": {"type": "Parallel", "nextTask": "Late", "branches": [
                {"startTask": "Check", "tasks": {
                    "Check": {"type": "Decision",
                        "choices": [{"condition": "$.blocked == true", "nextTask": "Stop"}],
                        "defaultTask": "Ok"},
                    "Stop": {"type": "Terminate", "terminationStatus": "Failed"},
                    "Ok": {"type": "Terminate", "terminationStatus": "Completed"}}},
                {"startTask": "U", "tasks": {
                    "U": usage("https://api-sandbox.rebilly.com/usages", None)}}]},
            "Late": {"type": "Http", "credentials": "rebilly", "end": true,
                "httpRequest": {"url": "https://api-sandbox.rebilly.com/usages", "method": "POST",
                    "body": {"subscriptionId": "sub_unlimited",
                             "quantity": "${$$.Execution.Input.q}"}}}
    }}))
    .unwrap();
    let problems = |input: Value| {
        let subject = Subject {
            definition: &guarded,
            input: &input,
            workflow_id: "wf",
            now: chrono::Utc::now(),
            recorded: &BTreeMap::new(),
            sequence: None,
        };
        preflight::check(&subject, &Router::new(ValidatorSet::Builtin)).problems
    };
    assert_eq!(problems(json!({"blocked": true, "q": "1.23456"})), vec![]);
    let found = problems(json!({"blocked": false, "q": "1.23456"}));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].task.as_deref(), Some("Late"));
    // Whatever the branches' order, and with a sibling that may fail behind a Decision on its
    // response.
    let mut swapped = serde_json::to_value(&guarded).unwrap();
    let late = swapped["tasks"]["Late"].clone();
    let branches = swapped["tasks"]["Fan"]["branches"].as_array_mut().unwrap();
    let u = &mut branches[1]["tasks"];
    u["U"]["resultPath"] = json!("$.r");
    u["U"].as_object_mut().unwrap().remove("end");
    u["U"]["nextTask"] = json!("Refused?");
    u["Refused?"] = json!({"type": "Decision",
        "choices": [{"condition": "$.r.statusCode == 500", "nextTask": "Give up"}],
        "defaultTask": "Fine"});
    u["Give up"] = json!({"type": "Terminate", "terminationStatus": "Failed"});
    u["Fine"] = json!({"type": "Terminate", "terminationStatus": "Completed"});
    for order in [false, true] {
        if order {
            branches.reverse();
        }
        let guarded: WorkflowDefinition =
            serde_json::from_value(json!({"name": "Guard", "startTask": "Fan",
                "tasks": {"Fan": {"type": "Parallel", "nextTask": "Late",
                                  "branches": branches.clone()},
                          "Late": late.clone()}}))
            .unwrap();
        let subject = Subject {
            definition: &guarded,
            input: &json!({"blocked": true, "q": "1.23456"}),
            workflow_id: "wf",
            now: chrono::Utc::now(),
            recorded: &BTreeMap::new(),
            sequence: None,
        };
        let found = preflight::check(&subject, &Router::new(ValidatorSet::Builtin)).problems;
        assert_eq!(found, vec![], "branches reversed: {order}");
    }
}
