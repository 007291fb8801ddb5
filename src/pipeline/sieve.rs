//! The entry point of the pipeline. A peer hands each gossip frame to [`Sieve::offer`], which
//! runs the cheap checks and dedup on the caller's task, parks orphans, and admits the rest into
//! the owning shard's capped mailbox. Admission is an explicit counting semaphore per shard
//! (actix's own capacity check lets each sender exceed it by one): the peer awaits a slot, so a
//! full shard stops that peer reading its socket; after `stall_timeout` the message is dropped
//! as `queue_full`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix::Addr;
use prometheus::IntGauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::checks::{coarse_unix_now, CheckPolicy};
use super::flight::{Claim, FlightKey, InFlight, RejectedCache};
use super::pending::{ParkOutcome, Parked, PendingMaps};
use super::rate_limit::{RateLimitConfig, UpdateRateLimiter};
use super::shard::{VerifierShard, VerifyJob};
use super::{DropReason, PeerAction};
use crate::config::PipelineConfig;
use crate::graph::{Graph, UpdateStanding};
use crate::logging::{ThrottledLog, ThrottledReport};
use crate::metrics::Metrics;
use crate::wire::gossip::{summarize, Summary};
use crate::wire::kind::GossipKind;

/// What became of one offered frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// In a shard's mailbox; it will be accepted or dropped there.
    Admitted,
    /// Waiting in a pending map for its channel or node.
    Parked,
    Dropped(DropReason),
    /// Not a gossip message this pipeline handles (the peer session deals with it).
    NotGossip,
}

/// What the shards found wrong in one peer's admitted messages: those verdicts come after
/// `offer` has returned `Admitted`, so the peer's session reads these counts to charge (or
/// warn) the peer that sent them.
pub type PenaltyCounter = Arc<PeerVerdicts>;

/// Running counts of the drops a peer answers for, by what they call for (see
/// [`PeerAction`]). Only ever incremented; the session remembers what it has already acted on.
#[derive(Debug, Default)]
pub struct PeerVerdicts {
    invalid_signatures: AtomicU32,
    malformed: AtomicU32,
    warnings: AtomicU32,
}

/// A snapshot of [`PeerVerdicts`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerdictCounts {
    /// channel_announcements whose own signatures failed.
    pub invalid_signatures: u32,
    /// Messages that did not parse or broke BOLT 7 structure.
    pub malformed: u32,
    /// Drops that call for a BOLT 1 `warning` only (other nodes' bad signatures).
    pub warnings: u32,
}

impl PeerVerdicts {
    /// Records a `kind` message dropped for `reason` under what it calls for.
    pub fn record(&self, kind: GossipKind, reason: DropReason) {
        let counter = match (reason.peer_action(kind), reason) {
            (PeerAction::Ignore, _) => return,
            (PeerAction::Warn, _) => &self.warnings,
            (PeerAction::Penalize, DropReason::InvalidSignature) => &self.invalid_signatures,
            (PeerAction::Penalize, _) => &self.malformed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn counts(&self) -> VerdictCounts {
        VerdictCounts {
            invalid_signatures: self.invalid_signatures.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            warnings: self.warnings.load(Ordering::Relaxed),
        }
    }
}

/// A held admission slot: returned to the shard's semaphore (and the depth gauge lowered) when
/// the shard has finished the message, or when an admission fails.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    depth: IntGauge,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.depth.dec();
    }
}

pub(super) struct ShardHandle {
    addr: Addr<VerifierShard>,
    permits: Arc<Semaphore>,
    /// Slots a blocked peer waits for before it is woken (see [`ShardHandle::acquire`]).
    wake_batch: u32,
    depth: IntGauge,
}

/// A peer blocked on a full shard is woken once this many slots are free, not at every freed
/// slot: each wake-up is a cross-thread notification (a syscall on the shard's thread), which
/// costs several percent of a signature check when paid per message.
const ADMISSION_WAKE_BATCH: usize = 64;

impl ShardHandle {
    pub(super) fn new(addr: Addr<VerifierShard>, capacity: usize, depth: IntGauge) -> Self {
        ShardHandle {
            addr,
            permits: Arc::new(Semaphore::new(capacity)),
            wake_batch: u32::try_from(ADMISSION_WAKE_BATCH.min(capacity).max(1)).unwrap_or(1),
            depth,
        }
    }

    /// One admission slot: at once if one is free, else after waiting (at most `stall`) until
    /// `wake_batch` are free; the rest go straight back, so the next admissions find them free.
    async fn acquire(&self, stall: std::time::Duration) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Some(permit);
        }
        let mut batch = tokio::time::timeout(
            stall,
            self.permits.clone().acquire_many_owned(self.wake_batch),
        )
        .await
        .ok()?
        .ok()?;
        // Dropping the remainder returns it to the semaphore.
        batch.split(1)
    }
}

