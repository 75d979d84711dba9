//! The journal's lines and what replaying them remembers: per destination, each task's
//! time and whether it got a final answer, and what identified the request it began; per task,
//! what a resume reuses and which of its requests were answered.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Destination, Recalled, Recorded, RunRecord};
use crate::identity::Began;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub(super) enum Line {
    #[serde(rename_all = "camelCase")]
    Run {
        workflow_id: String,
        #[serde(flatten)]
        record: RunRecord,
    },
    #[serde(rename_all = "camelCase")]
    Begin {
        workflow_id: String,
        task: String,
        /// RFC 3339, nanoseconds kept.
        at: String,
        to: Destination,
        /// [`Began`] of the request (absent in journals written before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Finish {
        workflow_id: String,
        task: String,
        at: String,
        to: Destination,
        request: String,
        /// [`Began`] of the request answered (absent in journals written before it was
        /// recorded: then every request open there is answered).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Output {
        workflow_id: String,
        task: String,
        output: Value,
    },
    #[serde(rename_all = "camelCase")]
    End {
        workflow_id: String,
        status: String,
        /// RFC 3339 (absent in journals written before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
    },
    /// A line of a journal written before lines were tagged (and destinations recorded).
    #[serde(untagged, rename_all = "camelCase")]
    Legacy {
        workflow_id: String,
        task: String,
        at: String,
        done: bool,
    },
}

pub(super) fn text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

pub(super) type TaskKey = (String, String);

/// The destination of a legacy line: unknown, so never this one (a task it holds is looked up
/// before it is sent again).
fn unknown_destination() -> Destination {
    Destination {
        endpoint: None,
        server: String::new(),
        credentials: None,
    }
}

#[derive(Debug, Default)]
pub(super) struct State {
    /// (workflow id, task, destination) → recalled.
    pub(super) entries: HashMap<(String, String, Destination), Entry>,
    /// (workflow id, task) → what a resume reuses.
    pub(super) recorded: HashMap<TaskKey, Recorded>,
    /// (workflow id, task) → the request digest the recorded output was produced by: an
    /// output stands only while the task's latest request is that one.
    pub(super) output_of: HashMap<TaskKey, Option<String>>,
    /// workflow id → the latest run record.
    pub(super) runs: HashMap<String, RunRecord>,
    /// workflow id → how it ended last.
    pub(super) ends: HashMap<String, String>,
    /// workflow id → when it ended last (RFC 3339), when recorded.
    pub(super) ended_at: HashMap<String, Option<String>>,
}

/// What a journal knows of a task at one destination.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// The time its first request there was stamped with.
    pub(super) at: DateTime<Utc>,
    /// The requests begun there without a final answer ([`Began::default`]: one begun before
    /// identities were kept, which binds nothing).
    pub(super) open: Vec<Began>,
    /// The requests answered there.
    pub(super) answered: Vec<Began>,
}

impl Entry {
    /// An entry whose first request was stamped `at`.
    fn at(at: DateTime<Utc>) -> Entry {
        Entry {
            at,
            open: Vec::new(),
            answered: Vec::new(),
        }
    }

    /// As the executor recalls it.
    pub(super) fn recalled(&self, elsewhere: bool) -> Recalled {
        Recalled {
            at: self.at,
            done: !elsewhere && self.open.is_empty(),
            elsewhere,
        }
    }
}

