//! The README's Restate section runs as written: every `bash scripts/restate-demo.sh …` line
//! of its ```sh blocks is run from the repository root (one at a time: they use fixed ports)
//! and must print the sample's result, the same result for the second submission, and the
//! sandbox holding one record per intended usage and charge.

use crate::common;

use std::process::Command;

/// The README's lines that run the demo script, as written (a trailing comment cut off).
fn demo_lines() -> Vec<String> {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    readme
        .lines()
        .map(|l| l.split(" #").next().unwrap().trim())
        .filter(|l| l.starts_with("bash scripts/restate-demo.sh"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_restate_demo_runs_as_written() {
    let lines = demo_lines();
    assert!(
        lines.iter().any(|l| l == "bash scripts/restate-demo.sh")
            && lines
                .iter()
                .any(|l| l == "bash scripts/restate-demo.sh cluster"),
        "the README shows the single-node and the cluster demo: {lines:?}"
    );
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        let out = Command::new(words[0])
            .args(&words[1..])
            .current_dir(common::root())
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{line}: {stdout}\n{stderr}");
        let result: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{line}: stdout is the workflow output ({e}): {stdout}"));
        assert_eq!(result["usage"]["outcome"], "created", "{line}: {result}");
        assert_eq!(result["charge"]["outcome"], "created", "{line}: {result}");
        assert!(stderr.contains("\nsame result\n"), "{line}: {stderr}");
        assert!(
            stderr.contains(r#"sandbox records: {"charge-data":1,"duplicates":0,"usages":1}"#),
            "{line}: {stderr}"
        );
    }
}
