//! A workflow author's day with the real binary: one task tested on its own (`call --task`,
//! TestState-style, dry run without credentials), a line on stderr for every task start and
//! retry (with the rule that set the wait), definitions on standard input, and folders that
//! hold other JSON or none; the studio, given a server, sends with the vendor key variable.

use crate::common;

use std::path::PathBuf;

use serde_json::{Value, json};
use usage_sandbox::{Config, FaultSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_task_runs_with_the_input_it_would_receive() {
    let sandbox = common::Sandbox::start().await;
    let dir = common::scratch("call-task");
    let credentials = dir.join("credentials.json");
    std::fs::write(
        &credentials,
        json!({"solvimon": {"header": "X-API-KEY", "env": "SV_KEY"}}).to_string(),
    )
    .unwrap();
    let definition = common::root().join("workflows/charge-then-usage.json");
    let input = common::example_input(&definition).unwrap();
    let out = common::bin()
        .arg("call")
        .arg("--task")
        .arg(format!("{}#Charge", definition.display()))
        .arg("--input")
        .arg(&input)
        .arg("--server")
        .arg(sandbox.url())
        .arg("--credentials")
        .arg(&credentials)
        .env("SV_KEY", sandbox.dev_key("solvimon"))
        .output()
        .unwrap();
    let stderr = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["input"]["orderId"], "o-1001");
    assert_eq!(report["request"]["body"]["value"]["number"], "2.5");
    assert_eq!(report["request"]["headers"]["x-api-key"], "***");
    assert_eq!(report["result"]["outcome"], "created");
    assert_eq!(
        report["output"]["charge"]["outcome"], "created",
        "resultSelector + resultPath applied"
    );
    assert!(stderr.contains("[  Started] Charge") && stderr.contains("[Completed] Charge"));
    assert!(
        stderr.contains("POST http://127.0.0.1"),
        "the request is shown: {stderr}"
    );

    // A mid-workflow task needs its own input; with it, a dry run needs no credentials.
    let spec = format!("{}#Report usage", definition.display());
    let out = common::run_bin(&["call", "--task", &spec, "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::text(&out.stderr).contains("--state-input"));
    let out = common::bin()
        .args(["call", "--task", &spec, "--dry-run", "--state-input"])
        .arg(json!({"quantity": "2.5"}).to_string())
        .arg("--input")
        .arg(&input)
        .env_remove("REBILLY_API_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    let shown = common::text(&out.stdout);
    assert!(
        shown.contains("reb-apikey: ***") && shown.contains("\"quantity\":2.5"),
        "{shown}"
    );
    assert!(
        shown.contains("\"subscriptionId\":\"sub_unlimited\""),
        "read from $$.Execution.Input"
    );
    assert!(common::text(&out.stderr).contains("no credentials `rebilly` found"));

    // Fed the Charge task's output, the mid-workflow task runs for real; with no credentials
    // file its key comes from the vendor's variable, as for `call ENDPOINT`.
    let out = common::bin()
        .args(["call", "--task", &spec, "--state-input"])
        .arg(report["output"].to_string())
        .arg("--input")
        .arg(&input)
        .arg("--server")
        .arg(sandbox.url())
        .env("REBILLY_API_KEY", sandbox.dev_key("rebilly"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    let usage: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(usage["result"]["outcome"], "created");
    assert_eq!(usage["request"]["body"]["quantity"], json!(2.5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_retry_says_what_failed_and_what_set_the_wait() {
    let sandbox = common::Sandbox::with(Config {
        faults: FaultSpec::parse("429=1").unwrap(),
        ..Config::default()
    })
    .await;
    let dir = common::scratch("retry-lines");
    let definition = dir.join("flow.json");
    std::fs::write(
        &definition,
        json!({"name": "n", "startTask": "Report", "tasks": {"Report": {
            "type": "Http", "credentials": "rebilly", "end": true,
            "retry": {"intervalSeconds": 0, "maxAttempts": 1},
            "httpRequest": {"url": "https://api-sandbox.rebilly.com/usages", "method": "POST",
                            "body": {"subscriptionId": "sub_unlimited", "quantity": 1}}}}})
        .to_string(),
    )
    .unwrap();
    let credentials = dir.join("credentials.json");
    std::fs::write(
        &credentials,
        json!({"rebilly": {"header": "REB-APIKEY", "env": "RB_KEY"}}).to_string(),
    )
    .unwrap();
    let out = common::bin()
        .arg("run")
        .arg(&definition)
        .args(["--server", &format!("rebilly={}", sandbox.url())])
        .arg("--credentials")
        .arg(&credentials)
        .env("RB_KEY", sandbox.dev_key("rebilly"))
        .output()
        .unwrap();
    let stderr = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("[  Started] Report (Http)"), "{stderr}");
    assert!(
        stderr.contains("[    Retry] Report attempt 1: HTTP 429; next in")
            && stderr.contains("s (Retry-After "),
        "{stderr}"
    );
    assert!(stderr.contains("[   Failed] Report (Http)"), "{stderr}");
}

#[test]
fn definitions_come_from_stdin_and_folders_say_what_they_skip() {
    let definition =
        std::fs::read_to_string(common::root().join("tests/workflows/valid/warnings-only.json"))
            .unwrap();
    let mut command = common::bin();
    command.args(["validate", "-"]);
    let out = common::with_stdin(command, &definition);
    assert_eq!(out.status.code(), Some(0));
    assert!(common::text(&out.stdout).contains("<stdin>"));

    let flow = json!({"name": "n", "startTask": "Done", "tasks": {"Done": {
        "type": "Terminate", "terminationStatus": "Completed", "workflowOutput": {"seen": "${$.x}"}}}});
    let mut command = common::bin();
    command.args(["run", "-", "--input", r#"{"x": 7}"#]);
    let out = common::with_stdin(command, &flow.to_string());
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!({"seen": 7})
    );

    let empty = common::scratch("no-definitions");
    let out = common::bin().arg("validate").arg(&empty).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(common::text(&out.stderr).contains("no workflow definitions found"));
    std::fs::write(empty.join("settings.json"), r#"{"theme": "dark"}"#).unwrap();
    std::fs::write(empty.join("flow.json"), flow.to_string()).unwrap();
    let out = common::bin().arg("validate").arg(&empty).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stdout));
    assert!(common::text(&out.stdout).contains("1 file(s): 0 invalid"));
    assert!(
        common::text(&out.stderr).contains("skipping")
            && common::text(&out.stderr).contains("settings.json"),
        "{}",
        common::text(&out.stderr)
    );

    // A path that cannot be read is named and exits 2; the other files are still reported.
    let missing = empty.join("missing.json");
    let out = common::bin()
        .args(["validate", "--format", "json"])
        .arg(&missing)
        .arg(empty.join("flow.json"))
        .arg(common::root().join("tests/workflows/invalid"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(common::text(&out.stderr).contains("missing.json"));
    let diagnostics: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        diagnostics.iter().any(|d| d["code"] == "E-DECIMALS"),
        "the readable files were checked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_servers_takes_keys_from_the_vendor_variables_as_call_does() {
    let sandbox = common::Sandbox::start().await;
    let definition = common::root().join("workflows/charge-then-usage.json");
    let input = common::example_input(&definition).unwrap();
    let run = |order: &str, rebilly_key: Option<&str>| {
        let mut input = common::read_json(&input);
        input["orderId"] = json!(order);
        let mut command = common::bin();
        command
            .arg("run")
            .arg(&definition)
            .arg("--input")
            .arg(input.to_string())
            .args(["--server", &format!("solvimon={}", sandbox.url())])
            .args(["--server", &format!("rebilly={}", sandbox.url())])
            .current_dir(common::scratch("run-env-keys"))
            .env("SOLVIMON_API_KEY", sandbox.dev_key("solvimon"))
            .env_remove("REBILLY_API_KEY");
        if let Some(key) = rebilly_key {
            command.env("REBILLY_API_KEY", key);
        }
        command.output().unwrap()
    };
    let out = run("o-1", Some(sandbox.dev_key("rebilly")));
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    let output: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(output["usage"]["outcome"], "created", "{output}");

    // Without the variable (and no credentials file) the Rebilly task cannot authenticate:
    // pre-flight says so before the Solvimon charge is written.
    let before = sandbox.stats().await;
    let out = run("o-2", None);
    assert_eq!(out.status.code(), Some(1));
    let shown = common::text(&out.stderr);
    assert!(
        shown.contains("error[E-CREDENTIALS]: task `Report usage`")
            && shown.contains("nothing was sent"),
        "{shown}"
    );
    assert_eq!(sandbox.stats().await, before, "nothing was written");
}

/// A JSONata quantity is computed in doubles: `$sum([0.1, 0.2])` is `0.30000000000000004`.
/// It is never sent as a float: without a rounding policy the run stops before its first
/// write (the request is invalid: more than 3 decimals), and with `rounding: halfEven` the sandbox records 0.3 and the output
/// reports what was rounded away.
#[test]
fn a_jsonata_quantity_is_rounded_by_the_task_policy_or_refused_never_sent_as_a_float() {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("jsonata-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut definition: Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("workflows/rebilly-create-usage.json"))
            .unwrap(),
    )
    .unwrap();
    let task = &mut definition["tasks"]["Report usage"];
    task["httpRequest"]["body"]["quantity"] = json!("jsonata:$sum(lines.price)");
    let mut input: Value = serde_json::from_str(
        &std::fs::read_to_string(
            common::root().join("workflows/examples/rebilly-create-usage.input.json"),
        )
        .unwrap(),
    )
    .unwrap();
    input["lines"] = json!([{"price": 0.1}, {"price": 0.2}]);
    let input_file = dir.join("in.json");
    std::fs::write(&input_file, input.to_string()).unwrap();
    let run = |definition: &Value, name: &str| {
        let file = dir.join(name);
        std::fs::write(&file, definition.to_string()).unwrap();
        common::bin()
            .arg("run")
            .arg(&file)
            .arg("--input")
            .arg(&input_file)
            .output()
            .unwrap()
    };
    let out = run(&definition, "reject.json");
    let stderr = common::text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("error[E-DECIMALS]")
            && stderr.contains("0.30000000000000004 has more than 3 decimal places")
            && stderr.contains("nothing was sent"),
        "{stderr}"
    );
    definition["tasks"]["Report usage"]["rounding"] = json!("halfEven");
    let out = run(&definition, "round.json");
    let stdout = common::text(&out.stdout);
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    assert!(stdout.contains(r#""accepted": "0.3""#), "{stdout}");
    assert!(
        stdout.contains(r#""roundedAway": "0.00000000000000004""#),
        "{stdout}"
    );
}

/// `studio --server` without a credentials file: a catalog task whose credentials id is its
/// vendor's name is sent with the vendor's API key variable, as `run` and `call --task` send
/// it; a task to any other URL naming that id is refused before sending, never given the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_studio_with_a_server_uses_the_vendor_key_variable_for_its_endpoints_only() {
    let sandbox = common::Sandbox::start().await;
    let dir = common::scratch("studio-server-key");
    let workflows = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../workflows");
    let definition = std::fs::read_to_string(workflows.join("rebilly-create-usage.json")).unwrap();
    std::fs::write(dir.join("rebilly-create-usage.json"), &definition).unwrap();
    let server = format!("rebilly={}", sandbox.url());
    let (_studio, base, token) = tokio::task::block_in_place(|| {
        common::studio(
            &dir,
            &["--server", &server],
            &[("REBILLY_API_KEY", sandbox.dev_key("rebilly"))],
        )
    });
    let test = |text: String, input: Value| {
        let request = reqwest::Client::new()
            .post(format!("{base}/api/test"))
            .header("x-studio-token", &token)
            .json(&json!({"text": text, "task": "Report usage", "input": input}));
        async move {
            let answer: Value = request.send().await.unwrap().json().await.unwrap();
            answer
        }
    };
    let input: Value = serde_json::from_str(
        &std::fs::read_to_string(workflows.join("examples/rebilly-create-usage.input.json"))
            .unwrap(),
    )
    .unwrap();
    let answer = test(definition.clone(), input.clone()).await;
    assert_eq!(answer["result"]["statusCode"], 201, "{answer:#}");
    assert_eq!(answer["result"]["outcome"], "created", "{answer:#}");
    assert_eq!(sandbox.stats().await["usages"], 1);
    assert!(
        !answer.to_string().contains(sandbox.dev_key("rebilly")),
        "the key never reaches the page: {answer}"
    );
    // The same task sent elsewhere (not a catalog endpoint, no one vendor's server): the
    // vendor's key goes to its servers only, so nothing is sent, and the key goes nowhere.
    let elsewhere = definition.replace(
        "https://api-sandbox.rebilly.com/organizations/${$.organizationId}/usages",
        &format!("{}/elsewhere", sandbox.url()),
    );
    assert_ne!(elsewhere, definition);
    let answer = test(elsewhere, input).await;
    assert_eq!(answer["error"]["code"], "MISSING_CREDENTIALS", "{answer:#}");
    assert_eq!(answer["stage"], "request", "{answer:#}");
    assert_eq!(sandbox.stats().await["usages"], 1);
}
