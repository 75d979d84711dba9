//! Waiting for the journal's syncs, with one cross-thread wake per sync.
//!
//! Policy: the journal's writer thread counts the begins it has made durable; a record's
//! `begin` waits until that count reaches its own number. A wake from another thread costs the
//! runtime a system call per task woken, so the writer wakes one waiter per sync and that
//! waiter, on the runtime, wakes the others (once per count). A failed write or sync is final:
//! every begin waiting or still to come fails with it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

/// How far the journal's begins are on disk.
#[derive(Debug, Default)]
pub(super) struct Synced {
    /// Begins on disk, counted from 1 (`u64::MAX` once the journal failed).
    count: AtomicU64,
    /// The last count every waiter was woken for.
    relayed: AtomicU64,
    /// Why the journal failed, once it has.
    failure: Mutex<Option<(std::io::ErrorKind, String)>>,
    notify: Notify,
}

impl Synced {
    /// The writer: the first `count` begins are on disk.
    pub(super) fn reached(&self, count: u64) {
        self.count.fetch_max(count, Ordering::AcqRel);
        self.notify.notify_one();
    }

    /// The writer: writing or syncing failed with `e`.
    pub(super) fn fail(&self, e: &std::io::Error) {
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some((e.kind(), e.to_string()));
        self.count.store(u64::MAX, Ordering::Release);
        self.notify.notify_one();
    }

    /// Waits until begin number `n` is on disk; the journal's failure if it failed first.
    pub(super) async fn wait(&self, n: u64) -> std::io::Result<()> {
        loop {
            let mut notified = std::pin::pin!(self.notify.notified());
            notified.as_mut().enable();
            let count = self.count.load(Ordering::Acquire);
            if count >= n {
                self.relay(count);
                let failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
                return match &*failure {
                    Some((kind, why)) => Err(std::io::Error::new(*kind, why.clone())),
                    None => Ok(()),
                };
            }
            notified.await;
            self.relay(self.count.load(Ordering::Acquire));
        }
    }

    /// Wakes every waiter, once per count.
    fn relay(&self, count: u64) {
        if self.relayed.fetch_max(count, Ordering::AcqRel) < count {
            self.notify.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn every_waiter_wakes_when_its_begin_is_on_disk_and_not_before() {
        let synced = Arc::new(Synced::default());
        let waiters: Vec<_> = (1..=50u64)
            .map(|n| {
                let s = synced.clone();
                tokio::spawn(async move { s.wait(n).await.map(|()| n) })
            })
            .collect();
        tokio::task::yield_now().await;
        let writer = {
            let s = synced.clone();
            std::thread::spawn(move || {
                for count in [7, 20, 50] {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    s.reached(count);
                }
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        assert!(
            waiters.iter().all(|w| !w.is_finished()),
            "nothing is on disk yet"
        );
        for w in waiters {
            assert!(w.await.unwrap().is_ok());
        }
        writer.join().unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failure_fails_every_waiting_and_later_begin() {
        let synced = Arc::new(Synced::default());
        let waiting = {
            let s = synced.clone();
            tokio::spawn(async move { s.wait(3).await })
        };
        tokio::task::yield_now().await;
        let s = synced.clone();
        std::thread::spawn(move || s.fail(&std::io::Error::other("disk full")))
            .join()
            .unwrap();
        let e = waiting.await.unwrap().unwrap_err();
        assert!(e.to_string().contains("disk full"), "{e}");
        assert!(synced.wait(4).await.is_err());
    }
}
