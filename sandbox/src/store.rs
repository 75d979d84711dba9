//! Sandbox state: Solvimon events, idempotency keys, Rebilly usages and per-subscription totals.
//!
//! Policy: every write is a journal entry. With a state file, the entry is appended and
//! `fsync`ed **before** the state changes and before the client is answered, so an
//! acknowledged write survives `kill -9`; on start the journal is replayed (a torn last line,
//! from a crash mid-write of an unacknowledged entry, is ignored).

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fixture::Fixture;

/// A journal entry: one committed write.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum Entry {
    /// A Solvimon record (`kind` = `meter-data`, `charge-data`, …); `duplicate` events do not count.
    Solvimon {
        kind: String,
        record: Value,
        duplicate: bool,
    },
    /// A remembered `Idempotency-Key` answer.
    Idempotency {
        scope: String,
        key: String,
        body: String,
        #[serde(deserialize_with = "status_code")]
        status: u16,
        response: Value,
    },
    /// A Rebilly usage.
    Usage { record: Value },
    /// A deleted Rebilly usage.
    DeleteUsage { id: String },
}

/// A status code read through serde_json's `Number` (an internally tagged enum buffers its
/// fields, and with `arbitrary_precision` a buffered number only reads back as a `Number`).
fn status_code<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    n.as_u64()
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("{n} is not an HTTP status")))
}

/// A remembered answer for an idempotency key.
#[derive(Debug, Clone)]
pub struct Remembered {
    /// The canonical request body it answered.
    pub body: String,
    /// Status.
    pub status: u16,
    /// Body.
    pub response: Value,
}

/// The sandbox's data.
#[derive(Debug, Default)]
pub struct Store {
    /// Solvimon records in effect, by kind, in creation order.
    pub records: BTreeMap<String, Vec<Value>>,
    /// Duplicate events (calculate with a reference already seen).
    pub duplicates: Vec<Value>,
    by_reference: HashMap<(String, String), usize>,
    idempotency: HashMap<(String, String), Remembered>,
    /// Rebilly usages in creation order.
    pub usages: Vec<Value>,
    /// Used quantity per subscription.
    pub used: HashMap<String, Decimal>,
    /// Ids issued so far (ids derive from it, so a replay issues the same ids).
    pub issued: u64,
    journal: Option<File>,
    journal_path: Option<PathBuf>,
}

/// Errors opening or writing the state file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// I/O on the state file.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A journal line that is not an entry (other than a torn last line).
    #[error("state file {path}: line {line} is not a journal entry: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// Parser message.
        message: String,
    },
}

fn quantity(record: &Value) -> Decimal {
    record
        .get("quantity")
        .map(|q| q.to_string().parse().unwrap_or_default())
        .unwrap_or_default()
}

impl Store {
    /// A store seeded from the fixture; with `state`, replays and then appends to that journal.
    pub fn open(fixture: &Fixture, state: Option<&Path>) -> Result<Self, StoreError> {
        let mut store = Store::default();
        for s in &fixture.subscriptions {
            store
                .used
                .insert(s.id.clone(), s.used_quantity.unwrap_or_default());
        }
        let Some(path) = state else { return Ok(store) };
        let io = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        if path.exists() {
            let lines: Vec<String> = BufReader::new(File::open(path).map_err(io)?)
                .lines()
                .collect::<Result<_, _>>()
                .map_err(io)?;
            let count = lines.len();
            for (i, line) in lines.into_iter().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Entry>(&line) {
                    Ok(entry) => store.apply(entry),
                    Err(_) if i + 1 == count => {} // torn last write: never acknowledged
                    Err(e) => {
                        return Err(StoreError::Corrupt {
                            path: path.to_path_buf(),
                            line: i + 1,
                            message: e.to_string(),
                        });
                    }
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        store.journal = Some(file);
        store.journal_path = Some(path.to_path_buf());
        Ok(store)
    }

    /// Makes `entry` durable (when a state file is set), then applies it.
    pub fn commit(&mut self, entry: Entry) -> Result<(), StoreError> {
        if let Some(file) = self.journal.as_mut() {
            let path = self.journal_path.clone().unwrap_or_default();
            let mut line = serde_json::to_string(&entry).expect("entries serialize");
            line.push('\n');
            file.write_all(line.as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(|source| StoreError::Io { path, source })?;
        }
        self.apply(entry);
        Ok(())
    }

    fn apply(&mut self, entry: Entry) {
        match entry {
            Entry::Solvimon {
                kind,
                record,
                duplicate,
            } => {
                self.issued += 1;
                if duplicate {
                    self.duplicates.push(record);
                    return;
                }
                let list = self.records.entry(kind.clone()).or_default();
                if let Some(r) = record.get("reference").and_then(Value::as_str) {
                    self.by_reference.insert((kind, r.to_owned()), list.len());
                }
                list.push(record);
            }
            Entry::Idempotency {
                scope,
                key,
                body,
                status,
                response,
            } => {
                self.idempotency.insert(
                    (scope, key),
                    Remembered {
                        body,
                        status,
                        response,
                    },
                );
            }
            Entry::Usage { record } => {
                self.issued += 1;
                let sub = record["subscriptionId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                *self.used.entry(sub).or_default() += quantity(&record);
                self.usages.push(record);
            }
            Entry::DeleteUsage { id } => {
                if let Some(pos) = self.usages.iter().position(|u| u["id"] == id.as_str()) {
                    let record = self.usages.remove(pos);
                    let sub = record["subscriptionId"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    *self.used.entry(sub).or_default() -= quantity(&record);
                }
            }
        }
    }

    /// The record of `kind` with this reference, if any.
    pub fn by_reference(&self, kind: &str, reference: &str) -> Option<&Value> {
        let i = self
            .by_reference
            .get(&(kind.to_owned(), reference.to_owned()))?;
        self.records.get(kind)?.get(*i)
    }

    /// The record of `kind` with this id or reference.
    pub fn find(&self, kind: &str, id_or_reference: &str) -> Option<&Value> {
        self.records
            .get(kind)?
            .iter()
            .find(|r| r["id"] == id_or_reference)
            .or_else(|| self.by_reference(kind, id_or_reference))
    }

    /// The remembered answer for an idempotency key.
    pub fn remembered(&self, scope: &str, key: &str) -> Option<&Remembered> {
        self.idempotency.get(&(scope.to_owned(), key.to_owned()))
    }

    /// The next id with this prefix (`mtrd_`, `sub_usg_`, …): deterministic, unique.
    pub fn next_id(&self, prefix: &str) -> String {
        format!("{prefix}{:020}", self.issued + 1)
    }
}
