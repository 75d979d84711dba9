//! The integration tests of `connector`, one binary (one link, one `target/` entry): a module
//! per concern, helpers in `common/`.

mod author;
mod cli;
mod common;
mod exactly_once;
mod execute;
mod ingest;
mod ingest_input;
mod ingest_pace;
mod ingest_template;
mod preflight;
mod preflight_shared;
mod prepare;
mod readme;
mod retry_loop;
mod runner;
mod sandbox_cli;
mod schemas;
mod secrets;
mod studio;
mod unhappy;
mod validate;
mod workflow_schema;
