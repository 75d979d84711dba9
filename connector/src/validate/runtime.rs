//! Run-time checks with a workflow input: the run's own pre-flight ([`crate::preflight`]),
//! reported as diagnostics.
//!
//! Policy: `validate --input` runs exactly the pre-flight `run` runs before its first write
//! (the `inputSchema`, every Http task whose request this input resolves, through the one
//! prepare path), without credentials (they are added after the pure path). Its problems
//! become located diagnostics; its requests are kept as [`CheckedRequest`]s (what `run` would
//! send). Tasks whose request needs an earlier task's response are checked at design time
//! only (`N-RUNTIME-SKIPPED`); Http tasks this input does not reach are `N-NOT-REACHED`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Ctx;
use crate::diagnostic::{Code, Diagnostic};
use crate::output::{ErrorCode, TaskError};
pub use crate::preflight::CheckedRequest;
use crate::preflight::{self, Preflight, Problem, Subject};
use crate::prepare::{Router, ValidatorSet};
use crate::simworkflow::{Task, WorkflowDefinition};

/// The workflow id the run-time check prepares under unless given the run's own: a stand-in
/// as long as the longest id `run` picks itself (`run-`, the time in nanoseconds, `-`, the
/// process id), so that a limit the run's own id would break (a field's `maxLength` reached
/// through `${swf:workflowId}`) is found by `validate` too.
pub const VALIDATE_WORKFLOW_ID: &str = "run-0000000000000000000-0000000";

/// The execution number (`swf:sequenceNumber`) the run-time check prepares under (a run gets
/// its own when it starts).
pub const VALIDATE_SEQUENCE: u64 = 1;

/// Runs pre-flight on `root` with `input` under `workflow_id`; returns the prepared requests.
pub(super) fn check(
    ctx: &mut Ctx<'_>,
    root: &Value,
    input: &Value,
    workflow_id: &str,
) -> Vec<CheckedRequest> {
    // A definition that does not deserialize has design-time errors already; its requests
    // would be guesses.
    let Ok(definition) = serde_json::from_value::<WorkflowDefinition>(root.clone()) else {
        return Vec::new();
    };
    let router = Router::new(ValidatorSet::Borrowed(ctx.validators));
    let recorded = BTreeMap::new();
    let subject = Subject {
        definition: &definition,
        input,
        workflow_id,
        now: chrono::Utc::now(),
        recorded: &recorded,
        sequence: Some(VALIDATE_SEQUENCE),
    };
    let found = preflight::check(&subject, &router);
    let mut http = std::collections::HashSet::new();
    definition.walk(|t| {
        if matches!(t.task, Task::Http(_)) {
            http.insert(t.pointer());
        }
    });
    for d in diagnostics(&found) {
        // Found already without the input (a header that can never be sent): said once.
        if ctx
            .out
            .iter()
            .any(|o| o.code == d.code && o.pointer == d.pointer)
        {
            continue;
        }
        let endpoint = ctx
            .matched
            .get(&task_pointer(&d, &found))
            .map(|e| e.as_str());
        ctx.push(d.endpoint(endpoint));
    }
    for t in found.unreached.iter().filter(|t| http.contains(&t.pointer)) {
        let endpoint = ctx.matched.get(&t.pointer).map(|e| e.as_str());
        ctx.push(
            Diagnostic::new(
                Code::NotReached,
                t.pointer.clone(),
                "with this input the run does not reach this task (a Decision takes another branch, or the run stops earlier); its request was not prepared",
            )
            .task(&t.task)
            .endpoint(endpoint),
        );
    }
    found.requests
}

/// The task pointer a diagnostic of `found` belongs to (its longest matching prefix).
fn task_pointer(d: &Diagnostic, found: &Preflight) -> String {
    found
        .problems
        .iter()
        .filter(|p| p.task.is_some() && d.pointer.starts_with(&p.pointer))
        .map(|p| p.pointer.clone())
        .max_by_key(String::len)
        .unwrap_or_default()
}

