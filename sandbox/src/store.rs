//! Sandbox state: Solvimon events, idempotency keys, Rebilly usages and per-subscription totals.
//!
//! Policy: every write is a journal entry, committed in three steps: work out its effect with
//! checked arithmetic (a total beyond [`MAX_QUANTITY`] refuses the write), make it durable in
//! the [`Journal`] (with a state file), then apply it with nothing left that can fail. So a
//! refused or failed write leaves the state as it was, an acknowledged write survives
//! `kill -9`, and a lock over the store is never left over a half-applied write. On start the
//! journal is replayed through the same checks. Usages are indexed by id, subscription and
//! usage time (the fields lists filter on), so the lookups an ingest under faults makes cost
//! the same at the first usage and the hundred-thousandth.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::Error;
use crate::decimal::{self, MAX_QUANTITY};
use crate::fixture::Fixture;
use crate::journal::{Entry, Journal};

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
    usages: Vec<Value>,
    /// Positions in `usages` by (field, value) of each [`USAGE_FIELDS`] field, ascending: a
    /// lookup by id, subscription or usage time does not scan every usage.
    usage_index: UsageIndex,
    /// Used quantity per subscription.
    pub used: HashMap<String, Decimal>,
    /// Ids issued so far (ids derive from it, so a replay issues the same ids).
    pub issued: u64,
    journal: Option<Journal>,
}

/// The usage fields lists can filter on, each indexed.
pub const USAGE_FIELDS: [&str; 3] = ["id", "subscriptionId", "usageTime"];

/// Positions by (field, value) of each usage field.
type UsageIndex = HashMap<(&'static str, String), Vec<usize>>;

/// Adds the usage at `position` to `index`.
fn index_usage(index: &mut UsageIndex, position: usize, record: &Value) {
    for field in USAGE_FIELDS {
        if let Some(value) = record[field].as_str() {
            index
                .entry((field, value.to_owned()))
                .or_default()
                .push(position);
        }
    }
}

/// What a write changes besides its record: a subscription's new used quantity.
type Used = Option<(String, Decimal)>;

/// The subscription and exact quantity of a stored usage.
fn usage_quantity(record: &Value) -> Result<(String, Decimal), String> {
    let subscription = record["subscriptionId"].as_str().unwrap_or_default();
    let quantity = decimal::of_number(&record["quantity"])
        .ok_or_else(|| format!("usage {} has no exact quantity", record["id"]))?;
    Ok((subscription.to_owned(), quantity))
}

impl Store {
    /// A store seeded from the fixture; with `state`, locks and replays that journal (cutting a
    /// torn last line) and then appends to it.
    pub fn open(fixture: &Fixture, state: Option<&Path>) -> Result<Self, Error> {
        let mut store = Store::default();
        for s in &fixture.subscriptions {
            store
                .used
                .insert(s.id.clone(), s.used_quantity.unwrap_or_default());
        }
        let Some(path) = state else { return Ok(store) };
        let (journal, replay) = Journal::open(path)?;
        for (line, entry) in replay.entries {
            let used = store
                .effect(&entry)
                .map_err(|message| Error::StateCorrupt {
                    path: path.to_path_buf(),
                    line,
                    message,
                })?;
            store.apply(entry, used);
        }
        store.journal = Some(journal);
        Ok(store)
    }

    /// Checks `entry` can be taken, makes it durable (when a state file is set), then applies
    /// it; on an error nothing has changed.
    pub fn commit(&mut self, entry: Entry) -> Result<(), Error> {
        let used = self.effect(&entry).map_err(Error::Refused)?;
        if let Some(journal) = self.journal.as_mut() {
            journal.append(&entry)?;
        }
        self.apply(entry, used);
        Ok(())
    }

    /// The subscription total `entry` leads to, with checked arithmetic; changes nothing.
    fn effect(&self, entry: &Entry) -> Result<Used, String> {
        let (record, adding) = match entry {
            Entry::Usage { record } => (record, true),
            Entry::DeleteUsage { id } => match self.usage(id) {
                Some(record) => (record, false),
                None => return Ok(None),
            },
            Entry::Solvimon { .. } | Entry::Idempotency { .. } => return Ok(None),
        };
        let (subscription, quantity) = usage_quantity(record)?;
        let used = self.used.get(&subscription).copied().unwrap_or_default();
        let total = if adding {
            used.checked_add(quantity)
        } else {
            used.checked_sub(quantity)
        };
        match total {
            Some(t) if t <= MAX_QUANTITY => Ok(Some((subscription, t))),
            _ => Err(format!(
                "subscription {subscription} has used {used}; {} {quantity} would leave its total beyond {MAX_QUANTITY}",
                if adding { "adding" } else { "removing" }
            )),
        }
    }

    /// Applies `entry` whose effect [`Store::effect`] worked out: only inserts and removals.
    fn apply(&mut self, entry: Entry, used: Used) {
        if let Some((subscription, total)) = used {
            self.used.insert(subscription, total);
        }
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
                index_usage(&mut self.usage_index, self.usages.len(), &record);
                self.usages.push(record);
            }
            Entry::DeleteUsage { id } => {
                // Rare (cleanups): the positions after it shift, so the index is rebuilt.
                let before = self.usages.len();
                self.usages.retain(|u| u["id"] != id.as_str());
                if self.usages.len() == before {
                    return;
                }
                self.usage_index.clear();
                for (i, record) in self.usages.iter().enumerate() {
                    index_usage(&mut self.usage_index, i, record);
                }
            }
        }
    }

    /// Rebilly usages in creation order.
    pub fn usages(&self) -> &[Value] {
        &self.usages
    }

    /// The usage with this id.
    pub fn usage(&self, id: &str) -> Option<&Value> {
        let i = *self.usage_index.get(&("id", id.to_owned()))?.first()?;
        self.usages.get(i)
    }

    /// The usages that may pass every filter (field, any of values), in creation order: those
    /// of the filter matching fewest (each field of [`USAGE_FIELDS`] is indexed; any other
    /// field matches none), found without building the others'. Every usage when there is no
    /// filter. The caller still applies every filter.
    pub fn usage_candidates(&self, filters: &[(String, Vec<String>)]) -> Vec<&Value> {
        let lists = |(field, values): &(String, Vec<String>)| -> Vec<&Vec<usize>> {
            match USAGE_FIELDS.into_iter().find(|f| f == field) {
                Some(f) => values
                    .iter()
                    .filter_map(|v| self.usage_index.get(&(f, v.clone())))
                    .collect(),
                None => Vec::new(),
            }
        };
        let Some(fewest) = filters
            .iter()
            .map(lists)
            .min_by_key(|l| l.iter().map(|p| p.len()).sum::<usize>())
        else {
            return self.usages.iter().collect();
        };
        let mut positions: Vec<usize> = fewest.into_iter().flatten().copied().collect();
        positions.sort_unstable();
        positions.dedup();
        positions.into_iter().map(|i| &self.usages[i]).collect()
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
