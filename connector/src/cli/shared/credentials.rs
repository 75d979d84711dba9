//! Credentials for the commands that call APIs: the credentials file and its environment
//! variables, read here (the library never reads the environment).

use std::path::{Path, PathBuf};

use anyhow::Context;
use usage_connector::catalog::{Catalog, Vendor};
use usage_connector::credentials::{Credential, Credentials, Secret};
use usage_connector::simworkflow::HttpTask;
use usage_connector::validators::Validators;

/// The credentials file in use: `explicit`, else ./credentials.json when present.
pub fn file(explicit: Option<&Path>) -> Option<PathBuf> {
    let path = match explicit {
        Some(p) => p.to_owned(),
        None => Some(PathBuf::from("credentials.json")).filter(|p| p.exists())?,
    };
    // Whole, so a run journal that records it means the same file from any folder.
    Some(path.canonicalize().unwrap_or(path))
}

/// Loads the credentials file (explicit, or ./credentials.json when present); secrets come
/// from the environment variables it names.
pub fn load(path: Option<&Path>) -> anyhow::Result<Credentials> {
    let Some(path) = file(path) else {
        return Ok(Credentials::new());
    };
    let bytes = crate::cli::shared::files::read_limited(&path, "credentials")?;
    let text = String::from_utf8(bytes)
        .with_context(|| format!("credentials {} is not UTF-8", path.display()))?;
    Credentials::from_file_text(&text, |name| std::env::var(name).ok())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The credentials id a one-off call of a `vendor` endpoint uses: `explicit`, else the file's
/// entry named after the vendor, else the vendor's API key variable (added to `credentials`
/// with the catalog's key header). `Err` says every way to provide one.
pub fn for_call(
    catalog: &Catalog,
    vendor: Vendor,
    explicit: Option<String>,
    credentials: &mut Credentials,
) -> anyhow::Result<String> {
    if let Some(id) = explicit {
        return Ok(id);
    }
    if credentials.contains(vendor.as_str()) {
        return Ok(vendor.as_str().to_owned());
    }
    match from_env(vendor, catalog.first_of(vendor).key_header()) {
        Some(credential) => {
            credentials.insert_for(vendor.as_str(), credential, vendor);
            Ok(vendor.as_str().to_owned())
        }
        None => anyhow::bail!(
            "no credentials for {vendor}: pass --credential ID (credentials file), add a `{vendor}` entry, or set {}",
            vendor.api_key_env()
        ),
    }
}

/// The vendor's API key variable (SOLVIMON_API_KEY / REBILLY_API_KEY) as a credential sent in
/// `header`; `None` when it is unset or empty.
pub fn from_env(vendor: Vendor, header: &str) -> Option<Credential> {
    match std::env::var(vendor.api_key_env()) {
        Ok(key) if !key.is_empty() => Some(Credential {
            header: header.to_owned(),
            value: Secret::new(key),
            platform_id: None,
        }),
        _ => None,
    }
}

/// For each Http task whose `credentials` id is a vendor's name (`solvimon`, `rebilly`) and
/// has no entry in `credentials`, the vendor's API key variable under that id (as `call
/// ENDPOINT` falls back to it), bound to that vendor ([`Credentials::insert_for`]): it is sent
/// to the vendor's endpoints and servers only, so a URL that data fills in (its host from the
/// input) cannot send it elsewhere. Any other id must be in the credentials file: a misspelled
/// id is never quietly given a vendor's default key; it stays missing, and the run's
/// pre-flight refuses it (`MISSING_CREDENTIALS`) before anything is sent.
pub fn fill_from_env<'t>(
    credentials: &mut Credentials,
    tasks: impl IntoIterator<Item = &'t HttpTask>,
    validators: &Validators,
) {
    for task in tasks {
        let Some(id) = &task.credentials else {
            continue;
        };
        let Ok(vendor) = id.parse::<Vendor>() else {
            continue;
        };
        let header = validators.catalog().first_of(vendor).key_header();
        if !credentials.contains(id)
            && let Some(credential) = from_env(vendor, header)
        {
            credentials.insert_for(id.clone(), credential, vendor);
        }
    }
}
