//! usage-test-support: what the workspace's integration tests share — a sandbox on loopback
//! ([`Sandbox`]), its dev keys, an HTTP client, calls that return status, headers and JSON, the
//! vendor POST shortcuts and typed reads of what the sandbox stored.
//!
//! Policy: these are test helpers, so they panic (with the path and what came back) on anything
//! a test did not ask about: a transport error, a body that is not JSON, a read that is not 200,
//! a key the fixture lacks. Calls that a test checks return the answer as it came, whatever the
//! status. Keys come from the running sandbox (`Running::dev_key`, `Running::key_with`), never
//! from literals. No dependency on the connector crate: its tests depend on this one.
//!
//! ```no_run
//! # async fn demo() {
//! let s = usage_test_support::Sandbox::start().await;
//! let (status, _, usage) = s
//!     .rebilly("/usages", serde_json::json!({"subscriptionId": "sub_unlimited", "quantity": 1}))
//!     .await;
//! assert_eq!(status, 201);
//! assert_eq!(s.usages(&[]).await.total, 1);
//! # let _ = usage;
//! s.shutdown().await;
//! # }
//! ```

mod reads;
mod sandbox;

pub use reads::{Records, Usages};
pub use sandbox::{Answer, Sandbox};

/// A test's random seed: the variable `var` when it holds a number (to replay a failure), else
/// one drawn from the clock. Printed as `VAR=SEED` on stderr, so a failing run can be replayed.
#[allow(clippy::print_stderr)]
pub fn seed_from_env(var: &str) -> u64 {
    let seed = std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("{var}={seed}");
    seed
}

/// Installs rustls' ring crypto provider for the process (reqwest is built with
/// `rustls-no-provider`, so without it the first client panics); later calls do nothing.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
