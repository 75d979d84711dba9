//! The crate's one error type: what stops a service call besides a task's own failure (that is
//! the run's result, a `TaskError`). Each becomes a terminal error: Restate does not retry it,
//! since a retry would meet it again.

use restate_sdk::errors::{HandlerError, TerminalError};
use usage_connector::execute::TaskError;

/// Why a service call could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A submitted definition (or the definition a branch was given) that is not a SimWorkflow
    /// definition.
    #[error("the submitted definition cannot be read: {0}")]
    Definition(#[source] serde_json::Error),
    /// A definition with validation errors (the first few, `CODE pointer: message`).
    #[error("the definition has errors: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// A branch's definition that does not compile (its run compiled it already, so the
    /// definition changed underneath).
    #[error("task `{task}`: {error}")]
    Plan {
        /// The task.
        task: String,
        /// Why.
        error: Box<TaskError>,
    },
    /// A branch's deadline that is not an RFC 3339 time.
    #[error("the run's deadline cannot be read: {0}")]
    Deadline(#[source] chrono::ParseError),
}

impl Error {
    /// As a terminal error (the SDK's own conversion of an error would be retried).
    pub fn terminal(self) -> HandlerError {
        TerminalError::new(self.to_string()).into()
    }
}
