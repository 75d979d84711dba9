//! `usage-restate`: serves the connector's Restate services (and registers them with a Restate
//! server), and submits runs to them through Restate's ingress.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde_json::json;
use usage_connector::catalog::{Catalog, Vendor};
use usage_connector::credentials::{Credential, Credentials, Secret};
use usage_connector::execute::Executor;
use usage_connector::validators::Validators;
use usage_restate::Connector;

mod submit;

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
    /// Validate a definition, check the run before its first write (pre-flight: inputSchema,
    /// every request the input resolves) and run it on Restate under an execution id: prints
    /// the workflow output JSON. Exit 0 Completed, 1 Failed or invalid, 2 usage or I/O error.
    /// Submitting the same id again runs nothing new: Restate answers with the first run's
    /// result. A run that fails in a task ends with `to resume: COMMAND` on stderr.
    Submit(submit::SubmitArgs),
    /// Continue a run that failed, under the same execution id: a new attempt (workflow key
    /// `ID~2`, `ID~3`, …) reuses every task the earlier attempts completed and runs the failed
    /// one again with the identity it had (looked up first where it may have been recorded).
    /// Exit codes as `submit`.
    Resume(submit::ResumeArgs),
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
    /// Serve metrics in Prometheus text format on ADDR (e.g. 127.0.0.1:9464): the requests,
    /// refusals, retries, outcomes and latency of the calls this service makes
    /// (docs/operations.md).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
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
            Command::Submit(args) => submit::submit(args).await,
            Command::Resume(args) => submit::resume(args).await,
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
    if let Some(addr) = args.metrics {
        usage_connector::telemetry::serve(addr)?;
    }
    let catalog = Catalog::builtin();
    let validators = Arc::new(Validators::new(&catalog).context("compiling schemas")?);
    let env = |name: &str| std::env::var(name).ok();
    let mut executor = Executor::new(credentials(args.credentials.as_deref(), &catalog, env)?)
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
/// `rebilly` from SOLVIMON_API_KEY / REBILLY_API_KEY where the file has no such entry (each
/// sent to its vendor's servers only); `env` reads a variable.
fn credentials(
    path: Option<&std::path::Path>,
    catalog: &Catalog,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Credentials> {
    let path = match path {
        Some(p) => Some(p.to_owned()),
        None => Some(PathBuf::from("credentials.json")).filter(|p| p.exists()),
    };
    let mut credentials = match &path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading credentials {}", p.display()))?;
            Credentials::from_file_text(&text, &env)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        None => Credentials::new(),
    };
    for vendor in Vendor::ALL {
        if credentials.contains(vendor.as_str()) {
            continue;
        }
        if let Some(key) = env(vendor.api_key_env())
            && !key.is_empty()
        {
            // Bound to its vendor: a workflow whose URL data fills in cannot send it elsewhere.
            credentials.insert_for(
                vendor.as_str(),
                Credential {
                    header: catalog.first_of(vendor).key_header().to_owned(),
                    value: Secret::new(key),
                    platform_id: None,
                },
                vendor,
            );
        }
    }
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use usage_connector::execute::{ErrorCode, TaskContext};
    use usage_connector::simworkflow::HttpTask;

    /// A usage to `url`, with the credentials id `rebilly`.
    fn usage(url: &str) -> HttpTask {
        serde_json::from_value(json!({"credentials": "rebilly", "end": true,
            "httpRequest": {"url": url, "method": "POST",
                "body": {"subscriptionId": "sub_1", "quantity": 1}}}))
        .unwrap()
    }

    /// `serve`'s key from REBILLY_API_KEY goes to Rebilly's servers only, wherever the input
    /// points a task's URL (it was sent wherever the input pointed); a credentials-file entry
    /// is the author's own choice and goes where the task says.
    #[test]
    fn a_vendor_key_from_the_environment_goes_only_to_its_vendor() {
        let catalog = Catalog::builtin();
        let env = |name: &str| (name == "REBILLY_API_KEY").then(|| "sk_env".to_owned());
        // No credentials file (the crate's folder has none): the environment alone.
        let executor = Executor::new(credentials(None, &catalog, env).unwrap());
        let ctx = TaskContext::new("wf", "Report");
        let to_rebilly = executor
            .prepare(
                &usage("https://api-sandbox.rebilly.com/usages"),
                &json!({}),
                &ctx,
            )
            .unwrap();
        assert_eq!(to_rebilly.headers["REB-APIKEY"], "sk_env");
        let elsewhere = executor
            .prepare(&usage("https://collector.example/usages"), &json!({}), &ctx)
            .unwrap_err();
        assert_eq!(
            elsewhere.code,
            ErrorCode::MissingCredentials,
            "{elsewhere:?}"
        );
        assert!(
            elsewhere.message.contains("rebilly's own key"),
            "{}",
            elsewhere.message
        );
        // A file entry named for the vendor is not bound.
        let dir = std::env::temp_dir().join(format!("usage-restate-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("credentials.json");
        std::fs::write(
            &file,
            json!({"rebilly": {"header": "REB-APIKEY", "env": "MY_KEY"}}).to_string(),
        )
        .unwrap();
        let mine = |name: &str| (name == "MY_KEY").then(|| "sk_file".to_owned());
        let executor = Executor::new(credentials(Some(&file), &catalog, mine).unwrap());
        let sent = executor
            .prepare(&usage("https://collector.example/usages"), &json!({}), &ctx)
            .unwrap();
        assert_eq!(sent.headers["REB-APIKEY"], "sk_file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
