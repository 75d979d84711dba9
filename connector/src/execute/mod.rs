//! Execution: the plugin trait a workflow runtime calls, and the Http task executor behind it.
//!
//! Policy: nothing invalid leaves the machine (every request comes from the one prepare path,
//! [`crate::prepare`], which validates it); retries follow [`retry::decide`]; every attempt of
//! one logical call carries the same idempotency identity ([`crate::identity`]; the vendor
//! rules in [`crate::vendor_rules`] decide what it is and how an ambiguous failure is resolved);
//! quantities stay exact decimals; secrets never reach output, logs or errors.
//!
//! Rooms: `executor.rs` (configuration, prepare + credentials), `send.rs` (the vendor-blind
//! retry loop), [`steps`] (where its exchanges and waits happen: now, or journaled by a durable
//! engine), [`trace`] (exchange records), [`transport`] (the network boundary).
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
//! let key = sandbox.dev_key("rebilly").unwrap().key.clone();
//! credentials.insert("rebilly", Credential { header: "REB-APIKEY".into(), value: Secret::new(key), platform_id: None });
//! let executor = Executor::new(credentials).with_server(Vendor::Rebilly, &sandbox.url());
//!
//! let task: Task = serde_json::from_value(json!({
//!     "type": "Http", "credentials": "rebilly", "end": true,
//!     "httpRequest": { "url": "https://api-sandbox.rebilly.com/usages", "method": "POST",
//!                      "body": { "subscriptionId": "${$.subscription}", "quantity": "${$.quantity}" } }
//! })).unwrap();
//! let input = json!({ "subscription": "sub_limit_100", "quantity": 5.125 });
//! let output = executor.execute(&task, &input, &TaskContext::new("wf-1", "Report usage")).await.unwrap();
//! let json = output.json();
//! assert_eq!(json["statusCode"], 201);
//! assert_eq!(json["outcome"], "created");
//! assert_eq!(json["body"]["quantity"], 5.125);
//! sandbox.shutdown().await;
//! # }
//! ```

mod executor;
mod send;
pub mod steps;
pub mod trace;
pub mod transport;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

pub use crate::credentials::{Credential, CredentialSpec, Credentials, Secret};
pub use crate::decimal::decimal_number;
pub use crate::output::{
    AttemptKind, AttemptRecord, DuplicateBody, DuplicateOf, ErrorCode, Headers, HttpTaskOutput,
    Outcome, QuantityReport, Replay, ResponseBody, TaskError,
};
pub use crate::prepare::PreparedRequest;
/// The retry decision (re-exported: engines apply the same policy).
pub use crate::retry;
pub use executor::{Executor, begun_changed};
pub use trace::{ProgressSink, RetryNotice, TraceSink};

use crate::simworkflow::Task;

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

/// What an earlier run of the same execution did with a task, as far as the runtime (its
/// journal, an engine's replay) knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum PriorRun {
    /// None: this is the first time.
    #[default]
    None,
    /// It started: its request may have been recorded.
    Started,
    /// It got a final answer.
    Finished,
}

/// What a task knows about where it runs.
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// The workflow run's id (part of derived identities: a re-run of the same workflow id and
    /// task with the same input is the same logical call).
    pub workflow_id: String,
    /// The task's name in the definition.
    pub task_name: String,
    /// Cancellation.
    pub cancel: Cancellation,
    /// What an earlier run of this execution did with the task (an executor with a journal
    /// also finds out itself).
    pub prior: PriorRun,
    /// The run the task belongs to (its workflow input and definition name, which `$$`
    /// placeholders read); `None` for a task run on its own.
    pub run: Option<Arc<RunInfo>>,
}

/// What every task of one run shares.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// The workflow input (`$$.Execution.Input`).
    pub input: Value,
    /// The definition's name (`$$.StateMachine.Name`).
    pub definition: String,
    /// The execution's number (`swf:sequenceNumber`), when its engine gives one.
    pub sequence: Option<u64>,
}

