//! Bulk ingest, measured against baselines taken in the same run (the machine is shared: rounds
//! interleave, medians and spreads are reported). Five parts, each selectable by name
//! (`cargo bench -p usage-connector --bench ingest -- unlimited faults limited shared memory`;
//! none = all):
//!
//! - `unlimited`: `usage-connector ingest` (the release binary: read, prepare, journal with
//!   fsync, send, report) against an in-process sandbox, records/s over a bare reqwest loop
//!   posting the same record bodies at the same concurrency (target ≥ 0.8×); also the
//!   adaptive default over the same bare loop;
//! - `faults`: the sandbox drawing refusals at random (whatever the rate), five mixes; the
//!   adaptive default's median records/s over the best median of `--concurrency 4 / 16 / 64`
//!   in the same interleaved rounds (target ≥ 0.8×), by wall time (where the last records'
//!   retry chains weigh most) and until 95 % of the records were recorded (the pace held);
//!   `INGEST_BENCH_MIXES=0,3 INGEST_BENCH_ROUNDS=9` looks longer at chosen mixes;
//! - `limited`: the sandbox at `--rate-limit 300/s`, without faults and with `503=0.05`;
//!   achieved records/s over the limit (target ≥ 90 %), failed records (target 0), refusals;
//! - `shared`: two ingests at once under one `--rate-limit 300/s`: together ≥ 90 %, each
//!   ≥ 35 % of the limit;
//! - `memory`: 1,000,000 records through the binary; its resident memory when 10 %, 50 % and
//!   100 % of them are recorded, and its peak (target < 100 MB, flat).

#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use usage_sandbox::{Config, Running};

const BIN: &str = env!("CARGO_BIN_EXE_usage-connector");
const KEY: &str = "sk_sandbox_rebilly";
const ROUNDS: usize = 7;
const RECORDS: usize = 20_000;
const LIMIT: u32 = 300;
const LIMITED_RECORDS: usize = 6_000;
const MILLION: usize = 1_000_000;

fn write_usages(path: &Path, n: usize) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("input"));
    for i in 0..n {
        writeln!(
            out,
            r#"{{"subscriptionId": "sub_unlimited", "quantity": {}.{:03}}}"#,
            1 + i / 1000,
            i % 1000
        )
        .expect("write");
    }
    out.flush().expect("flush");
}

/// The binary's ingest of `file` against `url`; returns (records/s by wall time, exit status).
fn ingest(file: &Path, url: &str, extra: &[&str]) -> (f64, bool, String) {
    let journal = file.with_extension("journal");
    let _ = std::fs::remove_file(&journal);
    let started = Instant::now();
    let out = Command::new(BIN)
        .arg("ingest")
        .arg(file)
        .args(["--endpoint", "rebilly.create-usage", "--server", url])
        .arg("--journal")
        .arg(&journal)
        .args(extra)
        .env("REBILLY_API_KEY", KEY)
        .stdin(Stdio::null())
        .output()
        .expect("ingest runs");
    let secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stderr
        .lines()
        .rfind(|l| l.starts_with("ingest: "))
        .unwrap_or_default()
        .to_owned();
    let records: f64 = summary
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    (records / secs, out.status.success(), summary)
}

