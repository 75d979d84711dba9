//! The interpreter's engine and the executor's steps on a Restate context: every effect is a
//! journaled step, so a replay after a crash makes the same decisions from the same answers.
//!
//! Policy:
//! - a request that carries the time (a Rebilly usage without a `usageTime` of its own) is
//!   prepared after that time is journaled (its own step), so a replay, and a step repeated
//!   after a crash, prepare the same identity; any other request is the same at every time,
//!   so its call's first exchange reads the clock (for the deadline check) inside its own
//!   journaled step: one step per exchange. Except a send the API cannot deduplicate
//!   (Rebilly): were it a repeat of a lost one it would be looked up first, so a journaled
//!   clock read goes before it (a replay cannot tell a repeat, so the choice is the request's);
//! - a run's `timeoutSeconds` counts from its first journaled clock read (before it only the
//!   run's bookkeeping is journaled: its number, its attempt state), so starting a run reads
//!   no clock of its own;
//! - a wait between attempts that would pass the run's deadline sleeps until the deadline and
//!   ends the run as timed out, as the local runner's timer does;
//! - each exchange is one `ctx.run` whose closure never fails (answers and transport errors
//!   are its result), so Restate never retries it on its own: the retry policy is the
//!   executor's (`retry::decide`), and waits between attempts are durable timers;
//! - an exchange that runs when the step before it was replayed may repeat one whose answer was
//!   lost in a crash; a write the API cannot deduplicate (Rebilly) is then looked up first;
//! - jitter draws from the invocation's seed, in order: the same on a replay;
//! - a Simple task's handler runs inside one journaled step (its result, success or failure, is
//!   recorded once);
//! - a Parallel task's branches are invocations of the branch service, started together and
//!   collected as they end; the first that does not complete decides.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use restate_sdk::context::DurableFuturesUnordered;
use restate_sdk::errors::TerminalError;
use restate_sdk::serde::Json;
use serde::Serialize;
use serde_json::Value;
use usage_connector::execute::steps::{Step, StepRecord, StepResult, Steps};
use usage_connector::execute::{
    Cancellation, ErrorCode, PriorRun, TaskContext, TaskError, TaskOutput,
};
use usage_connector::execute::{HttpTaskOutput, PreparedRequest, begun_changed};
use usage_connector::journal::Recorded;
use usage_connector::retry::Attempt;
use usage_connector::runner::{BranchResults, Branches, Engine, Failure, Run, ScopeId, TaskEvent};
use usage_connector::simworkflow::Task;

pub(crate) use crate::ctx::Ctx;
pub use crate::journaled::{BranchEnd, BranchOutcome};
use crate::journaled::{SimpleRecord, TimedStep, read_time};

type SendResult = Result<HttpTaskOutput, TaskError>;
type TaskResult = Result<TaskOutput, TaskError>;
use crate::service::{BranchRequest, Connector};

/// An engine bound to one invocation's context.
pub(crate) struct Durable<'a, 'ctx> {
    ctx: Ctx<'a, 'ctx>,
    connector: &'a Connector,
    /// The definition as submitted (branch invocations carry it).
    definition: &'a Value,
    /// When the run must have ended: given (a branch gets its run's), or fixed by the first
    /// journaled clock read once a `timeout` is set (`None` inside: a timeout no date can
    /// hold, no deadline at all).
    deadline: OnceLock<Option<DateTime<Utc>>>,
    /// The run's `timeoutSeconds`, counted from its first journaled clock read.
    timeout: Option<chrono::Duration>,
    seed: u64,
    draws: AtomicU64,
    /// Whether a journaled step's closure ran in this attempt of the invocation. A replay is a
    /// prefix of the journal: once a closure runs, the replay is over and no later step can
    /// have run before. Until then a step may repeat one whose result was lost.
    fresh: AtomicBool,
    /// Set when a wait stopped at the deadline: the task's error is then the run's timeout.
    timed_out: AtomicBool,
    /// What this attempt (and the attempts it resumes) recorded of each task: the time a
    /// request was stamped with, its digest, the task's output. Rebuilt the same on a replay.
    recorded: Mutex<BTreeMap<String, Recorded>>,
    /// The times the resumed attempts stamped tasks with, each taken by the task's first run
    /// here (a loop's next run of a task is a new request).
    resumed: Mutex<BTreeMap<String, DateTime<Utc>>>,
    /// Set once Restate cancelled the invocation (a journaled step or wait ended without its
    /// result): no step, wait or task runs after it. Restate delivers a cancellation once, to
    /// whatever the invocation awaits at that moment.
    cancelled: AtomicBool,
}

