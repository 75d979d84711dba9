//! `usage-connector sandbox`: the local API server of both vendors, until Ctrl-C.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

/// Arguments of `sandbox`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 picks a free one).
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
    /// (also 504: answered after the write; prefix=/usages to limit them to a path prefix,
    /// retry-after=2s).
    #[arg(long, value_name = "SPEC", default_value = "")]
    faults: String,
    /// Seed of the fault draws: the same seed gives the same fault sequence.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How long a client may take to send a request head, and its body [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = usage_sandbox::faults::parse_duration)]
    header_read_timeout: Option<Duration>,
    /// How long a kept-alive connection may sit idle between requests [default: 60s].
    #[arg(long, value_name = "DURATION", value_parser = usage_sandbox::faults::parse_duration)]
    idle_timeout: Option<Duration>,
    /// Most connections open at once; past it the least recently active idle one is closed
    /// [default: 1000].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Limit writes to N per second per API key (a token bucket with one second of burst);
    /// past it a write gets 429 with the vendor's rate-limit headers. Default: unlimited.
    #[arg(long, value_name = "N/s", value_parser = usage_sandbox::ratelimit::parse_rate)]
    rate_limit: Option<u32>,
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
    let mut config = usage_sandbox::Config {
        addr: args.addr,
        state: args.state,
        fixture,
        faults,
        seed: args.seed,
        rate_limit: args.rate_limit,
        ..usage_sandbox::Config::default()
    };
    config.header_read_timeout = args
        .header_read_timeout
        .unwrap_or(config.header_read_timeout);
    config.idle_timeout = args.idle_timeout.unwrap_or(config.idle_timeout);
    config.max_connections = args.max_connections.unwrap_or(config.max_connections);
    super::runtime()?.block_on(async {
        let running = usage_sandbox::start(config).await?;
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
