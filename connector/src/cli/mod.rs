//! The command line: argument types, the exit-code contract and dispatch, one module per
//! command; what commands share is in [`shared`].
//!
//! Policy: data goes to stdout, logs and progress to stderr. Exit codes: 0 ok, 1 the input is
//! invalid or the call failed, 2 usage or I/O error. The binary holds no vendor facts: header
//! names, environment variable names and URLs come from the catalog, dev keys from the
//! running sandbox.

mod call;
mod endpoints;
mod ingest;
mod resume;
mod run;
mod sandbox;
mod schemas;
mod shared;
mod shell;
mod studio;
mod validate;

use clap::{Parser, Subcommand, ValueEnum};
use usage_connector::catalog::{Catalog, EndpointId};

/// Report usage and ingest billing events (Solvimon, Rebilly) from workflow HTTP tasks safely.
#[derive(Debug, Parser)]
#[command(name = "usage-connector", version = env!("USAGE_CONNECTOR_VERSION"), about, long_about = None)]
pub struct Cli {
    /// Replace an endpoint's path template, e.g.
    /// `solvimon.ingest-charge=/v{version}/ingest/charges` (repeatable). Use it when an
    /// inferred path (charge, adjustment) turns out to differ. The sandbox keeps serving the
    /// inferred paths.
    #[arg(long = "path-override", value_name = "ID=TEMPLATE", global = true)]
    path_overrides: Vec<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the catalog: endpoint ids, methods, paths, servers, auth and permissions.
    Endpoints(endpoints::Args),
    /// Write the JSON Schemas of every endpoint (request, response, SimWorkflow Http task),
    /// the catalog index and the workflow-definition schema; or check them for drift.
    Schemas(schemas::Args),
    /// Check SimWorkflow workflow definitions: structure, routing, placeholders, and every Http
    /// task against the catalog endpoint it calls. Reports all problems of all files.
    ///
    /// Folders are searched for `*.json`, skipping `examples/` folders (inputs live there).
    /// Exit 0 when valid (warnings allowed), 1 when any definition is invalid, 2 on usage or
    /// I/O errors (a path that cannot be read is named on stderr; the others are still
    /// checked and reported).
    Validate(validate::Args),
    /// Send one request to an endpoint, like SimWorkflow's "Test request": validate it, add
    /// credentials and idempotency, retry what can be retried, print the task output as JSON.
    ///
    /// Credentials: `--credential ID` from the credentials file (default ./credentials.json if
    /// present), else its entry named after the vendor (`solvimon`, `rebilly`), else the
    /// vendor's environment variable (SOLVIMON_API_KEY / REBILLY_API_KEY). Exit 0 on success, 1
    /// when the body is invalid or the call fails (the API's error body is printed), 2 on usage
    /// or I/O errors.
    Call(call::Args),
    /// Run a workflow definition locally: Http tasks through the executor, Decision, Parallel
    /// and Terminate as SimWorkflow would; an input that leads to a Simple task is refused
    /// before the first write (E-NO-HANDLER: handlers are registered through the library,
    /// Runner::with_simple_handler). Prints each task as it
    /// finishes on stderr and the workflow output JSON on stdout; exit 0 Completed, 1 Failed or
    /// invalid, 2 usage or I/O error, 141 when stderr's reader stopped (`2>&1 | head`: the run
    /// ends there, as a kill ends it).
    ///
    /// Before the first write, pre-flight checks the input against the definition's
    /// inputSchema, every task's credentials id, and every request the input alone resolves
    /// (exit 1, nothing sent, when one fails). A run that fails in a task or is interrupted
    /// (Ctrl-C) ends with `to resume: COMMAND` on stderr. The run journal is
    /// .usage-connector/runs/ID.jsonl in the current folder unless --journal says otherwise.
    ///
    /// With no --server, an embedded sandbox serves both vendors and supplies its dev keys for
    /// the credentials ids `solvimon`, `rebilly` and those of the credentials file: nothing to
    /// set up.
    Run(run::Args),
    /// Continue a run that failed or was interrupted, under the same workflow id, from its run
    /// journal: tasks that completed are not sent again (their recorded outputs are reused);
    /// the task that failed runs again with the same identity (looked up first when it may
    /// have been recorded). Exit codes as `run`.
    Resume(resume::Args),
    /// Send every record of a file (NDJSON or CSV, gzip read through) through one Http task of
    /// a definition (--task DEFINITION#TASK: each record is the task's input) or to an endpoint
    /// (--endpoint ID: each record is the body), exactly once across restarts: a journal
    /// (default INPUT.journal) lets the same command, run again, skip what was delivered and
    /// resolve what was in flight. Bad records are reported by line and skipped. Exit 0 when
    /// every record is delivered, 1 otherwise, 2 on usage or I/O errors. docs/ingest.md.
    Ingest(ingest::Args),
    /// Run a local server of both APIs (Solvimon meter data, Rebilly usages) for offline use
    /// and tests. Prints `listening on http://HOST:PORT`, then one `api key KEY permissions
    /// P1,P2` line per dev key; runs until interrupted (Ctrl-C). Behaviour: docs/sandbox.md.
    Sandbox(sandbox::Args),
    /// A local web page for authors: the catalog, the definitions of DIR with `validate`'s
    /// diagnostics as they are typed and a graph of each, and one task tested against the
    /// embedded sandbox (or --server). Prints `listening on http://127.0.0.1:PORT/?token=…`
    /// first; every request needs that token. Runs until interrupted. docs/studio.md.
    Studio(studio::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    ///
    /// Install it where the shell loads completions, e.g. `usage-connector completions bash >
    /// ~/.local/share/bash-completion/completions/usage-connector`; zsh: a file
    /// `_usage-connector` in a folder of `$fpath`; fish:
    /// `~/.config/fish/completions/usage-connector.fish`.
    Completions(shell::CompletionsArgs),
    /// Print the man page, usage-connector(1), to stdout (--out DIR: every page, one per
    /// subcommand too).
    ///
    /// E.g. `usage-connector man --out ~/.local/share/man/man1`, then `man usage-connector`
    /// or `man usage-connector-run`.
    Man(shell::ManArgs),
}

/// Output format of commands whose output is data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// JSON.
    Json,
}

