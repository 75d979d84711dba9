//! The state every request shares: fixture, store, fault spec and draw counter, and the logs
//! the admin paths read (injected faults; requests, when recording is on).
//!
//! Policy: the n-th request under the fault prefix draws fault n, whatever the vendor; every
//! injected fault is logged, requests only when `record_requests` is on (the log grows).
//! A panic while a lock is held cannot take the sandbox down: every lock here recovers from
//! poisoning ([`lock`]), which is sound because the store changes only through
//! [`Store::commit`], whose checked, fallible work all happens before its first mutation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::faults::{Fault, FaultSpec};
use crate::fixture::Fixture;
use crate::ratelimit::RateLimit;
use crate::store::Store;

/// One injected fault, as listed by `GET /_sandbox/faults`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FaultRecord {
    /// Draw number (requests under the fault prefix, in arrival order).
    pub n: u64,
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// The fault.
    pub fault: Fault,
}

/// One request, as listed by `GET /_sandbox/requests` (when recording is on).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RequestRecord {
    /// Arrival, Unix milliseconds.
    pub at_ms: u64,
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// What identifies the logical call: the `Idempotency-Key` (Solvimon) or
    /// `subscriptionId|usageTime` (Rebilly POST); `None` otherwise.
    pub identity: Option<String>,
    /// Status answered (`None` when the connection was dropped).
    pub status: Option<u16>,
    /// Injected fault.
    pub fault: Option<Fault>,
    /// For a 429 (injected, or over `--rate-limit`) or a 503 with a retry header: the earliest
    /// instant the server allows a retry, Unix milliseconds.
    pub retry_not_before_ms: Option<u64>,
}

/// Now, in Unix milliseconds (0 before 1970, saturating far in the future).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Locks `mutex`, recovering it if a thread panicked while holding it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shared server state.
pub struct App {
    /// Fixture.
    pub fixture: Fixture,
    store: Mutex<Store>,
    /// Fault spec.
    pub faults: FaultSpec,
    /// Fault seed.
    pub seed: u64,
    draws: AtomicU64,
    fault_log: Mutex<Vec<FaultRecord>>,
    requests: AtomicU64,
    /// Requests, when recording is on.
    pub request_log: Option<Mutex<Vec<RequestRecord>>>,
    /// The writes-per-second limit per key, when one is set.
    pub rate_limit: Option<RateLimit>,
    rate_limited: AtomicU64,
}

impl App {
    /// A new app.
    pub fn new(
        fixture: Fixture,
        store: Store,
        faults: FaultSpec,
        seed: u64,
        record_requests: bool,
    ) -> Self {
        App {
            fixture,
            store: Mutex::new(store),
            faults,
            seed,
            draws: AtomicU64::new(0),
            fault_log: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            request_log: record_requests.then(|| Mutex::new(Vec::new())),
            rate_limit: None,
            rate_limited: AtomicU64::new(0),
        }
    }

    /// Limits writes to `per_second` per key ([`RateLimit`]).
    pub fn with_rate_limit(mut self, per_second: Option<u32>) -> Self {
        self.rate_limit = per_second.map(RateLimit::new);
        self
    }

    /// Counts a write refused by the rate limit.
    pub fn count_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes refused by the rate limit so far.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    /// The data, locked (recovered if a request panicked while holding it). Hold it only for
    /// lookups and [`Store::commit`]: parse, validate and compute before taking it.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// Whether a thread panicked while holding the store lock (for the test that it recovers).
    #[cfg(test)]
    pub(crate) fn store_poisoned(&self) -> bool {
        self.store.is_poisoned()
    }

    /// The fault for this request: `None` outside the fault prefix or without fault rates
    /// (no draw is used up); otherwise the next draw, logged when it injects a fault.
    pub fn draw_fault(&self, method: &str, path: &str) -> Option<Fault> {
        if !self.faults.applies_to(path) || self.faults.rates.is_empty() {
            return None;
        }
        let n = self.draws.fetch_add(1, Ordering::SeqCst);
        let fault = self.faults.draw(self.seed, n)?;
        lock(&self.fault_log).push(FaultRecord {
            n,
            method: method.to_owned(),
            path: path.to_owned(),
            fault,
        });
        Some(fault)
    }

    /// The faults injected so far, in draw order.
    pub fn injected_faults(&self) -> Vec<FaultRecord> {
        lock(&self.fault_log).clone()
    }

    /// Appends `record` to the request log; does nothing when recording is off.
    pub fn record(&self, record: RequestRecord) {
        if let Some(log) = &self.request_log {
            lock(log).push(record);
        }
    }

    /// A request id in Solvimon's style (`reqr_` + 20 characters).
    pub fn request_id(&self) -> String {
        format!(
            "reqr_{:020}",
            self.requests.fetch_add(1, Ordering::Relaxed) + 1
        )
    }
}
