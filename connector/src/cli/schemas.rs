//! `usage-connector schemas`: write the generated JSON Schemas, or check them for drift.

use std::path::PathBuf;

use anyhow::Context;
use usage_connector::catalog::Catalog;
use usage_connector::schemas;

use super::Failure;

/// Arguments of `schemas`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write to (or to check).
    #[arg(long, default_value = "schemas")]
    out: PathBuf,
    /// Write nothing; exit 1 and name each file that differs from what the code generates.
    #[arg(long)]
    check: bool,
}

/// Writes or checks the schema files.
pub fn run(catalog: &Catalog, args: &Args) -> Result<String, Failure> {
    let files = schemas::generate(catalog);
    let out = &args.out;
    if !args.check {
        let written = schemas::write(out, &files).context("writing schemas")?;
        return Ok(format!(
            "wrote {} schema files to {}\n",
            written.len(),
            out.display()
        ));
    }
    let drift = schemas::check(out, &files).context("checking schemas")?;
    if drift.is_empty() {
        return Ok(format!(
            "{} schema files up to date in {}\n",
            files.len(),
            out.display()
        ));
    }
    let list: Vec<String> = drift.iter().map(|d| format!("  {d}")).collect();
    Err(Failure::invalid(anyhow::anyhow!(
        "{} schema file(s) differ from the code:\n{}\nrun `usage-connector schemas --out {}` to regenerate",
        drift.len(),
        list.join("\n"),
        out.display()
    )))
}
