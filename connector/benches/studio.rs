//! The studio's speed, as its page feels it (the release binary, over loopback):
//! - `open`: from starting `usage-connector studio` to the page and the calls it makes first
//!   (`/`, `/studio.js`, `/api/catalog`, `/api/files`) answered (target: within 1 s);
//! - `diagnostics`: one round trip of `POST /api/validate` for a 50-task definition with a
//!   typo in its last body, as the editor sends it after a keystroke (target: under 50 ms).
//!
//! Reported as the median and the range of interleaved rounds. Run:
//! `cargo bench -p usage-connector --bench studio`.

#![allow(clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_usage-connector");
const ROUNDS: usize = 9;
const CALLS: usize = 50;

/// A chain of `n` Rebilly usage tasks, the last with a misspelt body field.
fn definition(n: usize) -> String {
    let mut tasks = serde_json::Map::new();
    for i in 0..n {
        let field = if i + 1 == n { "quantiti" } else { "quantity" };
        let mut task = json!({
            "type": "Http", "credentials": "rebilly",
            "httpRequest": {"url": "https://api-sandbox.rebilly.com/usages", "method": "POST",
                "body": {"subscriptionId": "${$$.Execution.Input.subscriptionId}",
                         field: "${$$.Execution.Input.quantity}"}},
            "resultPath": format!("$.usage{i}"),
        });
        if i + 1 == n {
            task["end"] = json!(true);
        } else {
            task["nextTask"] = json!(format!("Usage {}", i + 1));
        }
        tasks.insert(format!("Usage {i}"), task);
    }
    serde_json::to_string_pretty(&json!({"name": "Fifty", "startTask": "Usage 0", "tasks": tasks}))
        .unwrap()
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    usage_test_support::install_crypto_provider();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = std::env::temp_dir().join(format!("studio-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("fifty.json"), definition(50)).unwrap();
    let text = definition(CALLS);
    let client = reqwest::Client::new();
    let (mut opens, mut trips) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let mut child = Command::new(BIN)
            .arg("studio")
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().trim_start_matches("listening on ").to_owned();
        let base = url.split("/?").next().unwrap().to_owned();
        let token = url.split("token=").nth(1).unwrap().to_owned();
        runtime.block_on(async {
            let get = |path: String| {
                client
                    .get(format!("{base}{path}"))
                    .header("x-studio-token", &token)
                    .send()
            };
            for path in ["/", "/studio.js", "/api/catalog", "/api/files"] {
                let answer = get(path.to_owned()).await.unwrap();
                assert!(answer.status().is_success(), "{path}");
                answer.bytes().await.unwrap();
            }
            opens.push(started.elapsed().as_secs_f64() * 1e3);
            // The editor's calls: a few warm-ups, then the measured ones.
            let mut round = Vec::new();
            for i in 0..12 {
                let t = Instant::now();
                let answer: Value = client
                    .post(format!("{base}/api/validate"))
                    .header("x-studio-token", &token)
                    .json(&json!({"text": text}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let ms = t.elapsed().as_secs_f64() * 1e3;
                assert_eq!(answer["valid"], false, "the typo is found");
                if i >= 2 {
                    round.push(ms);
                }
            }
            trips.push(median(round).0);
        });
        let _ = child.kill();
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (o, o_min, o_max) = median(opens);
    let (d, d_min, d_max) = median(trips);
    eprintln!(
        "studio open (start to page and first calls answered), {ROUNDS} rounds: median {o:.0} ms ({o_min:.0}..{o_max:.0}) [target <= 1000 ms]"
    );
    eprintln!(
        "studio diagnostics round trip, {CALLS}-task definition, {ROUNDS} rounds (median of 10 calls each): median {d:.1} ms ({d_min:.1}..{d_max:.1}) [target < 50 ms]"
    );
}
