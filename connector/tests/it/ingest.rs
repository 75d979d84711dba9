//! `usage-connector ingest` against a real sandbox on loopback: every record delivered exactly
//! once under faults, across `kill -9`s of the process, with bad records reported by line and
//! skipped, and a changed input refused.

#![allow(clippy::print_stderr)] // seeds and measured runs go to the test log

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Sandbox, rebilly_ingest as ingest, text};
use serde_json::Value;
use usage_sandbox::{Config, FaultSpec};

const FAULTS: &str = "503=0.2,429=0.1,reset=0.05,lost-response=0.1";

/// `n` Rebilly usage records (NDJSON), each quantity its own.
pub(crate) fn usages(dir: &Path, n: usize) -> PathBuf {
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
    assert!(
        stderr.contains("20 records not delivered: invalid, never sent; fix those lines in place"),
        "the way on is to fix them, not to retry: {stderr}"
    );

    // Run again: nothing more is sent, the bad lines are still reported.
    let again = tokio::task::block_in_place(|| ingest(&sandbox, &file, &[]).output().unwrap());
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("1980 done before"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(sandbox.stats().await["usages"], 1_980);

    // Fixed in place, as the run said: the same command sends the fixed lines only.
    let fixed: String = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| match bad.contains(&(i as u64 + 1)) {
            true => "{\"subscriptionId\": \"sub_unlimited\", \"quantity\": 1.234}\n".to_owned(),
            false => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&file, fixed).unwrap();
    let last = tokio::task::block_in_place(|| ingest(&sandbox, &file, &[]).output().unwrap());
    let stderr = text(&last.stderr);
    assert!(last.status.success(), "{stderr}");
    assert!(
        stderr.contains("20 created") && stderr.contains("1980 done before"),
        "{stderr}"
    );
    assert_eq!(sandbox.stats().await["usages"], 2_000);
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

/// `ingest FILE --endpoint rebilly.create-usage --server URL` with a key the sandbox knows.
fn ingest_to(url: &str, file: &Path, extra: &[&str]) -> Command {
    let mut command = common::bin();
    command
        .arg("ingest")
        .arg(file)
        .args(["--endpoint", "rebilly.create-usage", "--server", url])
        .args(extra)
        .env("REBILLY_API_KEY", "sk_sandbox_rebilly")
        .stdin(Stdio::null());
    command
}

/// An address nothing listens on (now): every connection is refused.
fn refused_port() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_that_never_answers_ends_a_small_file_early_and_the_same_command_goes_on() {
    let dir = common::scratch("ingest-down");
    let file = usages(&dir, 50);
    let addr = refused_port();
    let url = format!("http://{addr}");
    // The defaults: adaptive, 25 tries per record, --give-up-after 100. Each record alone
    // would spend its 25 tries (minutes); the run stops once 100 tries, twice the records,
    // went unanswered.
    let out = tokio::task::block_in_place(|| ingest_to(&url, &file, &[]).output().unwrap());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("stopped: the API never answered (")
            && stderr.contains(&format!("ingest: no answer from {url}: "))
            && stderr.contains("50 records not delivered"),
        "{stderr}"
    );
    let tries: u64 = stderr
        .split("the API never answered (")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of tries: {stderr}"));
    assert!(
        (100..400).contains(&tries),
        "about twice the records in tries, not 25 each: {tries}"
    );
    // The API is back at the same address: the same command delivers every record once.
    let sandbox = Sandbox::with(Config {
        addr,
        ..Config::default()
    })
    .await;
    let again = tokio::task::block_in_place(|| ingest_to(&url, &file, &[]).output().unwrap());
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(sandbox.stats().await["usages"], 50);
    let third = tokio::task::block_in_place(|| ingest_to(&url, &file, &[]).output().unwrap());
    assert!(
        text(&third.stderr).contains("50 done before"),
        "{}",
        text(&third.stderr)
    );
    assert_eq!(sandbox.stats().await["usages"], 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_that_has_not_answered_yet_is_reported_early_with_what_the_run_will_do() {
    let dir = common::scratch("ingest-warn");
    let file = usages(&dir, 5);
    let url = format!("http://{}", refused_port());
    // --give-up-after 0: the run goes on until each record spent its 8 tries (seconds), and
    // says early that nothing answers.
    let extra = ["--give-up-after", "0", "--retries", "8"];
    let out = tokio::task::block_in_place(|| ingest_to(&url, &file, &extra).output().unwrap());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let warning = stderr
        .lines()
        .find(|l| l.starts_with(&format!("ingest: no answer from {url} yet: ")))
        .unwrap_or_else(|| panic!("no early warning: {stderr}"));
    assert!(
        warning.contains(" tries failed, the last: ")
            && warning.contains("each record is tried up to 8 times")
            && warning.contains("it goes on (--give-up-after 0)"),
        "{warning}"
    );
    // It came before the first record gave up.
    let first_failed = stderr.find("line ").expect("a failed record");
    assert!(stderr.find(warning).unwrap() < first_failed, "{stderr}");
    assert!(stderr.contains("5 failed"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_fault_mix_adaptively_killed_twice_is_still_exactly_once() {
    let seed = usage_test_support::seed_from_env("INGEST_SEED");
    let sandbox = faulty_sandbox(seed).await;
    let dir = common::scratch("ingest-kill-mix");
    let file = usages(&dir, 1_900);
    // Killed once a third and once two thirds of the records exist: each run got that far in
    // the default (adaptive) mode.
    for (kill, share) in [(1u64, 3u64), (2, 3)]
        .into_iter()
        .map(|(k, d)| (k, 1_900 * k / d))
    {
        let mut child = ingest(&sandbox, &file, &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let reached = tokio::time::timeout(Duration::from_secs(300), async {
            while sandbox.stats().await["usages"].as_u64().unwrap() < share {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let now = sandbox.stats().await["usages"].as_u64().unwrap();
        eprintln!("kill {kill} at {now} usages");
        assert!(reached.is_ok(), "kill {kill}: {now} usages, never {share}");
        assert!(now < 1_900, "killed before the end (kill {kill})");
    }
    let out = tokio::task::block_in_place(|| ingest(&sandbox, &file, &[]).output().unwrap());
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        sandbox.stats().await["usages"],
        1_900,
        "exactly one usage per record (seed {seed}): {stderr}"
    );
    eprintln!("{}", stderr.lines().last().unwrap_or_default());
}

/// The sum of `metric`'s samples whose labels include every `label="value"` of `with`, in a
/// Prometheus text page.
fn sample(page: &str, metric: &str, with: &[&str]) -> u64 {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| {
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            name == metric && with.iter().all(|w| labels.contains(w))
        })
        .map(|(_, value)| value.parse::<f64>().unwrap() as u64)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_scraped_during_a_faulted_ingest_add_up_to_its_report() {
    use std::io::Write;
    const N: u64 = 300;
    let sandbox = Sandbox::with(Config {
        faults: FaultSpec::parse(FAULTS).unwrap(),
        record_requests: true,
        ..Config::default()
    })
    .await;
    let dir = common::scratch("ingest-metrics");
    let journal = dir.join("stdin.journal");
    let metrics = refused_port();
    let mut child = common::bin()
        .args([
            "ingest",
            "-",
            "--format",
            "ndjson",
            "--endpoint",
            "rebilly.create-usage",
        ])
        .arg("--server")
        .arg(sandbox.url())
        .arg("--journal")
        .arg(&journal)
        .args(["--metrics", &metrics.to_string()])
        .env("REBILLY_API_KEY", sandbox.dev_key("rebilly"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..N {
        writeln!(
            stdin,
            r#"{{"subscriptionId": "sub_unlimited", "quantity": {}}}"#,
            i + 1
        )
        .unwrap();
    }
    stdin.flush().unwrap();
    // Standard input stays open: the run cannot end, so a scrape once every record is done
    // holds the final counts.
    let url = format!("http://{metrics}/metrics");
    let page = tokio::time::timeout(Duration::from_secs(300), async {
        loop {
            if let Ok(r) = reqwest::get(&url).await {
                let page = r.text().await.unwrap();
                let done = sample(&page, "usage_connector_ingest_records_total", &[]);
                let in_flight = sample(&page, "usage_connector_ingest_in_flight", &[]);
                if done == N && in_flight == 0 {
                    return page;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("every record done");
    let requests = sandbox.requests().await;
    let log = requests.as_array().unwrap();
    let logged = |class: &dyn Fn(Option<u64>) -> bool| {
        log.iter().filter(|r| class(r["status"].as_u64())).count() as u64
    };
    let requests_of = |status: &str| {
        sample(
            &page,
            "usage_connector_requests_total",
            &[&format!("status=\"{status}\"")],
        )
    };
    // Every exchange the sandbox saw, by status class, and the ones it never answered.
    assert_eq!(
        requests_of("2xx"),
        logged(&|s| s.is_some_and(|s| (200..300).contains(&s)))
    );
    assert_eq!(requests_of("429"), logged(&|s| s == Some(429)), "{page}");
    assert_eq!(
        requests_of("5xx"),
        logged(&|s| s.is_some_and(|s| s >= 500)),
        "{page}"
    );
    assert_eq!(requests_of("none"), logged(&|s| s.is_none()), "{page}");
    assert!(
        requests_of("429") > 0 && requests_of("none") > 0,
        "the faults were on"
    );
    // The refusals by reason: the sandbox's 429s and 503s (its only 5xx), and the exchanges it
    // did not answer (a reset, or a write whose answer it dropped), all sent.
    let refusals = |reason: &str| {
        sample(
            &page,
            "usage_connector_refusals_total",
            &[&format!("reason=\"{reason}\"")],
        )
    };
    assert_eq!(refusals("429"), logged(&|s| s == Some(429)));
    assert_eq!(refusals("503"), logged(&|s| s == Some(503)));
    assert_eq!(
        refusals("lost") + refusals("connect"),
        logged(&|s| s.is_none())
    );
    let outcome =
        |metric: &str, outcome: &str| sample(&page, metric, &[&format!("outcome=\"{outcome}\"")]);
    let created = outcome("usage_connector_ingest_records_total", "created");
    let recovered = outcome("usage_connector_ingest_records_total", "recovered");
    // Each record is one call; a created one ended on its one accepted send, a recovered one
    // on a lookup that found it.
    assert_eq!(outcome("usage_connector_calls_total", "created"), created);
    assert_eq!(
        outcome("usage_connector_calls_total", "recovered"),
        recovered
    );
    assert_eq!(
        sample(
            &page,
            "usage_connector_requests_total",
            &["kind=\"send\"", "status=\"2xx\""]
        ),
        created
    );
    assert_eq!(
        sample(&page, "usage_connector_unknown_outcomes_total", &[]),
        0
    );
    // Every try after a record's first waited first: the sends and lookups beyond one per
    // record are its retries, but for lookups that found the write absent (the send follows
    // at once, no wait) — at most as many as the records whose answer was lost.
    let exchanges = sample(&page, "usage_connector_requests_total", &[]);
    let retries = sample(&page, "usage_connector_retries_total", &[]);
    let absent_lookups = exchanges - N - retries;
    assert!(
        absent_lookups <= refusals("lost"),
        "{exchanges} exchanges, {retries} retries: {page}"
    );
    assert_eq!(sandbox.stats().await["usages"], N);
    // The report: standard input closes, the run ends, its summary says the same.
    drop(stdin);
    let out = tokio::task::block_in_place(|| child.wait_with_output().unwrap());
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "ingest: {N} records: {created} created, 0 duplicate, {recovered} recovered, 0 partial"
        )),
        "{created} created and {recovered} recovered in the metrics: {stderr}"
    );
    assert_eq!(created + recovered, N);
}
