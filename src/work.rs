//! A count of work handed on and not yet finished, with a wake-up when it reaches zero: how a
//! caller learns that every message it let in has come out, without reading a metric.
//!
//! Gauges observe the same quantities, but a gauge may change what it counts (or be reset)
//! without changing behaviour; the code that waits for work to end uses one of these instead
//! (the pipeline's in-flight messages, the store's pending hand-offs).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Outstanding {
    count: AtomicUsize,
    /// Set when the worker is gone: what is still counted will never finish, so waiting for
    /// it ends at once.
    closed: AtomicBool,
    idle: Notify,
}

impl Outstanding {
    /// One more piece of work handed on.
    pub fn start(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
    }

    /// One piece of work finished (or given up). Wakes the waiters when it was the last.
    pub fn finish(&self) {
        let before = self
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .unwrap_or(0);
        if before <= 1 {
            self.idle.notify_waiters();
        }
    }

    /// Work handed on and not finished.
    pub fn get(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// The worker stopped: waiting ends now, whatever is still counted.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle.notify_waiters();
    }

    /// Resolves once nothing is outstanding, or the worker has stopped.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Registered before the check, so a `finish` between the check and the await
            // still wakes this waiter.
            notified.as_mut().enable();
            if self.get() == 0 || self.closed.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn idle_waits_for_the_last_finish() {
        let work = Arc::new(Outstanding::default());
        work.idle().await;
        work.start();
        work.start();
        let waiter = tokio::spawn({
            let work = work.clone();
            async move { work.idle().await }
        });
        work.finish();
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        work.finish();
        tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
            .await
            .expect("woken")
            .expect("joined");
        // An extra finish never wraps the count.
        work.finish();
        assert_eq!(work.get(), 0);
    }

    #[tokio::test]
    async fn close_ends_the_wait_with_work_outstanding() {
        let work = Arc::new(Outstanding::default());
        work.start();
        let waiter = tokio::spawn({
            let work = work.clone();
            async move { work.idle().await }
        });
        work.close();
        tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
            .await
            .expect("woken")
            .expect("joined");
    }
}
