//! The Restate services: `UsageWorkflow` (one workflow per execution id; its `run` handler
//! runs a definition with an input, once) and `UsageBranch` (one Parallel branch of a run).
//!
//! Policy: a definition with validation errors is refused before anything runs (a terminal
//! error naming the first problems), as `usage-connector run` refuses it. The workflow's key is
//! the execution id: every identity the connector derives (Solvimon reference and key, Rebilly
//! usage time) comes from it and the task name, and Restate runs `run` once per key. Every new
//! execution takes its number (`swf:sequenceNumber`) from `UsageSequence`, one journaled
//! call, so a replay reads the same number; one whose definition cannot read it (no template
//! or expression names it, no Simple task) sends that call without waiting for the answer and
//! keeps no number. A resume carries the number of the run it resumes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use restate_sdk::endpoint::{HandlerOptions, ServiceOptions};
use restate_sdk::prelude::*;
use restate_sdk::service::IntoServiceDefinition;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use usage_connector::execute::{Executor, TaskHandler};
use usage_connector::journal::Recorded;
use usage_connector::runner::{Plan, Run, RunResult, RunStatus, ScopeId, interpret, timed_out};
use usage_connector::simworkflow::WorkflowDefinition;
use usage_connector::validate::validate_definition;
use usage_connector::validators::Validators;

use crate::Error;
use crate::engine::{BranchEnd, BranchOutcome, Ctx, Durable};
use crate::plans::Plans;

/// What the services run with: the executor (servers, credentials), the compiled validators,
/// and the handlers of Simple tasks. Cheap to share.
pub struct Connector {
    pub(crate) executor: Executor,
    pub(crate) validators: Arc<Validators>,
    pub(crate) simple: HashMap<String, Arc<dyn TaskHandler>>,
    retention: Duration,
    plans: Plans,
}

/// How long Restate keeps a finished run by default: its result answers a re-submission of the
/// same execution id for that long (after it, the id could run again).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

impl Connector {
    /// Services running Http tasks through `executor`, checking definitions with `validators`
    /// (give the executor the same ones: `Executor::with_validators`).
    pub fn new(executor: Executor, validators: Arc<Validators>) -> Self {
        Connector {
            executor,
            validators,
            simple: HashMap::new(),
            retention: DEFAULT_RETENTION,
            plans: Plans::default(),
        }
    }

    /// Keeps finished runs (their results, which answer a re-submission of the same id) for
    /// `retention` instead of [`DEFAULT_RETENTION`].
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Registers the handler of the Simple task named `task_name`; it runs inside one
    /// journaled step (its result is recorded once, then replayed).
    pub fn with_simple_handler(mut self, task_name: &str, handler: Arc<dyn TaskHandler>) -> Self {
        self.simple.insert(task_name.to_owned(), handler);
        self
    }

    /// An endpoint serving the three services, to serve with [`crate::serve`].
    pub fn endpoint(self) -> Endpoint {
        let run = || HandlerOptions::new().workflow_retention(self.retention);
        let (run_options, shard_options) = (run(), run());
        let workflow = UsageWorkflow(Arc::new(self));
        let shared = workflow.0.clone();
        Endpoint::builder()
            .bind(
                workflow
                    .into_service_definition()
                    .options(ServiceOptions::new().handler("run", run_options)),
            )
            .bind(
                crate::ingest::IngestShard(shared.clone())
                    .into_service_definition()
                    .options(ServiceOptions::new().handler("run", shard_options)),
            )
            // Branches are started by runs only: a branch called through the ingress would skip
            // the definition's validation and could run an execution's task again.
            .bind(
                UsageBranch(shared)
                    .into_service_definition()
                    .options(ServiceOptions::new().ingress_private(true)),
            )
            .bind(
                UsageSequence
                    .into_service_definition()
                    .options(ServiceOptions::new().ingress_private(true)),
            )
            .build()
    }
}

/// What `UsageWorkflow/{id}/run` is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRequest {
    /// The workflow definition (JSON, as in a definition file).
    pub definition: Value,
    /// The workflow input.
    #[serde(default)]
    pub input: Value,
    /// The execution every identity derives from, when this run resumes one under another
    /// key (`{id}~2`, …); default: the workflow key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// What the attempts this run resumes recorded, by task: outputs reused, times kept.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recorded: BTreeMap<String, Recorded>,
    /// The number of the execution this run resumes; default: a new one from
    /// `UsageSequence`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
}

