//! The state the pipeline's stages share, owned here and reached only through methods (as
//! mini-redis's `Db { shared: Arc<Shared> }`): the in-flight claims, the recently-rejected
//! cache, the pending maps and the release queue that empties them, drop counting with its
//! throttled log, and the count of unfinished work that [`Pipeline::drained`] waits on.
//!
//! The sieve (admission) and the shards (verify, apply) each hold a [`PipelineState`]; neither
//! sees the other's insides or this one's. Every method takes the locks it needs and releases
//! them before returning; none calls back into a stage.
//!
//! [`Pipeline::drained`]: super::Pipeline::drained

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;

use super::flight::{Claim, FlightKey, InFlight, RejectedCache};
use super::pending::{ParkOutcome, Parked, PendingMaps};
use crate::config::PipelineConfig;
use crate::graph::{Graph, NodeId};
use crate::logging::{ThrottledLog, ThrottledReport};
use crate::metrics::Metrics;
use crate::vocab::DropReason;
use crate::wire::kind::GossipKind;
use crate::work::Outstanding;

/// A parked message whose dependency was accepted, on its way back into the sieve.
pub type Released = (GossipKind, Vec<u8>);

/// A cheap handle (one `Arc`) on the shared state.
#[derive(Clone)]
pub struct PipelineState {
    shared: Arc<Shared>,
}

struct Shared {
    graph: Arc<Graph>,
    metrics: Arc<Metrics>,
    in_flight: InFlight,
    rejected: RejectedCache,
    pending: PendingMaps,
    /// Messages admitted or released and not yet accepted or dropped (the in-flight gauges
    /// show the same per kind; this is what [`PipelineState::drained`] waits on).
    work: Outstanding,
    /// Capacity of the release queue (see [`PipelineState::open_release_queue`]).
    release_queue_cap: usize,
    /// Bytes of released messages the queue holds at most: what both pending maps can hold,
    /// since a release moves a message out of a map (which may then fill again meanwhile).
    release_queue_bytes_cap: usize,
    /// Bytes of released messages now in the queue.
    release_queue_bytes: AtomicUsize,
    /// Parked messages whose dependency was accepted, waiting to be re-offered. Each counts as
    /// in flight; only pending-map releases feed it. Set once, when the releaser starts.
    released: OnceLock<mpsc::Sender<Released>>,
    /// Drops by reason, logged once per interval: a flood must not become a log flood.
    drop_log: ThrottledLog,
    /// Drops per reason (over all types) in the metrics at the last log line. The log's counts
    /// are differences of the metrics counters rather than a second shared counter bumped per
    /// drop: with peers on several cores, every shared write on the duplicate path moves a
    /// cache line between cores.
    drops_logged: parking_lot::Mutex<Vec<u64>>,
}

/// How often dropped messages are summarised in the log.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

fn log_drops(report: &ThrottledReport) {
    let window_secs = report.window.as_secs();
    let counts = report.summary();
    // queue_full means peers are being slowed and gossip lost: worth a warning. The rest is
    // normal churn (duplicates dominate a healthy node).
    if report.count(DropReason::QueueFull.as_str()) > 0 {
        tracing::warn!(total = report.total, window_secs, %counts, "dropped gossip");
    } else {
        tracing::info!(total = report.total, window_secs, %counts, "dropped gossip");
    }
}

impl PipelineState {
    pub fn new(config: &PipelineConfig, graph: Arc<Graph>, metrics: Arc<Metrics>) -> Self {
        PipelineState {
            shared: Arc::new(Shared {
                graph,
                metrics,
                in_flight: InFlight::default(),
                rejected: RejectedCache::new(config.rejected_cache_cap),
                pending: PendingMaps::new(
                    config.pending_updates_cap,
                    config.pending_node_announcements_cap,
                    config.pending_bytes_cap,
                ),
                work: Outstanding::default(),
                // Everything the pending maps can hold, so a release overflows only if the
                // maps fill up again faster than the releaser drains them.
                release_queue_cap: config
                    .pending_updates_cap
                    .saturating_add(config.pending_node_announcements_cap)
                    .max(1),
                release_queue_bytes_cap: config.pending_bytes_cap.saturating_mul(2),
                release_queue_bytes: AtomicUsize::new(0),
                released: OnceLock::new(),
                drop_log: ThrottledLog::new(Vec::new(), DROP_LOG_INTERVAL),
                drops_logged: parking_lot::Mutex::new(vec![0; DropReason::ALL.len()]),
            }),
        }
    }

    #[inline]
    pub fn graph(&self) -> &Arc<Graph> {
        &self.shared.graph
    }

