//! The local runner: interprets a SimWorkflow definition, running every task through the
//! plugin trait ([`TaskHandler`]).
//!
//! Data passing (Amazon States Language semantics, which SimWorkflow copies; docs/runner.md): a
//! task's input is the previous task's output (the workflow input for the start task);
//! `inputParameters`, when present, is resolved against that input and replaces it. An Http
//! task's output is the executor's output (`statusCode`, `body`, `outcome`, `quantity`, …); a
//! Decision passes its input through; a Parallel task outputs the array of its branches'
//! outputs, in branch order; a Terminate task's `workflowOutput` (resolved against its input,
//! else the input itself) becomes the workflow (or branch) output. `end: true` ends the scope
//! with the task's output. Any task failure fails the workflow (a Parallel fails when one branch
//! fails; the others are cancelled). `timeoutSeconds` bounds the whole run.
//!
//! Decision conditions are parsed once per definition ([`Plan`]), before the first task: a
//! definition whose condition cannot be parsed fails before anything is sent, never halfway.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

mod data;

use crate::condition::{self, Expr};
use crate::execute::{ErrorCode, RunInfo, TaskContext, TaskError, TaskHandler};
use crate::simworkflow::{Task, TerminationStatus, WorkflowDefinition};
use data::TaskData;

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

struct Failure {
    task: String,
    error: TaskError,
}

struct ScopeEnd {
    output: Value,
    failed_by_terminate: bool,
}

type Observer = Arc<dyn Fn(&TaskEvent) + Send + Sync>;

/// A definition ready to run: its Decision conditions parsed once, however often it runs
/// or loops. Build one with [`Plan::compile`] and run it many times with [`Runner::run_plan`].
#[derive(Debug, Clone)]
pub struct Plan {
    definition: Arc<WorkflowDefinition>,
    /// Parsed conditions by Decision task name.
    conditions: Arc<HashMap<String, Vec<Expr>>>,
}

impl Plan {
    /// Parses every Decision condition of `definition`. `Err`: the task and its error — a
    /// condition outside the language (`E-CONDITION`), or a name used twice
    /// (`DUPLICATE_TASK`), which would make routing ambiguous. Validation reports both first.
    pub fn compile(definition: &WorkflowDefinition) -> Result<Self, (String, TaskError)> {
        let mut conditions = HashMap::new();
        let mut names = std::collections::HashSet::new();
        let mut failed = None;
        definition.walk(|t| {
            if !names.insert(t.name) {
                failed.get_or_insert((
                    t.name.to_owned(),
                    TaskError::new(
                        ErrorCode::DuplicateTask,
                        format!("task name `{}` is used twice ({})", t.name, t.pointer()),
                    ),
                ));
            }
            let Task::Decision(d) = t.task else { return };
            let parsed: Result<Vec<Expr>, _> = d
                .choices
                .iter()
                .map(|c| {
                    condition::parse(&c.condition).map_err(|e| {
                        format!(
                            "{} (at character {}) in `{}`",
                            e.message,
                            e.offset + 1,
                            c.condition
                        )
                    })
                })
                .collect();
            match parsed {
                Ok(exprs) => {
                    conditions.insert(t.name.to_owned(), exprs);
                }
                Err(message) => {
                    failed.get_or_insert((
                        t.name.to_owned(),
                        TaskError::new(ErrorCode::Condition, message),
                    ));
                }
            }
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(Plan {
                definition: Arc::new(definition.clone()),
                conditions: Arc::new(conditions),
            }),
        }
    }

    /// The definition.
    pub fn definition(&self) -> &WorkflowDefinition {
        &self.definition
    }
}

/// Runs workflow definitions locally. Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    http: Arc<dyn TaskHandler>,
    simple: Arc<HashMap<String, Arc<dyn TaskHandler>>>,
    observer: Option<Observer>,
}