impl State {
    /// The entries of `task` of `workflow_id`, with their destinations.
    fn of<'s>(
        &'s self,
        workflow_id: &'s str,
        task: &'s str,
    ) -> impl Iterator<Item = (&'s Destination, &'s Entry)> + 's {
        self.entries
            .iter()
            .filter(move |((wf, t, _), _)| wf == workflow_id && t == task)
            .map(|((_, _, to), e)| (to, e))
    }

    /// Requests of `task` begun without a final answer, at any destination, and those answered
    /// anywhere (what a resume checks before anything is sent).
    pub(super) fn identities(&self, workflow_id: &str, task: &str) -> (Vec<Began>, Vec<Began>) {
        let (mut open, mut answered) = (Vec::new(), Vec::new());
        for (_, e) in self.of(workflow_id, task) {
            open.extend(e.open.iter().copied());
            answered.extend(e.answered.iter().copied());
        }
        for list in [&mut open, &mut answered] {
            list.sort_by_key(|b| b.text());
            list.dedup();
        }
        (open, answered)
    }

    /// Whether a request of `task` identifying as `now`, to `to`, may not be sent: another
    /// request is open (at any destination), `now` is none of the open ones, and it was not
    /// answered at `to` (a repeat there, looked up first). `Some(true)` when the open ones are
    /// all at other destinations.
    pub(super) fn binds(
        &self,
        workflow_id: &str,
        task: &str,
        to: &Destination,
        now: Began,
    ) -> Option<bool> {
        let mut open_here = false;
        let mut open_elsewhere = false;
        for (dest, e) in self.of(workflow_id, task) {
            if e.open.contains(&now) && !now.is_none() {
                return None;
            }
            if dest == to && e.answered.contains(&now) {
                return None;
            }
            // A begin written before identities were kept binds nothing.
            if e.open.iter().any(|b| !b.is_none()) {
                if dest == to {
                    open_here = true;
                } else {
                    open_elsewhere = true;
                }
            }
        }
        (open_here || open_elsewhere).then_some(!open_here)
    }

    pub(super) fn apply(&mut self, line: Line) {
        match line {
            Line::Run {
                workflow_id,
                record,
            } => {
                self.ends.remove(&workflow_id);
                self.ended_at.remove(&workflow_id);
                self.runs.insert(workflow_id, record);
            }
            Line::Begin {
                workflow_id,
                task,
                at,
                to,
                identity,
            } => {
                let Ok(at) = at.parse::<DateTime<Utc>>() else {
                    return;
                };
                let began = Began::parse(identity.as_deref());
                let entry = self
                    .entries
                    .entry((workflow_id.clone(), task.clone(), to))
                    .or_insert_with(|| Entry::at(at));
                if !entry.open.contains(&began) {
                    entry.open.push(began);
                }
                let r = self.recorded.entry((workflow_id, task)).or_default();
                r.at = Some(at);
            }
            Line::Finish {
                workflow_id,
                task,
                at,
                to,
                request,
                identity,
            } => {
                let Ok(at) = at.parse::<DateTime<Utc>>() else {
                    return;
                };
                let entry = self
                    .entries
                    .entry((workflow_id.clone(), task.clone(), to))
                    .or_insert_with(|| Entry::at(at));
                match identity {
                    Some(text) => {
                        let began = Began::parse(Some(&text));
                        // (A begin written before identities were kept was this request.)
                        entry.open.retain(|b| *b != began && !b.is_none());
                        if !entry.answered.contains(&began) {
                            entry.answered.push(began);
                        }
                    }
                    // Written before finishes named their request: all that was open is answered.
                    None => {
                        let open = std::mem::take(&mut entry.open);
                        entry
                            .answered
                            .extend(open.into_iter().filter(|b| !b.is_none()));
                    }
                }
                let at = entry.at;
                let r = self.recorded.entry((workflow_id, task)).or_default();
                r.at = Some(at);
                r.request = Some(request);
            }
            Line::Output {
                workflow_id,
                task,
                output,
            } => {
                let key = (workflow_id, task);
                let r = self.recorded.entry(key.clone()).or_default();
                r.output = Some(output);
                let request = r.request.clone();
                self.output_of.insert(key, request);
            }
            Line::Legacy {
                workflow_id,
                task,
                at,
                done,
            } => {
                let begin = Line::Begin {
                    workflow_id: workflow_id.clone(),
                    task: task.clone(),
                    at: at.clone(),
                    to: unknown_destination(),
                    identity: None,
                };
                self.apply(begin);
                if done {
                    self.apply(Line::Finish {
                        workflow_id,
                        task,
                        at,
                        to: unknown_destination(),
                        request: String::new(),
                        identity: None,
                    });
                }
            }
            Line::End {
                workflow_id,
                status,
                at,
            } => {
                self.ended_at.insert(workflow_id.clone(), at);
                self.ends.insert(workflow_id, status);
            }
        }
    }
}
