//! Starting a sandbox on the current runtime, and the handle of one that runs.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::fixture::ApiKey;
use crate::{Config, Error, app, auth, connections, listener, store};

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
