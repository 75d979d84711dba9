//! `ingest --task` and the template language: each record is one execution, numbered by its
//! line; JSONata is evaluated per record; a gzipped CSV keeps quantities exact; a record begun
//! under other options is not called invalid, and one that now prepares to another request is
//! not sent.

use serde_json::json;

use crate::common::{self, Sandbox, text};

/// `ingest --task` reads the whole template language: each record is one execution numbered
/// by its line (`swf:sequenceNumber`, the same on a re-run), and JSONata sums its lines and
/// counts them inside text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_template_numbers_records_by_line_and_evaluates_jsonata() {
    let sandbox = Sandbox::start().await;
    let dir = common::scratch("ingest-numbered");
    let definition = dir.join("charges.json");
    std::fs::write(
        &definition,
        json!({"name": "Numbered charges", "startTask": "Charge", "tasks": {"Charge": {
            "type": "Http", "credentials": "solvimon", "end": true,
            "httpRequest": {"url": "https://test.api.solvimon.com/v1/ingest/charge-data",
                "method": "POST", "body": {
                    "product_item_id": "pit_usage", "pricing_id": "prc_1",
                    "pricing_item_id": "prci_1", "pricing_item_config_id": "pric_1",
                    "customer_reference": "${$.customer}",
                    "reference": "chg-line-${swf:sequenceNumber}",
                    "value": {"number": "jsonata:$string($sum(lines))"},
                    "description": "${jsonata:$count(lines)} lines"}}}}})
        .to_string(),
    )
    .unwrap();
    let file = dir.join("orders.ndjson");
    let record = |n: u32| json!({"customer": "cust-42", "lines": [n, 0.5]}).to_string();
    std::fs::write(
        &file,
        format!("{}\n{}\n{}\n", record(1), record(2), record(3)),
    )
    .unwrap();
    let run = || {
        let mut command = common::bin();
        command
            .arg("ingest")
            .arg(&file)
            .arg("--task")
            .arg(format!("{}#Charge", definition.display()))
            .arg("--server")
            .arg(sandbox.url())
            .env("SOLVIMON_API_KEY", sandbox.dev_key("solvimon"));
        tokio::task::block_in_place(|| command.output().unwrap())
    };
    let out = run();
    assert!(out.status.success(), "{}", text(&out.stderr));
    for line in 1..=3u32 {
        let charge = sandbox
            .solvimon_record("charge-data", &format!("chg-line-{line}"))
            .await
            .unwrap_or_else(|| panic!("no charge numbered {line}"));
        assert_eq!(charge["value"]["number"], format!("{}.5", line), "{charge}");
        assert_eq!(charge["description"], "2 lines", "{charge}");
    }
    let again = run();
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(
        sandbox
            .solvimon_records("charge-data", &[])
            .await
            .data
            .len(),
        3,
        "the same numbers on a re-run: nothing sent twice"
    );
}

/// The one line of the ingest report at `report` is a `failed` record, `REQUEST_CHANGED`,
/// whose message says `why`.
fn assert_request_changed(report: &std::path::Path, why: &str) {
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(report).unwrap().trim()).unwrap();
    assert_eq!(line["outcome"], "failed", "{line}");
    assert_eq!(line["error"]["code"], "REQUEST_CHANGED", "{line}");
    let message = line["error"]["message"].as_str().unwrap();
    assert!(message.contains(why), "{line}");
}

