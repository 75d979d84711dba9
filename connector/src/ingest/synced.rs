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

    use tokio::task::JoinHandle;

    use super::*;

    fn waiters(
        synced: &Arc<Synced>,
        numbers: std::ops::RangeInclusive<u64>,
    ) -> Vec<JoinHandle<std::io::Result<()>>> {
        numbers
            .map(|n| {
                let s = synced.clone();
                tokio::spawn(async move { s.wait(n).await })
            })
            .collect()
    }

    /// Lets every task the runtime can run, run.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    /// `count` reached, told from a thread of its own (as the journal's writer does).
    fn reach(synced: &Arc<Synced>, count: u64) {
        let s = synced.clone();
        std::thread::spawn(move || s.reached(count)).join().unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn each_waiter_wakes_once_its_begin_is_on_disk_and_not_before() {
        let synced = Arc::new(Synced::default());
        let waiting = waiters(&synced, 1..=50);
        settle().await;
        assert!(
            waiting.iter().all(|w| !w.is_finished()),
            "nothing is on disk yet"
        );
        for count in [7, 20, 50] {
            reach(&synced, count);
            settle().await;
            for (i, w) in waiting.iter().enumerate() {
                let n = i as u64 + 1;
                assert_eq!(w.is_finished(), n <= count, "begin {n} after count {count}");
            }
        }
        for w in waiting {
            assert!(w.await.unwrap().is_ok());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_several_workers_every_waiter_wakes() {
        let synced = Arc::new(Synced::default());
        let waiting = waiters(&synced, 1..=200);
        let writer = {
            let s = synced.clone();
            std::thread::spawn(move || {
                for count in (10..=200).step_by(10) {
                    s.reached(count);
                    std::thread::yield_now();
                }
            })
        };
        for w in waiting {
            let done = tokio::time::timeout(std::time::Duration::from_secs(10), w).await;
            assert!(done.expect("woken").unwrap().is_ok());
        }
        writer.join().unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_waiter_dropped_after_its_wake_passes_it_on() {
        let synced = Arc::new(Synced::default());
        let mut waiting = waiters(&synced, 1..=2);
        settle().await;
        // The writer wakes the first waiter only; it is cancelled before it runs.
        reach(&synced, 2);
        waiting.remove(0).abort();
        let second = tokio::time::timeout(std::time::Duration::from_secs(5), waiting.remove(0));
        assert!(second.await.expect("woken").unwrap().is_ok());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failure_fails_every_waiting_and_later_begin() {
        let synced = Arc::new(Synced::default());
        let waiting = waiters(&synced, 3..=5);
        settle().await;
        let s = synced.clone();
        std::thread::spawn(move || s.fail(&std::io::Error::other("disk full")))
            .join()
            .unwrap();
        for w in waiting {
            let e = w.await.unwrap().unwrap_err();
            assert!(e.to_string().contains("disk full"), "{e}");
        }
        assert!(synced.wait(6).await.is_err());
    }
}
