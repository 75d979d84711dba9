//! Pre-flight: every mistake that can be known before a run's first write is found before it.
//!
//! Policy: with the workflow input in hand, before anything is sent,
//! - the input is checked against the definition's `inputSchema` (each violation names the
//!   field and the schema keyword);
//! - every Http task's credentials id is resolved ([`Preparer::credentials`]);
//! - the definition is walked as the run will walk it, with what only the run can tell (a
//!   response, a Simple task's result) left unknown ([`known`]): data carried along a chain
//!   stays known, a Decision whose condition reads only known data takes its one branch, one
//!   that does not takes all of them (data passing reads as [`crate::data`] does, with
//!   [`crate::data::known`]'s marker for the unknown). Every Http task reached whose request reads only known
//!   data (the workflow input, `$$`, constants, data carried from it) is prepared by the one
//!   prepare path, so a 4-decimal quantity, a missing field or a bad enum fed from the input
//!   is found with the task's name. Tasks whose request needs a response are `deferred`; tasks
//!   this input provably does not reach are `unreached`. A Terminate task reached resolves its
//!   `workflowOutput` as far as it is known (a path the input certainly lacks is a problem).
//!
//! A resume passes what the earlier attempt recorded ([`Recorded`]): those outputs are known,
//! and a completed task whose request the (edited) definition would change is a problem.

mod input_schema;
mod shared;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::data::known::{self, is_unknown, unknown};
use crate::data::{Frame, TaskData};
use crate::execute::{ErrorCode, TaskError, begun_changed};
use crate::identity::Execution;
use crate::journal::Recorded;
use crate::prepare::{self, PreparedRequest, Router};
use crate::runner::{Plan, ScopeId};
use crate::simworkflow::{HttpTask, Task, TerminationStatus, WorkflowDefinition};

pub use input_schema::InputSchema;

/// How pre-flight prepares a request: the pure path alone (`validate --input`, which has no
/// credentials), or with credentials (an executor).
pub trait Preparer {
    /// The request `task` sends for `input` in `exec`, as the run will prepare it.
    fn prepare(
        &self,
        task: &HttpTask,
        input: &Value,
        exec: &Execution<'_>,
    ) -> Result<PreparedRequest, TaskError>;

    /// Whether `task`'s credentials resolve (`MISSING_CREDENTIALS` when not).
    fn credentials(&self, task: &HttpTask) -> Result<(), TaskError> {
        let _ = task;
        Ok(())
    }
}

impl Preparer for Router<'_> {
    fn prepare(
        &self,
        task: &HttpTask,
        input: &Value,
        exec: &Execution<'_>,
    ) -> Result<PreparedRequest, TaskError> {
        prepare::prepare(self, task, input, exec)
    }
}

impl Preparer for crate::execute::Executor {
    fn prepare(
        &self,
        task: &HttpTask,
        input: &Value,
        exec: &Execution<'_>,
    ) -> Result<PreparedRequest, TaskError> {
        self.prepare_at(task, input, exec)
    }

    fn credentials(&self, task: &HttpTask) -> Result<(), TaskError> {
        self.check_credentials(task)
    }
}

/// A task and its place in the definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskAt {
    /// The task's name.
    pub task: String,
    /// Its RFC 6901 pointer in the definition.
    pub pointer: String,
}

/// A mistake found before the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The task, or `None` for the workflow input itself.
    pub task: Option<String>,
    /// Where in the definition (RFC 6901): the task, or `/inputSchema…`.
    pub pointer: String,
    /// What the run would have met (its pointer, when set, is relative to the task).
    pub error: TaskError,
    /// For an invalid request: its body as the placeholders resolved it (to show the values
    /// the input gave).
    pub resolved_body: Option<Value>,
}

/// A request pre-flight prepared: what the run will send for this input.
#[derive(Debug, Clone)]
pub struct CheckedRequest {
    /// The task's name.
    pub task: String,
    /// The request (with credentials when the [`Preparer`] has them).
    pub request: PreparedRequest,
}

/// What pre-flight found.
#[derive(Debug, Clone, Default)]
pub struct Preflight {
    /// Mistakes: the run must not start.
    pub problems: Vec<Problem>,
    /// The requests prepared.
    pub requests: Vec<CheckedRequest>,
    /// Http tasks whose request reads what only the run can tell (an earlier task's response,
    /// a Simple task's result).
    pub deferred: Vec<TaskAt>,
    /// Tasks this input does not reach (a Decision takes another branch, or the run stops
    /// earlier).
    pub unreached: Vec<TaskAt>,
    /// Simple tasks the run reaches with this input unless a task before them fails (no
    /// Decision on what only the run can tell on the way), whose result no earlier attempt
    /// recorded: a handler must run them.
    pub simple: Vec<TaskAt>,
}

