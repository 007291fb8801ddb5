//! The entry point of the pipeline. A peer hands each gossip frame to [`Sieve::offer`], which
//! runs the cheap checks and dedup on the caller's task, parks orphans, and admits the rest into
//! the owning shard's capped mailbox. Admission is an explicit counting semaphore per shard
//! (actix's own capacity check lets each sender exceed it by one): the peer awaits a slot, so a
//! full shard stops that peer reading its socket; after `stall_timeout` the message is dropped
//! as `queue_full`.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix::Recipient;
use prometheus::IntGauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::arrivals::{ArrivalKey, FirstArrivals};
use super::chain_stage::ChainStage;
use super::checks::CheckPolicy;
use super::flight::{Claim, FlightKey};
use super::job::{OrphanQuota, PeerVerdicts, PenaltyCounter, Slot, VerifyJob};
use super::pending::{ParkOutcome, Parked};
use super::rate_limit::UpdateRateLimiter;
use super::state::{PipelineState, Released};
use crate::clock::{coarse_monotonic_ms, coarse_unix_now};
use crate::config::PipelineConfig;
use crate::graph::{Graph, NodeId, UpdateStanding};
use crate::metrics::propagation::PeerPropagation;
use crate::metrics::Metrics;
use crate::vocab::DropReason;
use crate::wire::gossip::{summarize, Summary};
use crate::wire::kind::{message_kind, GossipKind};

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

/// Where the sieve admits into one shard: the shard's mailbox (it takes [`VerifyJob`]s; the
/// sieve knows nothing else of the shard) behind its counting semaphore.
pub(super) struct ShardHandle {
    mailbox: Recipient<VerifyJob>,
    permits: Arc<Semaphore>,
    /// The bytes of the admitted messages, in KiB.
    kib_permits: Arc<Semaphore>,
    /// Slots a blocked peer waits for before it is woken (see [`ShardHandle::acquire`]).
    wake_batch: u32,
    depth: IntGauge,
}

/// A peer blocked on a full shard is woken once this many slots are free, not at every freed
/// slot: each wake-up is a cross-thread notification (a syscall on the shard's thread), which
/// costs several percent of a signature check when paid per message.
const ADMISSION_WAKE_BATCH: usize = 64;

impl ShardHandle {
    /// A shard taking at most `capacity` messages and `bytes_capacity` bytes of them.
    pub(super) fn new(
        mailbox: Recipient<VerifyJob>,
        capacity: usize,
        bytes_capacity: usize,
        depth: IntGauge,
    ) -> Self {
        ShardHandle {
            mailbox,
            permits: Arc::new(Semaphore::new(capacity)),
            kib_permits: Arc::new(Semaphore::new(
                (bytes_capacity / 1024).clamp(MAX_MESSAGE_KIB, Semaphore::MAX_PERMITS),
            )),
            wake_batch: u32::try_from(ADMISSION_WAKE_BATCH.min(capacity).max(1)).unwrap_or(1),
            depth,
        }
    }