    #[inline]
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    // --- work in flight -------------------------------------------------------------------

    /// A message enters the pipeline's care (admitted, or released from a pending map).
    pub fn work_started(&self) {
        self.shared.work.start();
    }

    /// A message leaves it (accepted, dropped or parked).
    pub fn work_finished(&self) {
        self.shared.work.finish();
    }

    /// Messages admitted or being re-offered and not yet finished, over all types.
    pub fn work_in_flight(&self) -> usize {
        self.shared.work.get()
    }

    /// Resolves once nothing is in flight.
    pub async fn drained(&self) {
        self.shared.work.idle().await;
    }

    // --- in-flight claims -----------------------------------------------------------------

    /// Whether exactly these bytes are in flight for `key`.
    #[inline]
    pub fn holds_in_flight(&self, key: &FlightKey, msg: &[u8]) -> bool {
        self.shared.in_flight.holds(key, msg)
    }

    #[inline]
    pub fn is_in_flight(&self, key: &FlightKey) -> bool {
        self.shared.in_flight.contains(key)
    }

    /// Distinct messages in flight for `key`.
    #[inline]
    pub fn claims_in_flight(&self, key: &FlightKey) -> usize {
        self.shared.in_flight.claims(key)
    }

    pub fn claim(&self, key: FlightKey, claim: Claim) -> Result<(), DropReason> {
        self.shared.in_flight.claim(key, claim)
    }

    /// Ends a claim. Call only after the graph or the rejected cache knows the outcome, so a
    /// copy arriving now is caught by one of them.
    pub fn release_claim(&self, key: &FlightKey, claim: &Claim) {
        self.shared.in_flight.release(key, claim);
    }

    // --- recently rejected ----------------------------------------------------------------

    /// The keyed hash the rejected cache and the pending maps identify a message by.
    #[inline]
    pub fn fingerprint(&self, msg: &[u8]) -> u64 {
        self.shared.rejected.fingerprint(msg)
    }

    #[inline]
    pub fn recently_rejected(&self, fingerprint: u64) -> bool {
        self.shared.rejected.contains(fingerprint)
    }

    /// Remembers `msg` as failed, so a replay costs a hash and no signature check.
    pub fn remember_rejected(&self, msg: &[u8]) {
        let fingerprint = self.shared.rejected.fingerprint(msg);
        self.shared.rejected.insert(fingerprint);
    }

    // --- pending maps ---------------------------------------------------------------------

    /// Parks a channel_update for a channel not in the graph. `None`: the channel arrived
    /// meanwhile (checked under the map's lock), the caller starts over.
    pub fn park_update(
        &self,
        short_channel_id: u64,
        direction: u8,
        parked: Parked,
    ) -> Option<ParkOutcome> {
        let graph = &self.shared.graph;
        self.shared
            .pending
            .park_update(short_channel_id, direction, parked, || {
                !graph.has_channel(short_channel_id)
            })
    }

    /// Parks a node_announcement for a node with no channel in the graph; `None` as above.
    pub fn park_node_announcement(&self, node_id: NodeId, parked: Parked) -> Option<ParkOutcome> {
        let graph = &self.shared.graph;
        self.shared
            .pending
            .park_node_announcement(node_id, parked, || graph.node_standing(&node_id).is_none())
    }

    /// Counts a message as pending, and whatever it pushed out of its map as dropped.
    pub fn count_parked(&self, kind: GossipKind, displaced: Vec<DropReason>) {
        let pending = &self.shared.metrics.kind(kind).pending;
        pending.inc();
        for reason in displaced {
            pending.dec();
            self.count_drop(kind, reason);
        }
    }

    /// For a shard holding a channel_update that overtook its channel_announcement (both were
    /// admitted while the announcement was in flight): parks it until the announcement is
    /// applied. `Ok(true)`: parked (the shard's claim on it ends); `Ok(false)`: the channel is
    /// known by now, go on; `Err`: dropped for that reason (not yet counted).
    pub fn repark_update(
        &self,
        msg: &[u8],
        short_channel_id: u64,
        direction: u8,
        timestamp: u32,
    ) -> Result<bool, DropReason> {
        if !self.is_in_flight(&FlightKey::Channel(short_channel_id)) {
            return if self.shared.graph.has_channel(short_channel_id) {
                Ok(false)
            } else {
                Err(DropReason::DependencyRejected)
            };
        }
        // Re-parked after admission: the message already counted against its sender's quota
        // when it was offered, so it takes none here.
        let parked = Parked {
            timestamp,
            fingerprint: self.fingerprint(msg),
            msg: msg.to_vec(),
            hold: None,
        };
        match self.park_update(short_channel_id, direction, parked) {
            None => Ok(false),
            Some(ParkOutcome::Rejected(reason)) => Err(reason),
            Some(ParkOutcome::Parked { displaced }) => {
                self.count_parked(GossipKind::ChannelUpdate, displaced);
                Ok(true)
            }
        }
    }

