//! Bulk ingest: every record of a file through one Http task (the template), on the same
//! executor as `call` and `run`, exactly once across restarts.
//!
//! Policy: records stream (a bounded channel between the reader thread and the senders; no
//! record is held after its answer). Each record is an execution of its own, id
//! `ingest-{line}-{digest}`, so its identities (Solvimon reference and `Idempotency-Key`,
//! Rebilly usage-time fraction) follow from its place and text. Before a record's request first
//! leaves, the journal holds its identity and time; a later run skips the records the journal
//! finished, and sends a begun one again only through the executor's lookup-first path (the
//! same identity: a duplicate or a recovery, never a second record). A record that is not
//! valid JSON, or whose request does not prepare or validate, is `invalid`; one the API refuses
//! or that exhausts its retries is `failed`; neither stops the run unless a [`Stopper`] limit
//! is reached: at `max_errors` no new record starts and the run ends after those in flight; for
//! want of an answer (`give_up_after`) the records in flight are dropped as a `kill -9` would
//! drop them (begun in the journal, resolved by the next run). Every exchange
//! goes through the run's [`Governor`], which sets how many are in flight and how fast.

pub mod governor;
pub mod journal;
pub mod record;
pub mod records;
pub mod shard;
pub mod stop;
mod synced;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::catalog::EndpointId;
use crate::error::{Error, Result};
use crate::execute::steps::{Direct, Step, StepResult, Steps};
use crate::execute::{Cancellation, ErrorCode, Executor, QuantityReport, TaskError};
use crate::preflight::InputSchema;
use crate::simworkflow::HttpTask;
pub use governor::{Concurrency, Governor, Signal};
pub use journal::{IngestJournal, Seen};
pub use record::{Ready, deliver, prepare};
pub use records::{Format, Record, decompressed, records};
pub use stop::{Stop, Stopper};

/// What each record goes through.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    /// The Http task (a definition's task, or one built for an endpoint with body `${$}`).
    pub task: HttpTask,
    /// The task's name (part of each record's identity).
    pub task_name: String,
    /// The definition's name (`$$.StateMachine.Name`).
    pub definition: String,
    /// The definition's `inputSchema`, compiled: a record that fails it is `invalid`, never
    /// sent (checked where records are prepared for sending; not carried to Restate shards).
    #[serde(skip)]
    pub input_schema: Option<Arc<InputSchema>>,
}

impl Template {
    /// What every record would send alike that its API deduplicates by (`endpoint`'s vendor
    /// rules): an `Idempotency-Key` or a Solvimon `reference` the task writes out, with no
    /// placeholder. The API would take the first record's and refuse the rest as a conflict,
    /// or answer them as its duplicates and record nothing of them. `None`: each record has
    /// its own (a key the connector derives, or one read from the record).
    pub fn same_for_every_record(&self, endpoint: Option<EndpointId>) -> Option<String> {
        let rules = crate::vendor_rules::rules_for(endpoint);
        let literal = |s: &str| !s.contains("${") && !s.starts_with("jsonata:");
        let task = &self.task_name;
        if let Some(name) = rules.idempotency_header()
            && let Some((header, key)) = self
                .task
                .http_request
                .headers
                .iter()
                .flatten()
                .find(|(k, v)| k.eq_ignore_ascii_case(name) && literal(v))
        {
            return Some(format!(
                "task `{task}` sends {header} `{key}` with every record: the API would take the first record's and refuse the rest as a conflict; remove the header (the connector derives a key per record) or make it read the record (e.g. `${{$.id}}`)"
            ));
        }
        let (field, value) = rules.dedupe_field(self.task.http_request.body.as_ref()?)?;
        literal(&value).then(|| {
            format!(
                "task `{task}` sends {field} `{value}` with every record: where the API deduplicates by {field} (opt-in per platform), it would answer the rest as duplicates of the first and record nothing of them; make it read the record (e.g. `evt-${{$.id}}`)"
            )
        })
    }
}

/// How an ingest runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Sets how many exchanges are in flight and how fast (fixed, or adapting up to a
    /// maximum); the caller may watch it ([`Governor::snapshot`], [`Governor::health`]).
    pub governor: Arc<Governor>,
    /// Stop starting records once this many are invalid or failed.
    pub max_errors: Option<u64>,
    /// Stop starting records once this many in a row failed for want of an answer.
    pub give_up_after: Option<u64>,
}

