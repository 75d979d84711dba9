//! Bulk ingest on Restate (`ingest --engine restate`): 600 Rebilly usages in shards of 50, on a
//! real single-node Restate server against a sandbox with faults on, while the service process
//! is `kill -9`ed mid-run and started again, and then the submitting side stops mid-run (its
//! task dropped, shards still running in Restate) and the same ingest runs again. Every record
//! is delivered exactly once (the sandbox holds 600 usages), and a third run sends nothing.
//! And a service configured unlike the submitter refuses every record (nothing sent); run again
//! once the service is fixed, the same shards (answered before, nothing delivered) go out as
//! their next generation and deliver each record once.

#![allow(clippy::print_stderr)] // the measured run goes to the test log

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use usage_connector::ingest::shard::{RestateOptions, ingest_on_restate};
use usage_connector::ingest::{Format, IngestJournal, Summary, Template, records};
use usage_sandbox::{Config, FaultSpec};
use usage_test_support::Sandbox;

const RECORDS: usize = 600;
const SPEC: &str = "endpoint rebilly.create-usage, on Restate in shards of 50";

fn template() -> Template {
    Template {
        task: serde_json::from_value(json!({
            "credentials": "rebilly", "end": true,
            "httpRequest": {"url": "https://api-sandbox.rebilly.com/usages", "method": "POST", "body": "${$}"},
            "retry": {"intervalSeconds": 1, "backoffRate": 1.5, "maxDelaySeconds": 5, "maxAttempts": 19, "jitter": "full"}
        }))
        .unwrap(),
        task_name: "ingest".into(),
        definition: String::new(),
        input_schema: None,
    }
}

async fn run(sandbox: &Sandbox, file: &Path, ingress: &str, delivered: Arc<AtomicU64>) -> Summary {
    let executor = common::executor_for(sandbox);
    run_with(executor, file, ingress, delivered).await
}

