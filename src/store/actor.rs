//! The store actor: the one owner of the live `gossip_store`. Verifier shards hand it every
//! message they applied to the graph ([`Persist`]); it appends the record, puts its offset in
//! the graph (the graph is the store's index) and flags the record it replaces DELETED. It
//! batches writes, fsyncs on an interval and on [`Shutdown`], and compacts the file when
//! deleted records take too much of it.
//!
//! Its mailbox is capped like the shards': a shard that finds it full pauses its own mailbox
//! until the store has room, so a slow disk pushes back through the shards to the peers.
//!
//! I/O errors never lose or duplicate a record (appends are all or nothing, see
//! [`StoreWriter::append_with_flags`]):
//! - Out of space (ENOSPC, EDQUOT, or EFBIG from a file size limit): the actor keeps retrying
//!   the same append, with backoff up to [`StoreConfig::out_of_space_retry_max`], on its own
//!   thread. Meanwhile its mailbox fills, the shards pause, and the peers are no longer read:
//!   intake stops, bounded by the mailboxes, and `/readyz` says `store: out of disk space`.
//!   When space returns, the append succeeds and everything resumes. A shutdown while blocked
//!   gives up the waiting records (counted as `io` failures; peers resend them).
//! - Other write errors: the record is not written and counted as an `io` failure.
//! - A failed compaction is retried with exponential backoff, not at every tick; a directory
//!   fsync that failed after compaction's rename is retried at every tick until it succeeds.
//!
//! Ordering rules that keep Core Lightning's readers consistent:
//! - A channel_update is written only after its channel_announcement (same shard, so the
//!   hand-offs arrive in order); one whose announcement is not in the store is counted as
//!   `no_channel` and not written.
//! - A node_announcement is written only once one of its channels is in the store; until then
//!   it waits here (keyed by node, newest kept), since it is handed off by another shard than
//!   the channel's.
//! - A message whose key already holds a newer timestamp in the graph is not written at all
//!   (counted `superseded`): the newer message's hand-off is behind it, and readers would skip
//!   a deleted record anyway. If the newer one lands while the record is being written, the
//!   record is flagged DELETED at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, AsyncContext, Context, Handler, Message};
use tokio::sync::OwnedSemaphorePermit;

use super::error::StoreError;
use super::tail::StoreTail;
use super::writer::{StoreWriter, WriterStats};
use crate::config::PipelineConfig;
use crate::graph::{Graph, NodeId, Settled, UpdateStanding};
use crate::metrics::{Health, Metrics};
use crate::wire::kind::GossipKind;
use crate::work::Outstanding;

/// Knobs of the store actor.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// How often buffered records are flushed and fsynced. A crash loses at most this much
    /// accepted gossip, which peers will send again; fsyncing per message would cap ingest at
    /// the disk's sync rate.
    pub fsync_interval: Duration,
    /// Compact when deleted records exceed this share of the file.
    pub compact_share: f64,
    /// Never compact a file smaller than this: rewriting a small file saves nothing.
    pub compact_min_bytes: u64,
    /// Hand-offs the mailbox holds before shards pause. 4096 records of ~300 bytes cover far
    /// more than one fsync interval of buffered writing.
    pub mailbox_capacity: usize,
    /// Bytes of hand-offs the mailbox holds before shards pause (at least one 64 KiB message):
    /// with the count alone, 4096 messages of 65 KB would hold 268 MB.
    pub mailbox_bytes: usize,
    /// First wait before a failed compaction is tried again; doubles per failure.
    pub compact_retry_min: Duration,
    /// Longest wait between compaction attempts.
    pub compact_retry_max: Duration,
    /// Longest wait between attempts to append while the disk is full (they start at 10 ms
    /// and double), so intake resumes within this once space returns.
    pub out_of_space_retry_max: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            fsync_interval: Duration::from_secs(1),
            compact_share: 0.5,
            compact_min_bytes: 1 << 20,
            mailbox_capacity: 4096,
            mailbox_bytes: 16 << 20,
            // A rewrite of a mainnet store takes seconds of disk time: after a failure, wait
            // before trying again (Core Lightning compacts at most once per start, LND never).
            compact_retry_min: Duration::from_secs(30),
            compact_retry_max: Duration::from_secs(3600),
            out_of_space_retry_max: Duration::from_secs(1),
        }
    }
}

