//! Runs started from the studio, and the executions the run journals hold.
//!
//! Policy: a run goes through the same session as `run` and `resume` (pre-flight before the
//! first write, the run journal under the state folder, the execution's number), so a run
//! started here can be resumed from the terminal and the other way round. While it runs, each
//! task's start and end and each retry (status or error, delay, the rule that set it) are kept
//! in memory for the page's timeline; the journal keeps what outlives the studio. A resume may
//! take an edited definition, refused before anything is sent when it would change the
//! request of a task that completed or may have been sent (as `resume --definition`). The input each Http or Simple
//! task received (after `inputParameters`) is kept too, so a test of one task can be pinned to
//! it; journals do not hold inputs, so only runs watched here offer them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};
use usage_connector::execute::{Executor, TaskContext, TaskError, TaskHandler, TaskOutput};
use usage_connector::journal::{FileJournal, RunRecord};
use usage_connector::runner::{RunResult, RunStatus, Runner};
use usage_connector::simworkflow::Task;

use super::Studio;
use crate::cli::shared::definition::{Read, checked};
use crate::cli::shared::execution::{default_journal, state_dir};
use crate::cli::shared::session::{self, NotReady, Session};

/// What the page sees of a run while it goes.
#[derive(Default)]
pub struct Watched {
    events: Mutex<Vec<Value>>,
    inputs: Mutex<serde_json::Map<String, Value>>,
    result: Mutex<Option<RunResult>>,
}

/// A task handler that notes each task's input, then hands the task on.
struct Noting {
    inner: Arc<dyn TaskHandler>,
    watched: Arc<Watched>,
}

#[async_trait::async_trait]
impl TaskHandler for Noting {
    async fn execute(
        &self,
        task: &Task,
        input: &Value,
        ctx: &TaskContext,
    ) -> Result<TaskOutput, TaskError> {
        self.watched
            .inputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ctx.task_name.clone(), input.clone());
        self.inner.execute(task, input, ctx).await
    }
}

impl Watched {
    fn push(&self, event: Value) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event);
    }

    /// The run's timeline so far, its status and (once ended) its output.
    pub fn view(&self) -> Value {
        let events = self
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let inputs = self
            .inputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let result = self.result.lock().unwrap_or_else(|p| p.into_inner());
        let status = match result.as_ref().map(|r| r.status) {
            None => "Running",
            Some(RunStatus::Completed) => "Completed",
            Some(RunStatus::Failed) => "Failed",
        };
        json!({"status": status, "events": events, "inputs": inputs,
               "output": result.as_ref().map(|r| r.output.clone())})
    }
}

/// The runs this studio started, by execution id.
#[derive(Default)]
pub struct Runs {
    live: Mutex<HashMap<String, Arc<Watched>>>,
}

impl Runs {
    /// The run `id` started here, if it was.
    pub fn get(&self, id: &str) -> Option<Arc<Watched>> {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }
}

/// Why a run did not start: the HTTP status and the answer.
pub type Refused = (axum::http::StatusCode, Value);

fn refused(status: axum::http::StatusCode, message: impl std::fmt::Display) -> Refused {
    (status, json!({"error": message.to_string()}))
}

/// Starts a run of `read` with `input`: its id once it passed pre-flight.
pub fn start(studio: &Arc<Studio>, read: Read, input: Value) -> Result<String, Refused> {
    let millis = chrono::Utc::now().timestamp_millis();
    let workflow_id = format!("studio-{millis}");
    let record = RunRecord {
        definition: read.value.clone(),
        definition_path: Some(read.shown.clone()),
        input,
        // Empty: the embedded sandbox (a resume from the terminal starts its own).
        servers: match &studio.sandbox {
            Some(_) => Default::default(),
            None => studio
                .servers
                .iter()
                .map(|(v, url)| (v.as_str().to_owned(), url.clone()))
                .collect(),
        },
        credentials_file: studio
            .credentials_file
            .as_ref()
            .map(|p| p.display().to_string()),
        usage_identity: Some("time-fraction".to_owned()),
        sequence_number: None,
        started: None,
    };
    let session = Session {
        validators: studio.validators.clone(),
        read,
        record,
        journal: default_journal(&workflow_id),
        workflow_id: workflow_id.clone(),
        resuming: false,
        recorded: Default::default(),
        trace: None,
    };
    go(studio, session)?;
    Ok(workflow_id)
}

/// Resumes execution `id` from its journal, with `edited` (definition text) instead of the
/// recorded definition when given.
pub fn resume(studio: &Arc<Studio>, id: &str, edited: Option<&str>) -> Result<(), Refused> {
    use axum::http::StatusCode;
    let path = default_journal(id);
    if !path.is_file() {
        return Err(refused(StatusCode::NOT_FOUND, format!("no run `{id}`")));
    }
    let journal = FileJournal::open(&path).map_err(|e| refused(StatusCode::NOT_FOUND, e))?;
    let Some(mut record) = journal.run_record(id) else {
        return Err(refused(StatusCode::NOT_FOUND, format!("no run `{id}`")));
    };
    if journal.ended(id).as_deref() == Some("Completed") {
        return Err(refused(
            StatusCode::CONFLICT,
            format!("run `{id}` completed: there is nothing to resume"),
        ));
    }
    let read = match edited {
        Some(text) => checked("<editor>", text.as_bytes(), &studio.validators),
        None => {
            let text = serde_json::to_vec_pretty(&record.definition).unwrap_or_default();
            checked("<recorded definition>", &text, &studio.validators)
        }
    }
    .map_err(|f| refused(StatusCode::UNPROCESSABLE_ENTITY, format!("{:#}", f.error)))?;
    if edited.is_some() {
        record.definition = read.value.clone();
    }
    drop(journal);
    go(
        studio,
        Session {
            validators: studio.validators.clone(),
            read,
            record,
            journal: path,
            workflow_id: id.to_owned(),
            resuming: true,
            recorded: Default::default(),
            trace: None,
        },
    )
}