/// What a run keeps in its state (key `attempt`) for a resume: set as it starts and again as it
/// ends; read through the shared handler `attempt`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// The execution the run belongs to.
    pub execution_id: String,
    /// The definition it ran.
    pub definition: Value,
    /// Its input.
    pub input: Value,
    /// `Running`, `Completed` or `Failed`.
    pub status: String,
    /// What its tasks recorded (and those of the attempts it resumed).
    #[serde(default)]
    pub recorded: BTreeMap<String, Recorded>,
    /// The execution's number (`swf:sequenceNumber`).
    #[serde(default)]
    pub sequence: Option<u64>,
}

/// How a run ended: the local runner's result (`{status, output}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReply {
    /// `Completed` or `Failed`.
    pub status: String,
    /// The workflow output (for a failure: `{task, code, message, error}`).
    pub output: Value,
}

impl From<RunResult> for RunReply {
    fn from(r: RunResult) -> Self {
        RunReply {
            status: match r.status {
                RunStatus::Completed => "Completed".into(),
                RunStatus::Failed => "Failed".into(),
            },
            output: r.output,
        }
    }
}

/// What `UsageBranch/run` is given: one branch of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BranchRequest {
    /// The definition, as submitted.
    pub definition: Value,
    /// The execution id.
    pub workflow_id: String,
    /// The workflow input (`$$.Execution.Input`).
    pub workflow_input: Value,
    /// The branch.
    pub scope: ScopeId,
    /// The branch's input (the Parallel task's input).
    pub input: Value,
    /// The run's deadline (RFC 3339), if it has a `timeoutSeconds`.
    pub deadline: Option<String>,
    /// What earlier attempts of the execution recorded.
    #[serde(default)]
    pub recorded: BTreeMap<String, Recorded>,
    /// The execution's number (`swf:sequenceNumber`).
    #[serde(default)]
    pub sequence: Option<u64>,
}

/// The workflow service: one instance per execution id.
pub struct UsageWorkflow(Arc<Connector>);

#[restate_sdk::workflow]
impl UsageWorkflow {
    /// Runs the definition with the input, once per workflow key.
    #[handler]
    async fn run(
        &self,
        ctx: WorkflowContext<'_>,
        request: Json<RunRequest>,
    ) -> Result<Json<RunReply>, HandlerError> {
        let RunRequest {
            definition,
            input,
            execution_id,
            recorded,
            sequence,
        } = request.into_inner();
        // Every new execution is numbered; only one whose definition may read its number (a
        // template or expression naming it, or a Simple handler) waits for it: the counter is
        // one object, so every run would otherwise wait its turn there. A resume is the same
        // execution: it carries the number (none, if the run it resumes did not wait for one).
        let resumes = execution_id.is_some();
        let execution_id = execution_id.unwrap_or_else(|| ctx.key().to_owned());
        let counter = || ctx.object_client::<UsageSequenceClient>(SEQUENCE_KEY);
        let sequence = match sequence {
            None if reads_sequence(&definition) => Some(counter().next().call().await?),
            None if !resumes => {
                counter().next().send();
                None
            }
            given => given,
        };
        let mut attempt = Attempt {
            execution_id: execution_id.clone(),
            definition: definition.clone(),
            input: input.clone(),
            status: "Running".into(),
            recorded: recorded.clone(),
            sequence,
        };
        ctx.set(ATTEMPT, Json(attempt.clone()));
        // A run that ends with an error still records that it ended (a resume must not take it
        // for one still running).
        let ended_with = |attempt: &Attempt, e: HandlerError| {
            let mut failed = attempt.clone();
            failed.status = "Failed".into();
            ctx.set(ATTEMPT, Json(failed));
            e
        };
        let plan = match compile(&self.0, &definition).map_err(|e| ended_with(&attempt, e))? {
            Ok(plan) => plan,
            Err(failed) => return Ok(Json(self.end(&ctx, attempt, failed))),
        };
        if let Some(failed) =
            preflight(&self.0, &plan, &input, (&execution_id, sequence), &recorded)
        {
            return Ok(Json(self.end(&ctx, attempt, failed)));
        }
        let timeout = plan.definition().timeout_seconds.filter(|t| *t > 0);
        let mut engine = Durable::new(Ctx::Workflow(&ctx), &self.0, &definition, None)
            .resuming(recorded.clone());
        // A timeout beyond what a duration can hold is no deadline at all.
        if let Some(timeout) = timeout
            .and_then(|secs| i64::try_from(secs).ok())
            .and_then(chrono::Duration::try_seconds)
        {
            engine = engine.with_timeout(timeout);
        }
        let mut run = Run::new(plan, input.clone(), &execution_id);
        if let Some(n) = sequence {
            run = run.numbered(n);
        }
        let run = run.resuming(recorded);
        let ended = interpret(&engine, &run, &ScopeId::Workflow, input).await;
        let ended = match (ended, timeout) {
            // A run past its deadline reports the run's timeout, as the local runner does.
            (Err(f), Some(secs)) if f.error.code == "TIMED_OUT" => Err(timed_out(secs)),
            (other, _) => other,
        };
        attempt.recorded = engine.recorded();
        Ok(Json(self.end(&ctx, attempt, RunResult::of(ended))))
    }