/// What became of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordOutcome {
    /// Recorded now.
    Created,
    /// The API had it already.
    Duplicate,
    /// An earlier ambiguous send had been recorded (found by lookup).
    Recovered,
    /// Recorded with less than requested.
    Partial,
    /// Finished by an earlier run (the journal says so): not sent.
    Skipped,
    /// Not a valid record, or its request does not validate: not sent.
    Invalid,
    /// Refused by the API, out of retries, or of unknown outcome (a second run resolves it).
    Failed,
}

impl RecordOutcome {
    /// Whether the record is delivered (or was before).
    pub fn delivered(self) -> bool {
        !matches!(self, RecordOutcome::Invalid | RecordOutcome::Failed)
    }

    /// Its name, as reports and journals write it.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordOutcome::Created => "created",
            RecordOutcome::Duplicate => "duplicate",
            RecordOutcome::Recovered => "recovered",
            RecordOutcome::Partial => "partial",
            RecordOutcome::Skipped => "skipped",
            RecordOutcome::Invalid => "invalid",
            RecordOutcome::Failed => "failed",
        }
    }
}

/// One record's report (one `--report` line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordReport {
    /// Its line in the input.
    pub line: u64,
    /// What became of it.
    pub outcome: RecordOutcome,
    /// The record's id at the API, when the answer has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Requested / accepted / remainder (Rebilly usages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<QuantityReport>,
    /// Why it is invalid or failed (with `validate`'s diagnostics where there are any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskError>,
}

impl RecordReport {
    /// The outcome its journal `end` line records: a delivered one, or
    /// [`journal::SETTLED_FAILED`] when the API refused it outright (a 4xx answer that is not
    /// retried, or `USAGE_LIMIT_EXCEEDED`): nothing was recorded and the line is what to fix.
    /// `None` otherwise: while its request may have been recorded, after server errors (not
    /// the line's fault: the next run looks it up first), and when it failed before it was
    /// sent (which says nothing of an earlier run's send).
    pub fn journal_end(&self) -> Option<&'static str> {
        if self.outcome.delivered() {
            return Some(self.outcome.as_str());
        }
        let e = self.error.as_ref()?;
        let refused = match e.code {
            ErrorCode::UsageLimitExceeded => true,
            ErrorCode::HttpError => e.status_code.is_some_and(|s| (400..500).contains(&s)),
            _ => false,
        };
        refused.then_some(journal::SETTLED_FAILED)
    }

    /// A report without an id or quantities.
    pub fn bare(line: u64, outcome: RecordOutcome, error: Option<TaskError>) -> Self {
        RecordReport {
            line,
            outcome,
            id: None,
            quantity: None,
            error,
        }
    }
}

/// The run's totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Records read.
    pub records: u64,
    /// Created now.
    pub created: u64,
    /// Duplicates.
    pub duplicate: u64,
    /// Recovered.
    pub recovered: u64,
    /// Partial.
    pub partial: u64,
    /// Sum of the partial records' remainders (exact).
    pub remainder: Decimal,
    /// Finished by an earlier run.
    pub skipped: u64,
    /// Invalid.
    pub invalid: u64,
    /// Failed.
    pub failed: u64,
    /// Why it stopped before the end of the input, if it did.
    pub stopped: Option<Stop>,
    /// Records in progress when it gave up on an API that did not answer: not reported, left
    /// begun (or not yet) in the journal for the next run, which looks each up before sending.
    pub abandoned: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl Summary {
    /// Whether every record read was delivered (now or before).
    pub fn all_delivered(&self) -> bool {
        self.invalid == 0 && self.failed == 0 && self.stopped.is_none()
    }

    /// Counts one record's report.
    pub fn add(&mut self, r: &RecordReport) {
        self.records += 1;
        crate::telemetry::record(r.outcome.as_str());
        match r.outcome {
            RecordOutcome::Created => self.created += 1,
            RecordOutcome::Duplicate => self.duplicate += 1,
            RecordOutcome::Recovered => self.recovered += 1,
            RecordOutcome::Partial => {
                self.partial += 1;
                if let Some(q) = &r.quantity
                    && let Ok(rem) = q.remainder.parse::<Decimal>()
                {
                    self.remainder += rem;
                }
            }
            RecordOutcome::Skipped => self.skipped += 1,
            RecordOutcome::Invalid => self.invalid += 1,
            RecordOutcome::Failed => self.failed += 1,
        }
    }
}

/// The input could not be read.
pub(crate) fn reading_input(source: std::io::Error) -> Error {
    Error::Io {
        action: "reading",
        path: "the input".into(),
        source,
    }
}

