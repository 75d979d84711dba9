//! The studio's unhappy path (the real binary over loopback): a resume goes where the run went
//! (it went to the studio's own servers, and the real server never got the rest of the run),
//! and "Test one task" refuses a workflow input that fails `inputSchema`, as `call --task` and
//! `run` do (it sent the charge).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use usage_sandbox::{Config, FaultSpec};

use crate::common::{self, Sandbox, text};

/// The sample that charges, then reports a usage, copied into `dir`; and its example input.
fn charge_then_usage(dir: &Path) -> (String, Value) {
    let root = common::root();
    let definition =
        std::fs::read_to_string(root.join("workflows/charge-then-usage.json")).unwrap();
    std::fs::write(dir.join("charge-then-usage.json"), &definition).unwrap();
    let input =
        std::fs::read_to_string(root.join("workflows/examples/charge-then-usage.input.json"))
            .unwrap();
    (definition, serde_json::from_str(&input).unwrap())
}

/// A sandbox at `addr` keeping its state in `state`, with `faults`.
async fn sandbox_at(addr: SocketAddr, state: &Path, faults: &str) -> Sandbox {
    Sandbox::with(Config {
        addr,
        state: Some(state.to_owned()),
        faults: FaultSpec::parse(faults).unwrap(),
        ..Config::default()
    })
    .await
}

