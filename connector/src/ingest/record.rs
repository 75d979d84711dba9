//! One record's way through the template, shared by the local driver and a durable engine's
//! shards: [`prepare`] (pure: the record's execution, its task input, the request stamped at a
//! given time) and [`deliver`] (the executor's send loop over any [`Steps`]).
//!
//! Policy: a record's execution id is `ingest-{line}-{digest}`, so every identity (Solvimon
//! reference and `Idempotency-Key`, Rebilly usage time) follows from its place, its text and
//! the time it was first stamped — whichever engine sends it, and however often it is prepared.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Record, RecordOutcome, RecordReport, Seen, Template};
use crate::execute::steps::Steps;
use crate::execute::{ErrorCode, Executor, PriorRun, RunInfo, TaskContext, TaskError};
use crate::output::Outcome;
use crate::prepare::PreparedRequest;

/// A record ready to send.
#[derive(Debug, Clone)]
pub struct Ready {
    /// Its line.
    pub line: u64,
    /// The prepared request.
    pub prepared: Arc<PreparedRequest>,
    /// Its execution (id, task, whether an earlier run may have sent it).
    pub ctx: TaskContext,
    /// The time its request is stamped with.
    pub at: DateTime<Utc>,
}

impl Ready {
    /// Its idempotency identity as journals write it: the Solvimon `Idempotency-Key`, or
    /// `usageTime=…` for a Rebilly usage.
    pub fn key(&self) -> Option<String> {
        self.prepared.identity.shown()
    }
}

/// Prepares `record` through `template`: stamped at the journaled time when `seen` is
/// [`Seen::Begun`] or [`Seen::Elsewhere`] (then an earlier run may have sent it: the executor
/// looks before sending), else now. `Err`: the record's report — `invalid` (not a record, or
/// its request does not prepare or validate) or `failed` (a credential is missing: not the
/// record's fault; or, begun before, it now prepares to another identity than it began with:
/// `REQUEST_CHANGED`, since a lookup or an idempotency key would not know the earlier send).
pub fn prepare(
    executor: &Executor,
    template: &Template,
    record: &Record,
    seen: Seen,
) -> Result<Ready, Box<RecordReport>> {
    let (at, prior, began) = match seen {
        Seen::Begun { at, began } => (at, PriorRun::Started, Some((began, false))),
        Seen::Elsewhere { at, began } => (at, PriorRun::Started, Some((began, true))),
        _ => (Utc::now(), PriorRun::None, None),
    };
    let value = match &record.value {
        Ok(v) => v,
        Err(e) => {
            let error = TaskError::new(ErrorCode::InvalidRequest, format!("not a record: {e}"));
            return Err(Box::new(RecordReport::bare(
                record.line,
                RecordOutcome::Invalid,
                Some(error),
            )));
        }
    };
    let ready = prepare_value(
        executor,
        template,
        record.line,
        &record.digest,
        value,
        at,
        prior,
    )?;
    match began {
        Some((began, elsewhere)) if !began.matches(ready.prepared.began()) => {
            Err(Box::new(RecordReport::bare(
                record.line,
                RecordOutcome::Failed,
                Some(changed(&ready, elsewhere)),
            )))
        }
        _ => Ok(ready),
    }
}

/// The error of a record begun before (its request may have left) that now prepares to
/// another request ([`Began`](crate::identity::Began)): sent, a lookup or the API's
/// idempotency would not match it to the first.
fn changed(ready: &Ready, elsewhere: bool) -> TaskError {
    let now = ready.key().map(|k| format!(" ({k})")).unwrap_or_default();
    let message = if elsewhere {
        format!(
            "this record was sent (or began to be) to another destination this journal records, as another request than it now prepares to{now}: the template, its options or the CSV header changed since. If that destination is another server, give this run a journal of its own (--journal); if it is this server under another address, run it with what it began with first (it then looks the first request up and records it once), then make the change"
        )
    } else {
        format!(
            "an earlier run began this record (its request may have been sent, with no final answer) and it now prepares to another request{now}, which a lookup or the API's idempotency would not match to the first: the template, its options or the CSV header changed since. Run it with what it began with first (it then looks the first request up and records it once), then make the change"
        )
    };
    TaskError::new(ErrorCode::RequestChanged, message)
}

