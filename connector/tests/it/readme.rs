//! The README's commands run as written. Every line of its ```sh blocks is read as sh reads it
//! (quotes, `\` continuations, trailing `# comments`, `NAME=VALUE` prefixes, an `echo '…' |`
//! feeding stdin) and then either run or matched by a form in [`NOT_RUN`], which says why it is
//! not run here and what is checked instead. A command of any other form fails the test: the
//! README cannot gain a command nobody checks.
//!
//! Run: `cargo run [--locked] -p usage-connector -- ARGS` is the built binary with ARGS, in a
//! scratch copy of the repository (so `schemas --out schemas` writes there and a developer's
//! `./credentials.json` or API key variables play no part). The README's `sandbox` lines start
//! first and serve every `http://127.0.0.1:PORT`; its `studio` lines start too, and serve their
//! page only with the token they print; Ctrl-C (SIGINT) must stop them all with exit 0.
//! Every command must exit 0 (or, where the README shows a failure, as [`NOT_ZERO`] says), and
//! what the README says of its output must hold.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Output, Stdio};

use serde_json::Value;
use usage_connector::catalog::Vendor;

use crate::common;

use common::{root, text};

mod not_run;

use not_run::{NOT_RUN, check_not_run};

/// One command of the README.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    /// As written, continuations joined (for messages).
    text: String,
    /// `NAME=VALUE` prefixes.
    env: Vec<(String, String)>,
    /// The program and its arguments.
    words: Vec<String>,
    /// What a leading `echo '…' |` pipes in.
    stdin: Option<String>,
    /// The trailing `# comment`.
    comment: Option<String>,
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Pipe,
}

/// The logical lines of the ```sh blocks (continuations joined, blank lines left out). A
/// block in another shell's fence (```bash, ```console, none…) fails: this test would not run it.
fn sh_lines(markdown: &str) -> Vec<String> {
    let (mut lines, mut open, mut inside, mut pending) = (Vec::new(), false, false, String::new());
    for raw in markdown.lines() {
        if let Some(language) = raw.trim_start().strip_prefix("```") {
            if !open {
                assert!(
                    ["sh", "toml", "json"].contains(&language.trim()),
                    "README: a ```{language} block; commands go in ```sh blocks (run by this test)"
                );
            }
            (open, inside) = (!open, !open && language.trim() == "sh");
            continue;
        }
        if !inside {
            continue;
        }
        match raw.trim_end().strip_suffix('\\') {
            Some(start) => pending.push_str(start),
            None => {
                pending.push_str(raw);
                if !pending.trim().is_empty() {
                    lines.push(pending.trim().to_owned());
                }
                pending.clear();
            }
        }
    }
    assert!(!open && pending.is_empty(), "README: an unclosed block");
    lines
}

