//! Execution: the plugin trait a workflow runtime calls, and the Http task executor behind it.
//!
//! Policy (DESIGN.md §Execution semantics): nothing invalid leaves the machine (every request
//! passes [`crate::validate::validate_request`] first); retries follow [`retry::decide`]; every
//! attempt of one logical call carries the same idempotency identity (Solvimon: `reference` +
//! `Idempotency-Key`; Rebilly: a lookup by subscription and `usageTime` after an ambiguous
//! failure); quantities stay exact decimals; secrets never reach output, logs or errors.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use serde_json::json;
//! use usage_connector::execute::{Credential, Credentials, Executor, Secret, TaskContext, TaskHandler};
//! use usage_connector::simworkflow::Task;
//! use usage_connector::catalog::Vendor;
//!
//! // A local sandbox of both APIs (in tests and offline runs).
//! let sandbox = usage_sandbox::start(usage_sandbox::Config::default()).await.unwrap();
//! let mut credentials = Credentials::new();
//! credentials.insert("rebilly", Credential { header: "REB-APIKEY".into(), value: Secret::new("sk_sandbox_rebilly"), platform_id: None });
//! let executor = Executor::new(credentials).with_server(Vendor::Rebilly, &sandbox.url());
//!
//! let task: Task = serde_json::from_value(json!({
//!     "type": "Http", "credentials": "rebilly", "end": true,
//!     "httpRequest": { "url": "https://api-sandbox.rebilly.com/usages", "method": "POST",
//!                      "body": { "subscriptionId": "${$.subscription}", "quantity": "${$.quantity}" } }
//! })).unwrap();
//! let input = json!({ "subscription": "sub_limit_100", "quantity": 5.125 });
//! let output = executor.execute(&task, &input, &TaskContext::new("wf-1", "Report usage")).await.unwrap();
//! assert_eq!(output.output["statusCode"], 201);
//! assert_eq!(output.output["outcome"], "created");
//! assert_eq!(output.output["body"]["quantity"], 5.125);
//! sandbox.shutdown().await;
//! # }
//! ```

mod body;
pub mod credentials;
mod decimal;
mod http;
pub mod retry;
pub mod transport;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

pub use body::ResponseBody;
pub use credentials::{Credential, CredentialSpec, Credentials, Secret};
pub use decimal::decimal_number;
pub use http::{
    Executor, Headers, HttpTaskOutput, Outcome, PreparedRequest, QuantityReport, TraceSink,
};

use crate::simworkflow::Task;
use crate::validate::Diagnostic;

/// Cancellation of a running task (a runtime cancels; the task stops between attempts).
#[derive(Debug, Clone)]
pub struct Cancellation(watch::Receiver<bool>);

/// The handle that cancels.
#[derive(Debug)]
pub struct Canceller(watch::Sender<bool>);

impl Canceller {
    /// Cancels every task holding the matching [`Cancellation`].
    pub fn cancel(&self) {
        let _ = self.0.send(true);
    }
}

impl Cancellation {
    /// A pair: the runtime keeps the [`Canceller`], tasks get the [`Cancellation`].
    pub fn new() -> (Canceller, Cancellation) {
        let (tx, rx) = watch::channel(false);
        (Canceller(tx), Cancellation(rx))
    }

    /// A cancellation that never fires (shared, so making one allocates nothing).
    pub fn never() -> Self {
        static NEVER: std::sync::LazyLock<watch::Sender<bool>> =
            std::sync::LazyLock::new(|| watch::channel(false).0);
        Cancellation(NEVER.subscribe())
    }

    /// Whether it fired.
    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when it fires (never, when the canceller is dropped without firing).
    pub async fn cancelled(&self) {
        let mut rx = self.0.clone();
        loop {
            if *rx.borrow() {
                return;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// What a task knows about where it runs.
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// The workflow run's id (part of derived idempotency keys: a re-run of the same workflow
    /// id and task with the same input is the same logical call).
    pub workflow_id: String,
    /// The task's name in the definition.
    pub task_name: String,
    /// Cancellation.
    pub cancel: Cancellation,
}

impl TaskContext {
    /// A context that is never cancelled.
    pub fn new(workflow_id: impl Into<String>, task_name: impl Into<String>) -> Self {
        TaskContext {
            workflow_id: workflow_id.into(),
            task_name: task_name.into(),
            cancel: Cancellation::never(),
        }
    }
}

/// A task's output, as the workflow sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskOutput {
    /// JSON passed on to the next task.
    pub output: Value,
}

/// A failed task: a stable code, a message without secrets, and what is known.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
#[serde(rename_all = "camelCase")]
pub struct TaskError {
    /// Stable code: `INVALID_REQUEST`, `USAGE_LIMIT_EXCEEDED`, `HTTP_ERROR`, `RETRIES_EXHAUSTED`, ….
    pub code: String,
    /// What happened.
    pub message: String,
    /// Last HTTP status, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Last response body (the API's error), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Attempts made.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<http::AttemptRecord>,
    /// Validation findings (for `INVALID_REQUEST`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Diagnostic>,
    /// Quantities, when a usage limit stopped the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<QuantityReport>,
}

impl TaskError {
    /// The error for a placeholder that could not be resolved at `at` (`INPUT_MISSING`, or
    /// `UNSUPPORTED_EXPRESSION` for JSONata, which this connector does not evaluate).
    pub fn unresolved(e: crate::validate::placeholder::Unresolved, at: &str) -> Self {
        use crate::validate::placeholder::Unresolved;
        match e {
            Unresolved::Missing(path) => TaskError::new(
                "INPUT_MISSING",
                format!("{at}: `{path}` names no value in the task input"),
            ),
            Unresolved::Jsonata => TaskError::new(
                "UNSUPPORTED_EXPRESSION",
                format!("{at}: JSONata expressions are not evaluated by this connector"),
            ),
        }
    }

    /// An error with a code and message.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        TaskError {
            code: code.to_owned(),
            message: message.into(),
            status_code: None,
            body: None,
            attempts: vec![],
            diagnostics: vec![],
            quantity: None,
        }
    }
}

/// The plugin interface: how a workflow runtime (the local runner, `call`, an engine adapter)
/// runs a task through the connector.
#[async_trait]
pub trait TaskHandler: Send + Sync {
    /// Runs `task` with its input (already mapped by `inputParameters`) and returns its output.
    async fn execute(
        &self,
        task: &Task,
        input: &Value,
        ctx: &TaskContext,
    ) -> Result<TaskOutput, TaskError>;
}

#[async_trait]
impl TaskHandler for Executor {
    async fn execute(
        &self,
        task: &Task,
        input: &Value,
        ctx: &TaskContext,
    ) -> Result<TaskOutput, TaskError> {
        match task {
            Task::Http(http) => {
                let out = self.execute_http(http, input, ctx).await?;
                Ok(TaskOutput {
                    output: serde_json::to_value(out).expect("outputs serialize"),
                })
            }
            other => Err(TaskError::new(
                "UNSUPPORTED_TASK",
                format!("the Http executor cannot run a {} task", other.type_name()),
            )),
        }
    }
}
