//! The `usage-connector` command line: catalog listing and schema generation.
//!
//! Data goes to stdout, diagnostics to stderr. Exit codes: 0 ok, 1 the input is invalid or a
//! check failed, 2 usage or I/O error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use usage_connector::catalog::{Catalog, EndpointId, Vendor};
use usage_connector::execute::{Credential, Credentials, Executor, Secret, TaskContext};
use usage_connector::runner::{RunStatus, Runner};
use usage_connector::schemas;
use usage_connector::simworkflow::{
    HttpMethod, HttpRequest, HttpTask, OnLimit, Rounding, Task, WorkflowDefinition,
};
use usage_connector::validate::{Diagnostic, validate_definition};
use usage_connector::validators::Validators;

/// Report usage and ingest billing events (Solvimon, Rebilly) from workflow HTTP tasks safely.
#[derive(Debug, Parser)]
#[command(name = "usage-connector", version, about, long_about = None)]
struct Cli {
    /// Replace an endpoint's path template, e.g.
    /// `solvimon.ingest-charge=/v{version}/ingest/charge-data` (repeatable). Use it when an
    /// inferred path (charge, adjustment) turns out to differ.
    #[arg(long = "path-override", value_name = "ID=TEMPLATE", global = true)]
    path_overrides: Vec<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the catalog: endpoint ids, methods, paths, servers, auth and permissions.
    Endpoints {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Write the JSON Schemas of every endpoint (request, response, SimWorkflow Http task),
    /// the catalog index and the workflow-definition schema; or check them for drift.
    Schemas {
        /// Directory to write to (or to check).
        #[arg(long, default_value = "schemas")]
        out: PathBuf,
        /// Write nothing; exit 1 and name each file that differs from what the code generates.
        #[arg(long)]
        check: bool,
    },
    /// Check SimWorkflow workflow definitions: structure, routing, placeholders, and every Http
    /// task against the catalog endpoint it calls. Reports all problems of all files.
    ///
    /// Folders are searched for `*.json`, skipping `examples/` folders (inputs live there).
    /// Exit 0 when valid (warnings allowed), 1 when any definition is invalid, 2 on usage or
    /// I/O errors.
    Validate {
        /// Definition files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Workflow input (JSON file): also resolve the placeholders of the tasks that receive
        /// it and check the concrete requests, as the executor will before sending.
        #[arg(long, value_name = "FILE")]
        input: Option<PathBuf>,
        /// Output format: compiler-style text, or a JSON array of diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Send one request to an endpoint, like SimWorkflow's "Test request": validate it, add
    /// credentials and idempotency, retry what can be retried, print the task output as JSON.
    ///
    /// Credentials: `--credential ID` from the credentials file (default ./credentials.json if
    /// present), else its entry named after the vendor (`solvimon`, `rebilly`), else the env var
    /// SOLVIMON_API_KEY / REBILLY_API_KEY. Exit 0 on success, 1 when the call fails (the API's
    /// error body is printed), 2 on usage errors.
    Call(CallArgs),
    /// Run a workflow definition locally: Http tasks through the executor, Decision, Parallel,
    /// Terminate and Simple (registered handlers) as SimWorkflow would. Prints each task as it
    /// finishes on stderr and the workflow output JSON on stdout; exit 0 Completed, 1 Failed or
    /// invalid, 2 usage or I/O error.
    ///
    /// With no --server, an embedded sandbox serves both vendors and supplies its dev keys for
    /// every credentials id the definition uses: nothing to set up.
    Run(RunArgs),
    /// Run a local server of both APIs (Solvimon meter data, Rebilly usages) for offline use
    /// and tests. Prints `listening on http://HOST:PORT`, then one `api key KEY permissions
    /// P1,P2` line per dev key; runs until interrupted (Ctrl-C). Behaviour: docs/sandbox.md.
    Sandbox {
        /// Address to listen on (loopback; port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: std::net::SocketAddr,
        /// Keep state in this journal file: every acknowledged write survives a restart or
        /// kill -9. Without it, state is in memory.
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// Replace the default fixture (keys, customers, subscriptions and limits, prices).
        #[arg(long, value_name = "FILE")]
        fixture: Option<PathBuf>,
        /// Faults to inject, e.g. "503=0.1,429=0.05,reset=0.02,lost-response=0.02,delay=20ms"
        /// (also prefix=/usages to limit them to a path prefix, retry-after=2s).
        #[arg(long, value_name = "SPEC", default_value = "")]
        faults: String,
        /// Seed of the fault draws: the same seed gives the same fault sequence.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LimitArg {
    /// Fail with USAGE_LIMIT_EXCEEDED.
    Reject,
    /// Record what is left under the limit.
    AcceptPartial,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoundingArg {
    /// Reject more than 3 decimals.
    Reject,
    /// Round half to even.
    HalfEven,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Human-readable table.
    Text,
    /// JSON (the same document as `schemas/index.json`).
    Json,
}

/// A failure with its exit code. A `quiet` failure's text is data for stdout (e.g. the
/// diagnostics of invalid definitions), not an error message.
struct Failure {
    code: u8,
    error: anyhow::Error,
    quiet: bool,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure {
            code: 2,
            error,
            quiet: false,
        }
    }
}

fn catalog(overrides: &[String]) -> anyhow::Result<Catalog> {
    let mut catalog = Catalog::builtin();
    for item in overrides {
        let Some((id, template)) = item.split_once('=') else {
            bail!("--path-override expects ID=TEMPLATE, got `{item}`");
        };
        let id: EndpointId = id.parse()?;
        catalog.override_path(id, template)?;
    }
    Ok(catalog)
}

fn endpoints(catalog: &Catalog, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&schemas::index(catalog))?
        ),
        Format::Text => {
            let mut out = String::new();
            for e in &catalog.endpoints {
                let servers: Vec<&str> = e.servers.iter().map(|s| s.url).collect();
                let auth: Vec<&str> = e.auth.iter().map(|a| a.header).collect();
                let query: Vec<&str> = e.query_params.iter().map(|p| p.name).collect();
                out.push_str(&format!(
                    "{id}\n  {title}\n  {method} {path}{query}  (path {prov:?}, success {status})\n  servers: {servers}\n  auth: {auth}{perm}\n",
                    id = e.id,
                    title = e.title,
                    method = e.method,
                    path = e.display_path(),
                    query = if query.is_empty() { String::new() } else { format!("?{}=", query.join("=&")) },
                    prov = e.path_provenance,
                    status = e.success_status,
                    servers = servers.join(", "),
                    auth = auth.join(" or "),
                    perm = e.permission.map(|p| format!("  (permission {p})")).unwrap_or_default(),
                ));
            }
            out
        }
    })
}

