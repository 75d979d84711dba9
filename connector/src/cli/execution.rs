//! What `call` and `run` share about an execution: its workflow id, the journal that lets a
//! re-run of it resolve what an earlier run may have sent, and how identities are carried.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::ValueEnum;
use usage_connector::execute::{ErrorCode, Executor, TaskError};
use usage_connector::identity::{IdentityOptions, UsageIdentityMode};
use usage_connector::journal::FileJournal;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum UsageIdentityArg {
    /// The usage time's sub-second digits carry the call's identity (exact lookups).
    TimeFraction,
    /// Whole seconds (for an API that drops fractions): an ambiguous lookup is reported
    /// OUTCOME_UNKNOWN, never guessed.
    WholeSeconds,
}

/// The execution options of `call` and `run`.
#[derive(Debug, clap::Args)]
pub struct ExecutionArgs {
    /// Execution id: part of every derived identity (Solvimon reference and Idempotency-Key,
    /// Rebilly usage identity). Give the same id to re-run an execution: what it recorded
    /// before is found, never recorded twice. Default: a new id per invocation.
    #[arg(long, value_name = "ID")]
    pub workflow_id: Option<String>,
    /// Execution journal (JSON lines): remembers each execution's request times so a re-run
    /// with the same --workflow-id sends the same requests and looks for earlier writes first.
    /// Default: $XDG_STATE_HOME/usage-connector/journal.jsonl (~/.local/state/…).
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// How a Rebilly usage carries its identity.
    #[arg(long, value_enum, default_value = "time-fraction")]
    usage_identity: UsageIdentityArg,
}

impl ExecutionArgs {
    /// The given workflow id, or a new one (`PREFIX-<time>-<pid>`).
    pub fn workflow_id(&self, prefix: &str) -> String {
        self.workflow_id.clone().unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("{prefix}-{nanos}-{}", std::process::id())
        })
    }

    /// The journal's path: given, else under the XDG state folder.
    fn journal_path(&self) -> anyhow::Result<PathBuf> {
        if let Some(p) = &self.journal {
            return Ok(p.clone());
        }
        let state = std::env::var_os("XDG_STATE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state"))
            })
            .context("no --journal, XDG_STATE_HOME or HOME to keep the execution journal in")?;
        Ok(state.join("usage-connector").join("journal.jsonl"))
    }

    /// `executor` with the journal and identity options applied.
    pub fn apply(&self, executor: Executor) -> anyhow::Result<Executor> {
        let path = self.journal_path()?;
        let journal = FileJournal::open(&path)
            .with_context(|| format!("opening the execution journal {}", path.display()))?;
        let usage = match self.usage_identity {
            UsageIdentityArg::TimeFraction => UsageIdentityMode::TimeFraction,
            UsageIdentityArg::WholeSeconds => UsageIdentityMode::WholeSeconds,
        };
        Ok(executor
            .with_identity(IdentityOptions { usage })
            .with_journal(Arc::new(journal)))
    }
}

/// The line that tells a person how to resolve an unknown outcome, if `error` is one.
pub fn replay_hint(error: &TaskError, command: &str) -> Option<String> {
    let replay = error.replay.as_ref()?;
    (error.code == ErrorCode::OutcomeUnknown).then(|| {
        format!(
            "note: the outcome is unknown (the request may have been recorded). Run the same {command} again with --workflow-id {} to resolve it: it looks the request up first and never records it twice.",
            replay.workflow_id
        )
    })
}
