//! Workflow validation at design time (definitions) and run time (resolved requests).
//!
//! Policy: report every problem of every file in one run, each with file, task, endpoint,
//! pointer, line, column, a stable code and a fix where we know one. Bad input (invalid JSON,
//! non-UTF-8, huge or deeply nested files) yields a diagnostic, never a panic. Design time
//! checks literals fully and defers `${…}` placeholders; run time (`--input`) resolves the
//! placeholders of the tasks whose input is the workflow input and runs them through the one
//! prepare path ([`crate::prepare`]) — the same function the executor sends with, so what
//! `validate --input` passes, `run` sends, and what it rejects, nothing sends.
//!
//! Rooms: this file reads the file and places findings; `structure.rs` checks shape, routing
//! and placeholders; `http.rs` matches Http tasks to the catalog; `runtime.rs` prepares the
//! requests of an input.

mod dataflow;
mod http;
mod runtime;
mod shape;
mod structure;

use std::collections::{HashMap, HashSet};

use serde_json::Value;

pub use crate::diagnostic::{Code, Diagnostic, Severity, locate};
pub use runtime::{CheckedRequest, VALIDATE_SEQUENCE, VALIDATE_WORKFLOW_ID};

/// The report of a run's pre-flight on the definition `file` (its text `source`): the
/// problems `found` as located diagnostics, as `validate --input` shows them (notes left out:
/// a run only needs to know what stops it).
pub fn preflight_report(file: &str, source: &str, found: &crate::preflight::Preflight) -> Report {
    let mut diagnostics: Vec<Diagnostic> = runtime::diagnostics(found)
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    place(&mut diagnostics, source, file);
    Report {
        diagnostics,
        source: Some(source.to_owned()),
        requests: Vec::new(),
    }
}

use crate::catalog::EndpointId;
use crate::diagnostic::locate::{child, positions};
use crate::validators::{Validators, json_type};

/// Checks a concrete request body against an endpoint's request schema (built-in catalog):
/// the check the prepare path makes before sending ([`Validators::check_request`]).
pub fn validate_request(endpoint: EndpointId, body: &Value) -> Result<(), Vec<Diagnostic>> {
    Validators::builtin().check_request(endpoint, body)
}

/// Largest definition file accepted (10 MiB); larger files get `E-TOO-LARGE`.
pub const MAX_DEFINITION_BYTES: usize = 10 * 1024 * 1024;

/// The report of a definition file of `len` bytes, over [`MAX_DEFINITION_BYTES`]: a caller
/// that knows the size first need not read it.
pub fn too_large(file: &str, len: u64) -> Report {
    Report {
        diagnostics: vec![Diagnostic {
            file: file.to_owned(),
            ..Diagnostic::new(
                Code::TooLarge,
                "",
                format!(
                    "file is {len} bytes; definitions are limited to {MAX_DEFINITION_BYTES} bytes (10 MiB)"
                ),
            )
        }],
        source: None,
        requests: Vec::new(),
    }
}

/// The outcome of validating one file.
#[derive(Debug, Clone)]
pub struct Report {
    /// Findings in file order (by line, then column).
    pub diagnostics: Vec<Diagnostic>,
    /// The file's text, when it was valid UTF-8 (for showing offending lines).
    pub source: Option<String>,
    /// With an input: the requests of the tasks that receive it, as the prepare path built
    /// them (what `run` would send).
    pub requests: Vec<CheckedRequest>,
}

impl Report {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

struct Ctx<'a> {
    validators: &'a Validators,
    /// The definition's text (to place a finding inside a string).
    text: &'a str,
    out: Vec<Diagnostic>,
    /// Task name → pointer of its first definition, across all scopes.
    names: HashMap<String, String>,
    /// Http tasks matched to the catalog: pointer → endpoint.
    matched: HashMap<String, EndpointId>,
}

impl Ctx<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.out.push(d);
    }
}

fn line_col(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    (
        line,
        String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1,
    )
}

/// Validates one definition file. `input` is the workflow input for run-time checks, made
/// under [`VALIDATE_WORKFLOW_ID`].
pub fn validate_definition(
    file: &str,
    bytes: &[u8],
    validators: &Validators,
    input: Option<&Value>,
) -> Report {
    validate_definition_as(file, bytes, validators, input, VALIDATE_WORKFLOW_ID)
}

