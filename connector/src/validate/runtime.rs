//! Run-time checks with a workflow input: the tasks that receive it are prepared by the one
//! prepare path, exactly as `run` will prepare them.
//!
//! Policy: an entry task's input is the workflow input (reshaped by `inputParameters`); its
//! request goes through [`crate::prepare::prepare`] (placeholders, vendor rules such as
//! rounding, request validation). Its failures become located diagnostics; its successes are
//! kept as [`CheckedRequest`]s. Tasks fed by earlier outputs are checked at design time only
//! (`N-RUNTIME-SKIPPED`). Credentials are not needed: they are added after the pure path.

use serde_json::Value;

use super::Ctx;
use crate::diagnostic::{Code, Diagnostic};
use crate::identity::Execution;
use crate::output::{ErrorCode, TaskError};
use crate::prepare::{self, PreparedRequest, Router, ValidatorSet};
use crate::simworkflow::{Task, WorkflowDefinition};
use crate::template;

/// The workflow id the run-time check prepares under.
pub const VALIDATE_WORKFLOW_ID: &str = "validate";

/// A request the run-time check prepared: what `run` would send for this input.
#[derive(Debug, Clone)]
pub struct CheckedRequest {
    /// The task's name.
    pub task: String,
    /// The request, without credentials.
    pub request: PreparedRequest,
}

/// Prepares the entry tasks of `root` with `input`; returns the prepared requests.
pub(super) fn check(ctx: &mut Ctx<'_>, root: &Value, input: &Value) -> Vec<CheckedRequest> {
    // A definition that does not deserialize has design-time errors already; its requests
    // would be guesses.
    let Ok(definition) = serde_json::from_value::<WorkflowDefinition>(root.clone()) else {
        return Vec::new();
    };
    let router = Router::new(ValidatorSet::Borrowed(ctx.validators));
    let entries = definition.entry_tasks();
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    let mut later = Vec::new();
    definition.walk(|t| {
        let Task::Http(http) = t.task else { return };
        let pointer = t.pointer();
        if !entries.contains(&t.name) {
            later.push((t.name.to_owned(), pointer));
            return;
        }
        let task_input = match &http.input_parameters {
            Some(params) => match template::resolve_value(&Value::Object(params.clone()), input) {
                Ok(v) => v,
                Err(e) => {
                    let error = TaskError::unresolved(e, "/inputParameters");
                    for d in diagnostics(error, &pointer, None) {
                        push(ctx, t.name, &pointer, d);
                    }
                    return;
                }
            },
            None => input.clone(),
        };
        let exec = Execution::new(VALIDATE_WORKFLOW_ID, t.name, now);
        match prepare::prepare(&router, http, &task_input, &exec) {
            Ok(request) => out.push(CheckedRequest {
                task: t.name.to_owned(),
                request,
            }),
            Err(e) => {
                let body = http
                    .http_request
                    .body
                    .as_ref()
                    .and_then(|b| template::resolve_value(b, &task_input).ok());
                for d in diagnostics(e, &pointer, body.as_ref()) {
                    push(ctx, t.name, &pointer, d);
                }
            }
        }
    });
    for (name, pointer) in later {
        let endpoint = ctx.matched.get(&pointer).copied();
        if let Some(endpoint) = endpoint {
            ctx.push(
                Diagnostic::new(
                    Code::RuntimeSkipped,
                    pointer,
                    "input depends on earlier task outputs; request checked at design time only",
                )
                .task(&name)
                .endpoint(Some(endpoint.as_str())),
            );
        }
    }
    out
}

/// Adds a finding of the task at `pointer`; a pointer relative to the task is made absolute.
fn push(ctx: &mut Ctx<'_>, task: &str, pointer: &str, mut d: Diagnostic) {
    if !d.pointer.starts_with(pointer) {
        d.pointer = format!("{pointer}{}", d.pointer);
    }
    let endpoint = ctx.matched.get(pointer).map(|e| e.as_str());
    ctx.push(d.task(task).endpoint(endpoint));
}

/// The diagnostics of a prepare failure, with pointers inside the task; `body` is the
/// resolved body, for showing offending values.
fn diagnostics(e: TaskError, task_pointer: &str, body: Option<&Value>) -> Vec<Diagnostic> {
    let at = e.pointer.clone().unwrap_or_default();
    // The pointer is the diagnostic's own field; the message need not repeat it.
    let message = e
        .message
        .strip_prefix(&format!("{at}: "))
        .unwrap_or(&e.message)
        .to_owned();
    match e.code {
        ErrorCode::InputMissing => vec![
            Diagnostic::new(Code::InputMissing, at, message)
                .hint("add it to the input, or fix the path"),
        ],
        ErrorCode::UnsupportedExpression => vec![Diagnostic::new(
            Code::RuntimeSkipped,
            at,
            "JSONata expressions are not evaluated before run time",
        )],
        ErrorCode::InvalidRequest if !e.diagnostics.is_empty() => e
            .diagnostics
            .into_iter()
            .map(|d| {
                let shown: String = body
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
                    pointer: format!("{task_pointer}/httpRequest/body{}", d.pointer),
                    message: format!(
                        "with this input, the request is invalid: {}{resolved}",
                        d.message
                    ),
                    ..d
                }
            })
            .collect(),
        _ => vec![Diagnostic::new(
            Code::Request,
            at,
            format!(
                "with this input, the request cannot be prepared: {}",
                e.message
            ),
        )],
    }
}
