//! What `run` and `resume` share: the executor (an embedded sandbox, or the given servers and
//! credentials), the pre-flight before the first write, the run with its journal, and the line
//! that says how to resume a run that did not complete.
//!
//! Policy: nothing is sent before pre-flight passes (its problems are shown as `validate`
//! shows them; exit 1). The run journal records the run (definition, input, servers,
//! credentials file: never a secret), each request's time and destination and each completed
//! task's output. Ctrl-C stops the run between tasks (a request in flight finishes). A run that
//! fails in a task, or is interrupted, ends with `to resume: COMMAND` on stderr.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use usage_connector::catalog::Vendor;
use usage_connector::credentials::{Credential, Credentials, Secret};
use usage_connector::execute::{Cancellation, Executor};
use usage_connector::journal::{Recorded, RunRecord};
use usage_connector::preflight::{self, Subject};
use usage_connector::runner::{Plan, Run, RunStatus, Runner};

use usage_connector::simworkflow::WorkflowDefinition;
use usage_connector::validators::Validators;

use crate::cli::Failure;
use crate::cli::shared::definition::Read;
use crate::cli::shared::lines::{retry_line, task_line as progress};

/// A run to carry out: new, or resumed.
pub struct Session {
    /// The compiled validators (shared with the executor).
    pub validators: Arc<Validators>,
    /// The definition.
    pub read: Read,
    /// What the journal records of the run (its input, servers, credentials file).
    pub record: RunRecord,
    /// The run journal.
    pub journal: PathBuf,
    /// The execution id.
    pub workflow_id: String,
    /// Whether this resumes the run (its tasks' recorded outputs are reused).
    pub resuming: bool,
    /// What earlier attempts recorded, by task: read by [`ready`] under the journal's lock
    /// when resuming (another process may have run it since), else empty.
    pub recorded: BTreeMap<String, Recorded>,
    /// `--trace FILE`.
    pub trace: Option<PathBuf>,
}

/// `--server VENDOR=URL` items, by vendor name.
pub fn servers(items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in items {
        let (vendor, url) = item
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--server expects VENDOR=URL, got `{item}`"))?;
        let vendor: Vendor = vendor
            .parse()
            .map_err(|e| anyhow::anyhow!("--server: {e}"))?;
        out.insert(vendor.as_str().to_owned(), url.to_owned());
    }
    Ok(out)
}

/// Credentials for the embedded sandbox: every credentials id a catalog Http task uses that is
/// its vendor's name or an entry of the credentials file gets the sandbox's dev key for that
/// vendor, and so does a vendor's name on a task whose URL data fills in (its host from the
/// input); each is bound to its vendor ([`Credentials::insert_for`]): sent to its endpoints
/// and servers only. Any other id is left out, so pre-flight names it.
fn sandbox_credentials(
    definition: &WorkflowDefinition,
    validators: &Validators,
    sandbox: &usage_sandbox::Running,
    file: &Credentials,
) -> anyhow::Result<Credentials> {
    let mut credentials = Credentials::new();
    for (_, task) in definition.http_tasks() {
        let Some(id) = &task.credentials else {
            continue;
        };
        let endpoint = match validators
            .endpoints_for_url(&task.http_request.url)
            .into_iter()
            .next()
        {
            Some(endpoint) if id == endpoint.vendor.as_str() || file.contains(id) => endpoint,
            Some(_) => continue,
            // Where the data sends the request is checked as it is prepared.
            None => match id.parse::<Vendor>() {
                Ok(vendor) => validators.catalog().first_of(vendor),
                Err(_) => continue,
            },
        };
        let key = sandbox
            .dev_key(endpoint.vendor.as_str())
            .with_context(|| format!("the embedded sandbox has no key for {}", endpoint.vendor))?;
        credentials.insert_for(
            id.clone(),
            Credential {
                header: endpoint.key_header().to_owned(),
                value: Secret::new(key.key.clone()),
                platform_id: None,
            },
            endpoint.vendor,
        );
    }
    Ok(credentials)
}

/// An executor for the given servers and the credentials file.
pub(crate) fn remote_executor(
    definition: &WorkflowDefinition,
    validators: &Arc<Validators>,
    servers: &BTreeMap<String, String>,
    credentials_file: Option<&Path>,
) -> anyhow::Result<Executor> {
    let mut credentials = crate::cli::shared::credentials::load(credentials_file)?;
    crate::cli::shared::credentials::fill_from_env(
        &mut credentials,
        definition.http_tasks().into_iter().map(|(_, t)| t),
        validators,
    );
    let mut executor = Executor::new(credentials).with_validators(validators.clone());
    for (vendor, url) in servers {
        let vendor: Vendor = vendor.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
        executor = executor.with_server(vendor, url);
    }
    Ok(executor)
}

/// Writes each exchange as a JSON line to `path`.
fn with_trace(executor: Executor, path: &Path) -> anyhow::Result<Executor> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("creating trace {}", path.display()))?;
    let file = Mutex::new(std::io::BufWriter::new(file));
    Ok(executor.with_trace(Arc::new(move |record| {
        let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(f, "{record}");
        let _ = f.flush();
    })))
}

