//! Ingest on a durable engine (Restate): the input split into shards, each run as one durable
//! workflow (`IngestShard`, served by `usage-restate`) whose journal holds every exchange.
//!
//! Policy: the same journal semantics as a local ingest. This side reads and prepares every
//! record (invalid records are reported here and never sent), journals the begin of each new
//! record (its line, digest, stamped time and identity; group-committed) before its shard is
//! submitted, and the end of each delivered record when the shard answers. Shards are groups
//! of `shard_size` consecutive records; a shard carries only the records still to send, each
//! with the URL and identity this side prepared (the service refuses to send a record it would
//! prepare differently). Its workflow id is a digest of the template and of the line numbers
//! and digests it sends, so running the same command again while a shard still runs (or after
//! it finished without its ends reaching the journal) reaches the same workflow: it is waited
//! for and its stored answer taken for what it delivered; what it did not deliver goes out in
//! the shard's next generation (`{id}-1`, …), which this run starts. Only the reports of lines
//! a shard was given are taken, once each; a line it does not report is `failed`. A service process killed mid-shard is Restate's to recover: the shard resumes from
//! its journal on a live service, and this side keeps waiting (up to `patience` from the
//! submission).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::task::JoinSet;

use super::{
    IngestJournal, Observer, Record, RecordOutcome, RecordReport, Seen, Summary, Template, prepare,
};
use crate::error::{Error, Result};
use crate::execute::Executor;
use crate::journal::Destination;

/// What `IngestShard/{id}/run` is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardRequest {
    /// The template every record goes through.
    pub template: Template,
    /// The shard's lines, in order.
    pub records: Vec<ShardRecord>,
}

/// One record of a shard, to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardRecord {
    /// Its line in the input.
    pub line: u64,
    /// The digest of its text.
    pub digest: String,
    /// The record.
    pub value: Value,
    /// The time its request is stamped with (RFC 3339, journaled before the shard was
    /// submitted).
    pub at: String,
    /// An earlier run may have sent it: look before sending.
    pub prior: bool,
    /// The URL the submitting side prepared.
    pub url: String,
    /// The idempotency identity it prepared ([`super::Ready::key`]).
    pub key: Option<String>,
}

/// What a shard answers: one report per record it sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardReply {
    /// Reports, in line order.
    pub reports: Vec<RecordReport>,
}

/// How an ingest runs on Restate.
#[derive(Debug, Clone)]
pub struct RestateOptions {
    /// The ingress URL (`http://127.0.0.1:8080`).
    pub ingress: String,
    /// Lines per shard (at least 1).
    pub shard_size: usize,
    /// Shards running at once (at least 1).
    pub shards: usize,
    /// Stop submitting shards once this many records are invalid or failed.
    pub max_errors: Option<u64>,
    /// Stop submitting shards once this many records in a row failed for want of an answer.
    pub give_up_after: Option<u64>,
    /// How long to wait for a shard's answer, from its submission (the ingress is down, or no
    /// service serves it, or it is very slow).
    pub patience: Duration,
}

/// The workflow id of a shard of `template` (journaled as `template_spec`) sending `records`
/// to `destination` (records done at another destination go out in shards of their own).
pub fn shard_id(
    template_spec: &str,
    destination: &Destination,
    template: &Template,
    records: &[ShardRecord],
) -> String {
    let template = serde_json::to_string(template).unwrap_or_default();
    let destination = serde_json::to_string(destination).unwrap_or_default();
    let lines: Vec<String> = records
        .iter()
        .map(|r| format!("{}:{}", r.line, r.digest))
        .collect();
    let mut parts = vec![template_spec, destination.as_str(), template.as_str()];
    parts.extend(lines.iter().map(String::as_str));
    crate::identity::hex_digest("ingest-", &parts)
}

