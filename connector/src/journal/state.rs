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
    pub(super) entries: HashMap<(String, String, Destination), Recalled>,
    /// (workflow id, task) → what a resume reuses.
    pub(super) recorded: HashMap<TaskKey, Recorded>,
    /// (workflow id, task) → the identities of its requests that got a final answer.
    pub(super) answered: HashMap<TaskKey, Vec<Began>>,
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

impl State {
    /// What identified a request of `task` of `workflow_id` begun at some destination without
    /// a final answer there (the earliest, when several), or none.
    pub(super) fn unanswered(&self, workflow_id: &str, task: &str) -> Began {
        self.entries
            .iter()
            .filter(|((wf, t, _), r)| wf == workflow_id && t == task && !r.done)
            .map(|(_, r)| (r.at, r.began))
            .min_by_key(|&(at, began)| (at, began.text()))
            .map_or_else(Began::default, |(_, began)| began)
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
                    .or_insert(Recalled {
                        at,
                        done: false,
                        elsewhere: false,
                        began,
                    });
                // A request sent again after a final answer (a re-run, a loop's next visit): it
                // is the one that may be in flight now.
                if entry.done {
                    entry.done = false;
                    entry.began = began;
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
            } => {
                let Ok(at) = at.parse::<DateTime<Utc>>() else {
                    return;
                };
                let key = (workflow_id.clone(), task.clone(), to);
                let (at, began) = self
                    .entries
                    .get(&key)
                    .map_or((at, Began::default()), |r| (r.at, r.began));
                let answered = self
                    .answered
                    .entry((workflow_id.clone(), task.clone()))
                    .or_default();
                if !began.is_none() && !answered.contains(&began) {
                    answered.push(began);
                }
                self.entries.insert(
                    key,
                    Recalled {
                        at,
                        done: true,
                        elsewhere: false,
                        began,
                    },
                );
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
