//! `usage-connector validate`: check definitions (files or folders), optionally with an input.

use std::path::{Path, PathBuf};

use anyhow::Context;
use usage_connector::catalog::Catalog;
use usage_connector::validate::{Diagnostic, Report, Severity, validate_definition};
use usage_connector::validators::Validators;

use super::{Failure, Format};

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Definition files or folders.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Workflow input (JSON file): also prepare the requests of the tasks that receive it,
    /// exactly as `run` will (placeholders, vendor rules, request schema).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Output format: compiler-style text, or a JSON array of diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// The definition files under `paths` (folders searched for `*.json`, skipping `examples/`).
fn definition_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        if !meta.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut stack = vec![path.clone()];
        while let Some(dir) = stack.pop() {
            for entry in
                std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
            {
                let p = entry?.path();
                if p.is_dir() {
                    if p.file_name().is_some_and(|n| n != "examples") {
                        stack.push(p);
                    }
                } else if p.extension().is_some_and(|e| e == "json") {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Reads a JSON input file.
pub fn read_input(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read(path).with_context(|| format!("reading input {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("input {} is not JSON", path.display()))
}

/// Validates every definition and renders the findings.
pub fn run(catalog: &Catalog, args: &Args) -> Result<String, Failure> {
    let input = args.input.as_deref().map(read_input).transpose()?;
    let validators = Validators::new(catalog).context("compiling schemas")?;
    let files = definition_files(&args.paths)?;
    let mut reports = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        reports.push(validate_definition(
            &file.display().to_string(),
            &bytes,
            &validators,
            input.as_ref(),
        ));
    }
    let invalid = reports.iter().filter(|r| r.has_errors()).count();
    let out = match args.format {
        Format::Json => json(&reports)?,
        Format::Text => text(&reports, files.len(), invalid),
    };
    if invalid > 0 {
        return Err(Failure::data(out));
    }
    Ok(out)
}

fn json(reports: &[Report]) -> anyhow::Result<String> {
    let all: Vec<&Diagnostic> = reports.iter().flat_map(|r| &r.diagnostics).collect();
    Ok(format!(
        "{}\n",
        serde_json::to_string_pretty(&all).context("serializing diagnostics")?
    ))
}

fn text(reports: &[Report], files: usize, invalid: usize) -> String {
    let mut out = String::new();
    let mut counts = [0usize; 3];
    for r in reports {
        for d in &r.diagnostics {
            counts[match d.severity {
                Severity::Error => 0,
                Severity::Warning => 1,
                Severity::Note => 2,
            }] += 1;
            out.push_str(&d.render(r.source.as_deref()));
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "{files} file(s): {invalid} invalid; {} error(s), {} warning(s), {} note(s)\n",
        counts[0], counts[1], counts[2]
    ));
    out
}