/// A bare reqwest loop: `concurrency` workers posting the file's lines as bodies.
async fn bare(lines: Arc<Vec<String>>, url: &str, concurrency: usize) -> f64 {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let url = format!("{url}/usages");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, next, lines) = (client.clone(), url.clone(), next.clone(), lines.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(line) = lines.get(i) else { return };
                let r = client
                    .post(&url)
                    .header("REB-APIKEY", KEY)
                    .header("content-type", "application/json")
                    .body(line.clone())
                    .send()
                    .await
                    .expect("bare post");
                assert_eq!(r.status().as_u16(), 201, "bare post accepted");
                r.bytes().await.expect("body");
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    lines.len() as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

async fn sandbox(rate_limit: Option<u32>) -> Running {
    faulty(rate_limit, "").await
}

async fn faulty(rate_limit: Option<u32>, faults: &str) -> Running {
    usage_sandbox::start(Config {
        rate_limit,
        faults: usage_sandbox::FaultSpec::parse(faults).expect("a fault spec"),
        ..Config::default()
    })
    .await
    .expect("sandbox")
}

/// The failed count of a summary line (`…, 0 invalid, 0 failed in 19.2 s (312 records/s)`).
fn failed_of(summary: &str) -> u64 {
    summary
        .split(", ")
        .find(|p| p.contains(" failed"))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

/// The fault mixes of the `faults` part: (spec, records).
const MIXES: &[(&str, usize)] = &[
    ("503=0.2,429=0.1,reset=0.05,lost-response=0.1", 600),
    ("429=0.1", 600),
    ("429=0.1,lost-response=0.1", 600),
    ("503=0.2,reset=0.05,lost-response=0.1", 600),
    ("503=0.05,429=0.02,lost-response=0.02", 2_000),
];
const FAULT_ROUNDS: usize = 5;

/// The mixes to run (`INGEST_BENCH_MIXES=0,3`: the first and the fourth; default all) and the
/// rounds (`INGEST_BENCH_ROUNDS`, default [`FAULT_ROUNDS`]): a longer look at chosen mixes.
fn chosen_mixes() -> (Vec<(&'static str, usize)>, usize) {
    let mixes = match std::env::var("INGEST_BENCH_MIXES") {
        Ok(list) => list
            .split(',')
            .filter_map(|i| MIXES.get(i.trim().parse::<usize>().ok()?).copied())
            .collect(),
        Err(_) => MIXES.to_vec(),
    };
    let rounds = std::env::var("INGEST_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(FAULT_ROUNDS);
    (mixes, rounds)
}

/// One faulted run: records/s by wall time (the last records' retry chains, the tail, weigh
/// most), records/s until 95 % of them were recorded (the pace the governor held), and the
/// summary line.
async fn watched(file: &Path, url: &str, records: usize, extra: &[&str]) -> (f64, f64, String) {
    let stats = format!("{url}/_sandbox/stats");
    let usages = || async {
        let v: serde_json::Value = reqwest::get(&stats).await.ok()?.json().await.ok()?;
        v["usages"].as_u64()
    };
    let before = usages().await.expect("stats");
    let target = before + (records as u64 * 95).div_ceil(100);
    let (file, url, extra) = (
        file.to_owned(),
        url.to_owned(),
        extra.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(),
    );
    let started = Instant::now();
    let run = tokio::task::spawn_blocking(move || {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        ingest(&file, &url, &extra)
    });
    let mut at_95 = None;
    while !run.is_finished() {
        if at_95.is_none() && usages().await.is_some_and(|n| n >= target) {
            at_95 = Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (rate, _, summary) = run.await.expect("the ingest ran");
    let at_95 = at_95.unwrap_or_else(|| started.elapsed());
    (rate, (records as f64 * 0.95) / at_95.as_secs_f64(), summary)
}

async fn faults(dir: &Path) {
    let configs: [(&str, &[&str]); 4] = [
        ("adaptive", &[]),
        ("--concurrency 4", &["--concurrency", "4"]),
        ("--concurrency 16", &["--concurrency", "16"]),
        ("--concurrency 64", &["--concurrency", "64"]),
    ];
    let (mut ratios, mut ratios_95) = (vec![], vec![]);
    let (mixes, rounds) = chosen_mixes();
    for (spec, records) in &mixes {
        let running = faulty(None, spec).await;
        let url = running.url();
        let file = dir.join(format!("faults-{records}.ndjson"));
        write_usages(&file, *records);
        let mut rates = vec![vec![]; configs.len()];
        let mut rates_95 = vec![vec![]; configs.len()];
        let mut failed = 0;
        for round in 0..rounds {
            for k in 0..configs.len() {
                let which = (round + k) % configs.len();
                let (rate, rate_95, summary) =
                    watched(&file, &url, *records, configs[which].1).await;
                failed += failed_of(&summary);
                rates[which].push(rate);
                rates_95[which].push(rate_95);
            }
        }
        println!(
            "faults `{spec}`, {records} records, {rounds} interleaved rounds: median (min..max) records/s, all / until 95 % recorded"
        );
        let mut medians = vec![];
        for (i, (name, _)) in configs.iter().enumerate() {
            let (m, l, h) = median(rates[i].clone());
            let (m9, l9, h9) = median(rates_95[i].clone());
            println!("  {name:<17} {m:>7.1} ({l:.1}..{h:.1})   {m9:>7.1} ({l9:.1}..{h9:.1})");
            medians.push((m, m9));
        }
        let best = medians[1..].iter().map(|m| m.0).fold(0.0, f64::max);
        let best_95 = medians[1..].iter().map(|m| m.1).fold(0.0, f64::max);
        let (ratio, ratio_95) = (medians[0].0 / best, medians[0].1 / best_95);
        println!(
            "  RATIO adaptive/best fixed `{spec}`: {ratio:.2}x all, {ratio_95:.2}x until 95 % [target >= 0.8x]; {failed} failed in all runs"
        );
        ratios.push(ratio);
        ratios_95.push(ratio_95);
        running.shutdown().await;
    }
    let (m, l, h) = median(ratios);
    let (m9, l9, h9) = median(ratios_95);
    println!(
        "RATIO faults over the mixes: all {m:.2}x ({l:.2}..{h:.2}); until 95 % {m9:.2}x ({l9:.2}..{h9:.2})"
    );
}

/// Two ingests at once under one limit: each one's records/s and both together.
async fn shared(dir: &Path) {
    const EACH: usize = 3_000;
    let (a, b) = (dir.join("shared-a.ndjson"), dir.join("shared-b.ndjson"));
    write_usages(&a, EACH);
    write_usages(&b, EACH);
    let mut together = vec![];
    for round in 0..3 {
        let running = sandbox(Some(LIMIT)).await;
        let url = running.url();
        let started = Instant::now();
        let (ra, rb) = tokio::task::block_in_place(|| {
            std::thread::scope(|s| {
                let ha = s.spawn(|| ingest(&a, &url, &[]));
                let hb = s.spawn(|| ingest(&b, &url, &[]));
                (ha.join().expect("a"), hb.join().expect("b"))
            })
        });
        let all = (2 * EACH) as f64 / started.elapsed().as_secs_f64();
        let limit = f64::from(LIMIT);
        println!(
            "shared round {round}: together {all:.0} records/s = {:.1} %; first {:.0}/s = {:.1} %, second {:.0}/s = {:.1} %; failed {} + {}",
            100.0 * all / limit,
            ra.0,
            100.0 * ra.0 / limit,
            rb.0,
            100.0 * rb.0 / limit,
            failed_of(&ra.2),
            failed_of(&rb.2)
        );
        together.push(all / limit);
        running.shutdown().await;
    }
    let (m, l, h) = median(together);
    println!(
        "RATIO shared together/limit = {:.1} % ({:.1}..{:.1}) [target >= 90 %, each >= 35 %]",
        m * 100.0,
        l * 100.0,
        h * 100.0
    );
}

async fn unlimited(dir: &Path) {
    let running = sandbox(None).await;
    let url = running.url();
    let file = dir.join("unlimited.ndjson");
    write_usages(&file, RECORDS);
    let lines = Arc::new(
        std::fs::read_to_string(&file)
            .expect("read")
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>(),
    );
    for concurrency in [16usize, 64] {
        let c = concurrency.to_string();
        let fixed = ["--concurrency", c.as_str()];
        // Warm up both, then rounds that rotate which goes first.
        bare(lines.clone(), &url, concurrency).await;
        tokio::task::block_in_place(|| ingest(&file, &url, &fixed));
        let (mut b, mut f, mut a, mut fixed_ratio, mut adaptive_ratio) =
            (vec![], vec![], vec![], vec![], vec![]);
        for round in 0..ROUNDS {
            let mut rate = [0.0; 3];
            for k in 0..3 {
                let which = (round + k) % 3;
                rate[which] = match which {
                    0 => bare(lines.clone(), &url, concurrency).await,
                    1 => tokio::task::block_in_place(|| ingest(&file, &url, &fixed)).0,
                    _ => tokio::task::block_in_place(|| ingest(&file, &url, &[])).0,
                };
            }
            b.push(rate[0]);
            f.push(rate[1]);
            a.push(rate[2]);
            fixed_ratio.push(rate[1] / rate[0]);
            adaptive_ratio.push(rate[2] / rate[0]);
        }
        let (bm, bl, bh) = median(b);
        let (fm, fl, fh) = median(f);
        let (am, al, ah) = median(a);
        let (rm, rl, rh) = median(fixed_ratio);
        let (arm, arl, arh) = median(adaptive_ratio);
        println!(
            "unlimited, {RECORDS} records, {ROUNDS} rounds, concurrency {concurrency}: median (min..max) records/s"
        );
        println!("  bare reqwest loop        {bm:>7.0} ({bl:.0}..{bh:.0})");
        println!("  ingest --concurrency {concurrency:<3} {fm:>7.0} ({fl:.0}..{fh:.0})");
        println!("  ingest (adaptive)        {am:>7.0} ({al:.0}..{ah:.0})");
        println!(
            "  RATIO ingest/bare at {concurrency}: {rm:.2}x ({rl:.2}..{rh:.2}); adaptive/bare at {concurrency}: {arm:.2}x ({arl:.2}..{arh:.2}) [target >= 0.8x]"
        );
    }
    running.shutdown().await;
}

async fn limited(dir: &Path) {
    let file = dir.join("limited.ndjson");
    write_usages(&file, LIMITED_RECORDS);
    for faults in ["", "503=0.05"] {
        let mut shares = vec![];
        for round in 0..3 {
            // A fresh sandbox per round: every round starts with a full bucket.
            let running = faulty(Some(LIMIT), faults).await;
            let (rate, ok, summary) =
                tokio::task::block_in_place(|| ingest(&file, &running.url(), &[]));
            let stats: serde_json::Value =
                reqwest::get(format!("{}/_sandbox/stats", running.url()))
                    .await
                    .expect("stats")
                    .json()
                    .await
                    .expect("stats json");
            println!(
                "limited `{faults}` round {round}: {rate:.0} records/s = {:.1} % of {LIMIT}/s; exit ok {ok}; {} failed; {} refusals; usages {}",
                100.0 * rate / f64::from(LIMIT),
                failed_of(&summary),
                stats["rateLimited"],
                stats["usages"]
            );
            shares.push(rate / f64::from(LIMIT));
            running.shutdown().await;
        }
        let (m, l, h) = median(shares);
        println!(
            "RATIO limited `{faults}` achieved/limit = {:.1} % ({:.1}..{:.1}) [target >= 90 %], {LIMITED_RECORDS} records from a full bucket of {LIMIT}",
            m * 100.0,
            l * 100.0,
            h * 100.0
        );
    }
}

/// `VmRSS` and `VmHWM` of `pid`, in MiB.
fn memory(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace()
            .nth(1)?
            .parse::<f64>()
            .ok()
            .map(|k| k / 1024.0)
    };
    Some((kib("VmRSS:")?, kib("VmHWM:")?))
}

async fn memory_part(dir: &Path) {
    let running = sandbox(None).await;
    let file = dir.join("million.ndjson");
    write_usages(&file, MILLION);
    let journal = file.with_extension("journal");
    let _ = std::fs::remove_file(&journal);
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .arg("ingest")
        .arg(&file)
        .args([
            "--endpoint",
            "rebilly.create-usage",
            "--server",
            &running.url(),
        ])
        .arg("--journal")
        .arg(&journal)
        .env("REBILLY_API_KEY", KEY)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ingest runs");
    let stats = format!("{}/_sandbox/stats", running.url());
    let mut marks = vec![(10usize, None), (50, None), (100, None)];
    let (mut last, mut peak, mut last_done) = ((0.0, 0.0), 0.0f64, 0usize);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "the million-record ingest succeeded");
            break;
        }
        if let Some(m) = memory(child.id()) {
            last = m;
            peak = peak.max(m.1);
        }
        let stats: serde_json::Value = reqwest::get(&stats)
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        let done = stats["usages"].as_u64().unwrap_or(0) as usize;
        last_done = done;
        for (pct, at) in &mut marks {
            if at.is_none() && done * 100 >= *pct * MILLION {
                *at = Some((done, last.0, started.elapsed().as_secs_f64()));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "memory: {MILLION} records in {secs:.0} s ({:.0} records/s)",
        MILLION as f64 / secs
    );
    for (pct, at) in marks {
        match at {
            Some((done, rss, t)) => {
                println!("  at {pct:>3} % ({done} recorded, {t:.0} s): RSS {rss:.1} MiB")
            }
            None => println!(
                "  at {pct:>3} %: exited first; the last sample ({last_done} recorded): RSS {:.1} MiB",
                last.0
            ),
        }
    }
    println!(
        "RATIO memory: peak RSS (VmHWM) {peak:.1} MiB [target < 100 MB]; last sample {:.1} MiB",
        last.0
    );
    running.shutdown().await;
}

fn main() {
    usage_test_support::install_crypto_provider();
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |name: &str| parts.is_empty() || parts.iter().any(|p| p == name);
    let dir: PathBuf = std::env::temp_dir().join(format!("ingest-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        if wants("unlimited") {
            unlimited(&dir).await;
        }
        if wants("faults") {
            faults(&dir).await;
        }
        if wants("limited") {
            limited(&dir).await;
        }
        if wants("shared") {
            shared(&dir).await;
        }
        if wants("memory") {
            memory_part(&dir).await;
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}