/// Ingests `input` through `template` as shards on the Restate ingress of `options`,
/// journaling in `journal` (written for `template_spec`). Errors: the input cannot be read or
/// changed under the journal, the journal cannot be written, or a shard cannot be submitted
/// or answered within `patience`.
pub async fn ingest_on_restate(
    executor: Arc<Executor>,
    template: Arc<Template>,
    template_spec: &str,
    input: Box<dyn Iterator<Item = std::io::Result<Record>> + Send>,
    journal: Arc<IngestJournal>,
    options: RestateOptions,
    observe: Observer,
) -> Result<Summary> {
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(Error::RestateClient)?;
    let size = options.shard_size.max(1);
    let (mut rx, reader) = super::read_ahead(input, size);
    let stopper = super::Stopper::new(options.max_errors, options.give_up_after);
    let mut driver = Driver {
        executor,
        template,
        spec: template_spec.to_owned(),
        journal,
        options,
        client,
        observe,
        summary: Summary::default(),
        stopper,
        running: JoinSet::new(),
        begins: JoinSet::new(),
    };
    let mut shard: Vec<ShardRecord> = Vec::with_capacity(size);
    let mut taken = 0usize;
    let mut result = Ok(());
    while let Some(record) = rx.recv().await {
        let line = match record {
            Ok(record) => driver.take(&record),
            Err(source) => Err(super::reading_input(source)),
        };
        match line {
            Ok(line) => shard.extend(line),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        taken += 1;
        if taken.is_multiple_of(size) {
            let full = std::mem::take(&mut shard);
            if let Err(e) = driver.submit(full).await {
                result = Err(e);
                break;
            }
            if driver.summary.stopped.is_some() {
                break;
            }
        }
    }
    drop(rx);
    if result.is_ok() && driver.summary.stopped.is_none() {
        result = driver.submit(shard).await;
    }
    let ended = driver.drain().await;
    let _ = reader.await;
    result?;
    ended?;
    driver.summary.elapsed = started.elapsed();
    Ok(driver.summary)
}

/// The state of an ingest on Restate.
struct Driver {
    executor: Arc<Executor>,
    template: Arc<Template>,
    spec: String,
    journal: Arc<IngestJournal>,
    options: RestateOptions,
    client: reqwest::Client,
    observe: Observer,
    summary: Summary,
    stopper: super::Stopper,
    running: JoinSet<(String, Vec<u64>, Result<ShardReply>)>,
    begins: JoinSet<Result<()>>,
}

impl Driver {
    fn note(&mut self, report: &RecordReport) {
        self.stopper.note(report);
        (self.observe)(report);
        self.summary.add(report);
    }

    /// A record's place in its shard: prepared, its begin journaled (in the background) when
    /// new; `None` (reported now) when finished before or invalid.
    fn take(&mut self, record: &Record) -> Result<Option<ShardRecord>> {
        let seen = self.journal.seen(record.line, &record.digest)?;
        if let Seen::Done(_) = seen {
            let report = RecordReport::bare(record.line, RecordOutcome::Skipped, None);
            self.note(&report);
            return Ok(None);
        }
        let ready = match prepare(&self.executor, &self.template, record, seen) {
            Ok(ready) => ready,
            Err(report) => {
                self.note(&report);
                return Ok(None);
            }
        };
        let key = ready.key();
        if matches!(seen, Seen::New | Seen::Elsewhere { .. }) {
            let (journal, prepared, digest) = (
                self.journal.clone(),
                ready.prepared.clone(),
                record.digest.clone(),
            );
            let (n, at) = (record.line, ready.at);
            self.begins
                .spawn(async move { journal.begin(n, &digest, at, &prepared).await });
        }
        Ok(Some(ShardRecord {
            line: record.line,
            digest: record.digest.clone(),
            value: record.value.as_ref().cloned().unwrap_or_default(),
            at: ready.at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            prior: matches!(seen, Seen::Begun { .. } | Seen::Elsewhere { .. }),
            url: ready.prepared.url.to_string(),
            key,
        }))
    }

    /// Submits a shard once its begins are on disk and a place among the running shards is
    /// free; a shard with nothing to send is not submitted.
    async fn submit(&mut self, records: Vec<ShardRecord>) -> Result<()> {
        while let Some(done) = self.begins.join_next().await {
            done.map_err(|e| Error::IngestTask {
                what: "journaling a begin",
                message: e.to_string(),
            })??;
        }
        if records.is_empty() {
            return Ok(());
        }
        // The exchanges happen in the service: only records in a row count here.
        if let Some(stop) = self.stopper.stop(None, None) {
            self.summary.stopped = Some(stop);
            return Ok(());
        }
        while self.running.len() >= self.options.shards.max(1) {
            self.finish_one().await?;
        }
        let id = shard_id(
            &self.spec,
            self.journal.destination(),
            &self.template,
            &records,
        );
        let lines = records.iter().map(|r| r.line).collect();
        let request = ShardRequest {
            template: (*self.template).clone(),
            records,
        };
        let (client, ingress, patience) = (
            self.client.clone(),
            self.options.ingress.clone(),
            self.options.patience,
        );
        self.running.spawn(async move {
            let reply = run_shard(&client, &ingress, &id, &request, patience).await;
            (id, lines, reply)
        });
        Ok(())
    }

    /// Waits for a running shard: takes the report of each line it was given (once; a line
    /// without one is `failed`), journals the end of each delivered record, notes them.
    async fn finish_one(&mut self) -> Result<()> {
        let Some(done) = self.running.join_next().await else {
            return Ok(());
        };
        let (id, lines, reply) = done.map_err(|e| Error::IngestTask {
            what: "waiting for a shard",
            message: e.to_string(),
        })?;
        let mut reports: std::collections::HashMap<u64, RecordReport> =
            reply?.reports.into_iter().map(|r| (r.line, r)).collect();
        for line in lines {
            let report = reports.remove(&line).unwrap_or_else(|| {
                let error = crate::execute::TaskError::new(
                    crate::execute::ErrorCode::OutcomeUnknown,
                    format!("shard {id} gave no report for this line; run the same command again"),
                );
                RecordReport::bare(line, RecordOutcome::Failed, Some(error))
            });
            if let Some(end) = report.journal_end() {
                self.journal.end(report.line, end, report.id.as_deref())?;
            }
            self.note(&report);
        }
        Ok(())
    }

    /// Waits for every running shard (the first error is kept; the others still end).
    async fn drain(&mut self) -> Result<()> {
        let mut first = Ok(());
        while !self.running.is_empty() {
            if let Err(e) = self.finish_one().await {
                first = first.and(Err(e));
            }
        }
        first
    }
}

/// Runs a shard to its answer. Generation 0 has the id `id`; when that workflow ran before
/// (an earlier run of the command submitted it: Restate answers `PreviouslyAccepted`), its
/// stored answer is taken for the lines it reports delivered, and the others go out again as
/// generation 1 (`{id}-1`, looked up before any resend), and so on, until a generation this run
/// started has answered. An earlier run's workflow is always waited for, never run beside.
async fn run_shard(
    client: &reqwest::Client,
    ingress: &str,
    id: &str,
    request: &ShardRequest,
    patience: Duration,
) -> Result<ShardReply> {
    let deadline = Instant::now() + patience;
    let mut pending = request.records.clone();
    let mut reports: Vec<RecordReport> = Vec::with_capacity(pending.len());
    for generation in 0u32.. {
        let id = match generation {
            0 => id.to_owned(),
            g => format!("{id}-{g}"),
        };
        let shard = ShardRequest {
            template: request.template.clone(),
            records: pending,
        };
        let (new, reply) = submit_and_wait(client, ingress, &id, &shard, deadline).await?;
        let mut answered: std::collections::HashMap<u64, RecordReport> =
            reply.reports.into_iter().map(|r| (r.line, r)).collect();
        pending = Vec::new();
        for mut record in shard.records {
            match answered.remove(&record.line) {
                Some(report) if new || report.outcome.delivered() => reports.push(report),
                _ if new => {}
                _ => {
                    record.prior = true;
                    pending.push(record);
                }
            }
        }
        if new || pending.is_empty() {
            break;
        }
    }
    Ok(ShardReply { reports })
}

/// Submits shard `id` and waits for its answer, asking again while the ingress is unreachable
/// or the shard still runs; whether this submission started it.
async fn submit_and_wait(
    client: &reqwest::Client,
    ingress: &str,
    id: &str,
    request: &ShardRequest,
    deadline: Instant,
) -> Result<(bool, ShardReply)> {
    let base = ingress.trim_end_matches('/');
    let send = format!("{base}/IngestShard/{id}/run/send");
    let attach = format!("{base}/restate/workflow/IngestShard/{id}/attach");
    let wait = |last: String| pause(deadline, id, last);
    let new = loop {
        match client.post(&send).json(request).send().await {
            Ok(a) if a.status().is_success() => {
                let body: Value = a.json().await.unwrap_or_default();
                break body["status"] == "Accepted";
            }
            Ok(a) if a.status().as_u16() == 409 => break false,
            Ok(a) => {
                let status = a.status();
                let text = a.text().await.unwrap_or_default();
                if status.is_client_error() {
                    return Err(Error::ShardRefused {
                        shard: id.to_owned(),
                        status: status.as_u16(),
                        body: text,
                    });
                }
                wait(format!("submitting: {status} {text}")).await?;
            }
            Err(e) => wait(format!("submitting: {e}")).await?,
        }
    };
    loop {
        // Asked again every minute: a shard that runs longer is still waited for.
        let asked = client.get(&attach).timeout(Duration::from_secs(60)).send();
        match asked.await {
            Ok(a) if a.status().is_success() => {
                let body = a.bytes().await;
                match body.map(|b| serde_json::from_slice::<ShardReply>(&b)) {
                    Ok(Ok(reply)) => return Ok((new, reply)),
                    Ok(Err(e)) => {
                        return Err(Error::ShardAnswer {
                            shard: id.to_owned(),
                            message: e.to_string(),
                        });
                    }
                    Err(e) => wait(format!("reading its answer: {e}")).await?,
                }
            }
            Ok(a) => {
                let status = a.status();
                let text = a.text().await.unwrap_or_default();
                wait(format!("waiting for its answer: {status} {text}")).await?;
            }
            Err(e) => wait(format!("waiting for its answer: {e}")).await?,
        }
    }
}

/// Waits a second before asking shard `shard` again, unless `deadline` passed (then `last`,
/// the last failure, is the error's).
async fn pause(deadline: Instant, shard: &str, last: String) -> Result<()> {
    if Instant::now() >= deadline {
        return Err(Error::ShardPatience {
            shard: shard.to_owned(),
            last,
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(())
}
