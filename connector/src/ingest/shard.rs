//! Ingest on a durable engine (Restate): the input split into shards, each run as one durable
//! workflow (`IngestShard`, served by `usage-restate`) whose journal holds every exchange.
//!
//! Policy: the same journal semantics as a local ingest. This side reads and prepares every
//! record (invalid records are reported here and never sent), journals the begin of each new
//! record (its line, digest, stamped time and identity; one group-committed sync per shard)
//! before the shard is submitted, and the end of each delivered record when the shard answers.
//! A shard is lines `k·size+1 ..= (k+1)·size` of the input; its workflow id is a digest of the
//! template and those lines' numbers and digests, so running the same command again reaches
//! the same workflows: a finished shard answers with its stored result, a running one is
//! waited for, one never submitted starts. Records the journal finished travel as `skip`, and
//! a record begun before travels with its journaled time and `prior`, so the engine looks
//! before sending it again. A service process killed mid-shard is Restate's to recover: the
//! shard resumes from its journal on a live service, and this side keeps waiting.

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

/// What `IngestShard/{id}/run` is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardRequest {
    /// The template every record goes through.
    pub template: Template,
    /// The shard's lines, in order.
    pub records: Vec<ShardRecord>,
}

/// One line of a shard.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardRecord {
    /// Its line in the input.
    pub line: u64,
    /// The digest of its text.
    pub digest: String,
    /// The record (`null` when skipped).
    pub value: Value,
    /// The time its request is stamped with (RFC 3339, journaled before the shard was
    /// submitted; empty when skipped).
    pub at: String,
    /// An earlier run may have sent it: look before sending.
    pub prior: bool,
    /// Not to be sent (finished before, or invalid: reported by the submitting side).
    pub skip: bool,
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
    /// How long to keep waiting for a shard whose answer does not come (the ingress is down,
    /// or no service is serving it).
    pub patience: Duration,
}

