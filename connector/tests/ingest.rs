//! `usage-connector ingest` against a real sandbox on loopback: every record delivered exactly
//! once under faults, across `kill -9`s of the process, with bad records reported by line and
//! skipped, and a changed input refused.

#![allow(clippy::print_stderr)] // seeds and measured runs go to the test log

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Sandbox, text};
use serde_json::Value;
use usage_sandbox::{Config, FaultSpec};

const FAULTS: &str = "503=0.2,429=0.1,reset=0.05,lost-response=0.1";

/// `n` Rebilly usage records (NDJSON), each quantity its own.
fn usages(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("usages.ndjson");
    let mut text = String::with_capacity(n * 64);
    for i in 0..n {
        text.push_str(&format!(
            "{{\"subscriptionId\": \"sub_unlimited\", \"quantity\": {}.{:03}}}\n",
            1 + i / 1000,
            i % 1000
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// `ingest FILE --endpoint rebilly.create-usage` against `sandbox`, ready to run.
fn ingest(sandbox: &Sandbox, file: &Path, extra: &[&str]) -> Command {
    let mut command = common::bin();
    command
        .arg("ingest")
        .arg(file)
        .args(["--endpoint", "rebilly.create-usage", "--server"])
        .arg(sandbox.url())
        .args(["--concurrency", "256"])
        .args(extra)
        .env("REBILLY_API_KEY", sandbox.dev_key("rebilly"))
        .stdin(Stdio::null());
    command
}

async fn faulty_sandbox(seed: u64) -> Sandbox {
    Sandbox::with(Config {
        faults: FaultSpec::parse(FAULTS).unwrap(),
        seed,
        ..Config::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_records_under_faults_are_each_recorded_once() {
    let seed = usage_test_support::seed_from_env("INGEST_SEED");
    let sandbox = faulty_sandbox(seed).await;
    let dir = common::scratch("ingest-20k");
    let file = usages(&dir, 20_000);
    let report = dir.join("report.ndjson");
    let out = tokio::task::block_in_place(|| {
        ingest(&sandbox, &file, &["--report", report.to_str().unwrap()])
            .output()
            .unwrap()
    });
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("ingest: 20000 records:"), "{stderr}");
    // Not a terminal: plain progress lines every few seconds.
    assert!(stderr.contains(" records done, "), "{stderr}");
    assert_eq!(sandbox.stats().await["usages"], 20_000, "seed {seed}");
    let lines: Vec<Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 20_000);
    assert!(
        lines.iter().all(|l| l["id"].is_string()),
        "every record has its usage id"
    );
    let faults = sandbox.faults().await;
    assert!(
        faults.as_array().unwrap().len() > 1000,
        "the faults were on"
    );
    eprintln!("{}", stderr.lines().last().unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_three_times_and_run_again_still_exactly_once() {
    let seed = usage_test_support::seed_from_env("INGEST_SEED");
    let sandbox = faulty_sandbox(seed).await;
    let dir = common::scratch("ingest-kill");
    let file = usages(&dir, 20_000);
    let mut draws = seed;
    for kill in 0..3 {
        draws ^= draws << 13;
        draws ^= draws >> 7;
        draws ^= draws << 17;
        let after = Duration::from_millis(300 + draws % 2000);
        let before = sandbox.stats().await["usages"].as_u64().unwrap();
        tokio::task::block_in_place(|| {
            let mut child = ingest(&sandbox, &file, &[])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(after);
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        });
        let now = sandbox.stats().await["usages"].as_u64().unwrap();
        eprintln!("kill {kill} after {after:?}: {now} usages");
        assert!(now < 20_000, "killed before the end (kill {kill})");
        assert!(now >= before);
    }
    let out = tokio::task::block_in_place(|| ingest(&sandbox, &file, &[]).output().unwrap());
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        sandbox.stats().await["usages"],
        20_000,
        "exactly one usage per record (seed {seed}): {stderr}"
    );
    assert!(stderr.contains("done before"), "{stderr}");
    eprintln!("{}", stderr.lines().last().unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_are_reported_by_line_and_the_rest_delivered() {
    let sandbox = Sandbox::start().await;
    let dir = common::scratch("ingest-bad");
    let file = dir.join("mixed.ndjson");
    let mut text_in = String::new();
    let mut bad = Vec::new();
    for line in 1..=2_000u64 {
        if line % 100 == 7 {
            bad.push(line);
            // Alternately not JSON, and a request the API would refuse (4 decimals).
            if line % 200 == 7 {
                text_in.push_str("{\"subscriptionId\": \"sub_unlimited\", \"quantity\": \n");
            } else {
                text_in.push_str("{\"subscriptionId\": \"sub_unlimited\", \"quantity\": 1.2345}\n");
            }
        } else {
            text_in.push_str("{\"subscriptionId\": \"sub_unlimited\", \"quantity\": 2}\n");
        }
    }
    std::fs::write(&file, text_in).unwrap();
    let report = dir.join("report.ndjson");
    let out = tokio::task::block_in_place(|| {
        ingest(&sandbox, &file, &["--report", report.to_str().unwrap()])
            .output()
            .unwrap()
    });
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(sandbox.stats().await["usages"], 1_980);
    let invalid: Vec<u64> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["outcome"] == "invalid")
        .map(|r| r["line"].as_u64().unwrap())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(invalid, bad);
    assert!(stderr.contains("line 7: invalid"), "{stderr}");
    assert!(stderr.contains("line 107: invalid"), "{stderr}");
    assert!(stderr.contains("20 invalid"), "{stderr}");

    // Run again: nothing more is sent, the bad lines are still reported.
    let again = tokio::task::block_in_place(|| ingest(&sandbox, &file, &[]).output().unwrap());
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("1980 done before"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(sandbox.stats().await["usages"], 1_980);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_input_under_its_journal_is_refused() {
    let sandbox = Sandbox::start().await;
    let dir = common::scratch("ingest-changed");
    let file = usages(&dir, 50);
    let first = tokio::task::block_in_place(|| ingest(&sandbox, &file, &[]).output().unwrap());
    assert!(first.status.success(), "{}", text(&first.stderr));
    let mut changed = std::fs::read_to_string(&file).unwrap();
    changed = changed.replacen("\"quantity\": 1.010", "\"quantity\": 9.010", 1);
    std::fs::write(&file, changed).unwrap();
    let second = tokio::task::block_in_place(|| ingest(&sandbox, &file, &[]).output().unwrap());
    let stderr = text(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("input line 11 is not the line journal"),
        "{stderr}"
    );
    assert_eq!(sandbox.stats().await["usages"], 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_csv_through_a_definitions_task_keeps_quantities_exact() {
    use std::io::Write;
    let sandbox = Sandbox::start().await;
    let dir = common::scratch("ingest-csv");
    let file = dir.join("usages.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(
        b"organizationId,subscriptionId,quantity,usageTime\n\
          org_sandbox,sub_unlimited,2.675,2025-05-01T12:00:00Z\n\
          org_sandbox,sub_unlimited,1.001,2025-05-01T12:00:01Z\n",
    )
    .unwrap();
    std::fs::write(&file, gz.finish().unwrap()).unwrap();
    let mut command = common::bin();
    command
        .arg("ingest")
        .arg(&file)
        .arg("--task")
        .arg(common::root().join("workflows/rebilly-create-usage.json#Report usage"))
        .arg("--server")
        .arg(sandbox.url())
        .env("REBILLY_API_KEY", sandbox.dev_key("rebilly"));
    let out = tokio::task::block_in_place(|| command.output().unwrap());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let usages = sandbox.usages(&[]).await;
    let mut quantities: Vec<String> = usages
        .items
        .iter()
        .map(|u| u["quantity"].to_string())
        .collect();
    quantities.sort();
    assert_eq!(quantities, ["1.001", "2.675"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_of_the_other_engine_are_refused_before_anything_is_sent() {
    let sandbox = Sandbox::start().await;
    let dir = common::scratch("ingest-engine-options");
    let file = usages(&dir, 5);
    for (extra, named) in [
        (
            &["--shards", "4", "--patience", "60"][..],
            "--shards, --patience: used only with --engine restate",
        ),
        (
            &["--engine", "restate", "--concurrency", "8"][..],
            "--concurrency: used only with --engine local",
        ),
        (
            &[
                "--engine",
                "restate",
                "--shards",
                "1000",
                "--shard-size",
                "1000",
            ][..],
            "--shards × --shard-size is 1000000 records held in memory at once",
        ),
    ] {
        let mut command = common::bin();
        command
            .arg("ingest")
            .arg(&file)
            .args(["--endpoint", "rebilly.create-usage", "--server"])
            .arg(sandbox.url())
            .args(extra)
            .env("REBILLY_API_KEY", sandbox.dev_key("rebilly"))
            .stdin(Stdio::null());
        let out = tokio::task::block_in_place(|| command.output().unwrap());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(named), "{extra:?}: {stderr}");
    }
    assert!(!dir.join("usages.ndjson.journal").exists());
    assert_eq!(sandbox.stats().await["usages"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_that_does_not_answer_ends_the_run_early_and_the_same_command_goes_on() {
    let sandbox = Sandbox::start().await;
    let dir = common::scratch("ingest-down");
    let file = usages(&dir, 2_000);
    // A port nothing listens on: every connection is refused.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let mut command = common::bin();
    command
        .arg("ingest")
        .arg(&file)
        .args(["--endpoint", "rebilly.create-usage", "--server", &down])
        .args([
            "--concurrency",
            "8",
            "--retries",
            "2",
            "--give-up-after",
            "20",
        ])
        .env("REBILLY_API_KEY", sandbox.dev_key("rebilly"))
        .stdin(Stdio::null());
    let out = tokio::task::block_in_place(|| command.output().unwrap());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("stopped after 20 records in a row went unanswered")
            && stderr.contains("the input was not read to its end"),
        "{stderr}"
    );
    let read: u64 = stderr
        .split("ingest: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary: {stderr}"));
    assert!(read < 100, "{read} records were tried against a dead API");
    // The API is back: the same command (its journal) delivers every record once.
    let again = tokio::task::block_in_place(|| ingest(&sandbox, &file, &[]).output().unwrap());
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(sandbox.stats().await["usages"], 2_000);
}