impl<'a, 'ctx> Durable<'a, 'ctx> {
    pub(crate) fn new(
        ctx: Ctx<'a, 'ctx>,
        connector: &'a Connector,
        definition: &'a Value,
        deadline: Option<DateTime<Utc>>,
    ) -> Self {
        Durable {
            seed: ctx.random_seed(),
            ctx,
            connector,
            definition,
            deadline: deadline.map_or_else(OnceLock::new, |d| OnceLock::from(Some(d))),
            timeout: None,
            draws: AtomicU64::new(0),
            fresh: AtomicBool::new(false),
            timed_out: AtomicBool::new(false),
            recorded: Mutex::new(BTreeMap::new()),
            resumed: Mutex::new(BTreeMap::new()),
            cancelled: AtomicBool::new(false),
        }
    }

    /// Resumes what an earlier attempt recorded: a task that began there is stamped with the
    /// same time and looked up before it is sent again.
    pub(crate) fn resuming(self, recorded: BTreeMap<String, Recorded>) -> Self {
        *self.resumed.lock().unwrap_or_else(|p| p.into_inner()) = recorded
            .iter()
            .filter_map(|(task, r)| Some((task.clone(), r.at?)))
            .collect();
        *self.records() = recorded;
        self
    }

    /// Notes that Restate cancelled the invocation.
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    fn records(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Recorded>> {
        self.recorded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What every task recorded so far (the earlier attempts' records included).
    pub(crate) fn recorded(&self) -> BTreeMap<String, Recorded> {
        self.records().clone()
    }

    /// Notes that a journaled step taken outside this engine ran its closure in this attempt
    /// (`ran`): the replay is over, so no later step repeats a lost one.
    pub(crate) fn note_ran(&self, ran: bool) {
        self.fresh.fetch_or(ran, Ordering::SeqCst);
    }

    /// Ends the run `timeout` after its first journaled clock read (checked as each task
    /// starts and before each wait between attempts, which stops at the deadline).
    pub(crate) fn with_timeout(mut self, timeout: chrono::Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The deadline, when one is fixed.
    fn deadline(&self) -> Option<DateTime<Utc>> {
        self.deadline.get().copied().flatten()
    }

    /// Whether the run has a deadline, fixed or still to fix.
    fn timed(&self) -> bool {
        self.timeout.is_some() || self.deadline().is_some()
    }

    /// Notes a journaled clock read: the first fixes a pending deadline.
    fn clock_read(&self, at: DateTime<Utc>) {
        if let Some(timeout) = self.timeout {
            let _ = self.deadline.set(at.checked_add_signed(timeout));
        }
    }

    /// Runs `work` as one journaled step named `name` (a replay returns what it recorded),
    /// noting whether it ran in this attempt.
    async fn journaled<T, F, Fut>(&self, name: String, work: F) -> Result<T, TerminalError>
    where
        F: FnOnce() -> Fut + Send + 'ctx,
        Fut: std::future::Future<Output = T> + Send + 'ctx,
        T: Serialize + serde::de::DeserializeOwned + 'static,
    {
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let recorded = self
            .ctx
            .run(name, move || async move {
                flag.store(true, Ordering::SeqCst);
                Ok(Json(work().await))
            })
            .await;
        self.fresh
            .fetch_or(ran.load(Ordering::SeqCst), Ordering::SeqCst);
        recorded.map(Json::into_inner)
    }

    /// The current time, journaled: the same on every replay.
    pub(crate) async fn now(&self) -> Result<DateTime<Utc>, TaskError> {
        let at = self
            .journaled("now".into(), || async { Utc::now().to_rfc3339() })
            .await
            .map_err(|e| {
                self.cancel();
                TaskError::new(ErrorCode::Cancelled, e.to_string())
            })?;
        let at = read_time(&at)?;
        self.clock_read(at);
        Ok(at)
    }

    /// A call's first exchange in one journaled step with the clock read its deadline check
    /// needs: the time (`None` when the step ended without its result: a cancelled
    /// invocation), and the step's result (`None`: past the deadline, nothing sent). A step
    /// that may repeat a lost one is taken whatever the time, as it was when the lost one ran
    /// (so a run that Restate resumes after its deadline may finish that one call).
    async fn timed_step(
        &self,
        step: Step,
    ) -> Result<(Option<DateTime<Utc>>, Option<StepResult>), TaskError> {
        let lost = |why: String| StepResult {
            looked: None,
            sent: Some(Err((Attempt::Lost, why))),
        };
        if self.is_cancelled() {
            return Ok((None, Some(lost("the invocation was cancelled".into()))));
        }
        let may_repeat = !self.fresh.load(Ordering::SeqCst);
        let deadline = self.deadline();
        let recorded = self
            .journaled(step.name(), move || async move {
                let at = Utc::now();
                let step = match deadline {
                    Some(deadline) if at > deadline && !may_repeat => None,
                    _ => Some(StepRecord::from(&step.run(may_repeat).await)),
                };
                TimedStep {
                    at: at.to_rfc3339(),
                    step,
                }
            })
            .await;
        match recorded {
            Ok(TimedStep { at, step }) => {
                let at = read_time(&at)?;
                self.clock_read(at);
                Ok((Some(at), step.map(StepResult::from)))
            }
            // Only a cancelled invocation ends a step without its result: the request may have
            // left, so it counts as a lost answer, and nothing more runs.
            Err(e) => {
                self.cancel();
                Ok((None, Some(lost(format!("the invocation ended: {e}")))))
            }
        }
    }

    /// Notes what `ctx`'s task sends: stamped `at`, its digest.
    fn note(&self, ctx: &TaskContext, at: DateTime<Utc>, prepared: &PreparedRequest) {
        let mut records = self.records();
        let record = records.entry(ctx.task_name.clone()).or_default();
        record.at = Some(at);
        record.request = Some(prepared.digest());
        record.begin(prepared.began());
    }

    /// `REQUEST_CHANGED` when `prepared` may not be sent ([`Recorded::binds`], over this
    /// attempt's records and those it resumes).
    fn unbound(&self, ctx: &TaskContext, prepared: &PreparedRequest) -> Result<(), TaskError> {
        match self.records().get(&ctx.task_name) {
            Some(r) if r.binds(prepared.began()) => {
                Err(begun_changed(&ctx.workflow_id, false, prepared))
            }
            _ => Ok(()),
        }
    }

    /// [`Durable::ended`], having noted a final answer (or a failure with nothing recorded)
    /// to `prepared`: it no longer binds a resume.
    fn sent(&self, ctx: &TaskContext, prepared: &PreparedRequest, sent: SendResult) -> TaskResult {
        if !sent.as_ref().is_err_and(TaskError::leaves_open)
            && let Some(record) = self.records().get_mut(&ctx.task_name)
        {
            record.settle(prepared.began());
        }
        self.ended(sent)
    }

    async fn http(
        &self,
        task: &usage_connector::simworkflow::HttpTask,
        input: &Value,
        ctx: &TaskContext,
    ) -> Result<TaskOutput, TaskError> {
        // A task an earlier attempt began keeps its time (its identity) and is looked up first.
        let began = self
            .resumed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ctx.task_name);
        let earlier = began.map_or(PriorRun::None, |_| PriorRun::Started);
        let ctx = &TaskContext {
            prior: ctx.prior.max(earlier),
            ..ctx.clone()
        };
        let executor = &self.connector.executor;
        // At the time it began, or at a provisional one: a request that does not carry the
        // time is the same at every time.
        let provisional = began.unwrap_or(DateTime::UNIX_EPOCH);
        let prepared = Arc::new(executor.prepare_at(task, input, &ctx.execution(provisional))?);
        let timeless = began.is_some() || !prepared.identity.stamped;
        // Its first exchange also reads the clock, unless it is a send the API cannot
        // deduplicate: taken as a possible repeat of a lost one (a step after a replay) it would
        // be looked up first, and a journaled clock read before it costs less than that lookup.
        // Decided from the request alone, so a replay takes the same steps.
        if timeless {
            self.unbound(ctx, &prepared)?;
            let first = executor.first_step(&prepared, ctx);
            if !first.looks_first_if_repeated() {
                let (at, first) = self.timed_step(first).await?;
                let Some(first) = first else {
                    return Err(past_deadline());
                };
                // Noted even when the step's clock read was lost: the request may have left.
                self.note(ctx, began.or(at).unwrap_or(provisional), &prepared);
                let sent = executor.send_after(&prepared, ctx, self, Some(first)).await;
                return self.sent(ctx, &prepared, sent);
            }
        }
        let now = self.now().await?;
        if self.past_deadline(now) {
            return Err(past_deadline());
        }
        let prepared = match timeless {
            true => prepared,
            false => Arc::new(executor.prepare_at(task, input, &ctx.execution(now))?),
        };
        self.unbound(ctx, &prepared)?;
        self.note(ctx, began.unwrap_or(now), &prepared);
        let sent = executor.send_with(&prepared, ctx, self).await;
        self.sent(ctx, &prepared, sent)
    }

    /// An Http task's output, or its error: a wait cut at the deadline ends the run as the
    /// local runner's timer does, but a send that may have been recorded keeps saying so (and
    /// how to resolve it).
    fn ended(&self, sent: SendResult) -> TaskResult {
        match sent {
            Ok(out) => Ok(TaskOutput::http(out)),
            Err(e)
                if self.timed_out.load(Ordering::SeqCst) && e.code != ErrorCode::OutcomeUnknown =>
            {
                Err(past_deadline())
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the run is past its deadline at `now`.
    fn past_deadline(&self, now: DateTime<Utc>) -> bool {
        self.deadline().is_some_and(|deadline| now > deadline)
    }

    async fn simple(
        &self,
        task: &Task,
        input: &Value,
        ctx: &TaskContext,
    ) -> Result<TaskOutput, TaskError> {
        if self.timed() && self.past_deadline(self.now().await?) {
            return Err(past_deadline());
        }
        let Some(handler) = self.connector.simple.get(&ctx.task_name).cloned() else {
            return Err(TaskError::new(
                ErrorCode::NoHandler,
                format!(
                    "Simple task `{}` has no handler: register one with Connector::with_simple_handler",
                    ctx.task_name
                ),
            ));
        };
        let (task, input, tctx) = (task.clone(), input.clone(), ctx.clone());
        let recorded = self
            .ctx
            .run(format!("task {}", ctx.task_name), move || async move {
                let done = handler.execute(&task, &input, &tctx).await;
                Ok(Json(SimpleRecord::from(done)))
            })
            .await
            .map_err(|e| {
                self.cancel();
                TaskError::new(ErrorCode::Cancelled, e.to_string())
            })?;
        recorded.into_inner().into()
    }
}

fn past_deadline() -> TaskError {
    TaskError::new(
        ErrorCode::TimedOut,
        "the workflow ran longer than timeoutSeconds",
    )
}

#[async_trait]
impl Steps for Durable<'_, '_> {
    async fn step(&self, step: Step) -> StepResult {
        if self.is_cancelled() {
            return StepResult {
                looked: None,
                sent: Some(Err((Attempt::Lost, "the invocation was cancelled".into()))),
            };
        }
        let may_repeat = !self.fresh.load(Ordering::SeqCst);
        let recorded = self
            .journaled(step.name(), move || async move {
                StepRecord::from(&step.run(may_repeat).await)
            })
            .await;
        match recorded {
            Ok(record) => record.into(),
            // Only a cancelled invocation ends a step without its result: the request may have
            // left, so it counts as a lost answer, and nothing more runs.
            Err(e) => {
                self.cancel();
                StepResult {
                    looked: None,
                    sent: Some(Err((Attempt::Lost, format!("the invocation ended: {e}")))),
                }
            }
        }
    }

    async fn wait(&self, delay: Duration, _cancel: &Cancellation) -> bool {
        if self.is_cancelled() {
            return false;
        }
        // A wait that would pass the deadline sleeps until it and ends the task.
        let mut delay = delay;
        if self.timed() {
            let Ok(now) = self.now().await else {
                return false;
            };
            if let Some(deadline) = self.deadline() {
                let left = (deadline - now).to_std().unwrap_or(Duration::ZERO);
                if left < delay {
                    delay = left;
                    self.timed_out.store(true, Ordering::SeqCst);
                }
            }
        }
        let slept = self.ctx.sleep(delay).await;
        if slept.is_err() {
            self.cancel();
        }
        slept.is_ok() && !self.timed_out.load(Ordering::SeqCst)
    }

    fn replaying(&self) -> bool {
        !self.fresh.load(Ordering::SeqCst)
    }

    fn random(&self) -> f64 {
        // splitmix64 over (invocation seed, draw number): the same sequence on a replay.
        let n = self.draws.fetch_add(1, Ordering::SeqCst);
        let mut z = self
            .seed
            .wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[async_trait]
impl Engine for Durable<'_, '_> {
    async fn task(
        &self,
        task: &Task,
        input: &Value,
        ctx: &TaskContext,
    ) -> Result<TaskOutput, TaskError> {
        if self.is_cancelled() {
            return Err(TaskError::new(
                ErrorCode::Cancelled,
                "the invocation was cancelled",
            ));
        }
        match task {
            Task::Http(h) => self.http(h, input, ctx).await,
            _ => self.simple(task, input, ctx).await,
        }
    }

    async fn branches(&self, run: &Run, parallel: &str, count: usize, input: &Value) -> Branches {
        // Branches end at the run's deadline: fixed now, if no clock read fixed it yet.
        if self.timeout.is_some()
            && self.deadline.get().is_none()
            && let Err(error) = self.now().await
        {
            return Branches::Failed(Box::new(Failure {
                task: parallel.to_owned(),
                error,
            }));
        }
        let mut calls = DurableFuturesUnordered::new();
        let mut handles = Vec::with_capacity(count);
        let recorded = self.recorded();
        for index in 0..count {
            let request = BranchRequest {
                definition: self.definition.clone(),
                workflow_id: run.workflow_id.to_string(),
                workflow_input: run.info.input.clone(),
                scope: ScopeId::Branch {
                    parallel: parallel.to_owned(),
                    index,
                },
                input: input.clone(),
                deadline: self.deadline().map(|d| d.to_rfc3339()),
                recorded: recorded.clone(),
                sequence: run.info.sequence,
            };
            match self.ctx.branch(request).await {
                Ok((call, handle)) => {
                    calls.push(call);
                    handles.push(Some(handle));
                }
                Err(e) => {
                    for handle in handles.iter().flatten() {
                        handle.cancel();
                    }
                    return Branches::Failed(Box::new(branch_failure(parallel, &e)));
                }
            }
        }
        let mut results = BranchResults::new(count);
        let mut decided = None;
        loop {
            let (index, ended) = match calls.next().await {
                Ok(Some(next)) => next,
                Ok(None) => return decided.unwrap_or_else(|| results.finish()),
                Err(e) => (0, Err(e)),
            };
            if let Some(h) = handles.get_mut(index) {
                *h = None;
            }
            let result = match ended {
                Ok(Json(end)) => {
                    // What the branch changed only: its other tasks are as it was sent them.
                    let changed = end.recorded.into_iter();
                    let changed = changed.filter(|(task, r)| recorded.get(task) != Some(r));
                    self.records().extend(changed);
                    match end.outcome {
                        BranchOutcome::Ended(end) => Ok(end),
                        BranchOutcome::Failed(f) => Err(*f),
                    }
                }
                Err(e) => Err(branch_failure(parallel, &e)),
            };
            if decided.is_some() {
                continue;
            }
            if let Some(end) = results.add(index, result) {
                // The first branch that does not complete decides: the others are cancelled
                // (a call in flight finishes, or its branch ends OUTCOME_UNKNOWN and a resume
                // looks it up), and waited for, so what they recorded is kept.
                for handle in handles.iter().flatten() {
                    handle.cancel();
                }
                decided = Some(end);
            }
        }
    }

    fn record(&self, ctx: &TaskContext, output: &Value) {
        self.records()
            .entry(ctx.task_name.clone())
            .or_default()
            .output = Some(output.clone());
    }

    fn report(&self, event: &TaskEvent) {
        tracing::info!(
            task = %event.task,
            kind = event.kind,
            status = event.status,
            attempts = event.attempts,
            detail = event.detail.as_deref().unwrap_or(""),
            "task"
        );
    }
}

/// The failure of a Parallel task whose branch invocation itself failed.
fn branch_failure(parallel: &str, e: &TerminalError) -> Failure {
    Failure {
        task: parallel.to_owned(),
        error: TaskError::new(ErrorCode::BranchPanicked, e.to_string()),
    }
}
