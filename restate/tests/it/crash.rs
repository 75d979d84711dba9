//! Exactly once across crashes: 500 executions (a Rebilly usage and a Solvimon charge in
//! parallel, then a second usage) run on a real Restate server against a sandbox with a state
//! file and faults on, while the service process is `kill -9`ed and restarted at random
//! moments. Every execution completes, and the sandbox holds exactly one record per intended
//! usage and charge: none lost, none doubled.

#![allow(clippy::print_stderr)] // the seed and the measured run go to the test log

use crate::common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use usage_sandbox::{Config, FaultSpec};
use usage_test_support::Sandbox;

const EXECUTIONS: usize = 500;
const KILLS: usize = 6;

/// A small deterministic generator (the seed is printed, so a failure can be replayed).
struct Draws(u64);

impl Draws {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Each execution's input: a quantity of its own, so no two usages can be taken for each other.
fn input(i: usize) -> Value {
    json!({"quantity": format!("1.{i:03}"), "customer": format!("cust-{i}")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_complete_exactly_once_while_the_service_is_killed() {
    let seed = usage_test_support::seed_from_env("CRASH_SEED");
    let mut draws = Draws(seed);
    let state = common::scratch("crash-state").join("sandbox.jsonl");
    let sandbox = Sandbox::with(Config {
        state: Some(state),
        faults: FaultSpec::parse("503=0.2,429=0.1,reset=0.05,lost-response=0.1").unwrap(),
        seed,
        ..Config::default()
    })
    .await;
    let node = tokio::task::spawn_blocking(|| common::single_node("crash"))
        .await
        .unwrap();
    let mut service = common::Service::for_sandbox(&node.admin, &sandbox).await;
    let ingress = common::Ingress::new(&node.ingress);
    let definition = common::definition("restate/tests/data/load.json");

    let started = Instant::now();
    for i in 0..EXECUTIONS {
        let status = ingress
            .send(&format!("load-{i}"), &definition, &input(i))
            .await;
        assert!(matches!(status, 200 | 202), "submitting load-{i}: {status}");
    }
    // Kill the service at random moments while the executions run.
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(300 + draws.below(1200))).await;
        let pause = Duration::from_millis(50 + draws.below(450));
        tokio::task::block_in_place(|| {
            service.kill9();
            std::thread::sleep(pause);
            service.restart();
        });
    }
    let killed_by = started.elapsed();

    let failed = ingress.incomplete("load", EXECUTIONS).await;
    assert!(
        failed.is_empty(),
        "{} executions did not complete (seed {seed}):\n{}",
        failed.len(),
        failed.join("\n")
    );
    common::assert_one_record_each(&sandbox, EXECUTIONS, &format!("seed {seed}")).await;
    let faults = sandbox.faults().await;
    let mut by_kind = std::collections::BTreeMap::<String, usize>::new();
    for f in faults.as_array().into_iter().flatten() {
        *by_kind
            .entry(f["fault"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    eprintln!(
        "{EXECUTIONS} executions, {KILLS} kills within {killed_by:?}, all done in {:?}; faults injected: {by_kind:?}",
        started.elapsed()
    );
    drop(service);
    drop(node);
}
