//! The crate's one error type.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the sandbox could not start, or a write could not be committed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// I/O on the state file.
    #[error("state file {path}: {source}")]
    StateIo {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another sandbox (in this or another process) holds the state file.
    #[error(
        "state file {path} is in use by another sandbox (it is locked); stop that one or use another file"
    )]
    StateLocked {
        /// The file.
        path: PathBuf,
    },
    /// A journal line that is not an entry, or an entry that cannot be replayed (other than a
    /// torn last line, which is cut off).
    #[error("state file {path}: line {line} is not a journal entry: {message}")]
    StateCorrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A failed write could not be cut back off the state file; writes are refused until a
    /// restart (which cuts the torn line).
    #[error("state file {path}: a failed write could not be undone; restart the sandbox")]
    StateUnwritable {
        /// The file.
        path: PathBuf,
    },
    /// A write the state cannot take (a total beyond the decimal range); nothing was written.
    #[error("write refused: {0}")]
    Refused(String),
}