impl StoreConfig {
    /// The defaults, with the mailbox caps the pipeline's options set.
    pub fn for_pipeline(pipeline: &PipelineConfig) -> Self {
        StoreConfig {
            mailbox_capacity: pipeline.store_mailbox_capacity,
            mailbox_bytes: pipeline.store_mailbox_bytes_cap,
            ..StoreConfig::default()
        }
    }
}

/// Which graph entry a stored message belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreKey {
    /// A channel_announcement, with its two nodes (their node_announcements may be waiting for
    /// it here), so the store need not parse the message again.
    Channel {
        short_channel_id: u64,
        node_ids: [NodeId; 2],
        /// The funding output's value from the chain, for the `channel_amount` record (0 when
        /// no chain source checked it).
        amount_sat: u64,
    },
    /// A channel_update for one direction (`channel_flags & 1`).
    Update {
        short_channel_id: u64,
        direction: usize,
    },
    /// A node_announcement.
    Node(NodeId),
}

impl StoreKey {
    pub fn kind(&self) -> GossipKind {
        match self {
            StoreKey::Channel { .. } => GossipKind::ChannelAnnouncement,
            StoreKey::Update { .. } => GossipKind::ChannelUpdate,
            StoreKey::Node(_) => GossipKind::NodeAnnouncement,
        }
    }
}

/// A message a shard applied to the graph, to be written. `timestamp` is the message's own
/// (0 for a channel_announcement, which has none). Shards send it through a
/// [`StoreSender`](super::StoreSender), which counts it (and raises
/// `gossip_sieve_store_queue_depth`); the actor counts it off on receipt, and
/// [`StoreHandle::shutdown`](super::StoreHandle::shutdown) waits for that count to reach zero.
#[derive(Debug)]
pub struct Persist {
    pub key: StoreKey,
    pub timestamp: u32,
    /// Shared with the shard's in-flight claim: handing it over copies no bytes.
    pub msg: std::sync::Arc<[u8]>,
}

/// A [`Persist`] in the actor's mailbox with the room it takes there: the KiB it holds of the
/// mailbox's byte cap (see [`StoreSender`](super::StoreSender)), given back once it is written.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Queued {
    pub persist: Persist,
    pub room: Option<OwnedSemaphorePermit>,
}

impl Persist {
    pub fn kind(&self) -> GossipKind {
        self.key.kind()
    }
}

/// Flush and fsync now; resolves when the data is durable.
#[derive(Message, Debug)]
#[rtype(result = "Result<WriterStats, StoreError>")]
pub struct Flush;

/// Flush, fsync and stop the actor. Node announcements still waiting for a stored channel are
/// counted as `no_stored_channel` failures.
#[derive(Message, Debug)]
#[rtype(result = "Result<WriterStats, StoreError>")]
pub struct Shutdown;

pub struct StoreActor {
    writer: StoreWriter,
    graph: Arc<Graph>,
    metrics: Arc<Metrics>,
    config: StoreConfig,
    /// node_announcements waiting for one of their channels to reach the store.
    deferred: HashMap<NodeId, Persist>,
    /// Appended or flagged since the last fsync.
    dirty: bool,
    /// Readiness to report an out-of-space store to.
    health: Option<Arc<Health>>,
    /// Set by [`StoreHandle::shutdown`](super::StoreHandle::shutdown): stop waiting for space.
    stopping: Arc<AtomicBool>,
    /// Writes are failing for lack of space.
    out_of_space: bool,
    /// No compaction before this (after a failure).
    compact_not_before: Option<Instant>,
    /// Wait after the next compaction failure.
    compact_backoff: Duration,
    /// Compaction renamed the file but the directory fsync failed.
    dir_sync_pending: bool,
    /// Hand-offs sent and not yet received (see [`StoreSender`](super::StoreSender)).
    outstanding: Arc<Outstanding>,
    /// Where serving cursors learn how far the file is flushed and when it was compacted.
    tail: Option<Arc<StoreTail>>,
}