/// A message that passed the cheap checks and dedup and may go to a shard.
struct Admission {
    penalties: Option<PenaltyCounter>,
    kind: GossipKind,
    key: FlightKey,
    claim: Claim,
    shard: usize,
}

enum Classified {
    Admit(Admission),
    Park,
    Drop(DropReason),
}

pub struct Sieve {
    pub(super) config: PipelineConfig,
    policy: CheckPolicy,
    pub(super) graph: Arc<Graph>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) in_flight: InFlight,
    pub(super) rejected: RejectedCache,
    pub(super) pending: PendingMaps,
    pub(super) rate_limit: UpdateRateLimiter,
    shards: OnceLock<Vec<ShardHandle>>,
    /// Parked messages whose dependency was accepted, waiting to be re-offered (see
    /// [`Sieve::release`]). Each counts as in flight; only pending-map releases feed it.
    released: OnceLock<tokio::sync::mpsc::Sender<(GossipKind, Vec<u8>)>>,
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

/// Spreads keys over shards; the multiplier scatters sequential scids (block-ordered) evenly.
fn shard_of_u64(value: u64, shards: usize) -> usize {
    let mixed = value.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    usize::try_from(mixed).unwrap_or(0) % shards.max(1)
}

impl Sieve {
    pub(super) fn new(config: PipelineConfig, graph: Arc<Graph>, metrics: Arc<Metrics>) -> Self {
        let policy = CheckPolicy {
            chain_hash: config.network.chain_hash(),
            max_future_skew: config.max_future_skew,
            max_age: config.max_age,
        };
        Sieve {
            rejected: RejectedCache::new(config.rejected_cache_cap),
            pending: PendingMaps::new(
                config.pending_updates_cap,
                config.pending_node_announcements_cap,
            ),
            in_flight: InFlight::default(),
            rate_limit: UpdateRateLimiter::new(RateLimitConfig {
                rate_per_minute: config.update_rate_per_minute,
                burst: config.update_burst,
                keepalive_after: config.update_keepalive_after,
            }),
            policy,
            graph,
            metrics,
            config,
            shards: OnceLock::new(),
            released: OnceLock::new(),
            drop_log: ThrottledLog::new(Vec::new(), DROP_LOG_INTERVAL),
            drops_logged: parking_lot::Mutex::new(vec![0; DropReason::ALL.len()]),
        }
    }

    pub(super) fn set_shards(&self, handles: Vec<ShardHandle>) {
        let _ = self.shards.set(handles);
    }

    fn shard_count(&self) -> usize {
        self.shards.get().map_or(1, |s| s.len())
    }

