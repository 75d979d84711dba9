//! `usage-restate`: serves the connector's Restate services (and registers them with a Restate
//! server), and submits runs to them through Restate's ingress.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use usage_connector::catalog::{Catalog, Vendor};
use usage_connector::credentials::{Credential, Credentials, Secret};
use usage_connector::execute::Executor;
use usage_connector::validate::validate_definition;
use usage_connector::validators::Validators;
use usage_restate::{Connector, RunReply};

/// Run usage-connector workflows on Restate (durable, distributed; docs/engines.md).
#[derive(Debug, Parser)]
#[command(name = "usage-restate", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the services (UsageWorkflow, UsageBranch, IngestShard) on ADDR; with --register,
    /// register them with the Restate server at ADMIN_URL. First stdout line: `listening on
    /// http://ADDR`. Runs until interrupted (Ctrl-C or SIGTERM).
    Serve(ServeArgs),
    /// Validate a definition and run it on Restate under an execution id: prints the workflow
    /// output JSON. Exit 0 Completed, 1 Failed or invalid, 2 usage or I/O error. Submitting
    /// the same id again runs nothing new: Restate answers with the first run's result.
    Submit(SubmitArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:9080")]
    listen: SocketAddr,
    /// Register the services with this Restate admin URL (e.g. http://127.0.0.1:9070).
    #[arg(long, value_name = "ADMIN_URL")]
    register: Option<String>,
    /// Send a vendor's calls to URL (repeatable), e.g. rebilly=http://127.0.0.1:8080.
    #[arg(long = "server", value_name = "VENDOR=URL")]
    servers: Vec<String>,
    /// Credentials file (JSON: {ID: {header, env, prefix?, platformId?}}); default
    /// ./credentials.json if present. Without an entry, the id `solvimon` / `rebilly` takes
    /// SOLVIMON_API_KEY / REBILLY_API_KEY.
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// Days Restate keeps a finished run, whose result answers a re-submission of its id
    /// (after that the id could run again: a Rebilly usage would be charged again).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650))]
    retention_days: u64,
}

#[derive(Debug, clap::Args)]
struct SubmitArgs {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    // TLS through ring (never aws-lc), as the connector's own transport.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return fail(2, &anyhow::anyhow!("starting the runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await.map(|()| 0),
            Command::Submit(args) => submit(args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(2, &e),
    }
}

#[allow(clippy::print_stderr)]
fn fail(code: u8, e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::from(code)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let catalog = Catalog::builtin();
    let validators = Arc::new(Validators::new(&catalog).context("compiling schemas")?);
    let mut executor = Executor::new(credentials(args.credentials.as_deref(), &catalog)?)
        .with_validators(validators.clone());
    for item in &args.servers {
        let (vendor, url) = item
            .split_once('=')
            .with_context(|| format!("--server expects VENDOR=URL, got `{item}`"))?;
        let vendor: Vendor = vendor
            .parse()
            .map_err(|e| anyhow::anyhow!("--server: {e}"))?;
        executor = executor.with_server(vendor, url);
    }
    let endpoint = Connector::new(executor, validators)
        .with_retention(std::time::Duration::from_secs(
            args.retention_days * 24 * 3600,
        ))
        .endpoint();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let url = format!("http://{}", listener.local_addr()?);
    say(&format!("listening on {url}"));
    let stop = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    // Serve first: registering makes the server call this endpoint for its services.
    let server = tokio::spawn(usage_restate::serve(endpoint, listener, stop));
    if let Some(admin) = &args.register {
        register(admin, &url).await?;
        say(&format!("registered with {admin}"));
    }
    server.await.context("serving")?;
    Ok(())
}

/// Prints a line on stdout and flushes it (a supervisor reads it as it comes).
#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
    let _ = std::io::stdout().flush();
}