/// GETs the studio's `path`: the answer.
async fn get(base: &str, token: &str, path: &str) -> Value {
    usage_test_support::install_crypto_provider();
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header("x-studio-token", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A server (a sandbox keeping its state in `dir`) that refuses every usage (503) until it is
/// started again at its address with [`sandbox_at`] and no faults.
async fn refusing_usages(dir: &Path) -> (Sandbox, SocketAddr, std::path::PathBuf) {
    let state = dir.join("server-state");
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = sandbox_at(addr, &state, "503=1.0,prefix=/usages").await;
    (down, addr, state)
}

/// What the studio says of run `id` once it is no longer running.
async fn ended(base: &str, token: &str, id: &str) -> Value {
    for _ in 0..300 {
        let run = get(base, token, &format!("/api/runs/{id}")).await;
        if run["status"] != "Running" {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run {id} still running");
}

/// POSTs `body` to the studio's `path`: the status and the answer.
async fn post(base: &str, token: &str, path: &str, body: Value) -> (u16, Value) {
    usage_test_support::install_crypto_provider();
    let answer = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("x-studio-token", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        answer.status().as_u16(),
        answer.json().await.unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_studio_resume_sends_where_the_run_went() {
    let dir = common::scratch("studio-resume");
    let (_, input) = charge_then_usage(&dir);
    // The run's server refuses usages while the run goes (503), then is back.
    let (down, addr, state) = refusing_usages(&dir).await;
    let keys = [
        ("SOLVIMON_API_KEY", down.dev_key("solvimon").to_owned()),
        ("REBILLY_API_KEY", down.dev_key("rebilly").to_owned()),
    ];
    let server = down.url();
    let out = tokio::task::block_in_place(|| {
        let mut command = common::bin();
        command
            .arg("run")
            .arg(dir.join("charge-then-usage.json"))
            .args(["--input", &input.to_string()])
            .args(["--server", &format!("solvimon={server}")])
            .args(["--server", &format!("rebilly={server}")])
            .current_dir(&dir);
        for (name, value) in &keys {
            command.env(name, value);
        }
        command.output().unwrap()
    });
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let id = common::resume_id(&stderr);
    down.shutdown().await;
    let up = sandbox_at(addr, &state, "").await;
    // A studio on its embedded sandbox resumes it: the usage goes to the run's server.
    let env: Vec<(&str, &str)> = keys.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (_studio, base, token) = tokio::task::block_in_place(|| common::studio(&dir, &[], &env));
    let (status, answer) = post(&base, &token, &format!("/api/runs/{id}/resume"), json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let run = ended(&base, &token, &id).await;
    assert_eq!(run["status"], "Completed", "{run:#}");
    assert_eq!(
        up.counts(&["charge-data", "usages"]).await,
        [1, 1],
        "the usage reached the run's server, the charge was not sent again"
    );
    let embedded = get(&base, &token, "/api/sandbox").await;
    assert_eq!(
        embedded["usages"], 0,
        "nothing went to the studio's sandbox: {embedded}"
    );
}

/// A run on an embedded sandbox is not resumed by a studio that sends to servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_a_sandbox_is_not_resumed_against_servers() {
    let dir = common::scratch("studio-resume-sandboxed");
    let (_, mut input) = charge_then_usage(&dir);
    // A subscription the embedded sandbox does not know: the usage fails after the charge.
    input["subscriptionId"] = json!("sub_nope");
    let out = tokio::task::block_in_place(|| {
        common::bin()
            .arg("run")
            .arg(dir.join("charge-then-usage.json"))
            .args(["--input", &input.to_string()])
            .current_dir(&dir)
            .output()
            .unwrap()
    });
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let id = common::resume_id(&stderr);
    let servers = Sandbox::start().await;
    let to = format!("rebilly={}", servers.url());
    let (_studio, base, token) = tokio::task::block_in_place(|| {
        common::studio(
            &dir,
            &["--server", &to],
            &[("REBILLY_API_KEY", servers.dev_key("rebilly"))],
        )
    });
    let (status, answer) = post(&base, &token, &format!("/api/runs/{id}/resume"), json!({})).await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("ran on an embedded sandbox"),
        "{answer}"
    );
    assert_eq!(servers.stats().await, json!({"duplicates": 0, "usages": 0}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_refuses_an_input_that_fails_the_input_schema() {
    let dir = common::scratch("studio-test-schema");
    let (definition, mut input) = charge_then_usage(&dir);
    input["quantity"] = json!(2.5);
    let (_studio, base, token) = tokio::task::block_in_place(|| common::studio(&dir, &[], &[]));
    let (status, answer) = post(
        &base,
        &token,
        "/api/test",
        json!({"text": definition, "task": "Charge", "input": input}),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer["diagnostics"][0]["code"], "E-INPUT-SCHEMA",
        "{answer}"
    );
    let embedded = get(&base, &token, "/api/sandbox").await;
    assert_eq!(
        embedded["charge-data"],
        Value::Null,
        "nothing was sent: {embedded}"
    );
}

/// A studio sending to servers with its own credentials file resumes the runs it started with
/// that file (it records it): the ids the file defines still resolve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_studio_resumes_its_own_run_with_its_credentials_file() {
    let dir = common::scratch("studio-own-resume");
    let (definition, input) = charge_then_usage(&dir);
    let definition = definition
        .replace(
            "\"credentials\": \"solvimon\"",
            "\"credentials\": \"billing\"",
        )
        .replace(
            "\"credentials\": \"rebilly\"",
            "\"credentials\": \"metering\"",
        );
    let (down, addr, state) = refusing_usages(&dir).await;
    std::fs::write(
        dir.join("mine.json"),
        json!({"billing": {"header": "X-API-KEY", "env": "BILLING_KEY"},
               "metering": {"header": "REB-APIKEY", "env": "METERING_KEY"}})
        .to_string(),
    )
    .unwrap();
    let env = [
        ("BILLING_KEY", down.dev_key("solvimon").to_owned()),
        ("METERING_KEY", down.dev_key("rebilly").to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (solvimon, rebilly) = (
        format!("solvimon={}", down.url()),
        format!("rebilly={}", down.url()),
    );
    let args = [
        "--server",
        &solvimon,
        "--server",
        &rebilly,
        "--credentials",
        "mine.json",
    ];
    let (_studio, base, token) = tokio::task::block_in_place(|| common::studio(&dir, &args, &env));
    let (status, answer) = post(
        &base,
        &token,
        "/api/runs",
        json!({"text": definition, "input": input}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    let run = ended(&base, &token, &id).await;
    assert_eq!(run["status"], "Failed", "{run:#}");
    down.shutdown().await;
    let up = sandbox_at(addr, &state, "").await;
    let (status, answer) = post(&base, &token, &format!("/api/runs/{id}/resume"), json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let run = ended(&base, &token, &id).await;
    assert_eq!(run["status"], "Completed", "{run:#}");
    assert_eq!(up.counts(&["charge-data", "usages"]).await, [1, 1]);
}