fn definition_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        if !meta.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut stack = vec![path.clone()];
        while let Some(dir) = stack.pop() {
            for entry in
                std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
            {
                let p = entry?.path();
                if p.is_dir() {
                    if p.file_name().is_some_and(|n| n != "examples") {
                        stack.push(p);
                    }
                } else if p.extension().is_some_and(|e| e == "json") {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

fn validate(
    catalog: &Catalog,
    paths: &[PathBuf],
    input: Option<&PathBuf>,
    format: Format,
) -> Result<String, Failure> {
    let input: Option<serde_json::Value> = match input {
        Some(p) => {
            let text =
                std::fs::read(p).with_context(|| format!("reading input {}", p.display()))?;
            Some(
                serde_json::from_slice(&text)
                    .with_context(|| format!("input {} is not JSON", p.display()))?,
            )
        }
        None => None,
    };
    let validators = Validators::new(catalog).context("compiling schemas")?;
    let files = definition_files(paths)?;
    let mut reports = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        reports.push(validate_definition(
            &file.display().to_string(),
            &bytes,
            &validators,
            input.as_ref(),
        ));
    }
    let invalid = reports.iter().filter(|r| r.has_errors()).count();
    let out = if format == Format::Json {
        let all: Vec<&Diagnostic> = reports.iter().flat_map(|r| &r.diagnostics).collect();
        format!(
            "{}\n",
            serde_json::to_string_pretty(&all).context("serializing diagnostics")?
        )
    } else {
        let mut out = String::new();
        let mut counts = [0usize; 3];
        for r in &reports {
            for d in &r.diagnostics {
                counts[d.severity as usize] += 1;
                out.push_str(&d.render(r.source.as_deref()));
                out.push('\n');
            }
        }
        out.push_str(&format!(
            "{} file(s): {} invalid; {} error(s), {} warning(s), {} note(s)\n",
            files.len(),
            invalid,
            counts[0],
            counts[1],
            counts[2]
        ));
        out
    };
    if invalid > 0 {
        return Err(Failure {
            code: 1,
            error: anyhow::anyhow!("{out}"),
            quiet: true,
        });
    }
    Ok(out)
}

#[allow(clippy::print_stdout)]
fn sandbox(
    addr: std::net::SocketAddr,
    state: Option<PathBuf>,
    fixture: Option<PathBuf>,
    faults: &str,
    seed: u64,
) -> anyhow::Result<String> {
    let fixture = match fixture {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading fixture {}", path.display()))?;
            usage_sandbox::Fixture::parse(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => usage_sandbox::Fixture::default_fixture(),
    };
    let faults =
        usage_sandbox::FaultSpec::parse(faults).map_err(|e| anyhow::anyhow!("--faults: {e}"))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let running = usage_sandbox::start(usage_sandbox::Config {
            addr,
            state,
            fixture,
            faults,
            seed,
            record_requests: false,
        })
        .await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", running.url())?;
        for key in running.keys() {
            writeln!(
                out,
                "api key {} permissions {}",
                key.key,
                key.permissions.join(",")
            )?;
        }
        out.flush()?;
        drop(out);
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        running.shutdown().await;
        anyhow::Ok(String::new())
    })
}

/// Loads the credentials file (explicit, or ./credentials.json when present); secrets come
/// from the environment variables it names.
fn load_credentials(path: Option<&PathBuf>) -> anyhow::Result<Credentials> {
    let path = match path {
        Some(p) => p.clone(),
        None if std::path::Path::new("credentials.json").exists() => {
            PathBuf::from("credentials.json")
        }
        None => return Ok(Credentials::new()),
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading credentials {}", path.display()))?;
    Credentials::from_file_text(&text, |name| std::env::var(name).ok())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

#[derive(Debug, clap::Args)]
struct CallArgs {
    /// Endpoint id, e.g. rebilly.create-usage (see `endpoints`).
    endpoint: String,
    /// Request body: a JSON file, or `-` for standard input.
    #[arg(long, value_name = "FILE|-")]
    body: String,
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
    /// Solvimon API version in the path.
    #[arg(long, default_value = "1")]
    api_version: String,
    /// Rebilly organization (adds /organizations/ID to the path).
    #[arg(long, value_name = "ID")]
    organization: Option<String>,
    /// Solvimon calculate: ask for a cost prediction.
    #[arg(long)]
    cost_prediction: bool,
    /// Rebilly: over the usage limit, reject or accept what is left.
    #[arg(long, value_enum)]
    on_limit: Option<LimitArg>,
    /// Rebilly: quantities with more than 3 decimals are rejected or rounded half-even.
    #[arg(long, value_enum)]
    rounding: Option<RoundingArg>,
    /// Workflow id for the derived reference and idempotency key (same id + same body =
    /// the same logical call, so a repeated call is a duplicate, never a second charge).
    #[arg(long, default_value = "call")]
    workflow_id: String,
}

fn call(catalog: &Catalog, args: CallArgs) -> Result<String, Failure> {
    let id: EndpointId = args.endpoint.parse().map_err(anyhow::Error::from)?;
    let endpoint = catalog.get(id);
    let text = if args.body == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .context("reading the body from stdin")?;
        s
    } else {
        std::fs::read_to_string(&args.body)
            .with_context(|| format!("reading body {}", args.body))?
    };
    let body: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("body {} is not JSON", args.body))?;
    let mut credentials = load_credentials(args.credentials.as_ref())?;
    let vendor = endpoint.vendor;
    let credential_id = match args.credential {
        Some(id) => id,
        None if credentials.contains(vendor.as_str()) => vendor.as_str().to_owned(),
        None => {
            let (var, header) = match vendor {
                Vendor::Solvimon => ("SOLVIMON_API_KEY", "X-API-KEY"),
                Vendor::Rebilly => ("REBILLY_API_KEY", "REB-APIKEY"),
            };
            match std::env::var(var) {
                Ok(key) if !key.is_empty() => {
                    credentials.insert(
                        vendor.as_str(),
                        Credential {
                            header: header.into(),
                            value: Secret::new(key),
                            platform_id: None,
                        },
                    );
                    vendor.as_str().to_owned()
                }
                _ => {
                    return Err(anyhow::anyhow!(
                        "no credentials for {vendor}: pass --credential ID (credentials file), add a `{vendor}` entry, or set {var}"
                    )
                    .into());
                }
            }
        }
    };
    let mut path = endpoint.path.replace("{version}", &args.api_version);
    if let (Some(org), Some(_)) = (&args.organization, endpoint.optional_prefix) {
        path = format!("/organizations/{org}{path}");
    }
    if args.cost_prediction {
        path.push_str("?cost_prediction=true");
    }
    let url = format!("{}{path}", endpoint.servers[0].url);
    let mut executor = Executor::new(credentials);
    if let Some(server) = &args.server {
        executor = executor.with_server(vendor, server);
    }
    let task = HttpTask {
        description: None,
        input_parameters: None,
        retry: None,
        next_task: None,
        end: Some(true),
        credentials: Some(credential_id),
        http_request: HttpRequest {
            url,
            method: HttpMethod::Post,
            headers: None,
            body: Some(body),
        },
        connection_timeout_seconds: None,
        read_timeout_seconds: None,
        on_limit: args.on_limit.map(|l| match l {
            LimitArg::Reject => OnLimit::Reject,
            LimitArg::AcceptPartial => OnLimit::AcceptPartial,
        }),
        rounding: args.rounding.map(|r| match r {
            RoundingArg::Reject => Rounding::Reject,
            RoundingArg::HalfEven => Rounding::HalfEven,
        }),
    };
    let ctx = TaskContext::new(args.workflow_id, "call");
    let input = serde_json::Value::Object(serde_json::Map::new());
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = if args.dry_run {
        executor
            .prepare(&task, &input, &ctx)
            .map(|p| p.render_redacted())
    } else {
        runtime
            .block_on(executor.execute_http(&task, &input, &ctx))
            .map(|out| {
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
        Err(err) if err.code == "MISSING_CREDENTIALS" => {
            Err(anyhow::anyhow!("{}", err.message).into())
        }
        Err(err) => {
            let json = serde_json::to_string_pretty(&err).expect("errors serialize");
            Err(Failure {
                code: 1,
                error: anyhow::anyhow!("{json}\n"),
                quiet: true,
            })
        }
    }
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The workflow definition (JSON).
    workflow: PathBuf,
    /// Workflow input: a JSON file, or JSON text.
    #[arg(long, value_name = "FILE|JSON")]
    input: Option<String>,
    /// Send a vendor's calls to URL (repeatable), e.g. rebilly=http://127.0.0.1:8080; then
    /// credentials come from --credentials / ./credentials.json and the environment.
    #[arg(long = "server", value_name = "VENDOR=URL")]
    servers: Vec<String>,
    /// Credentials file (with --server).
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// Write every request and response as JSON lines (secrets as ***).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Workflow run id (part of derived idempotency keys); default: a new one per run.
    #[arg(long)]
    workflow_id: Option<String>,
}

#[allow(clippy::print_stderr)]
fn run_workflow(catalog: &Catalog, args: RunArgs) -> Result<String, Failure> {
    let bytes = std::fs::read(&args.workflow)
        .with_context(|| format!("reading {}", args.workflow.display()))?;
    let validators = Validators::new(catalog).context("compiling schemas")?;
    let report = validate_definition(
        &args.workflow.display().to_string(),
        &bytes,
        &validators,
        None,
    );
    if report.has_errors() {
        let text: String = report
            .diagnostics
            .iter()
            .filter(|d| d.severity == usage_connector::validate::Severity::Error)
            .map(|d| d.render(report.source.as_deref()))
            .collect();
        return Err(Failure {
            code: 1,
            error: anyhow::anyhow!(
                "{} is not a valid workflow definition:\n{text}",
                args.workflow.display()
            ),
            quiet: false,
        });
    }
    let definition: WorkflowDefinition =
        serde_json::from_slice(&bytes).context("reading the definition")?;
    let input: serde_json::Value = match &args.input {
        None => serde_json::json!({}),
        Some(text) if text.trim_start().starts_with(['{', '[']) => {
            serde_json::from_str(text).context("--input is not valid JSON")?
        }
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading input {path}"))?;
            serde_json::from_str(&text).with_context(|| format!("input {path} is not JSON"))?
        }
    };
    let workflow_id = args.workflow_id.clone().unwrap_or_else(|| {
        format!(
            "run-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        )
    });
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (status, text) = runtime.block_on(async {
        let mut sandbox = None;
        let mut executor = if args.servers.is_empty() {
            let running = usage_sandbox::start(usage_sandbox::Config::default())
                .await
                .context("starting the embedded sandbox")?;
            eprintln!("embedded sandbox on {} (no --server given)", running.url());
            let mut credentials = Credentials::new();
            for (id, vendor) in credential_vendors(&definition, &validators) {
                let (header, key) = match vendor {
                    Vendor::Solvimon => ("X-API-KEY", "sk_sandbox_solvimon"),
                    Vendor::Rebilly => ("REB-APIKEY", "sk_sandbox_rebilly"),
                };
                credentials.insert(
                    id,
                    Credential {
                        header: header.into(),
                        value: Secret::new(key),
                        platform_id: None,
                    },
                );
            }
            let url = running.url();
            sandbox = Some(running);
            Executor::new(credentials)
                .with_server(Vendor::Solvimon, &url)
                .with_server(Vendor::Rebilly, &url)
        } else {
            let mut executor = Executor::new(load_credentials(args.credentials.as_ref())?);
            for item in &args.servers {
                let (vendor, url) = item
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("--server expects VENDOR=URL, got `{item}`"))?;
                let vendor = match vendor {
                    "solvimon" => Vendor::Solvimon,
                    "rebilly" => Vendor::Rebilly,
                    other => {
                        bail!("--server: unknown vendor `{other}`; expected solvimon or rebilly")
                    }
                };
                executor = executor.with_server(vendor, url);
            }
            executor
        };
        if let Some(path) = &args.trace {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating trace {}", path.display()))?;
            let file = std::sync::Mutex::new(std::io::BufWriter::new(file));
            executor = executor.with_trace(std::sync::Arc::new(move |record| {
                let mut f = file.lock().expect("trace file");
                let _ = writeln!(f, "{record}");
                let _ = f.flush();
            }));
        }
        let runner = Runner::new(std::sync::Arc::new(executor)).on_task(|e| {
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
        });
        eprintln!("running {} ({workflow_id})", definition.name);
        let result = runner.run(&definition, input, &workflow_id).await;
        if let Some(s) = sandbox {
            s.shutdown().await;
        }
        eprintln!("workflow {:?}", result.status);
        let text = format!(
            "{}\n",
            serde_json::to_string_pretty(&result.output).expect("outputs serialize")
        );
        anyhow::Ok((result.status, text))
    })?;
    match status {
        RunStatus::Completed => Ok(text),
        RunStatus::Failed => Err(Failure {
            code: 1,
            error: anyhow::anyhow!("{text}"),
            quiet: true,
        }),
    }
}

/// Every credentials id of the definition's catalog Http tasks, with its endpoint's vendor.
fn credential_vendors(
    definition: &WorkflowDefinition,
    validators: &Validators,
) -> Vec<(String, Vendor)> {
    fn walk(
        tasks: &std::collections::BTreeMap<String, Task>,
        validators: &Validators,
        out: &mut Vec<(String, Vendor)>,
    ) {
        for task in tasks.values() {
            match task {
                Task::Http(h) => {
                    let vendor = validators
                        .endpoints_for_url(&h.http_request.url)
                        .first()
                        .map(|e| e.vendor);
                    if let (Some(id), Some(vendor)) = (&h.credentials, vendor) {
                        out.push((id.clone(), vendor));
                    }
                }
                Task::Parallel(p) => p
                    .branches
                    .iter()
                    .for_each(|b| walk(&b.tasks, validators, out)),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(&definition.tasks, validators, &mut out);
    out
}

fn run(cli: Cli) -> Result<String, Failure> {
    let catalog = catalog(&cli.path_overrides)?;
    match cli.command {
        Command::Run(args) => run_workflow(&catalog, args),
        Command::Call(args) => call(&catalog, args),
        Command::Sandbox {
            addr,
            state,
            fixture,
            faults,
            seed,
        } => Ok(sandbox(addr, state, fixture, &faults, seed)?),
        Command::Validate {
            paths,
            input,
            format,
        } => validate(&catalog, &paths, input.as_ref(), format),
        Command::Endpoints { format } => Ok(endpoints(&catalog, format)?),
        Command::Schemas { out, check } => {
            let files = schemas::generate(&catalog);
            if check {
                let drift = schemas::check(&out, &files).context("checking schemas")?;
                if drift.is_empty() {
                    return Ok(format!(
                        "{} schema files up to date in {}\n",
                        files.len(),
                        out.display()
                    ));
                }
                let list: Vec<String> = drift.iter().map(|d| format!("  {d}")).collect();
                return Err(Failure {
                    code: 1,
                    quiet: false,
                    error: anyhow::anyhow!(
                        "{} schema file(s) differ from the code:\n{}\nrun `usage-connector schemas --out {}` to regenerate",
                        drift.len(),
                        list.join("\n"),
                        out.display()
                    ),
                });
            }
            let written = schemas::write(&out, &files).context("writing schemas")?;
            Ok(format!(
                "wrote {} schema files to {}\n",
                written.len(),
                out.display()
            ))
        }
    }
}

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    // TLS uses rustls with ring (no aws-lc); logs go to stderr, filtered by RUST_LOG.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(std::env::var_os("NO_COLOR").is_none())
        .init();
    match run(cli) {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: writing output: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Err(Failure {
            code,
            error,
            quiet: true,
        }) => {
            let _ = std::io::stdout()
                .lock()
                .write_all(error.to_string().as_bytes());
            ExitCode::from(code)
        }
        Err(Failure {
            code,
            error,
            quiet: false,
        }) => {
            eprintln!("error: {error:#}");
            ExitCode::from(code)
        }
    }
}
