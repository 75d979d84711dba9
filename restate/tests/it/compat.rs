//! The pinned pair: the Restate server installed from `restate/server/package.json` (and its
//! lock) and the `restate-sdk` pinned in `restate/Cargo.toml` (and `Cargo.lock`) are the
//! versions this project was tested with, and they work together: the running server reports
//! the pinned version, accepts the service's registration and runs an execution through it.

use crate::common;

use serde_json::{Value, json};
use usage_test_support::Sandbox;

/// The server version `restate/server/package.json` pins.
fn pinned_server() -> String {
    let package: Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("restate/server/package.json")).unwrap(),
    )
    .unwrap();
    let version = package["dependencies"]["@restatedev/restate-server"]
        .as_str()
        .expect("package.json pins @restatedev/restate-server")
        .to_owned();
    assert!(
        version.chars().all(|c| c.is_ascii_digit() || c == '.'),
        "an exact version, not a range: {version}"
    );
    assert_eq!(
        package["dependencies"]["@restatedev/restatectl"].as_str(),
        Some(version.as_str()),
        "restatectl is pinned to the server's version"
    );
    version
}

#[test]
fn the_lock_files_hold_the_pinned_versions() {
    let server = pinned_server();
    let lock: Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("restate/server/package-lock.json")).unwrap(),
    )
    .unwrap();
    for package in [
        "node_modules/@restatedev/restate-server",
        "node_modules/@restatedev/restate-server-linux-x64",
        "node_modules/@restatedev/restatectl",
    ] {
        assert_eq!(
            lock["packages"][package]["version"].as_str(),
            Some(server.as_str()),
            "{package} in package-lock.json"
        );
    }

    let manifest = std::fs::read_to_string(common::root().join("restate/Cargo.toml")).unwrap();
    let pin = manifest
        .lines()
        .find_map(|l| l.strip_prefix("restate-sdk = { version = \"="))
        .and_then(|rest| rest.split('"').next())
        .expect("restate/Cargo.toml pins restate-sdk with an exact `=` version");
    let cargo_lock = std::fs::read_to_string(common::root().join("Cargo.lock")).unwrap();
    let locked: Vec<&str> = cargo_lock
        .split("[[package]]")
        .filter(|p| p.contains("\nname = \"restate-sdk\"\n"))
        .filter_map(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"'))
        .collect();
    assert_eq!(
        locked,
        [pin],
        "Cargo.lock holds exactly the pinned restate-sdk"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pinned_server_runs_the_pinned_sdk() {
    let sandbox = Sandbox::start().await;
    let node = tokio::task::spawn_blocking(|| common::single_node("compat"))
        .await
        .unwrap();
    let ingress = common::Ingress::new(&node.ingress);
    let version: Value = reqwest::get(format!("{}/version", node.admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(version["version"].as_str(), Some(pinned_server().as_str()));

    let service = common::Service::for_sandbox(&node.admin, &sandbox).await;
    let (status, reply) = ingress
        .run(
            "compat-1",
            &common::definition("workflows/rebilly-create-usage.json"),
            &common::definition("workflows/examples/rebilly-create-usage.input.json"),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "Completed", "{reply}");
    assert_eq!(sandbox.stats().await["usages"], json!(1));
    drop(service);
    drop(node);
}
