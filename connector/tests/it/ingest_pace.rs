//! `usage-connector ingest` against a rate-limited sandbox (`--rate-limit 150/s`, a token bucket
//! per key): adaptive concurrency delivers every record of both vendors, none fails with 429,
//! each refused request waits what the server asked, and refusals stay few (the run paces
//! itself instead of retrying its way through).

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{Sandbox, text};
use serde_json::Value;
use usage_sandbox::Config;

const RECORDS: usize = 2_000;

fn write(path: &Path, line: impl Fn(usize) -> String) {
    let text: String = (0..RECORDS).map(|i| line(i) + "\n").collect();
    std::fs::write(path, text).unwrap();
}

/// `ingest` with adaptive concurrency (no `--concurrency`), a report next to the input.
fn ingest(sandbox: &Sandbox, file: &Path, template: &[&str], env: (&str, &str)) -> Command {
    let mut command = common::bin();
    command
        .arg("ingest")
        .arg(file)
        .args(template)
        .arg("--server")
        .arg(sandbox.url())
        .arg("--report")
        .arg(file.with_extension("report.ndjson"))
        .env(env.0, env.1)
        .stdin(Stdio::null());
    command
}

fn outcomes(report: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(report).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        *counts
            .entry(v["outcome"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    counts
}

fn check(out: &Output, report: &Path) {
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let counts = outcomes(report);
    assert_eq!(
        counts.get("created"),
        Some(&RECORDS),
        "{counts:?}\n{stderr}"
    );
    assert_eq!(counts.len(), 1, "only created records: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_api_gets_every_record_and_no_429_fails_one() {
    let sandbox = Sandbox::with(Config {
        rate_limit: Some(150),
        record_requests: true,
        ..Config::default()
    })
    .await;
    let dir = common::scratch("ingest-pace");
    let usages = dir.join("usages.ndjson");
    write(&usages, |i| {
        format!(
            r#"{{"subscriptionId": "sub_unlimited", "quantity": {}}}"#,
            i + 1
        )
    });
    let charges = dir.join("charges.ndjson");
    write(&charges, |i| {
        format!(
            r#"{{"productItemId": "pit_setup", "customer": "cust-42", "reference": "chg_{i:05}", "units": "{}", "periodStart": "2024-07-01T00:00:00Z", "periodEnd": "2024-08-01T00:00:00Z"}}"#,
            i + 1
        )
    });
    let charge_task = common::root().join("workflows/solvimon-ingest-charge.json#Charge");
    // Both vendors at once: each key has its own bucket.
    let mut rebilly = ingest(
        &sandbox,
        &usages,
        &["--endpoint", "rebilly.create-usage"],
        ("REBILLY_API_KEY", sandbox.dev_key("rebilly")),
    );
    let mut solvimon = ingest(
        &sandbox,
        &charges,
        &["--task", charge_task.to_str().unwrap()],
        ("SOLVIMON_API_KEY", sandbox.dev_key("solvimon")),
    );
    let (rebilly, solvimon) = tokio::task::block_in_place(|| {
        let r = rebilly.stdout(Stdio::null()).stderr(Stdio::piped()).spawn();
        let s = solvimon.output().unwrap();
        (r.unwrap().wait_with_output().unwrap(), s)
    });
    check(&rebilly, &usages.with_extension("report.ndjson"));
    check(&solvimon, &charges.with_extension("report.ndjson"));

    let stats = sandbox.stats().await;
    assert_eq!(stats["usages"], RECORDS);
    assert_eq!(stats["charge-data"], RECORDS);
    let refused = stats["rateLimited"].as_u64().unwrap();
    assert!(refused > 0, "the limit was reached: {stats}");
    // Paced, a debug build on a busy 2-core machine measured 8–17 % refused (2026-12-07); a
    // window fixed at 8 (`--concurrency 8`, not paced) had 53 % refused and records failing.
    assert!(
        refused < (2 * RECORDS / 4) as u64,
        "{refused} refusals for {} records: the run did not pace itself",
        2 * RECORDS
    );

    // Every refused request's next try came no earlier than the server allowed.
    let checked = sandbox.assert_retries_waited().await;
    assert!(
        checked > 0,
        "some refused requests were retried and checked"
    );
}
