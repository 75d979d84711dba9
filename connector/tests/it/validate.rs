//! `validate`: the corpus under `tests/workflows/` (one invalid definition per rule, valid ones
//! with every placeholder form) with snapshot-tested diagnostics; run-time checks with an
//! input; bad input; a proptest that mutates the samples and finds no panic.

use std::path::Path;

use proptest::prelude::*;
use serde_json::{Value, json};
use usage_connector::catalog::EndpointId;
use usage_connector::validate::{
    MAX_DEFINITION_BYTES, Report, Severity, validate_definition, validate_request,
};
use usage_connector::validators::Validators;

use crate::common;

use common::corpus;

fn check(path: &Path, input: Option<&Value>) -> Report {
    let name = path.file_name().unwrap().to_string_lossy();
    validate_definition(
        &name,
        &std::fs::read(path).unwrap(),
        Validators::builtin(),
        input,
    )
}

/// One line per diagnostic: severity, code, pointer, line:column.
fn summary(report: &Report) -> String {
    report
        .diagnostics
        .iter()
        .map(|d| {
            format!(
                "{} {} {} {}:{}",
                d.severity.as_str(),
                d.code,
                d.pointer,
                d.line.unwrap_or(0),
                d.column.unwrap_or(0)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_invalid_definition_is_rejected_with_located_diagnostics() {
    let files = corpus("invalid");
    assert!(
        files.len() >= 30,
        "the corpus needs at least 30 invalid definitions, has {}",
        files.len()
    );
    for path in files {
        let report = check(&path, None);
        assert!(report.has_errors(), "{} was accepted", path.display());
        for d in &report.diagnostics {
            assert!(
                d.line.is_some() && d.column.is_some(),
                "{}: {d:?} has no position",
                path.display()
            );
        }
        let name = format!("invalid__{}", path.file_stem().unwrap().to_string_lossy());
        insta::assert_snapshot!(name, summary(&report));
    }
}

#[test]
fn every_valid_definition_is_accepted() {
    let files = corpus("valid");
    assert!(files.len() >= 5);
    for path in files {
        let report = check(&path, None);
        assert!(
            !report.has_errors(),
            "{}:\n{}",
            path.display(),
            summary(&report)
        );
        let name = format!("valid__{}", path.file_stem().unwrap().to_string_lossy());
        insta::assert_snapshot!(name, summary(&report));
    }
}

#[test]
fn text_output_reads_like_a_compiler() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/workflows/invalid/quantity-four-decimals.json");
    let report = check(&path, None);
    let text: String = report
        .diagnostics
        .iter()
        .map(|d| d.render(report.source.as_deref()))
        .collect();
    insta::assert_snapshot!(text);
}

#[test]
fn a_wrong_type_names_the_accepted_types_of_a_nullable_field() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/workflows/invalid/charge-value-wrong-type-in-branch.json");
    let report = check(&path, None);
    let messages: Vec<&str> = report
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [r#"12.5 is not of type "null", "string" (or a `${…}` placeholder)"#]
    );
}

#[test]
fn an_unknown_field_names_the_field_it_most_likely_misspells() {
    let messages = |file: &str| -> Vec<String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/workflows/invalid")
            .join(file);
        check(&path, None)
            .diagnostics
            .into_iter()
            .filter(|d| d.message.starts_with("unknown field"))
            .map(|d| d.message)
            .collect()
    };
    // In a task, in an Http task's body (its endpoint's request schema, under the task's), and
    // at the top level of a definition.
    assert_eq!(
        messages("unknown-task-field.json"),
        ["unknown field `nextTaks`; did you mean `nextTask`?"]
    );
    assert_eq!(
        messages("body-field-typo.json"),
        ["unknown field `quantityy`; did you mean `quantity`?"]
    );
    // `startTask` is given there too: not offered again.
    assert_eq!(
        messages("unknown-top-level-field.json"),
        ["unknown field `startTaks`"]
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/workflows/invalid/unknown-top-level-field.json");
    let mut definition: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    definition.as_object_mut().unwrap().remove("startTask");
    let report = validate_definition(
        "no-start.json",
        &serde_json::to_vec(&definition).unwrap(),
        Validators::builtin(),
        None,
    );
    assert!(
        report
            .diagnostics
            .iter()
            .any(|d| d.code == "E-UNKNOWN-FIELD"
                && d.message == "unknown field `startTaks`; did you mean `startTask`?"),
        "{:?}",
        report.diagnostics
    );
    // In a request body (the check `run` makes before sending): a misspelling, another
    // spelling of a name, a field already given, and one near nothing.
    let check = |body: Value| -> Vec<String> {
        Validators::builtin()
            .check_request(EndpointId::RebillyCreateUsage, &body)
            .unwrap_err()
            .into_iter()
            .map(|d| d.message)
            .collect()
    };
    assert_eq!(
        check(json!({"subscriptionId": "sub_1", "quantiy": 2})),
        [
            r#""quantity" is a required property"#,
            "unknown field `quantiy`; did you mean `quantity`?"
        ]
    );
    assert_eq!(
        check(
            json!({"subscriptionId": "sub_1", "quantity": 2, "usage_time": "2025-05-01T12:00:00Z"})
        ),
        ["unknown field `usage_time`; did you mean `usageTime`?"]
    );
    assert_eq!(
        check(json!({"subscriptionId": "sub_1", "quantity": 2, "Quantity": 2})),
        ["unknown field `Quantity`"]
    );
    assert_eq!(
        check(json!({"subscriptionId": "sub_1", "quantity": 2, "colour": "red"})),
        ["unknown field `colour`"]
    );
    // A name given already is not offered for another spelling of it.
    assert_eq!(
        check(json!({"subscriptionId": "sub_1", "quantity": 2, "subscriptionid": "sub_2"})),
        ["unknown field `subscriptionid`"]
    );
}

#[test]
fn run_time_check_resolves_placeholders_and_validates_the_concrete_request() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/workflows/valid/rebilly-usage-placeholders.json");
    let input = json!({"organizationId": "org_1", "subscriptionId": "sub_1", "quantity": 1.2345, "usageTime": "2025-05-01T12:00:00Z"});
    let report = check(&path, Some(&input));
    let errors: Vec<_> = report
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{}", summary(&report));
    assert_eq!(errors[0].code, "E-DECIMALS");
    assert_eq!(
        errors[0].pointer,
        "/tasks/Report usage/httpRequest/body/quantity"
    );
    assert_eq!(errors[0].endpoint.as_deref(), Some("rebilly.create-usage"));
    assert_eq!(errors[0].line, Some(18));
    assert!(
        errors[0].hint.as_deref().unwrap().contains("1.234"),
        "{:?}",
        errors[0].hint
    );

    let good = json!({"organizationId": "org_1", "subscriptionId": "sub_1", "quantity": 12.5, "usageTime": ""});
    assert!(!check(&path, Some(&good)).has_errors());

    let missing = json!({"organizationId": "org_1", "quantity": 1});
    let report = check(&path, Some(&missing));
    assert!(
        report
            .diagnostics
            .iter()
            .any(|d| d.code == "E-INPUT-MISSING" && d.message.contains("$.subscriptionId")),
        "{}",
        summary(&report)
    );
}

#[test]
fn validate_request_reports_pointer_and_hint() {
    assert_eq!(
        validate_request(
            EndpointId::RebillyCreateUsage,
            &json!({"subscriptionId": "s", "quantity": 5.125})
        ),
        Ok(())
    );
    let errs = validate_request(
        EndpointId::RebillyCreateUsage,
        &json!({"subscriptionId": "s", "quantity": 1.2355}),
    )
    .unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].pointer, "/quantity");
    assert_eq!(errs[0].code, "E-DECIMALS");
    assert_eq!(
        errs[0].hint.as_deref(),
        Some("quantity allows at most 3 decimals: 1.236, or set a rounding policy")
    );
    let errs =
        validate_request(EndpointId::SolvimonIngestPersist, &json!({"pricing_id": 1})).unwrap_err();
    assert!(errs.len() >= 5, "{errs:?}");
}