/// `readyz` part name of the store.
const HEALTH_PART: &str = "store";

impl StoreActor {
    pub fn new(
        writer: StoreWriter,
        graph: Arc<Graph>,
        metrics: Arc<Metrics>,
        config: StoreConfig,
        outstanding: Arc<Outstanding>,
    ) -> Self {
        metrics
            .store_bytes
            .set(i64::try_from(writer.stats().len).unwrap_or(i64::MAX));
        StoreActor {
            writer,
            graph,
            metrics,
            compact_backoff: config.compact_retry_min,
            config,
            deferred: HashMap::new(),
            dirty: false,
            health: None,
            stopping: Arc::new(AtomicBool::new(false)),
            out_of_space: false,
            compact_not_before: None,
            dir_sync_pending: false,
            outstanding,
            tail: None,
        }
    }

    /// Publishes flushes and compactions to `tail` (for serving gossip from the file).
    pub fn with_tail(mut self, tail: Arc<StoreTail>) -> Self {
        self.tail = Some(tail);
        self
    }

    /// Reports out-of-space to `health` and stops waiting for space once `stopping` is set.
    pub fn with_health(mut self, health: Arc<Health>, stopping: Arc<AtomicBool>) -> Self {
        self.health = Some(health);
        self.stopping = stopping;
        self
    }

    /// Records whether writes fail for lack of space, for `/readyz` and the gauge.
    fn set_out_of_space(&mut self, err: Option<&StoreError>) {
        let now = err.is_some();
        if now == self.out_of_space {
            return;
        }
        self.out_of_space = now;
        self.metrics.store.out_of_space.set(i64::from(now));
        match err {
            Some(err) => tracing::error!(
                %err,
                "gossip_store: out of disk space; intake paused until space returns"
            ),
            None => tracing::warn!("gossip_store: disk space is back; intake resumed"),
        }
        if let Some(health) = &self.health {
            health.set_blocker(
                HEALTH_PART,
                err.map(|err| format!("out of disk space ({err}); gossip intake paused")),
            );
        }
    }

    fn persist(&mut self, p: Persist) {
        match p.key {
            StoreKey::Channel {
                short_channel_id,
                node_ids,
                amount_sat,
            } => self.persist_channel(short_channel_id, node_ids, amount_sat, p),
            StoreKey::Update {
                short_channel_id,
                direction,
            } => self.persist_update(short_channel_id, direction, p),
            StoreKey::Node(node_id) => self.persist_node(node_id, p),
        }
    }

    fn persist_channel(&mut self, scid: u64, node_ids: [NodeId; 2], amount_sat: u64, p: Persist) {
        match self.graph.channel_offset(scid) {
            None => return self.metrics.store.failed("unknown_key"),
            // Already written: channels are accepted once, so this is a repeated hand-off.
            Some(Some(_)) => return self.metrics.store.superseded.inc(),
            Some(None) => {}
        }
        // The funding amount the chain stage found (0 without a chain backend; Core Lightning's
        // readers accept 0).
        let Some(offset) =
            self.append(|w| w.append_channel_announcement(&p.msg, p.timestamp, amount_sat))
        else {
            return;
        };
        let settled = self.graph.settle_channel_offset(scid, offset);
        self.settle(settled, offset);
        for node_id in node_ids {
            if let Some(waiting) = self.deferred.remove(&node_id) {
                self.persist_node(node_id, waiting);
            }
        }
    }

