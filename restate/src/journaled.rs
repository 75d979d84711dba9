//! What the engine journals beside the executor's own steps: a call's first exchange taken
//! with its clock read, a Simple task's result, and how a branch invocation ended. Each has a
//! serializable form, so a replay reads back what the first run decided.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use usage_connector::execute::steps::StepRecord;
use usage_connector::execute::{ErrorCode, Outcome, TaskError, TaskOutput};
use usage_connector::journal::Recorded;
use usage_connector::runner::Failure;

/// A journaled time, read back.
pub(crate) fn read_time(at: &str) -> Result<DateTime<Utc>, TaskError> {
    DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            TaskError::new(
                ErrorCode::JournalFailed,
                format!("the journaled time `{at}` does not read back: {e}"),
            )
        })
}

/// The journal form of a call's first exchange taken with its clock read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TimedStep {
    /// When the step began (RFC 3339).
    pub(crate) at: String,
    /// The exchange; `None` when the run was past its deadline and nothing was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) step: Option<StepRecord>,
}

/// How a branch invocation ended, and what its tasks recorded (kept by the run, for a resume).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BranchEnd {
    /// How it ended.
    #[serde(flatten)]
    pub outcome: BranchOutcome,
    /// What its tasks recorded.
    #[serde(default)]
    pub recorded: BTreeMap<String, Recorded>,
}

/// How a branch's scope ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "branch")]
pub enum BranchOutcome {
    /// The scope ended (completed, or a Terminate ended it).
    Ended(usage_connector::runner::ScopeEnd),
    /// A task failed.
    Failed(Box<Failure>),
}

/// A Simple task's journaled result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "result")]
pub(crate) enum SimpleRecord {
    /// The handler's output.
    Done {
        /// What the task passes on.
        output: Value,
        /// HTTP attempts the handler reported.
        attempts: usize,
        /// How it ended, if it says.
        outcome: Option<Outcome>,
    },
    /// The handler's failure.
    Failed {
        /// Why.
        error: Box<TaskError>,
    },
}

impl From<Result<TaskOutput, TaskError>> for SimpleRecord {
    fn from(r: Result<TaskOutput, TaskError>) -> Self {
        match r {
            Ok(out) => SimpleRecord::Done {
                attempts: out.attempts,
                outcome: out.outcome,
                output: out.into_json(),
            },
            Err(error) => SimpleRecord::Failed {
                error: Box::new(error),
            },
        }
    }
}

impl From<SimpleRecord> for Result<TaskOutput, TaskError> {
    fn from(r: SimpleRecord) -> Self {
        match r {
            SimpleRecord::Done {
                output,
                attempts,
                outcome,
            } => {
                let mut out = TaskOutput::value(output);
                (out.attempts, out.outcome) = (attempts, outcome);
                Ok(out)
            }
            SimpleRecord::Failed { error } => Err(*error),
        }
    }
}
