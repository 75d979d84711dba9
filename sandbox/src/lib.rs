//! usage-sandbox: a local server of the Solvimon meter-data and Rebilly usages APIs, so the
//! connector runs offline, on a fresh machine and in every test.
//!
//! It validates requests with the connector's committed schemas, answers in each vendor's
//! error format, authenticates with fixture keys, applies Rebilly hard limits and Solvimon
//! duplicate/idempotency rules, predicts costs from a fixture price list with exact decimals,
//! injects deterministic faults, and can keep its state in a crash-safe journal. Behaviour and
//! the default fixture: `docs/sandbox.md`.
//!
//! Modules depend one way: [`listener`] (accept loop, one task per connection, under the
//! timeouts and cap of [`connections`]) → [`server`] (fault injection, body read, dispatch,
//! admin paths) → [`solvimon`] / [`rebilly`] (one vendor each) → the shared pieces: [`app`]
//! (state and logs), [`call`] (the parsed request), [`auth`], [`respond`] (vendor error
//! formats), [`schemas`], [`store`] (state) over [`journal`] (the locked state file),
//! [`decimal`] (exact numbers and the quantity rule), [`cost`] (Solvimon cost prediction),
//! [`faults`], [`ratelimit`] and [`fixture`]. No shared piece imports a vendor module or the server.
//! The top: [`Config`], [`Error`], and [`start`] giving a [`Running`] sandbox.
//!
//! ```no_run
//! # async fn demo() -> Result<(), usage_sandbox::Error> {
//! let sandbox = usage_sandbox::start(usage_sandbox::Config::default()).await?;
//! println!("listening on {}", sandbox.url());
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```

pub mod app;
pub mod auth;
pub mod call;
mod config;
pub mod connections;
pub mod cost;
pub mod decimal;
mod error;
pub mod faults;
pub mod fixture;
pub mod journal;
pub mod listener;
pub mod ratelimit;
pub mod rebilly;
pub mod respond;
mod running;
pub mod schemas;
pub mod server;
pub mod solvimon;
pub mod store;

pub use config::Config;
pub use error::Error;
pub use faults::{Fault, FaultSpec};
pub use fixture::{ApiKey, Fixture};
pub use running::{Running, start};