/// The executor of `session`: the studio's own for a new run, and for a resume of a run on an
/// embedded sandbox (this studio's; its vendors' dev keys); for a resume of a run that went to
/// servers, the servers and credentials file the run recorded, as `resume ID` uses them (so it
/// never goes on to this studio's sandbox or other servers). A run that ran on a sandbox is
/// not resumed against servers.
fn executor_for(studio: &Studio, session: &Session) -> Result<Executor, Refused> {
    let record = &session.record;
    if !session.resuming || (record.servers.is_empty() && studio.sandbox.is_some()) {
        return Ok(studio.executor(&session.read.definition));
    }
    if record.servers.is_empty() {
        return Err(refused(
            axum::http::StatusCode::CONFLICT,
            format!(
                "run `{}` ran on an embedded sandbox, and this studio sends to servers: resume it from a studio started without --server, or with `usage-connector resume {}`",
                session.workflow_id, session.workflow_id
            ),
        ));
    }
    crate::cli::shared::session::remote_executor(
        &session.read.definition,
        &session.validators,
        &record.servers,
        record.credentials_file.as_deref().map(std::path::Path::new),
    )
    .map_err(|e| refused(axum::http::StatusCode::CONFLICT, format!("{e:#}")))
}

/// Readies the session (pre-flight, journal, number) and runs it in the background.
fn go(studio: &Arc<Studio>, mut session: Session) -> Result<(), Refused> {
    use axum::http::StatusCode;
    let watched = Arc::new(Watched::default());
    let started = Instant::now();
    let at = move || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let retries = watched.clone();
    let executor = executor_for(studio, &session)?.with_progress(Arc::new(move |n| {
        retries.push(json!({
            "atMs": at(), "task": n.task, "status": "Retry", "attempt": n.attempt,
            "answer": n.status, "error": n.error, "delayMs": n.delay.as_millis() as u64,
            "rule": n.rule,
        }));
    }));
    let ready = match session::ready(&mut session, executor) {
        Ok(ready) => ready,
        Err(NotReady::Preflight(report)) => {
            return Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": "pre-flight found problems before the run's first write; nothing was sent",
                       "diagnostics": report.diagnostics}),
            ));
        }
        Err(NotReady::Failed(f)) => {
            return Err(refused(StatusCode::CONFLICT, format!("{:#}", f.error)));
        }
    };
    let tasks = watched.clone();
    let noting = Noting {
        inner: Arc::new(ready.executor),
        watched: watched.clone(),
    };
    let runner = Runner::new(Arc::new(noting))
        .on_task(move |e| {
            tasks.push(json!({
                "atMs": at(), "task": e.task, "kind": e.kind, "status": e.status,
                "durationMs": e.duration_ms, "attempts": e.attempts, "detail": e.detail,
            }));
        })
        .with_journal(ready.journal.clone());
    studio
        .runs
        .live
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(session.workflow_id.clone(), watched.clone());
    tokio::spawn(async move {
        let result = runner.execute(ready.run).await;
        *watched.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        drop(ready.journal);
    });
    Ok(())
}

/// The executions of the state folder's run journals, newest first: id, definition, status
/// (`Running` for one going on here, `Interrupted` for one that ended without saying), start,
/// end, number.
pub fn list(studio: &Studio) -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(state_dir().join("runs")) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        let Ok(journal) = FileJournal::open(&path) else {
            continue;
        };
        for run in journal.listed() {
            let live = studio
                .runs
                .get(&run.workflow_id)
                .is_some_and(|w| w.view()["status"] == "Running");
            let status = match (&run.ended, live) {
                (_, true) => "Running".to_owned(),
                (Some(s), false) => s.clone(),
                (None, false) => "Interrupted".to_owned(),
            };
            out.push(json!({
                "id": run.workflow_id, "definition": run.record.definition["name"],
                "file": run.record.definition_path, "status": status,
                "started": run.record.started, "ended": run.ended_at,
                "sequenceNumber": run.record.sequence_number,
            }));
        }
    }
    out.sort_by(|a, b| b["started"].as_str().cmp(&a["started"].as_str()));
    out
}

/// One execution: what the page watched (if it ran here) and what its journal recorded.
pub fn show(studio: &Studio, id: &str) -> Option<Value> {
    let path = default_journal(id);
    if !path.is_file() {
        return None;
    }
    let journal = FileJournal::open(&path).ok()?;
    let record = journal.run_record(id)?;
    let recorded: serde_json::Map<String, Value> = journal
        .recorded(id)
        .into_iter()
        .map(|(task, r)| (task, json!({"output": r.output, "at": r.at})))
        .collect();
    let mut view = studio
        .runs
        .get(id)
        .map_or_else(|| json!({"status": journal.ended(id).unwrap_or_else(|| "Interrupted".into()), "events": []}), |w| w.view());
    view["id"] = json!(id);
    view["input"] = record.input.clone();
    view["definition"] = record.definition.clone();
    view["sequenceNumber"] = json!(record.sequence_number);
    view["tasks"] = Value::Object(recorded);
    Some(view)
}