/// Registers (or re-registers) the deployment at `url` with the admin API at `admin`.
async fn register(admin: &str, url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let answer = client
        .post(format!("{}/deployments", admin.trim_end_matches('/')))
        .json(&json!({"uri": url, "force": true}))
        .send()
        .await
        .with_context(|| format!("registering with {admin}"))?;
    let status = answer.status();
    if !status.is_success() {
        let text = answer.text().await.unwrap_or_default();
        bail!("registering with {admin}: {status} {text}");
    }
    Ok(())
}

/// The credentials file's entries (secrets from the variables it names), then `solvimon` /
/// `rebilly` from SOLVIMON_API_KEY / REBILLY_API_KEY where the file has no such entry.
fn credentials(path: Option<&std::path::Path>, catalog: &Catalog) -> anyhow::Result<Credentials> {
    let path = match path {
        Some(p) => Some(p.to_owned()),
        None => Some(PathBuf::from("credentials.json")).filter(|p| p.exists()),
    };
    let mut credentials = match &path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading credentials {}", p.display()))?;
            Credentials::from_file_text(&text, |name| std::env::var(name).ok())
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        None => Credentials::new(),
    };
    for vendor in Vendor::ALL {
        if credentials.contains(vendor.as_str()) {
            continue;
        }
        if let Ok(key) = std::env::var(vendor.api_key_env())
            && !key.is_empty()
        {
            credentials.insert(
                vendor.as_str(),
                Credential {
                    header: catalog.first_of(vendor).key_header().to_owned(),
                    value: Secret::new(key),
                    platform_id: None,
                },
            );
        }
    }
    Ok(credentials)
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
async fn submit(args: SubmitArgs) -> anyhow::Result<u8> {
    let text = std::fs::read(&args.workflow)
        .with_context(|| format!("reading {}", args.workflow.display()))?;
    let validators = Validators::new(&Catalog::builtin()).context("compiling schemas")?;
    let shown = args.workflow.display().to_string();
    let report = validate_definition(&shown, &text, &validators, None);
    if report.has_errors() {
        for d in &report.diagnostics {
            eprintln!("{}", d.render(report.source.as_deref()));
        }
        return Ok(1);
    }
    let definition: Value = serde_json::from_slice(&text)?;
    let input: Value = match args.input.as_deref() {
        None => json!({}),
        Some(s) if s.trim_start().starts_with(['{', '[']) => {
            serde_json::from_str(s).context("--input is not JSON")?
        }
        Some(path) => serde_json::from_slice(
            &std::fs::read(path).with_context(|| format!("reading input {path}"))?,
        )
        .with_context(|| format!("input {path} is not JSON"))?,
    };
    let url = format!(
        "{}/UsageWorkflow/{}/run",
        args.ingress.trim_end_matches('/'),
        urlencode(&args.id)
    );
    let client = reqwest::Client::new();
    let answer = client
        .post(&url)
        .json(&json!({"definition": definition, "input": input}))
        .send()
        .await
        .with_context(|| format!("submitting to {}", args.ingress))?;
    let mut status = answer.status();
    let mut body = answer.text().await.context("reading the answer")?;
    if status == reqwest::StatusCode::CONFLICT {
        // This id ran (or runs) already: its result, not a second run.
        eprintln!(
            "note: execution {} was submitted before; its result:",
            args.id
        );
        let output = format!(
            "{}/restate/workflow/UsageWorkflow/{}/attach",
            args.ingress.trim_end_matches('/'),
            urlencode(&args.id)
        );
        let answer = client
            .get(&output)
            .send()
            .await
            .with_context(|| format!("attaching to {}", args.id))?;
        status = answer.status();
        body = answer.text().await.context("reading the answer")?;
    }
    if !status.is_success() {
        bail!("Restate answered {status}: {body}");
    }
    let reply: RunReply = serde_json::from_str(&body).context("reading the run's result")?;
    eprintln!("workflow {} ({})", reply.status, args.id);
    println!("{}", serde_json::to_string_pretty(&reply.output)?);
    Ok(if reply.status == "Completed" { 0 } else { 1 })
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