    fn persist_update(&mut self, scid: u64, direction: usize, p: Persist) {
        match self.graph.channel_offset(scid) {
            None => return self.metrics.store.failed("unknown_key"),
            Some(None) => return self.metrics.store.failed("no_channel"),
            Some(Some(_)) => {}
        }
        if let UpdateStanding::Known(Some(newest)) = self.graph.update_standing(scid, direction) {
            if newest > p.timestamp {
                return self.metrics.store.superseded.inc();
            }
        }
        let Some(offset) = self.append(|w| w.append(&p.msg, p.timestamp)) else {
            return;
        };
        let settled = self
            .graph
            .settle_update_offset(scid, direction, p.timestamp, offset);
        self.settle(settled, offset);
    }

    fn persist_node(&mut self, node_id: NodeId, p: Persist) {
        match self.graph.node_standing(&node_id) {
            None => return self.metrics.store.failed("unknown_key"),
            Some(Some(newest)) if newest > p.timestamp => {
                return self.metrics.store.superseded.inc()
            }
            Some(_) => {}
        }
        if !self.graph.node_has_stored_channel(&node_id) {
            match self.deferred.get(&node_id) {
                Some(waiting) if waiting.timestamp >= p.timestamp => {
                    self.metrics.store.superseded.inc()
                }
                Some(_) => {
                    self.metrics.store.superseded.inc();
                    self.deferred.insert(node_id, p);
                }
                None => {
                    self.deferred.insert(node_id, p);
                }
            }
            return;
        }
        let Some(offset) = self.append(|w| w.append(&p.msg, p.timestamp)) else {
            return;
        };
        let settled = self.graph.settle_node_offset(&node_id, p.timestamp, offset);
        self.settle(settled, offset);
    }

    /// Appends with `write`; while the disk is full, waits (blocking this actor's own
    /// thread, which is the backpressure) and tries again.
    fn append(
        &mut self,
        mut write: impl FnMut(&mut StoreWriter) -> Result<u64, StoreError>,
    ) -> Option<u64> {
        let mut wait = Duration::from_millis(10);
        let mut waited = false;
        loop {
            match write(&mut self.writer) {
                Ok(offset) => {
                    // After a wait, success means the flush that failed went through. A first
                    // try may succeed into the buffer alone, which says nothing about space.
                    if waited {
                        self.set_out_of_space(None);
                    }
                    self.dirty = true;
                    self.metrics.store.written.inc();
                    return Some(offset);
                }
                Err(err) if err.is_out_of_space() && !self.stopping.load(Ordering::Acquire) => {
                    self.set_out_of_space(Some(&err));
                    waited = true;
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(self.config.out_of_space_retry_max);
                }
                Err(err) => {
                    tracing::error!(%err, "gossip_store append failed");
                    self.metrics.store.failed("io");
                    return None;
                }
            }
        }
    }

    /// Flags what the graph says is no longer live: the record replaced, or the one just
    /// written if a newer message beat it.
    fn settle(&mut self, settled: Settled, written: u64) {
        match settled {
            Settled::Current { previous: None } => {}
            Settled::Current {
                previous: Some(previous),
            } => self.delete(previous),
            Settled::Superseded => self.delete(written),
            Settled::Unknown => {
                self.metrics.store.failed("unknown_key");
                self.delete(written);
            }
        }
    }

    fn delete(&mut self, offset: u64) {
        match self.writer.mark_deleted(offset) {
            Ok(n) => {
                self.dirty = true;
                self.metrics.store.deleted.inc_by(u64::from(n));
            }
            Err(err) => {
                tracing::error!(%err, offset, "gossip_store mark_deleted failed");
                self.metrics.store.failed("io");
            }
        }
    }

    fn sync(&mut self) -> Result<WriterStats, StoreError> {
        let started = Instant::now();
        let result = self.writer.flush_and_sync();
        self.metrics
            .store
            .fsync_duration
            .observe(started.elapsed().as_secs_f64());
        let stats = self.writer.stats();
        self.metrics
            .store_bytes
            .set(i64::try_from(stats.len).unwrap_or(i64::MAX));
        match result {
            Ok(()) => {
                self.set_out_of_space(None);
                self.dirty = false;
                if let Some(tail) = &self.tail {
                    tail.flushed(stats.len);
                }
                Ok(stats)
            }
            Err(err) => {
                // The buffered records stay buffered (bounded) and are written by a later
                // sync or append.
                if err.is_out_of_space() {
                    self.set_out_of_space(Some(&err));
                } else {
                    tracing::error!(%err, "gossip_store fsync failed");
                    self.metrics.store.failed("io");
                }
                Err(err)
            }
        }
    }

