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
    /// Rebilly usage identity). Give the same id to re-run an execution with its run journal
    /// (this folder's, or the same --journal): what it recorded before is found, never recorded
    /// twice. Run elsewhere without that journal, a Rebilly usage is sent again as new.
    /// Default: a new id per invocation.
    #[arg(long, value_name = "ID")]
    pub workflow_id: Option<String>,
    /// Run journal (JSON lines): each request's time and destination, each completed task's
    /// output, so a re-run with the same --workflow-id sends the same requests (looking for
    /// earlier writes first) and `resume` continues a failed run. Default:
    /// .usage-connector/runs/ID.jsonl in the current folder ($USAGE_CONNECTOR_STATE_DIR
    /// instead of .usage-connector when set).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// How a Rebilly usage carries its identity.
    #[arg(long, value_enum, default_value = "time-fraction")]
    usage_identity: UsageIdentityArg,
}

/// A new execution's id: `PREFIX-<nanoseconds since 1970>-<process id>`.
fn new_workflow_id(prefix: &str, nanos: u128, pid: u32) -> String {
    format!("{prefix}-{nanos}-{pid}")
}

/// The folder run journals go in: $USAGE_CONNECTOR_STATE_DIR, else `.usage-connector` in the
/// current folder (state stays next to the work; unrelated folders share none).
pub fn state_dir() -> PathBuf {
    std::env::var_os("USAGE_CONNECTOR_STATE_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(".usage-connector"), PathBuf::from)
}

/// The default journal of execution `workflow_id`: `STATE/runs/ID.jsonl`, the id as it is
/// when it is a plain file name, else its digest.
pub fn default_journal(workflow_id: &str) -> PathBuf {
    let plain = !workflow_id.is_empty()
        && workflow_id.len() <= 100
        && !workflow_id.starts_with('.')
        && workflow_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let name = if plain {
        workflow_id.to_owned()
    } else {
        usage_connector::identity::hex_digest("id-", &[workflow_id])
    };
    state_dir().join("runs").join(format!("{name}.jsonl"))
}

impl ExecutionArgs {
    /// The given workflow id, or a new one (`PREFIX-<time>-<pid>`).
    pub fn workflow_id(&self, prefix: &str) -> String {
        self.workflow_id.clone().unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            new_workflow_id(prefix, nanos, std::process::id())
        })
    }

    /// The journal's path for execution `workflow_id`: given, else [`default_journal`].
    pub fn journal_path(&self, workflow_id: &str) -> PathBuf {
        self.journal
            .clone()
            .unwrap_or_else(|| default_journal(workflow_id))
    }

    /// How Rebilly usages carry their identity, as a run record writes it.
    pub fn usage_identity_name(&self) -> &'static str {
        match self.usage_identity {
            UsageIdentityArg::TimeFraction => "time-fraction",
            UsageIdentityArg::WholeSeconds => "whole-seconds",
        }
    }

    /// `executor` with the journal of execution `workflow_id` and the identity options
    /// applied. A dry run reads a journal that exists (a pinned id prepares what it sent) and
    /// creates none.
    pub fn apply(
        &self,
        executor: Executor,
        workflow_id: &str,
        dry_run: bool,
    ) -> anyhow::Result<Executor> {
        let executor = with_identity(executor, self.usage_identity_name())?;
        let path = self.journal_path(workflow_id);
        if dry_run && !path.exists() {
            return Ok(executor);
        }
        let journal = FileJournal::open(&path)
            .with_context(|| format!("opening the run journal {}", path.display()))?;
        // One process per execution: two would both find a task new (or begun and not done)
        // and both send it. A dry run sends nothing and reads the journal as it is.
        if !dry_run
            && !journal
                .lock()
                .with_context(|| format!("locking the run journal {}", path.display()))?
        {
            anyhow::bail!(
                "execution `{workflow_id}` cannot start: its journal {} is in use by another process (the same execution, or a call given the same --journal, is going on there); wait for it to end, then run the same command again",
                path.display()
            );
        }
        Ok(executor.with_journal(Arc::new(journal)))
    }
}

/// `executor` carrying Rebilly usage identities as `mode` says (`time-fraction`,
/// `whole-seconds`).
pub fn with_identity(executor: Executor, mode: &str) -> anyhow::Result<Executor> {
    let usage = match mode {
        "time-fraction" => UsageIdentityMode::TimeFraction,
        "whole-seconds" => UsageIdentityMode::WholeSeconds,
        other => anyhow::bail!("unknown usage identity mode `{other}`"),
    };
    Ok(executor.with_identity(IdentityOptions { usage }))
}

/// The line that tells a person how to resolve an unknown outcome, if `error` is one (the
/// execution's journal, `journal`, holds the time its request was stamped with).
pub fn replay_hint(error: &TaskError, command: &str, journal: &std::path::Path) -> Option<String> {
    let replay = error.replay.as_ref()?;
    (error.code == ErrorCode::OutcomeUnknown).then(|| {
        format!(
            "note: the outcome is unknown (the request may have been recorded). Run the same {command} again with --workflow-id {} to resolve it, from this folder or with --journal {} (it holds the request's time): it looks the request up first and never records it twice.",
            replay.workflow_id,
            journal.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use usage_connector::validate::VALIDATE_WORKFLOW_ID;

    /// `validate --input` stands in for the id `run` picks itself: its shape, at its longest
    /// (nanoseconds have 19 digits until 2286; a Linux process id is at most 4,194,304).
    #[test]
    fn validate_stands_in_for_the_longest_id_run_picks() {
        let longest = new_workflow_id("run", 9_999_999_999_999_999_999, 4_194_304);
        assert_eq!(longest.len(), VALIDATE_WORKFLOW_ID.len(), "{longest}");
        let shape = |id: &str| id.replace(|c: char| c.is_ascii_digit(), "0");
        assert_eq!(shape(&longest), VALIDATE_WORKFLOW_ID);
        let args = ExecutionArgs {
            workflow_id: None,
            journal: None,
            usage_identity: UsageIdentityArg::TimeFraction,
        };
        let today = args.workflow_id("run");
        assert!(today.len() <= longest.len(), "{today}");
        assert!(
            shape(&today).starts_with("run-0000000000000000000-0"),
            "{today}"
        );
    }
}
