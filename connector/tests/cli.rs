//! The `usage-connector` binary: `endpoints`, `schemas` (write and `--check`), `--help`, exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usage-connector"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn endpoints_lists_the_catalog_as_text_and_json() {
    let out = bin(&["endpoints"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    for id in [
        "solvimon.ingest-adjustment",
        "solvimon.ingest-charge",
        "solvimon.ingest-persist",
        "solvimon.calculate-cost",
        "rebilly.create-usage",
    ] {
        assert!(stdout.contains(id), "{id} missing from:\n{stdout}");
    }
    assert!(
        stdout.contains("POST [/organizations/{organizationId}]/usages"),
        "{stdout}"
    );
    assert!(stdout.contains("METER_DATA.INGEST"), "{stdout}");

    let out = bin(&["endpoints", "--format", "json"]);
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let endpoints = doc["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 5);
    assert_eq!(endpoints[0]["path_provenance"], "inferred");
    assert_eq!(endpoints[3]["query_params"][0]["name"], "cost_prediction");
    assert_eq!(endpoints[4]["auth"][0]["header"], "REB-APIKEY");
}

#[test]
fn schemas_writes_files_and_check_names_each_file_that_differs() {
    let dir = scratch("schemas-check");
    let d = dir.to_str().unwrap();
    let out = bin(&["schemas", "--out", d]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("wrote 17 schema files"));

    let out = bin(&["schemas", "--out", d, "--check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let request = dir.join("rebilly.create-usage/request.schema.json");
    std::fs::write(&request, "{}\n").unwrap();
    std::fs::remove_file(dir.join("solvimon.ingest-charge/http-task.schema.json")).unwrap();
    std::fs::write(dir.join("solvimon.ingest-charge/old.schema.json"), "{}").unwrap();
    let out = bin(&["schemas", "--out", d, "--check"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("differs: ") && stderr.contains("rebilly.create-usage/request.schema.json"),
        "{stderr}"
    );
    assert!(
        stderr.contains("missing: ")
            && stderr.contains("solvimon.ingest-charge/http-task.schema.json"),
        "{stderr}"
    );
    assert!(stderr.contains("old.schema.json"), "{stderr}");
    assert!(stderr.contains("3 schema file(s) differ"), "{stderr}");
}

#[test]
fn path_override_changes_the_catalog_and_bad_ones_are_usage_errors() {
    let out = bin(&[
        "--path-override",
        "solvimon.ingest-charge=/v{version}/events/charge",
        "endpoints",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("POST /v{version}/events/charge  (path Overridden"));

    let out = bin(&["--path-override", "solvimon.nope=/x", "endpoints"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown endpoint `solvimon.nope`"));

    let out = bin(&["--path-override", "no-equals-sign", "endpoints"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("ID=TEMPLATE"));
}

#[test]
fn help_explains_every_command_and_usage_errors_exit_2() {
    let out = bin(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    assert!(
        help.contains("endpoints") && help.contains("schemas"),
        "{help}"
    );
    for (cmd, phrase) in [("endpoints", "List the catalog"), ("schemas", "--check")] {
        let out = bin(&[cmd, "--help"]);
        assert!(out.status.success());
        assert!(
            text(&out.stdout).contains(phrase),
            "{cmd} --help:\n{}",
            text(&out.stdout)
        );
    }
    assert_eq!(bin(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        bin(&["endpoints", "--format", "xml"]).status.code(),
        Some(2)
    );
}
