//! When our own initial sync is complete, which decides `full_information` in
//! `reply_short_channel_ids_end` (BOLT 7: 0 while we do not "maintain up-to-date channel
//! information"), the `gossip_sieve_sync_complete` gauge and the `sync` line of `/readyz`.
//!
//! Definition: every connected peer we asked for gossip has finished its dump, at least one
//! did (or no peer is configured), and the pipeline has nothing in flight. A dump has no end
//! marker in BOLT 7 (a `gossip_timestamp_filter` asks for the past and the future at once), so
//! a peer's dump counts as finished at the end of the first [`DumpWindow`] in which it sent
//! fewer gossip messages than `quiet_rate` per second: a dump runs at hundreds to thousands of
//! messages a second, mainnet's live gossip at a few per peer. A peer that disconnects stops
//! counting as dumping. Once complete, it stays complete (Core Lightning's gossipd latches its
//! "synced" the same way): later reconnects mostly repeat what we have.
//!
//! With `initial_sync = "split"` (see `peer::sync_plan`) the definition is: every chunk of the
//! block range answered (none queued, none out with a peer), every fallback dump (asked of a
//! peer that ignored our queries) finished as above, and the pipeline drained.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::metrics::ServeMetrics;
use crate::peer::sync_plan::SyncPlan;

/// How long a window is, and under how many messages a second in one a dump is over.
#[derive(Clone, Copy, Debug)]
pub struct DumpWindow {
    pub length: Duration,
    pub quiet_rate: u32,
}

impl Default for DumpWindow {
    fn default() -> Self {
        DumpWindow {
            length: Duration::from_secs(5),
            quiet_rate: 20,
        }
    }
}

pub struct SyncTracker {
    window: DumpWindow,
    /// Configured peers: with none, there is nobody to wait for.
    expected_peers: AtomicUsize,
    dumping: AtomicUsize,
    finished: AtomicU64,
    complete: AtomicBool,
    /// The split sync's chunks, when our initial sync is split over peers.
    plan: Option<Arc<SyncPlan>>,
}

impl SyncTracker {
    pub fn new(window: DumpWindow) -> Self {
        Self::with_plan(window, None)
    }

    /// A tracker for a split sync over `plan` (`None`: today's dumps from every peer).
    pub fn with_plan(window: DumpWindow, plan: Option<Arc<SyncPlan>>) -> Self {
        SyncTracker {
            window,
            expected_peers: AtomicUsize::new(0),
            dumping: AtomicUsize::new(0),
            finished: AtomicU64::new(0),
            complete: AtomicBool::new(false),
            plan,
        }
    }

    /// The split sync's plan, if our sync is split.
    pub fn plan(&self) -> Option<&Arc<SyncPlan>> {
        self.plan.as_ref()
    }

    /// How many peers the operator configured (`--peer`).
    pub fn expect_peers(&self, count: usize) {
        self.expected_peers.store(count, Ordering::Release);
    }

    pub fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    /// Sessions whose dump is still running.
    pub fn dumping(&self) -> usize {
        self.dumping.load(Ordering::Acquire)
    }

    /// A session asked its peer for gossip; the watch ends the dump when the peer goes quiet
    /// or the session ends.
    pub fn dump_started(self: &Arc<Self>, metrics: &ServeMetrics) -> DumpWatch {
        self.dumping.fetch_add(1, Ordering::AcqRel);
        metrics.sync_peers_dumping.inc();
        DumpWatch {
            tracker: self.clone(),
            gauge: metrics.sync_peers_dumping.clone(),
            window_start: Instant::now(),
            frames: 0,
            running: true,
            shared_frames: None,
        }
    }

    /// A watch that is no dump (it never counts in [`SyncTracker::dumping`]) but counts every
    /// gossip message the session receives into `frames`, where the session's split-sync
    /// seeker sees that its peer is making progress.
    pub fn frame_counter(
        self: &Arc<Self>,
        metrics: &ServeMetrics,
        frames: Arc<AtomicU64>,
    ) -> DumpWatch {
        DumpWatch {
            tracker: self.clone(),
            gauge: metrics.sync_peers_dumping.clone(),
            window_start: Instant::now(),
            frames: 0,
            running: false,
            shared_frames: Some(frames),
        }
    }

