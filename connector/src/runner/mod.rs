//! The local runner: the [`interpret`]er (the control flow every engine shares) with this
//! process as its [`Engine`]: Http tasks through the plugin trait ([`TaskHandler`]), Simple
//! tasks through registered handlers, Parallel branches as tokio tasks (one failing branch
//! cancels the others), `timeoutSeconds` as a deadline on the whole run.
//!
//! Data passing follows Amazon States Language (docs/runner.md; [`crate::data`]).
//! Decision conditions are parsed once per definition ([`Plan`]), before the first task: a
//! definition whose condition cannot be parsed fails before anything is sent, never halfway.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Value, json};

mod interpret;
mod plan;

use crate::execute::{ErrorCode, TaskContext, TaskError, TaskHandler, TaskOutput};
use crate::journal::RunJournal;
use crate::simworkflow::{Task, WorkflowDefinition};
pub use interpret::{BranchResults, Branches, Engine, Failure, Run, ScopeEnd, interpret};
pub use plan::{Plan, Scope, ScopeId};

/// A finished task, as the runner reports it while running.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskEvent {
    /// Task name.
    pub task: String,
    /// Task type.
    pub kind: &'static str,
    /// `Completed` or `Failed`.
    pub status: &'static str,
    /// Wall time.
    pub duration_ms: u64,
    /// HTTP attempts (Http tasks).
    pub attempts: usize,
    /// Executor outcome or error code, when there is one.
    pub detail: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RunStatus {
    /// Completed.
    Completed,
    /// Failed (a task failed, a Terminate said so, or the timeout struck).
    Failed,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// Status.
    pub status: RunStatus,
    /// Workflow output (for a failure: `{task, code, message}` and what is known).
    pub output: Value,
}

type Observer = Arc<dyn Fn(&TaskEvent) + Send + Sync>;

/// Runs workflow definitions locally: the [`interpret`]er with this process as its engine
/// (Http tasks through a [`TaskHandler`], Parallel branches as tokio tasks). Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    http: Arc<dyn TaskHandler>,
    simple: Arc<HashMap<String, Arc<dyn TaskHandler>>>,
    observer: Option<Observer>,
    journal: Option<Arc<dyn RunJournal>>,
    /// The last number given to a run that came without one.
    numbered: Arc<std::sync::atomic::AtomicU64>,
}

impl Runner {
    /// A runner whose Http tasks go to `http` (normally an [`crate::execute::Executor`]).
    pub fn new(http: Arc<dyn TaskHandler>) -> Self {
        Runner {
            http,
            simple: Arc::new(HashMap::new()),
            observer: None,
            journal: None,
            numbered: Arc::default(),
        }
    }

