//! `usage-connector run`: validate a definition, then run it with the local runner, on an
//! embedded sandbox unless servers are given.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use usage_connector::catalog::{Catalog, Vendor};
use usage_connector::credentials::{Credential, Credentials, Secret};
use usage_connector::execute::Executor;
use usage_connector::runner::{RunStatus, Runner, TaskEvent};
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
    /// ./credentials.json, else from its vendor's SOLVIMON_API_KEY / REBILLY_API_KEY.
    #[arg(long = "server", value_name = "VENDOR=URL")]
    servers: Vec<String>,
    /// Credentials file (with --server).
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// Write every request and response as JSON lines (secrets as ***).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
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

/// Reads the definition (a file, or `-` for standard input), refusing one with errors
/// (nothing runs).
pub fn definition(
    path: &std::path::Path,
    validators: &Validators,
) -> Result<WorkflowDefinition, Failure> {
    let bytes = if path.as_os_str() == "-" {
        super::files::read_at_most(std::io::stdin().lock(), "the definition on stdin")?
    } else {
        super::files::read_limited(path, "definition")?
    };
    let report = validate_definition(&path.display().to_string(), &bytes, validators, None);
    if report.has_errors() {
        let text: String = report
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.render(report.source.as_deref()))
            .collect();
        return Err(Failure::invalid(anyhow::anyhow!(
            "{} is not a valid workflow definition:\n{text}",
            path.display()
        )));
    }
    Ok(serde_json::from_slice(&bytes).context("reading the definition")?)
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

/// Credentials for every credentials id the definition's catalog Http tasks use: the running
/// sandbox's dev key for the task's vendor, in the catalog's key header.
fn sandbox_credentials(
    definition: &WorkflowDefinition,
    validators: &Validators,
    sandbox: &usage_sandbox::Running,
) -> anyhow::Result<Credentials> {
    let mut credentials = Credentials::new();
    for (_, task) in definition.http_tasks() {
        let endpoint = validators
            .endpoints_for_url(&task.http_request.url)
            .into_iter()
            .next();
        let (Some(id), Some(endpoint)) = (&task.credentials, endpoint) else {
            continue;
        };
        let key = sandbox
            .dev_key(endpoint.vendor.as_str())
            .with_context(|| format!("the embedded sandbox has no key for {}", endpoint.vendor))?;
        credentials.insert(
            id.clone(),
            Credential {
                header: endpoint.key_header().to_owned(),
                value: Secret::new(key.key.clone()),
                platform_id: None,
            },
        );
    }
    Ok(credentials)
}

/// An executor for `--server VENDOR=URL` items and the credentials file.
fn remote_executor(
    definition: &WorkflowDefinition,
    validators: &Arc<Validators>,
    args: &Args,
) -> anyhow::Result<Executor> {
    let mut credentials = super::credentials::load(args.credentials.as_deref())?;
    super::credentials::fill_from_env(
        &mut credentials,
        definition.http_tasks().into_iter().map(|(_, t)| t),
        validators,
    );
    let mut executor = Executor::new(credentials).with_validators(validators.clone());
    for item in &args.servers {
        let (vendor, url) = item
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--server expects VENDOR=URL, got `{item}`"))?;
        let vendor: Vendor = vendor
            .parse()
            .map_err(|e| anyhow::anyhow!("--server: {e}"))?;
        executor = executor.with_server(vendor, url);
    }
    Ok(executor)
}

/// Writes each exchange as a JSON line to `path`.
fn with_trace(executor: Executor, path: &PathBuf) -> anyhow::Result<Executor> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("creating trace {}", path.display()))?;
    let file = Mutex::new(std::io::BufWriter::new(file));
    Ok(executor.with_trace(Arc::new(move |record| {
        let mut f = file.lock().expect("trace file");
        let _ = writeln!(f, "{record}");
        let _ = f.flush();
    })))
}

/// One progress line as a task starts and one as it ends.
#[allow(clippy::print_stderr)]
pub fn progress(e: &TaskEvent) {
    if e.status == "Started" {
        eprintln!("[{:>9}] {} ({})", e.status, e.task, e.kind);
        return;
    }
    let attempts = if e.kind == "Http" {
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

/// Validates and runs the definition; prints the workflow output.
#[allow(clippy::print_stderr)]
pub fn run(catalog: &Catalog, args: Args) -> Result<String, Failure> {
    // One compiled set of validators serves validation and the executor.
    let validators = Arc::new(Validators::new(catalog).context("compiling schemas")?);
    let definition = definition(&args.workflow, &validators)?;
    let input = input(args.input.as_deref())?;
    let workflow_id = args.execution.workflow_id("run");
    let (status, text) = super::runtime()?.block_on(async {
        let mut sandbox = None;
        let mut executor = if args.servers.is_empty() {
            let running = usage_sandbox::start(usage_sandbox::Config::default())
                .await
                .context("starting the embedded sandbox")?;
            eprintln!("embedded sandbox on {} (no --server given)", running.url());
            let credentials = sandbox_credentials(&definition, &validators, &running)?;
            let mut executor = Executor::new(credentials).with_validators(validators.clone());
            for vendor in Vendor::ALL {
                executor = executor.with_server(vendor, &running.url());
            }
            sandbox = Some(running);
            executor
        } else {
            remote_executor(&definition, &validators, &args)?
        };
        executor = args
            .execution
            .apply(executor)?
            .with_progress(Arc::new(retry_line));
        if let Some(path) = &args.trace {
            executor = with_trace(executor, path)?;
        }
        let runner = Runner::new(Arc::new(executor)).on_task(progress);
        eprintln!("running {} ({workflow_id})", definition.name);
        let result = runner.run(&definition, input, &workflow_id).await;
        if let Some(s) = sandbox {
            s.shutdown().await;
        }
        eprintln!("workflow {:?}", result.status);
        if result.output["code"] == "OUTCOME_UNKNOWN" {
            eprintln!(
                "note: the outcome of task `{}` is unknown (its request may have been recorded). Run the same workflow again with --workflow-id {workflow_id} to resolve it: recorded requests are found, never recorded twice.",
                result.output["task"].as_str().unwrap_or_default()
            );
        }
        let text = format!(
            "{}\n",
            serde_json::to_string_pretty(&result.output).expect("outputs serialize")
        );
        anyhow::Ok((result.status, text))
    })?;
    match status {
        RunStatus::Completed => Ok(text),
        RunStatus::Failed => Err(Failure::data(text)),
    }
}
