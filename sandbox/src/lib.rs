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
pub mod connections;
pub mod cost;
pub mod decimal;
pub mod faults;
pub mod fixture;
pub mod journal;
pub mod listener;
pub mod ratelimit;
pub mod rebilly;
pub mod respond;
pub mod schemas;
pub mod server;
pub mod solvimon;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use faults::{Fault, FaultSpec};
pub use fixture::{ApiKey, Fixture};
use tokio::sync::watch;
use tokio::task::JoinHandle;

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

/// Why the sandbox could not start, or a write could not be committed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// I/O on the state file.
    #[error("state file {path}: {source}")]
    StateIo {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another sandbox (in this or another process) holds the state file.
    #[error(
        "state file {path} is in use by another sandbox (it is locked); stop that one or use another file"
    )]
    StateLocked {
        /// The file.
        path: PathBuf,
    },
    /// A journal line that is not an entry, or an entry that cannot be replayed (other than a
    /// torn last line, which is cut off).
    #[error("state file {path}: line {line} is not a journal entry: {message}")]
    StateCorrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A failed write could not be cut back off the state file; writes are refused until a
    /// restart (which cuts the torn line).
    #[error("state file {path}: a failed write could not be undone; restart the sandbox")]
    StateUnwritable {
        /// The file.
        path: PathBuf,
    },
    /// A write the state cannot take (a total beyond the decimal range); nothing was written.
    #[error("write refused: {0}")]
    Refused(String),
}

/// A running sandbox.
pub struct Running {
    addr: SocketAddr,
    keys: Vec<ApiKey>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API keys it accepts, with their permissions.
    pub fn keys(&self) -> &[ApiKey] {
        &self.keys
    }

    /// The least-privileged key that may write and read for `vendor` (`"solvimon"`: holds
    /// `METER_DATA.INGEST` and `METER_DATA.VIEW`; `"rebilly"`: `USAGES.CREATE` and
    /// `USAGES.VIEW`) — what a client that reads back its own writes (a lookup after a lost
    /// answer) needs — as [`Running::key_with`] picks it; `None` for another vendor name or when
    /// no key holds both.
    pub fn dev_key(&self, vendor: &str) -> Option<&ApiKey> {
        let auth = auth::VendorAuth::named(vendor)?;
        self.key_with(&[auth.write, auth.read])
    }

    /// Of the keys holding every one of `permissions`, the one with the fewest permissions in
    /// all (ties: the first in the fixture); `None` when no key holds them all.
    pub fn key_with(&self, permissions: &[&str]) -> Option<&ApiKey> {
        auth::least_privileged(&self.keys, permissions)
    }

    /// Stops accepting, closes open connections and waits for their tasks (so the state file
    /// is unlocked when it returns).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts the sandbox on the current tokio runtime.
pub async fn start(config: Config) -> Result<Running, Error> {
    let store = store::Store::open(&config.fixture, config.state.as_deref())?;
    let registry = connections::Registry::new(config.limits());
    let listener = listener::bind(config.addr)
        .await
        .map_err(|source| Error::Bind {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: config.addr,
        source,
    })?;
    let keys = config.fixture.keys.clone();
    let app = Arc::new(
        app::App::new(
            config.fixture,
            store,
            config.faults,
            config.seed,
            config.record_requests,
        )
        .with_rate_limit(config.rate_limit),
    );
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(listener::serve(listener, app, registry, stopped));
    Ok(Running {
        addr,
        keys,
        stop,
        task,
    })
}
