//! usage-connector workflows on Restate, the distributed durable engine: the same definitions
//! the local runner runs, through the same interpreter and executor, with every effect
//! journaled so that a crash, a lost node or an engine retry never loses or doubles a usage.
//!
//! [`Connector::endpoint`] serves three services: `UsageWorkflow` (key = execution id; handler
//! `run` takes `{definition, input}` and answers `{status, output}` as `usage-connector run`
//! does), `UsageBranch` (one Parallel branch) and `IngestShard` (one shard of
//! `usage-connector ingest --engine restate`). See docs/engines.md and docs/ingest.md.

// A task's error is the run's answer, carried by value as the connector's own API does.
#![allow(clippy::result_large_err)]

mod ctx;
mod engine;
mod error;
mod ingest;
mod journaled;
mod plans;
mod serve;
mod service;

pub use engine::{BranchEnd, BranchOutcome};
pub use error::Error;
pub use ingest::IngestShard;
pub use serve::serve;
pub use service::{
    Attempt, BranchRequest, Connector, DEFAULT_RETENTION, RunReply, RunRequest, UsageBranch,
    UsageSequence, UsageWorkflow,
};