    /// What the run keeps for a resume (`null` for a key that never ran).
    #[handler]
    async fn attempt(
        &self,
        ctx: SharedWorkflowContext<'_>,
    ) -> Result<Json<Option<Attempt>>, HandlerError> {
        Ok(Json(
            ctx.get::<Json<Attempt>>(ATTEMPT)
                .await?
                .map(Json::into_inner),
        ))
    }
}

/// The state key of a run's [`Attempt`].
const ATTEMPT: &str = "attempt";

impl UsageWorkflow {
    /// Ends a run with `result`, keeping how it ended for a resume.
    fn end(&self, ctx: &WorkflowContext<'_>, mut attempt: Attempt, result: RunResult) -> RunReply {
        let reply = RunReply::from(result);
        attempt.status = reply.status.clone();
        ctx.set(ATTEMPT, Json(attempt));
        reply
    }
}

/// The run's pre-flight before its first write (as `usage-connector run` does): `None` when it
/// passes, else the failed run naming every problem. Requests are stamped at a fixed instant,
/// so a replay decides the same.
fn preflight(
    connector: &Connector,
    plan: &Plan,
    input: &Value,
    (execution_id, sequence): (&str, Option<u64>),
    recorded: &BTreeMap<String, Recorded>,
) -> Option<RunResult> {
    let mut found = usage_connector::preflight::check(
        &usage_connector::preflight::Subject {
            definition: plan.definition(),
            input,
            workflow_id: execution_id,
            now: DateTime::<Utc>::UNIX_EPOCH,
            recorded,
            sequence,
        },
        &connector.executor,
    );
    found.require_handlers(|task| connector.simple.contains_key(task));
    let first = found.problems.first()?;
    let problems: Vec<Value> = found
        .problems
        .iter()
        .map(|p| {
            serde_json::json!({"task": p.task, "pointer": p.pointer, "code": p.error.code,
                               "message": p.error.message, "at": p.error.pointer})
        })
        .collect();
    let mut error = first.error.clone();
    error.message = format!(
        "pre-flight found {} problem(s) before the run's first write; nothing was sent: {}",
        problems.len(),
        first.error.message
    );
    let mut failed = RunResult::failed(usage_connector::runner::Failure {
        task: first.task.clone().unwrap_or_default(),
        error,
    });
    failed.output["problems"] = Value::Array(problems);
    Some(failed)
}

/// Whether a definition may read its execution's number (`swf:sequenceNumber`): any text in
/// it that names the key (a template, a JSONata expression), or a Simple task (its handler is
/// code, which may read it from its context).
fn reads_sequence(definition: &Value) -> bool {
    match definition {
        Value::String(text) => text.contains("sequenceNumber"),
        Value::Array(items) => items.iter().any(reads_sequence),
        Value::Object(map) => {
            map.get("type").and_then(Value::as_str) == Some("Simple")
                || map
                    .iter()
                    .any(|(k, v)| k.contains("sequenceNumber") || reads_sequence(v))
        }
        _ => false,
    }
}

