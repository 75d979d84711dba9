//! The integration tests of `restate`, one binary (one link, one `target/` entry): a module
//! per concern, helpers in `common/`.

mod cluster;
mod common;
mod compat;
mod crash;
mod demo;
mod engines;
mod ingest;
mod semantics;
mod unhappy;
