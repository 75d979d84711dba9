//! The interpreter: the control flow of a SimWorkflow definition, written once for every
//! engine. An [`Engine`] supplies the effects (running an Http or Simple task, running a
//! Parallel task's branches, hearing about progress); routing, Decision, Terminate, data
//! passing and the Parallel rules live here.
//!
//! Policy (Amazon States Language semantics, which SimWorkflow copies; docs/runner.md): a task's
//! input is the previous task's output (the workflow input for the start task), reshaped by
//! `inputParameters`; its result goes through `resultSelector`, `resultPath`, `outputPath`. A
//! Decision routes on its input and passes it through. A Parallel task outputs its branches'
//! outputs in branch order; one failing branch fails it. A Terminate task's `workflowOutput`
//! ends the scope. Any task failure fails the scope. The interpreter keeps no state between
//! tasks but what it passes on, so a durable engine can replay it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::TaskEvent;
use super::plan::{Plan, ScopeId};
use crate::condition;
use crate::data::{Frame, TaskData};
use crate::execute::{Cancellation, ErrorCode, RunInfo, TaskContext, TaskError, TaskOutput};
use crate::journal::Recorded;
use crate::simworkflow::{Task, TerminationStatus};

/// One run of a plan: what every scope of it shares. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Run {
    /// The compiled definition.
    pub plan: Plan,
    /// The workflow input and definition name (what `$$` reads).
    pub info: Arc<RunInfo>,
    /// The execution's id (part of every derived identity).
    pub workflow_id: Arc<str>,
    /// What an earlier attempt of this execution recorded, by task: a task with a recorded
    /// output is not run again (a resume).
    pub recorded: Arc<BTreeMap<String, Recorded>>,
    /// Stops the run between tasks (and a task between its attempts).
    pub cancel: Cancellation,
}

impl Run {
    /// A run of `plan` with `input` under `workflow_id`.
    pub fn new(plan: Plan, input: Value, workflow_id: &str) -> Self {
        let info = Arc::new(RunInfo {
            input,
            definition: plan.definition().name.clone(),
            sequence: None,
        });
        Run {
            plan,
            info,
            workflow_id: Arc::from(workflow_id),
            recorded: Arc::new(BTreeMap::new()),
            cancel: Cancellation::never(),
        }
    }

    /// This run is execution number `n` (`swf:sequenceNumber`), as its engine numbered it.
    pub fn numbered(mut self, n: u64) -> Self {
        Arc::make_mut(&mut self.info).sequence = Some(n);
        self
    }

    /// This run resumes an earlier attempt: tasks with a recorded output reuse it.
    pub fn resuming(mut self, recorded: BTreeMap<String, Recorded>) -> Self {
        self.recorded = Arc::new(recorded);
        self
    }

    /// This run stops when `cancel` fires: no task starts after it, and a running task stops
    /// between attempts.
    pub fn with_cancel(mut self, cancel: Cancellation) -> Self {
        self.cancel = cancel;
        self
    }
}

/// How a scope ended without a task failing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeEnd {
    /// The scope's output.
    pub output: Value,
    /// Whether a Terminate task ended it with `terminationStatus: Failed`.
    pub failed_by_terminate: bool,
}

/// A task failure, and which task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The task's name (empty for the run itself, e.g. a timeout).
    pub task: String,
    /// What went wrong.
    pub error: TaskError,
}

/// How a Parallel task's branches ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Branches {
    /// Every branch completed: their outputs, in branch order.
    Completed(Vec<Value>),
    /// A branch ended with a Terminate `Failed`: its end.
    Terminated(ScopeEnd),
    /// A branch's task failed.
    Failed(Box<Failure>),
}

/// Collects branch results as they come (in any order) into [`Branches`]: the first branch
/// that does not complete decides. What happens to the others is the engine's (the local
/// runner cancels them; on Restate they run to their end, docs/engines.md).
#[derive(Debug)]
pub struct BranchResults {
    outputs: Vec<Option<Value>>,
}

impl BranchResults {
    /// Results for `count` branches.
    pub fn new(count: usize) -> Self {
        BranchResults {
            outputs: vec![None; count],
        }
    }

    /// Adds branch `index`'s result; `Some` when it decides the Parallel task's end.
    pub fn add(&mut self, index: usize, result: Result<ScopeEnd, Failure>) -> Option<Branches> {
        match result {
            Ok(end) if !end.failed_by_terminate => {
                self.outputs[index] = Some(end.output);
                None
            }
            Ok(end) => Some(Branches::Terminated(end)),
            Err(f) => Some(Branches::Failed(Box::new(f))),
        }
    }

    /// The end once every branch has completed.
    pub fn finish(self) -> Branches {
        Branches::Completed(
            self.outputs
                .into_iter()
                .map(|o| o.unwrap_or(Value::Null))
                .collect(),
        )
    }
}

/// What the interpreter needs from the runtime that hosts it.
#[async_trait]
pub trait Engine: Send + Sync {
    /// Runs an Http or Simple task with its input (after `inputParameters`).
    async fn task(
        &self,
        task: &Task,
        input: &Value,
        ctx: &TaskContext,
    ) -> Result<TaskOutput, TaskError>;

    /// Runs the `count` branches of the Parallel task `parallel`, each with `input` and each
    /// through [`interpret`] (here, or in another process).
    async fn branches(&self, run: &Run, parallel: &str, count: usize, input: &Value) -> Branches;

    /// Hears about every task as it starts and ends (progress lines, logs).
    fn report(&self, event: &TaskEvent) {
        let _ = event;
    }