impl Preflight {
    /// Whether the run may start.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// Adds a `NO_HANDLER` problem for every Simple task in [`Preflight::simple`] that
    /// `handles` (by task name) has no handler for: the run would stop there, after whatever it
    /// wrote before.
    pub fn require_handlers(&mut self, handles: impl Fn(&str) -> bool) {
        let missing: Vec<Problem> = self
            .simple
            .iter()
            .filter(|t| !handles(&t.task))
            .map(|t| Problem {
                task: Some(t.task.clone()),
                pointer: t.pointer.clone(),
                error: TaskError::new(
                    ErrorCode::NoHandler,
                    format!(
                        "Simple task `{}` has no handler here, and this input leads the run to it: it would stop there, after whatever it wrote before",
                        t.task
                    ),
                ),
                resolved_body: None,
            })
            .collect();
        self.problems.extend(missing);
    }
}

/// What pre-flight checks a run of.
pub struct Subject<'a> {
    /// The definition (validated).
    pub definition: &'a WorkflowDefinition,
    /// The workflow input.
    pub input: &'a Value,
    /// The execution id requests are prepared under.
    pub workflow_id: &'a str,
    /// The time requests without one of their own are stamped with.
    pub now: DateTime<Utc>,
    /// What an earlier attempt recorded, by task name (empty for a new run): completed
    /// outputs are known, and their requests must not change.
    pub recorded: &'a BTreeMap<String, Recorded>,
    /// The execution's number (`swf:sequenceNumber`), when its engine gives one.
    pub sequence: Option<u64>,
}

/// Checks a run before it starts; see the module docs.
pub fn check(subject: &Subject<'_>, preparer: &dyn Preparer) -> Preflight {
    let definition = subject.definition;
    let mut out = Preflight::default();
    out.problems
        .extend(InputSchema::problems(definition, subject.input));
    let mut pointers = HashMap::new();
    definition.walk(|t| {
        pointers.insert(t.name.to_owned(), t.pointer());
        if let Task::Http(h) = t.task
            && let Err(error) = preparer.credentials(h)
        {
            out.problems.push(Problem {
                task: Some(t.name.to_owned()),
                pointer: t.pointer(),
                error: error.at("/credentials"),
                resolved_body: None,
            });
        }
    });
    // A task that completed in an earlier attempt must still be there: under another name it
    // would run again under another identity.
    for task in subject
        .recorded
        .iter()
        .filter(|(_, r)| r.output.is_some())
        .map(|(t, _)| t)
    {
        if !pointers.contains_key(task) {
            out.problems.push(Problem {
                task: Some(task.clone()),
                pointer: "/tasks".to_owned(),
                error: TaskError::new(
                    ErrorCode::RequestChanged,
                    format!(
                        "task `{task}` completed in the earlier attempt and this definition has no task of that name: renamed, it would be sent again under another identity; resume with the definition it ran with, or keep its name"
                    ),
                ),
                resolved_body: None,
            });
        }
    }
    let plan = match Plan::compile(definition) {
        Ok(plan) => plan,
        Err((task, error)) => {
            out.problems.push(Problem {
                pointer: pointers.get(&task).cloned().unwrap_or_default(),
                task: Some(task),
                error,
                resolved_body: None,
            });
            return out;
        }
    };
    let mut walker = Walker {
        subject,
        plan: &plan,
        preparer,
        pointers: &pointers,
        seen: HashMap::new(),
        forks: 0,
        identities: shared::Identities::default(),
        revisited: Default::default(),
        failed_at: None,
        out,
    };
    walker.scope(&ScopeId::Workflow, subject.input.clone());
    let Walker { seen, mut out, .. } = walker;
    let mut unreached: Vec<TaskAt> = pointers
        .into_iter()
        .filter(|(name, _)| !seen.contains_key(name))
        .map(|(task, pointer)| TaskAt { task, pointer })
        .collect();
    unreached.sort_by(|a, b| a.pointer.cmp(&b.pointer));
    out.unreached = unreached;
    out
}

struct Walker<'a, 'p> {
    subject: &'a Subject<'a>,
    plan: &'p Plan,
    preparer: &'p dyn Preparer,
    pointers: &'p HashMap<String, String>,
    /// Each task reached, with the input it was walked with (unknown once two paths differ).
    seen: HashMap<String, Value>,
    /// How many Decisions on what only the run can tell lie on the path walked (0: the run
    /// takes it, unless a task on it fails).
    forks: usize,
    /// What the requests the run surely sends are deduplicated by.
    identities: shared::Identities,
    /// Tasks reached more than once (a loop).
    revisited: std::collections::HashSet<String>,
    /// The fewest forks on a path to a Terminate `Failed` walked since the Parallel being
    /// walked began: where it equals that Parallel's own, a branch surely fails the run there.
    failed_at: Option<usize>,
    out: Preflight,
}