impl TaskContext {
    /// A context that is never cancelled, of a task no earlier run is known to have started.
    pub fn new(workflow_id: impl Into<String>, task_name: impl Into<String>) -> Self {
        TaskContext {
            workflow_id: workflow_id.into(),
            task_name: task_name.into(),
            cancel: Cancellation::never(),
            prior: PriorRun::None,
            run: None,
        }
    }

    /// The data of the task this context describes ([`crate::data`]; a task run on its own:
    /// no execution input, no sequence number).
    pub fn data(&self) -> crate::data::TaskData<'_> {
        static NO_INPUT: Value = Value::Null;
        let run = self.run.as_deref();
        crate::data::TaskData::new(
            crate::data::Frame {
                workflow_id: &self.workflow_id,
                definition: run.map_or("", |r| r.definition.as_str()),
                task: &self.task_name,
                sequence: run.and_then(|r| r.sequence),
            },
            run.map_or(&NO_INPUT, |r| &r.input),
        )
    }

    /// The execution this context describes, stamped `now`.
    pub fn execution(&self, now: chrono::DateTime<chrono::Utc>) -> crate::identity::Execution<'_> {
        let mut exec = crate::identity::Execution::new(&self.workflow_id, &self.task_name, now);
        if let Some(run) = &self.run {
            exec.definition = &run.definition;
            exec.execution_input = &run.input;
            exec.sequence = run.sequence;
        }
        exec
    }
}

/// A task's output: what the workflow passes on, and what a runtime reports about it.
///
/// An Http task's output stays typed ([`TaskOutput::http_output`]): a runtime that reads it
/// typed builds no JSON; one that passes JSON on gets it built once ([`TaskOutput::into_json`]),
/// or written once as bytes (`Serialize`, straight from the typed output).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskOutput {
    output: Output,
    /// HTTP attempts made (0 for a task that makes none).
    pub attempts: usize,
    /// How an Http task ended.
    pub outcome: Option<Outcome>,
}

/// The output itself: JSON, or an Http task's typed output.
#[derive(Debug, Clone, PartialEq)]
enum Output {
    Json(Value),
    Http(Box<HttpTaskOutput>),
}

impl TaskOutput {
    /// The output of a task that is not an HTTP call (a Simple task's handler).
    pub fn value(output: Value) -> Self {
        TaskOutput {
            output: Output::Json(output),
            attempts: 0,
            outcome: None,
        }
    }

    /// The output of an Http task (kept typed).
    pub fn http(out: HttpTaskOutput) -> Self {
        TaskOutput {
            attempts: out.attempts.len(),
            outcome: Some(out.outcome),
            output: Output::Http(Box::new(out)),
        }
    }

    /// An Http task's typed output (`None` for other tasks); nothing is converted.
    pub fn http_output(&self) -> Option<&HttpTaskOutput> {
        match &self.output {
            Output::Http(out) => Some(out),
            Output::Json(_) => None,
        }
    }

    /// The output as the JSON the workflow passes on (an Http task's: built now).
    pub fn json(&self) -> Value {
        match &self.output {
            Output::Json(v) => v.clone(),
            Output::Http(out) => serde_json::to_value(out).expect("outputs serialize"),
        }
    }

    /// [`TaskOutput::json`], taking the output (JSON given as JSON is not copied).
    pub fn into_json(self) -> Value {
        match self.output {
            Output::Json(v) => v,
            Output::Http(out) => serde_json::to_value(&*out).expect("outputs serialize"),
        }
    }
}

impl Serialize for TaskOutput {
    /// The output's JSON, written straight from the typed output (no JSON value between).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.output {
            Output::Json(v) => v.serialize(serializer),
            Output::Http(out) => out.serialize(serializer),
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
                Ok(TaskOutput::http(out))
            }
            other => Err(TaskError::new(
                ErrorCode::UnsupportedTask,
                format!("the Http executor cannot run a {} task", other.type_name()),
            )),
        }
    }
}
