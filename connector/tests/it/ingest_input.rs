//! What `ingest` takes from its input (the real binary against a sandbox over loopback): a
//! line that changed under the journal stops it before anything is sent (it was found after
//! the new records went out), and a record that holds a key twice is `invalid`, never sent with
//! the last value (a CSV header that names a column twice stops the run before it starts).

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
        stderr.contains("the CSV header row names `quantity` twice (columns 2 and 3)"),
        "{stderr}"
    );
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
    assert_eq!(sandbox.stats().await["usages"], 1, "{stderr}");
}