impl Walker<'_, '_> {
    /// Walks scope `id` from its start; its output when one known path ends it.
    fn scope(&mut self, id: &ScopeId, input: Value) -> Value {
        match self.plan.scope(id) {
            Some(scope) => self.from(id, scope.start.clone(), input),
            None => unknown(),
        }
    }

    fn problem(&mut self, task: &str, error: TaskError) {
        self.out.problems.push(Problem {
            task: Some(task.to_owned()),
            pointer: self.pointers.get(task).cloned().unwrap_or_default(),
            error,
            resolved_body: None,
        });
    }

    /// Walks scope `id` from task `current` with `input`; the scope's output (unknown when it
    /// cannot be told, or a problem stops the walk).
    fn from(&mut self, id: &ScopeId, mut current: String, mut input: Value) -> Value {
        let plan = self.plan;
        let Some(scope) = plan.scope(id) else {
            return unknown();
        };
        loop {
            match self.seen.get(&current) {
                Some(prev) if *prev == input || is_unknown(prev) => {
                    if self.forks == 0 {
                        self.problem(&current, endless(&current));
                    }
                    return unknown();
                }
                Some(_) => input = unknown(),
                None => {}
            }
            if self.seen.insert(current.clone(), input.clone()).is_some() {
                self.revisited.insert(current.clone());
            }
            let Some(task) = scope.tasks.get(&current) else {
                return unknown();
            };
            let data = Walker::data(self.subject, &current);
            let common = task.common();
            let task_input = match data.input(common.input_parameters, &input) {
                Ok(v) => v,
                Err(e) => {
                    self.problem(&current, e);
                    return unknown();
                }
            };
            let result = match task {
                Task::Http(h) => match self.http(&current, h, &task_input) {
                    Some(result) => result,
                    None => return unknown(),
                },
                Task::Simple(_) => {
                    let result = self.completed(&current);
                    if self.forks == 0 && is_unknown(&result) {
                        self.out.simple.push(TaskAt {
                            task: current.clone(),
                            pointer: self.pointers.get(&current).cloned().unwrap_or_default(),
                        });
                    }
                    result
                }
                Task::Parallel(p) => {
                    let (forks, before) = (self.forks, self.failed_at.take());
                    let outputs = (0..p.branches.len())
                        .map(|index| {
                            let branch = ScopeId::Branch {
                                parallel: current.clone(),
                                index,
                            };
                            self.scope(&branch, task_input.clone())
                        })
                        .collect();
                    // A branch that surely ends in a Terminate `Failed` fails the run here:
                    // no task after the Parallel runs.
                    if self.failed_at == Some(forks) {
                        return unknown();
                    }
                    self.failed_at = before;
                    Value::Array(outputs)
                }
                Task::Decision(d) => {
                    let targets = decide(d, plan.conditions(&current), &data.scope(&task_input));
                    if let [one] = targets.as_slice() {
                        current = one.clone();
                        input = task_input;
                        continue;
                    }
                    self.forks += 1;
                    for target in targets {
                        self.from(id, target, task_input.clone());
                    }
                    self.forks -= 1;
                    return unknown();
                }
                // What it ends its scope with (a branch's output, or the run's), as far as it
                // is known: a path the input certainly lacks fails the run there, after the
                // writes before it.
                Task::Terminate(t) => {
                    // The surest one stands (fewest forks): a sibling's behind a Decision must
                    // not hide it.
                    if t.termination_status == TerminationStatus::Failed {
                        self.failed_at =
                            Some(self.failed_at.map_or(self.forks, |f| f.min(self.forks)));
                    }
                    return match data.workflow_output(t.workflow_output.as_ref(), task_input) {
                        Ok(output) => output,
                        Err(e) => {
                            self.problem(&current, e);
                            unknown()
                        }
                    };
                }
            };
            let output = match data.output(task, input, result) {
                Ok(v) => v,
                Err(e) => {
                    self.problem(&current, e);
                    return unknown();
                }
            };
            if common.end {
                return output;
            }
            match common.next_task {
                Some(next) => {
                    current = next.to_owned();
                    input = output;
                }
                None => return unknown(),
            }
        }
    }

