//! Mistakes only the run's values show, found before its first write (the real binary against
//! a sandbox over loopback): a URL value that leaves its path segment (it would make another
//! URL of a catalog endpoint's, sent unchecked to the server the definition names), a
//! Simple task `run` has no handler for, and JSONata over a task input that holds a response
//! but reads only the workflow input.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use usage_connector::journal::Recorded;
use usage_connector::preflight::{self, Subject};
use usage_connector::prepare::{Router, ValidatorSet};
use usage_connector::simworkflow::WorkflowDefinition;

use common::{Sandbox, text};

/// `run DEFINITION --input INPUT` against `sandbox` (both vendors), with its dev keys.
pub(crate) fn run(sandbox: &Sandbox, definition: &Value, input: &Value, cwd: &Path) -> Output {
    let file = cwd.join("definition.json");
    std::fs::write(&file, definition.to_string()).unwrap();
    common::bin()
        .arg("run")
        .arg(&file)
        .arg("--input")
        .arg(input.to_string())
        .args(["--server", &format!("solvimon={}", sandbox.url())])
        .args(["--server", &format!("rebilly={}", sandbox.url())])
        .current_dir(cwd)
        .env("SOLVIMON_API_KEY", sandbox.dev_key("solvimon"))
        .env("REBILLY_API_KEY", sandbox.dev_key("rebilly"))
        .output()
        .unwrap()
}