    fn tick(&mut self) {
        if self.dirty {
            let _ = self.sync();
        }
        if self.dir_sync_pending {
            match crate::durable::sync_parent_dir(self.writer.path()) {
                Ok(()) => self.dir_sync_pending = false,
                Err(err) => tracing::error!(%err, "gossip_store directory fsync failed again"),
            }
        }
        self.maybe_compact();
    }

    fn maybe_compact(&mut self) {
        let stats = self.writer.stats();
        if stats.len < self.config.compact_min_bytes
            || (stats.deleted_bytes as f64) <= self.config.compact_share * stats.len as f64
            || self.out_of_space
            || self
                .compact_not_before
                .is_some_and(|at| Instant::now() < at)
        {
            return;
        }
        let started = Instant::now();
        let mut moves: Vec<(u64, u64)> =
            Vec::with_capacity(usize::try_from(stats.records).unwrap_or(0));
        match self.writer.compact(|old, new| moves.push((old, new))) {
            Ok(report) => {
                // Moves come in file order, so old offsets are sorted.
                let lost = self.graph.remap_offsets(|old| {
                    moves
                        .binary_search_by_key(&old, |m| m.0)
                        .ok()
                        .and_then(|i| moves.get(i))
                        .map(|m| m.1)
                });
                if lost > 0 {
                    tracing::error!(lost, "graph offsets pointed at records compaction dropped");
                }
                if let Some(tail) = &self.tail {
                    tail.compacted(moves, report.new_len);
                }
                self.compact_not_before = None;
                self.compact_backoff = self.config.compact_retry_min;
                self.dir_sync_pending |= report.dir_sync_failed;
                self.metrics.store.compacted.inc_by(report.records_dropped);
                self.metrics
                    .store_bytes
                    .set(i64::try_from(report.new_len).unwrap_or(i64::MAX));
                tracing::info!(
                    old_len = report.old_len,
                    new_len = report.new_len,
                    dropped = report.records_dropped,
                    ms = started.elapsed().as_millis() as u64,
                    "gossip_store compacted"
                );
            }
            Err(err) => {
                let wait = self.compact_backoff;
                self.compact_not_before = Some(Instant::now() + wait);
                self.compact_backoff = (wait * 2).min(self.config.compact_retry_max);
                self.metrics.store.compaction_failures.inc();
                tracing::error!(%err, retry_in_secs = wait.as_secs(), "gossip_store compaction failed");
            }
        }
    }

    /// Writer counters (for tests and reports).
    pub fn writer_stats(&self) -> WriterStats {
        self.writer.stats()
    }
}

impl Actor for StoreActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.config.fsync_interval, |actor, _| actor.tick());
    }

    /// Whatever is still on its way here will not arrive: nobody need wait for it.
    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.outstanding.close();
    }
}

impl Handler<Queued> for StoreActor {
    type Result = ();

    fn handle(&mut self, queued: Queued, _ctx: &mut Context<Self>) {
        self.metrics.store.queue_depth.dec();
        self.outstanding.finish();
        self.persist(queued.persist);
        // Dropping `queued.room` here gives its KiB back only after the record was written.
    }
}

/// Records of a forgotten channel (closed on chain, or stale) to mark deleted, so readers skip
/// them and compaction reclaims them.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Forget {
    pub offsets: Vec<u64>,
}

impl Handler<Forget> for StoreActor {
    type Result = ();

    /// Marks a forgotten channel's records deleted.
    fn handle(&mut self, forget: Forget, _ctx: &mut Context<Self>) {
        for offset in forget.offsets {
            self.delete(offset);
        }
    }
}

impl Handler<Flush> for StoreActor {
    type Result = Result<WriterStats, StoreError>;

