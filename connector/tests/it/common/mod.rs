//! What the connector's integration tests share: paths of the repository, the binary, the
//! corpus and samples with their example inputs, and an executor wired to a loopback sandbox
//! with the sandbox's own dev keys (sandbox helpers: the `usage-test-support` crate).

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use serde_json::json;
use usage_connector::catalog::{Catalog, Vendor};
use usage_connector::execute::{Credential, Credentials, Executor, Secret};
use usage_connector::simworkflow::HttpTask;
pub use usage_test_support::Sandbox;

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The folder this test process's runs keep their journals in (a new one per test process,
/// so no run recalls another's executions; never the repository's `.usage-connector`).
pub fn state_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("state-{}", std::process::id()))
}

/// A child process killed when dropped, so a failing test leaves no process behind.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A studio on `dir` (`studio DIR` + `args`, with `env`), started: the process, the page's
/// base URL and its token (from the first line it prints). Blocks while it starts.
pub fn studio(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Proc, String, String) {
    use std::io::BufRead;
    let mut command = bin();
    command
        .arg("studio")
        .arg(dir)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut studio = Proc(command.spawn().unwrap());
    let stdout = studio.0.stdout.take().unwrap();
    let mut first = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut first)
        .unwrap();
    let page = first.trim().trim_start_matches("listening on ");
    let (base, token) = page
        .split_once("/?token=")
        .unwrap_or_else(|| panic!("a page address with its token: {first:?}"));
    (studio, base.to_owned(), token.to_owned())
}

/// The execution id in the resume command a failed run printed on `stderr`.
pub fn resume_id(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.split_once(" resume ").map(|(_, id)| id.trim().to_owned()))
        .unwrap_or_else(|| panic!("no resume command in:\n{stderr}"))
}

/// The binary, ready for arguments; its run journals go in [`state_dir`].
pub fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_usage-connector"));
    command.env("USAGE_CONNECTOR_STATE_DIR", state_dir());
    command
}

/// `ingest FILE --endpoint rebilly.create-usage` against `sandbox` with `extra` arguments,
/// its key in the vendor's variable and no standard input, ready to run.
pub fn rebilly_ingest(sandbox: &Sandbox, file: &Path, extra: &[&str]) -> Command {
    let mut command = bin();
    command
        .arg("ingest")
        .arg(file)
        .args(["--endpoint", "rebilly.create-usage", "--server"])
        .arg(sandbox.url())
        .args(extra)
        .env("REBILLY_API_KEY", sandbox.dev_key("rebilly"))
        .stdin(Stdio::null());
    command
}

/// Runs the binary with `args`.
pub fn run_bin(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

/// Runs `command` with `stdin` written to its standard input and its output captured. A
/// command that exits before reading (a usage error) closes the pipe: that is not a failure
/// here, the exit status tells.
pub fn with_stdin(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let written = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    if let Err(e) = written {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing standard input: {e}"
        );
    }
    child.wait_with_output().unwrap()
}

/// Lossy text of an output stream.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh scratch directory under cargo's per-target temp dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The `*.json` files directly in `dir`, sorted.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// The validation corpus: `tests/workflows/<kind>/*.json`.
pub fn corpus(kind: &str) -> Vec<PathBuf> {
    json_files(&root().join("tests/workflows").join(kind))
}

/// The example input of a definition: `examples/<stem>.input.json` next to it, if present.
pub fn example_input(definition: &Path) -> Option<PathBuf> {
    let stem = definition.file_stem()?.to_string_lossy().into_owned();
    let dir = definition.parent()?;
    let candidates = [
        dir.join("examples").join(format!("{stem}.input.json")),
        dir.parent()?
            .join("examples")
            .join(format!("{stem}.input.json")),
    ];
    candidates.into_iter().find(|p| p.exists())
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Credentials `solvimon` and `rebilly` holding the sandbox's dev keys in the catalog's key
/// headers (the Solvimon entry with a platform id, so `x-platform-id` is exercised).
pub fn credentials(sandbox: &Sandbox) -> Credentials {
    let catalog = Catalog::builtin();
    let mut c = Credentials::new();
    for vendor in Vendor::ALL {
        c.insert(
            vendor.as_str(),
            Credential {
                header: catalog.first_of(vendor).key_header().to_owned(),
                value: Secret::new(sandbox.dev_key(vendor.as_str())),
                platform_id: (vendor == Vendor::Solvimon).then(|| "plat_test".to_owned()),
            },
        );
    }
    c
}

/// An executor sending both vendors to `sandbox` with [`credentials`].
pub fn executor(sandbox: &Sandbox) -> Executor {
    let mut executor = Executor::new(credentials(sandbox));
    for vendor in Vendor::ALL {
        executor = executor.with_server(vendor, &sandbox.url());
    }
    executor
}

/// An Http task from JSON.
pub fn task(value: Value) -> HttpTask {
    serde_json::from_value(value).unwrap()
}

/// A Rebilly usage task (retrying fast, no jitter) with `extra` fields set on it.
pub fn usage_task(extra: Value) -> HttpTask {
    let mut t = json!({
        "credentials": "rebilly", "end": true,
        "retry": {"intervalSeconds": 0, "maxAttempts": 30, "backoffRate": 1, "jitter": "none"},
        "httpRequest": {"url": "https://api-sandbox.rebilly.com/usages", "method": "POST",
                        "body": {"subscriptionId": "${$.subscription}", "quantity": "${$.quantity}", "usageTime": "${$.usageTime}"}}
    });
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    task(t)
}

/// `GET url` over a plain connection: the status and the body.
pub fn http_get(url: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}
