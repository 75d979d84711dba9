//! The ingest journal: what a second run of the same ingest must know to send nothing twice,
//! and where it delivered.
//!
//! Policy: an append-only JSON-lines file. Its first line names the template (the task or
//! endpoint each record goes through); a journal written for another template is refused.
//! A `destination` line (endpoint, server, credentials fingerprint: never a secret) starts the
//! section of the lines that follow; a run appends one when the last section is another
//! destination's. A record done at another destination is not done here: it is sent again
//! with the identity it had (the same time), looked up first ([`Seen::Elsewhere`]), so a new
//! server gets it and the same server at another address does not get it twice.
//! Before a record's request first leaves, a `begin` line records its line number, the digest
//! of its text, the time its request is stamped with and its idempotency identity, and is
//! synced to disk (the writer writes at most every 5 ms, so the begins of the records prepared
//! meanwhile share one sync: group commit); a record prepared again to another identity than
//! its standing `begin` recorded is another request and is not sent ([`Began`]). After a final
//! answer an `end` line records the outcome (not synced: a lost end only costs a lookup); a
//! record the API refused, with nothing recorded, ends [`SETTLED_FAILED`] and is new again. A
//! failed write ends the journal: nothing more is written and every later begin fails, so
//! nothing more is sent. On open, a torn last line (a crash mid-write) is cut off; any other
//! unreadable line is an error. Memory: 24 bytes per finished record (a sorted table), so a
//! million-line journal stays small.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::synced::Synced;
use crate::error::{Error, Result};
use crate::identity::Began;
use crate::journal::Destination;
use crate::prepare::PreparedRequest;