/// Reads `input` as far as the last line `journal` knows and checks each line against it,
/// sending nothing: an input that changed under the journal is refused before a run starts
/// (a run finds it only where it reads it, after what it sent before it). Returns the lines
/// read.
pub fn check_input(
    journal: &IngestJournal,
    input: impl Iterator<Item = std::io::Result<Record>>,
) -> Result<u64> {
    let Some(last) = journal.last_line() else {
        return Ok(0);
    };
    let mut read = 0;
    for record in input {
        let record = record.map_err(reading_input)?;
        if record.line > last {
            break;
        }
        journal.seen(record.line, &record.digest)?;
        read += 1;
    }
    Ok(read)
}

/// Called with each record's report as it is known (from several tasks).
pub type Observer = Arc<dyn Fn(&RecordReport) + Send + Sync>;

/// Ingests `input` (records as [`records`] reads them) through `template`, journaling in
/// `journal`, every exchange under `options.governor`. Records are
/// prepared and journaled up to [`lookahead`] ahead of the exchanges in flight, so the
/// journal's syncs overlap the sends. Errors: the input cannot be read, changed under the
/// journal, or the journal cannot be written (then nothing more is sent).
pub async fn ingest(
    executor: Arc<Executor>,
    template: Arc<Template>,
    input: Box<dyn Iterator<Item = std::io::Result<Record>> + Send>,
    journal: Arc<IngestJournal>,
    options: Options,
    observe: Observer,
) -> Result<Summary> {
    let started = Instant::now();
    let governor = options.governor.clone();
    let _gauges = AbortOnDrop(tokio::spawn({
        let governor = governor.clone();
        async move {
            loop {
                let now = governor.snapshot();
                crate::telemetry::governor(now.window, now.in_flight, now.pace);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }));
    let concurrency = lookahead(governor.concurrency());
    let (mut rx, reader) = read_ahead(input, concurrency * 2);
    let mut stopper = Stopper::new(options.max_errors, options.give_up_after);
    let mut started_records = 0u64;
    let mut summary = Summary::default();
    let mut running: JoinSet<Result<RecordReport>> = JoinSet::new();
    let mut failure = None;
    let finish = |summary: &mut Summary, stopper: &mut Stopper, done: Result<RecordReport>| {
        let report = done?;
        stopper.note(&report);
        observe(&report);
        summary.add(&report);
        Ok::<_, Error>(())
    };
    // Records are taken from the reader in batches: the reader thread then wakes once a batch,
    // not once a record.
    let mut batch = Vec::with_capacity(READ_BATCH);
    'records: loop {
        // Records that finish while the reader waits (a slow standard input) are reported
        // now, not when the next record comes.
        let read = tokio::select! {
            biased;
            read = rx.recv_many(&mut batch, READ_BATCH) => read,
            Some(done) = running.join_next(), if !running.is_empty() => {
                if let Err(e) = finish(
                    &mut summary,
                    &mut stopper,
                    done.expect("record tasks do not panic"),
                ) {
                    failure = Some(e);
                    break 'records;
                }
                continue;
            }
            () = tokio::time::sleep(WATCH), if !running.is_empty() => {
                if let Some(stop) = stopper.unanswered(Some(governor.answers()), None) {
                    summary.stopped = Some(stop);
                    break 'records;
                }
                continue;
            }
        };
        if read == 0 {
            break;
        }
        for record in batch.drain(..) {
            if let Some(stop) = stopper.stop(Some(governor.answers()), None) {
                summary.stopped = Some(stop);
                break 'records;
            }
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    failure = Some(reading_input(e));
                    break 'records;
                }
            };
            // A line that changed under the journal stops the run where it is read: no record
            // after it starts.
            let seen = match journal.seen(record.line, &record.digest) {
                Ok(seen) => seen,
                Err(e) => {
                    failure = Some(e);
                    break 'records;
                }
            };
            while running.len() >= concurrency {
                let done = match next_done(&mut running, &governor, &stopper, None).await {
                    Ok(Some(done)) => done,
                    Ok(None) => break,
                    Err(stop) => {
                        summary.stopped = Some(stop);
                        break 'records;
                    }
                };
                if let Err(e) = finish(
                    &mut summary,
                    &mut stopper,
                    done.expect("record tasks do not panic"),
                ) {
                    failure = Some(e);
                    break 'records;
                }
            }
            started_records += 1;
            let (executor, template, journal, governor) = (
                executor.clone(),
                template.clone(),
                journal.clone(),
                governor.clone(),
            );
            running.spawn(async move {
                let steps = Governed {
                    executor: &executor,
                    governor: &governor,
                };
                one(&executor, &template, &journal, &steps, record, seen).await
            });
        }
    }
    drop(rx);
    // The whole input is read (or no more is wanted): a small one may end early.
    let all_read = Some(started_records);
    loop {
        // An API that does not answer would hold each record in progress for all its tries:
        // they are left as a `kill -9` leaves them (begun in the journal, resolved by the next
        // run), whatever else stopped the run.
        let done = match next_done(&mut running, &governor, &stopper, all_read).await {
            Ok(done) => done,
            Err(stop) => {
                summary.stopped.get_or_insert(stop);
                running.abort_all();
                running.join_next().await
            }
        };
        let Some(done) = done else { break };
        let done = match done {
            Err(e) if e.is_cancelled() => {
                summary.abandoned += 1;
                continue;
            }
            done => done.expect("record tasks do not panic"),
        };
        if let Err(e) = finish(&mut summary, &mut stopper, done) {
            failure.get_or_insert(e);
        }
    }
    let _ = reader.await;
    summary.elapsed = started.elapsed();
    match failure {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// The next record to finish (`None`: none is running), or the stop for want of an answer
/// `stopper` sees first (checked every [`WATCH`] while records wait; `all_read`: the records
/// started, once the whole input is read).
async fn next_done(
    running: &mut JoinSet<Result<RecordReport>>,
    governor: &Governor,
    stopper: &Stopper,
    all_read: Option<u64>,
) -> std::result::Result<Option<Joined>, Stop> {
    loop {
        if let Some(stop) = stopper.unanswered(Some(governor.answers()), all_read) {
            return Err(stop);
        }
        tokio::select! {
            biased;
            done = running.join_next() => return Ok(done),
            () = tokio::time::sleep(WATCH) => {}
        }
    }
}

/// A record task's end.
type Joined = std::result::Result<Result<RecordReport>, tokio::task::JoinError>;

/// Aborts its task when dropped (the run's future may be dropped before its end).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often records that wait are checked against an API that does not answer.
const WATCH: Duration = Duration::from_millis(200);

/// Records taken from the reader at once.
const READ_BATCH: usize = 64;

/// Reads `input` on a blocking thread, at most `capacity` records ahead of the receiver; the
/// reading stops after the first error or when the receiver is dropped.
fn read_ahead(
    input: Box<dyn Iterator<Item = std::io::Result<Record>> + Send>,
    capacity: usize,
) -> (
    tokio::sync::mpsc::Receiver<std::io::Result<Record>>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
    let reader = tokio::task::spawn_blocking(move || {
        for record in input {
            let last = record.is_err();
            if tx.blocking_send(record).is_err() || last {
                return;
            }
        }
    });
    (rx, reader)
}

/// Records in progress at once (prepared, journaled, waiting for or in an exchange) for
/// `concurrency`: four times its most exchanges in flight, plus 256 (enough to keep every
/// place in the window busy through the journal's write interval at the rates one thread
/// reaches: with fewer, a window of 16 ran dry between syncs).
pub fn lookahead(concurrency: Concurrency) -> usize {
    concurrency.max() * 4 + 256
}

/// Exchanges made now, each under the run's governor.
struct Governed<'a> {
    executor: &'a Executor,
    governor: &'a Governor,
}

