//! The state file: a JSON-lines journal of committed writes, locked by one sandbox at a time.
//!
//! Policy: a write is acknowledged only after its whole line, newline included, is `fsync`ed.
//! So on open a last line that is not a journal entry (half a line from a crash or a full disk)
//! was never acknowledged: it is cut off and the file synced before anything is appended. A
//! complete last entry that lacks only its newline gets one. Any other line that is not an entry
//! is an error naming it: the sandbox never drops a write it may have acknowledged. A failed
//! append is cut back off the file; if even that fails, every later write is refused until a
//! restart. The file is locked exclusively (`flock`) for the sandbox's lifetime, so a second
//! sandbox on it fails to start instead of issuing the same ids.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

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

/// An open, locked journal.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    /// Bytes of complete, synced entries: where a failed append is cut back to.
    len: u64,
    unwritable: bool,
}

/// What opening a journal found: its entries with their 1-based line numbers, and how many
/// bytes of a torn last line were cut off.
#[derive(Debug)]
pub struct Replay {
    /// Entries in order, with their line numbers.
    pub entries: Vec<(usize, Entry)>,
    /// Bytes cut off the end (a torn last line); 0 when the file ended cleanly.
    pub cut: u64,
}

impl Journal {
    /// Opens `path` (creating it), locks it, reads its entries and repairs its tail (see the
    /// module policy).
    pub fn open(path: &Path) -> Result<(Journal, Replay), Error> {
        let io = |source| Error::StateIo {
            path: path.to_path_buf(),
            source,
        };
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::StateLocked {
                    path: path.to_path_buf(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(io(source)),
        }
        if created {
            sync_parent(path).map_err(io)?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let (entries, tail) = read_entries(path, &bytes)?;
        let mut len = bytes.len() as u64;
        let mut cut = 0;
        match tail {
            Tail::Clean => {}
            Tail::Unterminated => {
                file.write_all(b"\n")
                    .and_then(|()| file.sync_data())
                    .map_err(io)?;
                len += 1;
            }
            Tail::Torn { at } => {
                cut = len - at as u64;
                file.set_len(at as u64)
                    .and_then(|()| file.sync_all())
                    .map_err(io)?;
                len = at as u64;
            }
        }
        let journal = Journal {
            file,
            path: path.to_path_buf(),
            len,
            unwritable: false,
        };
        Ok((journal, Replay { entries, cut }))
    }

    /// Appends `entry` as one line and `fsync`s it; on failure the file is cut back to what it
    /// held before, so no half line is left for the next append to join.
    pub fn append(&mut self, entry: &Entry) -> Result<(), Error> {
        if self.unwritable {
            return Err(Error::StateUnwritable {
                path: self.path.clone(),
            });
        }
        let io = |source| Error::StateIo {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(entry).map_err(|e| io(std::io::Error::other(e)))?;
        line.push(b'\n');
        match self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
        {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(source) => {
                let undone = self
                    .file
                    .set_len(self.len)
                    .and_then(|()| self.file.sync_all());
                self.unwritable = undone.is_err();
                Err(io(source))
            }
        }
    }
}

/// How the file ends.
enum Tail {
    /// With a newline (or empty).
    Clean,
    /// With a complete entry that lacks its newline.
    Unterminated,
    /// With a torn line starting at this byte.
    Torn { at: usize },
}

/// The entries of `bytes` and how the file ends; a line that is not an entry is an error unless
/// only blank lines follow it (then it is the torn tail).
fn read_entries(path: &Path, bytes: &[u8]) -> Result<(Vec<(usize, Entry)>, Tail), Error> {
    let mut entries = Vec::new();
    let mut start = 0;
    let mut number = 0;
    while start < bytes.len() {
        number += 1;
        let end = bytes[start..]
            .iter()
            .position(|b| *b == b'\n')
            .map(|i| start + i);
        let line = &bytes[start..end.unwrap_or(bytes.len())];
        if !line.trim_ascii().is_empty() {
            match serde_json::from_slice::<Entry>(line) {
                Ok(entry) => entries.push((number, entry)),
                Err(_) if bytes[start + line.len()..].trim_ascii().is_empty() => {
                    return Ok((entries, Tail::Torn { at: start }));
                }
                Err(e) => {
                    return Err(Error::StateCorrupt {
                        path: path.to_path_buf(),
                        line: number,
                        message: e.to_string(),
                    });
                }
            }
            if end.is_none() {
                return Ok((entries, Tail::Unterminated));
            }
        }
        start = end.map_or(bytes.len(), |e| e + 1);
    }
    Ok((entries, Tail::Clean))
}

/// Makes a new file's directory entry durable.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USAGE: &str =
        r#"{"op":"usage","record":{"id":"sub_usg_1","subscriptionId":"s","quantity":1.5}}"#;

    fn file(name: &str, text: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "usage-sandbox-journal-{}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_torn_last_line_is_cut_before_the_next_append() {
        for torn in [
            &b"{\"op\":\"usage\",\"rec"[..],
            b"\0\0\0\0",
            b"{\"op\":\"nope\"}\n\n",
        ] {
            let mut text = format!("{USAGE}\n").into_bytes();
            text.extend_from_slice(torn);
            let path = file("torn", &text);
            let (mut journal, replay) = Journal::open(&path).unwrap();
            assert_eq!(replay.entries.len(), 1);
            assert_eq!(replay.cut, torn.len() as u64);
            journal
                .append(&Entry::DeleteUsage { id: "x".into() })
                .unwrap();
            drop(journal);
            let (_, replay) = Journal::open(&path).unwrap();
            let lines: Vec<usize> = replay.entries.iter().map(|(n, _)| *n).collect();
            assert_eq!(
                (lines, replay.cut),
                (vec![1, 2], 0),
                "the write after the cut survives"
            );
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn a_complete_unterminated_entry_is_kept_and_terminated() {
        let path = file("unterminated", USAGE.as_bytes());
        let (mut journal, replay) = Journal::open(&path).unwrap();
        assert_eq!((replay.entries.len(), replay.cut), (1, 0));
        journal
            .append(&Entry::DeleteUsage { id: "x".into() })
            .unwrap();
        drop(journal);
        assert_eq!(Journal::open(&path).unwrap().1.entries.len(), 2);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_bad_line_before_the_last_is_an_error_naming_it() {
        let path = file("corrupt", format!("{USAGE}\ngarbage\n{USAGE}\n").as_bytes());
        let err = Journal::open(&path).unwrap_err();
        assert!(matches!(err, Error::StateCorrupt { line: 2, .. }), "{err}");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_second_open_is_refused_while_the_first_holds_the_lock() {
        let path = file("locked", b"");
        let (first, _) = Journal::open(&path).unwrap();
        let err = Journal::open(&path).unwrap_err();
        assert!(matches!(err, Error::StateLocked { .. }), "{err}");
        assert!(
            err.to_string().contains("in use by another sandbox"),
            "{err}"
        );
        drop(first);
        assert!(Journal::open(&path).is_ok(), "the lock goes with the file");
        std::fs::remove_file(&path).unwrap();
    }
}