/// `text` as one shell word.
pub fn quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The command that resumes execution `workflow_id` whose journal is `journal`: this program
/// as it was invoked, `resume ID`, and `--journal` when the journal is not the default one.
pub fn resume_command(workflow_id: &str, journal: &Path) -> String {
    let program = std::env::args()
        .next()
        .unwrap_or_else(|| "usage-connector".to_owned());
    let mut line = format!("{} resume {}", quote(&program), quote(workflow_id));
    if journal != crate::cli::shared::execution::default_journal(workflow_id) {
        line.push_str(&format!(
            " --journal {}",
            quote(&journal.display().to_string())
        ));
    }
    line
}

/// A run ready to start: its journal (open and locked by this process), the executor with
/// the journal and the run's identity options, and the numbered [`Run`].
pub struct Ready {
    /// The run journal.
    pub journal: Arc<usage_connector::journal::FileJournal>,
    /// The executor for its Http tasks.
    pub executor: Executor,
    /// The run (a resume when the session recorded tasks).
    pub run: Run,
}

/// Why a session did not become a run.
pub enum NotReady {
    /// Pre-flight found problems (nothing was sent): the report of them.
    Preflight(usage_connector::validate::Report),
    /// Anything else (a journal in use, a definition that cannot run).
    Failed(Failure),
}

impl From<anyhow::Error> for NotReady {
    fn from(e: anyhow::Error) -> Self {
        NotReady::Failed(e.into())
    }
}

/// Opens and locks the session's journal, numbers the execution (the number it had, or the
/// next of the state folder), gives `executor` the journal and the identity options, checks
/// the run before its first write and records its start: what `run`, `resume` and the studio
/// share before a run starts.
pub fn ready(s: &mut Session, executor: Executor) -> Result<Ready, NotReady> {
    let definition = &s.read.definition;
    let plan = Plan::compile(definition).map_err(|(task, e)| {
        NotReady::Failed(Failure::invalid(anyhow::anyhow!("task `{task}`: {e}")))
    })?;
    let journal = Arc::new(
        usage_connector::journal::FileJournal::open(&s.journal)
            .with_context(|| format!("opening the run journal {}", s.journal.display()))?,
    );
    // One process per execution: two would both find a task begun and not done, and both send.
    if !journal
        .lock()
        .with_context(|| format!("locking the run journal {}", s.journal.display()))?
    {
        return Err(NotReady::Failed(Failure::invalid(anyhow::anyhow!(
            "run `{}` is going on in another process (its journal {} is in use): wait for it to end, then resume it if it failed",
            s.workflow_id,
            s.journal.display()
        ))));
    }
    // A resume reads what the run recorded under the lock: another process may have gone on
    // with it (or completed it) since the resume first read the journal.
    if s.resuming {
        if journal.ended(&s.workflow_id).as_deref() == Some("Completed") {
            return Err(NotReady::Failed(Failure::invalid(anyhow::anyhow!(
                "run `{}` completed (in another process, since this resume began): there is nothing to resume",
                s.workflow_id
            ))));
        }
        s.recorded = journal.recorded(&s.workflow_id);
    }
    // The execution's number: the one it was given when it first ran (a resume, a re-run of a
    // pinned id), else the next of this state folder.
    if s.record.sequence_number.is_none() {
        let earlier = journal
            .run_record(&s.workflow_id)
            .and_then(|r| r.sequence_number);
        s.record.sequence_number = Some(match earlier {
            Some(n) => n,
            None => {
                let counter = super::execution::state_dir().join("sequence");
                usage_connector::journal::next_sequence(&counter)
                    .with_context(|| format!("numbering the execution ({})", counter.display()))?
            }
        });
    }
    let mode = s
        .record
        .usage_identity
        .as_deref()
        .unwrap_or("time-fraction");
    let mut executor =
        super::execution::with_identity(executor, mode)?.with_journal(journal.clone());
    if let Some(path) = &s.trace {
        executor = with_trace(executor, path)?;
    }
    // A new run under an id that ran before (a pinned --workflow-id) reuses no output, but a
    // task it began without a final answer may not be sent as another request: checked here,
    // before the run's record is replaced (so `resume` still runs it as it began).
    let earlier: BTreeMap<String, Recorded>;
    let recorded = if s.recorded.is_empty() {
        earlier = journal
            .recorded(&s.workflow_id)
            .into_iter()
            .map(|(task, r)| (task, Recorded { output: None, ..r }))
            .collect();
        &earlier
    } else {
        &s.recorded
    };
    let mut found = preflight::check(
        &Subject {
            definition,
            input: &s.record.input,
            workflow_id: &s.workflow_id,
            now: chrono::Utc::now(),
            recorded,
            sequence: s.record.sequence_number,
        },
        &executor,
    );
    // `run` and `resume` register no Simple handlers (a program does: runner::Runner).
    found.require_handlers(|_| false);
    if !found.passed() {
        return Err(NotReady::Preflight(
            usage_connector::validate::preflight_report(&s.read.shown, &s.read.source, &found),
        ));
    }
    s.record.started =
        Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    journal
        .start(&s.workflow_id, &s.record)
        .context("recording the run in its journal")?;
    let mut run = Run::new(plan, s.record.input.clone(), &s.workflow_id);
    if let Some(n) = s.record.sequence_number {
        run = run.numbered(n);
    }
    Ok(Ready {
        journal,
        executor,
        run: run.resuming(s.recorded.clone()),
    })
}

