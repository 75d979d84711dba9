//! Node loss: a 3-node Restate cluster on loopback (replication 2) runs 300 executions against
//! a sandbox with a state file and faults on; one node is `kill -9`ed when about half of the
//! intended records exist. Every execution completes through the other two nodes, and the
//! sandbox holds exactly one record per intended usage and charge.

#![allow(clippy::print_stderr)] // the measured run goes to the test log

use crate::common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use usage_sandbox::{Config, FaultSpec};
use usage_test_support::Sandbox;

const EXECUTIONS: usize = 300;

/// Each execution's input: a quantity of its own, so no two usages can be taken for each other.
fn input(i: usize) -> Value {
    json!({"quantity": format!("2.{i:03}"), "customer": format!("cust-{i}")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_complete_exactly_once_when_a_node_dies() {
    let state = common::scratch("cluster-state").join("sandbox.jsonl");
    let sandbox = Sandbox::with(Config {
        state: Some(state),
        faults: FaultSpec::parse("503=0.2,429=0.1,reset=0.05,lost-response=0.1").unwrap(),
        ..Config::default()
    })
    .await;
    let mut nodes = tokio::task::spawn_blocking(|| common::cluster("cluster"))
        .await
        .unwrap();
    let service = common::Service::for_sandbox(&nodes[0].admin, &sandbox).await;
    // Submit through node 1 and attach through node 2; node 3 dies.
    let submit = common::Ingress::new(&nodes[0].ingress);
    let attach = common::Ingress::new(&nodes[1].ingress);
    let definition = common::definition("restate/tests/data/load.json");

    let started = Instant::now();
    for chunk in (0..EXECUTIONS).collect::<Vec<_>>().chunks(25) {
        futures::future::join_all(chunk.iter().map(|i| submit_one(&submit, &definition, *i))).await;
    }
    // Kill node 3 once about half of the intended records exist (each execution records
    // two usages and one charge).
    let intended = 3 * EXECUTIONS as u64;
    let recorded = |stats: &Value| {
        stats["usages"].as_u64().unwrap_or(0) + stats["charge-data"].as_u64().unwrap_or(0)
    };
    let at_kill = loop {
        let stats = sandbox.stats().await;
        if recorded(&stats) >= intended / 2 {
            break stats;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "half the records never appeared: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let dead_admin = nodes[2].admin.clone();
    tokio::task::block_in_place(|| nodes[2].kill9());
    let killed_at = started.elapsed();
    assert!(
        !common::answers(&dead_admin),
        "node 3 is really gone (no process answers on its admin port)"
    );
    assert!(
        recorded(&at_kill) < intended,
        "the node must die while executions still run: {at_kill}"
    );

    let failed = attach.incomplete("cluster", EXECUTIONS).await;
    assert!(
        failed.is_empty(),
        "{} executions did not complete:\n{}",
        failed.len(),
        failed.join("\n")
    );
    common::assert_one_record_each(&sandbox, EXECUTIONS, "cluster").await;
    eprintln!(
        "{EXECUTIONS} executions on 3 nodes, node 3 killed at {killed_at:?} with {} of {intended} records made, all done in {:?}",
        recorded(&at_kill),
        started.elapsed()
    );
    drop(service);
    drop(nodes);
}

/// Submits `cluster-{i}` through `ingress`, trying again while the fresh cluster elects its
/// partition leaders.
async fn submit_one(ingress: &common::Ingress, definition: &Value, i: usize) {
    for _ in 0..100 {
        let status = ingress
            .send(&format!("cluster-{i}"), definition, &input(i))
            .await;
        // 409: an earlier try of this id was accepted although its answer was lost.
        if matches!(status, 200 | 202 | 409) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("cluster-{i} was never accepted");
}
