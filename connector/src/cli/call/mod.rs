//! `usage-connector call`: one request to one endpoint, SimWorkflow's "Test request" from the
//! terminal, through the same prepare path and executor as a workflow run.

use std::path::PathBuf;

use usage_connector::catalog::{Catalog, EndpointId};
use usage_connector::execute::{ErrorCode, Executor, TaskContext};

use super::Failure;
use super::shared::task_args::{LimitArg, RoundingArg, endpoint_task};

mod task;

/// Arguments of `call`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Endpoint id, e.g. rebilly.create-usage (see `endpoints`).
    #[arg(required_unless_present = "task")]
    endpoint: Option<String>,
    /// Request body: a JSON file, or `-` for standard input.
    #[arg(
        long,
        value_name = "FILE|-",
        required_unless_present = "task",
        conflicts_with = "task"
    )]
    body: Option<String>,
    /// Run one Http task of a definition instead, TestState-style: DEFINITION#TASK. Prints
    /// `{input, request, result, output}` (the task input after inputParameters, the request as
    /// sent, the executor's output, what the task passes on).
    #[arg(
        long,
        value_name = "DEFINITION#TASK",
        conflicts_with_all = ["endpoint", "body", "credential", "api_version", "organization", "cost_prediction", "on_limit", "rounding"]
    )]
    task: Option<String>,
    /// With --task: the workflow input (JSON file or text); a start task receives it, and
    /// `$$.Execution.Input` reads it.
    #[arg(long, value_name = "FILE|JSON", requires = "task")]
    input: Option<String>,
    /// With --task: the input the task receives mid-workflow (JSON file or text), e.g. an
    /// earlier task's output.
    #[arg(long, value_name = "FILE|JSON", requires = "task")]
    state_input: Option<String>,
    /// Send to this base URL instead of the vendor's sandbox server (e.g. a local sandbox).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Credentials file (JSON: {ID: {header, env, prefix?, platformId?}}).
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// Credentials entry to use.
    #[arg(long, value_name = "ID")]
    credential: Option<String>,
    /// Print the exact HTTP request (secrets as ***) and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// API version in the path (endpoints with a `{version}` path parameter): 1, the one the
    /// catalog has schemas for.
    #[arg(long, default_value = "1")]
    api_version: String,
    /// Organization (endpoints with an optional `/organizations/{organizationId}` prefix).
    #[arg(long, value_name = "ID")]
    organization: Option<String>,
    /// Ask for a cost prediction (endpoints with a `cost_prediction` query parameter).
    #[arg(long)]
    cost_prediction: bool,
    /// Usage reports: over the usage limit, reject or accept what is left.
    #[arg(long, value_enum)]
    on_limit: Option<LimitArg>,
    /// Usage reports: quantities with more than 3 decimals are rejected or rounded half-even.
    #[arg(long, value_enum)]
    rounding: Option<RoundingArg>,
    #[command(flatten)]
    execution: crate::cli::shared::execution::ExecutionArgs,
}

/// The body: reading it is an I/O matter (exit 2); what it holds (not JSON, a key twice) makes
/// the input invalid (exit 1), as `validate` says of a definition.
fn read_body(arg: &str) -> Result<serde_json::Value, Failure> {
    let (bytes, what) = if arg == "-" {
        let what = "the body on stdin".to_owned();
        (
            crate::cli::shared::files::read_at_most(std::io::stdin().lock(), &what)?,
            what,
        )
    } else {
        let path = std::path::Path::new(arg);
        (
            crate::cli::shared::files::read_limited(path, "body")?,
            format!("body {arg}"),
        )
    };
    crate::cli::shared::files::parse_json(&bytes, &what).map_err(Failure::invalid)
}

