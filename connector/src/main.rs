//! The `usage-connector` binary: parse the command line, set up logging, run the command
//! (`cli/`, one module per command), print its output and exit with the contract's code.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// mimalloc: `ingest` allocates and frees a few dozen small values per record; in a profile of
/// an ingest run, about 12 % of its samples were in the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    quiet_on_a_closed_pipe();
    let args = cli::Cli::parse();
    // TLS uses rustls with ring (no aws-lc); logs go to stderr, filtered by RUST_LOG.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(std::env::var_os("NO_COLOR").is_none())
        .init();
    match cli::run(args) {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: writing output: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Err(cli::Failure {
            code,
            error,
            quiet: true,
        }) => {
            let _ = std::io::stdout()
                .lock()
                .write_all(error.to_string().as_bytes());
            ExitCode::from(code)
        }
        Err(cli::Failure {
            code,
            error,
            quiet: false,
        }) => {
            eprintln!("error: {}", chain(&error));
            ExitCode::from(code)
        }
    }
}

/// An error and its causes, outermost first, each cause once: the library's errors already
/// name their cause in their own text (`reading the input: …`), which anyhow's `{:#}` would
/// repeat.
fn chain(error: &anyhow::Error) -> String {
    let mut out = String::new();
    for part in error.chain().map(ToString::to_string) {
        if out.contains(&part) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&part);
    }
    out
}

/// Exit code of a process a closed pipe ended (128 + SIGPIPE, as a shell shows it).
const CLOSED_PIPE: i32 = 141;

/// A closed pipe (`run … | head`) ends the process quietly, as it ends other tools, instead of
/// a panic's message and backtrace: a run is left as a kill leaves it (its journal resumes it).
fn quiet_on_a_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if text.starts_with("failed printing to") && text.contains("Broken pipe") {
            std::process::exit(CLOSED_PIPE);
        }
        default(info);
    }));
}