async fn run_with(
    executor: usage_connector::execute::Executor,
    file: &Path,
    ingress: &str,
    delivered: Arc<AtomicU64>,
) -> Summary {
    let destination = executor.destination_of(&template().task);
    // A run aborted just before may still be letting go of the journal (its tasks cancelled,
    // not yet dropped): one process holds it at a time, so wait for it.
    let path = file.with_extension("journal");
    let started = Instant::now();
    let journal = loop {
        match IngestJournal::open(&path, SPEC, &destination) {
            Err(usage_connector::Error::InUse { .. }) if started.elapsed().as_secs() < 10 => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            opened => break Arc::new(opened.unwrap()),
        }
    };
    let input = records(
        Box::new(std::io::BufReader::new(std::fs::File::open(file).unwrap())),
        Format::Ndjson,
    );
    let summary = ingest_on_restate(
        Arc::new(executor),
        Arc::new(template()),
        SPEC,
        input,
        journal.clone(),
        RestateOptions {
            ingress: ingress.to_owned(),
            shard_size: 50,
            shards: 4,
            max_errors: None,
            give_up_after: None,
            patience: Duration::from_secs(120),
        },
        Arc::new(move |r| {
            if r.outcome.delivered() {
                delivered.fetch_add(1, Ordering::Relaxed);
            }
        }),
    )
    .await
    .unwrap();
    journal.close();
    summary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_deliver_every_record_once_while_the_service_is_killed() {
    let sandbox = Sandbox::with(Config {
        faults: FaultSpec::parse("503=0.1,429=0.05,reset=0.02,lost-response=0.05").unwrap(),
        seed: 11,
        ..Config::default()
    })
    .await;
    let node = tokio::task::spawn_blocking(|| common::single_node("ingest"))
        .await
        .unwrap();
    let mut service = common::Service::for_sandbox(&node.admin, &sandbox).await;
    let dir = common::scratch("ingest-restate");
    let file = dir.join("usages.ndjson");
    let text: String = (0..RECORDS)
        .map(|i| format!("{{\"subscriptionId\": \"sub_unlimited\", \"quantity\": \"1.{i:03}\"}}\n"))
        .collect();
    std::fs::write(&file, text).unwrap();

    let started = Instant::now();
    let delivered = Arc::new(AtomicU64::new(0));
    let ingest = tokio::spawn({
        let executor = common::executor_for(&sandbox);
        let (file, ingress, delivered) = (file.clone(), node.ingress.clone(), delivered.clone());
        async move { run_with(executor, &file, &ingress, delivered).await }
    });
    // Kill the service once a quarter of the usages exist, then start it again.
    let killed_at = loop {
        let usages = sandbox.stats().await["usages"].as_u64().unwrap_or(0);
        if usages >= (RECORDS / 4) as u64 {
            break usages;
        }
        assert!(!ingest.is_finished(), "the ingest ended before the kill");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::task::block_in_place(|| {
        service.kill9();
        std::thread::sleep(Duration::from_millis(300));
        service.restart();
    });
    // Then the submitting side stops once half the usages exist (its shards keep running in
    // Restate), and the same ingest runs again: it reaches the same shards.
    let stopped_at = loop {
        let usages = sandbox.stats().await["usages"].as_u64().unwrap_or(0);
        if usages >= (RECORDS / 2) as u64 || ingest.is_finished() {
            break usages;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    ingest.abort();
    let first = ingest.await;
    let summary = run(&sandbox, &file, &node.ingress, delivered.clone()).await;
    eprintln!(
        "{RECORDS} records in shards of 50, service killed at {killed_at} usages, submitter stopped at {stopped_at} ({}); done in {:?}: {summary:?}",
        if first.is_ok() {
            "it had finished"
        } else {
            "mid-run"
        },
        started.elapsed()
    );
    assert!(summary.all_delivered(), "{summary:?}");
    assert_eq!(summary.records, RECORDS as u64);
    assert_eq!(
        summary.skipped + summary.created + summary.duplicate + summary.recovered,
        RECORDS as u64
    );
    assert_eq!(
        sandbox.stats().await["usages"],
        RECORDS,
        "exactly one usage per record"
    );
    assert!(
        !sandbox.faults().await.as_array().unwrap().is_empty(),
        "the faults were on"
    );

    // The same ingest again: every record is done in the journal, nothing is submitted.
    let again = run(&sandbox, &file, &node.ingress, Arc::new(AtomicU64::new(0))).await;
    assert_eq!(again.skipped, RECORDS as u64, "{again:?}");
    assert_eq!(sandbox.stats().await["usages"], RECORDS);
    drop(service);
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misconfigured_service_sends_nothing_and_the_next_run_delivers_through_new_generations() {
    const N: usize = 120; // shards of 50, 50 and 20
    let sandbox = Sandbox::start().await;
    let node = tokio::task::spawn_blocking(|| common::single_node("ingest-generations"))
        .await
        .unwrap();
    let dir = common::scratch("ingest-restate-generations");
    let file = dir.join("usages.ndjson");
    let text: String = (0..N)
        .map(|i| format!("{{\"subscriptionId\": \"sub_unlimited\", \"quantity\": \"2.{i:03}\"}}\n"))
        .collect();
    std::fs::write(&file, text).unwrap();

    // The service sends Rebilly elsewhere than the submitter prepared: it refuses every record.
    let elsewhere = format!("http://127.0.0.1:{}", common::free_port());
    let (admin, keys) = (
        node.admin.clone(),
        (
            sandbox.dev_key("solvimon").to_owned(),
            sandbox.dev_key("rebilly").to_owned(),
        ),
    );
    let wrong = tokio::task::spawn_blocking(move || {
        common::Service::start_with(&admin, &elsewhere, &keys.0, &keys.1)
    })
    .await
    .unwrap();
    let first = run(&sandbox, &file, &node.ingress, Arc::new(AtomicU64::new(0))).await;
    assert_eq!(first.invalid, N as u64, "{first:?}");
    assert_eq!(
        sandbox.stats().await["usages"],
        0,
        "a refused record was sent"
    );

    // Fixed: the same shard ids are answered already (nothing delivered), so their records go
    // out as each shard's next generation, looked up first, each once.
    drop(wrong);
    let service = common::Service::for_sandbox(&node.admin, &sandbox).await;
    let second = run(&sandbox, &file, &node.ingress, Arc::new(AtomicU64::new(0))).await;
    assert!(second.all_delivered(), "{second:?}");
    assert_eq!(second.records, N as u64, "{second:?}");
    assert_eq!(
        sandbox.stats().await["usages"],
        N,
        "exactly one usage per record"
    );

    let third = run(&sandbox, &file, &node.ingress, Arc::new(AtomicU64::new(0))).await;
    assert_eq!(third.skipped, N as u64, "{third:?}");
    assert_eq!(sandbox.stats().await["usages"], N);
    drop(service);
    drop(node);
}