    /// Records an Http or Simple task's output as its handler returned it (before
    /// `resultSelector`), so that a resume of the execution reuses it.
    fn record(&self, ctx: &TaskContext, output: &Value) {
        let _ = (ctx, output);
    }
}

/// Runs the scope `scope` of `run` from its start task with `input`, through `engine`.
pub async fn interpret<E: Engine + ?Sized>(
    engine: &E,
    run: &Run,
    scope: &ScopeId,
    input: Value,
) -> Result<ScopeEnd, Failure> {
    let Some(tasks) = run.plan.scope(scope) else {
        return Err(Failure {
            task: String::new(),
            error: TaskError::new(ErrorCode::NoSuchTask, format!("no scope {scope:?}")),
        });
    };
    let mut current = tasks.start.clone();
    let mut input = input;
    // A recorded output stands for a task's first run in the scope only (a loop that comes
    // back to a task runs it again).
    let mut visited = std::collections::HashSet::<String>::new();
    loop {
        let Some(task) = tasks.tasks.get(&current) else {
            return Err(Failure {
                task: current.clone(),
                error: TaskError::new(ErrorCode::NoSuchTask, format!("no task named `{current}`")),
            });
        };
        let started = Instant::now();
        let common = task.common();
        let (end, next) = (common.end, common.next_task.map(str::to_owned));
        let data = TaskData::new(
            Frame {
                workflow_id: &run.workflow_id,
                definition: &run.info.definition,
                task: &current,
                sequence: run.info.sequence,
            },
            &run.info.input,
        );
        let fail = |error: TaskError| Failure {
            task: current.clone(),
            error,
        };
        let task_input = data.input(common.input_parameters, &input).map_err(fail)?;
        let event = |status: &'static str, attempts: usize, detail: Option<String>| TaskEvent {
            task: current.clone(),
            kind: task.type_name(),
            status,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            attempts,
            detail,
        };
        let first_visit = visited.insert(current.clone());
        let reused = match task {
            Task::Http(_) | Task::Simple(_) if first_visit => {
                run.recorded.get(&current).and_then(|r| r.output.clone())
            }
            _ => None,
        };
        if reused.is_none() {
            engine.report(&event("Started", 0, None));
        }
        // The task's result, and the line that reports it once its output is passed on.
        let (result, done) = match task {
            Task::Http(_) | Task::Simple(_) => {
                let ctx = TaskContext {
                    run: Some(run.info.clone()),
                    cancel: run.cancel.clone(),
                    ..TaskContext::new(&*run.workflow_id, current.clone())
                };
                if run.cancel.is_cancelled() {
                    let error = TaskError::new(ErrorCode::Cancelled, "the run was interrupted");
                    engine.report(&event("Failed", 0, Some(error.code.to_string())));
                    return Err(fail(error));
                }
                match reused {
                    Some(output) => {
                        let detail = output["outcome"]
                            .as_str()
                            .map(|o| format!("recorded {o}, not sent again"));
                        (output, ("Reused", 0, detail))
                    }
                    None => match engine.task(task, &task_input, &ctx).await {
                        Ok(out) => {
                            let detail = out.outcome.map(|o| o.to_string());
                            let attempts = out.attempts;
                            let output = out.into_json();
                            engine.record(&ctx, &output);
                            (output, ("Completed", attempts, detail))
                        }
                        Err(error) => {
                            engine.report(&event(
                                "Failed",
                                error.attempts.len(),
                                Some(error.code.to_string()),
                            ));
                            return Err(fail(error));
                        }
                    },
                }
            }
            Task::Decision(d) => {
                let scope = data.scope(&task_input);
                let target = d
                    .choices
                    .iter()
                    .zip(run.plan.conditions(&current))
                    .find(|(_, expr)| condition::eval_in(expr, &scope))
                    .map_or_else(|| d.default_task.clone(), |(c, _)| c.next_task.clone());
                engine.report(&event("Completed", 0, Some(format!("→ {target}"))));
                current = target;
                input = task_input;
                continue;
            }
            Task::Parallel(p) => {
                match engine
                    .branches(run, &current, p.branches.len(), &task_input)
                    .await
                {
                    Branches::Completed(outputs) => (Value::Array(outputs), ("Completed", 0, None)),
                    Branches::Terminated(end) => {
                        engine.report(&event("Failed", 0, Some("branch terminated Failed".into())));
                        return Ok(end);
                    }
                    Branches::Failed(f) => {
                        engine.report(&event(
                            "Failed",
                            0,
                            Some(format!("branch task `{}` failed", f.task)),
                        ));
                        return Err(*f);
                    }
                }
            }
            Task::Terminate(t) => {
                let output = data
                    .workflow_output(t.workflow_output.as_ref(), task_input)
                    .map_err(fail)?;
                let failed = t.termination_status == TerminationStatus::Failed;
                engine.report(&event(
                    if failed { "Failed" } else { "Completed" },
                    0,
                    Some(format!("terminate {:?}", t.termination_status)),
                ));
                return Ok(ScopeEnd {
                    output,
                    failed_by_terminate: failed,
                });
            }
        };
        // A result the task's data passing cannot use fails the task, not the next one.
        let output = match data.output(task, input, result) {
            Ok(output) => output,
            Err(error) => {
                engine.report(&event("Failed", done.1, Some(error.code.to_string())));
                return Err(fail(error));
            }
        };
        engine.report(&event(done.0, done.1, done.2));
        if end {
            return Ok(ScopeEnd {
                output,
                failed_by_terminate: false,
            });
        }
        match next {
            Some(n) => {
                current = n;
                input = output;
            }
            None => {
                return Err(fail(TaskError::new(
                    ErrorCode::NoNext,
                    "the task has neither nextTask nor end: true",
                )));
            }
        }
    }
}
