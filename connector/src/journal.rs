//! The execution journal: what a re-run of the same execution must reuse rather than draw
//! afresh.
//!
//! Policy: before a task's request first leaves, the journal records the time its request is
//! stamped with (`begin`, synced to disk); after a final answer it records that the task is
//! done. A re-run of the same workflow id and task recalls that time, so it prepares the very
//! same request (the same Rebilly `usageTime` and identity, the same Solvimon key) and knows
//! to look for an earlier write before sending. A torn last line (a crash mid-write) is
//! ignored. Several processes may append to one file: each entry is one short `write`.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What the journal remembers of a task of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recalled {
    /// The time its request was stamped with.
    pub at: DateTime<Utc>,
    /// Whether a final answer was recorded.
    pub done: bool,
}

/// Where executions are remembered across processes.
pub trait ExecutionJournal: Send + Sync {
    /// What is remembered of `task` of `workflow_id`, if it ran before.
    fn recall(&self, workflow_id: &str, task: &str) -> Option<Recalled>;
    /// Records, durably, that `task` of `workflow_id` is about to send a request stamped `at`.
    fn begin(&self, workflow_id: &str, task: &str, at: DateTime<Utc>) -> Result<()>;
    /// Records that `task` of `workflow_id` got its final answer.
    fn finish(&self, workflow_id: &str, task: &str) -> Result<()>;
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    workflow_id: String,
    task: String,
    /// RFC 3339, nanoseconds kept.
    at: String,
    done: bool,
}

fn text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// An [`ExecutionJournal`] in an append-only JSON-lines file.
#[derive(Debug)]
pub struct FileJournal {
    path: PathBuf,
    file: Mutex<File>,
    entries: Mutex<HashMap<(String, String), Recalled>>,
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
        let mut entries = HashMap::new();
        for line in BufReader::new(&file).lines() {
            let line = line.map_err(io("reading"))?;
            // A line that does not parse is a torn write of a crashed process: skip it.
            let parsed = serde_json::from_str::<Line>(&line)
                .ok()
                .and_then(|l| Some((l.at.parse::<DateTime<Utc>>().ok()?, l)));
            if let Some((at, l)) = parsed {
                let key = (l.workflow_id, l.task);
                let done = l.done || entries.get(&key).is_some_and(|r: &Recalled| r.done);
                let at = entries.get(&key).map_or(at, |r: &Recalled| r.at);
                entries.insert(key, Recalled { at, done });
            }
        }
        Ok(FileJournal {
            path: path.to_owned(),
            file: Mutex::new(file),
            entries: Mutex::new(entries),
        })
    }

    fn append(&self, line: &Line) -> Result<()> {
        let mut text = serde_json::to_string(line).expect("journal lines serialize");
        // A newline first: after a torn write, this entry still starts on a line of its own.
        text.insert(0, '\n');
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|source| Error::Io {
                action: "writing",
                path: self.path.clone(),
                source,
            })
    }
}

impl ExecutionJournal for FileJournal {
    fn recall(&self, workflow_id: &str, task: &str) -> Option<Recalled> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&(workflow_id.to_owned(), task.to_owned()))
            .copied()
    }

    fn begin(&self, workflow_id: &str, task: &str, at: DateTime<Utc>) -> Result<()> {
        self.append(&Line {
            workflow_id: workflow_id.to_owned(),
            task: task.to_owned(),
            at: text(at),
            done: false,
        })?;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .entry((workflow_id.to_owned(), task.to_owned()))
            .or_insert(Recalled { at, done: false });
        Ok(())
    }

    fn finish(&self, workflow_id: &str, task: &str) -> Result<()> {
        let key = (workflow_id.to_owned(), task.to_owned());
        let at = {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            entries.get(&key).map_or_else(Utc::now, |r| r.at)
        };
        self.append(&Line {
            workflow_id: workflow_id.to_owned(),
            task: task.to_owned(),
            at: text(at),
            done: true,
        })?;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(key, Recalled { at, done: true });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reopened_journal_recalls_times_and_survives_a_torn_line() {
        let dir = std::env::temp_dir().join(format!("uc-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("journal.jsonl");
        let at: DateTime<Utc> = "2026-01-02T03:04:05.678Z".parse().unwrap();
        let j = FileJournal::open(&path).unwrap();
        assert_eq!(j.recall("wf", "t"), None);
        j.begin("wf", "t", at).unwrap();
        j.begin("wf", "u", at).unwrap();
        j.finish("wf", "u").unwrap();
        drop(j);
        // A crash mid-write leaves half a line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"workflowId\":\"wf\",\"ta").unwrap();
        drop(f);
        let j = FileJournal::open(&path).unwrap();
        assert_eq!(j.recall("wf", "t"), Some(Recalled { at, done: false }));
        assert_eq!(j.recall("wf", "u"), Some(Recalled { at, done: true }));
        j.begin("wf2", "t", at).unwrap();
        let j = FileJournal::open(&path).unwrap();
        assert_eq!(j.recall("wf2", "t"), Some(Recalled { at, done: false }));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