    /// One admission slot: at once if one is free, else after waiting (at most `stall`) until
    /// `wake_batch` are free; the rest go straight back, so the next admissions find them free.
    async fn acquire(&self, stall: Duration) -> Option<OwnedSemaphorePermit> {
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

    /// The bytes of a `len`-byte message, in KiB (rounded up, at least one), waiting until
    /// `deadline`: a count cap alone would let 65 KB messages fill a mailbox with 268 MB.
    async fn acquire_bytes(
        &self,
        len: usize,
        deadline: tokio::time::Instant,
    ) -> Option<OwnedSemaphorePermit> {
        let kib = u32::try_from(len.div_ceil(1024).clamp(1, MAX_MESSAGE_KIB)).unwrap_or(1);
        if let Ok(permit) = self.kib_permits.clone().try_acquire_many_owned(kib) {
            return Some(permit);
        }
        tokio::time::timeout_at(deadline, self.kib_permits.clone().acquire_many_owned(kib))
            .await
            .ok()?
            .ok()
    }
}

/// The largest message (a 65,535-byte frame) in KiB: every mailbox admits at least one.
const MAX_MESSAGE_KIB: usize = 64;

/// A message that passed the cheap checks and dedup and may go to a shard: what
/// [`Sieve::sift_frame`] hands back for [`Sieve::admit`] to place (waiting for room).
pub struct Admission {
    penalties: Option<PenaltyCounter>,
    kind: GossipKind,
    key: FlightKey,
    claim: Claim,
    shard: usize,
}

/// What [`Sieve::sift_frame`] decided without waiting.
pub enum Sifted {
    /// Dropped, parked or not gossip: nothing left to do (a duplicate always ends here).
    Done(Outcome),
    /// Passed every check; [`Sieve::admit`] puts it in its shard's mailbox.
    Admit(Admission),
}

enum Classified {
    Admit(Admission),
    Park,
    Drop(DropReason),
}

/// The admission gate: cheap checks, dedup, the update rate limit, parking, and admission into
/// the owning shard. Everything it shares with the shards is in its [`PipelineState`].
pub struct Sieve {
    config: PipelineConfig,
    policy: CheckPolicy,
    /// The state's graph and metrics handles, held here too: every offered frame reads them,
    /// and a duplicate costs ~100 ns, so one pointer hop less is worth two `Arc` clones.
    graph: Arc<Graph>,
    metrics: Arc<Metrics>,
    state: PipelineState,
    rate_limit: UpdateRateLimiter,
    shards: OnceLock<Vec<ShardHandle>>,
    /// Where channel_announcements take a place before admission when the chain validates.
    chain: Option<Arc<ChainStage>>,
    /// When recent messages first arrived, to time their later copies (metrics only).
    arrivals: FirstArrivals,
}

/// Spreads keys over shards; the multiplier scatters sequential scids (block-ordered) evenly.
fn shard_of_u64(value: u64, shards: usize) -> usize {
    let mixed = value.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    usize::try_from(mixed).unwrap_or(0) % shards.max(1)
}

impl Sieve {
    pub(super) fn new(
        config: PipelineConfig,
        state: PipelineState,
        rate_limit: UpdateRateLimiter,
        chain: Option<Arc<ChainStage>>,
    ) -> Self {
        let policy = CheckPolicy {
            chain_hash: config.network.chain_hash(),
            max_future_skew: config.max_future_skew,
            max_age: config.max_age,
        };
        let arrivals = FirstArrivals::with_bytes(config.first_arrival_table_bytes);
        // DESIGN §3: every bound exported (the table is allocated whole: its cap is its size).
        let metrics = state.metrics();
        metrics.set_limit("first_arrival_table_bytes", arrivals.bytes());
        metrics.set_limit("first_arrival_table_slots", arrivals.slots());
        Sieve {
            rate_limit,
            policy,
            graph: state.graph().clone(),
            metrics: state.metrics().clone(),
            state,
            config,
            shards: OnceLock::new(),
            chain,
            arrivals,
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
        i64::try_from(self.state.work_in_flight()).unwrap_or(i64::MAX)
    }

    /// Counts `msg` as received and runs it through the sieve. Resolves once the message is
    /// dropped, parked or sits in a shard's mailbox; a full shard makes this wait.
    pub async fn offer(self: &Arc<Self>, msg: Vec<u8>) -> Outcome {
        self.offer_from(&msg, None, None).await
    }

    /// [`Sieve::offer`] for a peer that wants the shards' later verdicts on its messages
    /// charged to `penalties`, and its first deliveries and duplicates counted under `peer`.
    pub async fn offer_from(
        self: &Arc<Self>,
        msg: &[u8],
        penalties: Option<&PenaltyCounter>,
        peer: Option<&PeerPropagation>,
    ) -> Outcome {
        match self.sift_frame(msg, penalties, peer) {
            Sifted::Done(outcome) => outcome,
            Sifted::Admit(admission) => self.admit(admission).await,
        }
    }

    /// [`Sieve::offer_from`] up to the wait for room in a shard, without awaiting anything:
    /// the cheap checks, dedup, parking. A duplicate (or any drop) is decided here on the
    /// caller's stack from the borrowed frame, with no future and no copy; only a message
    /// that is admitted (or parked) is copied. An [`Sifted::Admit`] must then go through
    /// [`Sieve::admit`] before the caller reads on (backpressure).
    pub fn sift_frame(
        &self,
        msg: &[u8],
        penalties: Option<&PenaltyCounter>,
        peer: Option<&PeerPropagation>,
    ) -> Sifted {
        let Some(kind) = message_kind(msg) else {
            return Sifted::Done(Outcome::NotGossip);
        };
        self.metrics().kind(kind).received.inc();
        self.sift(kind, msg, penalties, Some(peer))
    }

    /// Starts loading into the CPU's cache what [`Sieve::sift_frame`] will look `msg` up
    /// against (its entry in the graph, its slot in the first-arrival table) a few messages
    /// ahead, so that those misses overlap the work on the messages before it instead of
    /// each stalling its own. A hint only: nothing is decided, counted or changed, and a
    /// message that is not gossip, or does not parse, is left to `sift_frame` to judge.
    pub fn prefetch(&self, msg: &[u8]) {
        let Ok(summary) = summarize(msg) else {
            return;
        };
        self.arrivals.prefetch(self.arrivals.key(&summary));
        match summary {
            Summary::ChannelAnnouncement {
                short_channel_id, ..
            }
            | Summary::ChannelUpdate {
                short_channel_id, ..
            } => self.graph().prefetch_channel(short_channel_id),
            Summary::NodeAnnouncement { node_id, .. } => self.graph().prefetch_node(&node_id),
        }
    }

    /// The sieve proper, shared by fresh frames and parked messages being released. `fresh`
    /// is `None` for a released message, else the offering peer (if any): only a fresh frame
    /// is a copy that arrived (a released one arrived when it was parked).
    fn sift(
        &self,
        kind: GossipKind,
        msg: &[u8],
        penalties: Option<&PenaltyCounter>,
        fresh: Option<Option<&PeerPropagation>>,
    ) -> Sifted {
        let summary = match summarize(msg) {
            Ok(summary) => summary,
            Err(_) => return Sifted::Done(self.dropped(kind, DropReason::Malformed)),
        };
        // The message's slot in the first-arrival table, on its way into the cache while the
        // dedup below looks the message up.
        let arrival = fresh.map(|peer| {
            let key = self.arrivals.key(&summary);
            self.arrivals.prefetch(key);
            (key, peer)
        });
        match self.classify_summary(kind, summary, msg, penalties) {
            Classified::Drop(reason) => {
                if let (DropReason::Duplicate, Some((key, peer))) = (reason, arrival) {
                    self.arrived_again(kind, key, peer);
                }
                Sifted::Done(self.dropped(kind, reason))
            }
            Classified::Park => {
                // A first copy waiting for its channel or node is a first arrival too.
                if let Some((key, peer)) = arrival {
                    self.arrived_first(kind, &summary, key, peer);
                }
                Sifted::Done(Outcome::Parked)
            }
            Classified::Admit(mut admission) => {
                // The first copy of a message from a peer (not a parked one released later):
                // its age now is how long it took to reach us.
                if let Some((key, peer)) = arrival {
                    self.arrived_first(kind, &summary, key, peer);
                }
                admission.penalties = penalties.cloned();
                Sifted::Admit(admission)
            }
        }
    }

    fn dropped(&self, kind: GossipKind, reason: DropReason) -> Outcome {
        self.state.count_drop(kind, reason);
        Outcome::Dropped(reason)
    }

    /// The first copy of a message: its age, its arrival time (for timing later copies), and
    /// the peer that delivered it.
    fn arrived_first(
        &self,
        kind: GossipKind,
        summary: &Summary,
        key: ArrivalKey,
        peer: Option<&PeerPropagation>,
    ) {
        let timestamp = match summary {
            Summary::ChannelUpdate { timestamp, .. }
            | Summary::NodeAnnouncement { timestamp, .. } => Some(*timestamp),
            Summary::ChannelAnnouncement { .. } => None,
        };
        if let Some(timestamp) = timestamp {
            self.metrics
                .propagation
                .first_arrival(kind, timestamp, coarse_unix_now());
        }
        self.arrivals.record(key, coarse_monotonic_ms());
        if let Some(peer) = peer {
            peer.first_delivery(kind);
        }
    }

    /// A later copy of a message we have (or have in flight): how far it trails the first,
    /// and which peer sent it.
    fn arrived_again(&self, kind: GossipKind, key: ArrivalKey, peer: Option<&PeerPropagation>) {
        let delay = self.arrivals.since_first(key, coarse_monotonic_ms());
        self.metrics.propagation.duplicate_delay(kind, delay);
        if let Some(peer) = peer {
            peer.duplicate(kind);
        }
    }

    /// `from` is the offering peer, whose orphan quota a parked message takes.
    fn classify(&self, kind: GossipKind, msg: &[u8], from: Option<&PenaltyCounter>) -> Classified {
        match summarize(msg) {
            Ok(summary) => self.classify_summary(kind, summary, msg, from),
            Err(_) => Classified::Drop(DropReason::Malformed),
        }
    }

    /// [`Sieve::classify`] of a message already summarized.
    fn classify_summary(
        &self,
        kind: GossipKind,
        summary: Summary,
        msg: &[u8],
        from: Option<&PenaltyCounter>,
    ) -> Classified {
        if let Err(reason) = self.policy.check(&summary, coarse_unix_now()) {
            return Classified::Drop(reason);
        }
        let shards = self.shard_count();
        match summary {
            Summary::ChannelAnnouncement {
                short_channel_id, ..
            } => {
                if self.graph().has_channel(short_channel_id) {
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
                    .graph()
                    .update_standing(short_channel_id, usize::from(direction))
                {
                    UpdateStanding::Known(Some(stored)) if stored >= timestamp => {
                        Classified::Drop(newer_or_equal(stored, timestamp))
                    }
                    UpdateStanding::UnknownChannel
                        if !self
                            .state
                            .is_in_flight(&FlightKey::Channel(short_channel_id)) =>
                    {
                        self.park_update(msg, short_channel_id, direction, timestamp, from)
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
                                self.state.release_claim(&admission.key, &admission.claim);
                                Classified::Drop(DropReason::RateLimited)
                            }
                            other => other,
                        }
                    }
                }
            }
            Summary::NodeAnnouncement { timestamp, node_id } => {
                match self.graph().node_standing(&node_id) {
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
                    None => self.park_node_announcement(msg, node_id, timestamp, from),
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
        self.graph()
            .with_rate_bucket(short_channel_id, usize::from(direction), |bucket| {
                self.rate_limit.peek(bucket, timestamp, stored, now)
            })
            .map_or_else(
                || {
                    self.rate_limit
                        .allows_in_flight(self.state.claims_in_flight(key))
                },
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
        if self.state.holds_in_flight(&key, msg) {
            return Classified::Drop(DropReason::Duplicate);
        }
        if self.state.recently_rejected(self.state.fingerprint(msg)) {
            return Classified::Drop(DropReason::RecentlyRejected);
        }
        let claim = Claim {
            timestamp,
            msg: Arc::from(msg),
        };
        if let Err(reason) = self.state.claim(key, claim.clone()) {
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
        from: Option<&PenaltyCounter>,
    ) -> Classified {
        self.park(GossipKind::ChannelUpdate, msg, timestamp, from, |parked| {
            self.state.park_update(short_channel_id, direction, parked)
        })
    }

    fn park_node_announcement(
        &self,
        msg: &[u8],
        node_id: NodeId,
        timestamp: u32,
        from: Option<&PenaltyCounter>,
    ) -> Classified {
        self.park(
            GossipKind::NodeAnnouncement,
            msg,
            timestamp,
            from,
            |parked| self.state.park_node_announcement(node_id, parked),
        )
    }

    /// Parks `msg` through `park_in` (one of the pending maps), unless it was recently rejected
    /// or its sender `from` has used up its orphan quota.
    fn park(
        &self,
        kind: GossipKind,
        msg: &[u8],
        timestamp: u32,
        from: Option<&PenaltyCounter>,
        park_in: impl FnOnce(Parked) -> Option<ParkOutcome>,
    ) -> Classified {
        let fingerprint = self.state.fingerprint(msg);
        if self.state.recently_rejected(fingerprint) {
            return Classified::Drop(DropReason::RecentlyRejected);
        }
        let hold = match from {
            Some(peer) => {
                let quota = OrphanQuota {
                    messages: self.config.pending_per_peer_cap,
                    bytes: self.config.pending_per_peer_bytes_cap,
                };
                match PeerVerdicts::hold_parked(peer, msg.len(), quota) {
                    Some(hold) => Some(hold),
                    None => return Classified::Drop(DropReason::OrphanQuota),
                }
            }
            None => None,
        };
        let outcome = park_in(Parked {
            timestamp,
            fingerprint,
            msg: msg.to_vec(),
            hold,
        });
        self.settle_parking(kind, outcome, msg, from)
    }

    fn settle_parking(
        &self,
        kind: GossipKind,
        outcome: Option<ParkOutcome>,
        msg: &[u8],
        from: Option<&PenaltyCounter>,
    ) -> Classified {
        match outcome {
            // The dependency arrived between the graph lookup and the lock: start over.
            None => self.classify(kind, msg, from),
            Some(ParkOutcome::Rejected(reason)) => Classified::Drop(reason),
            Some(ParkOutcome::Parked { displaced }) => {
                self.state.count_parked(kind, displaced);
                Classified::Park
            }
        }
    }

    /// Puts a message [`Sieve::sift_frame`] admitted into its shard's mailbox, waiting (at
    /// most `stall_timeout`) for room: until this resolves the offering peer reads nothing.
    pub async fn admit(self: &Arc<Self>, admission: Admission) -> Outcome {
        self.state.work_started();
        let Some(handle) = self.shards.get().and_then(|s| s.get(admission.shard)) else {
            return self.abandon(&admission, DropReason::QueueFull);
        };
        let deadline = tokio::time::Instant::now() + self.config.stall_timeout;
        // A full lookup queue (or chain byte budget) holds the peer exactly as a full mailbox
        // does: it waits, reading nothing, until `stall_timeout`.
        let chain = match &self.chain {
            Some(stage)
                if admission.kind == GossipKind::ChannelAnnouncement && stage.validates() =>
            {
                match stage.ticket(admission.claim.msg.len(), deadline).await {
                    Some(ticket) => Some(ticket),
                    None => return self.abandon(&admission, DropReason::QueueFull),
                }
            }
            _ => None,
        };
        let Some(permit) = handle.acquire(self.config.stall_timeout).await else {
            // Timed out, or the semaphore was closed at shutdown.
            return self.abandon(&admission, DropReason::QueueFull);
        };
        let Some(bytes) = handle
            .acquire_bytes(admission.claim.msg.len(), deadline)
            .await
        else {
            return self.abandon(&admission, DropReason::QueueFull);
        };
        let job = VerifyJob {
            penalties: admission.penalties.clone(),
            kind: admission.kind,
            key: admission.key,
            claim: admission.claim.clone(),
            admitted_at: Instant::now(),
            slot: Some(Slot::new(permit, bytes, handle.depth.clone())),
            chain,
        };
        match handle.mailbox.try_send(job) {
            Ok(()) => Outcome::Admitted,
            // The semaphore bounds the mailbox below its capacity, so only a stopped shard
            // gets here; the job (and its slot) is dropped with the error.
            Err(_) => self.abandon(&admission, DropReason::QueueFull),
        }
    }

    fn abandon(&self, admission: &Admission, reason: DropReason) -> Outcome {
        self.state.release_claim(&admission.key, &admission.claim);
        self.state.work_finished();
        self.state.count_drop(admission.kind, reason);
        Outcome::Dropped(reason)
    }

    /// Starts the releaser on the current actix arbiter: the one task that re-offers what the
    /// shards release from the pending maps (see [`PipelineState::release_dependants`]). It
    /// holds the sieve weakly and ends when the sieve (and with it the queue's sender) is
    /// dropped.
    pub(super) fn start_releaser(self: &Arc<Self>) {
        if let Some(messages) = self.state.open_release_queue() {
            actix::spawn(released_feed(Arc::downgrade(self), messages));
        }
    }
}

/// Re-offers released messages one at a time, oldest first (the order the pending maps give
/// them), each like a peer's frame.
async fn released_feed(
    sieve: std::sync::Weak<Sieve>,
    mut messages: tokio::sync::mpsc::Receiver<Released>,
) {
    while let Some((kind, msg)) = messages.recv().await {
        let Some(sieve) = sieve.upgrade() else { break };
        sieve.state.released_taken(msg.len());
        if let Sifted::Admit(admission) = sieve.sift(kind, &msg, None, None) {
            let _outcome = sieve.admit(admission).await;
        }
        sieve.state.work_finished();
    }
}

fn newer_or_equal(stored: u32, offered: u32) -> DropReason {
    if stored == offered {
        DropReason::Duplicate
    } else {
        DropReason::Stale
    }
}
