//! `usage-connector validate`: check definitions (files or folders), optionally with an input.

use std::path::PathBuf;

use anyhow::Context;
use usage_connector::catalog::Catalog;
use usage_connector::validate::{
    Diagnostic, MAX_DEFINITION_BYTES, Report, Severity, VALIDATE_WORKFLOW_ID, too_large,
    validate_definition_as,
};
use usage_connector::validators::Validators;

use super::shared::files;
use super::{Failure, Format};

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Definition files or folders, or `-` for one definition on standard input.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Workflow input (a JSON file, or JSON text): also run the pre-flight `run` runs before
    /// its first write: the input against inputSchema, and every request this input resolves
    /// prepared exactly as `run` will (placeholders, vendor rules, request schema).
    #[arg(long, value_name = "FILE|JSON")]
    input: Option<String>,
    /// The workflow id to check --input's requests under: the one you will give `run
    /// --workflow-id` (a request can carry it through ${swf:workflowId} or $$.Execution.Id,
    /// and every derived identity depends on it). Default: a stand-in as long as the longest
    /// id `run` picks itself.
    #[arg(long, value_name = "ID", requires = "input")]
    workflow_id: Option<String>,
    /// Output format: compiler-style text, or a JSON array of diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Validates every definition and renders the findings.
#[allow(clippy::print_stderr)]
pub fn run(catalog: &Catalog, args: &Args) -> Result<String, Failure> {
    let input = args
        .input
        .as_deref()
        .map(|arg| crate::cli::shared::definition::input(Some(arg)))
        .transpose()?;
    let validators = Validators::new(catalog).context("compiling schemas")?;
    let workflow_id = args.workflow_id.as_deref().unwrap_or(VALIDATE_WORKFLOW_ID);
    let stdin = args.paths.iter().any(|p| p.as_os_str() == "-");
    let named: Vec<PathBuf> = args
        .paths
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .cloned()
        .collect();
    // An unreadable path is reported and the others are still checked; the exit code is 2.
    let mut unreadable = Vec::new();
    let found = files::definition_files(&named, &mut unreadable);
    let mut reports = Vec::new();
    if stdin {
        let bytes = files::read_at_most(std::io::stdin().lock(), "the definition on stdin")?;
        reports.push(validate_definition_as(
            "<stdin>",
            &bytes,
            &validators,
            input.as_ref(),
            workflow_id,
        ));
    }
    for file in &found {
        let shown = file.path.display().to_string();
        // The size is known before reading: a huge file is reported, never read.
        let len = match files::regular_file_len(&file.path, "definition") {
            Ok(len) => len,
            Err(e) => {
                unreadable.push(e);
                continue;
            }
        };
        if len > MAX_DEFINITION_BYTES as u64 {
            reports.push(too_large(&shown, len));
            continue;
        }
        let bytes = match files::read_limited(&file.path, "definition") {
            Ok(bytes) => bytes,
            Err(e) => {
                unreadable.push(e);
                continue;
            }
        };
        if file.in_folder && !looks_like_definition(&bytes) {
            eprintln!(
                "note: skipping {shown}: a JSON file that is not a workflow definition (no `tasks`)"
            );
            continue;
        }
        reports.push(validate_definition_as(
            &shown,
            &bytes,
            &validators,
            input.as_ref(),
            workflow_id,
        ));
    }
    if reports.is_empty() && !unreadable.is_empty() {
        let all: Vec<String> = unreadable.iter().map(|e| format!("{e:#}")).collect();
        return Err(anyhow::anyhow!("{}", all.join("\nerror: ")).into());
    }
    for e in &unreadable {
        eprintln!("error: {e:#}");
    }
    if reports.is_empty() {
        let named: Vec<String> = named.iter().map(|p| p.display().to_string()).collect();
        return Err(
            anyhow::anyhow!("no workflow definitions found in {}", named.join(", ")).into(),
        );
    }
    let files = reports.len();
    let invalid = reports.iter().filter(|r| r.has_errors()).count();
    let out = match args.format {
        Format::Json => json(&reports)?,
        Format::Text => text(&reports, files, invalid),
    };
    if !unreadable.is_empty() {
        return Err(Failure {
            code: 2,
            ..Failure::data(out)
        });
    }
    if invalid > 0 {
        return Err(Failure::data(out));
    }
    Ok(out)
}

/// Whether a file found in a folder is meant as a definition: anything but a JSON object with
/// neither `tasks` nor `startTask` (a broken or non-object file is still reported, so a typo
/// never hides a definition).
fn looks_like_definition(bytes: &[u8]) -> bool {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Object(obj)) => {
            obj.contains_key("tasks") || obj.contains_key("startTask")
        }
        _ => true,
    }
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
