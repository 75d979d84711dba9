//! What the commands share; no command imports another. Reading definitions and inputs
//! ([`definition`], [`files`]), credentials, the execution options and journals
//! ([`execution`]), the Http task a command sends ([`task_args`]), a run and its resume
//! ([`session`]), and what is printed while things run ([`lines`], [`progress`], [`watch`]).

pub mod credentials;
pub mod definition;
pub mod execution;
pub mod files;
pub mod lines;
pub mod progress;
pub mod session;
pub mod task_args;
pub mod watch;