/// Splits a line as sh does: quotes, backslash escapes, `|`, and a `#` starting a word begins
/// a comment.
fn tokens(line: &str) -> (Vec<Token>, Option<String>) {
    let (mut out, mut word, mut in_word) = (Vec::new(), String::new(), false);
    let mut chars = line.char_indices().peekable();
    let end_word = |out: &mut Vec<Token>, word: &mut String, in_word: &mut bool| {
        if std::mem::take(in_word) {
            out.push(Token::Word(std::mem::take(word)));
        }
    };
    while let Some((i, c)) = chars.next() {
        match c {
            '#' if !in_word => return (out, Some(line[i + 1..].trim().to_owned())),
            c if c.is_whitespace() => end_word(&mut out, &mut word, &mut in_word),
            '|' => {
                end_word(&mut out, &mut word, &mut in_word);
                out.push(Token::Pipe);
            }
            '\'' => {
                in_word = true;
                for (_, c) in chars.by_ref().take_while(|&(_, c)| c != '\'') {
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some((_, '"' | '\\' | '$' | '`'))) => {
                            word.push(chars.next().unwrap().1);
                        }
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next().map(|(_, c)| c));
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    end_word(&mut out, &mut word, &mut in_word);
    (out, None)
}

fn parse(text: &str) -> Line {
    let (tokens, comment) = tokens(text);
    let mut segments: Vec<Vec<String>> = vec![Vec::new()];
    for t in tokens {
        match t {
            Token::Word(w) => segments.last_mut().unwrap().push(w),
            Token::Pipe => segments.push(Vec::new()),
        }
    }
    let stdin = match segments.len() {
        1 => None,
        2 if segments[0].len() == 2 && segments[0][0] == "echo" => {
            Some(format!("{}\n", segments[0][1]))
        }
        _ => panic!("README: a pipe other than `echo 'TEXT' | COMMAND`: {text}"),
    };
    let mut words = segments.pop().unwrap();
    let assignments = words
        .iter()
        .take_while(|w| {
            w.split_once('=').is_some_and(|(name, _)| {
                !name.is_empty()
                    && !name.starts_with(|c: char| c.is_ascii_digit())
                    && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
            })
        })
        .count();
    let env = words
        .drain(..assignments)
        .map(|w| {
            let (k, v) = w.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    Line {
        text: text.to_owned(),
        env,
        words,
        stdin,
        comment,
    }
}

/// What the test does with a line.
#[derive(Debug, PartialEq)]
enum Form {
    /// `cargo run … -p usage-connector -- ARGS`: the binary with ARGS.
    Cli(Vec<String>),
    /// A form of [`NOT_RUN`] (its key).
    NotRun(&'static str),
    /// None this test knows.
    Unknown,
}

fn form(line: &Line) -> Form {
    let w: Vec<&str> = line.words.iter().map(String::as_str).collect();
    // `cargo run` options that build the package's binary (or example) as CI does.
    let cargo_opts = |opts: &[&str], extra: &[&str]| {
        opts.windows(2).any(|p| p == ["-p", "usage-connector"])
            && opts.iter().enumerate().all(|(i, o)| {
                ["--locked", "-q", "--quiet", "-p"].contains(o)
                    || extra.contains(o)
                    || (i > 0 && opts[i - 1] == "-p")
            })
    };
    match w.as_slice() {
        ["cargo", "run", rest @ ..] => match rest.iter().position(|&a| a == "--") {
            Some(dash) if cargo_opts(&rest[..dash], &[]) => {
                Form::Cli(rest[dash + 1..].iter().map(|s| (*s).to_owned()).collect())
            }
            None => match rest {
                [opts @ .., "--example", _] if cargo_opts(opts, &["--no-default-features"]) => {
                    Form::NotRun("cargo run --example")
                }
                _ => Form::Unknown,
            },
            _ => Form::Unknown,
        },
        ["cargo", "bench", "-p", _, "--bench", _] => Form::NotRun("cargo bench"),
        ["cargo", "install", "--locked", "--path", _] => Form::NotRun("cargo install --path"),
        ["bash", "scripts/test.sh"] => Form::NotRun("bash scripts/test.sh"),
        ["bash", "scripts/restate-demo.sh", ..] => Form::NotRun("bash scripts/restate-demo.sh"),
        _ => Form::Unknown,
    }
}

/// The subcommand of binary arguments (global `--path-override VALUE` skipped).
fn subcommand(args: &[String]) -> &str {
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') {
        i += if args[i] == "--path-override" { 2 } else { 1 };
    }
    args.get(i).map_or("", String::as_str)
}

/// A scratch copy of the repository: `schemas/` and `workflows/` copied (commands write there:
/// schema files, an ingest's journal beside its input), everything else linked; no
/// `credentials.json`, `.git`, `.usage-connector` or build output.
fn scratch_repo() -> PathBuf {
    let dir = common::scratch("readme-repo");
    for entry in std::fs::read_dir(root()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        let skip = [
            ".git",
            "target",
            "credentials.json",
            ".usage-connector",
            "schemas",
            "workflows",
        ];
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        std::os::unix::fs::symlink(&path, dir.join(&name)).unwrap();
    }
    copy_dir(&root().join("schemas"), &dir.join("schemas"));
    copy_dir(&root().join("workflows"), &dir.join("workflows"));
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A README `sandbox` line running; killed when dropped (a failing test leaves no process).
struct Server {
    child: Child,
    /// Kept open: the banner is written to it.
    _stdout: BufReader<ChildStdout>,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary for `line` with `args`, in `cwd`, with the line's environment only: the vendors'
/// API key variables of the test's own environment are removed.
fn command(line: &Line, args: &[String], cwd: &Path) -> std::process::Command {
    let mut cmd = common::bin();
    cmd.args(args).current_dir(cwd);
    for vendor in Vendor::ALL {
        cmd.env_remove(vendor.api_key_env());
    }
    cmd.envs(line.env.iter().map(|(k, v)| (k, v)));
    cmd
}

fn start_server(line: &Line, args: &[String], cwd: &Path) -> Server {
    let mut child = command(line, args, cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    stdout.read_line(&mut banner).unwrap();
    let url = banner
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{}: banner `{banner}`", line.text))
        .to_owned();
    Server {
        child,
        _stdout: stdout,
        url,
    }
}

fn run(line: &Line, args: &[String], cwd: &Path) -> Output {
    common::with_stdin(
        command(line, args, cwd),
        line.stdin.as_deref().unwrap_or(""),
    )
}

/// The README lines that show a failure, by an argument of theirs, with the exit code their
/// comment states.
const NOT_ZERO: &[(&str, i32)] = &[
    // "(here 1.2345 has 4 decimals: E-DECIMALS, exit 1)"
    (
        "tests/workflows/examples/rebilly-usage-placeholders.input.json",
        1,
    ),
];

/// The exit code a line should end with: 0, or its [`NOT_ZERO`] code (which its comment says).
fn expected_exit(line: &Line) -> i32 {
    let Some((_, code)) = NOT_ZERO
        .iter()
        .find(|(arg, _)| line.words.iter().any(|w| w == arg))
    else {
        return 0;
    };
    let said = format!("exit {code}");
    assert!(
        line.comment.as_deref().is_some_and(|c| c.contains(&said)),
        "{}: the README should say `{said}`",
        line.text
    );
    *code
}

/// What the README says of a command's output, beyond its exit code.
fn check_claims(line: &Line, args: &[String], out: &Output) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    let shown = format!("{}\nstdout:\n{stdout}\nstderr:\n{stderr}", line.text);
    match subcommand(args) {
        // "(= schemas/index.json)"
        "endpoints" if args.iter().any(|a| a == "json") => {
            let index = std::fs::read_to_string(root().join("schemas/index.json")).unwrap();
            assert!(stdout == index, "not schemas/index.json: {shown}");
        }
        // "prints each task as it runs and `Completed` with the workflow output"
        "run" => {
            assert!(stderr.contains("workflow Completed"), "{shown}");
            serde_json::from_str::<Value>(&stdout).expect("the workflow output is JSON");
        }
        // A code the comment names is reported.
        "validate" => {
            let comment = line.comment.as_deref().unwrap_or("");
            for code in comment
                .split(|c: char| !(c.is_ascii_uppercase() || c == '-'))
                .filter(|w| w.starts_with("E-") || w.starts_with("W-"))
            {
                assert!(stdout.contains(&format!("[{code}]")), "no {code}: {shown}");
            }
        }
        // "one task of a definition": the request it would send, the key as ***.
        "call" if args.iter().any(|a| a == "--dry-run") => {
            assert!(
                stdout.starts_with("POST https://") && stdout.contains(": ***"),
                "{shown}"
            );
            assert!(stdout.contains(r#""quantity":2.5"#), "{shown}");
        }
        // "bulk": every usage of the example file reaches the README's (fresh) sandbox, whatever
        // journal an earlier run left beside it.
        "ingest" => {
            assert!(stderr.contains("3 records: 3 created"), "{shown}");
        }
        // "prints: usage-connector VERSION (commit …)": the version, and the commit of a checkout
        // (the binary cargo built from this repository's checkout, when it has a .git).
        "" if args.iter().any(|a| a == "--version") => {
            let version = format!("usage-connector {}", env!("CARGO_PKG_VERSION"));
            assert!(stdout.starts_with(&version), "{shown}");
            if root().join(".git").exists() {
                assert!(stdout.contains("(commit "), "{shown}");
            }
        }
        // "a completion script": one that completes the subcommands.
        "completions" => {
            assert!(
                stdout.contains("usage-connector") && stdout.contains("ingest"),
                "{shown}"
            );
        }
        // "the man page (roff)".
        "man" => {
            assert!(stdout.contains(".TH usage-connector 1"), "{shown}");
            assert!(stdout.contains("completions"), "{shown}");
        }
        // "one call": the task output, the usage recorded.
        "call" => {
            let output: Value = serde_json::from_str(&stdout).expect("the task output is JSON");
            assert_eq!(output["outcome"], "created", "{shown}");
        }
        _ => {}
    }
}

#[test]
fn every_readme_command_runs_as_written() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines: Vec<Line> = sh_lines(&readme).iter().map(|l| parse(l)).collect();
    assert!(!lines.is_empty(), "no ```sh block in the README");
    let unknown: Vec<&str> = lines
        .iter()
        .filter(|l| form(l) == Form::Unknown)
        .map(|l| l.text.as_str())
        .collect();
    assert!(
        unknown.is_empty(),
        "README commands this test cannot check (run them here, or add a form to NOT_RUN with \
         the reason and a check):\n{}",
        unknown.join("\n")
    );
    let cwd = scratch_repo();

    // Servers first: they serve the lines that name 127.0.0.1:PORT.
    let mut servers = Vec::new();
    for line in &lines {
        if let Form::Cli(args) = form(line)
            && ["sandbox", "studio"].contains(&subcommand(&args))
        {
            servers.push(start_server(line, &args, &cwd));
        }
    }
    // "open the address it prints": the page with the token, nothing without it.
    for server in servers.iter().filter(|s| s.url.contains("?token=")) {
        let (status, page) = common::http_get(&server.url);
        assert_eq!(status, 200, "{}", server.url);
        assert!(page.contains("usage-connector studio"), "{page}");
        let bare = server.url.split("?token=").next().unwrap();
        assert_eq!(common::http_get(bare).0, 401, "{bare} without the token");
    }
    for line in &lines {
        let args = match form(line) {
            Form::Cli(args) if ["sandbox", "studio"].contains(&subcommand(&args)) => continue,
            Form::Cli(args) => args,
            Form::NotRun(key) => {
                assert!(NOT_RUN.iter().any(|(k, _)| *k == key));
                check_not_run(key, line);
                continue;
            }
            Form::Unknown => unreachable!(),
        };
        let args: Vec<String> = args
            .iter()
            .map(|a| match a.split_once("127.0.0.1:PORT") {
                Some((before, after)) => {
                    let server = servers
                        .first()
                        .unwrap_or_else(|| panic!("{}: no README sandbox line", line.text));
                    let addr = server.url.trim_start_matches("http://");
                    format!("{before}{addr}{after}")
                }
                None => a.clone(),
            })
            .collect();
        let out = run(line, &args, &cwd);
        assert_eq!(
            out.status.code(),
            Some(expected_exit(line)),
            "{}\nstdout:\n{}\nstderr:\n{}",
            line.text,
            text(&out.stdout),
            text(&out.stderr)
        );
        check_claims(line, &args, &out);
        // "(add --dry-run to only print it)"
        if line
            .comment
            .as_deref()
            .is_some_and(|c| c.contains("add --dry-run"))
        {
            let dry = [args.clone(), vec!["--dry-run".to_owned()]].concat();
            let out = run(line, &dry, &cwd);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            assert!(
                text(&out.stdout).starts_with("POST http://127.0.0.1:"),
                "{}",
                text(&out.stdout)
            );
        }
    }

    // "runs until interrupted (Ctrl-C)": SIGINT stops it cleanly.
    for mut server in servers {
        let pid = server.child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = server.child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{} after Ctrl-C", server.url);
    }
}

#[test]
fn lines_are_read_as_sh_reads_them() {
    let markdown = "text\n```sh\nA=1 B='x y' cargo run -- a \"b # c\" \\\n    'd|e' # note\n\n```\n```json\n{}\n```\n";
    let lines = sh_lines(markdown);
    assert_eq!(lines.len(), 1);
    let line = parse(&lines[0]);
    assert_eq!(
        line.env,
        [("A".into(), "1".into()), ("B".into(), "x y".into())]
    );
    assert_eq!(line.words, ["cargo", "run", "--", "a", "b # c", "d|e"]);
    assert_eq!(line.comment.as_deref(), Some("note"));
    let piped = parse("echo '{\"q\": 1}' | K=v cargo run -p usage-connector -- call x --body -");
    assert_eq!(piped.stdin.as_deref(), Some("{\"q\": 1}\n"));
    assert_eq!(piped.env, [("K".into(), "v".into())]);
    assert_eq!(
        form(&piped),
        Form::Cli(["call", "x", "--body", "-"].map(String::from).to_vec())
    );
    assert_eq!(form(&parse("cargo install usage-connector")), Form::Unknown);
    assert_eq!(form(&parse("curl http://x")), Form::Unknown);
}
