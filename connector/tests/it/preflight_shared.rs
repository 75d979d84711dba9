//! What pre-flight sees across a run's tasks, before its first write (the real binary against
//! a sandbox over loopback): two tasks the API would take as one (a Solvimon `reference` or an
//! `Idempotency-Key` they share with other bodies: the second charge was answered `duplicate`
//! and recorded nowhere, the run `Completed`), and a loop no response can end (it went round
//! thousands of times until `timeoutSeconds`).

use crate::common;
use crate::preflight::{run, usage};

use serde_json::{Value, json};

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
    assert_eq!(sandbox.counts(&["charge-data", "usages"]).await, [3, 1]);
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
