//! usage-connector: report usage and ingest billing events (Solvimon meter data, Rebilly
//! usages) from workflow HTTP tasks without sending a bad request, losing an event or charging
//! twice.
//!
//! Map of the crate (see `docs/architecture.md`):
//! - [`catalog`]: the five endpoints (paths, servers, auth, permissions, schema files).
//! - [`model`]: typed requests and responses carrying every constraint of the vendor pages.
//! - [`simworkflow`]: SimWorkflow's workflow-definition model.
//! - [`schemas`]: JSON Schema emission (draft 2020-12) and drift checking.
//! - [`validators`]: compiled validators for the emitted schemas, built once per process.
//! - [`validate`]: workflow validation (design time and run time) with located diagnostics.
//! - [`execute`]: the plugin trait and the Http executor (retries, idempotency, exact quantities).
//!
//! The library never prints, exits or reads environment variables; the binary does.

pub mod catalog;
pub mod condition;
pub mod error;
pub mod execute;
pub mod model;
pub mod runner;
pub mod schemas;
pub mod simworkflow;
pub mod validate;
pub mod validators;

pub use catalog::{Catalog, Endpoint, EndpointId, Vendor};
pub use error::{Error, Result};