/// A record an earlier run began (its request may have left) that no longer prepares, because
/// the run's options changed (here `--rounding half-even` dropped), is `failed` with
/// `REQUEST_CHANGED`, not `invalid`: its line is not what is wrong, and editing it would be
/// refused as a changed input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_begun_record_that_no_longer_prepares_is_failed_not_invalid() {
    let dir = common::scratch("ingest-begun-changed");
    let file = dir.join("usage.ndjson");
    std::fs::write(
        &file,
        "{\"subscriptionId\": \"sub_unlimited\", \"quantity\": 1.2345}\n",
    )
    .unwrap();
    let ingest = |server: &str, extra: &[&str]| {
        let mut command = common::bin();
        command
            .arg("ingest")
            .arg(&file)
            .args(["--endpoint", "rebilly.create-usage", "--server", server])
            .args(extra)
            .env("REBILLY_API_KEY", "sk_sandbox_rebilly")
            .stdin(std::process::Stdio::null());
        command
    };
    // Nothing listens: the record is begun (rounded), and fails.
    let nowhere = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let first = tokio::task::block_in_place(|| {
        ingest(&nowhere, &["--rounding", "half-even", "--retries", "1"])
            .output()
            .unwrap()
    });
    let stderr = text(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("1 failed"), "{stderr}");
    // Again, without the rounding it began with.
    let sandbox = Sandbox::start().await;
    let report = dir.join("report.ndjson");
    let second = tokio::task::block_in_place(|| {
        ingest(&sandbox.url(), &["--report", report.to_str().unwrap()])
            .output()
            .unwrap()
    });
    let stderr = text(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert_request_changed(&report, "an earlier run began this record");
    assert!(!stderr.contains("fix those lines"), "{stderr}");
    assert_eq!(sandbox.stats().await["usages"], 0);
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

/// A record whose request may have left, then prepared again to another request (here the CSV
/// header's columns were swapped, so its quantity changed), is `failed` with `REQUEST_CHANGED`
/// and nothing is sent: under a new identity a lookup would not find the earlier usage and the
/// subscription would be charged twice. With the header it began with, the earlier usage is
/// found (`recovered`), and there is still one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_begun_record_prepared_to_another_request_is_not_sent() {
    let dir = common::scratch("ingest-begun-header");
    let state = dir.join("sandbox.state");
    let definition = dir.join("usage.json");
    std::fs::write(
        &definition,
        json!({"name": "Usage", "startTask": "Report", "tasks": {"Report": {
            "type": "Http", "credentials": "rebilly", "end": true,
            "httpRequest": {"url": "https://api-sandbox.rebilly.com/usages", "method": "POST",
                "body": {"subscriptionId": "${$.subscription}", "quantity": "${$.billed}",
                    "usageTime": "2025-05-01T12:00:00Z"}}}}})
        .to_string(),
    )
    .unwrap();
    let file = dir.join("usage.csv");
    let write = |header: &str| std::fs::write(&file, format!("{header}\nsub_unlimited,2,5\n"));
    write("subscription,used,billed").unwrap();
    let ingest = |sandbox: &Sandbox, report: &std::path::Path| {
        let mut command = common::bin();
        command
            .arg("ingest")
            .arg(&file)
            .arg("--task")
            .arg(format!("{}#Report", definition.display()))
            .args(["--server", &sandbox.url(), "--retries", "1", "--report"])
            .arg(report)
            .env("REBILLY_API_KEY", sandbox.dev_key("rebilly"))
            .stdin(std::process::Stdio::null());
        tokio::task::block_in_place(|| command.output().unwrap())
    };
    let report = |name: &str| dir.join(name);
    let read = |path: std::path::PathBuf| -> serde_json::Value {
        serde_json::from_str(std::fs::read_to_string(path).unwrap().trim()).unwrap()
    };
    // The usage is written; its answer is lost and the one try is spent: begun, not done.
    let lossy = Sandbox::with(usage_sandbox::Config {
        state: Some(state.clone()),
        faults: usage_sandbox::FaultSpec::parse("lost-response=1").unwrap(),
        ..usage_sandbox::Config::default()
    })
    .await;
    let addr = lossy.running().addr();
    let first = ingest(&lossy, &report("first.ndjson"));
    assert_eq!(first.status.code(), Some(1), "{}", text(&first.stderr));
    assert_eq!(
        read(report("first.ndjson"))["error"]["code"],
        "OUTCOME_UNKNOWN"
    );
    lossy.shutdown().await;
    // The same server, healthy; the columns were labelled the wrong way round.
    let healthy = Sandbox::with(usage_sandbox::Config {
        addr,
        state: Some(state),
        ..usage_sandbox::Config::default()
    })
    .await;
    assert_eq!(
        healthy.usages(&[]).await.total,
        1,
        "the first send was written"
    );
    write("subscription,billed,used").unwrap();
    let second = ingest(&healthy, &report("second.ndjson"));
    assert_eq!(second.status.code(), Some(1), "{}", text(&second.stderr));
    assert_request_changed(
        &report("second.ndjson"),
        "it now prepares to another request",
    );
    assert_eq!(healthy.usages(&[]).await.total, 1, "nothing sent twice");
    // With the header it began with, the earlier usage is found.
    write("subscription,used,billed").unwrap();
    let third = ingest(&healthy, &report("third.ndjson"));
    assert!(third.status.success(), "{}", text(&third.stderr));
    assert_eq!(read(report("third.ndjson"))["outcome"], "recovered");
    let usages = healthy.usages(&[]).await;
    assert_eq!(usages.total, 1, "{:?}", usages.items);
    assert_eq!(usages.items[0]["quantity"], 5);
}

/// A record the API refused got a final answer and nothing was recorded: its `begin` no longer
/// binds it, so its line may be fixed in place and the next run sends it (with the rest
/// skipped), where a record whose request may have left stays bound (above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_api_refused_is_sent_once_its_line_is_fixed() {
    let sandbox = Sandbox::start().await;
    let dir = common::scratch("ingest-refused-fixed");
    let file = dir.join("usages.ndjson");
    let line =
        |sub: &str, q: &str| format!("{{\"subscriptionId\": \"{sub}\", \"quantity\": {q}}}\n");
    let content = |second: &str| {
        let first = line("sub_unlimited", "1");
        format!("{first}{}{}", line(second, "2"), line("sub_unlimited", "3"))
    };
    std::fs::write(&file, content("sub_nope")).unwrap();
    let ingest = || {
        let mut command = common::rebilly_ingest(&sandbox, &file, &[]);
        tokio::task::block_in_place(|| command.output().unwrap())
    };
    let first = ingest();
    let stderr = text(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("line 2: failed") && stderr.contains("HTTP_ERROR"),
        "{stderr}"
    );
    assert_eq!(sandbox.usages(&[]).await.total, 2);
    std::fs::write(&file, content("sub_unlimited")).unwrap();
    let second = ingest();
    let stderr = text(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    assert!(
        stderr.contains("1 created") && stderr.contains("2 done before"),
        "{stderr}"
    );
    assert_eq!(sandbox.usages(&[]).await.total, 3);
}
