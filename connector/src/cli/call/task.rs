//! `usage-connector call --task DEFINITION#TASK`: one task of a definition, the way Step
//! Functions' TestState runs one state: with the input it would receive (the workflow input
//! for a start task, or `--state-input` for a mid-workflow state), through the runner's data
//! passing and the executor. It shows the resolved request, each attempt and the answer.
//!
//! Policy: the definition must validate (as for `run`); the task must be an Http task. A dry
//! run needs no credentials: a missing secret is shown as `***` with a note.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use usage_connector::catalog::Catalog;
use usage_connector::credentials::{Credential, Secret};
use usage_connector::execute::{ErrorCode, Executor, RunInfo, TaskContext};
use usage_connector::preflight::{InputSchema, Preflight};
use usage_connector::simworkflow::Task;
use usage_connector::validators::Validators;

use crate::cli::Failure;
use crate::cli::shared::task_args::find;

/// What `call --task` is given.
pub struct TaskCall<'a> {
    /// `DEFINITION#TASK`.
    pub spec: &'a str,
    /// The workflow input (`--input`).
    pub input: Option<&'a str>,
    /// The task's own input (`--state-input`).
    pub state_input: Option<&'a str>,
    /// `--server`.
    pub server: Option<&'a str>,
    /// `--credentials`.
    pub credentials: Option<&'a Path>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--workflow-id`, `--journal`, `--usage-identity`.
    pub execution: &'a crate::cli::shared::execution::ExecutionArgs,
}

/// Runs one task; prints the TestState-like report `{input, request, result, output}`.
#[allow(clippy::print_stderr)]
pub fn run(catalog: &Catalog, call: TaskCall<'_>) -> Result<String, Failure> {
    let (path, name) = call
        .spec
        .rsplit_once('#')
        .context("--task expects DEFINITION#TASK, e.g. workflows/charge-then-usage.json#Charge")?;
    let validators = Arc::new(Validators::new(catalog).context("compiling schemas")?);
    let read = crate::cli::shared::definition::read_definition(Path::new(path), &validators)?;
    let definition = &read.definition;
    let (task, entry) = find(definition, name)?;
    let workflow_input = crate::cli::shared::definition::input(call.input)?;
    let raw = match (call.state_input, entry) {
        (Some(state), _) => crate::cli::shared::definition::input(Some(state))?,
        (None, true) => workflow_input.clone(),
        (None, false) => {
            return Err(anyhow::anyhow!(
                "task `{name}` receives the output of earlier tasks, not the workflow input: give what it receives with --state-input (e.g. from `run --trace` or an earlier task's output)"
            )
            .into());
        }
    };
    // Pre-flight: a given workflow input against inputSchema, before anything is prepared.
    let problems = match call.input {
        Some(_) => InputSchema::problems(definition, &workflow_input),
        None => Vec::new(),
    };
    if !problems.is_empty() {
        let found = Preflight {
            problems,
            ..Preflight::default()
        };
        let report = usage_connector::validate::preflight_report(&read.shown, &read.source, &found);
        for d in &report.diagnostics {
            eprint!("{}", d.render(report.source.as_deref()));
        }
        return Err(Failure::invalid(anyhow::anyhow!(
            "the workflow input fails the definition's inputSchema; nothing was sent"
        )));
    }
    let endpoint = validators
        .endpoints_for_url(&task.http_request.url)
        .into_iter()
        .next();
    let mut credentials = crate::cli::shared::credentials::load(call.credentials)?;
    crate::cli::shared::credentials::fill_from_env(&mut credentials, [task], &validators);
    if let (Some(id), Some(ep)) = (&task.credentials, endpoint)
        && !credentials.contains(id)
        && call.dry_run
    {
        eprintln!(
            "note: no credentials `{id}` found (docs/credentials.md): the dry run shows where its {} would go",
            ep.key_header()
        );
        credentials.insert(
            id.clone(),
            Credential {
                header: ep.key_header().to_owned(),
                value: Secret::new("***"),
                platform_id: None,
            },
        );
    }
    let workflow_id = call.execution.workflow_id("call");
    let executor = call.execution.apply(
        Executor::new(credentials).with_validators(validators.clone()),
        &workflow_id,
        call.dry_run,
    )?;
    let mut executor = executor.with_progress(Arc::new(crate::cli::shared::lines::retry_line));
    if let (Some(server), Some(ep)) = (call.server, endpoint) {
        executor = executor.with_server(ep.vendor, server);
    }
    let ctx = TaskContext {
        run: Some(Arc::new(RunInfo {
            input: workflow_input,
            definition: definition.name.clone(),
            sequence: None,
        })),
        ..TaskContext::new(workflow_id, name)
    };
    let task_enum = Task::Http(task.clone());
    let shown = |e: usage_connector::execute::TaskError| {
        Failure::data(format!(
            "{}\n",
            serde_json::to_string_pretty(&e).expect("errors serialize")
        ))
    };
    let input = ctx
        .data()
        .input(task.input_parameters.as_ref(), &raw)
        .map_err(shown)?;
    let prepared = executor.prepare(task, &input, &ctx);
    if call.dry_run {
        return prepared
            .map(|p| p.render_redacted())
            .map_err(|e| match e.code {
                ErrorCode::MissingCredentials => anyhow::anyhow!("{}", e.message).into(),
                _ => shown(e),
            });
    }
    match &prepared {
        Ok(p) => eprintln!("[  Started] {name}\n{}", p.render_redacted().trim_end()),
        Err(e) if e.code == ErrorCode::MissingCredentials => {
            let var = endpoint
                .filter(|ep| task.credentials.as_deref() == Some(ep.vendor.as_str()))
                .map_or(String::new(), |ep| {
                    format!(" or set {}", ep.vendor.api_key_env())
                });
            return Err(anyhow::anyhow!(
                "{}: add the entry to the credentials file (--credentials){var} (docs/credentials.md)",
                e.message
            )
            .into());
        }
        Err(_) => {}
    }
    let request = prepared.ok().map(|p| {
        json!({"method": p.method, "url": p.url.as_str(),
               "headers": p.redacted_headers().collect::<std::collections::BTreeMap<_, _>>(),
               "body": p.body_json()})
    });
    let runtime = crate::cli::runtime()?;
    let result = runtime.block_on(executor.execute_http(task, &input, &ctx));
    let result = match result {
        Ok(out) => {
            eprintln!("[Completed] {name}: {}", out.outcome);
            out
        }
        Err(e) => {
            eprintln!("[   Failed] {name}: {}", e.code);
            if let Some(hint) = crate::cli::shared::execution::replay_hint(
                &e,
                "command",
                &call.execution.journal_path(&ctx.workflow_id),
            ) {
                eprintln!("{hint}");
            }
            return Err(shown(e));
        }
    };
    let result = serde_json::to_value(&result).expect("outputs serialize");
    let output = ctx
        .data()
        .output(&task_enum, raw, result.clone())
        .map_err(shown)?;
    let report = json!({"input": input, "request": request, "result": result, "output": output});
    Ok(format!(
        "{}\n",
        serde_json::to_string_pretty(&report).expect("reports serialize")
    ))
}
