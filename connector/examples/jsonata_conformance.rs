//! Runs the JSONata project's own test suite (`test/test-suite` of jsonata-js) through this
//! connector's JSONata evaluation and prints a Markdown table of the pass rate per group.
//! `scripts/jsonata-conformance.sh` fetches the suite at a pinned commit and runs this.
//!
//! A case passes when the result equals `result` (numbers compared as doubles, as the suite's
//! JavaScript `deep.equal` does), is nothing where `undefinedResult` says so, or fails with the
//! expected `code`. Usage: `cargo run --release --example jsonata_conformance -- SUITE_DIR`.

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use usage_connector::template::jsonata::{self, Failure};

/// Groups this connector turns off on purpose, and why.
const SKIPPED: &[(&str, &str)] = &[
    (
        "function-now",
        "`$now()` fails on purpose: a value that differs on every run would change the request",
    ),
    ("function-millis", "`$millis()`: as `$now()`"),
    ("function-random", "`$random()`: as `$now()`"),
    ("function-uuid", "`$uuid()`: as `$now()`"),
];

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || ((x - y) / y.abs().max(1e-300)).abs() < 1e-15,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Whether `case` passes; `None` for a case whose expression is in a JavaScript file
/// (`expr-file`), which this harness does not run.
fn run_case(case: &Value, datasets: &Path) -> Option<bool> {
    let expr = case["expr"].as_str()?;
    // `data`, else the named dataset, else no input at all (JSONata's `undefined`).
    let input = match (case.get("data"), case["dataset"].as_str()) {
        (Some(data), _) => Some(data.clone()),
        (None, Some(name)) => std::fs::read_to_string(datasets.join(format!("{name}.json")))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok()),
        (None, None) => None,
    };
    let bindings = case.get("bindings").cloned().unwrap_or(json!({}));
    let budget = case["timelimit"]
        .as_u64()
        .map_or(Duration::from_secs(5), Duration::from_millis);
    let got = jsonata::evaluate_within(expr, input.as_ref(), &bindings, budget);
    if let Some(code) = case["code"].as_str().or(case["error"]["code"].as_str()) {
        return Some(match got {
            Err(e) => {
                e.code.as_deref() == Some(code)
                    || (e.failure == Failure::Budget && code.starts_with('U'))
            }
            Ok(_) => false,
        });
    }
    Some(match got {
        Ok(None) => case["undefinedResult"] == json!(true),
        Ok(Some(v)) => case.get("result").is_some_and(|r| same(&v, r)),
        Err(_) => false,
    })
}

fn main() {
    let suite = std::env::args()
        .nth(1)
        .expect("usage: jsonata_conformance SUITE_DIR");
    let suite = Path::new(&suite);
    let datasets = suite.join("datasets");
    let mut groups: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut js_only: BTreeMap<String, usize> = BTreeMap::new();
    let mut dirs: Vec<_> = std::fs::read_dir(suite.join("groups"))
        .expect("SUITE_DIR/groups")
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let group = dir.file_name().unwrap().to_string_lossy().into_owned();
        if SKIPPED.iter().any(|(g, _)| *g == group) {
            continue;
        }
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            let Ok(doc) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let cases = match doc {
                Value::Array(cases) => cases,
                case => vec![case],
            };
            for case in cases {
                let Some(pass) = run_case(&case, &datasets) else {
                    *js_only.entry(group.clone()).or_default() += 1;
                    continue;
                };
                let entry = groups.entry(group.clone()).or_default();
                entry.0 += usize::from(pass);
                entry.1 += 1;
            }
        }
    }
    println!("| group | passed | cases | rate |");
    println!("|---|---|---|---|");
    let (mut passed, mut total) = (0, 0);
    for (group, (p, n)) in &groups {
        passed += p;
        total += n;
        println!(
            "| {group} | {p} | {n} | {:.1} % |",
            100.0 * *p as f64 / (*n).max(1) as f64
        );
    }
    println!(
        "| **all** | **{passed}** | **{total}** | **{:.1} %** |",
        100.0 * passed as f64 / total.max(1) as f64
    );
    println!();
    for (group, why) in SKIPPED {
        println!("- skipped `{group}`: {why}");
    }
    for (group, n) in &js_only {
        println!(
            "- not run in `{group}`: {n} case(s) whose expression is a JavaScript file (`expr-file`)"
        );
    }
}