/// The key of the one counter `UsageSequence` keeps.
const SEQUENCE_KEY: &str = "executions";

/// Numbers executions (`swf:sequenceNumber`): one counter, its state `last`. Called by runs
/// only (private to the ingress).
pub struct UsageSequence;

#[restate_sdk::object]
impl UsageSequence {
    /// The next number (the first is 1).
    #[handler]
    async fn next(&self, ctx: ObjectContext<'_>) -> Result<u64, HandlerError> {
        let next = ctx.get::<u64>("last").await?.unwrap_or(0) + 1;
        ctx.set("last", next);
        Ok(next)
    }
}

/// The branch service: one invocation per Parallel branch of a run.
pub struct UsageBranch(Arc<Connector>);

#[restate_sdk::service]
impl UsageBranch {
    /// Runs one branch of a run.
    #[handler]
    async fn run(
        &self,
        ctx: Context<'_>,
        request: Json<BranchRequest>,
    ) -> Result<Json<BranchEnd>, HandlerError> {
        let request = request.into_inner();
        let text =
            serde_json::to_vec(&request.definition).map_err(|e| Error::Definition(e).terminal())?;
        let plan = match self.0.plans.get(&text) {
            Some(plan) => plan,
            None => {
                let definition: WorkflowDefinition =
                    serde_json::from_value(request.definition.clone())
                        .map_err(|e| Error::Definition(e).terminal())?;
                Plan::compile(&definition).map_err(|(task, error)| {
                    Error::Plan {
                        task,
                        error: Box::new(error),
                    }
                    .terminal()
                })?
            }
        };
        let deadline = request
            .deadline
            .as_deref()
            .map(DateTime::parse_from_rfc3339)
            .transpose()
            .map_err(|e| Error::Deadline(e).terminal())?
            .map(|d| d.with_timezone(&Utc));
        let engine = Durable::new(Ctx::Service(&ctx), &self.0, &request.definition, deadline)
            .resuming(request.recorded.clone());
        let mut run = Run::new(plan, request.workflow_input, &request.workflow_id);
        if let Some(n) = request.sequence {
            run = run.numbered(n);
        }
        let run = run.resuming(request.recorded);
        let outcome = match interpret(&engine, &run, &request.scope, request.input).await {
            Ok(end) => BranchOutcome::Ended(end),
            Err(f) => BranchOutcome::Failed(Box::new(f)),
        };
        Ok(Json(BranchEnd {
            outcome,
            recorded: engine.recorded(),
        }))
    }
}

/// The plan of a submitted definition: `Err` (a terminal error) when it is not a valid
/// definition; `Ok(Err)` when it cannot run (the run's failure, as the local runner reports it).
/// A definition this process validated and compiled before is not checked again ([`Plans`]).
fn compile(
    connector: &Connector,
    definition: &Value,
) -> Result<Result<Plan, RunResult>, HandlerError> {
    let text = serde_json::to_vec(definition).map_err(|e| Error::Definition(e).terminal())?;
    if let Some(plan) = connector.plans.get(&text) {
        return Ok(Ok(plan));
    }
    let report = validate_definition("<submitted>", &text, &connector.validators, None);
    if report.has_errors() {
        let problems: Vec<String> = report
            .diagnostics
            .iter()
            .filter(|d| d.severity == usage_connector::diagnostic::Severity::Error)
            .take(5)
            .map(|d| format!("{} {}: {}", d.code.as_str(), d.pointer, d.message))
            .collect();
        return Err(Error::Invalid(problems).terminal());
    }
    let parsed: WorkflowDefinition =
        serde_json::from_value(definition.clone()).map_err(|e| Error::Definition(e).terminal())?;
    match Plan::compile(&parsed) {
        Ok(plan) => {
            connector.plans.keep(text, &plan);
            Ok(Ok(plan))
        }
        Err((task, error)) => Ok(Err(RunResult::failed(usage_connector::runner::Failure {
            task,
            error,
        }))),
    }
}
