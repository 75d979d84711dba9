//! The run journal: what a re-run or a resume of the same execution must reuse rather than
//! draw afresh, and where it delivered.
//!
//! Policy: before a task's request first leaves, the journal records the time its request is
//! stamped with and its [`Destination`] (endpoint, server, a fingerprint of the credentials;
//! `begin`, synced to disk); after a final answer, that the task is done and the digest of
//! the request it sent (`finish`); after a task completes, its output (`output`). A re-run of
//! the same workflow id and task *at the same destination* recalls that time, so it prepares
//! the very same request (the same Rebilly `usageTime` and identity, the same Solvimon key) and
//! knows to look for an earlier write before sending; at another destination nothing was
//! delivered, so nothing is recalled. A resume reuses the recorded outputs ([`Recorded`]) and
//! the run's own record (definition, input, servers: [`RunRecord`]). A torn last line (a crash
//! mid-write) is ignored. Several processes may append to one file: each entry is one short
//! `write`.
//!
//! A task recorded only at another destination is recalled as `elsewhere`: its time is reused
//! (the same identity) and the request is looked up before it is sent, never skipped: a new
//! server gets it, and the same server under another address is not charged twice.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::identity::Began;

mod sequence;
mod state;
pub use sequence::next_sequence;
use state::{Line, State, text};

/// Where a task's requests were delivered: a record done at one destination is not done at
/// another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    /// The catalog endpoint, when the URL matched one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The server: scheme, host and port (`https://api.rebilly.com`).
    pub server: String,
    /// A fingerprint of the credential used (never the secret itself), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
}

impl Destination {
    /// `endpoint at server (credentials fingerprint)`, for messages.
    pub fn describe(&self) -> String {
        let mut out = match &self.endpoint {
            Some(e) => format!("{e} at {}", self.server),
            None => self.server.clone(),
        };
        if let Some(c) = &self.credentials {
            out.push_str(&format!(" (credentials {c})"));
        }
        out
    }
}

/// What the journal remembers of a task of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recalled {
    /// The time its request was stamped with.
    pub at: DateTime<Utc>,
    /// Whether a final answer was recorded (at the destination asked about).
    pub done: bool,
    /// Whether it ran only at another destination: nothing is known to be delivered here,
    /// yet the other may be this one under another address (a proxy, a restarted server), so
    /// the same request is prepared again and looked up before it is sent.
    pub elsewhere: bool,
}

/// What an earlier attempt of an execution recorded of one task: what a resume reuses.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    /// Its output as its handler returned it (before `resultSelector`), once it completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The time its request was stamped with (an Http task that began).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// The digest of the request it sent (`PreparedRequest::digest`), once it got a final
    /// answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// What identified the requests it began that have no final answer (at any destination).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open: Vec<Began>,
    /// What identified the requests it began that got a final answer (a task in a loop sends
    /// one per visit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answered: Vec<Began>,
}

impl Recorded {
    /// Whether a request identifying as `now` may not be sent: another request is open (its
    /// outcome unknown), and `now` is neither an open one nor an answered one (a loop's visit,
    /// a repeat: looked up first). Sent, `now` would be another request, which a lookup or the
    /// API's idempotency would not match to the open one.
    pub fn binds(&self, now: Began) -> bool {
        // A begin written before identities were kept binds nothing.
        let mut open = self.open.iter().filter(|b| !b.is_none()).peekable();
        open.peek().is_some() && !open.any(|b| *b == now) && !self.answered.contains(&now)
    }

    /// Notes that the request `began` is about to be sent.
    pub fn begin(&mut self, began: Began) {
        if !self.open.contains(&began) {
            self.open.push(began);
        }
    }

    /// Notes that the request `began` got a final answer.
    pub fn settle(&mut self, began: Began) {
        self.open.retain(|b| *b != began);
        if !began.is_none() && !self.answered.contains(&began) {
            self.answered.push(began);
        }
    }
}

/// What a run was started with: what `resume` needs besides the tasks' records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// The definition as it ran (JSON).
    pub definition: Value,
    /// Where it was read from, if a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition_path: Option<String>,
    /// The workflow input.
    pub input: Value,
    /// The servers it sent to, by vendor (`solvimon` → URL); empty: the embedded sandbox.
    #[serde(default)]
    pub servers: BTreeMap<String, String>,
    /// The credentials file it read, if any (its path: never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<String>,
    /// How Rebilly usages carried their identity (`time-fraction`, `whole-seconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_identity: Option<String>,
    /// The execution's number (`swf:sequenceNumber`), given when it first ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u64>,
    /// When this attempt started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
}