/// Checks the run before its first write, then runs it; prints the workflow output.
#[allow(clippy::print_stderr)]
pub fn execute(mut s: Session) -> Result<String, Failure> {
    let definition = s.read.definition.clone();
    let credentials_file = s.record.credentials_file.clone();
    let credentials_file = credentials_file.as_deref().map(Path::new);
    let (status, text) = crate::cli::runtime()?.block_on(async {
        let mut sandbox = None;
        let executor = if s.record.servers.is_empty() {
            let running = usage_sandbox::start(usage_sandbox::Config::default())
                .await
                .context("starting the embedded sandbox")?;
            eprintln!("embedded sandbox on {} (no --server given)", running.url());
            let file = super::credentials::load(credentials_file)?;
            let credentials = sandbox_credentials(&definition, &s.validators, &running, &file)?;
            let mut executor = Executor::new(credentials).with_validators(s.validators.clone());
            for vendor in Vendor::ALL {
                executor = executor.with_server(vendor, &running.url());
            }
            sandbox = Some(running);
            executor
        } else {
            remote_executor(
                &definition,
                &s.validators,
                &s.record.servers,
                credentials_file,
            )?
        };
        let executor = executor.with_progress(Arc::new(retry_line));
        let ready = match ready(&mut s, executor) {
            Ok(ready) => ready,
            Err(not) => {
                if let Some(running) = sandbox {
                    running.shutdown().await;
                }
                return Err(match not {
                    NotReady::Preflight(report) => {
                        for d in &report.diagnostics {
                            eprint!("{}", d.render(report.source.as_deref()));
                        }
                        anyhow::anyhow!(PreflightFailed(report.diagnostics.len()))
                    }
                    NotReady::Failed(f) => f.error,
                });
            }
        };
        let runner = Runner::new(Arc::new(ready.executor))
            .on_task(progress)
            .with_journal(ready.journal.clone());
        let (canceller, cancel) = Cancellation::new();
        let resume_line = format!("to resume: {}", resume_command(&s.workflow_id, &s.journal));
        let interrupt = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "interrupted: no task starts now; requests in flight finish (Ctrl-C again to stop at once)"
                );
                canceller.cancel();
            }
            if tokio::signal::ctrl_c().await.is_ok() {
                // As a kill would: what began is in the journal, and a resume looks it up.
                eprintln!("stopped\n{resume_line}");
                std::process::exit(130);
            }
        });
        let verb = if s.resuming { "resuming" } else { "running" };
        eprintln!(
            "{verb} {} ({}), journal {}",
            definition.name,
            s.workflow_id,
            s.journal.display()
        );
        let result = runner.execute(ready.run.with_cancel(cancel)).await;
        interrupt.abort();
        if let Some(running) = sandbox {
            running.shutdown().await;
        }
        eprintln!("workflow {:?}", result.status);
        // A task failed (not a Terminate that ends the run as Failed): it can be resumed.
        if result.status == RunStatus::Failed && result.output.get("code").is_some() {
            let task = result.output["task"].as_str().unwrap_or_default();
            if result.output["code"] == "OUTCOME_UNKNOWN" {
                eprintln!(
                    "note: the outcome of task `{task}` is unknown (its request may have been recorded); resuming looks it up first and never records it twice"
                );
            }
            eprintln!(
                "to resume: {}",
                resume_command(&s.workflow_id, &s.journal)
            );
        }
        let text = format!(
            "{}\n",
            serde_json::to_string_pretty(&result.output).expect("outputs serialize")
        );
        anyhow::Ok((result.status, text))
    })
    .map_err(|e| match e.downcast_ref::<PreflightFailed>() {
        Some(_) => Failure::invalid(e),
        None => Failure::from(e),
    })?;
    match status {
        RunStatus::Completed => Ok(text),
        RunStatus::Failed => Err(Failure::data(text)),
    }
}

/// Pre-flight found problems (shown already): nothing was sent.
#[derive(Debug)]
struct PreflightFailed(usize);

impl std::fmt::Display for PreflightFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pre-flight found {} problem(s) before the run's first write; nothing was sent",
            self.0
        )
    }
}

impl std::error::Error for PreflightFailed {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_a_shell_needs_it() {
        assert_eq!(quote("run-1765-42"), "run-1765-42");
        assert_eq!(
            quote("target/debug/usage-connector"),
            "target/debug/usage-connector"
        );
        assert_eq!(quote("my run"), "'my run'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