#[test]
fn bad_input_gives_a_clear_error_never_a_panic() {
    let v = Validators::builtin();
    let huge = vec![b' '; MAX_DEFINITION_BYTES + 1];
    let r = validate_definition("huge.json", &huge, v, None);
    assert_eq!(r.diagnostics[0].code, "E-TOO-LARGE");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let r = validate_definition("deep.json", deep.as_bytes(), v, None);
    assert_eq!(r.diagnostics[0].code, "E-JSON");
    assert!(
        r.diagnostics[0].message.contains("recursion limit"),
        "{:?}",
        r.diagnostics[0]
    );
    let r = validate_definition("bad.json", b"{\"name\": \"x\",\n  \"tasks\": }", v, None);
    assert_eq!(
        (r.diagnostics[0].code.as_str(), r.diagnostics[0].line),
        ("E-JSON", Some(2))
    );
    let r = validate_definition("bin.json", &[0x7b, 0xff, 0xfe, 0x7d], v, None);
    assert_eq!(
        (r.diagnostics[0].code.as_str(), r.diagnostics[0].column),
        ("E-UTF8", Some(2))
    );
    for root in ["[]", "42", "null", "\"x\""] {
        assert_eq!(
            validate_definition("r.json", root.as_bytes(), v, None).diagnostics[0].code,
            "E-ROOT"
        );
    }
}

