//! `usage-connector sandbox`: the local API server of both vendors, until Ctrl-C.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

/// Arguments of `sandbox`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (loopback; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: std::net::SocketAddr,
    /// Keep state in this journal file: every acknowledged write survives a restart or
    /// kill -9. Without it, state is in memory.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Replace the default fixture (keys, customers, subscriptions and limits, prices).
    #[arg(long, value_name = "FILE")]
    fixture: Option<PathBuf>,
    /// Faults to inject, e.g. "503=0.1,429=0.05,reset=0.02,lost-response=0.02,delay=20ms"
    /// (also prefix=/usages to limit them to a path prefix, retry-after=2s).
    #[arg(long, value_name = "SPEC", default_value = "")]
    faults: String,
    /// Seed of the fault draws: the same seed gives the same fault sequence.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Runs the sandbox until interrupted; prints the banner as soon as it listens.
pub fn run(args: Args) -> anyhow::Result<String> {
    let fixture = match &args.fixture {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading fixture {}", path.display()))?;
            usage_sandbox::Fixture::parse(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => usage_sandbox::Fixture::default_fixture(),
    };
    let faults = usage_sandbox::FaultSpec::parse(&args.faults)
        .map_err(|e| anyhow::anyhow!("--faults: {e}"))?;
    super::runtime()?.block_on(async {
        let running = usage_sandbox::start(usage_sandbox::Config {
            addr: args.addr,
            state: args.state,
            fixture,
            faults,
            seed: args.seed,
            record_requests: false,
        })
        .await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", running.url())?;
        for key in running.keys() {
            writeln!(
                out,
                "api key {} permissions {}",
                key.key,
                key.permissions.join(",")
            )?;
        }
        out.flush()?;
        drop(out);
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        running.shutdown().await;
        anyhow::Ok(String::new())
    })
}