/// [`prepare`] of a parsed record stamped `at`, with `prior` telling whether an earlier run
/// may have sent it. A record an earlier run began that no longer prepares is `failed`
/// (`REQUEST_CHANGED`), not `invalid`: the template or its options changed since, not its line
/// (which, journaled, may not be edited), and its request may have left.
pub fn prepare_value(
    executor: &Executor,
    template: &Template,
    line: u64,
    digest: &str,
    value: &serde_json::Value,
    at: DateTime<Utc>,
    prior: PriorRun,
) -> Result<Ready, Box<RecordReport>> {
    let ctx = TaskContext {
        prior,
        run: Some(Arc::new(RunInfo {
            input: value.clone(),
            definition: template.definition.clone(),
            // Each record is one execution, numbered by its line: the same on every re-run.
            sequence: Some(line),
        })),
        ..TaskContext::new(
            format!("ingest-{line}-{digest}"),
            template.task_name.clone(),
        )
    };
    if let Some(schema) = &template.input_schema {
        let problems = schema.check(value);
        if !problems.is_empty() {
            let why: Vec<String> = problems.into_iter().map(|p| p.error.message).collect();
            let error = TaskError::new(ErrorCode::InvalidInput, why.join("; "));
            return Err(Box::new(refused(
                line,
                prior,
                RecordOutcome::Invalid,
                error,
            )));
        }
    }
    let params = template.task.input_parameters.as_ref();
    let prepared = ctx
        .data()
        .input(params, value)
        .and_then(|input| executor.prepare_at(&template.task, &input, &ctx.execution(at)));
    match prepared {
        Ok(prepared) => Ok(Ready {
            line,
            prepared: Arc::new(prepared),
            ctx,
            at,
        }),
        Err(e) => {
            let outcome = if e.code == ErrorCode::MissingCredentials {
                RecordOutcome::Failed
            } else {
                RecordOutcome::Invalid
            };
            Err(Box::new(refused(line, prior, outcome, e)))
        }
    }
}

/// The report of a record that does not prepare; see [`prepare_value`] for one begun before.
fn refused(line: u64, prior: PriorRun, outcome: RecordOutcome, e: TaskError) -> RecordReport {
    if outcome != RecordOutcome::Invalid || prior == PriorRun::None {
        return RecordReport::bare(line, outcome, Some(e));
    }
    let message = format!(
        "an earlier run began this record (its request may have been sent) and it no longer prepares, so the template or its options changed since; run it with the ones it began with (its line is not what is wrong): {}",
        e.message
    );
    RecordReport::bare(
        line,
        RecordOutcome::Failed,
        Some(TaskError {
            code: ErrorCode::RequestChanged,
            message,
            ..e
        }),
    )
}

/// Sends a ready record through `steps`; its report (`failed` when the API refuses it, the
/// tries run out or the outcome stays unknown).
pub async fn deliver(executor: &Executor, ready: &Ready, steps: &dyn Steps) -> RecordReport {
    match executor.send_with(&ready.prepared, &ready.ctx, steps).await {
        Ok(out) => RecordReport {
            line: ready.line,
            outcome: match out.outcome {
                Outcome::Created => RecordOutcome::Created,
                Outcome::Duplicate => RecordOutcome::Duplicate,
                Outcome::Recovered => RecordOutcome::Recovered,
                Outcome::Partial => RecordOutcome::Partial,
            },
            id: out.body.facts().id.map(std::borrow::Cow::into_owned),
            quantity: out.quantity,
            error: None,
        },
        Err(e) => RecordReport::bare(ready.line, RecordOutcome::Failed, Some(e)),
    }
}