fn samples() -> Vec<Vec<u8>> {
    corpus("valid")
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Byte-level mutations (flip, delete, insert) of the sample definitions never panic.
    #[test]
    fn mutated_bytes_never_panic(sample in 0usize..7, edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)) {
        let mut bytes = samples()[sample].clone();
        for (at, byte, op) in edits {
            let len = bytes.len();
            let i = at.index(len.max(1));
            match op {
                0 if len > 0 => bytes[i.min(len - 1)] = byte,
                1 if len > 0 => { bytes.remove(i.min(len - 1)); }
                _ => bytes.insert(i.min(len), byte),
            }
        }
        let _ = validate_definition("m.json", &bytes, Validators::builtin(), Some(&json!({"quantity": 1})));
    }

    /// Value-level mutations (replace any node with another JSON value) never panic.
    #[test]
    fn mutated_values_never_panic(sample in 0usize..7, pick in any::<prop::sample::Index>(), replacement in prop_oneof![
        Just(json!(null)), Just(json!(0)), Just(json!(-1.5)), Just(json!("${")), Just(json!("${$.x}")),
        Just(json!([])), Just(json!({})), Just(json!("Http")), Just(json!({"type": "Parallel", "branches": [{}]})),
        Just(json!(true)), Just(json!("x".repeat(300))), Just(serde_json::from_str::<Value>("1e40").unwrap()),
        Just(serde_json::from_str::<Value>("7e28").unwrap()), Just(json!("halfEven")),
        Just(json!(format!("{}$.a{}", "(".repeat(2000), ")".repeat(2000)))),
        Just(json!(vec!["$.a > 0"; 5000].join(" && ")))]) {
        let mut value: Value = serde_json::from_slice(&samples()[sample]).unwrap();
        let mut pointers = Vec::new();
        collect(&value, String::new(), &mut pointers);
        let target = pick.get(&pointers).clone();
        if target.is_empty() { value = replacement; } else { *value.pointer_mut(&target).unwrap() = replacement; }
        let bytes = serde_json::to_vec_pretty(&value).unwrap();
        let _ = validate_definition("m.json", &bytes, Validators::builtin(), Some(&json!({"subscriptionId": 1})));
    }
}

/// Condition text from the language's own pieces, mixed with what it does not have.
fn condition_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("$.a".to_owned()),
        Just("$['b c']".to_owned()),
        Just("$[0]".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("!".to_owned()),
        Just("&&".to_owned()),
        Just("||".to_owned()),
        Just("==".to_owned()),
        Just("!==".to_owned()),
        Just("<=".to_owned()),
        Just(">".to_owned()),
        Just("'x'".to_owned()),
        Just("\"".to_owned()),
        Just("1e40".to_owned()),
        Just("-2.5".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just(" ".to_owned()),
        Just("f(".to_owned()),
        Just("$..".to_owned()),
        Just("[".to_owned()),
        "[a-z0-9.$]{0,3}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
}

/// A JSON value of any shape, numbers beyond every range and placeholders included.
fn any_body() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(serde_json::from_str::<Value>("1e400").unwrap_or(json!(0))),
        Just(serde_json::from_str::<Value>("79228162514264337593543950336").unwrap()),
        Just(serde_json::from_str::<Value>("2.0000000000000001").unwrap()),
        Just(json!(0.0005)),
        Just(json!("${$.q}")),
        Just(json!("${")),
        Just(json!("2024-07-01T10:50:00.5Z")),
        "[a-z_]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("quantity".to_owned()),
                    Just("subscriptionId".to_owned()),
                    Just("usageTime".to_owned()),
                    Just("timestamp".to_owned()),
                    Just("reference".to_owned()),
                    Just("meter_values".to_owned()),
                    Just("period".to_owned()),
                    "[a-z_]{1,6}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Conditions of any shape, nesting however deep, parse or are refused; what parses
    /// evaluates; nothing panics or overflows the stack.
    #[test]
    fn conditions_never_panic(text in condition_text(), depth in 0usize..3000) {
        let input = json!({"a": 1, "b c": "2", "q": "2.675"});
        for c in [text.clone(), format!("{}{text}{}", "(".repeat(depth), ")".repeat(depth)),
                  format!("{}{text}", "!".repeat(depth))] {
            if let Ok(expr) = usage_connector::condition::parse(&c) {
                let _ = usage_connector::condition::eval(&expr, &input);
            }
        }
    }

    /// Bodies of any shape through the prepare path of every endpoint: a request or an error,
    /// never a panic.
    #[test]
    fn bodies_never_panic(body in any_body(), rounding in any::<bool>()) {
        let mut credentials = usage_connector::execute::Credentials::new();
        credentials.insert("k", usage_connector::execute::Credential {
            header: "X-API-KEY".into(), value: usage_connector::execute::Secret::new("s"), platform_id: None,
        });
        let executor = usage_connector::execute::Executor::new(credentials);
        for url in ["https://api.rebilly.com/usages", "https://api.solvimon.com/v1/ingest/persist-data",
                    "https://api.solvimon.com/v1/ingest/charge-data", "https://api.solvimon.com/v1/ingest/adjustment-data",
                    "https://api.solvimon.com/v1/events/calculate", "https://elsewhere.example/x"] {
            let mut task = json!({"credentials": "k", "end": true,
                                  "httpRequest": {"url": url, "method": "POST", "body": body}});
            if rounding {
                task["rounding"] = json!("halfEven");
            }
            let task: usage_connector::simworkflow::HttpTask = serde_json::from_value(task).unwrap();
            let ctx = usage_connector::execute::TaskContext::new("fuzz", "t");
            let _ = executor.prepare(&task, &json!({"q": 1.5}), &ctx);
        }
    }
}

