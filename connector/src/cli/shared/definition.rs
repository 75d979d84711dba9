//! Reading what a command runs: a definition (validated first: one with errors never runs) and
//! a workflow input.

use anyhow::Context;
use usage_connector::simworkflow::WorkflowDefinition;
use usage_connector::validate::{Severity, validate_definition};
use usage_connector::validators::Validators;

use crate::cli::Failure;

/// Reads the definition (a file, or `-` for standard input), refusing one with errors
/// (nothing runs).
pub fn definition(
    path: &std::path::Path,
    validators: &Validators,
) -> Result<WorkflowDefinition, Failure> {
    read_definition(path, validators).map(|d| d.definition)
}

/// A definition read and validated, with its text (for showing where a problem is).
pub struct Read {
    /// The definition.
    pub definition: WorkflowDefinition,
    /// As JSON (what a run journal records).
    pub value: serde_json::Value,
    /// Its text.
    pub source: String,
    /// Its name in messages (the path, or `<stdin>`).
    pub shown: String,
}

/// Reads the definition (a file, or `-` for standard input) and validates it.
pub fn read_definition(path: &std::path::Path, validators: &Validators) -> Result<Read, Failure> {
    let bytes = if path.as_os_str() == "-" {
        crate::cli::shared::files::read_at_most(std::io::stdin().lock(), "the definition on stdin")?
    } else {
        crate::cli::shared::files::read_limited(path, "definition")?
    };
    let shown = if path.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    };
    checked(&shown, &bytes, validators)
}

/// `bytes`, a definition named `shown`, validated.
pub fn checked(shown: &str, bytes: &[u8], validators: &Validators) -> Result<Read, Failure> {
    let report = validate_definition(shown, bytes, validators, None);
    if report.has_errors() {
        let text: String = report
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.render(report.source.as_deref()))
            .collect();
        return Err(Failure::invalid(anyhow::anyhow!(
            "{shown} is not a valid workflow definition:\n{text}"
        )));
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).context("reading the definition")?;
    Ok(Read {
        definition: serde_json::from_value(value.clone()).context("reading the definition")?,
        value,
        source: String::from_utf8_lossy(bytes).into_owned(),
        shown: shown.to_owned(),
    })
}

/// The workflow input: JSON text, a file, or `{}`.
pub fn input(arg: Option<&str>) -> anyhow::Result<serde_json::Value> {
    match arg {
        None => Ok(serde_json::json!({})),
        Some(text) if text.trim_start().starts_with(['{', '[']) => {
            crate::cli::shared::files::parse_json(text.as_bytes(), "--input")
        }
        Some(path) => crate::cli::shared::files::read_json(std::path::Path::new(path), "input"),
    }
}