    /// Records every completed task's output and how each run ends in `journal`, so a
    /// resume ([`Run::resuming`]) can reuse them.
    pub fn with_journal(mut self, journal: Arc<dyn RunJournal>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Registers the handler of the `Simple` task with this name (a user or remote worker's
    /// job in SimWorkflow). A Simple task without a handler fails the run with a clear error.
    pub fn with_simple_handler(mut self, task_name: &str, handler: Arc<dyn TaskHandler>) -> Self {
        Arc::make_mut(&mut self.simple).insert(task_name.to_owned(), handler);
        self
    }

    /// Calls `observer` after every task.
    pub fn on_task(mut self, observer: impl Fn(&TaskEvent) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Runs `definition` with `input` (compiling its [`Plan`] first). The definition should
    /// have passed validation.
    pub async fn run(
        &self,
        definition: &WorkflowDefinition,
        input: Value,
        workflow_id: &str,
    ) -> RunResult {
        match Plan::compile(definition) {
            Ok(plan) => self.run_plan(&plan, input, workflow_id).await,
            Err((task, error)) => RunResult::failed(Failure { task, error }),
        }
    }

    /// Runs a compiled plan with `input`; `timeoutSeconds` bounds the whole run.
    pub async fn run_plan(&self, plan: &Plan, input: Value, workflow_id: &str) -> RunResult {
        self.execute(Run::new(plan.clone(), input, workflow_id))
            .await
    }

    /// Runs `run` (a new run, or a resume: [`Run::resuming`]); `timeoutSeconds` bounds it.
    /// With a journal, how it ended is recorded. A run without a number ([`Run::numbered`])
    /// gets this runner's next one, from 1 (a resume should carry the number its run had).
    pub async fn execute(&self, run: Run) -> RunResult {
        let run = match run.info.sequence {
            Some(_) => run,
            None => {
                let n = self
                    .numbered
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1;
                run.numbered(n)
            }
        };
        let plan = run.plan.clone();
        let input = run.info.input.clone();
        let scope = interpret(self, &run, &ScopeId::Workflow, input);
        let result = match plan.definition().timeout_seconds.filter(|t| *t > 0) {
            Some(secs) => match tokio::time::timeout(Duration::from_secs(secs), scope).await {
                Ok(r) => r,
                Err(_) => Err(timed_out(secs)),
            },
            None => scope.await,
        };
        let result = RunResult::of(result);
        if let Some(journal) = &self.journal {
            let status = match result.status {
                RunStatus::Completed => "Completed",
                RunStatus::Failed => "Failed",
            };
            if let Err(e) = journal.end(&run.workflow_id, status) {
                tracing::warn!("could not record how run {} ended: {e}", run.workflow_id);
            }
        }
        result
    }

    /// The handler of an Http or Simple task.
    fn handler(&self, task: &Task, name: &str) -> Result<Arc<dyn TaskHandler>, TaskError> {
        match task {
            Task::Http(_) => Ok(self.http.clone()),
            _ => self.simple.get(name).cloned().ok_or_else(|| {
                TaskError::new(
                    ErrorCode::NoHandler,
                    format!(
                        "Simple task `{name}` has no handler: register one with Runner::with_simple_handler (locally, Simple tasks do not wait for a person)"
                    ),
                )
            }),
        }
    }
}

#[async_trait]
impl Engine for Runner {
    async fn task(
        &self,
        task: &Task,
        input: &Value,
        ctx: &TaskContext,
    ) -> Result<TaskOutput, TaskError> {
        self.handler(task, &ctx.task_name)?
            .execute(task, input, ctx)
            .await
    }

    async fn branches(&self, run: &Run, parallel: &str, count: usize, input: &Value) -> Branches {
        let mut set = tokio::task::JoinSet::new();
        for index in 0..count {
            let (runner, run, input) = (self.clone(), run.clone(), input.clone());
            let scope = ScopeId::Branch {
                parallel: parallel.to_owned(),
                index,
            };
            set.spawn(async move { (index, interpret(&runner, &run, &scope, input).await) });
        }
        let mut results = BranchResults::new(count);
        while let Some(joined) = set.join_next().await {
            let decided = match joined {
                Ok((index, result)) => results.add(index, result),
                Err(e) => Some(Branches::Failed(Box::new(Failure {
                    task: parallel.to_owned(),
                    error: TaskError::new(ErrorCode::BranchPanicked, e.to_string()),
                }))),
            };
            if let Some(end) = decided {
                set.abort_all();
                return end;
            }
        }
        results.finish()
    }

    fn report(&self, event: &TaskEvent) {
        if let Some(o) = &self.observer {
            o(event);
        }
    }

    fn record(&self, ctx: &TaskContext, output: &Value) {
        if let Some(journal) = &self.journal
            && let Err(e) = journal.complete(&ctx.workflow_id, &ctx.task_name, output)
        {
            tracing::warn!(task = %ctx.task_name, "could not record the task's output: {e}");
        }
    }
}

/// The failure of a run that outlived its `timeoutSeconds`.
pub fn timed_out(secs: u64) -> Failure {
    Failure {
        task: String::new(),
        error: TaskError::new(
            ErrorCode::TimedOut,
            format!("the workflow ran longer than timeoutSeconds ({secs})"),
        ),
    }
}

impl RunResult {
    /// The result of a run whose workflow scope ended with `result`.
    pub fn of(result: Result<ScopeEnd, Failure>) -> Self {
        match result {
            Ok(end) if !end.failed_by_terminate => RunResult {
                status: RunStatus::Completed,
                output: end.output,
            },
            Ok(end) => RunResult {
                status: RunStatus::Failed,
                output: end.output,
            },
            Err(f) => RunResult::failed(f),
        }
    }

    /// The result of a run that failed with `f`: `{task, code, message, error}`.
    pub fn failed(f: Failure) -> Self {
        RunResult {
            status: RunStatus::Failed,
            output: json!({ "task": f.task, "code": f.error.code, "message": f.error.message, "error": f.error }),
        }
    }
}
