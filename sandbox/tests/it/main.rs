//! The integration tests of `sandbox`, one binary (one link, one `target/` entry): a module
//! per concern.

mod api;
mod connections;
mod decimals;
mod keys;
mod state;