    fn handle(&mut self, _: Flush, _ctx: &mut Context<Self>) -> Self::Result {
        self.sync()
    }
}

impl Handler<Shutdown> for StoreActor {
    type Result = Result<WriterStats, StoreError>;

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) -> Self::Result {
        for _ in self.deferred.drain() {
            self.metrics.store.failed("no_stored_channel");
        }
        use actix::ActorContext;
        ctx.stop();
        self.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Stamp;
    use crate::sim::corpus::{generate, CorpusSpec};
    use crate::store::{load, StoreHandle, StoreReader, STORE_FILE};
    use crate::wire::gossip::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement};
    use std::fs::File;

    fn send(handle: &StoreHandle, metrics: &Metrics, key: StoreKey, timestamp: u32, msg: Vec<u8>) {
        metrics.store.queue_depth.inc();
        handle
            .addr()
            .try_send(Queued {
                persist: Persist {
                    key,
                    timestamp,
                    msg: msg.into(),
                },
                room: None,
            })
            .expect("mailbox has room");
    }

    /// Offsets in the graph must point at live records holding exactly the graph's timestamp.
    fn assert_index_matches_file(graph: &Graph, path: &std::path::Path) {
        let records: HashMap<u64, (bool, u32, Vec<u8>)> =
            StoreReader::new(File::open(path).unwrap())
                .unwrap()
                .map(|r| r.unwrap())
                .map(|r| (r.offset, (r.is_deleted(), r.timestamp, r.msg)))
                .collect();
        let mut checked = 0;
        for (scid, stamps) in graph.snapshot() {
            let channel = graph.channel(scid).unwrap();
            let (deleted, _, msg) = &records[&channel.announcement_offset.unwrap()];
            assert!(!deleted);
            assert_eq!(
                ChannelAnnouncement::parse(msg).unwrap().short_channel_id,
                scid
            );
            for (dir, ts) in stamps.iter().enumerate() {
                let Some(ts) = ts else { continue };
                let stamp = channel.updates[dir].unwrap();
                let (deleted, rec_ts, _) = &records[&stamp.offset.unwrap()];
                assert!(!deleted);
                assert_eq!(rec_ts, ts);
                checked += 1;
            }
        }
        let live_updates = records
            .values()
            .filter(|(d, _, m)| !d && m.get(..2) == Some(&[1, 2]))
            .count();
        assert_eq!(
            live_updates, checked,
            "exactly one live record per direction"
        );
    }

    #[test]
    fn persists_supersedes_defers_and_compacts() {
        let mut anns = vec![];
        let mut updates = vec![];
        let mut nodes = vec![];
        let spec = CorpusSpec {
            nodes: 30,
            channels: 60,
            seed: 3,
            invalid_rate: 0.0,
            now: 1_700_000_000,
            ..CorpusSpec::default()
        };
        generate(&spec, |msg| {
            if let Ok(a) = ChannelAnnouncement::parse(&msg) {
                anns.push(a);
            } else if let Ok(u) = ChannelUpdate::parse(&msg) {
                updates.push(u);
            } else if let Ok(n) = NodeAnnouncement::parse(&msg) {
                nodes.push(n);
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let graph = Arc::new(Graph::new());
        let metrics = Arc::new(Metrics::new(1).unwrap());
        let config = StoreConfig {
            fsync_interval: Duration::from_millis(5),
            compact_share: 0.3,
            compact_min_bytes: 0,
            mailbox_capacity: 100_000,
            ..StoreConfig::default()
        };
        let compact_share = config.compact_share;
        let system = actix::System::new();
        system.block_on(async {
            let (handle, report) =
                StoreHandle::open(dir.path(), graph.clone(), metrics.clone(), config).unwrap();
            assert!(report.created);
            // A node_announcement handed off before any of its channels is written waits.
            let first = &nodes[0];
            let holder = anns
                .iter()
                .find(|a| a.node_id_1 == first.node_id || a.node_id_2 == first.node_id)
                .unwrap();
            graph.insert_channel(
                holder.short_channel_id,
                holder.node_id_1,
                holder.node_id_2,
                None,
            );
            graph
                .apply_node_announcement(
                    &first.node_id,
                    Stamp {
                        timestamp: first.timestamp,
                        offset: None,
                    },
                )
                .unwrap();
            send(
                &handle,
                &metrics,
                StoreKey::Node(first.node_id),
                first.timestamp,
                first.serialize(),
            );
            for a in &anns {
                graph.insert_channel(a.short_channel_id, a.node_id_1, a.node_id_2, None);
                send(
                    &handle,
                    &metrics,
                    StoreKey::Channel {
                        short_channel_id: a.short_channel_id,
                        node_ids: [a.node_id_1, a.node_id_2],
                        amount_sat: 0,
                    },
                    0,
                    a.serialize(),
                );
            }
            for n in &nodes[1..] {
                if graph
                    .apply_node_announcement(
                        &n.node_id,
                        Stamp {
                            timestamp: n.timestamp,
                            offset: None,
                        },
                    )
                    .is_ok()
                {
                    send(
                        &handle,
                        &metrics,
                        StoreKey::Node(n.node_id),
                        n.timestamp,
                        n.serialize(),
                    );
                }
            }
            // Three rounds of newer updates, each superseding the last; after a round that
            // leaves the file over the compaction threshold, the test waits (polling, against
            // a deadline) until the interval has compacted, so later rounds write over a
            // compacted file.
            for round in 0..3u32 {
                let compacted_before = metrics.store.compacted.get();
                for u in &updates {
                    let mut u = u.clone();
                    u.timestamp += round * 10;
                    u.fee_base_msat = round;
                    let direction = usize::from(u.channel_flags & 1);
                    let key = StoreKey::Update {
                        short_channel_id: u.short_channel_id,
                        direction,
                    };
                    graph
                        .apply_update(
                            u.short_channel_id,
                            direction,
                            Stamp {
                                timestamp: u.timestamp,
                                offset: None,
                            },
                        )
                        .unwrap();
                    send(&handle, &metrics, key, u.timestamp, u.serialize());
                }
                let stats = handle.flush().await.unwrap();
                // The next tick must compact when the deleted share is over the threshold.
                if stats.deleted_bytes as f64 > compact_share * stats.len as f64 {
                    let deadline = std::time::Instant::now() + Duration::from_secs(60);
                    while metrics.store.compacted.get() == compacted_before {
                        assert!(
                            std::time::Instant::now() < deadline,
                            "round {round} never compacted"
                        );
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
            // A late copy of an older update is not written.
            let old = &updates[0];
            let key = StoreKey::Update {
                short_channel_id: old.short_channel_id,
                direction: usize::from(old.channel_flags & 1),
            };
            send(&handle, &metrics, key, old.timestamp, old.serialize());
            handle.shutdown().await.unwrap();
        });
        let path = dir.path().join(STORE_FILE);
        assert!(metrics.store.compacted.get() > 0, "compaction ran");
        assert_eq!(metrics.store.superseded.get(), 1);
        assert_eq!(metrics.store.failures("no_stored_channel"), 0);
        assert_eq!(metrics.store.failures("io"), 0);
        assert_eq!(
            metrics.store.written.get(),
            (anns.len() + nodes.len() + 3 * updates.len()) as u64
        );
        assert_index_matches_file(&graph, &path);

        // A restart rebuilds the same index from the file.
        let reloaded = Graph::new();
        let report = load(dir.path(), &reloaded, &Metrics::new(1).unwrap()).unwrap();
        assert_eq!(report.flagged_deleted, 0);
        assert_eq!(reloaded.snapshot(), graph.snapshot());
        assert_eq!(reloaded.node_announcement_count(), nodes.len());
        for a in &anns {
            assert_eq!(
                reloaded.channel(a.short_channel_id),
                graph.channel(a.short_channel_id)
            );
        }
        assert_index_matches_file(&reloaded, &path);
    }
}