/// A run a journal holds, as a list of executions shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// The execution id.
    pub workflow_id: String,
    /// Its latest attempt's record.
    pub record: RunRecord,
    /// How that attempt ended (`Completed`, `Failed`); `None` while it runs, or when it was
    /// killed.
    pub ended: Option<String>,
    /// When it ended (RFC 3339), when recorded.
    pub ended_at: Option<String>,
}

/// Where executions are remembered across processes: what the executor needs to re-send the
/// same request and look for an earlier write.
pub trait ExecutionJournal: Send + Sync {
    /// What is remembered of `task` of `workflow_id` at destination `to`, if it ran there.
    fn recall(&self, workflow_id: &str, task: &str, to: &Destination) -> Option<Recalled>;
    /// Records, durably, that `task` of `workflow_id` is about to send a request stamped `at`
    /// with identity `began` to `to`.
    fn begin(
        &self,
        workflow_id: &str,
        task: &str,
        at: DateTime<Utc>,
        to: &Destination,
        began: Began,
    ) -> Result<()>;
    /// Records that `task` of `workflow_id` got its final answer from `to`, for the request
    /// with digest `request` that identified as `began`.
    fn finish(
        &self,
        workflow_id: &str,
        task: &str,
        to: &Destination,
        request: &str,
        began: Began,
    ) -> Result<()>;
    /// Whether a request of `task` of `workflow_id` to `to`, identifying as `now`, may not be
    /// sent: another request of the task is open (begun without a final answer, at any
    /// destination), `now` is none of the open ones, and it was not answered at `to` (a loop's
    /// visit, a repeat: looked up first). `Some(true)` when the open ones are all at other
    /// destinations.
    fn binds(&self, workflow_id: &str, task: &str, to: &Destination, now: Began) -> Option<bool>;
}

/// What a runner records of a run, for a resume: each completed task's output and how the run
/// ended.
pub trait RunJournal: Send + Sync {
    /// Records that `task` of `workflow_id` completed with `output`.
    fn complete(&self, workflow_id: &str, task: &str, output: &Value) -> Result<()>;
    /// Records how the run ended (`Completed`, `Failed`).
    fn end(&self, workflow_id: &str, status: &str) -> Result<()>;
}

/// An [`ExecutionJournal`] and [`RunJournal`] in an append-only JSON-lines file.
#[derive(Debug)]
pub struct FileJournal {
    path: PathBuf,
    file: Mutex<File>,
    state: Mutex<State>,
}

impl FileJournal {
    /// Opens (creating it and its folder if needed) the journal at `path` and reads what it
    /// remembers.
    pub fn open(path: &Path) -> Result<Self> {
        let io = |action: &'static str| {
            let path = path.to_owned();
            move |source| Error::Io {
                action,
                path,
                source,
            }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io("creating the folder of"))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io("opening"))?;
        let state = read_state(&file).map_err(io("reading"))?;
        Ok(FileJournal {
            path: path.to_owned(),
            file: Mutex::new(file),
            state: Mutex::new(state),
        })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, line: Line) -> Result<()> {
        let mut text = serde_json::to_string(&line).expect("journal lines serialize");
        // A newline first: after a torn write, this entry still starts on a line of its own.
        text.insert(0, '\n');
        text.push('\n');
        {
            let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(|source| Error::Io {
                    action: "writing",
                    path: self.path.clone(),
                    source,
                })?;
        }
        self.state().apply(line);
        Ok(())
    }

    /// Records that a run of `workflow_id` starts (or resumes) with `record`.
    pub fn start(&self, workflow_id: &str, record: &RunRecord) -> Result<()> {
        self.append(Line::Run {
            workflow_id: workflow_id.to_owned(),
            record: record.clone(),
        })
    }

    /// The latest run record of `workflow_id`, if a run of it started here.
    pub fn run_record(&self, workflow_id: &str) -> Option<RunRecord> {
        self.state().runs.get(workflow_id).cloned()
    }

    /// Every run this journal holds (usually one), by id.
    pub fn listed(&self) -> Vec<Listed> {
        let state = self.state();
        let mut out: Vec<Listed> = state
            .runs
            .iter()
            .map(|(id, record)| Listed {
                workflow_id: id.clone(),
                record: record.clone(),
                ended: state.ends.get(id).cloned(),
                ended_at: state.ended_at.get(id).cloned().flatten(),
            })
            .collect();
        out.sort_by(|a, b| a.workflow_id.cmp(&b.workflow_id));
        out
    }

    /// How the last attempt of `workflow_id` ended, if it ended (a killed run did not).
    pub fn ended(&self, workflow_id: &str) -> Option<String> {
        self.state().ends.get(workflow_id).cloned()
    }

    /// What every task of `workflow_id` recorded, by task name. An output is kept only while
    /// the task's latest request is the one that produced it (a re-run of the id with another
    /// input sent another request: its earlier output no longer stands).
    pub fn recorded(&self, workflow_id: &str) -> BTreeMap<String, Recorded> {
        let state = self.state();
        state
            .recorded
            .iter()
            .filter(|((wf, _), _)| wf == workflow_id)
            .map(|(key, r)| {
                let mut r = r.clone();
                if state.output_of.get(key) != Some(&r.request) {
                    r.output = None;
                }
                (r.open, r.answered) = state.identities(&key.0, &key.1);
                (key.1.clone(), r)
            })
            .collect()
    }

    /// Takes the journal for one run alone (an advisory lock on its file, held until it is
    /// dropped): `false` when another process holds it (the run is going on elsewhere). Once
    /// taken, the journal is read again: what a process that held it wrote after this one
    /// opened it is seen before anything is sent.
    pub fn lock(&self) -> Result<bool> {
        let file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let io = |action| {
            let path = self.path.clone();
            move |source| Error::Io {
                action,
                path,
                source,
            }
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(false),
            Err(std::fs::TryLockError::Error(source)) => return Err(io("locking")(source)),
        }
        *self.state() = read_state(&file).map_err(io("reading"))?;
        Ok(true)
    }

    /// The workflow ids with a run record, in the order first seen is not kept: sorted.
    pub fn runs(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.state().runs.keys().cloned().collect();
        ids.sort();
        ids
    }
}

