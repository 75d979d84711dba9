//! `usage-connector run`: validate a definition, check the run before its first write
//! (pre-flight), then run it with the local runner, on an embedded sandbox unless servers are
//! given (`shared/session.rs`, which `resume` shares).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use usage_connector::catalog::Catalog;
use usage_connector::journal::RunRecord;
use usage_connector::validators::Validators;

use super::Failure;
use super::shared::{credentials, definition, execution, session};

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
    execution: execution::ExecutionArgs,
}

/// Validates the definition, checks the run before its first write, and runs it; prints the
/// workflow output.
pub fn run(catalog: &Catalog, args: Args) -> Result<String, Failure> {
    // One compiled set of validators serves validation, pre-flight and the executor.
    let validators = Arc::new(Validators::new(catalog).context("compiling schemas")?);
    let read = definition::read_definition(&args.workflow, &validators)?;
    if let Some(addr) = args.metrics {
        usage_connector::telemetry::serve(addr).map_err(anyhow::Error::from)?;
    }
    let input = definition::input(args.input.as_deref())?;
    let workflow_id = args.execution.workflow_id("run");
    let record = RunRecord {
        definition: read.value.clone(),
        definition_path: (args.workflow.as_os_str() != "-")
            .then(|| args.workflow.display().to_string()),
        input,
        servers: session::servers(&args.servers)?,
        credentials_file: credentials::file(args.credentials.as_deref())
            .map(|p| p.display().to_string()),
        usage_identity: Some(args.execution.usage_identity_name().to_owned()),
        sequence_number: None,
        started: None,
    };
    session::execute(session::Session {
        validators,
        read,
        record,
        journal: args.execution.journal_path(&workflow_id),
        workflow_id,
        resuming: false,
        recorded: Default::default(),
        trace: args.trace,
    })
}