/// Prepares and (unless a dry run) sends the call; prints its output or error JSON.
#[allow(clippy::print_stderr)]
pub fn run(catalog: &Catalog, args: Args) -> Result<String, Failure> {
    if let Some(spec) = &args.task {
        return task::run(
            catalog,
            task::TaskCall {
                spec,
                input: args.input.as_deref(),
                state_input: args.state_input.as_deref(),
                server: args.server.as_deref(),
                credentials: args.credentials.as_deref(),
                dry_run: args.dry_run,
                execution: &args.execution,
            },
        );
    }
    let id: EndpointId = args
        .endpoint
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(anyhow::Error::from)?;
    let endpoint = catalog.get(id);
    let body = read_body(args.body.as_deref().unwrap_or("-"))?;
    let mut credentials = crate::cli::shared::credentials::load(args.credentials.as_deref())?;
    let credential = match crate::cli::shared::credentials::for_call(
        catalog,
        endpoint.vendor,
        args.credential.clone(),
        &mut credentials,
    ) {
        Ok(id) => id,
        // A dry run shows where the key goes without one.
        Err(e) if args.dry_run => {
            eprintln!("note: {e}; the dry run shows where the key would go");
            let id = endpoint.vendor.as_str().to_owned();
            credentials.insert(
                id.clone(),
                usage_connector::credentials::Credential {
                    header: endpoint.key_header().to_owned(),
                    value: usage_connector::credentials::Secret::new("***"),
                    platform_id: None,
                },
            );
            id
        }
        Err(e) => return Err(e.into()),
    };
    let mut params = vec![("version", args.api_version.as_str())];
    if let Some(org) = &args.organization {
        params.push(("organizationId", org));
    }
    let query: &[(&str, &str)] = if args.cost_prediction {
        &[("cost_prediction", "true")]
    } else {
        &[]
    };
    let url = endpoint
        .url_for(&params, query)
        .map_err(|e| anyhow::anyhow!(e))?;
    let executor = Executor::new(credentials)
        .with_catalog(catalog)
        .map_err(anyhow::Error::from)?;
    let workflow_id = args.execution.workflow_id("call");
    let executor = args.execution.apply(executor, &workflow_id, args.dry_run)?;
    let mut executor =
        executor.with_progress(std::sync::Arc::new(crate::cli::shared::lines::retry_line));
    if let Some(server) = &args.server {
        executor = executor.with_server(endpoint.vendor, server);
    }
    let task = endpoint_task(url, credential, body, args.on_limit, args.rounding);
    let ctx = TaskContext::new(workflow_id, "call");
    let input = serde_json::Value::Object(serde_json::Map::new());
    let result = if args.dry_run {
        executor
            .prepare(&task, &input, &ctx)
            .map(|p| p.render_redacted())
    } else {
        eprintln!("[  Started] {} ({id})", ctx.task_name);
        let started = std::time::Instant::now();
        let result = super::runtime()?.block_on(executor.execute_http(&task, &input, &ctx));
        let (status, detail) = match &result {
            Ok(out) => ("Completed", out.outcome.to_string()),
            Err(e) => ("Failed", e.code.to_string()),
        };
        eprintln!(
            "[{status:>9}] {} ({id}) {} ms, {}",
            ctx.task_name,
            started.elapsed().as_millis(),
            detail
        );
        result.map(|out| {
            // Through a Value, so the API's body is indented like the rest.
            let out = serde_json::to_value(&out).expect("outputs serialize");
            format!(
                "{}\n",
                serde_json::to_string_pretty(&out).expect("outputs serialize")
            )
        })
    };
    match result {
        Ok(text) => Ok(text),
        Err(err) if err.code == ErrorCode::MissingCredentials => {
            Err(anyhow::anyhow!("{}", err.message).into())
        }
        Err(err) => {
            if let Some(hint) = crate::cli::shared::execution::replay_hint(
                &err,
                "command",
                &args.execution.journal_path(&ctx.workflow_id),
            ) {
                eprintln!("{hint}");
            }
            Err(Failure::data(format!(
                "{}\n",
                serde_json::to_string_pretty(&err).expect("errors serialize")
            )))
        }
    }
}
