//! What `ingest` takes from its input (the real binary against a sandbox over loopback): a
//! line that changed under the journal stops it before anything is sent (it was found after
//! the new records went out); a record that holds a key twice is `invalid`, never sent with the
//! last value (a CSV header that names a column twice stops the run before it starts); a key or
//! `reference` the task writes out for every record is refused before anything is sent.

use std::path::Path;

use crate::common::{self, Sandbox, rebilly_ingest as ingest, text};
use crate::ingest::usages;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_input_under_its_journal_is_refused() {
    let sandbox = Sandbox::start().await;
    let dir = common::scratch("ingest-changed");
    let file = usages(&dir, 50);
    let first = tokio::task::block_in_place(|| ingest(&sandbox, &file, &[]).output().unwrap());
    assert!(first.status.success(), "{}", text(&first.stderr));
    // One line edited, and 30 new records after the 50 delivered: none of them is sent (a
    // run that found the change at line 11 sent the new ones first, and starting over with
    // another journal, as the error says, then sent them twice).
    let mut changed = std::fs::read_to_string(&file).unwrap();
    changed = changed.replacen("\"quantity\": 1.010", "\"quantity\": 9.010", 1);
    changed.push_str(&"{\"subscriptionId\": \"sub_unlimited\", \"quantity\": 7}\n".repeat(30));
    std::fs::write(&file, &changed).unwrap();
    let second = tokio::task::block_in_place(|| ingest(&sandbox, &file, &[]).output().unwrap());
    let stderr = text(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("input line 11 is not the line journal")
            && stderr.contains("nothing was sent"),
        "{stderr}"
    );
    assert_eq!(sandbox.stats().await["usages"], 50);
    // Read once, from standard input: the run stops where it reads the changed line, and
    // starts no record after it.
    let journal = file.with_extension("ndjson.journal");
    let piped = tokio::task::block_in_place(|| {
        let mut command = ingest(&sandbox, Path::new("-"), &["--format", "ndjson"]);
        command.arg("--journal").arg(&journal);
        command.stdin(std::fs::File::open(&file).unwrap());
        command.output().unwrap()
    });
    let stderr = text(&piped.stderr);
    assert_eq!(piped.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("input line 11 is not the line journal"),
        "{stderr}"
    );
    assert_eq!(sandbox.stats().await["usages"], 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_a_record_holds_twice_is_never_sent() {
    let sandbox = Sandbox::start().await;
    let dir = common::scratch("ingest-twice");
    let file = dir.join("twice.ndjson");
    std::fs::write(
        &file,
        concat!(
            "{\"subscriptionId\": \"sub_unlimited\", \"quantity\": 1, \"quantity\": 1000}\n",
            "{\"subscriptionId\": \"sub_unlimited\", \"quantity\": 2}\n"
        ),
    )
    .unwrap();
    let out = tokio::task::block_in_place(|| ingest(&sandbox, &file, &[]).output().unwrap());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("line 1: invalid")
            && stderr.contains("key `quantity` appears twice in one object")
            && stderr.contains("1 created"),
        "{stderr}"
    );
    assert_eq!(sandbox.stats().await["usages"], 1);
    // A CSV whose header names a column twice: every row would hold it twice.
    let csv = dir.join("twice.csv");
    std::fs::write(
        &csv,
        "subscriptionId,quantity,quantity\nsub_unlimited,1,1000\n",
    )
    .unwrap();
    let out = tokio::task::block_in_place(|| ingest(&sandbox, &csv, &[]).output().unwrap());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "error: reading the input: the CSV header row names `quantity` twice (columns 2 and 3); only one value can count\n"
        ),
        "said once: {stderr}"
    );
    // Empty header names (a spreadsheet's trailing columns) are no columns: not "twice".
    let trailing = dir.join("trailing.csv");
    std::fs::write(&trailing, "subscriptionId,quantity,,\nsub_unlimited,2,,\n").unwrap();
    let out = tokio::task::block_in_place(|| ingest(&sandbox, &trailing, &[]).output().unwrap());
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A JSON cell that holds a key twice.
    std::fs::write(
        &csv,
        "subscriptionId,quantity,meta\nsub_unlimited,1,\"{\"\"a\"\": 1, \"\"a\"\": 2}\"\n",
    )
    .unwrap();
    let out = tokio::task::block_in_place(|| ingest(&sandbox, &csv, &[]).output().unwrap());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("column `meta`: key `a` appears twice"),
        "{stderr}"
    );
    assert_eq!(sandbox.stats().await["usages"], 2, "{stderr}");
}

/// A task that writes out what its API deduplicates by sends it with every record: the API
/// took the first and refused the rest (a task-set `Idempotency-Key`), or would answer them as
/// duplicates (a Solvimon `reference`). Refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_task_sends_with_every_record_is_refused_before_anything_is_sent() {
    let sandbox = Sandbox::start().await;
    let dir = common::scratch("ingest-same-key");
    let file = dir.join("charges.ndjson");
    std::fs::write(&file, "{\"n\": \"1\"}\n{\"n\": \"2\"}\n{\"n\": \"3\"}\n").unwrap();
    let definition = dir.join("charges.json");
    let ingest = |headers: serde_json::Value, reference: &str| {
        let mut body = serde_json::json!({"product_item_id": "p", "pricing_id": "p",
            "pricing_item_id": "p", "pricing_item_config_id": "p", "value": {"number": "${$.n}"}});
        if !reference.is_empty() {
            body["reference"] = serde_json::json!(reference);
        }
        let task = serde_json::json!({"type": "Http", "credentials": "solvimon", "end": true,
            "httpRequest": {"url": "https://test.api.solvimon.com/v1/ingest/charge-data",
                "method": "POST", "headers": headers, "body": body}});
        let doc = serde_json::json!({"name": "Charges", "startTask": "Charge", "tasks": {"Charge": task}});
        std::fs::write(&definition, doc.to_string()).unwrap();
        let spec = format!("{}#Charge", definition.display());
        tokio::task::block_in_place(|| {
            common::bin()
                .arg("ingest")
                .arg(&file)
                .args(["--task", &spec, "--server", &sandbox.url()])
                .env("SOLVIMON_API_KEY", sandbox.dev_key("solvimon"))
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap()
        })
    };
    let empty = sandbox.stats().await;
    for (headers, reference, says) in [
        (
            serde_json::json!({"Idempotency-Key": "batch-2025-05"}),
            "",
            "task `Charge` sends Idempotency-Key `batch-2025-05` with every record",
        ),
        (
            serde_json::json!({}),
            "evt-0001",
            "task `Charge` sends reference `evt-0001` with every record",
        ),
    ] {
        let out = ingest(headers, reference);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(says) && stderr.contains("nothing was sent"),
            "{stderr}"
        );
    }
    assert_eq!(sandbox.stats().await, empty, "something was written");
    // Read from the record, each is its own: all three are recorded.
    let out = ingest(
        serde_json::json!({"Idempotency-Key": "k-${$.n}"}),
        "evt-${$.n}",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(sandbox.counts(&["charge-data"]).await, [3]);
}
