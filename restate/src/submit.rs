//! `usage-restate submit` and `usage-restate resume`: runs on Restate through its ingress.
//!
//! Policy: a definition is validated and the run checked (pre-flight: `inputSchema`, every
//! request the input resolves, through the connector's one prepare path) before anything is
//! submitted; the service checks it again with its credentials before the first write. A run
//! that fails in a task ends with `to resume: COMMAND`. A resume is a new attempt of the same
//! execution under the workflow key `ID~N`: it carries what the earlier attempts recorded
//! (their state, read through `UsageWorkflow/{key}/attempt`), so completed tasks are reused and
//! the failed one keeps its identity.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use usage_connector::catalog::Catalog;
use usage_connector::journal::Recorded;
use usage_connector::preflight::{self, Subject};
use usage_connector::prepare::{Router, ValidatorSet};
use usage_connector::simworkflow::WorkflowDefinition;
use usage_connector::validate::{preflight_report, validate_definition};
use usage_connector::validators::Validators;
use usage_restate::{Attempt, RunReply, RunRequest};

/// Arguments of `submit`.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The workflow definition (JSON file).
    workflow: PathBuf,
    /// Workflow input: a JSON file, or JSON text.
    #[arg(long, value_name = "FILE|JSON")]
    input: Option<String>,
    /// The execution id (the workflow key; every derived identity comes from it).
    #[arg(long)]
    id: String,
    /// Restate's ingress URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    ingress: String,
}

/// Arguments of `resume`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The execution id the run was submitted under.
    id: String,
    /// Restate's ingress URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    ingress: String,
    /// Run this definition (edited) instead of the one the run recorded; refused when it
    /// would change the request of a task that completed.
    #[arg(long, value_name = "FILE")]
    definition: Option<PathBuf>,
}

/// A definition file read and validated (diagnostics on stderr when it has errors).
#[allow(clippy::print_stderr)]
fn definition(path: &PathBuf, validators: &Validators) -> anyhow::Result<Option<(Value, String)>> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let shown = path.display().to_string();
    let report = validate_definition(&shown, &text, validators, None);
    if report.has_errors() {
        for d in &report.diagnostics {
            eprintln!("{}", d.render(report.source.as_deref()));
        }
        return Ok(None);
    }
    Ok(Some((
        serde_json::from_slice(&text)?,
        String::from_utf8_lossy(&text).into_owned(),
    )))
}

/// The run's pre-flight here (no credentials: the service checks those), as execution
/// `execution_id` numbered `sequence` (a new run's number is the service's to give: any number
/// prepares alike); `false` when it found problems (shown on stderr).
#[allow(clippy::print_stderr)]
fn preflight_passes(
    validators: &Validators,
    (definition, source, shown): (&Value, &str, &str),
    input: &Value,
    (execution_id, sequence): (&str, Option<u64>),
    recorded: &BTreeMap<String, Recorded>,
) -> anyhow::Result<bool> {
    let typed: WorkflowDefinition = serde_json::from_value(definition.clone())?;
    let router = Router::new(ValidatorSet::Borrowed(validators));
    let found = preflight::check(
        &Subject {
            definition: &typed,
            input,
            workflow_id: execution_id,
            now: chrono::Utc::now(),
            recorded,
            sequence: sequence.or(Some(usage_connector::validate::VALIDATE_SEQUENCE)),
        },
        &router,
    );
    if found.passed() {
        return Ok(true);
    }
    let report = preflight_report(shown, source, &found);
    for d in &report.diagnostics {
        eprint!("{}", d.render(report.source.as_deref()));
    }
    eprintln!(
        "error: pre-flight found {} problem(s) before the run's first write; nothing was submitted",
        report.diagnostics.len()
    );
    Ok(false)
}

fn input(arg: Option<&str>) -> anyhow::Result<Value> {
    Ok(match arg {
        None => json!({}),
        Some(s) if s.trim_start().starts_with(['{', '[']) => {
            serde_json::from_str(s).context("--input is not JSON")?
        }
        Some(path) => serde_json::from_slice(
            &std::fs::read(path).with_context(|| format!("reading input {path}"))?,
        )
        .with_context(|| format!("input {path} is not JSON"))?,
    })
}

/// `submit`: validate, pre-flight, run, print the output.
#[allow(clippy::print_stderr)]
pub async fn submit(args: SubmitArgs) -> anyhow::Result<u8> {
    anyhow::ensure!(
        !args.id.contains('~'),
        "--id: `~` is kept for the attempts of a resumed run (ID~2, ID~3, …); choose an id without it"
    );
    let validators = Validators::new(&Catalog::builtin()).context("compiling schemas")?;
    let Some((definition, source)) = definition(&args.workflow, &validators)? else {
        return Ok(1);
    };
    let input = input(args.input.as_deref())?;
    let shown = args.workflow.display().to_string();
    let none = BTreeMap::new();
    if !preflight_passes(
        &validators,
        (&definition, &source, &shown),
        &input,
        (&args.id, None),
        &none,
    )? {
        return Ok(1);
    }
    let client = reqwest::Client::new();
    let request = RunRequest {
        definition,
        input,
        execution_id: None,
        recorded: BTreeMap::new(),
        sequence: None,
    };
    let reply = run(&client, &args.ingress, &args.id, &request).await?;
    Ok(report(&reply, &args.id, &args.ingress))
}

