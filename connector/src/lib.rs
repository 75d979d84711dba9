//! usage-connector: report usage and ingest billing events (Solvimon meter data, Rebilly
//! usages) from workflow HTTP tasks without sending a bad request, losing an event or charging
//! twice.
//!
//! Map of the crate, in the direction data flows (each module imports only from the ones
//! above it; see `docs/architecture.md`):
//! - foundations: [`catalog`] (the five endpoints: paths, servers, auth, permissions),
//!   [`decimal`] (exact quantities and the 3-decimal rule), [`diagnostic`] (located findings
//!   with stable codes), [`credentials`] (ids → auth header + secret), [`identity`]
//!   (idempotency identity, derived from the execution), [`journal`] (what a re-run of an
//!   execution reuses), [`error`] (the library's error type);
//! - [`template`]: the one template language (`${…}` placeholders over JSONPath, JSONata,
//!   spread); [`condition`]: the Decision condition language on the same paths;
//! - [`model`]: typed requests and responses carrying every constraint of the vendor pages;
//! - [`simworkflow`]: SimWorkflow's workflow-definition model and its one task walker;
//!   [`retry`]: the pure retry decision for a task's retry block;
//! - [`schemas`]: JSON Schema emission (draft 2020-12) and drift checking; [`validators`]:
//!   the compiled validators, built once per process;
//! - [`output`]: what a task reports (outputs, outcomes, quantities, typed errors);
//! - [`data`]: data passing (`inputParameters`, `resultSelector`, `resultPath`, `outputPath`,
//!   the context object): the one way from a task and its raw input to what it receives;
//! - [`vendor_rules`]: each API's rules behind one trait (prepare, classify, recover);
//! - [`prepare`]: the one pure prepare path (placeholders → vendor rules → validation);
//! - [`validate`]: workflow validation at design time and, through [`prepare`], run time;
//! - [`execute`]: the plugin trait and the Http executor (send loop, retries, tracing);
//! - [`runner`]: the local runner (a compiled [`runner::Plan`] run through task handlers).
//!
//! The library never prints, exits or reads environment variables; the binary does.

// A `TaskError` ends a task once and carries what a user needs to act (the API's body,
// attempts, diagnostics); boxing it would only move the allocation.
#![allow(clippy::result_large_err)]

pub mod catalog;
pub mod condition;
pub mod credentials;
pub mod data;
pub mod decimal;
pub mod diagnostic;
pub mod error;
pub mod execute;
pub mod identity;
pub mod ingest;
pub mod journal;
pub mod model;
pub mod output;
pub mod preflight;
pub mod prepare;
pub mod retry;
pub mod runner;
pub mod schemas;
pub mod simworkflow;
pub mod telemetry;
pub mod template;
pub mod validate;
pub mod validators;
pub mod vendor_rules;

pub use catalog::{Catalog, Endpoint, EndpointId, Vendor};
pub use error::{Error, Result};
