//! Reading what the user names: definitions, inputs, bodies, credentials.
//!
//! Policy: only regular files are read (a FIFO, device or folder is refused by name, never
//! waited on); the size limit is checked before reading and enforced while reading, so
//! nothing larger is ever held in memory; a JSON object with a key twice is an error (a JSON
//! parser would keep the last value silently), as `validate` reports it.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use usage_connector::diagnostic::locate::duplicate_keys;

/// Largest input, body or definition read (10 MiB).
pub const MAX_BYTES: u64 = 10 * 1024 * 1024;

/// The size of `path` if it is a regular file (symlinks followed); `Err` names what it is
/// instead.
pub fn regular_file_len(path: &Path, what: &str) -> anyhow::Result<u64> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("reading {what} {}", path.display()))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a folder"
        } else {
            "not a regular file (a FIFO, socket or device)"
        };
        bail!("{what} {} is {kind}; give a JSON file", path.display());
    }
    Ok(meta.len())
}

/// The bytes of a regular file of at most [`MAX_BYTES`].
pub fn read_limited(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let len = regular_file_len(path, what)?;
    if len > MAX_BYTES {
        bail!(
            "{what} {} is {len} bytes; the limit is {MAX_BYTES} bytes (10 MiB)",
            path.display()
        );
    }
    let file =
        std::fs::File::open(path).with_context(|| format!("reading {what} {}", path.display()))?;
    read_at_most(file, &format!("{what} {}", path.display()))
}

/// At most [`MAX_BYTES`] of `reader` (standard input, a file that grows while read).
pub fn read_at_most(reader: impl Read, what: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {what}"))?;
    if bytes.len() as u64 > MAX_BYTES {
        bail!("{what} is over the limit of {MAX_BYTES} bytes (10 MiB)");
    }
    Ok(bytes)
}

/// Parses JSON, refusing an object with a repeated key (naming it and where).
pub fn parse_json(bytes: &[u8], what: &str) -> anyhow::Result<serde_json::Value> {
    let text = std::str::from_utf8(bytes).with_context(|| format!("{what} is not UTF-8"))?;
    let value: serde_json::Value =
        serde_json::from_str(text).with_context(|| format!("{what} is not JSON"))?;
    if let Some(dup) = duplicate_keys(text).first() {
        bail!(
            "{what}: key `{}` appears twice in one object (line {}, column {}); only one value can count",
            dup.key,
            dup.position.0,
            dup.position.1
        );
    }
    Ok(value)
}

/// Reads and parses a JSON file (see [`read_limited`], [`parse_json`]).
pub fn read_json(path: &Path, what: &str) -> anyhow::Result<serde_json::Value> {
    parse_json(
        &read_limited(path, what)?,
        &format!("{what} {}", path.display()),
    )
}

/// A file to validate: named by the user, or found in a folder they named.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Found {
    /// The path.
    pub path: PathBuf,
    /// Whether it was found by walking a folder (then a JSON file that is not a definition is
    /// skipped, not reported).
    pub in_folder: bool,
}

/// The definition files under `paths`: files as given; folders searched for `*.json`
/// (skipping `examples/` folders), each folder and file once however symlinks loop. A path
/// or folder that cannot be read is pushed to `unreadable` and the rest is still found.
pub fn definition_files(paths: &[PathBuf], unreadable: &mut Vec<anyhow::Error>) -> Vec<Found> {
    let mut files = Vec::new();
    let mut seen_files = std::collections::HashSet::new();
    let mut seen_dirs = std::collections::HashSet::new();
    for path in paths {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) => {
                unreadable
                    .push(anyhow::Error::new(e).context(format!("reading {}", path.display())));
                continue;
            }
        };
        if !meta.is_dir() {
            files.push(Found {
                path: path.clone(),
                in_folder: false,
            });
            continue;
        }
        let mut stack = vec![path.clone()];
        while let Some(dir) = stack.pop() {
            let real = dir.canonicalize().unwrap_or_else(|_| dir.clone());
            if !seen_dirs.insert(real) {
                continue;
            }
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) => {
                    unreadable
                        .push(anyhow::Error::new(e).context(format!("listing {}", dir.display())));
                    continue;
                }
            };
            for entry in entries {
                let p = match entry {
                    Ok(entry) => entry.path(),
                    Err(e) => {
                        unreadable.push(
                            anyhow::Error::new(e).context(format!("listing {}", dir.display())),
                        );
                        continue;
                    }
                };
                if p.is_dir() {
                    if p.file_name().is_some_and(|n| n != "examples") {
                        stack.push(p);
                    }
                } else if p.extension().is_some_and(|e| e == "json")
                    && seen_files.insert(p.canonicalize().unwrap_or_else(|_| p.clone()))
                {
                    files.push(Found {
                        path: p,
                        in_folder: true,
                    });
                }
            }
        }
    }
    files.sort();
    files
}
