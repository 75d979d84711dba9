//! `usage-connector resume ID`: continue a run that failed or was interrupted, from its run
//! journal, under the same workflow id (Step Functions' redrive).
//!
//! Policy: the run's recorded definition, input, servers and credentials file are used unless
//! an option replaces them. Every task that completed is not sent again: its recorded output
//! is reused, so `resultSelector` and `resultPath` downstream see what they saw the first time.
//! The task that failed runs again with the identity it had (a request that may have been
//! recorded is looked up first). With `--definition`, the edited definition runs, refused
//! before anything is sent when it would change the request of a task that completed, or of
//! one whose request may have been sent without a final answer.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use usage_connector::catalog::Catalog;
use usage_connector::journal::FileJournal;
use usage_connector::validators::Validators;

use super::Failure;

/// Arguments of `resume`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run's workflow id (shown as it starts, and in its `to resume:` line).
    workflow_id: String,
    /// The run journal (default: .usage-connector/runs/ID.jsonl in the current folder, or
    /// under $USAGE_CONNECTOR_STATE_DIR).
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// Run this definition (edited) instead of the one the run recorded; refused when it would
    /// change the request of a task that completed, or of one whose request may have been sent
    /// without a final answer.
    #[arg(long, value_name = "FILE")]
    definition: Option<PathBuf>,
    /// Send a vendor's calls to URL instead of where the run sent them (repeatable),
    /// e.g. rebilly=http://127.0.0.1:8080.
    #[arg(long = "server", value_name = "VENDOR=URL")]
    servers: Vec<String>,
    /// Credentials file instead of the one the run read.
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// Write every request and response as JSON lines (secrets as ***).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
}

/// Resumes the run; prints the workflow output.
pub fn run(catalog: &Catalog, args: Args) -> Result<String, Failure> {
    let id = &args.workflow_id;
    let path = args
        .journal
        .clone()
        .unwrap_or_else(|| crate::cli::shared::execution::default_journal(id));
    if !path.is_file() {
        return Err(Failure::invalid(anyhow::anyhow!(
            "no journal of run `{id}` at {} (resume from the folder the run started in, or give --journal)",
            path.display()
        )));
    }
    let journal = FileJournal::open(&path)
        .with_context(|| format!("opening the run journal {}", path.display()))?;
    let Some(mut record) = journal.run_record(id) else {
        return Err(Failure::invalid(anyhow::anyhow!(
            "{} holds no run `{id}`",
            path.display()
        )));
    };
    if journal.ended(id).as_deref() == Some("Completed") {
        return Err(Failure::invalid(anyhow::anyhow!(
            "run `{id}` completed: there is nothing to resume"
        )));
    }
    let validators = Arc::new(Validators::new(catalog).context("compiling schemas")?);
    let read = match &args.definition {
        Some(file) => crate::cli::shared::definition::read_definition(file, &validators)?,
        None => {
            let shown = record.definition_path.clone().map_or_else(
                || "<recorded definition>".to_owned(),
                |p| format!("{p} (as recorded)"),
            );
            let text =
                serde_json::to_vec_pretty(&record.definition).context("the recorded definition")?;
            crate::cli::shared::definition::checked(&shown, &text, &validators)?
        }
    };
    if let Some(file) = &args.definition {
        record.definition = read.value.clone();
        record.definition_path = Some(file.display().to_string());
    }
    if !args.servers.is_empty() {
        record.servers = crate::cli::shared::session::servers(&args.servers)?;
    }
    if let Some(given) = &args.credentials {
        record.credentials_file = crate::cli::shared::credentials::file(Some(given))
            .map(|file| file.display().to_string());
    }
    drop(journal);
    crate::cli::shared::session::execute(crate::cli::shared::session::Session {
        validators,
        read,
        record,
        journal: path,
        workflow_id: id.clone(),
        resuming: true,
        recorded: Default::default(),
        trace: args.trace,
    })
}