/// What the journal knows of a line of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Nothing: its request never left.
    New,
    /// Its request may have left, stamped `at`; no final answer is recorded.
    Begun {
        /// The time its request was stamped with.
        at: DateTime<Utc>,
        /// The identity it first began with.
        began: Began,
    },
    /// A final answer was recorded (the outcome as written, `created`, …).
    Done(&'static str),
    /// Its request left for another destination only, stamped `at`: not done here; sent with
    /// the same identity, looked up first.
    Elsewhere {
        /// The time its request was stamped with.
        at: DateTime<Utc>,
        /// The identity it first began with.
        began: Began,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Header {
        ingest: u32,
        template: String,
    },
    Destination {
        destination: Destination,
    },
    Begin {
        line: u64,
        digest: String,
        at: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// [`Began`] of the request.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<String>,
    },
    End {
        line: u64,
        outcome: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
}

/// The final outcomes an `end` line records (a failed record is not final: a second run tries
/// it again, looking up its earlier send first).
const OUTCOMES: [&str; 4] = ["created", "duplicate", "recovered", "partial"];

/// The outcome of an `end` line that settles a record without delivering it: the API refused
/// it, or it failed before anything could have been recorded. Its `begin` no longer stands: the
/// next run sends it as new (fresh time and identity; its line may be edited).
pub const SETTLED_FAILED: &str = "failed";

/// The mark, in place of a time, of a line settled undelivered at another destination.
const SETTLED_ELSEWHERE: i64 = i64::MIN;

/// A begin at another destination: line, digest, stamped at (nanoseconds), identity.
type Elsewhere = (u64, u64, i64, Began);

/// Of the begins at other destinations (in file order, each with its destination's number, and
/// [`SETTLED_ELSEWHERE`] marks), the one that stands for each line, sorted by line: the first
/// not settled since at its own destination, which carries the time its identity was made with.
fn standing(mut begins: Vec<(Elsewhere, u32)>) -> Vec<Elsewhere> {
    begins.sort_by_key(|e| e.0.0); // stable: file order within a line
    let mut kept = Vec::new();
    for group in begins.chunk_by(|a, b| a.0.0 == b.0.0) {
        let settled_after = |i: usize, section: u32| {
            group[i + 1..]
                .iter()
                .any(|(e, s)| *s == section && e.2 == SETTLED_ELSEWHERE)
        };
        kept.extend(
            group
                .iter()
                .enumerate()
                .find(|(i, (e, s))| e.2 != SETTLED_ELSEWHERE && !settled_after(*i, *s))
                .map(|(_, (e, _))| *e),
        );
    }
    kept
}

/// The first 8 bytes of a hex digest, as a number (enough to tell a changed line).
fn short(digest: &str) -> u64 {
    u64::from_str_radix(digest.get(..16).unwrap_or(digest), 16).unwrap_or(0)
}

enum Msg {
    Begin(String),
    End(String),
}

/// The way to the writer thread, and the begins sent down it.
struct Writer {
    tx: Option<mpsc::Sender<Msg>>,
    begins: u64,
}

/// A journal file, open for one ingest run.
pub struct IngestJournal {
    path: PathBuf,
    /// Lines finished before this run: (line, digest, outcome index), sorted by line.
    done: Vec<(u64, u64, u8)>,
    /// Lines begun and not finished before this run: (digest, stamped at, identity).
    begun: HashMap<u64, (u64, DateTime<Utc>, Began)>,
    /// Where this run delivers.
    destination: Destination,
    /// Lines begun at other destinations only: (line, digest, stamped at in nanoseconds,
    /// identity), sorted by line.
    elsewhere: Vec<Elsewhere>,
    writer: Mutex<Writer>,
    synced: Arc<Synced>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error + use<> {
    let path = path.to_owned();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

impl IngestJournal {
    /// Opens (or creates) the journal at `path` for `template`, delivering to `destination`,
    /// and holds it for this process alone (an advisory lock, until it is dropped): `InUse`
    /// when another process holds it, since two deliveries from one journal would both find a
    /// record new and both send it.
    pub fn open(path: &Path, template: &str, destination: &Destination) -> Result<Self> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io("opening the journal", path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::InUse {
                    path: path.to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("locking the journal", path)(e)),
        }
        let bad = |line: usize, reason: String| Error::Journal {
            path: path.to_owned(),
            line,
            reason,
        };
        let mut done = Vec::new();
        let mut begun = HashMap::new();
        // Begins (and settled marks) at other destinations, each with its destination's number.
        let mut elsewhere = Vec::new();
        let mut sections: Vec<Destination> = Vec::new();
        let mut section = 0u32;
        // Whether the section being read is this destination's. Lines before any destination
        // line were written before journals knew theirs: they belong to the destination that
        // first opened the journal since (the first destination line), or, when none has, to
        // this one (as they always did).
        let mut ours = first_destination(&file)
            .map_err(io("reading the journal", path))?
            .is_none_or(|d| d == *destination);
        file.seek(std::io::SeekFrom::Start(0))
            .map_err(io("reading the journal", path))?;
        let mut sectioned = false;
        let mut good_len = 0u64;
        let mut header = false;
        let mut reader = BufReader::new(&file);
        let mut buf = String::new();
        let mut number = 0;
        loop {
            buf.clear();
            let n = reader
                .read_line(&mut buf)
                .map_err(io("reading the journal", path))?;
            if n == 0 || !buf.ends_with('\n') {
                break; // the end, or a torn last line (cut below)
            }
            number += 1;
            let entry: Line = serde_json::from_str(&buf)
                .map_err(|e| bad(number, format!("not a journal entry ({e})")))?;
            match entry {
                Line::Header { template: t, .. } if number == 1 => {
                    if t != template {
                        return Err(bad(
                            1,
                            format!(
                                "written for `{t}`, not `{template}`: give another --journal for another template"
                            ),
                        ));
                    }
                    header = true;
                }
                _ if number == 1 => return Err(bad(1, "no ingest header".into())),
                Line::Header { .. } => return Err(bad(number, "a second header".into())),
                Line::Destination { destination: d } => {
                    ours = d == *destination;
                    section = match sections.iter().position(|s| *s == d) {
                        Some(i) => i as u32,
                        None => {
                            sections.push(d);
                            sections.len() as u32 - 1
                        }
                    };
                    sectioned = true;
                }
                Line::Begin {
                    line,
                    digest,
                    at,
                    identity,
                    ..
                } => {
                    let at = DateTime::parse_from_rfc3339(&at)
                        .map_err(|e| bad(number, format!("time `{at}`: {e}")))?
                        .with_timezone(&Utc);
                    if identity
                        .as_deref()
                        .is_some_and(|t| u64::from_str_radix(t, 16).is_err())
                    {
                        return Err(bad(number, "an identity that is not 16 hex digits".into()));
                    }
                    let began = Began::parse(identity.as_deref());
                    if ours {
                        // A record begun again keeps the identity it first began with.
                        begun.entry(line).or_insert((short(&digest), at, began));
                    } else {
                        let nanos = at.timestamp_nanos_opt().unwrap_or_default();
                        elsewhere.push(((line, short(&digest), nanos, began), section));
                    }
                }
                Line::End { line, outcome, .. } if outcome == SETTLED_FAILED => {
                    if ours {
                        begun.remove(&line);
                    } else {
                        let mark = (line, 0, SETTLED_ELSEWHERE, Began::default());
                        elsewhere.push((mark, section));
                    }
                }
                Line::End { .. } if !ours => {}
                Line::End { line, outcome, .. } => {
                    let index = OUTCOMES
                        .iter()
                        .position(|o| *o == outcome)
                        .ok_or_else(|| bad(number, format!("outcome `{outcome}`")))?;
                    let digest = begun.remove(&line).map_or(0, |(d, ..)| d);
                    done.push((line, digest, index as u8));
                }
            }
            good_len += n as u64;
        }
        drop(reader);
        // Cut a torn tail so the next line starts on a line of its own.
        if file
            .metadata()
            .map_err(io("reading the journal", path))?
            .len()
            != good_len
        {
            file.set_len(good_len)
                .map_err(io("repairing the journal", path))?;
        }
        file.seek(std::io::SeekFrom::End(0))
            .map_err(io("opening the journal", path))?;
        let mut opening = Vec::new();
        if !header {
            opening.push(Line::Header {
                ingest: 1,
                template: template.to_owned(),
            });
        }
        if !ours || !sectioned {
            opening.push(Line::Destination {
                destination: destination.clone(),
            });
        }
        for line in &opening {
            let line = serde_json::to_string(line).expect("journal lines serialize");
            writeln!(file, "{line}").map_err(io("writing the journal", path))?;
        }
        if !opening.is_empty() {
            file.sync_data().map_err(io("writing the journal", path))?;
        }
        let mut elsewhere = standing(elsewhere);
        elsewhere.retain(|e| !begun.contains_key(&e.0));
        elsewhere.shrink_to_fit();
        done.sort_unstable_by_key(|d| d.0);
        done.dedup_by_key(|d| d.0);
        done.shrink_to_fit();
        let (tx, rx) = mpsc::channel();
        let synced = Arc::new(Synced::default());
        let thread = {
            let synced = synced.clone();
            std::thread::spawn(move || write_loop(file, &rx, &synced))
        };
        Ok(IngestJournal {
            path: path.to_owned(),
            done,
            begun,
            destination: destination.clone(),
            elsewhere,
            writer: Mutex::new(Writer {
                tx: Some(tx),
                begins: 0,
            }),
            synced,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where this run delivers.
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// The last input line the journal knows (finished, or begun here or elsewhere); `None`
    /// for a journal that knows none.
    pub fn last_line(&self) -> Option<u64> {
        let done = self.done.last().map(|d| d.0);
        let elsewhere = self.elsewhere.last().map(|e| e.0);
        let begun = self.begun.keys().max().copied();
        done.max(elsewhere).max(begun)
    }

    /// What is known of input line `line` whose text has `digest`; an error when the journal
    /// recorded another text for that line (the input changed under the journal).
    pub fn seen(&self, line: u64, digest: &str) -> Result<Seen> {
        let changed = || Error::InputChanged {
            line,
            journal: self.path.clone(),
        };
        if let Ok(i) = self.done.binary_search_by_key(&line, |d| d.0) {
            let (_, d, outcome) = self.done[i];
            if d != 0 && d != short(digest) {
                return Err(changed());
            }
            return Ok(Seen::Done(OUTCOMES[outcome as usize]));
        }
        match self.begun.get(&line) {
            Some((d, ..)) if *d != short(digest) => Err(changed()),
            Some(&(_, at, began)) => Ok(Seen::Begun { at, began }),
            None => match self.elsewhere.binary_search_by_key(&line, |e| e.0) {
                Ok(i) if self.elsewhere[i].1 != short(digest) => Err(changed()),
                Ok(i) => Ok(Seen::Elsewhere {
                    at: DateTime::from_timestamp_nanos(self.elsewhere[i].2),
                    began: self.elsewhere[i].3,
                }),
                Err(_) => Ok(Seen::New),
            },
        }
    }

    /// Records, durably, that line `line` is about to send `request`, stamped `at`; returns
    /// once it is on disk.
    pub async fn begin(
        &self,
        line: u64,
        digest: &str,
        at: DateTime<Utc>,
        request: &PreparedRequest,
    ) -> Result<()> {
        let (key, began) = (request.identity.shown(), request.began());
        self.begin_as(line, digest, at, key, began).await
    }

    /// [`IngestJournal::begin`] of a request shown as `key` that identifies itself as `began`.
    async fn begin_as(
        &self,
        line: u64,
        digest: &str,
        at: DateTime<Utc>,
        key: Option<String>,
        began: Began,
    ) -> Result<()> {
        let text = serde_json::to_string(&Line::Begin {
            line,
            digest: digest.to_owned(),
            at: at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            key,
            identity: began.text(),
        })
        .expect("journal lines serialize");
        let n = self.send(Msg::Begin(text))?;
        self.synced
            .wait(n)
            .await
            .map_err(io("writing the journal", &self.path))
    }

    /// Records line `line`'s final outcome (`created`, `duplicate`, `recovered`, `partial`)
    /// and record id, or that it settled undelivered ([`SETTLED_FAILED`]).
    pub fn end(&self, line: u64, outcome: &str, id: Option<&str>) -> Result<()> {
        let text = serde_json::to_string(&Line::End {
            line,
            outcome: outcome.to_owned(),
            id: id.map(str::to_owned),
        })
        .expect("journal lines serialize");
        self.send(Msg::End(text)).map(drop)
    }

    /// Sends `msg` to the writer; the number of begins sent so far (counted from 1).
    fn send(&self, msg: Msg) -> Result<u64> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let begin = matches!(msg, Msg::Begin(_));
        if writer.tx.as_ref().and_then(|w| w.send(msg).ok()).is_none() {
            return Err(io("writing the journal", &self.path)(
                std::io::Error::other("the journal is closed"),
            ));
        }
        writer.begins += u64::from(begin);
        Ok(writer.begins)
    }

    /// Writes what is pending, syncs and closes the file.
    pub fn close(&self) {
        drop(
            self.writer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .tx
                .take(),
        );
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

impl Drop for IngestJournal {
    fn drop(&mut self) {
        self.close();
    }
}

/// The destination of the first `destination` line of a journal, if it has one.
fn first_destination(file: &File) -> std::io::Result<Option<Destination>> {
    let mut reader = BufReader::new(file);
    let mut buf = String::new();
    loop {
        buf.clear();
        if reader.read_line(&mut buf)? == 0 || !buf.ends_with('\n') {
            return Ok(None);
        }
        if buf.starts_with("{\"destination\"")
            && let Ok(Line::Destination { destination }) = serde_json::from_str(&buf)
        {
            return Ok(Some(destination));
        }
    }
}

/// The least time between two writes (and syncs) of the journal: at high rates, the begins of
/// many records share one sync instead of each few paying their own; a begin waits at most this
/// long more (records are prepared ahead of their sends, so the wait overlaps them).
const WRITE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(5);

/// The writer: waits for a message, then until [`WRITE_INTERVAL`] has passed since its last
/// write, takes every message waiting, writes them in one go, syncs when a begin is among
/// them, then tells [`Synced`] how many begins are on disk. The first failed write or sync
/// ends the journal: nothing more is written (a torn line stays the last one, which the next
/// open cuts off), and every begin waiting or still to come fails.
fn write_loop(mut file: File, rx: &mpsc::Receiver<Msg>, synced: &Synced) {
    /// Fails the waiting begins if the loop panics (they would wait forever otherwise).
    struct OnPanic<'a>(&'a Synced);
    impl Drop for OnPanic<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0
                    .fail(&std::io::Error::other("the journal writer stopped"));
            }
        }
    }
    let _guard = OnPanic(synced);
    let mut text = String::new();
    let (mut begins, mut last, mut failed) = (0u64, None::<std::time::Instant>, false);
    while let Ok(first) = rx.recv() {
        if failed {
            continue;
        }
        if let Some(last) = last {
            std::thread::sleep(WRITE_INTERVAL.saturating_sub(last.elapsed()));
        }
        last = Some(std::time::Instant::now());
        let before = begins;
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Begin(line) => {
                    text.push_str(&line);
                    begins += 1;
                }
                Msg::End(line) => text.push_str(&line),
            }
            text.push('\n');
            next = rx.try_recv().ok();
        }
        let mut written = file.write_all(text.as_bytes());
        if written.is_ok() && begins > before {
            written = file.sync_data();
        }
        match written {
            Ok(()) if begins > before => synced.reached(begins),
            Ok(()) => {}
            Err(e) => {
                failed = true;
                synced.fail(&e);
            }
        }
        text.clear();
    }
    if !failed {
        let _ = file.sync_data();
    }
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
