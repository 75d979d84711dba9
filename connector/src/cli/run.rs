//! `usage-connector run`: validate a definition, check the run before its first write
//! (pre-flight), then run it with the local runner, on an embedded sandbox unless servers are
//! given (`session.rs`, which `resume` shares).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use usage_connector::catalog::Catalog;
use usage_connector::journal::RunRecord;
use usage_connector::runner::TaskEvent;
use usage_connector::simworkflow::WorkflowDefinition;
use usage_connector::validate::{Severity, validate_definition};
use usage_connector::validators::Validators;

use super::Failure;

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The workflow definition (JSON), or `-` for standard input.
    workflow: PathBuf,
    /// Workflow input: a JSON file, or JSON text.
    #[arg(long, value_name = "FILE|JSON")]
    input: Option<String>,
    /// Send a vendor's calls to URL (repeatable), e.g. rebilly=http://127.0.0.1:8080. With
    /// any --server there is no embedded sandbox: a vendor without one is called at its own
    /// sandbox server. A task's `credentials` id is read from --credentials /
    /// ./credentials.json; the ids `solvimon` and `rebilly` may instead come from
    /// SOLVIMON_API_KEY / REBILLY_API_KEY.
    #[arg(long = "server", value_name = "VENDOR=URL")]
    servers: Vec<String>,
    /// Credentials file (default ./credentials.json if present). On the embedded sandbox its
    /// ids get the sandbox's dev keys.
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// Write every request and response as JSON lines (secrets as ***).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Serve metrics in Prometheus text format on ADDR (e.g. 127.0.0.1:9464) while the run
    /// lasts: requests, refusals, retries, outcomes, latency (docs/operations.md).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
    #[command(flatten)]
    execution: super::execution::ExecutionArgs,
}

/// One line per retry: what failed, the wait and the rule that set it.
#[allow(clippy::print_stderr)]
pub fn retry_line(n: &usage_connector::execute::RetryNotice) {
    let what = match (&n.status, &n.error) {
        (Some(status), _) => format!("HTTP {status}"),
        (None, Some(error)) => error.clone(),
        (None, None) => "no answer".to_owned(),
    };
    eprintln!(
        "[    Retry] {} attempt {}: {what}; next in {:.1} s ({})",
        n.task,
        n.attempt,
        n.delay.as_secs_f64(),
        n.rule
    );
}

/// One progress line as a task starts and one as it ends.
#[allow(clippy::print_stderr)]
pub fn progress(e: &TaskEvent) {
    if e.status == "Started" {
        eprintln!("[{:>9}] {} ({})", e.status, e.task, e.kind);
        return;
    }
    let attempts = if e.kind == "Http" && e.status != "Reused" {
        format!(", {} attempt(s)", e.attempts)
    } else {
        String::new()
    };
    let detail = e
        .detail
        .as_ref()
        .map(|d| format!(", {d}"))
        .unwrap_or_default();
    eprintln!(
        "[{:>9}] {} ({}) {} ms{attempts}{detail}",
        e.status, e.task, e.kind, e.duration_ms
    );
}

/// Reads the definition (a file, or `-` for standard input), refusing one with errors
/// (nothing runs).
pub fn definition(
    path: &std::path::Path,
    validators: &Validators,
) -> Result<WorkflowDefinition, Failure> {
    read_definition(path, validators).map(|d| d.definition)
}

/// A definition read and validated, with its text (for showing where a problem is).
pub struct Read {
    /// The definition.
    pub definition: WorkflowDefinition,
    /// As JSON (what a run journal records).
    pub value: serde_json::Value,
    /// Its text.
    pub source: String,
    /// Its name in messages (the path, or `<stdin>`).
    pub shown: String,
}

/// Reads the definition (a file, or `-` for standard input) and validates it.
pub fn read_definition(path: &std::path::Path, validators: &Validators) -> Result<Read, Failure> {
    let bytes = if path.as_os_str() == "-" {
        super::files::read_at_most(std::io::stdin().lock(), "the definition on stdin")?
    } else {
        super::files::read_limited(path, "definition")?
    };
    let shown = if path.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    };
    checked(&shown, &bytes, validators)
}

/// `bytes`, a definition named `shown`, validated.
pub fn checked(shown: &str, bytes: &[u8], validators: &Validators) -> Result<Read, Failure> {
    let report = validate_definition(shown, bytes, validators, None);
    if report.has_errors() {
        let text: String = report
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.render(report.source.as_deref()))
            .collect();
        return Err(Failure::invalid(anyhow::anyhow!(
            "{shown} is not a valid workflow definition:\n{text}"
        )));
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).context("reading the definition")?;
    Ok(Read {
        definition: serde_json::from_value(value.clone()).context("reading the definition")?,
        value,
        source: String::from_utf8_lossy(bytes).into_owned(),
        shown: shown.to_owned(),
    })
}

/// The workflow input: JSON text, a file, or `{}`.
pub fn input(arg: Option<&str>) -> anyhow::Result<serde_json::Value> {
    match arg {
        None => Ok(serde_json::json!({})),
        Some(text) if text.trim_start().starts_with(['{', '[']) => {
            super::files::parse_json(text.as_bytes(), "--input")
        }
        Some(path) => super::files::read_json(std::path::Path::new(path), "input"),
    }
}

/// Validates the definition, checks the run before its first write, and runs it; prints the
/// workflow output.
pub fn run(catalog: &Catalog, args: Args) -> Result<String, Failure> {
    // One compiled set of validators serves validation, pre-flight and the executor.
    let validators = Arc::new(Validators::new(catalog).context("compiling schemas")?);
    let read = read_definition(&args.workflow, &validators)?;
    if let Some(addr) = args.metrics {
        usage_connector::telemetry::serve(addr).map_err(anyhow::Error::from)?;
    }
    let input = input(args.input.as_deref())?;
    let workflow_id = args.execution.workflow_id("run");
    let record = RunRecord {
        definition: read.value.clone(),
        definition_path: (args.workflow.as_os_str() != "-")
            .then(|| args.workflow.display().to_string()),
        input,
        servers: super::session::servers(&args.servers)?,
        credentials_file: super::credentials::file(args.credentials.as_deref())
            .map(|p| p.display().to_string()),
        usage_identity: Some(args.execution.usage_identity_name().to_owned()),
    };
    super::session::execute(super::session::Session {
        validators,
        read,
        record,
        journal: args.execution.journal_path(&workflow_id),
        workflow_id,
        recorded: Default::default(),
        trace: args.trace,
    })
}
