//! `usage-connector endpoints`: the catalog as text or JSON (the index document `schemas`
//! writes: `schemas/index.json`, with any `--path-override` applied).

use usage_connector::catalog::Catalog;
use usage_connector::schemas;

use super::Format;

/// Arguments of `endpoints`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format (`json` is the index `schemas` writes: schemas/index.json, with any
    /// --path-override applied).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Lists the catalog.
pub fn run(catalog: &Catalog, args: &Args) -> anyhow::Result<String> {
    if args.format == Format::Json {
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&schemas::index(catalog))?
        ));
    }
    let mut out = String::new();
    for e in &catalog.endpoints {
        let servers: Vec<&str> = e.servers.iter().map(|s| s.url).collect();
        let auth: Vec<&str> = e.auth.iter().map(|a| a.header).collect();
        let query: Vec<&str> = e.query_params.iter().map(|p| p.name).collect();
        out.push_str(&format!(
            "{id}\n  {title}\n  {method} {path}{query}  (path {prov:?}, success {status})\n  servers: {servers}\n  auth: {auth}{perm}\n",
            id = e.id,
            title = e.title,
            method = e.method,
            path = e.display_path(),
            query = if query.is_empty() { String::new() } else { format!("?{}=", query.join("=&")) },
            prov = e.path_provenance,
            status = e.success_status,
            servers = servers.join(", "),
            auth = auth.join(" or "),
            perm = e.permission.map(|p| format!("  (permission {p})")).unwrap_or_default(),
        ));
    }
    Ok(out)
}