/// The state the lines of `file` build, read from its start; a line that does not parse is a
/// torn write of a crashed process and is skipped.
fn read_state(file: &File) -> std::io::Result<State> {
    let mut reader = file;
    reader.seek(SeekFrom::Start(0))?;
    let mut state = State::default();
    for line in BufReader::new(reader).lines() {
        if let Ok(parsed) = serde_json::from_str::<Line>(&line?) {
            state.apply(parsed);
        }
    }
    Ok(state)
}

impl ExecutionJournal for FileJournal {
    fn recall(&self, workflow_id: &str, task: &str, to: &Destination) -> Option<Recalled> {
        let state = self.state();
        if let Some(r) = state
            .entries
            .get(&(workflow_id.to_owned(), task.to_owned(), to.clone()))
        {
            return Some(r.recalled(false));
        }
        state
            .entries
            .iter()
            .filter(|((wf, t, _), _)| wf == workflow_id && t == task)
            .map(|(_, e)| e)
            .min_by_key(|e| e.at)
            .map(|e| e.recalled(true))
    }

    fn begin(
        &self,
        workflow_id: &str,
        task: &str,
        at: DateTime<Utc>,
        to: &Destination,
        began: Began,
    ) -> Result<()> {
        self.append(Line::Begin {
            workflow_id: workflow_id.to_owned(),
            task: task.to_owned(),
            at: text(at),
            to: to.clone(),
            identity: began.text(),
        })
    }

    fn binds(&self, workflow_id: &str, task: &str, to: &Destination, now: Began) -> Option<bool> {
        self.state().binds(workflow_id, task, to, now)
    }

    fn finish(
        &self,
        workflow_id: &str,
        task: &str,
        to: &Destination,
        request: &str,
        began: Began,
    ) -> Result<()> {
        let at = self
            .recall(workflow_id, task, to)
            .map_or_else(Utc::now, |r| r.at);
        self.append(Line::Finish {
            workflow_id: workflow_id.to_owned(),
            task: task.to_owned(),
            at: text(at),
            to: to.clone(),
            request: request.to_owned(),
            // Named even when none (zeros), unlike a finish written before identities were kept.
            identity: Some(began.text().unwrap_or_else(|| "0".repeat(16))),
        })
    }
}

impl RunJournal for FileJournal {
    fn complete(&self, workflow_id: &str, task: &str, output: &Value) -> Result<()> {
        self.append(Line::Output {
            workflow_id: workflow_id.to_owned(),
            task: task.to_owned(),
            output: output.clone(),
        })
    }

    fn end(&self, workflow_id: &str, status: &str) -> Result<()> {
        self.append(Line::End {
            workflow_id: workflow_id.to_owned(),
            status: status.to_owned(),
            at: Some(text(Utc::now())),
        })
    }
}

#[cfg(test)]
mod tests;