    /// Re-offers what waited for a channel that was just applied to the graph: its updates,
    /// and the announcements of its two nodes. The channel must be in the graph already, and
    /// parking re-checks the graph under the same lock, so no dependant is stranded.
    pub fn release_dependants(&self, short_channel_id: u64, node_ids: [&NodeId; 2]) {
        for parked in self.shared.pending.take_updates(short_channel_id) {
            self.release(GossipKind::ChannelUpdate, parked);
        }
        for node_id in node_ids {
            for parked in self.shared.pending.take_node_announcements(node_id) {
                self.release(GossipKind::NodeAnnouncement, parked);
            }
        }
    }

    /// Queues one parked message for the releaser (see [`PipelineState::open_release_queue`]),
    /// so a shard never waits on another shard's (or its own) admission. A task per message
    /// cost ~450 bytes each, and a mainnet sync parks and releases ~17,000 node announcements
    /// while the shards are busy (7.6 MB of its 34 MB heap peak). The message counts as in
    /// flight meanwhile, so received = accepted + dropped + pending + in flight holds at every
    /// instant.
    fn release(&self, kind: GossipKind, parked: Parked) {
        self.shared.metrics.kind(kind).pending.dec();
        self.work_started();
        // A shard must never wait, so a full queue (in messages or in bytes) drops (counted)
        // rather than blocks.
        let len = parked.msg.len();
        let bytes = &self.shared.release_queue_bytes;
        let has_room = bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                let after = held.saturating_add(len);
                (after <= self.shared.release_queue_bytes_cap).then_some(after)
            })
            .is_ok();
        let queued = has_room
            && self
                .shared
                .released
                .get()
                .is_some_and(|queue| queue.try_send((kind, parked.msg)).is_ok());
        if has_room && !queued {
            bytes.fetch_sub(len, Ordering::Relaxed);
        }
        if !queued {
            // Full, or no releaser (the pipeline is stopping): the message is lost like any
            // other message over a cap, but still counted.
            self.work_finished();
            self.count_drop(kind, DropReason::QueueFull);
        }
    }

    /// Released messages waiting to be re-offered, at most.
    pub fn release_queue_cap(&self) -> usize {
        self.shared.release_queue_cap
    }

    /// Bytes of released messages waiting to be re-offered, at most.
    pub fn release_queue_bytes_cap(&self) -> usize {
        self.shared.release_queue_bytes_cap
    }

    /// The releaser took a `len`-byte message off the release queue.
    pub fn released_taken(&self, len: usize) {
        self.shared
            .release_queue_bytes
            .fetch_sub(len, Ordering::Relaxed);
    }

    /// Opens the release queue; its receiver goes to the one task that re-offers released
    /// messages. `None` if it was opened before.
    pub fn open_release_queue(&self) -> Option<mpsc::Receiver<Released>> {
        let (queue, messages) = mpsc::channel(self.shared.release_queue_cap);
        self.shared.released.set(queue).ok().map(|()| messages)
    }

    // --- drops ----------------------------------------------------------------------------

    /// Counts one dropped message (the metric, a trace line, and now and then the log summary).
    #[inline]
    pub fn count_drop(&self, kind: GossipKind, reason: DropReason) {
        self.shared.metrics.dropped(kind, reason).inc();
        tracing::trace!(kind = kind.as_str(), reason = reason.as_str(), "dropped");
        if let Some(window) = self.shared.drop_log.due() {
            log_drops(&self.drop_report(window));
        }
    }

    /// Drops by reason since the last report, from the metrics counters.
    fn drop_report(&self, window: Duration) -> ThrottledReport {
        let metrics = &self.shared.metrics;
        let mut logged = self.shared.drops_logged.lock();
        let counts: Vec<(&'static str, u64)> = DropReason::ALL
            .iter()
            .zip(logged.iter_mut())
            .map(|(reason, last)| {
                let now: u64 = GossipKind::ALL
                    .iter()
                    .map(|kind| metrics.dropped(*kind, *reason).get())
                    .sum();
                let count = now.saturating_sub(*last);
                *last = now;
                (reason.as_str(), count)
            })
            .filter(|(_, count)| *count > 0)
            .collect();
        ThrottledReport {
            total: counts.iter().map(|(_, count)| count).sum(),
            counts,
            window,
        }
    }
}