    pub fn graph(&self) -> &Arc<Graph> {
        &self.graph
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Messages admitted or being re-offered and not yet finished, over all types.
    pub fn in_flight_total(&self) -> i64 {
        GossipKind::ALL
            .iter()
            .map(|k| self.metrics.kind(*k).in_flight.get())
            .sum()
    }

    /// Counts `msg` as received and runs it through the sieve. Resolves once the message is
    /// dropped, parked or sits in a shard's mailbox; a full shard makes this wait.
    pub async fn offer(self: &Arc<Self>, msg: Vec<u8>) -> Outcome {
        self.offer_from(msg, None).await
    }

    /// [`Sieve::offer`] for a peer that wants the shards' later verdicts on its messages
    /// charged to `penalties`.
    pub async fn offer_from(
        self: &Arc<Self>,
        msg: Vec<u8>,
        penalties: Option<PenaltyCounter>,
    ) -> Outcome {
        let Some(kind) = message_kind(&msg) else {
            return Outcome::NotGossip;
        };
        self.metrics.kind(kind).received.inc();
        self.sift(kind, msg, penalties).await
    }

    /// The sieve proper, shared by fresh frames and parked messages being released.
    pub(super) async fn sift(
        self: &Arc<Self>,
        kind: GossipKind,
        msg: Vec<u8>,
        penalties: Option<PenaltyCounter>,
    ) -> Outcome {
        match self.classify(kind, &msg) {
            Classified::Drop(reason) => {
                self.count_drop(kind, reason);
                Outcome::Dropped(reason)
            }
            Classified::Park => Outcome::Parked,
            Classified::Admit(mut admission) => {
                admission.penalties = penalties;
                self.admit(admission).await
            }
        }
    }

    pub(super) fn count_drop(&self, kind: GossipKind, reason: DropReason) {
        self.metrics.dropped(kind, reason).inc();
        tracing::trace!(kind = kind.as_str(), reason = reason.as_str(), "dropped");
        if let Some(window) = self.drop_log.due() {
            log_drops(&self.drop_report(window));
        }
    }

    /// Drops by reason since the last report, from the metrics counters.
    fn drop_report(&self, window: Duration) -> ThrottledReport {
        let mut logged = self.drops_logged.lock();
        let counts: Vec<(&'static str, u64)> = DropReason::ALL
            .iter()
            .zip(logged.iter_mut())
            .map(|(reason, last)| {
                let now: u64 = GossipKind::ALL
                    .iter()
                    .map(|kind| self.metrics.dropped(*kind, *reason).get())
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

    fn classify(&self, kind: GossipKind, msg: &[u8]) -> Classified {
        let summary = match summarize(msg) {
            Ok(summary) => summary,
            Err(_) => return Classified::Drop(DropReason::Malformed),
        };
        if let Err(reason) = self.policy.check(&summary, coarse_unix_now()) {
            return Classified::Drop(reason);
        }
        let shards = self.shard_count();
        match summary {
            Summary::ChannelAnnouncement {
                short_channel_id, ..
            } => {
                if self.graph.has_channel(short_channel_id) {
                    return Classified::Drop(DropReason::Duplicate);
                }
                self.claim(
                    msg,
                    kind,
                    FlightKey::Channel(short_channel_id),
                    0,
                    shard_of_u64(short_channel_id, shards),
                )
            }
            Summary::ChannelUpdate {
                short_channel_id,
                timestamp,
                channel_flags,
                ..
            } => {
                let direction = channel_flags & 1;
                match self
                    .graph
                    .update_standing(short_channel_id, usize::from(direction))
                {
                    UpdateStanding::Known(Some(stored)) if stored >= timestamp => {
                        Classified::Drop(newer_or_equal(stored, timestamp))
                    }
                    UpdateStanding::UnknownChannel
                        if !self
                            .in_flight
                            .contains(&FlightKey::Channel(short_channel_id)) =>
                    {
                        self.park_update(msg, short_channel_id, direction, timestamp)
                    }
                    // A known channel, or one whose announcement is in flight: that
                    // announcement sits in the same shard (same scid) ahead of this update in
                    // FIFO order, so queueing behind it beats parking — a burst of new channels
                    // then fills shard queues (backpressure), not the pending map (evictions).
                    // The shard re-parks the rare update that overtakes its announcement.
                    standing => {
                        let stored = match standing {
                            UpdateStanding::Known(stored) => stored,
                            UpdateStanding::UnknownChannel => None,
                        };
                        let claimed = self.claim(
                            msg,
                            kind,
                            FlightKey::Update {
                                short_channel_id,
                                direction,
                            },
                            timestamp,
                            shard_of_u64(short_channel_id, shards),
                        );
                        // The spam limit runs after every dedup step (a duplicate spends no
                        // token) and before admission (a limited update costs no signature).
                        match claimed {
                            Classified::Admit(admission)
                                if !self.update_allowed(&admission.key, timestamp, stored) =>
                            {
                                self.in_flight.release(&admission.key, &admission.claim);
                                Classified::Drop(DropReason::RateLimited)
                            }
                            other => other,
                        }
                    }
                }
            }
            Summary::NodeAnnouncement { timestamp, node_id } => {
                match self.graph.node_standing(&node_id) {
                    Some(Some(stored)) if stored >= timestamp => {
                        Classified::Drop(newer_or_equal(stored, timestamp))
                    }
                    Some(_) => {
                        let mut prefix = [0u8; 8];
                        prefix.copy_from_slice(node_id.get(1..9).unwrap_or(&[0; 8]));
                        self.claim(
                            msg,
                            kind,
                            FlightKey::Node(node_id),
                            timestamp,
                            shard_of_u64(u64::from_be_bytes(prefix), shards),
                        )
                    }
                    None => self.park_node_announcement(msg, node_id, timestamp),
                }
            }
        }
    }

    /// The spam limit for a claimed channel_update: whether its direction's bucket in the
    /// graph has a token (spent by the shard only if the update verifies), or, for a channel
    /// whose announcement is still in flight (no bucket yet), a cap on its updates in flight.
    fn update_allowed(&self, key: &FlightKey, timestamp: u32, stored: Option<u32>) -> bool {
        let FlightKey::Update {
            short_channel_id,
            direction,
        } = *key
        else {
            return true;
        };
        let now = Instant::now();
        self.graph
            .with_rate_bucket(short_channel_id, usize::from(direction), |bucket| {
                self.rate_limit.peek(bucket, timestamp, stored, now)
            })
            .map_or_else(
                || self.rate_limit.allows_in_flight(self.in_flight.claims(key)),
                |decision| decision.is_allowed(),
            )
    }

    /// In-flight dedup (a byte compare), then the recently-rejected cache (a keyed hash of the
    /// whole message, computed only for messages about to cost a signature check).
    fn claim(
        &self,
        msg: &[u8],
        kind: GossipKind,
        key: FlightKey,
        timestamp: u32,
        shard: usize,
    ) -> Classified {
        if self.in_flight.holds(&key, msg) {
            return Classified::Drop(DropReason::Duplicate);
        }
        if self.rejected.contains(self.rejected.fingerprint(msg)) {
            return Classified::Drop(DropReason::RecentlyRejected);
        }
        let claim = Claim {
            timestamp,
            msg: Arc::from(msg),
        };
        if let Err(reason) = self.in_flight.claim(key, claim.clone()) {
            return Classified::Drop(reason);
        }
        Classified::Admit(Admission {
            penalties: None,
            kind,
            key,
            claim,
            shard,
        })
    }

    fn park_update(
        &self,
        msg: &[u8],
        short_channel_id: u64,
        direction: u8,
        timestamp: u32,
    ) -> Classified {
        self.park(GossipKind::ChannelUpdate, msg, timestamp, |parked| {
            self.pending
                .park_update(short_channel_id, direction, parked, || {
                    !self.graph.has_channel(short_channel_id)
                })
        })
    }

    fn park_node_announcement(
        &self,
        msg: &[u8],
        node_id: crate::graph::NodeId,
        timestamp: u32,
    ) -> Classified {
        self.park(GossipKind::NodeAnnouncement, msg, timestamp, |parked| {
            self.pending.park_node_announcement(node_id, parked, || {
                self.graph.node_standing(&node_id).is_none()
            })
        })
    }

    /// Parks `msg` through `park_in` (one of the pending maps), unless it was recently rejected.
    fn park(
        &self,
        kind: GossipKind,
        msg: &[u8],
        timestamp: u32,
        park_in: impl FnOnce(Parked) -> Option<ParkOutcome>,
    ) -> Classified {
        let fingerprint = self.rejected.fingerprint(msg);
        if self.rejected.contains(fingerprint) {
            return Classified::Drop(DropReason::RecentlyRejected);
        }
        let outcome = park_in(Parked {
            timestamp,
            fingerprint,
            msg: msg.to_vec(),
        });
        self.settle_parking(kind, outcome, msg)
    }

    /// For a shard holding a channel_update that overtook its channel_announcement (both were
    /// admitted while the announcement was in flight): parks it until the announcement is
    /// applied. `Ok(true)`: parked (the shard's claim on it ends); `Ok(false)`: the channel is
    /// known by now, go on; `Err`: dropped for that reason (not yet counted).
    pub(super) fn repark_update(
        &self,
        msg: &[u8],
        short_channel_id: u64,
        direction: u8,
        timestamp: u32,
    ) -> Result<bool, DropReason> {
        if !self
            .in_flight
            .contains(&FlightKey::Channel(short_channel_id))
        {
            return if self.graph.has_channel(short_channel_id) {
                Ok(false)
            } else {
                Err(DropReason::DependencyRejected)
            };
        }
        let parked = Parked {
            timestamp,
            fingerprint: self.rejected.fingerprint(msg),
            msg: msg.to_vec(),
        };
        let outcome = self
            .pending
            .park_update(short_channel_id, direction, parked, || {
                !self.graph.has_channel(short_channel_id)
            });
        match outcome {
            None => Ok(false),
            Some(ParkOutcome::Rejected(reason)) => Err(reason),
            Some(ParkOutcome::Parked { displaced }) => {
                self.count_parked(GossipKind::ChannelUpdate, displaced);
                Ok(true)
            }
        }
    }

    fn count_parked(&self, kind: GossipKind, displaced: Vec<DropReason>) {
        self.metrics.kind(kind).pending.inc();
        for reason in displaced {
            self.metrics.kind(kind).pending.dec();
            self.count_drop(kind, reason);
        }
    }

    fn settle_parking(
        &self,
        kind: GossipKind,
        outcome: Option<ParkOutcome>,
        msg: &[u8],
    ) -> Classified {
        match outcome {
            // The dependency arrived between the graph lookup and the lock: start over.
            None => self.classify(kind, msg),
            Some(ParkOutcome::Rejected(reason)) => Classified::Drop(reason),
            Some(ParkOutcome::Parked { displaced }) => {
                self.count_parked(kind, displaced);
                Classified::Park
            }
        }
    }

    async fn admit(self: &Arc<Self>, admission: Admission) -> Outcome {
        let kind_metrics = self.metrics.kind(admission.kind);
        kind_metrics.in_flight.inc();
        let Some(handle) = self.shards.get().and_then(|s| s.get(admission.shard)) else {
            return self.abandon(&admission, DropReason::QueueFull);
        };
        let Some(permit) = handle.acquire(self.config.stall_timeout).await else {
            // Timed out, or the semaphore was closed at shutdown.
            return self.abandon(&admission, DropReason::QueueFull);
        };
        handle.depth.inc();
        let job = VerifyJob {
            penalties: admission.penalties.clone(),
            kind: admission.kind,
            key: admission.key,
            claim: admission.claim.clone(),
            admitted_at: Instant::now(),
            slot: Slot {
                _permit: permit,
                depth: handle.depth.clone(),
            },
        };
        match handle.addr.try_send(job) {
            Ok(()) => Outcome::Admitted,
            // The semaphore bounds the mailbox below its capacity, so only a stopped shard
            // gets here; the job (and its slot) is dropped with the error.
            Err(_) => self.abandon(&admission, DropReason::QueueFull),
        }
    }

    fn abandon(&self, admission: &Admission, reason: DropReason) -> Outcome {
        self.in_flight.release(&admission.key, &admission.claim);
        self.metrics.kind(admission.kind).in_flight.dec();
        self.count_drop(admission.kind, reason);
        Outcome::Dropped(reason)
    }

    /// Re-offers messages that waited for a dependency which has just been accepted: queued for
    /// the sieve's one releaser task (see [`released_feed`]), so a shard never waits on another
    /// shard's (or its own) admission. A task per message cost ~450 bytes each, and a mainnet
    /// sync parks and releases ~17,000 node announcements while the shards are busy (7.6 MB of
    /// its 34 MB heap peak). The message counts as in flight meanwhile, so received = accepted
    /// + dropped + pending + in flight holds at every instant.
    pub(super) fn release(self: &Arc<Self>, kind: GossipKind, parked: Parked) {
        let kind_metrics = self.metrics.kind(kind);
        kind_metrics.pending.dec();
        kind_metrics.in_flight.inc();
        // A shard must never wait, so a full queue drops (counted) rather than blocks.
        let queued = self
            .released
            .get()
            .is_some_and(|queue| queue.try_send((kind, parked.msg)).is_ok());
        if !queued {
            // Full, or no releaser (the pipeline is stopping): the message is lost like any
            // other message over a cap, but still counted.
            kind_metrics.in_flight.dec();
            self.count_drop(kind, DropReason::QueueFull);
        }
    }

    /// Released messages waiting to be re-offered: everything the pending maps can hold, so a
    /// release overflows only if the maps fill up again faster than the releaser drains them.
    pub(super) fn release_queue_cap(&self) -> usize {
        self.config
            .pending_updates_cap
            .saturating_add(self.config.pending_node_announcements_cap)
            .max(1)
    }

    /// Starts the releaser on the current actix arbiter. It holds the sieve weakly: it ends
    /// when the sieve (and with it the queue's sender) is dropped.
    pub(super) fn start_releaser(self: &Arc<Self>) {
        let (queue, messages) = tokio::sync::mpsc::channel(self.release_queue_cap());
        if self.released.set(queue).is_ok() {
            actix::spawn(released_feed(Arc::downgrade(self), messages));
        }
    }
}

/// Re-offers released messages one at a time, oldest first (the order the pending maps give
/// them), each like a peer's frame.
async fn released_feed(
    sieve: std::sync::Weak<Sieve>,
    mut messages: tokio::sync::mpsc::Receiver<(GossipKind, Vec<u8>)>,
) {
    while let Some((kind, msg)) = messages.recv().await {
        let Some(sieve) = sieve.upgrade() else { break };
        let _outcome = sieve.sift(kind, msg, None).await;
        sieve.metrics.kind(kind).in_flight.dec();
    }
}

fn newer_or_equal(stored: u32, offered: u32) -> DropReason {
    if stored == offered {
        DropReason::Duplicate
    } else {
        DropReason::Stale
    }
}

/// The gossip kind from the 2-byte type, without parsing anything else.
pub fn message_kind(msg: &[u8]) -> Option<GossipKind> {
    let type_bytes: [u8; 2] = msg.get(..2)?.try_into().ok()?;
    GossipKind::from_type(u16::from_be_bytes(type_bytes))
}