fn collect(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| {
            collect(
                c,
                format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                out,
            )
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| collect(c, format!("{at}/{i}"), out)),
        _ => {}
    }
}

#[test]
fn cli_reports_all_files_and_uses_the_documented_exit_codes() {
    let root = common::root().join("tests/workflows");
    let out = common::bin()
        .args(["validate", "--format", "json"])
        .arg(root.join("invalid"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let files: std::collections::HashSet<&str> =
        all.iter().map(|d| d["file"].as_str().unwrap()).collect();
    assert_eq!(
        files.len(),
        corpus("invalid").len(),
        "every file reported in one run"
    );
    for key in [
        "file", "task", "endpoint", "pointer", "line", "column", "severity", "code", "message",
    ] {
        assert!(all[0].get(key).is_some(), "missing {key} in {}", all[0]);
    }
    let out = common::bin()
        .arg("validate")
        .arg(root.join("valid"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("warning[W-UNREACHABLE]"));
    let out = common::bin()
        .args(["validate", "no/such/file.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = common::bin()
        .args(["validate", "--input"])
        .arg(root.join("examples/rebilly-usage-placeholders.input.json"))
        .arg(root.join("valid/rebilly-usage-placeholders.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("error[E-DECIMALS]"));
}

/// No input hangs, exhausts memory or loops the CLI: a FIFO and a device are refused by name,
/// a huge (sparse) file is reported E-TOO-LARGE without being read, a folder whose symlinks
/// loop is walked once, and a key given twice in `call --body` or an input is an error.
#[test]
fn hostile_files_are_refused_quickly_and_clearly() {
    let dir = common::scratch("hostile-files");
    let fifo = dir.join("pipe.json");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for path in [fifo.as_path(), Path::new("/dev/zero")] {
        let out = common::bin().arg("validate").arg(path).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", path.display());
        assert!(
            common::text(&out.stderr).contains("not a regular file"),
            "{}",
            common::text(&out.stderr)
        );
    }

    let huge = dir.join("huge.json");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(20 * 1024 * 1024)
        .unwrap();
    let out = common::bin().arg("validate").arg(&huge).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(common::text(&out.stdout).contains("E-TOO-LARGE"));

    let looped = dir.join("loop");
    std::fs::create_dir_all(looped.join("d")).unwrap();
    std::fs::copy(
        common::root().join("tests/workflows/valid/warnings-only.json"),
        looped.join("d/flow.json"),
    )
    .unwrap();
    for name in ["up", "up2", "up3"] {
        std::os::unix::fs::symlink("..", looped.join("d").join(name)).unwrap();
    }
    let out = common::bin().arg("validate").arg(&looped).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stdout));
    assert!(common::text(&out.stdout).contains("1 file(s): 0 invalid"));

    let twice = dir.join("twice.json");
    std::fs::write(
        &twice,
        r#"{"subscriptionId": "s", "quantity": 1, "quantity": 2}"#,
    )
    .unwrap();
    let out = common::bin()
        .args(["call", "rebilly.create-usage", "--dry-run", "--body"])
        .arg(&twice)
        .env("REBILLY_API_KEY", "k")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::text(&out.stderr).contains("key `quantity` appears twice"),
        "{}",
        common::text(&out.stderr)
    );
    let definition = common::root().join("tests/workflows/valid/warnings-only.json");
    let out = common::bin()
        .arg("validate")
        .arg(&definition)
        .arg("--input")
        .arg(&twice)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(common::text(&out.stderr).contains("appears twice"));
}