    /// The data of task `task` of this run, read as far as it is known.
    fn data<'s>(subject: &'s Subject<'s>, task: &'s str) -> TaskData<'s> {
        TaskData::new(
            Frame {
                workflow_id: subject.workflow_id,
                definition: &subject.definition.name,
                task,
                sequence: subject.sequence,
            },
            subject.input,
        )
        .known_only()
    }

    /// The output an earlier attempt recorded for `task`, else unknown; unknown on a loop's
    /// revisit too (a resumed run reuses a recorded output on the first visit only).
    fn completed(&self, task: &str) -> Value {
        if self.revisited.contains(task) {
            return unknown();
        }
        self.subject
            .recorded
            .get(task)
            .and_then(|r| r.output.clone())
            .unwrap_or_else(unknown)
    }

    /// Prepares an Http task's request when it reads only known data; its result (recorded,
    /// else unknown), or `None` when the run would fail there.
    fn http(&mut self, name: &str, task: &HttpTask, input: &Value) -> Option<Value> {
        let subject = self.subject;
        let data = Walker::data(subject, name);
        let scope = data.scope(input);
        let request = &task.http_request;
        let needs_run = known::value_unknown(&Value::String(request.url.clone()), &scope)
            || request
                .headers
                .iter()
                .flatten()
                .any(|(_, v)| known::value_unknown(&Value::String(v.clone()), &scope))
            || request
                .body
                .as_ref()
                .is_some_and(|b| known::value_unknown(b, &scope));
        let recorded = subject.recorded.get(name);
        if needs_run {
            self.out.deferred.push(TaskAt {
                task: name.to_owned(),
                pointer: self.pointers.get(name).cloned().unwrap_or_default(),
            });
            return Some(self.completed(name));
        }
        let mut exec = Execution::new(
            subject.workflow_id,
            name,
            recorded.and_then(|r| r.at).unwrap_or(subject.now),
        );
        exec.definition = &subject.definition.name;
        exec.execution_input = subject.input;
        exec.sequence = subject.sequence;
        match self.preparer.prepare(task, input, &exec) {
            Ok(prepared) => {
                if let Some(sent) = recorded
                    .filter(|r| r.output.is_some())
                    .and_then(|r| r.request.as_deref())
                    && prepared.digest() != sent
                {
                    self.problem(
                        name,
                        TaskError::new(
                            ErrorCode::RequestChanged,
                            format!(
                                "it completed in the earlier attempt, and the request it would send now ({} {}) differs from the one recorded (an edited definition, or the run's id re-run with another input?): its recorded output would not match; resume with the definition and input it ran with, or start a new run",
                                prepared.method,
                                prepared.url.path()
                            ),
                        ),
                    );
                }
                if let Some(r) = recorded
                    && r.binds(prepared.began())
                {
                    let mut e = begun_changed(subject.workflow_id, false, &prepared);
                    e.message.push_str(&format!(
                        "; `usage-connector resume {}` (without --definition) runs it as it began",
                        subject.workflow_id
                    ));
                    self.problem(name, e);
                }
                if self.forks == 0
                    && let Some(e) =
                        self.identities
                            .check(name, task.credentials.as_deref(), &prepared)
                {
                    self.problem(name, e);
                }
                self.out.requests.push(CheckedRequest {
                    task: name.to_owned(),
                    request: prepared,
                });
                Some(self.completed(name))
            }
            // A credentials problem of this task is reported once (the check of every task).
            Err(e)
                if matches!(
                    e.code,
                    ErrorCode::MissingCredentials | ErrorCode::InvalidCredentials
                ) && self
                    .out
                    .problems
                    .iter()
                    .any(|p| p.task.as_deref() == Some(name)) =>
            {
                None
            }
            Err(e) => {
                let body = request
                    .body
                    .as_ref()
                    .filter(|_| e.code == ErrorCode::InvalidRequest)
                    .and_then(|b| crate::template::resolve_value_in(b, &scope).ok());
                self.problem(name, e);
                if let Some(last) = self.out.problems.last_mut() {
                    last.resolved_body = body;
                }
                None
            }
        }
    }
}

/// The problem of a task the run comes back to with no Decision on the way deciding on what
/// only the run can tell: the same rounds again and again.
fn endless(task: &str) -> TaskError {
    TaskError::new(
        ErrorCode::NoEnd,
        format!(
            "with this input the run comes back to task `{task}`, and no Decision on its way reads what only the run can tell (a response): it goes round and round, never reaching an end, until timeoutSeconds stops it (each round sends its requests again)"
        ),
    )
}

/// The targets a Decision may take: the first choice whose condition holds, unless a choice
/// before it reads what only the run can tell (then every such choice may be taken too); the
/// default when no known condition holds.
fn decide(
    d: &crate::simworkflow::DecisionTask,
    conditions: &[crate::condition::Expr],
    scope: &crate::template::Scope<'_>,
) -> Vec<String> {
    let mut targets: Vec<String> = Vec::new();
    let mut settled = false;
    for (choice, expr) in d.choices.iter().zip(conditions) {
        if known::condition_unknown(expr, scope) {
            targets.push(choice.next_task.clone());
        } else if crate::condition::eval_in(expr, scope) {
            targets.push(choice.next_task.clone());
            settled = true;
            break;
        }
    }
    if !settled {
        targets.push(d.default_task.clone());
    }
    let mut seen = std::collections::HashSet::new();
    targets.retain(|t| seen.insert(t.clone()));
    targets
}
