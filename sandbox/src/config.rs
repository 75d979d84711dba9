//! How to run the sandbox: address, state file, fixture, faults, timeouts, limits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::connections;
use crate::faults::FaultSpec;
use crate::fixture::Fixture;

/// How to run the sandbox.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind (`127.0.0.1:0` picks a free port).
    pub addr: SocketAddr,
    /// Journal file; `None` keeps state in memory.
    pub state: Option<PathBuf>,
    /// Fixture (keys, customers, subscriptions, prices).
    pub fixture: Fixture,
    /// Faults to inject.
    pub faults: FaultSpec,
    /// Seed of the fault draws.
    pub seed: u64,
    /// Keep a log of every request (`GET /_sandbox/requests`), for tests that check retry
    /// timing; off by default (it grows with every request).
    pub record_requests: bool,
    /// How long a client may take to send a request head (from connecting, or from the first
    /// byte after an idle spell), and separately its body (then 408); default 10 s.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may sit idle between requests; default 60 s.
    pub idle_timeout: Duration,
    /// Most connections open at once (at least 1); past it a new connection takes the place of
    /// the least recently active one that is not busy, or gets a 503 when all are busy;
    /// default 1,000 (one file descriptor each: fits a 1,024 descriptor limit).
    pub max_connections: usize,
    /// Writes per second per API key (a token bucket with one second of burst; 429 past it,
    /// with the vendor's headers); `None`: unlimited.
    pub rate_limit: Option<u32>,
}

impl Config {
    /// The timeouts and the connection cap.
    pub fn limits(&self) -> connections::Limits {
        connections::Limits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            state: None,
            fixture: Fixture::default_fixture(),
            faults: FaultSpec::default(),
            seed: 0,
            record_requests: false,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1_000,
            rate_limit: None,
        }
    }
}
