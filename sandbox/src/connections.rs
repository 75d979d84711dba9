//! Connection limits: what each open connection is doing, its deadline, and a cap on how many
//! are open.
//!
//! Policy: a connection is waiting for a request head (from its accept, or from the first byte
//! after an idle spell), idle (after a response, nothing received since) or busy (a handler is
//! running). A head must be complete within `header_read_timeout` and an idle spell may last
//! `idle_timeout`; then the connection is closed. A busy one has no deadline here (the handler
//! bounds reading the body). At most `max_connections` are open: a new one past the cap takes
//! the slot of the least recently active connection that is not busy (one waiting for a head is
//! dropped at once; an idle one is shut down gracefully, so an answer in flight is still
//! written); when all are busy the new one is refused. So idle and half-open sockets cannot
//! starve real requests, and each connection holds one file descriptor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::app::lock;

/// Timeouts and the connection cap (`Config` carries them; defaults in `docs/sandbox.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request head, counted from the accept or from the
    /// first byte after an idle spell; also how long it may take to send a request body.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may sit idle between a response and the next request.
    pub idle_timeout: Duration,
    /// Most connections open at once (at least 1).
    pub max_connections: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request head since this instant.
    Head(Instant),
    /// Idle since this instant (the end of the last request).
    Idle(Instant),
    /// A handler is running.
    Busy,
}

/// One open connection, shared by its task, its request handlers and the registry.
#[derive(Debug)]
pub struct Conn {
    phase: Mutex<Phase>,
    read_timeout: Duration,
    evict: Notify,
    kill: Notify,
    reset: AtomicBool,
}

impl Conn {
    fn new(read_timeout: Duration) -> Self {
        Conn {
            phase: Mutex::new(Phase::Head(Instant::now())),
            read_timeout,
            evict: Notify::new(),
            kill: Notify::new(),
            reset: AtomicBool::new(false),
        }
    }

    /// Drops the connection without answering (a fault); with `reset`, with an RST.
    pub fn drop_connection(&self, reset: bool) {
        self.reset.store(reset, Ordering::SeqCst);
        self.kill.notify_one();
    }

    /// How long the client may take to send a request body.
    pub fn body_timeout(&self) -> Duration {
        self.read_timeout
    }

    /// Bytes arrived: an idle connection starts waiting for a head.
    pub(crate) fn received(&self) {
        let mut phase = lock(&self.phase);
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Head(Instant::now());
        }
    }

    /// A handler starts.
    pub(crate) fn busy(&self) {
        *lock(&self.phase) = Phase::Busy;
    }

    /// A handler returned.
    pub(crate) fn done(&self) {
        *lock(&self.phase) = Phase::Idle(Instant::now());
    }

    /// Whether a fault asked for an RST.
    pub(crate) fn reset_requested(&self) -> bool {
        self.reset.load(Ordering::SeqCst)
    }

    /// Resolves when a fault asks to drop the connection.
    pub(crate) async fn killed(&self) {
        self.kill.notified().await;
    }

    /// Resolves when the registry evicts the connection.
    pub(crate) async fn evicted(&self) {
        self.evict.notified().await;
    }

    /// Whether the connection is waiting for a request head.
    pub(crate) fn waiting_for_head(&self) -> bool {
        matches!(*lock(&self.phase), Phase::Head(_))
    }

    /// When the connection's current phase runs out (a busy one: checked again later).
    pub(crate) fn deadline(&self, limits: &Limits) -> Instant {
        match *lock(&self.phase) {
            Phase::Head(since) => since + limits.header_read_timeout,
            Phase::Idle(since) => since + limits.idle_timeout,
            Phase::Busy => Instant::now() + limits.header_read_timeout.max(limits.idle_timeout),
        }
    }

    /// Whether the current phase has run out.
    pub(crate) fn expired(&self, limits: &Limits) -> bool {
        !matches!(*lock(&self.phase), Phase::Busy) && self.deadline(limits) <= Instant::now()
    }

    /// Since when a connection that is not busy has been inactive; `None` when busy.
    fn inactive_since(&self) -> Option<Instant> {
        match *lock(&self.phase) {
            Phase::Head(since) | Phase::Idle(since) => Some(since),
            Phase::Busy => None,
        }
    }
}

/// The open connections, capped.
#[derive(Debug)]
pub struct Registry {
    limits: Limits,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    next: AtomicU64,
}

/// A connection's place in the [`Registry`]; dropping it frees the place.
#[derive(Debug)]
pub struct Slot {
    registry: Arc<Registry>,
    id: u64,
    /// The connection.
    pub conn: Arc<Conn>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.registry.open).remove(&self.id);
    }
}

impl Registry {
    /// An empty registry.
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Registry {
            limits,
            open: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
        })
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How many connections hold a place.
    pub fn open(&self) -> usize {
        lock(&self.open).len()
    }

    /// How many open connections are busy (a handler is running).
    pub fn busy(&self) -> usize {
        lock(&self.open)
            .values()
            .filter(|c| c.inactive_since().is_none())
            .count()
    }

    /// A place for a new connection; at the cap, the least recently active connection that is
    /// not busy is evicted for it; `None` when every open connection is busy.
    pub fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut open = lock(&self.open);
        if open.len() >= self.limits.max_connections.max(1) {
            let (&victim, _) = open
                .iter()
                .filter_map(|(id, conn)| Some((id, conn.inactive_since()?)))
                .min_by_key(|(_, since)| *since)?;
            if let Some(conn) = open.remove(&victim) {
                conn.evict.notify_one();
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn::new(self.limits.header_read_timeout));
        open.insert(id, conn.clone());
        Some(Slot {
            registry: self.clone(),
            id,
            conn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_connections: usize) -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_the_least_recently_active_idle_connection_makes_room() {
        let registry = Registry::new(limits(2));
        let first = registry.admit().unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        let second = registry.admit().unwrap();
        first.conn.busy();
        tokio::time::advance(Duration::from_secs(1)).await;
        first.conn.done(); // the most recently active now
        let third = registry.admit().unwrap();
        assert_eq!(registry.open(), 2);
        let evicted = tokio::time::timeout(Duration::from_millis(1), second.conn.evicted()).await;
        assert!(
            evicted.is_ok(),
            "the least recently active one is told to go"
        );
        third.conn.busy();
        first.conn.busy();
        assert!(
            registry.admit().is_none(),
            "all busy: the new one is refused"
        );
        drop((first, second, third));
        assert_eq!(registry.open(), 0, "slots free their places");
    }

    #[tokio::test(start_paused = true)]
    async fn each_phase_has_its_deadline() {
        let registry = Registry::new(limits(10));
        let slot = registry.admit().unwrap();
        let conn = &slot.conn;
        let l = registry.limits();
        let start = Instant::now();
        assert_eq!(conn.deadline(l), start + l.header_read_timeout);
        conn.busy();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(!conn.expired(l), "a busy connection does not expire here");
        conn.done();
        let idle = Instant::now();
        assert_eq!(conn.deadline(l), idle + l.idle_timeout);
        tokio::time::advance(Duration::from_secs(5)).await;
        conn.received();
        assert!(conn.waiting_for_head());
        assert_eq!(conn.deadline(l), Instant::now() + l.header_read_timeout);
        tokio::time::advance(l.header_read_timeout).await;
        assert!(conn.expired(l));
    }
}