/// The diagnostics of a pre-flight: its problems (errors, with absolute pointers) and its
/// deferred tasks (`N-RUNTIME-SKIPPED`), in no particular order (a report places and sorts
/// them).
pub fn diagnostics(found: &Preflight) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for problem in &found.problems {
        out.extend(of_problem(problem));
    }
    for d in &found.deferred {
        let why = "its request reads an earlier task's response (a path into it, or a JSONata expression that reads its value): checked at design time only, and again when the run gets there";
        out.push(Diagnostic::new(Code::RuntimeSkipped, d.pointer.clone(), why).task(&d.task));
    }
    out
}

/// The diagnostics of one problem, with pointers into the definition.
fn of_problem(p: &Problem) -> Vec<Diagnostic> {
    let e: &TaskError = &p.error;
    let at = format!("{}{}", p.pointer, e.pointer.clone().unwrap_or_default());
    // The pointer is the diagnostic's own field; the message need not repeat it.
    let relative = e.pointer.clone().unwrap_or_default();
    let message = e
        .message
        .strip_prefix(&format!("{relative}: "))
        .unwrap_or(&e.message)
        .to_owned();
    let task = |d: Diagnostic| match &p.task {
        Some(t) => d.task(t),
        None => d,
    };
    let found = match e.code {
        ErrorCode::InputMissing => vec![
            Diagnostic::new(Code::InputMissing, at, message)
                .hint("add it to the input, or fix the path"),
        ],
        ErrorCode::InvalidInput => vec![
            Diagnostic::new(Code::InputSchema, at, message)
                .hint("fix the workflow input (or the definition's inputSchema)"),
        ],
        ErrorCode::MissingCredentials | ErrorCode::InvalidCredentials => vec![
            Diagnostic::new(Code::Credentials, at, message).hint(
                "define the id in the credentials file (--credentials, ./credentials.json); the ids `solvimon` / `rebilly` may instead use SOLVIMON_API_KEY / REBILLY_API_KEY (sent to that vendor's servers only)",
            ),
        ],
        ErrorCode::RequestChanged => vec![Diagnostic::new(Code::RequestChanged, at, message)],
        ErrorCode::NoEnd => vec![Diagnostic::new(Code::NoEnd, at, message).hint(
            "make a Decision on the loop read what changes each round (a response, a counter)",
        )],
        ErrorCode::NoHandler => vec![Diagnostic::new(Code::NoHandler, at, message).hint(
            "run it where a program registers a handler for it (runner::Runner::with_simple_handler, the Restate service), or route this input past it",
        )],
        ErrorCode::InvalidRequest if !e.diagnostics.is_empty() => e
            .diagnostics
            .iter()
            .cloned()
            .map(|d| {
                let shown: String = p
                    .resolved_body
                    .as_ref()
                    .and_then(|b| b.pointer(&d.pointer))
                    .map(|v| v.to_string())
                    .unwrap_or_default()
                    .chars()
                    .take(80)
                    .collect();
                let resolved = if shown.is_empty() {
                    String::new()
                } else {
                    format!(" (resolved value {shown})")
                };
                Diagnostic {
                    pointer: format!("{}/httpRequest/body{}", p.pointer, d.pointer),
                    message: format!(
                        "with this input, the request is invalid: {}{resolved}",
                        d.message
                    ),
                    ..d
                }
            })
            .collect(),
        // A request's own field, or the data passing around it (the task's data, or the
        // workflow's output), which fails the task all the same.
        _ if relative.is_empty() || relative.starts_with("/httpRequest") => vec![Diagnostic::new(
            Code::Request,
            at,
            format!("with this input, the request cannot be sent: {message}"),
        )],
        _ => vec![Diagnostic::new(
            Code::Request,
            at,
            format!("with this input, the task fails here: {message}"),
        )],
    };
    found.into_iter().map(task).collect()
}