impl Runner {
    /// A runner whose Http tasks go to `http` (normally an [`crate::execute::Executor`]).
    pub fn new(http: Arc<dyn TaskHandler>) -> Self {
        Runner {
            http,
            simple: Arc::new(HashMap::new()),
            observer: None,
        }
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
            Err((task, error)) => failed(Failure { task, error }),
        }
    }

    /// Runs a compiled plan with `input`.
    pub async fn run_plan(&self, plan: &Plan, input: Value, workflow_id: &str) -> RunResult {
        let definition = plan.definition();
        let info = Arc::new(RunInfo {
            input: input.clone(),
            definition: definition.name.clone(),
        });
        let run = self.run_scope(
            Arc::new(plan.clone()),
            info,
            Arc::new(definition.tasks.clone()),
            definition.start_task.clone(),
            input,
            workflow_id.to_owned(),
        );
        let result = match definition.timeout_seconds.filter(|t| *t > 0) {
            Some(secs) => match tokio::time::timeout(Duration::from_secs(secs), run).await {
                Ok(r) => r,
                Err(_) => Err(Failure {
                    task: String::new(),
                    error: TaskError::new(
                        ErrorCode::TimedOut,
                        format!("the workflow ran longer than timeoutSeconds ({secs})"),
                    ),
                }),
            },
            None => run.await,
        };
        match result {
            Ok(end) if !end.failed_by_terminate => RunResult {
                status: RunStatus::Completed,
                output: end.output,
            },
            Ok(end) => RunResult {
                status: RunStatus::Failed,
                output: end.output,
            },
            Err(f) => failed(f),
        }
    }

    fn report(&self, event: TaskEvent) {
        if let Some(o) = &self.observer {
            o(&event);
        }
    }

    fn run_scope(
        &self,
        plan: Arc<Plan>,
        run: Arc<RunInfo>,
        tasks: Arc<BTreeMap<String, Task>>,
        start: String,
        input: Value,
        workflow_id: String,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<ScopeEnd, Failure>> + Send + '_>>
    {
        Box::pin(async move {
            let mut current = start;
            let mut input = input;
            loop {
                let Some(task) = tasks.get(&current) else {
                    return Err(Failure {
                        task: current.clone(),
                        error: TaskError::new(
                            ErrorCode::NoSuchTask,
                            format!("no task named `{current}`"),
                        ),
                    });
                };
                let started = Instant::now();
                let common = task.common();
                let (end, next) = (common.end, common.next_task.map(str::to_owned));
                let data = TaskData::new(&workflow_id, &run.definition, &current);
                let fail = |error: TaskError| Failure {
                    task: current.clone(),
                    error,
                };
                let task_input = match common.input_parameters {
                    Some(params) => data::resolve_map(
                        params,
                        &data.scope(&input, &run.input),
                        "/inputParameters",
                    )
                    .map_err(fail)?,
                    None => input.clone(),
                };
                let event =
                    |status: &'static str, attempts: usize, detail: Option<String>| TaskEvent {
                        task: current.clone(),
                        kind: task.type_name(),
                        status,
                        duration_ms: u64::try_from(started.elapsed().as_millis())
                            .unwrap_or(u64::MAX),
                        attempts,
                        detail,
                    };
                self.report(event("Started", 0, None));
                let result = match task {
                    Task::Http(_) | Task::Simple(_) => {
                        let handler = match task {
                            Task::Http(_) => Some(self.http.clone()),
                            _ => self.simple.get(&current).cloned(),
                        };
                        let Some(handler) = handler else {
                            let error = TaskError::new(
                                ErrorCode::NoHandler,
                                format!(
                                    "Simple task `{current}` has no handler: register one with Runner::with_simple_handler (locally, Simple tasks do not wait for a person)"
                                ),
                            );
                            self.report(event("Failed", 0, Some(error.code.to_string())));
                            return Err(Failure {
                                task: current.clone(),
                                error,
                            });
                        };
                        let ctx = TaskContext {
                            run: Some(run.clone()),
                            ..TaskContext::new(workflow_id.clone(), current.clone())
                        };
                        match handler.execute(task, &task_input, &ctx).await {
                            Ok(out) => {
                                let detail = out.outcome.map(|o| o.to_string());
                                self.report(event("Completed", out.attempts, detail));
                                out.output
                            }
                            Err(error) => {
                                self.report(event(
                                    "Failed",
                                    error.attempts.len(),
                                    Some(error.code.to_string()),
                                ));
                                return Err(Failure {
                                    task: current.clone(),
                                    error,
                                });
                            }
                        }
                    }
                    Task::Decision(d) => {
                        let exprs = plan.conditions.get(&current).map_or(&[][..], Vec::as_slice);
                        let target = d
                            .choices
                            .iter()
                            .zip(exprs)
                            .find(|(_, expr)| {
                                condition::eval_in(expr, &data.scope(&task_input, &run.input))
                            })
                            .map_or_else(|| d.default_task.clone(), |(c, _)| c.next_task.clone());
                        self.report(event("Completed", 0, Some(format!("→ {target}"))));
                        current = target;
                        input = task_input;
                        continue;
                    }
                    Task::Parallel(p) => {
                        let mut set = tokio::task::JoinSet::new();
                        for (i, branch) in p.branches.iter().enumerate() {
                            let (runner, plan, info) = (self.clone(), plan.clone(), run.clone());
                            let (tasks, start, branch_input, wf) = (
                                Arc::new(branch.tasks.clone()),
                                branch.start_task.clone(),
                                task_input.clone(),
                                workflow_id.clone(),
                            );
                            set.spawn(async move {
                                (
                                    i,
                                    runner
                                        .run_scope(plan, info, tasks, start, branch_input, wf)
                                        .await,
                                )
                            });
                        }
                        let mut outputs = vec![Value::Null; p.branches.len()];
                        while let Some(joined) = set.join_next().await {
                            let (i, result) = joined.map_err(|e| Failure {
                                task: current.clone(),
                                error: TaskError::new(ErrorCode::BranchPanicked, e.to_string()),
                            })?;
                            match result {
                                Ok(end) if !end.failed_by_terminate => outputs[i] = end.output,
                                Ok(end) => {
                                    set.abort_all();
                                    self.report(event(
                                        "Failed",
                                        0,
                                        Some("branch terminated Failed".into()),
                                    ));
                                    return Ok(ScopeEnd {
                                        output: end.output,
                                        failed_by_terminate: true,
                                    });
                                }
                                Err(f) => {
                                    set.abort_all();
                                    self.report(event(
                                        "Failed",
                                        0,
                                        Some(format!("branch task `{}` failed", f.task)),
                                    ));
                                    return Err(f);
                                }
                            }
                        }
                        self.report(event("Completed", 0, None));
                        Value::Array(outputs)
                    }
                    Task::Terminate(t) => {
                        let output = match &t.workflow_output {
                            Some(map) => data::resolve_map(
                                map,
                                &data.scope(&task_input, &run.input),
                                "/workflowOutput",
                            )
                            .map_err(fail)?,
                            None => task_input,
                        };
                        let failed = t.termination_status == TerminationStatus::Failed;
                        self.report(event(
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
                let output = data::output(task, input, result, &data, &run.input).map_err(fail)?;
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
                        return Err(Failure {
                            task: current.clone(),
                            error: TaskError::new(
                                ErrorCode::NoNext,
                                "the task has neither nextTask nor end: true",
                            ),
                        });
                    }
                }
            }
        })
    }
}

/// The input `task` receives from `raw` (its `inputParameters` resolved in the task's scope:
/// `raw`, the context object of `ctx`, the system keys): what the runner hands a handler, for
/// a runtime that runs one task on its own (`call --task`, an engine).
pub fn task_input(task: &Task, raw: &Value, ctx: &TaskContext) -> Result<Value, TaskError> {
    let definition = ctx.run.as_ref().map_or("", |r| r.definition.as_str());
    let execution_input = ctx.run.as_ref().map_or(&Value::Null, |r| &r.input);
    let data = TaskData::new(&ctx.workflow_id, definition, &ctx.task_name);
    match task.common().input_parameters {
        Some(params) => data::resolve_map(
            params,
            &data.scope(raw, execution_input),
            "/inputParameters",
        ),
        None => Ok(raw.clone()),
    }
}

/// What `task` passes on, from its raw input and its result (`resultSelector`, `resultPath`,
/// `outputPath`), as the runner does.
pub fn task_output(
    task: &Task,
    raw: Value,
    result: Value,
    ctx: &TaskContext,
) -> Result<Value, TaskError> {
    let definition = ctx.run.as_ref().map_or("", |r| r.definition.as_str());
    let execution_input = ctx.run.as_ref().map_or(&Value::Null, |r| &r.input);
    let data = TaskData::new(&ctx.workflow_id, definition, &ctx.task_name);
    data::output(task, raw, result, &data, execution_input)
}

/// The result of a run that failed with `f`.
fn failed(f: Failure) -> RunResult {
    RunResult {
        status: RunStatus::Failed,
        output: json!({ "task": f.task, "code": f.error.code, "message": f.error.message, "error": f.error }),
    }
}