/// Submits `request` as workflow `key` and waits for its reply (the first run's, when `key`
/// ran before).
#[allow(clippy::print_stderr)]
async fn run(
    client: &reqwest::Client,
    ingress: &str,
    key: &str,
    request: &RunRequest,
) -> anyhow::Result<RunReply> {
    let base = ingress.trim_end_matches('/');
    let answer = client
        .post(format!("{base}/UsageWorkflow/{}/run", urlencode(key)))
        .json(request)
        .send()
        .await
        .with_context(|| format!("submitting to {ingress}"))?;
    let mut status = answer.status();
    let mut body = answer.text().await.context("reading the answer")?;
    if status == reqwest::StatusCode::CONFLICT {
        // This key ran (or runs) already: its result, not a second run.
        eprintln!("note: execution {key} was submitted before; its result:");
        let answer = client
            .get(format!(
                "{base}/restate/workflow/UsageWorkflow/{}/attach",
                urlencode(key)
            ))
            .send()
            .await
            .with_context(|| format!("attaching to {key}"))?;
        status = answer.status();
        body = answer.text().await.context("reading the answer")?;
    }
    if !status.is_success() {
        bail!("Restate answered {status}: {body}");
    }
    serde_json::from_str(&body).context("reading the run's result")
}

/// Prints a run's reply (the resume command when a task failed); its exit code.
#[allow(clippy::print_stdout, clippy::print_stderr)]
fn report(reply: &RunReply, id: &str, ingress: &str) -> u8 {
    eprintln!("workflow {} ({id})", reply.status);
    let failed_task = reply.output.get("code").is_some() && reply.output.get("problems").is_none();
    if reply.status == "Failed" && failed_task {
        let program = std::env::args()
            .next()
            .unwrap_or_else(|| "usage-restate".to_owned());
        eprintln!("to resume: {program} resume {id} --ingress {ingress}");
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&reply.output).unwrap_or_default()
    );
    u8::from(reply.status != "Completed")
}

/// The workflow key of attempt `n` of execution `id`: `id`, then `id~2`, `id~3`, …
fn key(id: &str, n: u32) -> String {
    if n == 1 {
        id.to_owned()
    } else {
        format!("{id}~{n}")
    }
}

/// The latest attempt of execution `id` and its number, if it ran.
async fn latest(
    client: &reqwest::Client,
    ingress: &str,
    id: &str,
) -> anyhow::Result<Option<(u32, Attempt)>> {
    let base = ingress.trim_end_matches('/');
    let mut found = None;
    for n in 1u32.. {
        let answer = client
            .post(format!(
                "{base}/UsageWorkflow/{}/attempt",
                urlencode(&key(id, n))
            ))
            .send()
            .await
            .with_context(|| format!("reading run {id} from {ingress}"))?;
        let status = answer.status();
        let body = answer.text().await.context("reading the answer")?;
        if !status.is_success() {
            bail!("Restate answered {status}: {body}");
        }
        match serde_json::from_str::<Option<Attempt>>(&body).context("reading the attempt")? {
            Some(attempt) => found = Some((n, attempt)),
            None => break,
        }
    }
    Ok(found)
}

/// `resume`: the next attempt of a failed run.
#[allow(clippy::print_stderr)]
pub async fn resume(args: ResumeArgs) -> anyhow::Result<u8> {
    let client = reqwest::Client::new();
    let Some((n, attempt)) = latest(&client, &args.ingress, &args.id).await? else {
        eprintln!("error: no run `{}` on {}", args.id, args.ingress);
        return Ok(1);
    };
    match attempt.status.as_str() {
        "Completed" => {
            eprintln!(
                "error: run `{}` completed: there is nothing to resume",
                args.id
            );
            return Ok(1);
        }
        "Running" => {
            eprintln!(
                "error: run `{}` is still running (attempt {}): Restate finishes it; wait for it with `submit` (the same id) or resume it once it failed",
                args.id,
                key(&args.id, n)
            );
            return Ok(1);
        }
        _ => {}
    }
    let validators = Validators::new(&Catalog::builtin()).context("compiling schemas")?;
    let (definition, source, shown) = match &args.definition {
        Some(path) => match definition(path, &validators)? {
            Some((value, source)) => (value, source, path.display().to_string()),
            None => return Ok(1),
        },
        None => {
            let source = serde_json::to_string_pretty(&attempt.definition)?;
            (
                attempt.definition.clone(),
                source,
                "<recorded definition>".to_owned(),
            )
        }
    };
    if !preflight_passes(
        &validators,
        (&definition, &source, &shown),
        &attempt.input,
        (&attempt.execution_id, attempt.sequence),
        &attempt.recorded,
    )? {
        return Ok(1);
    }
    let next = key(&args.id, n + 1);
    eprintln!(
        "resuming {} as attempt {next} ({} task(s) recorded)",
        args.id,
        attempt
            .recorded
            .values()
            .filter(|r| r.output.is_some())
            .count()
    );
    let request = RunRequest {
        definition,
        input: attempt.input,
        execution_id: Some(attempt.execution_id),
        recorded: attempt.recorded,
        sequence: attempt.sequence,
    };
    let reply = run(&client, &args.ingress, &next, &request).await?;
    Ok(report(&reply, &args.id, &args.ingress))
}

/// `id` as one URL path segment.
fn urlencode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
