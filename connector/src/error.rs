//! The library's one error type.
//!
//! Policy: errors name the thing the user gave (endpoint id, file path) and what was expected;
//! they never carry secrets.

use std::path::PathBuf;

/// Everything the library can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An endpoint id that is not in the catalog.
    #[error("unknown endpoint `{id}`; known endpoints: {known}")]
    UnknownEndpoint {
        /// The id given.
        id: String,
        /// Comma-separated list of valid ids.
        known: String,
    },
    /// A path override that cannot be applied.
    #[error("invalid path override for `{id}`: {reason}")]
    PathOverride {
        /// Endpoint id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("reading", "writing", …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An ingest journal that cannot be used.
    #[error("journal {path}, line {line}: {reason}")]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// Its line (1-based).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A journal another process holds: a delivery with it is going on there.
    #[error(
        "journal {path} is in use by another process (a delivery with it is going on there): wait for it to end, then run the same command again; it goes on where that one stopped"
    )]
    InUse {
        /// The journal file.
        path: PathBuf,
    },
    /// The input changed under an existing ingest journal.
    #[error(
        "input line {line} is not the line journal {journal} recorded: the input changed since; restore it, or start over with another --journal (records already sent would be sent again)"
    )]
    InputChanged {
        /// The input line.
        line: u64,
        /// The journal file.
        journal: PathBuf,
    },
    /// An ingest on Restate could not build its HTTP client.
    #[error("ingest on Restate: building the HTTP client: {0}")]
    RestateClient(#[source] reqwest::Error),
    /// A task of an ingest on Restate (journaling a begin, waiting for a shard) ended without
    /// its result (it panicked).
    #[error("ingest on Restate: {what} ended abnormally: {message}")]
    IngestTask {
        /// Which task.
        what: &'static str,
        /// Why.
        message: String,
    },
    /// The Restate ingress refused a shard outright (a 4xx).
    #[error("ingest on Restate: submitting shard {shard}: {status} {body}")]
    ShardRefused {
        /// The shard's workflow id.
        shard: String,
        /// The HTTP status.
        status: u16,
        /// The answer's body.
        body: String,
    },
    /// A shard answered with something that is not a shard reply.
    #[error("ingest on Restate: shard {shard}: its answer cannot be read: {message}")]
    ShardAnswer {
        /// The shard's workflow id.
        shard: String,
        /// Why.
        message: String,
    },
    /// A shard could not be submitted or answered before the patience ran out.
    #[error("ingest on Restate: shard {shard}: no answer within the patience; last: {last}")]
    ShardPatience {
        /// The shard's workflow id.
        shard: String,
        /// The last failure seen.
        last: String,
    },
    /// A generated schema failed to compile (a bug in the generator).
    #[error("schema {name} does not compile: {message}")]
    SchemaCompile {
        /// Which schema.
        name: String,
        /// The validator's message.
        message: String,
    },
    /// The metrics could not be served (the address cannot be bound, or a recorder is
    /// installed already).
    #[error("serving metrics on {addr}: {message}")]
    Metrics {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why not.
        message: String,
    },
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