    /// Latches complete when the definition holds; `in_flight` is the pipeline's work not yet
    /// finished. Returns whether it is complete.
    pub fn evaluate(&self, in_flight: i64, metrics: &ServeMetrics) -> bool {
        if self.is_complete() {
            return true;
        }
        let nobody_expected = self.expected_peers.load(Ordering::Acquire) == 0;
        let answered = match &self.plan {
            // Split: every chunk answered (fallback dumps are in `dumping`).
            Some(plan) => nobody_expected || plan.is_done(),
            None => self.finished.load(Ordering::Acquire) > 0 || nobody_expected,
        };
        if self.dumping() == 0 && answered && in_flight == 0 {
            self.complete.store(true, Ordering::Release);
            metrics.sync_complete.set(1);
            tracing::info!("initial gossip sync complete");
        }
        self.is_complete()
    }

    /// The `/readyz` line.
    pub fn describe(&self, in_flight: i64) -> String {
        if self.is_complete() {
            "complete".to_owned()
        } else if let Some(plan) = &self.plan {
            let (queued, outstanding, done) = plan.counts();
            format!(
                "incomplete (split: {queued} chunks queued, {outstanding} out, {done} done; {} \
                 fallback dumps running; {in_flight} messages in flight)",
                self.dumping(),
            )
        } else {
            format!(
                "incomplete ({} peer dumps running, {} finished, {} messages in flight)",
                self.dumping(),
                self.finished.load(Ordering::Acquire),
                in_flight
            )
        }
    }
}

/// One peer's dump to us, as far as sync completeness is concerned.
pub struct DumpWatch {
    tracker: Arc<SyncTracker>,
    gauge: prometheus::IntGauge,
    window_start: Instant,
    frames: u64,
    running: bool,
    /// Where every frame is also counted (see [`SyncTracker::frame_counter`]).
    shared_frames: Option<Arc<AtomicU64>>,
}

impl DumpWatch {
    /// The peer sent a gossip message.
    pub fn on_frame(&mut self) {
        self.add_frames(1);
    }

    /// The peer sent `count` gossip messages.
    pub fn add_frames(&mut self, count: u64) {
        self.frames += count;
        if let Some(shared) = &self.shared_frames {
            shared.fetch_add(count, Ordering::Relaxed);
        }
    }

    /// Closes the window if it is over; ends the dump if the window was quiet.
    pub fn tick(&mut self, now: Instant) {
        let window = self.tracker.window;
        let elapsed = now.duration_since(self.window_start);
        if !self.running || elapsed < window.length {
            return;
        }
        let quiet = u64::from(window.quiet_rate) * elapsed.as_secs().max(1);
        if self.frames < quiet {
            self.tracker.finished.fetch_add(1, Ordering::AcqRel);
            self.stop();
        }
        self.window_start = now;
        self.frames = 0;
    }

    /// Whether the peer is still dumping.
    pub fn is_running(&self) -> bool {
        self.running
    }

    fn stop(&mut self) {
        if std::mem::take(&mut self.running) {
            self.tracker.dumping.fetch_sub(1, Ordering::AcqRel);
            self.gauge.dec();
        }
    }
}

impl Drop for DumpWatch {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_once_dumps_are_quiet_and_the_pipeline_drained() {
        let metrics = ServeMetrics::new(&prometheus::Registry::new()).unwrap();
        let tracker = Arc::new(SyncTracker::new(DumpWindow {
            length: Duration::from_secs(5),
            quiet_rate: 10,
        }));
        tracker.expect_peers(1);
        assert!(!tracker.evaluate(0, &metrics), "no peer finished yet");
        let mut watch = tracker.dump_started(&metrics);
        let start = Instant::now();
        for _ in 0..100 {
            watch.on_frame();
        }
        watch.tick(start + Duration::from_secs(5));
        assert!(watch.is_running(), "100 messages in 5 s is a dump");
        assert!(!tracker.evaluate(0, &metrics));
        watch.on_frame();
        watch.tick(start + Duration::from_secs(10));
        assert!(!watch.is_running(), "1 message in 5 s is live gossip");
        assert!(!tracker.evaluate(3, &metrics), "pipeline not drained");
        assert!(tracker.evaluate(0, &metrics));
        assert_eq!(metrics.sync_complete.get(), 1);
        assert_eq!(tracker.describe(0), "complete");
    }

    #[test]
    fn a_peer_that_leaves_mid_dump_stops_counting() {
        let metrics = ServeMetrics::new(&prometheus::Registry::new()).unwrap();
        let tracker = Arc::new(SyncTracker::new(DumpWindow::default()));
        tracker.expect_peers(2);
        let watch = tracker.dump_started(&metrics);
        assert_eq!(metrics.sync_peers_dumping.get(), 1);
        drop(watch);
        assert_eq!(metrics.sync_peers_dumping.get(), 0);
        // Nobody finished a dump: still incomplete.
        assert!(!tracker.evaluate(0, &metrics));
    }
}
