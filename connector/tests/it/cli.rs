//! The `usage-connector` binary: `endpoints`, `schemas` (write and `--check`), `--help`, exit codes.

use serde_json::Value;

use crate::common;

use common::{run_bin as bin, scratch, text};

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

/// Every repository path below `dir` (build output, dependencies and VCS data left out), with
/// `/` separators and a leading `/`.
fn repo_paths(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if [".git", "target", "node_modules", ".venv", "__pycache__"].contains(&name.as_str()) {
            continue;
        }
        let rel = p
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if p.is_dir() {
            out.push(format!("/{rel}/"));
            repo_paths(&p, root, out);
        } else {
            out.push(format!("/{rel}"));
        }
    }
}

/// Every file or folder the docs and the READMEs cite in backticks exists in this repository:
/// a cited path must be the tail of a repository path (`output/body.rs`, `docs/runner.md`,
/// `tests/support/`); `path::item` names an item of a file.
#[test]
fn docs_cite_only_files_that_exist() {
    let root = common::root();
    let mut paths = Vec::new();
    repo_paths(&root, &root, &mut paths);
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.push(root.join("README.md"));
    docs.push(root.join("workflows/README.md"));
    let looks_like_file = |t: &str| {
        !t.contains([' ', '*', '{', '<', '$', '=', '…', '|', '#'])
            && !t.starts_with(['-', '/', '.', '~'])
            && !t.contains("://")
            && (t.ends_with('/')
                || [".rs", ".md", ".json", ".py", ".js", ".toml", ".sh", ".lock"]
                    .iter()
                    .any(|ext| t.ends_with(ext)))
    };
    let exists = |cited: &str| {
        let tail = format!("/{cited}");
        paths.iter().any(|p| p.ends_with(&tail))
    };
    let mut missing = Vec::new();
    for doc in &docs {
        let body = std::fs::read_to_string(doc).unwrap();
        // Odd pieces between ``` are fenced blocks: each path-like word in them counts.
        for (i, block) in body.split("```").enumerate() {
            if i % 2 == 0 {
                // Inline code spans outside fenced blocks.
                for (j, piece) in block.split('`').enumerate() {
                    let cited = piece.split("::").next().unwrap_or_default();
                    if j % 2 == 1 && looks_like_file(cited) && !exists(cited) {
                        missing.push(format!("{}: `{cited}`", doc.display()));
                    }
                }
                continue;
            }
            for word in block.split_whitespace() {
                let cited = word.trim_matches(|c: char| "()[],;:".contains(c));
                if cited.contains('/') && looks_like_file(cited) && !exists(cited) {
                    missing.push(format!("{}: {cited} (code block)", doc.display()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "cited but missing:\n{}",
        missing.join("\n")
    );
}

/// Every diagnostic code is in the table of `docs/validation.md`, every task error code the
/// executor or the runner produces is in `docs/execution.md` or `docs/runner.md`.
#[test]
fn every_code_is_documented() {
    let read = |p: &str| std::fs::read_to_string(common::root().join(p)).unwrap();
    let validation = read("docs/validation.md");
    for code in usage_connector::diagnostic::Code::ALL {
        assert!(
            validation.contains(code.as_str()),
            "{code} is not in docs/validation.md"
        );
    }
    let execution = read("docs/execution.md") + &read("docs/runner.md");
    for code in usage_connector::output::ErrorCode::KNOWN {
        assert!(
            execution.contains(code.as_str()),
            "{code} is not in docs/execution.md or docs/runner.md"
        );
    }
}

/// The long options of a `--help` text (the first `--name` of each option line).
fn help_options(help: &str) -> Vec<String> {
    help.lines()
        .filter(|l| l.trim_start().starts_with('-'))
        .filter_map(|l| {
            let at = l.find("--")?;
            let name: String = l[at + 2..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                .collect();
            Some(format!("--{name}"))
        })
        .collect()
}

/// The help texts and the docs name the same options: every command has a page, and every
/// option its `--help` lists is on that page (the global `--path-override` in the README).
#[test]
fn every_option_in_help_is_documented() {
    let pages = [
        ("endpoints", "README.md"),
        ("schemas", "README.md"),
        ("validate", "docs/validation.md"),
        ("call", "docs/execution.md"),
        ("run", "docs/runner.md"),
        ("resume", "docs/runner.md"),
        ("ingest", "docs/ingest.md"),
        ("sandbox", "docs/sandbox.md"),
        ("studio", "docs/studio.md"),
        ("completions", "README.md"),
        ("man", "README.md"),
    ];
    let help = text(&bin(&["--help"]).stdout);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert_eq!(
        commands,
        pages.map(|(c, _)| c),
        "a command without a documentation page here"
    );
    let documented = |page: &str, option: &str| {
        let doc = std::fs::read_to_string(common::root().join(page)).unwrap();
        doc.match_indices(option).any(|(i, _)| {
            !doc[i + option.len()..].starts_with(|c: char| c.is_ascii_lowercase() || c == '-')
        })
    };
    let mut missing = Vec::new();
    for (command, page) in pages {
        for option in help_options(&text(&bin(&[command, "--help"]).stdout)) {
            let page = if option == "--path-override" {
                "README.md"
            } else {
                page
            };
            if option != "--help" && !documented(page, &option) {
                missing.push(format!("{command} {option}: not in {page}"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// The completion script loads in a real bash and completes the subcommands; the man page is
/// roff a formatter renders (when the machine has one), and it names every subcommand.
#[test]
fn completions_load_in_bash_and_the_man_page_names_every_command() {
    let out = bin(&["completions", "bash"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let script = scratch("completions").join("usage-connector.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    // Source it, find the function it registered, and ask it for `usage-connector in<TAB>`.
    let probe = format!(
        "source {}; spec=$(complete -p usage-connector); fn=${{spec#*-F }}; fn=${{fn%% *}}; \
         COMP_WORDS=(usage-connector in); COMP_CWORD=1; COMP_LINE='usage-connector in'; \
         COMP_POINT=${{#COMP_LINE}}; $fn usage-connector in usage-connector; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let completed = std::process::Command::new("bash")
        .args(["--norc", "-c", &probe])
        .output()
        .unwrap();
    assert!(completed.status.success(), "{}", text(&completed.stderr));
    assert_eq!(text(&completed.stdout).trim(), "ingest");

    let out = bin(&["man"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    assert!(page.contains(".TH usage-connector 1"), "{page}");
    for command in [
        "endpoints",
        "schemas",
        "validate",
        "call",
        "run",
        "resume",
        "ingest",
        "sandbox",
        "studio",
        "completions",
        "man",
    ] {
        let reference = format!("usage\\-connector\\-{command}(1)");
        assert!(page.contains(&reference), "{reference}: {page}");
    }
    assert!(
        !page.contains("usage\\-connector\\-help"),
        "no help page: {page}"
    );
    // Every page the main one refers to, written to a folder.
    let dir = scratch("man-pages");
    let out = bin(&["man", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("wrote 12 man pages"),
        "{}",
        text(&out.stdout)
    );
    for command in ["", "-run", "-ingest", "-completions", "-man"] {
        let page =
            std::fs::read_to_string(dir.join(format!("usage-connector{command}.1"))).unwrap();
        assert!(
            page.starts_with(".ie") && page.contains(".TH"),
            "{command}: {page}"
        );
    }
    if let Ok(rendered) = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-P-cbou"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(page.as_bytes())?;
            child.wait_with_output()
        })
    {
        assert!(rendered.status.success());
        assert!(
            text(&rendered.stdout).contains("SUBCOMMANDS"),
            "{}",
            text(&rendered.stdout)
        );
    }
}

/// A reader that stops reading its progress lines (`run … 2>&1 | head`) ends a run quietly, as
/// it ends other tools (exit 141, 128 + SIGPIPE): it was a panic, exit 101, with a backtrace
/// hint. (A closed stdout alone loses only the output JSON, at the end: exit as the run ended.)
#[test]
fn a_closed_pipe_ends_a_run_quietly() {
    let root = common::root();
    let dir = scratch("cli-closed-pipe");
    let run = |stdout: std::process::Stdio, stderr: std::process::Stdio| {
        common::bin()
            .arg("run")
            .arg(root.join("workflows/usage-with-overage.json"))
            .arg("--input")
            .arg(root.join("workflows/examples/usage-with-overage.input.json"))
            .current_dir(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap()
    };
    // The progress lines' reader gone before the first line is written.
    let mut child = run(std::process::Stdio::null(), std::process::Stdio::piped());
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(141));
    // Only the output's reader gone: the run ends as it ends.
    let mut child = run(std::process::Stdio::piped(), std::process::Stdio::null());
    drop(child.stdout.take());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
