//! The README commands that are not run by `readme.rs`: why, and what is checked instead.

use std::path::PathBuf;

use crate::common::root;

use super::Line;

/// The forms not run here: why, and what is checked instead (see [`check_not_run`]).
pub(super) const NOT_RUN: &[(&str, &str)] = &[
    (
        "cargo bench",
        "benchmarks take minutes on 2 cores and CI does not run them; checked: the package declares the bench and its file exists",
    ),
    (
        "bash scripts/test.sh",
        "it runs the test suite, this test included; checked: .ci/run runs it",
    ),
    (
        "bash scripts/restate-demo.sh",
        "it needs the Restate server (npm) and a second crate's binary; checked: restate/tests/demo.rs runs the README's restate-demo lines as written",
    ),
    (
        "cargo install --path",
        "a release build of its own takes minutes; checked: .ci/run installs it (--debug, into a scratch root) and runs the installed binary",
    ),
    (
        "cargo run --example",
        "it builds the library again without default features, a CI step; checked: .ci/run runs this example",
    ),
];

/// The check made instead of running a [`NOT_RUN`] line.
pub(super) fn check_not_run(key: &str, line: &Line) {
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let w = &line.words;
    match key {
        "cargo bench" => {
            let (package, bench) = (&w[3], &w[5]);
            let dir = member_dir(package);
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            assert!(
                manifest.contains(&format!("[[bench]]\nname = \"{bench}\"")),
                "{}: {package} declares no bench `{bench}`",
                line.text
            );
            assert!(
                dir.join("benches").join(format!("{bench}.rs")).is_file(),
                "{}",
                line.text
            );
        }
        "bash scripts/test.sh" => {
            assert!(ci.contains("\nbash scripts/test.sh\n"), ".ci/run: {ci}")
        }
        "bash scripts/restate-demo.sh" => {
            let demo = std::fs::read_to_string(root().join("restate/tests/it/demo.rs")).unwrap();
            assert!(
                demo.contains("\"bash scripts/restate-demo.sh\""),
                "{}: restate/tests/it/demo.rs does not run the README's restate-demo lines",
                line.text
            );
        }
        "cargo install --path" => {
            let dir = w.last().unwrap();
            assert!(
                ci.contains(&format!("cargo install --locked --debug --path {dir} ")),
                "{}: .ci/run does not install it",
                line.text
            );
        }
        "cargo run --example" => {
            let name = w.last().unwrap();
            assert!(
                ci.contains(&format!("--no-default-features --example {name})")),
                "{}: .ci/run does not run it",
                line.text
            );
            assert!(
                root()
                    .join(format!("connector/examples/{name}.rs"))
                    .is_file(),
                "{}",
                line.text
            );
        }
        _ => unreachable!("{key}"),
    }
}

/// The folder of the workspace member named `package`.
fn member_dir(package: &str) -> PathBuf {
    ["connector", "sandbox", "tests/support"]
        .iter()
        .map(|m| root().join(m))
        .find(|d| {
            std::fs::read_to_string(d.join("Cargo.toml"))
                .is_ok_and(|t| t.contains(&format!("\nname = \"{package}\"\n")))
        })
        .unwrap_or_else(|| panic!("no workspace member `{package}`"))
}
