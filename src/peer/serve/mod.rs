//! Serving the verified graph back to peers (issue 12): what every session shares for it.
//! Sessions stream the gossip_store to their peer through a per-peer cursor (as Core
//! Lightning's connectd does; relay is the cursor reaching the end of the file) and answer
//! BOLT 7 queries; the per-session parts live in `session::stream` and `session::replies`.
//!
//! - [`sync`]: when our own initial sync is complete (`full_information`, `/readyz`).
//! - [`index`]: the sorted short_channel_id snapshot range queries read.
//! - [`fields`]: fixed-position fields of stored messages, and the BOLT 7 update checksum.
//! - [`echo`]: what a peer just sent us, never streamed back to it.
//! - [`metrics`]: the serving series.

pub mod echo;
pub mod fields;
pub mod index;
pub mod metrics;
pub mod sync;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use self::index::ScidIndex;
use self::metrics::ServeMetrics;
use self::sync::{DumpWindow, SyncTracker};
use super::pacing::ByteBucket;
use super::sync_plan::{tip_bound_from_clock, SplitConfig, SplitMetrics, SyncPlan};
use crate::config::InitialSync;
use crate::metrics::{Health, Metrics};
use crate::store::StoreTail;

/// Serving limits.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Per-peer byte budget of the gossip stream (Core Lightning: 1 MB/s). Over it the stream
    /// waits; 0 = unlimited.
    pub peer_bytes_per_sec: u64,
    /// Per-peer rate of query replies; 0 = unlimited.
    pub peer_reply_bytes_per_sec: u64,
    /// All peers' query replies together (LND: 1,000 KiB/s); 0 = unlimited.
    pub global_reply_bytes_per_sec: u64,
    /// Bytes of streamed gossip queued for one peer before the stream waits for its writer.
    pub stream_buffer_bytes: usize,
    /// Bytes of query replies queued for one peer before the reply waits for its writer.
    pub reply_buffer_bytes: usize,
    /// Messages a peer sent us that are remembered so as not to echo them back.
    pub echo_window: usize,
    /// Channel announcements held back per peer until their first in-range update.
    pub held_announcements: usize,
    /// A cursor this far behind the end ...
    pub behind_bytes: u64,
    /// ... for this long counts in `gossip_sieve_serve_peers_behind`.
    pub behind_after: Duration,
    pub dump_window: DumpWindow,
    /// How our own initial sync asks outbound peers (issue 12 item 4).
    pub initial_sync: InitialSync,
    /// The split sync's chunking and timeouts (with `initial_sync = split`).
    pub split: SplitConfig,
    /// The highest block to sync from; `None`: a bound from the clock.
    pub split_tip: Option<u32>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            peer_bytes_per_sec: 1_000_000,
            peer_reply_bytes_per_sec: 1_000_000,
            global_reply_bytes_per_sec: 1000 * 1024,
            // 64 typical messages, or two maximum-size ones: enough to keep a fast socket busy
            // between wake-ups, small enough that 256 peers hold at most 64 MiB.
            stream_buffer_bytes: 128 * 1024,
            reply_buffer_bytes: 128 * 1024,
            echo_window: 4096,
            held_announcements: 16_384,
            behind_bytes: 8 << 20,
            behind_after: Duration::from_secs(300),
            dump_window: DumpWindow::default(),
            initial_sync: InitialSync::default(),
            split: SplitConfig::default(),
            split_tip: None,
        }
    }
}

/// What every session shares for serving.
pub struct Serving {
    pub config: ServeConfig,
    /// The live store's readable end; `None` when the node keeps no store (then we serve
    /// nothing but empty replies).
    pub tail: Option<Arc<StoreTail>>,
    pub sync: Arc<SyncTracker>,
    pub index: ScidIndex,
    /// The global query-reply rate, shared by all sessions.
    global_replies: Mutex<ByteBucket>,
    pub metrics: Arc<ServeMetrics>,
}

impl Serving {
    pub fn new(
        config: ServeConfig,
        tail: Option<Arc<StoreTail>>,
        metrics: &Metrics,
    ) -> prometheus::Result<Arc<Serving>> {
        let rate = config.global_reply_bytes_per_sec;
        // Registered in both modes: in dump mode the series stay at zero, so the dashboard's
        // sync panel and the alert rules find them whatever the mode.
        let split_metrics = SplitMetrics::new(&metrics.registry)?;
        let plan = match config.initial_sync {
            InitialSync::Dump => None,
            InitialSync::Split => Some(SyncPlan::new(
                config.split.clone(),
                config.split_tip.unwrap_or_else(tip_bound_from_clock),
                split_metrics,
            )),
        };
        Ok(Arc::new(Serving {
            sync: Arc::new(SyncTracker::with_plan(config.dump_window, plan)),
            index: ScidIndex::new(),
            global_replies: Mutex::new(ByteBucket::new(rate, rate / 4)),
            metrics: Arc::new(ServeMetrics::new(&metrics.registry)?),
            tail,
            config,
        }))
    }

    /// Charges `bytes` of query replies to the global rate; how long the caller must wait.
    pub fn charge_global_replies(&self, bytes: u64) -> Option<Duration> {
        self.global_replies.lock().charge(bytes)
    }

    /// Re-evaluates sync completeness every half second (the pipeline's in-flight count comes
    /// from `in_flight`) and keeps `/readyz`'s `sync` line current. Runs until dropped.
    pub async fn watch_sync(self: Arc<Self>, in_flight: impl Fn() -> i64, health: Arc<Health>) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            let in_flight = in_flight();
            let complete = self.sync.evaluate(in_flight, &self.metrics);
            health.set_note("sync", Some(self.sync.describe(in_flight)));
            if complete {
                return;
            }
        }
    }
}