/// The workflow id of a shard of `template_spec` holding `records`.
pub fn shard_id(template_spec: &str, records: &[ShardRecord]) -> String {
    let lines: Vec<String> = records
        .iter()
        .map(|r| format!("{}:{}", r.line, r.digest))
        .collect();
    let mut parts = vec![template_spec];
    parts.extend(lines.iter().map(String::as_str));
    let hex: String = crate::identity::digest(&parts)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("ingest-{hex}")
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
        .map_err(|e| Error::Restate(format!("building the HTTP client: {e}")))?;
    let size = options.shard_size.max(1);
    let (mut rx, reader) = super::read_ahead(input, size);
    let mut driver = Driver {
        executor,
        template,
        spec: template_spec.to_owned(),
        journal,
        options,
        client,
        observe,
        summary: Summary::default(),
        errors: 0,
        running: JoinSet::new(),
        begins: JoinSet::new(),
    };
    let mut shard: Vec<ShardRecord> = Vec::with_capacity(size);
    let mut result = Ok(());
    while let Some(record) = rx.recv().await {
        let line = match record {
            Ok(record) => driver.take(&record),
            Err(source) => Err(Error::Io {
                action: "reading",
                path: "the input".into(),
                source,
            }),
        };
        match line {
            Ok(line) => shard.push(line),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        if shard.len() >= size {
            let full = std::mem::replace(&mut shard, Vec::with_capacity(size));
            if let Err(e) = driver.submit(full).await {
                result = Err(e);
                break;
            }
            if driver.summary.stopped {
                break;
            }
        }
    }
    drop(rx);
    if result.is_ok() && !driver.summary.stopped {
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
    errors: u64,
    running: JoinSet<Result<ShardReply>>,
    begins: JoinSet<Result<()>>,
}

impl Driver {
    fn note(&mut self, report: &RecordReport) {
        if !report.outcome.delivered() {
            self.errors += 1;
        }
        (self.observe)(report);
        self.summary.add(report);
    }

    /// A record's line of its shard: prepared, its begin journaled (in the background) when
    /// new; skipped (and reported now) when finished before or invalid.
    fn take(&mut self, record: &Record) -> Result<ShardRecord> {
        let seen = self.journal.seen(record.line, &record.digest)?;
        let mut line = ShardRecord {
            line: record.line,
            digest: record.digest.clone(),
            value: Value::Null,
            at: String::new(),
            prior: matches!(seen, Seen::Begun { .. }),
            skip: true,
        };
        if let Seen::Done(_) = seen {
            self.note(&RecordReport::bare(
                record.line,
                RecordOutcome::Skipped,
                None,
            ));
            return Ok(line);
        }
        match prepare(&self.executor, &self.template, record, seen) {
            Err(report) => self.note(&report),
            Ok(ready) => {
                if seen == Seen::New {
                    let (journal, key, digest) =
                        (self.journal.clone(), ready.key(), record.digest.clone());
                    let (n, at) = (record.line, ready.at);
                    self.begins
                        .spawn(async move { journal.begin(n, &digest, at, key.as_deref()).await });
                }
                line.at = ready.at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
                line.value = record.value.as_ref().cloned().unwrap_or_default();
                line.skip = false;
            }
        }
        Ok(line)
    }

    /// Submits a shard once its begins are on disk (one sync for them all) and a place among
    /// the running shards is free; a shard with nothing to send is not submitted.
    async fn submit(&mut self, records: Vec<ShardRecord>) -> Result<()> {
        while let Some(done) = self.begins.join_next().await {
            done.map_err(|e| Error::Restate(format!("journaling a begin: {e}")))??;
        }
        if records.iter().all(|r| r.skip) {
            return Ok(());
        }
        if self.options.max_errors.is_some_and(|m| self.errors >= m) {
            self.summary.stopped = true;
            return Ok(());
        }
        while self.running.len() >= self.options.shards.max(1) {
            self.finish_one().await?;
        }
        let request = ShardRequest {
            template: (*self.template).clone(),
            records,
        };
        let (client, ingress, spec, patience) = (
            self.client.clone(),
            self.options.ingress.clone(),
            self.spec.clone(),
            self.options.patience,
        );
        self.running
            .spawn(async move { run_shard(&client, &ingress, &spec, &request, patience).await });
        Ok(())
    }

    /// Waits for a running shard: journals the end of each record it delivered, notes every
    /// report.
    async fn finish_one(&mut self) -> Result<()> {
        let Some(reply) = self.running.join_next().await else {
            return Ok(());
        };
        let reply = reply.map_err(|e| Error::Restate(format!("a shard task: {e}")))??;
        for report in &reply.reports {
            if report.outcome.delivered() {
                self.journal
                    .end(report.line, report.outcome.as_str(), report.id.as_deref())?;
            }
            self.note(report);
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

/// Submits a shard (a second submission of the same id starts nothing) and waits for its
/// answer, asking again while the ingress is unreachable or the shard still runs.
async fn run_shard(
    client: &reqwest::Client,
    ingress: &str,
    spec: &str,
    request: &ShardRequest,
    patience: Duration,
) -> Result<ShardReply> {
    let id = shard_id(spec, &request.records);
    let base = ingress.trim_end_matches('/');
    let send = format!("{base}/IngestShard/{id}/run/send");
    let attach = format!("{base}/restate/workflow/IngestShard/{id}/attach");
    let deadline = Instant::now() + patience;
    let wait = |what: String| pause(deadline, format!("shard {id}: {what}"));
    loop {
        match client.post(&send).json(request).send().await {
            Ok(a) if a.status().is_success() || a.status().as_u16() == 409 => break,
            Ok(a) => {
                let status = a.status();
                let text = a.text().await.unwrap_or_default();
                if status.is_client_error() {
                    return Err(Error::Restate(format!(
                        "submitting shard {id}: {status} {text}"
                    )));
                }
                wait(format!("submitting: {status} {text}")).await?;
            }
            Err(e) => wait(format!("submitting: {e}")).await?,
        }
    }
    loop {
        match client.get(&attach).send().await {
            Ok(a) if a.status().is_success() => {
                let body = a.bytes().await;
                match body.map(|b| serde_json::from_slice::<ShardReply>(&b)) {
                    Ok(Ok(reply)) => return Ok(reply),
                    Ok(Err(e)) => {
                        return Err(Error::Restate(format!("shard {id}: its answer: {e}")));
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

/// Waits a second before asking again, unless `deadline` passed (then `what` is the error).
async fn pause(deadline: Instant, what: String) -> Result<()> {
    if Instant::now() >= deadline {
        return Err(Error::Restate(what));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(())
}