/// A failure with its exit code. A `quiet` failure's text is data for stdout (e.g. the
/// diagnostics of invalid definitions, a failed call's error JSON), not an error message.
pub struct Failure {
    /// Exit code.
    pub code: u8,
    /// What went wrong (or the data to print, when quiet).
    pub error: anyhow::Error,
    /// Whether `error` is data for stdout.
    pub quiet: bool,
}

impl Failure {
    /// Exit 1 with `text` on stdout (invalid input, a failed call or run).
    pub fn data(text: String) -> Self {
        Failure {
            code: 1,
            error: anyhow::anyhow!("{text}"),
            quiet: true,
        }
    }

    /// Exit 1 with `error` on stderr.
    pub fn invalid(error: anyhow::Error) -> Self {
        Failure {
            code: 1,
            error,
            quiet: false,
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure {
            code: 2,
            error,
            quiet: false,
        }
    }
}

/// The built-in catalog with the `--path-override`s applied.
fn catalog(overrides: &[String]) -> anyhow::Result<Catalog> {
    let mut catalog = Catalog::builtin();
    for item in overrides {
        let Some((id, template)) = item.split_once('=') else {
            anyhow::bail!("--path-override expects ID=TEMPLATE, got `{item}`");
        };
        let id: EndpointId = id.parse()?;
        catalog.override_path(id, template)?;
    }
    Ok(catalog)
}

/// Runs the parsed command; `Ok` is the text for stdout.
pub fn run(cli: Cli) -> Result<String, Failure> {
    let catalog = catalog(&cli.path_overrides)?;
    match cli.command {
        Command::Endpoints(args) => Ok(endpoints::run(&catalog, &args)?),
        Command::Schemas(args) => schemas::run(&catalog, &args),
        Command::Validate(args) => validate::run(&catalog, &args),
        Command::Call(args) => call::run(&catalog, args),
        Command::Run(args) => run::run(&catalog, args),
        Command::Resume(args) => resume::run(&catalog, args),
        Command::Ingest(args) => ingest::run(&catalog, args),
        Command::Sandbox(args) => Ok(sandbox::run(args)?),
        Command::Studio(args) => Ok(studio::run(&catalog, args)?),
        Command::Completions(args) => Ok(shell::completions(&args)?),
        Command::Man(args) => Ok(shell::man(&args)?),
    }
}

/// A multi-threaded tokio runtime for a command's network work.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Runtime::new().context("starting the async runtime")
}

/// A tokio runtime on the calling thread, for ingest: thousands of small record tasks a second
/// hand off to each other without waking other threads (the reader and the journal's writer
/// keep threads of their own, and one thread prepares far more records than an API accepts).
fn local_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