/// [`validate_definition`], with the run-time checks made under `workflow_id` (the id the run
/// will have: it reaches requests through `${swf:workflowId}` and `$$.Execution.Id`, and every
/// derived identity).
pub fn validate_definition_as(
    file: &str,
    bytes: &[u8],
    validators: &Validators,
    input: Option<&Value>,
    workflow_id: &str,
) -> Report {
    let fail = |d: Diagnostic| Report {
        diagnostics: vec![Diagnostic {
            file: file.to_owned(),
            ..d
        }],
        source: None,
        requests: Vec::new(),
    };
    if bytes.len() > MAX_DEFINITION_BYTES {
        return too_large(file, bytes.len() as u64);
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let (line, column) = line_col(bytes, e.valid_up_to());
            let mut d = Diagnostic::new(
                Code::Utf8,
                "",
                format!(
                    "file is not UTF-8: invalid byte at offset {}",
                    e.valid_up_to()
                ),
            );
            d.line = Some(line);
            d.column = Some(column);
            return fail(d.hint("save the file as UTF-8"));
        }
    };
    let root: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let mut d = Diagnostic::new(Code::Json, "", format!("invalid JSON: {e}"));
            let (mut line, mut column) = (e.line().max(1), e.column().max(1));
            if e.to_string().contains("trailing comma")
                && let Some(at) = comma_before(text, line, column)
            {
                // serde_json points past the comma, at the bracket; the mistake is the comma.
                (line, column) = at;
                d = d.hint("remove the comma: JSON allows none before `}` or `]`");
            }
            d.line = Some(line);
            d.column = Some(column);
            if e.to_string().contains("recursion limit") {
                d = d.hint("definitions may nest at most 128 levels deep");
            }
            return Report {
                diagnostics: vec![Diagnostic {
                    file: file.to_owned(),
                    ..d
                }],
                source: Some(text.to_owned()),
                requests: Vec::new(),
            };
        }
    };
    let mut ctx = Ctx {
        validators,
        text,
        out: Vec::new(),
        names: HashMap::new(),
        matched: HashMap::new(),
    };
    for dup in locate::duplicate_keys(text) {
        let pointer = child(&dup.object, &dup.key);
        let is_task = dup.object == "/tasks" || dup.object.ends_with("/tasks");
        let (code, message) = if is_task {
            (
                Code::NameDuplicate,
                format!(
                    "task `{}` is defined twice in this `tasks` object; only the last one would run",
                    dup.key
                ),
            )
        } else {
            (
                Code::DuplicateKey,
                format!(
                    "key `{}` appears twice in this object; only the last value counts",
                    dup.key
                ),
            )
        };
        let mut d = Diagnostic::new(code, pointer, message);
        d.line = Some(dup.position.0);
        d.column = Some(dup.position.1);
        ctx.push(if is_task { d.task(&dup.key) } else { d });
    }
    match &root {
        Value::Object(obj) => {
            structure::check_definition(&mut ctx, obj, &root);
            dataflow::check(&mut ctx, &root);
        }
        other => ctx.push(Diagnostic::new(
            Code::Root,
            "",
            format!(
                "a workflow definition is a JSON object; found {}",
                json_type(other)
            ),
        )),
    }
    let requests = match input {
        Some(input) => runtime::check(&mut ctx, &root, input, workflow_id),
        None => Vec::new(),
    };
    let mut diagnostics = ctx.out;
    place(&mut diagnostics, text, file);
    Report {
        diagnostics,
        source: Some(text.to_owned()),
        requests,
    }
}

/// The line and column of the last `,` before (`line`, `column`) with only whitespace between.
fn comma_before(text: &str, line: usize, column: usize) -> Option<(usize, usize)> {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    let offset = line_start
        + text[line_start..]
            .char_indices()
            .nth(column - 1)
            .map_or(text.len() - line_start, |(i, _)| i);
    let before = text[..offset].trim_end();
    before
        .ends_with(',')
        .then(|| line_col(text.as_bytes(), before.len() - 1))
}

/// Fills file, line and column; a pointer that is not in the text (e.g. a missing field) is
/// placed at its nearest existing parent.
fn place(diagnostics: &mut [Diagnostic], text: &str, file: &str) {
    let mut wanted = HashSet::new();
    for d in diagnostics.iter() {
        let mut p = d.pointer.as_str();
        loop {
            wanted.insert(p.to_owned());
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => break,
            }
        }
    }
    let found = positions(text, &wanted);
    for d in diagnostics.iter_mut() {
        d.file = file.to_owned();
        if d.line.is_some() {
            continue;
        }
        let mut p = d.pointer.as_str();
        loop {
            if let Some(&(line, col)) = found.get(p) {
                d.line = Some(line);
                d.column = Some(col);
                break;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => break,
            }
        }
    }
    diagnostics.sort_by_key(|d| (d.line.unwrap_or(0), d.column.unwrap_or(0), d.code.as_str()));
}