#[async_trait]
impl Steps for Governed<'_> {
    async fn step(&self, step: Step) -> StepResult {
        let permit = self.governor.acquire().await;
        let result = step.run(false).await;
        permit.done(&result);
        result
    }

    async fn wait(&self, delay: Duration, cancel: &Cancellation) -> bool {
        Direct(self.executor).wait(delay, cancel).await
    }

    fn random(&self) -> f64 {
        self.executor.random()
    }
}

/// One record, `seen` in the journal so: prepare, begin, send, end.
async fn one(
    executor: &Executor,
    template: &Template,
    journal: &IngestJournal,
    steps: &Governed<'_>,
    record: Record,
    seen: Seen,
) -> Result<RecordReport> {
    if let Seen::Done(_) = seen {
        return Ok(RecordReport::bare(
            record.line,
            RecordOutcome::Skipped,
            None,
        ));
    }
    let ready = match prepare(executor, template, &record, seen) {
        Ok(ready) => ready,
        Err(report) => return Ok(*report),
    };
    if matches!(seen, Seen::New | Seen::Elsewhere { .. }) {
        journal
            .begin(record.line, &record.digest, ready.at, &ready.prepared)
            .await?;
    }
    let report = deliver(executor, &ready, steps).await;
    if let Some(end) = report.journal_end() {
        journal.end(report.line, end, report.id.as_deref())?;
    }
    Ok(report)
}
