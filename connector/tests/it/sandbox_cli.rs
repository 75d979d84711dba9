//! `usage-connector sandbox` as a process: its banner, bad options, and the `--state` journal
//! surviving `kill -9` with every acknowledged write.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::common;

use common::Proc;

fn spawn(args: &[&str]) -> (Proc, String, Vec<String>) {
    let mut child = common::bin()
        .arg("sandbox")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("sandbox starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("listening on ")
        .expect("banner")
        .to_owned();
    let keys = (0..4).map(|_| lines.next().unwrap().unwrap()).collect();
    (Proc(child), url, keys)
}

#[test]
fn banner_lists_the_address_and_dev_keys() {
    let (child, url, keys) = spawn(&[]);
    drop(child);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(
        keys.iter()
            .all(|k| k.starts_with("api key sk_sandbox_") && k.contains(" permissions ")),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.ends_with("permissions METER_DATA.INGEST,METER_DATA.VIEW")),
        "{keys:?}"
    );
}

#[test]
fn bad_options_are_usage_errors() {
    let run = |args: &[&str]| common::bin().arg("sandbox").args(args).output().unwrap();
    let out = run(&["--faults", "500=0.1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown fault `500`"));
    let out = run(&["--fixture", "/no/such/fixture.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading fixture"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9() {
    let state = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sandbox-kill9.journal");
    let _ = std::fs::remove_file(&state);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (mut child, url, _) = spawn(&["--state", state.to_str().unwrap()]);
    let http = reqwest::Client::new();
    let acked: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..16 {
        let (http, url, acked) = (http.clone(), url.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..10_000 {
                let (path, key_header, key, body) = if i % 2 == 0 {
                    ("/usages".to_owned(), "REB-APIKEY", "sk_sandbox_rebilly",
                     json!({"subscriptionId": "sub_unlimited", "quantity": 1.5, "usageTime": "2025-05-01T12:00:00Z"}))
                } else {
                    ("/v1/ingest/persist-data".to_owned(), "X-API-KEY", "sk_sandbox_solvimon",
                     json!({"customer_id": null, "pricing_id": "p", "pricing_item_id": "pi", "pricing_item_config_id": "pc",
                            "pricing_plan_subscription_id": null, "reference": format!("w{w}_{i}")}))
                };
                let Ok(resp) = http.post(format!("{url}{path}")).header(key_header, key).json(&body).send().await else { return };
                if resp.status().as_u16() != 201 {
                    return;
                }
                let Ok(record) = resp.json::<Value>().await else { return };
                let read = if i % 2 == 0 { format!("/usages/{}", record["id"].as_str().unwrap()) } else { format!("/v1/ingest/persist-data/{}", record["id"].as_str().unwrap()) };
                acked.lock().unwrap().push((read, record));
            }
        }));
    }
    // Let writes flow, then kill -9 with requests in flight.
    while acked.lock().unwrap().len() < 300 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 300);

    let (child, url, _) = spawn(&["--state", state.to_str().unwrap()]);
    let mut missing = Vec::new();
    for (read, record) in &acked {
        let key = if read.starts_with("/usages") {
            ("REB-APIKEY", "sk_sandbox_rebilly")
        } else {
            ("X-API-KEY", "sk_sandbox_solvimon")
        };
        let resp = http
            .get(format!("{url}{read}"))
            .header(key.0, key.1)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        if status != 200 || body != *record {
            missing.push(read.clone());
        }
    }
    let stats: Value = http
        .get(format!("{url}/_sandbox/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    drop(child);
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    let stored = stats["usages"].as_u64().unwrap() + stats["persist-data"].as_u64().unwrap();
    // Writes journaled but not acknowledged before the kill may also be there; none may be lost.
    assert!(
        stored >= acked.len() as u64,
        "{stored} stored < {} acknowledged",
        acked.len()
    );
}