/// A Rebilly usage; `then` names the next task (`None`: the end).
pub(crate) fn usage(url: &str, then: Option<&str>) -> Value {
    let mut task = json!({
        "type": "Http", "credentials": "rebilly", "resultPath": null,
        "httpRequest": {"url": url, "method": "POST",
                        "body": {"subscriptionId": "sub_unlimited", "quantity": 1}}
    });
    match then {
        Some(next) => task["nextTask"] = json!(next),
        None => task["end"] = json!(true),
    }
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_value_that_leaves_its_path_segment_is_refused_before_anything_is_sent() {
    let sandbox = Sandbox::start().await;
    let cwd = common::scratch("preflight-url");
    // A first write, then a task whose organisation comes from the input: pre-flight prepares
    // both before either is sent.
    let definition = json!({"name": "Per organisation", "startTask": "First", "tasks": {
        "First": usage("https://api-sandbox.rebilly.com/usages", Some("Second")),
        "Second": usage("https://api-sandbox.rebilly.com/organizations/${$$.Execution.Input.org}/usages", None)
    }});
    let empty = sandbox.stats().await;
    // `a/b`, `x?y=` and `a#b` would make another path (no catalog endpoint: unchecked, and to
    // the server in the definition, not this sandbox); `..` and `%2e%2e` drop the organisation;
    // `\` is read as `/`.
    for org in ["a/b", "x?y=", "a#b", "..", "%2e%2e", "a\\b"] {
        let out = run(&sandbox, &definition, &json!({"org": org}), &cwd);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{org}: {stderr}");
        for says in [
            "error[E-REQUEST]: task `Second`",
            "not where its template names (rebilly.create-usage)",
            "a placeholder in the path must fill exactly one segment",
            "nothing was sent",
        ] {
            assert!(stderr.contains(says), "{org}: `{says}` not in:\n{stderr}");
        }
        assert_eq!(sandbox.stats().await, empty, "{org}: something was written");
        // `validate --input` finds it too.
        let out = common::bin()
            .arg("validate")
            .arg(cwd.join("definition.json"))
            .arg("--input")
            .arg(json!({"org": org}).to_string())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{org}: {}", text(&out.stdout));
        assert!(text(&out.stdout).contains("must fill exactly one segment"));
    }
    // A value within its segment runs, both usages on this sandbox.
    let out = run(&sandbox, &definition, &json!({"org": "org_sandbox"}), &cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(sandbox.counts(&["usages"]).await, [2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simple_task_the_run_has_no_handler_for_stops_it_before_its_first_write() {
    let sandbox = Sandbox::start().await;
    let cwd = common::scratch("preflight-simple");
    let definition = json!({"name": "Approved usage", "startTask": "Report", "tasks": {
        "Report": usage("https://api-sandbox.rebilly.com/usages", Some("Needs approval?")),
        "Needs approval?": {"type": "Decision",
            "choices": [{"condition": "$.approve == true", "nextTask": "Approve"}],
            "defaultTask": "Done"},
        "Approve": {"type": "Simple", "nextTask": "Done"},
        "Done": {"type": "Terminate", "terminationStatus": "Completed", "workflowOutput": {"ok": true}}
    }});
    let empty = sandbox.stats().await;
    let out = run(&sandbox, &definition, &json!({"approve": true}), &cwd);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for says in [
        "error[E-NO-HANDLER]: task `Approve`",
        "Simple task `Approve` has no handler here",
        "at /tasks/Approve",
        "nothing was sent",
    ] {
        assert!(stderr.contains(says), "`{says}` not in:\n{stderr}");
    }
    assert!(!stderr.contains("to resume:"), "nothing ran: {stderr}");
    assert_eq!(sandbox.stats().await, empty, "something was written");
    // An input the Decision routes past the Simple task runs.
    let out = run(&sandbox, &definition, &json!({"approve": false}), &cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(sandbox.counts(&["usages"]).await, [1]);
    // A Decision on the response may or may not lead there: the run decides, and this one
    // (created, not partial) passes it by.
    let mut on_response = definition.clone();
    on_response["tasks"]["Report"]["resultPath"] = json!("$.report");
    on_response["tasks"]["Needs approval?"]["choices"][0]["condition"] =
        json!("$.report.outcome == 'partial'");
    let out = run(&sandbox, &on_response, &json!({}), &cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(sandbox.counts(&["usages"]).await, [2]);
    // A Simple task an earlier attempt completed is not run again: it needs no handler.
    let parsed: WorkflowDefinition = serde_json::from_value(definition).unwrap();
    let checked = |recorded: &BTreeMap<String, Recorded>| {
        let subject = Subject {
            definition: &parsed,
            input: &json!({"approve": true}),
            workflow_id: "wf",
            now: chrono::Utc::now(),
            recorded,
            sequence: None,
        };
        let mut found = preflight::check(&subject, &Router::new(ValidatorSet::Builtin));
        found.require_handlers(|_| false);
        found.problems.len()
    };
    assert_eq!(checked(&BTreeMap::new()), 1);
    let approved = Recorded {
        output: Some(json!({"approved": true})),
        ..Recorded::default()
    };
    assert_eq!(checked(&BTreeMap::from([("Approve".into(), approved)])), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_output_reading_what_the_input_lacks_stops_the_run_before_its_first_write() {
    let sandbox = Sandbox::start().await;
    let cwd = common::scratch("preflight-output");
    let mut report = usage("https://api-sandbox.rebilly.com/usages", Some("Done"));
    report["resultPath"] = json!("$.usage");
    report["resultSelector"] = json!({"id": "${$.body.id}"});
    let with_output = |output: Value| {
        json!({"name": "Reported", "startTask": "Report", "tasks": {
            "Report": report,
            "Done": {"type": "Terminate", "terminationStatus": "Completed", "workflowOutput": output}
        }})
    };
    let input = json!({"keep": 1});
    let empty = sandbox.stats().await;
    for (output, says) in [
        (
            json!({"x": "${$$.Execution.Input.nope}"}),
            "`$$.Execution.Input.nope` names no value in the workflow input",
        ),
        (
            json!({"id": "${$.usage.id}", "x": "${$.nope}"}),
            "`$.nope` names no value in the Terminate task's input",
        ),
    ] {
        let out = run(&sandbox, &with_output(output), &input, &cwd);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("error[E-INPUT-MISSING]: task `Done`") && stderr.contains(says),
            "{stderr}"
        );
        assert!(stderr.contains("nothing was sent"), "{stderr}");
        assert_eq!(sandbox.stats().await, empty, "something was written");
    }
    // What only the response tells (the usage's id) is left to the run.
    let out = run(
        &sandbox,
        &with_output(json!({"id": "${$.usage.id}", "kept": "${$.keep}"})),
        &input,
        &cwd,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let output: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(output["kept"], json!(1));
    assert!(
        output["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("sub_usg_")),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_result_selector_takes_from_the_input_is_checked_before_the_first_write() {
    let sandbox = Sandbox::start().await;
    let cwd = common::scratch("preflight-selector");
    // The first usage's selector keeps its id (the response's) and a quantity (the input's),
    // which the second usage sends.
    let mut first = usage("https://api-sandbox.rebilly.com/usages", Some("Second"));
    first["resultPath"] = json!("$.first");
    first["resultSelector"] = json!({"id": "${$.body.id}", "q": "${$$.Execution.Input.quantity}"});
    let mut second = usage("https://api-sandbox.rebilly.com/usages", None);
    second["httpRequest"]["body"]["quantity"] = json!("${$.first.q}");
    let definition = json!({"name": "Twice", "startTask": "First",
                            "tasks": {"First": first, "Second": second}});
    let empty = sandbox.stats().await;
    let out = run(&sandbox, &definition, &json!({"quantity": "2.5555"}), &cwd);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[E-DECIMALS]: task `Second`")
            && stderr.contains("2.5555 has more than 3 decimal places")
            && stderr.contains("nothing was sent"),
        "{stderr}"
    );
    assert_eq!(sandbox.stats().await, empty, "something was written");
    let out = run(&sandbox, &definition, &json!({"quantity": "2.5"}), &cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(sandbox.counts(&["usages"]).await, [2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_that_can_never_be_sent_is_found_without_the_input() {
    let sandbox = Sandbox::start().await;
    let cwd = common::scratch("preflight-header");
    // The second task reads the first one's response (pre-flight cannot prepare it), but its
    // header's own text holds a newline, and no value of the placeholder can make it valid.
    let mut first = usage("https://api-sandbox.rebilly.com/usages", Some("Second"));
    first["resultPath"] = json!("$.first");
    first["resultSelector"] = json!({"id": "${$.body.id}"});
    let mut second = usage("https://api-sandbox.rebilly.com/usages", None);
    second["httpRequest"]["headers"] = json!({"X-Usage": "${$.first.id}\n"});
    let definition = json!({"name": "Headed", "startTask": "First",
                            "tasks": {"First": first, "Second": second}});
    std::fs::write(cwd.join("definition.json"), definition.to_string()).unwrap();
    let out = common::bin()
        .arg("validate")
        .arg(cwd.join("definition.json"))
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("error[E-REQUEST]: task `Second`: header `X-Usage`: its text holds the control character '\\n'"),
        "{shown}"
    );
    let empty = sandbox.stats().await;
    let out = run(&sandbox, &definition, &json!({}), &cwd);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(sandbox.stats().await, empty, "something was written");
    // Where pre-flight prepares the request too (the first task), it is said once.
    let mut first_too = definition.clone();
    first_too["tasks"]["First"]["httpRequest"]["headers"] = json!({"X-Usage": "a\u{1}b"});
    std::fs::write(cwd.join("definition.json"), first_too.to_string()).unwrap();
    let out = common::bin()
        .arg("validate")
        .arg(cwd.join("definition.json"))
        .args(["--input", "{}"])
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert_eq!(
        shown.matches("error[E-REQUEST]: task `First`").count(),
        1,
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonata_that_never_reads_a_response_is_checked_before_the_first_write() {
    let sandbox = Sandbox::start().await;
    let cwd = common::scratch("preflight-jsonata");
    let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows");
    let read = |file: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(workflows.join(file)).unwrap()).unwrap()
    };
    // The sample: "Charge the plan", then "Report usage", whose quantity is
    // `jsonata:$sum(lines.quantity)` over a task input that holds the charge's response.
    let definition = read("order-lines-to-usage.json");
    let example = read("examples/order-lines-to-usage.input.json");
    let mut zero = example.clone();
    for line in zero["lines"].as_array_mut().unwrap() {
        line["quantity"] = json!(0);
    }
    let empty = sandbox.stats().await;
    let out = run(&sandbox, &definition, &zero, &cwd);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for says in [
        "error[E-REQUEST]: task `Report usage`",
        "0 is less than the minimum of 0.001",
        "nothing was sent",
    ] {
        assert!(stderr.contains(says), "`{says}` not in:\n{stderr}");
    }
    assert_eq!(sandbox.stats().await, empty, "the plan was charged");
    // An expression that reads the response waits for it: evaluated now, without the
    // response, it would give 0 and refuse a run that sends 2.3.
    let mut reads = definition.clone();
    reads["tasks"]["Report usage"]["httpRequest"]["body"]["quantity"] =
        json!("jsonata:charge.outcome = 'created' ? $sum(lines.quantity) : 0");
    let out = run(&sandbox, &reads, &example, &cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let output: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        output["usage"]["quantity"]["accepted"],
        json!("2.3"),
        "{output}"
    );
}

/// `validate --input` prepares under an id as long as the longest `run` picks itself, so a
/// limit the run's own id breaks is found by both before anything is sent; `--workflow-id`
/// checks under the id the run will be given instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_checks_under_a_workflow_id_as_long_as_the_runs_own() {
    let sandbox = Sandbox::start().await;
    let cwd = common::scratch("preflight-id");
    // Rebilly's subscriptionId holds at most 50 characters: 26 here, then the workflow id
    // (`run` picks 25 to 31 characters; `short-id` is 8).
    let mut report = usage("https://api-sandbox.rebilly.com/usages", None);
    report["httpRequest"]["body"]["subscriptionId"] = json!("sub-${$.plan}-${swf:workflowId}");
    let definition = json!({"name": "Per run", "startTask": "Report", "tasks": {"Report": report}});
    let input = json!({"plan": "p".repeat(21)});
    let empty = sandbox.stats().await;
    let out = run(&sandbox, &definition, &input, &cwd);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for says in [
        "error[E-REQUEST]: task `Report`",
        "longer than 50 characters",
        "nothing was sent",
    ] {
        assert!(stderr.contains(says), "`{says}` not in:\n{stderr}");
    }
    assert_eq!(sandbox.stats().await, empty, "something was written");
    let validate = |id: Option<&str>| {
        let mut command = common::bin();
        command
            .arg("validate")
            .arg(cwd.join("definition.json"))
            .arg("--input")
            .arg(input.to_string());
        if let Some(id) = id {
            command.args(["--workflow-id", id]);
        }
        command.output().unwrap()
    };
    let out = validate(None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("longer than 50 characters"),
        "{}",
        text(&out.stdout)
    );
    let out = validate(Some("short-id"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // The id means nothing without an input to check under it.
    let out = common::bin()
        .arg("validate")
        .arg(cwd.join("definition.json"))
        .args(["--workflow-id", "short-id"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--input"),
        "{}",
        text(&out.stderr)
    );
}

/// A task whose URL takes its host from the input: a vendor's key from its variable goes to
/// that vendor's servers only, wherever the data points the URL; elsewhere the run is refused
/// before anything is sent, saying why and what to do (the credentials file then sends it).
/// The embedded sandbox's keys go the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_key_goes_only_to_its_vendor_wherever_data_points_the_url() {
    let sandbox = Sandbox::start().await;
    let cwd = common::scratch("preflight-host");
    let definition = json!({"name": "Host from input", "startTask": "Report", "tasks": {
        "Report": usage("https://${$.host}/usages", None)
    }});
    // Rebilly's sandbox host is a Rebilly endpoint (here served by this sandbox).
    let rebilly = json!({"host": "api-sandbox.rebilly.com"});
    let out = run(&sandbox, &definition, &rebilly, &cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(sandbox.counts(&["usages"]).await, [1]);

    // Anywhere else, the key is not sent.
    let before = sandbox.stats().await;
    let out = run(
        &sandbox,
        &definition,
        &json!({"host": "elsewhere.example"}),
        &cwd,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for says in [
        "error[E-CREDENTIALS]: task `Report`",
        "credentials `rebilly` are rebilly's own key, sent only to rebilly's servers",
        "this request goes to a server that is not rebilly's",
        "name `rebilly` in the credentials file",
        "nothing was sent",
    ] {
        assert!(stderr.contains(says), "`{says}` not in:\n{stderr}");
    }
    assert_eq!(sandbox.stats().await, before, "something was written");

    // Named in the credentials file, the key goes where the URL resolves: here this sandbox,
    // reached directly (no catalog endpoint, and both vendors' server: no one vendor's).
    let direct = json!({"name": "Host from input", "startTask": "Report", "tasks": {
        "Report": usage("http://${$.host}/usages", None)
    }});
    let host = json!({"host": sandbox.url().trim_start_matches("http://")});
    let out = run(&sandbox, &direct, &host, &cwd);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("a server that is not rebilly's"));
    std::fs::write(
        cwd.join("credentials.json"),
        json!({"rebilly": {"header": "REB-APIKEY", "env": "REBILLY_API_KEY"}}).to_string(),
    )
    .unwrap();
    let out = run(&sandbox, &direct, &host, &cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(sandbox.counts(&["usages"]).await, [2]);
    std::fs::remove_file(cwd.join("credentials.json")).unwrap();

    // The embedded sandbox's key, too, goes to its vendor's endpoints only.
    let embedded = |input: &Value| {
        common::bin()
            .arg("run")
            .arg(cwd.join("definition.json"))
            .arg("--input")
            .arg(input.to_string())
            .current_dir(&cwd)
            .output()
            .unwrap()
    };
    std::fs::write(cwd.join("definition.json"), definition.to_string()).unwrap();
    let out = embedded(&rebilly);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("1 attempt(s), created"), "{stderr}");
    let out = embedded(&json!({"host": "elsewhere.example"}));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("a server that is not rebilly's"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was sent"), "{stderr}");
}

/// Headers a task may not set as it sets them: the body's framing (the client writes it; a
/// wrong length left the server waiting and the outcome unknown), a catalog endpoint's
/// Content-Type other than JSON in any letter case, and an Idempotency-Key the API refuses.
/// Each stopped the run after its first write; now each stops it before (and `validate`
/// finds it: the framing without an input).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_the_api_or_the_client_refuses_stop_the_run_before_its_first_write() {
    let sandbox = Sandbox::start().await;
    let cwd = common::scratch("preflight-headers");
    let charge = |name: &str, value: &str| {
        json!({"type": "Http", "credentials": "solvimon", "end": true,
            "httpRequest": {"url": "https://test.api.solvimon.com/v1/ingest/charge-data",
                "method": "POST", "headers": {name: value},
                "body": {"product_item_id": "p", "pricing_id": "p", "pricing_item_id": "p",
                         "pricing_item_config_id": "p", "reference": "r-${$.id}"}}})
    };
    let empty = sandbox.stats().await;
    let input = json!({"id": "x", "key": ""});
    for (name, value, says, design_time) in [
        (
            "content-type",
            "text/plain",
            "takes a JSON body (application/json), not `text/plain`",
            false,
        ),
        (
            "Content-Length",
            "100000",
            "frames the body, and the HTTP client writes it",
            true,
        ),
        ("transfer-encoding", "chunked", "frames the body", true),
        (
            "Idempotency-Key",
            "${$.key}",
            "1 to 255 characters, and this one has 0",
            false,
        ),
    ] {
        let definition = json!({"name": "Then charge", "startTask": "Report", "tasks": {
            "Report": usage("https://api-sandbox.rebilly.com/usages", Some("Charge")),
            "Charge": charge(name, value)
        }});
        let out = run(&sandbox, &definition, &input, &cwd);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        // Found in the definition alone, the run refuses it as invalid; else its pre-flight.
        let stopped = if design_time {
            "is not a valid workflow definition"
        } else {
            "nothing was sent"
        };
        for expected in ["error[E-REQUEST]: task `Charge`", says, stopped] {
            assert!(
                stderr.contains(expected),
                "{name}: `{expected}` not in:\n{stderr}"
            );
        }
        assert_eq!(
            sandbox.stats().await,
            empty,
            "{name}: something was written"
        );
        let validate = |input: Option<&Value>| {
            let mut command = common::bin();
            command.arg("validate").arg(cwd.join("definition.json"));
            if let Some(input) = input {
                command.arg("--input").arg(input.to_string());
            }
            command.output().unwrap()
        };
        let out = validate(Some(&input));
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out.stdout));
        assert!(
            text(&out.stdout).contains(says),
            "{name}: {}",
            text(&out.stdout)
        );
        let out = validate(None);
        assert_eq!(
            out.status.code(),
            Some(if design_time { 1 } else { 0 }),
            "{name}"
        );
    }
    // In any letter case, JSON is JSON; a key of 255 characters is taken.
    let definition = json!({"name": "Then charge", "startTask": "Report", "tasks": {
        "Report": usage("https://api-sandbox.rebilly.com/usages", Some("Charge")),
        "Charge": charge("content-TYPE", "Application/JSON; charset=utf-8")
    }});
    let out = run(&sandbox, &definition, &input, &cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let definition = json!({"name": "Then charge", "startTask": "Report", "tasks": {
        "Report": usage("https://api-sandbox.rebilly.com/usages", Some("Charge")),
        "Charge": charge("Idempotency-Key", "${$.key}")
    }});
    let out = run(
        &sandbox,
        &definition,
        &json!({"id": "y", "key": "k".repeat(255)}),
        &cwd,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
